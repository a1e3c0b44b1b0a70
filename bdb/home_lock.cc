#include "bdb/home_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

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

Status HomeLock::Acquire(const std::string& home) {
  Release();
  std::string path = home + "/" + schema::kLockFile;
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot open " + path + ": " + strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      std::string holder = DescribeHolder(home);
      return Status::Busy("home " + home + " is in use by process " +
                          (holder.empty() ? std::string("(unknown)") : holder));
    }
    return Status::IOError("cannot lock " + path + ": " + strerror(err));
  }
  std::string me = SelfDescription() + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, me.data(), me.size(), 0) < 0) {
    // The lock is what matters; the description is a courtesy.
  }
  fd_ = fd;
  return Status::OK();
}

void HomeLock::Release() {
  if (fd_ >= 0) {
    if (ftruncate(fd_, 0) != 0) {
      // Best effort: a stale description is harmless, the flock is gone.
    }
    close(fd_);  // releases the flock
    fd_ = -1;
  }
}

}  // namespace durus::bdb
