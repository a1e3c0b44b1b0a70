#include "server/acceptor.h"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstring>

namespace durus::server {

namespace {

// Descriptors this process has open now (/proc/self/fd), or 0 if unknown.
size_t OpenDescriptors() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return 0;
  size_t n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n > 0 ? n - 1 : 0;  // not the directory's own descriptor
}

}  // namespace

size_t ClientBudget(size_t requested, size_t reserve, std::string* how) {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) {
    *how = requested > 0 ? "--max-clients" : "no descriptor limit";
    return requested > 0 ? requested : static_cast<size_t>(1) << 20;
  }
  const size_t limit = static_cast<size_t>(rl.rlim_cur);
  const size_t in_use = OpenDescriptors();
  const size_t budget = limit > in_use + reserve ? limit - in_use - reserve : 1;
  *how = "RLIMIT_NOFILE " + std::to_string(limit) + ": " + std::to_string(in_use) + " in use, " +
         std::to_string(reserve) + " kept for the storage";
  if (requested > 0 && requested <= budget) {
    *how = "--max-clients; " + *how;
    return requested;
  }
  if (requested > budget) *how = "--max-clients " + std::to_string(requested) + " lowered; " + *how;
  return budget;
}

size_t RaiseDescriptorLimit() {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return 0;
  rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  return rl.rlim_cur == RLIM_INFINITY ? SIZE_MAX : static_cast<size_t>(rl.rlim_cur);
}

Status Acceptor::Start(int listen_fd, bool is_unix, std::string listen_desc, int stop_fd,
                       const AccessPolicy* policy, size_t max_clients, AddFn add) {
  listen_fd_ = listen_fd;
  is_unix_ = is_unix;
  listen_desc_ = std::move(listen_desc);
  stop_fd_ = stop_fd;
  policy_ = policy;
  max_clients_ = max_clients;
  add_ = std::move(add);
  released_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (released_fd_ < 0) return Status::IOError(std::string("eventfd: ") + strerror(errno));
  thread_ = std::thread([this] { Loop(); });
  return Status::OK();
}

void Acceptor::Join() {
  if (thread_.joinable()) thread_.join();
  if (released_fd_ >= 0) {
    ::close(released_fd_);
    released_fd_ = -1;
  }
}

void Acceptor::Released() {
  open_.fetch_sub(1, std::memory_order_acq_rel);
  if (paused_.load(std::memory_order_acquire)) {
    uint64_t one = 1;
    ssize_t w = ::write(released_fd_, &one, sizeof(one));
    (void)w;  // saturated: already signalled
  }
}

void Acceptor::Loop() {
  while (true) {
    const bool paused = paused_.load(std::memory_order_relaxed);
    struct pollfd p[3] = {
        {stop_fd_, POLLIN, 0}, {released_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    // Paused: wait for a client to leave, or retry after a second (the
    // descriptors may have been the storage's).
    int n = ::poll(p, paused ? 2 : 3, paused ? 1000 : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log_->Log(LogLevel::kError, "accept: poll: %s", strerror(errno));
      ::usleep(100 * 1000);
      continue;
    }
    if (p[0].revents & POLLIN) return;  // stopping
    if (p[1].revents & POLLIN) {
      uint64_t v;
      ssize_t r = ::read(released_fd_, &v, sizeof(v));
      (void)r;
    }
    if (paused) paused_.store(false, std::memory_order_relaxed);
    if (!AcceptReady()) paused_.store(true, std::memory_order_release);
  }
}

bool Acceptor::AcceptReady() {
  while (true) {
    sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    int fd =
        ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EINTR || err == ECONNABORTED) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) return true;
      // EMFILE, ENFILE, ENOBUFS, ENOMEM, ...: once per episode.
      if (!at_limit_) {
        log_->Log(LogLevel::kError,
                  "accept: %s: not accepting new connections until a client leaves (%zu connected)",
                  strerror(err), open_.load());
        at_limit_ = true;
      }
      return false;
    }
    PeerInfo peer = DescribePeer(fd, sa, len, listen_desc_);
    if (!MayConnect(*policy_, peer)) {
      ::close(fd);
      const auto now = Clock::now();
      if (now - last_denied_log_ >= std::chrono::seconds(1)) {
        std::string more = denied_unlogged_ == 0 ? std::string()
                                                 : " (and " + std::to_string(denied_unlogged_) +
                                                       " more since the last such line)";
        log_->Log(LogLevel::kWarn, "refused a connection from %s: not in --allow-from%s",
                  peer.name.c_str(), more.c_str());
        last_denied_log_ = now;
        denied_unlogged_ = 0;
      } else {
        ++denied_unlogged_;
      }
      continue;
    }
    if (open_.load(std::memory_order_acquire) >= max_clients_) {
      ::close(fd);
      if (!at_limit_) {
        log_->Log(LogLevel::kWarn,
                  "%zu clients connected, as many as the descriptor limit allows: refusing new "
                  "connections until some leave (see --max-clients)",
                  max_clients_);
        at_limit_ = true;
      }
      ++refused_;
      continue;
    }
    // The episode ends once a tenth of the room is free again, not at the
    // first departure: at the limit with clients coming and going, one
    // line per episode rather than two per departure.
    if (at_limit_ && open_.load(std::memory_order_acquire) < max_clients_ - max_clients_ / 10) {
      log_->Log(LogLevel::kInfo, "accepting new connections again (%" PRIu64 " refused meanwhile)",
                refused_);
      at_limit_ = false;
      refused_ = 0;
    }
    if (!is_unix_) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    open_.fetch_add(1, std::memory_order_acq_rel);
    add_(fd, peer);
  }
}

}  // namespace durus::server
