// util/sd_notify.h against a datagram socket standing in for systemd's
// NOTIFY_SOCKET: what arrives is what Type=notify needs.
#include "util/sd_notify.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "tests/core/test_util.h"

namespace {

// A bound AF_UNIX datagram socket with NOTIFY_SOCKET pointing at it.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    bound_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    setenv("NOTIFY_SOCKET", path.c_str(), 1);
  }
  ~NotifySocket() {
    unsetenv("NOTIFY_SOCKET");
    if (fd_ >= 0) close(fd_);
  }
  bool bound() const { return bound_; }
  // The next datagram (blocking: every test sends one before reading).
  std::string Next() {
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    return n < 0 ? "recv failed" : std::string(buf, static_cast<size_t>(n));
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

TEST(SdNotify, ReadyStatusStopping) {
  durus::test::TempDir dir;
  NotifySocket sock(dir.path() + "/notify");
  ASSERT_TRUE(sock.bound());
  ASSERT_TRUE(durus::util::sdnotify::Ready("serving /var/lib/durus-bdb/app on 127.0.0.1:2972"));
  EXPECT_EQ(sock.Next(),
            "READY=1\nSTATUS=serving /var/lib/durus-bdb/app on 127.0.0.1:2972\n"
            "MAINPID=" +
                std::to_string(getpid()));
  ASSERT_TRUE(durus::util::sdnotify::Status("recovering\nREADY=1"));  // one line only
  EXPECT_EQ(sock.Next(), "STATUS=recovering READY=1");
  ASSERT_TRUE(durus::util::sdnotify::Stopping());
  EXPECT_EQ(sock.Next(), "STOPPING=1\nSTATUS=stopping");
}

TEST(SdNotify, WithoutNotifySocketNothingIsSent) {
  unsetenv("NOTIFY_SOCKET");
  EXPECT_TRUE(durus::util::sdnotify::Ready("x"));
  EXPECT_TRUE(durus::util::sdnotify::Stopping());
}

TEST(SdNotify, UnreachableSocketIsAFailure) {
  durus::test::TempDir dir;
  setenv("NOTIFY_SOCKET", (dir.path() + "/nobody-listens").c_str(), 1);
  EXPECT_FALSE(durus::util::sdnotify::Ready("x"));
  setenv("NOTIFY_SOCKET", "relative/path", 1);
  EXPECT_FALSE(durus::util::sdnotify::Status("x"));
  unsetenv("NOTIFY_SOCKET");
}

}  // namespace
