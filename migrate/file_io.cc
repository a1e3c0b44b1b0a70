#include "migrate/file_io.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace durus::migrate {

namespace {
constexpr size_t kReadBuffer = size_t{1} << 20;
constexpr size_t kWriteBuffer = size_t{1} << 20;
constexpr uint64_t kLookBehind = uint64_t{1} << 16;

Status Errno(const std::string& what, const std::string& path) {
  return Status::IOError(what + " " + path + ": " + strerror(errno));
}
}  // namespace

FileReader::~FileReader() {
  if (fd_ >= 0) close(fd_);
}

Status FileReader::Open(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("no such file: " + path);
    return Errno("cannot open", path);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    Status s = Errno("cannot stat", path);
    close(fd);
    return s;
  }
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  Adopt(fd, path, static_cast<uint64_t>(st.st_size));
  return Status::OK();
}

void FileReader::Adopt(int fd, std::string name, uint64_t size) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  name_ = std::move(name);
  size_ = size;
  pos_ = 0;
  buf_start_ = 0;
  buf_len_ = 0;
}

void FileReader::Seek(uint64_t pos) { pos_ = pos; }

// Make [pos_, pos_ + n) resident in buf_ (as much of it as the file has).
// The salvage scans (shelf_source.cc, dfs20_source.cc) step back a little
// after reading ahead: a refill for a position behind the buffer starts
// kLookBehind bytes earlier, so they cost no read per candidate.
Status FileReader::Fill(size_t n) {
  uint64_t avail = pos_ < size_ ? size_ - pos_ : 0;
  size_t need = static_cast<size_t>(std::min<uint64_t>(n, avail));
  if (pos_ >= buf_start_ && pos_ + need <= buf_start_ + buf_len_) return Status::OK();
  uint64_t start = pos_;
  if (pos_ < buf_start_) start = pos_ - std::min<uint64_t>(pos_, kLookBehind);
  size_t want = static_cast<size_t>(std::min<uint64_t>(std::max(n, kReadBuffer) + (pos_ - start),
                                                       size_ > start ? size_ - start : 0));
  if (buf_.size() < want) buf_.resize(want);
  // Keep the bytes we already have that the new window still needs.
  size_t have = 0;
  if (start >= buf_start_ && start < buf_start_ + buf_len_) {
    have = static_cast<size_t>(buf_start_ + buf_len_ - start);
    memmove(buf_.data(), buf_.data() + (start - buf_start_), have);
  }
  buf_start_ = start;
  buf_len_ = have;
  while (buf_len_ < want) {
    ssize_t r = pread(fd_, buf_.data() + buf_len_, want - buf_len_,
                      static_cast<off_t>(buf_start_ + buf_len_));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot read", name_);
    }
    if (r == 0) break;  // the file shrank under us: a short read follows
    buf_len_ += static_cast<size_t>(r);
  }
  return Status::OK();
}

Status FileReader::Read(size_t n, std::string_view* out) {
  DURUS_RETURN_IF_ERROR(Fill(n));
  size_t have = 0;
  if (pos_ >= buf_start_ && pos_ < buf_start_ + buf_len_) {
    have = std::min<size_t>(n, static_cast<size_t>(buf_start_ + buf_len_ - pos_));
  }
  *out = std::string_view(buf_.data() + (pos_ - buf_start_), have);
  if (have == 0) *out = std::string_view();
  pos_ += have;
  return Status::OK();
}

FileWriter::~FileWriter() {
  if (fd_ >= 0) close(fd_);
}

Status FileWriter::Create(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) return Status::InvalidArgument(path + " already exists");
    return Errno("cannot create", path);
  }
  Adopt(fd, path);
  return Status::OK();
}

void FileWriter::Adopt(int fd, std::string name) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  name_ = std::move(name);
  buf_.clear();
  buf_.reserve(kWriteBuffer);
  written_ = 0;
}

Status FileWriter::Append(std::string_view data) {
  if (buf_.size() + data.size() > kWriteBuffer) DURUS_RETURN_IF_ERROR(Flush());
  if (data.size() >= kWriteBuffer) return WriteOut(data);
  buf_.append(data);
  return Status::OK();
}

// All of `data` at the file's position (short writes and EINTR retried).
Status FileWriter::WriteOut(std::string_view data) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t w = write(fd_, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", name_);
    }
    p += w;
    left -= static_cast<size_t>(w);
    written_ += static_cast<uint64_t>(w);
  }
  return Status::OK();
}

Status FileWriter::Flush() {
  DURUS_RETURN_IF_ERROR(WriteOut(buf_));
  buf_.clear();
  return Status::OK();
}

Status FileWriter::WriteAt(uint64_t offset, std::string_view data) {
  DURUS_RETURN_IF_ERROR(Flush());
  if (pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset)) !=
      static_cast<ssize_t>(data.size())) {
    return Errno("cannot write", name_);
  }
  return Status::OK();
}

Status FileWriter::Sync() {
  DURUS_RETURN_IF_ERROR(Flush());
  if (fsync(fd_) != 0) return Errno("cannot fsync", name_);
  return Status::OK();
}

Status FileWriter::Close() {
  Status s = Flush();
  if (fd_ >= 0 && close(fd_) != 0 && s.ok()) s = Errno("cannot close", name_);
  fd_ = -1;
  return s;
}

int FileWriter::Release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

Status TempFile::Create(const std::string& dir) {
  std::string tmpl = (dir.empty() ? std::string("/tmp") : dir) + "/durus-bdb-sort-XXXXXX";
  int fd = mkstemp(tmpl.data());
  if (fd < 0) return Errno("cannot create a temporary file in", dir);
  unlink(tmpl.c_str());  // nameless from now on: gone when closed or on a crash
  writer_.Adopt(fd, tmpl);
  return Status::OK();
}

Status TempFile::StartReading() {
  DURUS_RETURN_IF_ERROR(writer_.Flush());
  size_ = writer_.pos();
  std::string name = "temporary sort file";
  int fd = writer_.Release();
  reader_.Adopt(fd, name, size_);
  return Status::OK();
}

namespace {
// The pid holding a flock on the file `st` describes, per /proc/locks
// ("1: FLOCK  ADVISORY  WRITE 1234 fe:00:10952705 0 EOF"; waiters, shown
// with "->", are skipped); 0 if none is listed.
int64_t FlockHolder(const struct stat& st) {
  char id[64];
  snprintf(id, sizeof id, "%02x:%02x:%" PRIu64, major(st.st_dev), minor(st.st_dev),
           static_cast<uint64_t>(st.st_ino));
  std::ifstream locks("/proc/locks");
  std::string line;
  while (std::getline(locks, line)) {
    char kind[16], file_id[64];
    long long pid = 0;
    if (sscanf(line.c_str(), "%*d: %15s %*s %*s %lld %63s", kind, &pid, file_id) == 3 &&
        strcmp(kind, "FLOCK") == 0 && strcmp(file_id, id) == 0) {
      return pid;
    }
  }
  return 0;
}
}  // namespace

SharedFileLock::~SharedFileLock() {
  if (fd_ >= 0) close(fd_);  // releases the lock
}

Status SharedFileLock::Acquire(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("no such file: " + path);
    return Errno("cannot open", path);
  }
  if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
    Status s;
    if (errno == EWOULDBLOCK) {
      struct stat st;
      int64_t pid = fstat(fd, &st) == 0 ? FlockHolder(st) : 0;
      s = Status::Busy(path + " is in use by a running Durus process (" +
                       (pid > 0 ? "pid " + std::to_string(pid) : std::string("pid unknown")) + ")");
    } else {
      s = Errno("cannot lock", path);
    }
    close(fd);
    return s;
  }
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  return Status::OK();
}

Status GetFileSize(const std::string& path, uint64_t* size) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::NotFound("no such file: " + path);
    return Errno("cannot stat", path);
  }
  *size = static_cast<uint64_t>(st.st_size);
  return Status::OK();
}

Status SyncParentDir(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open directory", dir);
  int r = fsync(fd);
  close(fd);
  if (r != 0) return Errno("cannot fsync directory", dir);
  return Status::OK();
}

}  // namespace durus::migrate
