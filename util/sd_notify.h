// util/sd_notify.h: tell systemd (Type=notify units) that the server is
// ready, what it is doing, and that it is stopping, without libsystemd.
//
// The protocol (sd_notify(3), "NOTIFY_SOCKET"): one datagram of
// newline-separated KEY=VALUE lines sent to the AF_UNIX datagram socket
// named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
// Without $NOTIFY_SOCKET (not started by systemd, or Type= is not notify)
// every call does nothing and returns true.
//
// Threading: the functions keep no state (a socket per call) and may be
// called from any thread; not from a signal handler (they allocate).
// Errors: a send that fails returns false; systemd then treats the service
// as not ready (Type=notify) until its start timeout, so callers log it and
// carry on serving.
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>

namespace durus::util::sdnotify {

// Sends `message` (e.g. "READY=1\nSTATUS=...") to $NOTIFY_SOCKET.
inline bool Notify(const std::string& message) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return true;
  size_t len = strlen(path);
  sockaddr_un addr{};
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof(addr.sun_path)) return false;
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ssize_t n;
  do {
    n = sendto(fd, message.data(), message.size(), MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(&addr), addr_len);
  } while (n < 0 && errno == EINTR);
  close(fd);
  return n == static_cast<ssize_t>(message.size());
}

// A STATUS= value is one line: newlines would start new KEY=VALUE pairs.
inline std::string StatusLine(const std::string& text) {
  std::string line = "STATUS=" + text;
  for (char& c : line) {
    if (c == '\n') c = ' ';
  }
  return line;
}

// The service accepts clients: READY=1 plus a status line (e.g. "serving
// /var/lib/durus-bdb/app on 127.0.0.1:2972"), and MAINPID so that a
// helper process could send it too.
inline bool Ready(const std::string& status) {
  return Notify("READY=1\n" + StatusLine(status) + "\nMAINPID=" + std::to_string(getpid()));
}

// Free-form progress shown by `systemctl status` (recovery, a trace).
inline bool Status(const std::string& text) { return Notify(StatusLine(text)); }

// Shutdown began (systemd waits for the exit within TimeoutStopSec).
inline bool Stopping() { return Notify("STOPPING=1\n" + StatusLine("stopping")); }

}  // namespace durus::util::sdnotify
