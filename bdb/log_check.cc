#include "bdb/log_check.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include "bdb/handles.h"

namespace durus::bdb {

namespace {

constexpr size_t kHeader = 12;

std::vector<std::string> LogFileNames(const std::string& home) {
  std::vector<std::string> out;
  if (DIR* d = opendir(home.c_str())) {
    while (struct dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() == 14 && n.rfind("log.", 0) == 0 &&
          n.find_first_not_of("0123456789", 4) == std::string::npos) {
        out.push_back(n);
      }
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());  // fixed width: name order is number order
  return out;
}

// A log file mapped read-only (a 32 MB file is mostly an unwritten tail).
class MappedFile {
 public:
  ~MappedFile() {
    if (data_ != nullptr) munmap(const_cast<unsigned char*>(data_), size_);
  }
  Status Open(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::IOError("cannot read " + path + ": " + strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
      int err = errno;
      close(fd);
      return Status::IOError("cannot stat " + path + ": " + strerror(err));
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int err = errno;
        close(fd);
        return Status::IOError("cannot map " + path + ": " + strerror(err));
      }
      data_ = static_cast<const unsigned char*>(p);
    }
    close(fd);
    // The end of the data: the last non-zero byte (the rest of the file is
    // what Berkeley DB has not written yet).
    end_ = size_;
    while (end_ > 0 && data_[end_ - 1] == 0) --end_;
    return Status::OK();
  }
  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  size_t data_end() const { return end_; }

 private:
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
  size_t end_ = 0;
};

uint32_t U32(const unsigned char* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

// Berkeley DB's __ham_func4, the log records' checksum without encryption.
uint32_t Hash4(const unsigned char* p, size_t n) {
  uint32_t h = 0;
  for (size_t i = 0; i < n; ++i) h = (h << 5) + h + p[i];
  return h;
}

enum class At { kRecord, kEnd, kBad };

// What is at `off`: an intact record (its length in *len), the end of the
// file's data (an all-zero header), or something unreadable.
At Examine(const MappedFile& f, size_t off, uint32_t* len) {
  if (off + kHeader > f.size()) return off >= f.data_end() ? At::kEnd : At::kBad;
  const unsigned char* h = f.data() + off;
  uint32_t prev = U32(h), n = U32(h + 4), sum = U32(h + 8);
  if (prev == 0 && n == 0 && sum == 0) return At::kEnd;
  if (n < kHeader + 4 || off + n > f.size() || (off > 0 && prev >= off)) return At::kBad;
  if ((Hash4(h + kHeader, n - kHeader) ^ prev ^ n) != sum) return At::kBad;
  *len = n;
  return At::kRecord;
}

// Walks intact records from `off`; returns where the walk stopped and
// counts the records in *records.
size_t Walk(const MappedFile& f, size_t off, uint64_t* records, At* stop) {
  uint32_t len = 0;
  for (;;) {
    *stop = Examine(f, off, &len);
    if (*stop != At::kRecord) return off;
    ++*records;
    off += len;
  }
}

// Intact records after damage at `from`: the first offset where a record
// passes its checksum and is followed by another (or by the end of the
// data), then the walk from there.  A 32-bit checksum alone could match
// garbage by chance; two chained records practically cannot.
uint64_t IntactAfter(const MappedFile& f, size_t from) {
  for (size_t p = from + 1; p + kHeader <= f.data_end(); ++p) {
    uint32_t len = 0;
    if (Examine(f, p, &len) != At::kRecord) continue;
    uint32_t next_len = 0;
    At next = Examine(f, p + len, &next_len);
    if (next == At::kBad) continue;
    if (next == At::kEnd && p + len < f.data_end()) continue;
    uint64_t records = 0;
    At stop;
    Walk(f, p, &records, &stop);
    return records;
  }
  return 0;
}

std::string UtcStamp() {
  time_t now = time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

Status MakeSaveDir(const std::string& home, std::string* dir) {
  *dir = home + "/damaged-log-" + UtcStamp();
  if (mkdir(dir->c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::IOError("cannot create " + *dir + ": " + strerror(errno));
  }
  return Status::OK();
}

}  // namespace

Status CheckLog(const std::string& home, bool last_file_only, LogCheck* out) {
  *out = LogCheck();
  std::vector<std::string> names = LogFileNames(home);
  if (last_file_only && names.size() > 1) names.erase(names.begin(), names.end() - 1);
  for (size_t i = 0; i < names.size(); ++i) {
    MappedFile f;
    DURUS_RETURN_IF_ERROR(f.Open(home + "/" + names[i]));
    ++out->files;
    if (!out->damaged) {
      At stop;
      size_t off = Walk(f, 0, &out->records, &stop);
      // Intact to its end; but a file without a single record (not even
      // the persist record every log file starts with) was emptied.
      if (stop == At::kEnd && off >= f.data_end() && off > 0) continue;
      out->damaged = true;
      out->file = names[i];
      out->offset = off;
      out->bytes_after = f.data_end() > off ? f.data_end() - off : 0;
      out->intact_after = IntactAfter(f, off);
    } else {
      // A later file: everything in it would be dropped with the damage.
      uint64_t records = 0;
      At stop;
      Walk(f, 0, &records, &stop);
      out->intact_after += records;
      out->bytes_after += f.data_end();
    }
  }
  return Status::OK();
}

Status SaveTornTail(const std::string& home, const LogCheck& check, std::string* saved_in) {
  DURUS_RETURN_IF_ERROR(MakeSaveDir(home, saved_in));
  MappedFile f;
  DURUS_RETURN_IF_ERROR(f.Open(home + "/" + check.file));
  std::string dest = *saved_in + "/" + check.file + ".from-" + std::to_string(check.offset);
  int fd = open(dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot create " + dest + ": " + strerror(errno));
  size_t n = f.data_end() > check.offset ? f.data_end() - check.offset : 0;
  bool ok = n == 0 || write(fd, f.data() + check.offset, n) == static_cast<ssize_t>(n);
  ok = fsync(fd) == 0 && ok;
  int err = errno;
  close(fd);
  if (!ok) return Status::IOError("cannot write " + dest + ": " + strerror(err));
  return Status::OK();
}

Status ResetDamagedLog(const std::string& home, std::string* saved_in) {
  DURUS_RETURN_IF_ERROR(MakeSaveDir(home, saved_in));
  std::vector<std::string> move = LogFileNames(home);
  std::vector<std::string> dbs;
  if (DIR* d = opendir(home.c_str())) {
    while (struct dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind("__db.", 0) == 0) move.push_back(n);
      if (n.size() > 3 && n.compare(n.size() - 3, 3, ".db") == 0) dbs.push_back(n);
    }
    closedir(d);
  }
  for (const std::string& n : move) {
    std::string from = home + "/" + n, to = *saved_in + "/" + n;
    if (rename(from.c_str(), to.c_str()) != 0) {
      return Status::IOError("cannot move " + from + " to " + to + ": " + strerror(errno));
    }
  }
  // A private environment without a log (one with a log refuses to open a
  // file whose pages are ahead of it): lsn_reset stamps every page with
  // LSN 0, so the files no longer claim log records that are gone, and the
  // next open starts a new log.
  EnvPtr env(new DbEnv(DB_CXX_NO_EXCEPTIONS));
  env->set_errcall(&DbErrorCallback);
  ClearLastDbError();
  int ret = env->open(home.c_str(), DB_CREATE | DB_INIT_MPOOL | DB_PRIVATE, 0644);
  if (ret != 0) return FromDb(ret, "starting a new log in " + home + " (" + LastDbError() + ")");
  for (const std::string& db : dbs) {
    ret = env->lsn_reset(db.c_str(), 0);
    if (ret != 0) {
      return FromDb(ret, "resetting the LSNs of " + home + "/" + db + " (" + LastDbError() + ")");
    }
  }
  return Status::OK();
}

void ReportRecoveryNotice(const std::string& home, const std::string& line) {
  fprintf(stderr, "durus-bdb: %s\n", line.c_str());
  std::string path = home + "/durus-bdb.recovery.log";
  if (FILE* f = fopen(path.c_str(), "a")) {
    time_t now = time(nullptr);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f, "%s %s\n", stamp, line.c_str());
    fclose(f);
  }
}

}  // namespace durus::bdb
