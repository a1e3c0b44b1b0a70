// Listener: the server's listening socket (TCP, unix-domain file, or
// Linux abstract unix socket) and its cleanup.
//
// TCP binds the given host (loopback by default; an IPv6 literal works).
// Port 0 picks a free port; port() reports the one bound.
//
// A unix socket file is created with `socket_mode` (0600 by default: owner
// only) and optionally handed to `socket_group`.  An existing file at the
// path is replaced only when it is a socket and nothing accepts connections
// on it (a stale file from a crashed server); a live server's socket or a
// non-socket file is an error.  The file is removed on Close() if it is
// still the one we created.
//
// An address beginning with '@' is Linux's abstract namespace (no file).
//
// Ownership: the Listener owns its fd.  Threading: not thread-safe; the
// server opens it once and closes it at the end.
#ifndef DURUS_BDB_SERVER_LISTENER_H_
#define DURUS_BDB_SERVER_LISTENER_H_

#include <sys/types.h>

#include <string>

#include "engine/status.h"

namespace durus::server {

struct ListenOptions {
  std::string host = "127.0.0.1";
  int port = 2972;
  // Unix socket path or "@name"; when set, host and port are ignored.
  std::string address;
  unsigned socket_mode = 0600;
  std::string socket_group;  // group name or numeric gid; empty: unchanged
  int backlog = 128;
};

class Listener {
 public:
  Listener() = default;
  ~Listener() { Close(); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  Status Open(const ListenOptions& options);
  void Close();

  int fd() const { return fd_; }
  bool is_unix() const { return is_unix_; }
  int port() const { return port_; }
  // "127.0.0.1:2972", "[::1]:2972", "/path/sock" or "@name".
  const std::string& description() const { return description_; }

 private:
  Status OpenTcp(const ListenOptions& options);
  Status OpenUnix(const ListenOptions& options);

  int fd_ = -1;
  bool is_unix_ = false;
  int port_ = 0;
  std::string description_;
  std::string path_;  // socket file to remove on Close (empty if none)
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

// Connect to a server address as a client (for `durus-bdb stop` and
// probes).  Returns the fd, or -1 with *err set to errno.
int ConnectTo(const ListenOptions& options, int* err);

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_LISTENER_H_
