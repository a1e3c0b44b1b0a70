#include "server/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace durus::server {

namespace {

std::string Errno(const std::string& what, int err) { return what + ": " + std::strerror(err); }

// Fill a sockaddr_un for `address` ("@name" is abstract).  Returns the
// address length, or 0 if the path is too long.
socklen_t UnixAddr(const std::string& address, sockaddr_un* sa) {
  std::memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  if (address.size() >= sizeof(sa->sun_path)) return 0;
  std::memcpy(sa->sun_path, address.data(), address.size());
  if (address[0] == '@') {
    sa->sun_path[0] = '\0';
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  }
  return static_cast<socklen_t>(sizeof(*sa));
}

Status ResolveTcp(const std::string& host, int port, addrinfo** out) {
  addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  std::string port_s = std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port_s.c_str(), &hints, out);
  if (rc != 0)
    return Status::InvalidArgument("cannot resolve host '" + host + "': " + gai_strerror(rc));
  return Status::OK();
}

}  // namespace

Status Listener::Open(const ListenOptions& options) {
  Close();
  if (!options.address.empty()) return OpenUnix(options);
  return OpenTcp(options);
}

Status Listener::OpenTcp(const ListenOptions& options) {
  if (options.port < 0 || options.port > 65535) {
    return Status::InvalidArgument("port out of range: " + std::to_string(options.port));
  }
  addrinfo* res = nullptr;
  DURUS_RETURN_IF_ERROR(ResolveTcp(options.host, options.port, &res));
  int last_err = 0;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      last_err = errno;
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, options.backlog) != 0) {
      last_err = errno;
      ::close(fd);
      continue;
    }
    sockaddr_storage bound;
    socklen_t len = sizeof(bound);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    char host[INET6_ADDRSTRLEN] = "?";
    if (bound.ss_family == AF_INET6) {
      auto* s6 = reinterpret_cast<sockaddr_in6*>(&bound);
      inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
      port_ = ntohs(s6->sin6_port);
      description_ = std::string("[") + host + "]:" + std::to_string(port_);
    } else {
      auto* s4 = reinterpret_cast<sockaddr_in*>(&bound);
      inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
      port_ = ntohs(s4->sin_port);
      description_ = std::string(host) + ":" + std::to_string(port_);
    }
    fd_ = fd;
    is_unix_ = false;
    freeaddrinfo(res);
    return Status::OK();
  }
  freeaddrinfo(res);
  return Status::IOError(
      Errno("cannot listen on " + options.host + ":" + std::to_string(options.port), last_err));
}

Status Listener::OpenUnix(const ListenOptions& options) {
  const std::string& address = options.address;
  sockaddr_un sa;
  socklen_t salen = UnixAddr(address, &sa);
  if (salen == 0) return Status::InvalidArgument("unix socket path too long: " + address);
  bool abstract = address[0] == '@';
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::IOError(Errno("socket", errno));

  // The socket file gets 0777 & ~umask at bind time; narrowing the umask
  // around bind() means it is never reachable with wider permissions,
  // unlike a bind-then-chmod.  (umask is process-wide, but only makes
  // files created meanwhile more private.)
  auto do_bind = [&]() {
    mode_t old = ::umask(static_cast<mode_t>(~options.socket_mode & 0777));
    int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), salen);
    int err = errno;
    ::umask(old);
    errno = err;
    return rc;
  };
  if (do_bind() != 0) {
    int err = errno;
    if (err != EADDRINUSE || abstract) {
      ::close(fd);
      return Status::IOError(Errno("cannot bind " + address, err));
    }
    // Something exists at the path.  Replace it only if it is a socket
    // nobody is listening on.
    struct stat st;
    if (::lstat(address.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
      ::close(fd);
      return Status::IOError("cannot bind " + address + ": the path exists and is not a socket");
    }
    ListenOptions probe;
    probe.address = address;
    int perr = 0;
    int cfd = ConnectTo(probe, &perr);
    if (cfd >= 0) {
      ::close(cfd);
      ::close(fd);
      return Status::Busy("another server is listening on " + address);
    }
    if (perr != ECONNREFUSED) {
      ::close(fd);
      return Status::IOError(
          Errno("cannot bind " + address + " (probing the existing socket)", perr));
    }
    if (::unlink(address.c_str()) != 0 || do_bind() != 0) {
      int e = errno;
      ::close(fd);
      return Status::IOError(Errno("cannot replace stale socket " + address, e));
    }
  }
  if (!abstract) {
    if (::chmod(address.c_str(), options.socket_mode) != 0) {
      int e = errno;
      ::unlink(address.c_str());
      ::close(fd);
      return Status::IOError(Errno("chmod " + address, e));
    }
    if (!options.socket_group.empty()) {
      gid_t gid;
      char* end = nullptr;
      unsigned long n = std::strtoul(options.socket_group.c_str(), &end, 10);
      if (end != nullptr && *end == '\0') {
        gid = static_cast<gid_t>(n);
      } else {
        struct group* g = ::getgrnam(options.socket_group.c_str());
        if (g == nullptr) {
          ::unlink(address.c_str());
          ::close(fd);
          return Status::InvalidArgument("unknown group '" + options.socket_group + "'");
        }
        gid = g->gr_gid;
      }
      if (::chown(address.c_str(), static_cast<uid_t>(-1), gid) != 0) {
        int e = errno;
        ::unlink(address.c_str());
        ::close(fd);
        return Status::IOError(Errno("chown " + address + " to group " + options.socket_group, e));
      }
    }
    struct stat st;
    if (::stat(address.c_str(), &st) == 0) {
      dev_ = st.st_dev;
      ino_ = st.st_ino;
    }
    path_ = address;
  }
  if (::listen(fd, options.backlog) != 0) {
    int e = errno;
    if (!abstract) ::unlink(address.c_str());
    path_.clear();
    ::close(fd);
    return Status::IOError(Errno("listen on " + address, e));
  }
  fd_ = fd;
  is_unix_ = true;
  port_ = 0;
  description_ = address;
  return Status::OK();
}

void Listener::Close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!path_.empty()) {
    // Remove the file only if it is still ours (not a successor's socket).
    struct stat st;
    if (::stat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
      ::unlink(path_.c_str());
    }
    path_.clear();
  }
}

int ConnectTo(const ListenOptions& options, int* err) {
  *err = 0;
  if (!options.address.empty()) {
    sockaddr_un sa;
    socklen_t salen = UnixAddr(options.address, &sa);
    if (salen == 0) {
      *err = ENAMETOOLONG;
      return -1;
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      *err = errno;
      return -1;
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), salen) != 0) {
      *err = errno;
      ::close(fd);
      return -1;
    }
    return fd;
  }
  addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port_s = std::to_string(options.port);
  if (getaddrinfo(options.host.c_str(), port_s.c_str(), &hints, &res) != 0) {
    *err = EINVAL;
    return -1;
  }
  int fd = -1;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      *err = errno;
      continue;
    }
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      break;
    }
    *err = errno;
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  return fd;
}

}  // namespace durus::server
