#include "bdb/log_archive.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>

#include "bdb/environment.h"

namespace durus::bdb {

namespace {

std::string Errno(int err) { return strerror(err); }

bool Exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

bool FileSizeIs(const std::string& p, off_t size) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && st.st_size == size;
}

// Read `path` as "key value" lines.
Status ReadKeyValues(const std::string& path,
                     std::vector<std::pair<std::string, std::string>>* kv) {
  if (!Exists(path)) return Status::NotFound(path + " does not exist");
  std::ifstream in(path);
  if (!in) return Status::IOError("cannot read " + path + ": " + Errno(errno));
  std::string line;
  while (std::getline(in, line)) {
    size_t sp = line.find(' ');
    if (sp == std::string::npos) continue;
    kv->emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  return Status::OK();
}

}  // namespace

Status WriteFileAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot create " + tmp + ": " + Errno(errno));
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ok && fsync(fd) == 0;
  int err = errno;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    unlink(tmp.c_str());
    return Status::IOError("cannot write " + path + ": " + Errno(err));
  }
  size_t slash = path.rfind('/');
  return SyncDirectory(slash == std::string::npos ? "." : path.substr(0, slash));
}

namespace {

std::string NewHomeId() {
  unsigned char b[16] = {};
  std::ifstream in("/dev/urandom", std::ios::binary);
  in.read(reinterpret_cast<char*>(b), sizeof(b));
  if (!in) {
    // No /dev/urandom: time and pid are unique enough to tell homes apart.
    uint64_t t = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
    uint64_t p = static_cast<uint64_t>(getpid());
    memcpy(b, &t, 8);
    memcpy(b + 8, &p, 8);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (unsigned char c : b) {
    s += kHex[c >> 4];
    s += kHex[c & 15];
  }
  return s;
}

Status WriteConfig(const std::string& home, const LogArchiveConfig& c) {
  std::ostringstream os;
  os << "home_id " << c.home_id << "\ndir " << c.dir << "\nmax_age_s " << c.max_age_s
     << "\nmax_bytes " << c.max_bytes << "\n";
  return WriteFileAtomically(home + "/" + kArchiveConfigFile, os.str());
}

std::string AbsolutePath(const std::string& p) {
  if (!p.empty() && p[0] == '/') return p;
  char* cwd = getcwd(nullptr, 0);
  if (cwd == nullptr) return p;
  std::string r = std::string(cwd) + "/" + p;
  free(cwd);
  return r;
}

// DIR exists, and holds this home's marker (written when DIR has none and
// holds no log file).
Status CheckArchiveDir(const std::string& home, const LogArchiveConfig& c) {
  DURUS_RETURN_IF_ERROR(MakeDirs(c.dir));
  std::string id, owner;
  Status s = ReadArchiveMarker(c.dir, &id, &owner);
  if (s.ok()) {
    if (id == c.home_id) return Status::OK();
    return Status::InvalidArgument("log archive " + c.dir + " holds the logs of another home (" +
                                   owner + ", id " + id + "); give " + home +
                                   " a directory of its own");
  }
  if (!s.IsNotFound()) return s;
  std::vector<uint32_t> logs;
  DURUS_RETURN_IF_ERROR(ListLogFiles(c.dir, &logs));
  if (!logs.empty()) {
    return Status::InvalidArgument("log archive " + c.dir + " holds log files (" +
                                   LogFileName(logs.front()) + ", ...) but no " +
                                   kArchiveMarkerFile + ": they may be another home's; give " +
                                   home + " an empty directory");
  }
  return WriteFileAtomically(
      c.dir + "/" + kArchiveMarkerFile,
      "durus-bdb log archive\nhome_id " + c.home_id + "\nhome " + AbsolutePath(home) + "\n");
}

// CheckArchiveDir; a failure to use DIR says that the logs are kept.
Status PrepareArchiveDir(const std::string& home, const LogArchiveConfig& c) {
  Status s = CheckArchiveDir(home, c);
  if (s.ok() || s.IsInvalidArgument()) return s;
  return Status::IOError("log archive " + c.dir + " unusable: " + s.message() +
                         "; the log files stay in " + home);
}

// PrepareArchiveDir at open: another home's directory is refused, one that
// cannot be used now (unwritable, not mounted) only warned about -- the
// home opens and keeps its log files until the directory works.
Status PrepareAtOpen(const std::string& home, const LogArchiveConfig& c) {
  Status s = PrepareArchiveDir(home, c);
  if (s.ok() || s.IsInvalidArgument()) return s;
  Warn(s.message());
  return Status::OK();
}

// The archive's log files, oldest first, removed while the retention says
// so.
Status Prune(const LogArchiveConfig& c, ReleaseReport* report) {
  if (c.max_age_s == 0 && c.max_bytes == 0) return Status::OK();
  std::vector<uint32_t> logs;
  DURUS_RETURN_IF_ERROR(ListLogFiles(c.dir, &logs));
  struct File {
    std::string path;
    uint64_t bytes;
    time_t mtime;
  };
  std::vector<File> files;
  uint64_t total = 0;
  for (uint32_t n : logs) {
    std::string p = c.dir + "/" + LogFileName(n);
    struct stat st;
    if (stat(p.c_str(), &st) != 0) continue;
    files.push_back({p, static_cast<uint64_t>(st.st_size), st.st_mtime});
    total += static_cast<uint64_t>(st.st_size);
  }
  const time_t now = time(nullptr);
  for (const File& f : files) {
    bool too_old =
        c.max_age_s > 0 && static_cast<uint64_t>(std::max<time_t>(now - f.mtime, 0)) > c.max_age_s;
    bool too_big = c.max_bytes > 0 && total > c.max_bytes;
    if (!too_old && !too_big) break;
    if (unlink(f.path.c_str()) != 0) {
      return Status::IOError("log archive: cannot remove " + f.path + ": " + Errno(errno));
    }
    total -= f.bytes;
    ++report->pruned;
  }
  return Status::OK();
}

}  // namespace

Status SamePrefix(const std::string& a, const std::string& b, uint64_t prefix_len, bool* same) {
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  if (!fa || !fb) return Status::IOError("cannot read " + (fa ? b : a));
  std::vector<char> ba(1 << 20), bb(1 << 20);
  *same = true;
  for (uint64_t done = 0; done < prefix_len;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(ba.size(), prefix_len - done));
    fa.read(ba.data(), static_cast<std::streamsize>(n));
    fb.read(bb.data(), static_cast<std::streamsize>(n));
    if (!fa || !fb) return Status::IOError("cannot read " + (fa ? b : a));
    if (memcmp(ba.data(), bb.data(), n) != 0) {
      *same = false;
      return Status::OK();
    }
    done += n;
  }
  return Status::OK();
}

bool ParseLogFileName(const std::string& name, uint32_t* number) {
  if (name.size() != 14 || name.compare(0, 4, "log.") != 0) return false;
  uint64_t v = 0;
  for (size_t i = 4; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  if (v > UINT32_MAX) return false;
  *number = static_cast<uint32_t>(v);
  return true;
}

std::string LogFileName(uint32_t number) {
  char buf[32];
  snprintf(buf, sizeof(buf), "log.%010u", number);
  return buf;
}

Status ListLogFiles(const std::string& dir, std::vector<uint32_t>* numbers) {
  numbers->clear();
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return Status::IOError("cannot read directory " + dir + ": " + Errno(errno));
  while (dirent* e = readdir(d)) {
    uint32_t n;
    if (ParseLogFileName(e->d_name, &n)) numbers->push_back(n);
  }
  closedir(d);
  std::sort(numbers->begin(), numbers->end());
  return Status::OK();
}

Status SyncDirectory(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("cannot open directory " + dir + ": " + Errno(errno));
  int r = fsync(fd);
  int err = errno;
  close(fd);
  if (r != 0) return Status::IOError("cannot fsync directory " + dir + ": " + Errno(err));
  return Status::OK();
}

Status CopyFileDurably(const std::string& src, const std::string& dst) {
  size_t slash = dst.rfind('/');
  std::string dir = slash == std::string::npos ? "." : dst.substr(0, slash);
  std::string tmp = dir + "/." + dst.substr(slash + 1) + ".tmp";
  int in = open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return Status::IOError("cannot open " + src + ": " + Errno(errno));
  struct stat st;
  if (fstat(in, &st) != 0) {
    int err = errno;
    close(in);
    return Status::IOError("cannot stat " + src + ": " + Errno(err));
  }
  int out = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    int err = errno;
    close(in);
    return Status::IOError("cannot create " + tmp + ": " + Errno(err));
  }
  std::string what;
  int err = 0;
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      what = "cannot read " + src;
      break;
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(out, buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        err = errno;
        what = "cannot write " + tmp;
        break;
      }
      done += w;
    }
    if (!what.empty()) break;
  }
  if (what.empty()) {
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    futimens(out, times);  // the age the retention sees; best effort
    if (fsync(out) != 0) {
      err = errno;
      what = "cannot fsync " + tmp;
    }
  }
  close(in);
  if (close(out) != 0 && what.empty()) {
    err = errno;
    what = "cannot close " + tmp;
  }
  if (what.empty() && rename(tmp.c_str(), dst.c_str()) != 0) {
    err = errno;
    what = "cannot rename " + tmp + " to " + dst;
  }
  if (!what.empty()) {
    unlink(tmp.c_str());
    return Status::IOError(what + ": " + Errno(err));
  }
  return SyncDirectory(dir);
}

Status ReadArchiveMarker(const std::string& dir, std::string* home_id, std::string* home) {
  std::vector<std::pair<std::string, std::string>> kv;
  DURUS_RETURN_IF_ERROR(ReadKeyValues(dir + "/" + kArchiveMarkerFile, &kv));
  home_id->clear();
  home->clear();
  for (auto& [k, v] : kv) {
    if (k == "home_id") *home_id = v;
    if (k == "home") *home = v;
  }
  if (home_id->empty()) {
    return Status::Corruption(dir + "/" + kArchiveMarkerFile + " names no home_id");
  }
  return Status::OK();
}

Status ReadLogArchiveConfig(const std::string& home, LogArchiveConfig* out) {
  *out = LogArchiveConfig();
  std::vector<std::pair<std::string, std::string>> kv;
  std::string path = home + "/" + kArchiveConfigFile;
  DURUS_RETURN_IF_ERROR(ReadKeyValues(path, &kv));
  for (auto& [k, v] : kv) {
    if (k == "home_id") out->home_id = v;
    if (k == "dir") out->dir = v;
    if (k == "max_age_s") out->max_age_s = strtoull(v.c_str(), nullptr, 10);
    if (k == "max_bytes") out->max_bytes = strtoull(v.c_str(), nullptr, 10);
  }
  if (out->dir.empty() || out->home_id.empty()) {
    return Status::Corruption(path +
                              " is damaged (no dir or home_id); remove it and open with "
                              "log_archive=DIR to archive again");
  }
  return Status::OK();
}

bool WillArchiveLogs(const std::string& home, const BdbOptions& options) {
  if (options.log_archive == kArchiveOff) return false;
  return !options.log_archive.empty() || Exists(home + "/" + kArchiveConfigFile);
}

Status SetUpLogArchive(const std::string& home, const BdbOptions& options, LogArchiveConfig* out) {
  *out = LogArchiveConfig();
  const std::string path = home + "/" + kArchiveConfigFile;
  if (options.log_archive == kArchiveOff) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::IOError("cannot remove " + path + ": " + Errno(errno));
    }
    return Status::OK();
  }
  LogArchiveConfig recorded;
  Status s = ReadLogArchiveConfig(home, &recorded);
  if (!s.ok() && !s.IsNotFound()) return s;
  if (options.log_archive.empty()) {
    if (s.IsNotFound()) return Status::OK();  // not archiving
    DURUS_RETURN_IF_ERROR(PrepareAtOpen(home, recorded));
    *out = recorded;
    return Status::OK();
  }
  LogArchiveConfig c;
  c.home_id = s.ok() ? recorded.home_id : NewHomeId();
  c.dir = AbsolutePath(options.log_archive);
  c.max_age_s = options.log_archive_max_age_s;
  c.max_bytes = options.log_archive_max_bytes;
  DURUS_RETURN_IF_ERROR(PrepareAtOpen(home, c));
  if (!s.ok() || recorded.dir != c.dir || recorded.max_age_s != c.max_age_s ||
      recorded.max_bytes != c.max_bytes) {
    DURUS_RETURN_IF_ERROR(WriteConfig(home, c));
  }
  *out = c;
  return Status::OK();
}

Status ReleaseLogs(DbEnv* env, const std::string& home, const LogArchiveConfig& config,
                   ReleaseReport* report) {
  ReleaseReport ignored;
  if (report == nullptr) report = &ignored;
  *report = ReleaseReport();
  if (config.dir.empty())
    return FromDb(env->log_archive(nullptr, DB_ARCH_REMOVE), "removing old logs");
  // Every time: the directory may have been unusable at open, or replaced
  // since (another home's archive mounted there is refused, as at open).
  DURUS_RETURN_IF_ERROR(PrepareArchiveDir(home, config));
  char** list = nullptr;
  int ret = env->log_archive(&list, 0);
  if (ret != 0) return FromDb(ret, "listing the log files of " + home + " no longer needed");
  // One malloc'd block holding the array and the names, oldest first.
  std::vector<std::string> names;
  for (char** p = list; p != nullptr && *p != nullptr; ++p) names.push_back(*p);
  free(list);
  for (const std::string& name : names) {
    std::string src = home + "/" + name;
    std::string dst = config.dir + "/" + name;
    // Already there (a crash between the archive's rename and our unlink,
    // or a previous pass that could not unlink): the same bytes mean the
    // same, complete file; anything else is not ours to overwrite.
    if (Exists(dst)) {
      struct stat st;
      bool same = stat(src.c_str(), &st) == 0 && FileSizeIs(dst, st.st_size);
      if (same)
        DURUS_RETURN_IF_ERROR(SamePrefix(src, dst, static_cast<uint64_t>(st.st_size), &same));
      if (!same) {
        return Status::IOError("log archive: " + dst + " exists and differs from " + src +
                               "; the log files stay in " + home);
      }
    } else {
      Status s = CopyFileDurably(src, dst);
      if (!s.ok()) {
        return Status::IOError("archiving " + name + " to " + config.dir + ": " + s.message() +
                               "; the log files stay in " + home);
      }
    }
    if (unlink(src.c_str()) != 0 && errno != ENOENT) {
      return Status::IOError("cannot remove archived " + src + ": " + Errno(errno));
    }
    ++report->archived;
  }
  return Prune(config, report);
}

void ReleaseLogsOrWarn(DbEnv* env, const std::string& home, const LogArchiveConfig& config) {
  Status s = ReleaseLogs(env, home, config);
  if (!s.ok()) Warn(s.message());
}

void Warn(const std::string& message) {
  // Per process: a storage's background thread and its Close never run
  // together, and two homes failing at once only share the throttle.
  static std::mutex mu;
  static std::string last;
  static auto last_time = std::chrono::steady_clock::time_point();
  std::lock_guard<std::mutex> l(mu);
  auto now = std::chrono::steady_clock::now();
  if (message != last || now - last_time > std::chrono::minutes(1)) {
    fprintf(stderr, "durus-bdb: %s\n", message.c_str());
    last = message;
    last_time = now;
  }
}

}  // namespace durus::bdb
