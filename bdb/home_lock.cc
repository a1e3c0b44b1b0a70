#include "bdb/home_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "bdb/schema.h"

namespace durus::bdb {

namespace {

std::string SelfDescription() {
  std::string cmd;
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string arg;
  while (std::getline(in, arg, '\0')) {
    if (!cmd.empty()) cmd += ' ';
    cmd += arg;
    if (cmd.size() > 200) break;
  }
  return std::to_string(getpid()) + " " + cmd;
}

}  // namespace

std::string DescribeHolder(const std::string& home) {
  std::ifstream in(home + "/" + schema::kLockFile);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s;
}

namespace {

// flock(fd, op | LOCK_NB); on failure closes fd and says who holds `home`.
Status LockOrClose(int fd, int op, const std::string& home, const std::string& path) {
  if (flock(fd, op | LOCK_NB) == 0) return Status::OK();
  int err = errno;
  close(fd);
  if (err == EWOULDBLOCK) {
    std::string holder = DescribeHolder(home);
    return Status::Busy("home " + home + " is in use by process " +
                        (holder.empty() ? std::string("(unknown)") : holder));
  }
  return Status::IOError("cannot lock " + path + ": " + strerror(err));
}

}  // namespace

Status HomeLock::Acquire(const std::string& home) {
  Release();
  std::string path = home + "/" + schema::kLockFile;
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot open " + path + ": " + strerror(errno));
  DURUS_RETURN_IF_ERROR(LockOrClose(fd, LOCK_EX, home, path));
  std::string me = SelfDescription() + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, me.data(), me.size(), 0) < 0) {
    // The lock is what matters; the description is a courtesy.
  }
  fd_ = fd;
  return Status::OK();
}

Status HomeLock::AcquireSharedReadOnly(const std::string& home) {
  Release();
  std::string path = home + "/" + schema::kLockFile;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::OK();
    return Status::IOError("cannot open " + path + ": " + strerror(errno));
  }
  DURUS_RETURN_IF_ERROR(LockOrClose(fd, LOCK_SH, home, path));
  // A clean close empties the file (Release); a crashed holder leaves its
  // description behind.
  std::string holder = DescribeHolder(home);
  if (!holder.empty()) {
    close(fd);
    return Status::InvalidArgument(
        "home " + home + " was not closed cleanly (last held by process " + holder +
        ") and this process cannot write it, so it cannot be recovered: open it once "
        "read-write (e.g. `durus-bdb verify " +
        home +
        "` as its owner, or on a writable mount), "
        "or copy it somewhere writable");
  }
  shared_ = true;
  fd_ = fd;
  return Status::OK();
}

void HomeLock::Release(bool clean) {
  if (fd_ >= 0 && shared_) {
    close(fd_);
    fd_ = -1;
    shared_ = false;
    return;
  }
  if (fd_ >= 0) {
    if (clean && ftruncate(fd_, 0) != 0) {
      // Best effort: a stale description is harmless, the flock is gone.
    }
    close(fd_);  // releases the flock
    fd_ = -1;
  }
}

Status JoinLock::Acquire(const std::string& home, int op, uint32_t timeout_ms) {
  Release();
  std::string path = home + "/" + schema::kJoinFile;
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot open " + path + ": " + strerror(errno));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (flock(fd, op | LOCK_NB) != 0) {
    int err = errno;
    if (err == EINTR) continue;
    if (err != EWOULDBLOCK || std::chrono::steady_clock::now() >= deadline) {
      close(fd);
      if (err == EWOULDBLOCK) {
        return Status::Busy("the environment of " + home +
                            " is being recovered or joined; try again");
      }
      return Status::IOError("cannot lock " + path + ": " + strerror(err));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  fd_ = fd;
  return Status::OK();
}

Status JoinLock::AcquireShared(const std::string& home, uint32_t timeout_ms) {
  DURUS_RETURN_IF_ERROR(Acquire(home, LOCK_SH, timeout_ms));
  // A joiner grows the file by a byte: the holder's close sees that a
  // backup joined during its session (even one gone since, perhaps killed
  // while holding a mutex in the regions) and leaves no clean marker, so
  // the next open recreates the regions (bdb/env_shape.h).
  if (lseek(fd_, 0, SEEK_END) < 0 || write(fd_, "j", 1) != 1) {
    Status s =
        Status::IOError("cannot write " + home + "/" + schema::kJoinFile + ": " + strerror(errno));
    Release();
    return s;
  }
  return Status::OK();
}

Status JoinLock::AcquireExclusive(const std::string& home, uint32_t timeout_ms) {
  return Acquire(home, LOCK_EX, timeout_ms);
}

Status JoinLock::Downgrade() {
  if (fd_ < 0) return Status::InvalidArgument("join lock not held");
  // Linux may release before re-acquiring; no other process can take it
  // exclusively meanwhile, since exclusive takers hold the HomeLock too.
  if (flock(fd_, LOCK_SH) != 0) return Status::IOError(std::string("flock: ") + strerror(errno));
  return Status::OK();
}

void JoinLock::Release() {
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

}  // namespace durus::bdb
