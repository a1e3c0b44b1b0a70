#include "server/socket_stream.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace durus::server {

namespace {
thread_local void (*tls_hook)(void*, SocketStream*) = nullptr;
thread_local void* tls_hook_arg = nullptr;
}  // namespace

void SetBlockingHook(void (*hook)(void*, SocketStream*), void* arg) {
  tls_hook = hook;
  tls_hook_arg = arg;
}

const char* IoResultName(IoResult r) {
  switch (r) {
    case IoResult::kOk: return "ok";
    case IoResult::kWouldBlock: return "would block";
    case IoResult::kClosed: return "connection closed by client";
    case IoResult::kTimeout: return "timed out";
    case IoResult::kStopped: return "server stopping";
    case IoResult::kError: return "socket error";
  }
  return "?";
}

SocketStream::SocketStream(int fd, int stop_fd)
    : fd_(fd), stop_fd_(stop_fd), buf_(new char[kBufSize]) {}

SocketStream::~SocketStream() {
  if (fd_ >= 0) ::close(fd_);
  delete[] buf_;
}

IoResult SocketStream::FillNow() {
  if (pos_ == end_) pos_ = end_ = 0;
  if (end_ == kBufSize) return IoResult::kOk;  // full: caller consumes first
  while (true) {
    const size_t room = kBufSize - end_;
    ssize_t n = ::recv(fd_, buf_ + end_, room, MSG_DONTWAIT);
    CountIn(n);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      drained_ = static_cast<size_t>(n) < room;
      return IoResult::kOk;
    }
    if (n == 0) return IoResult::kClosed;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      drained_ = true;
      return IoResult::kWouldBlock;
    }
    errno_ = errno;
    return IoResult::kError;
  }
}

IoResult SocketStream::Wait(short events, Deadline deadline, bool watch_stop) {
  while (true) {
    auto now = Clock::now();
    if (now >= deadline) return IoResult::kTimeout;
    if (tls_hook != nullptr) tls_hook(tls_hook_arg, this);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
    struct pollfd p[2];
    p[0] = {fd_, events, 0};
    p[1] = {stop_fd_, POLLIN, 0};
    int n = ::poll(p, watch_stop && stop_fd_ >= 0 ? 2 : 1,
                   static_cast<int>(std::min<long long>(ms, 1 << 30)));
    if (n < 0) {
      if (errno == EINTR) continue;
      errno_ = errno;
      return IoResult::kError;
    }
    if (n == 0) continue;  // re-check the deadline
    if (watch_stop && stop_fd_ >= 0 && (p[1].revents & POLLIN)) return IoResult::kStopped;
    if (p[0].revents) return IoResult::kOk;  // readable/writable, or an error recv/send reports
  }
}

IoResult SocketStream::ReadUntil(std::string* out, size_t target, Deadline deadline) {
  while (out->size() < target) {
    size_t want = target - out->size();
    if (pos_ < end_) {
      size_t take = std::min(want, end_ - pos_);
      out->append(buf_ + pos_, take);
      pos_ += take;
      continue;
    }
    pos_ = end_ = 0;
    ssize_t n;
    size_t room;
    if (want >= kBufSize) {
      // Large payload (commit data): receive straight into the destination,
      // growing it as bytes arrive rather than trusting the announced size.
      size_t old = out->size();
      room = std::min<size_t>(want, 1 << 20);
      out->resize(old + room);
      n = ::recv(fd_, &(*out)[old], room, MSG_DONTWAIT);
      out->resize(old + (n > 0 ? static_cast<size_t>(n) : 0));
    } else {
      room = kBufSize;
      n = ::recv(fd_, buf_, kBufSize, MSG_DONTWAIT);
      if (n > 0) end_ = static_cast<size_t>(n);
    }
    CountIn(n);
    if (n > 0) {
      drained_ = static_cast<size_t>(n) < room;
      continue;
    }
    if (n == 0) return IoResult::kClosed;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      errno_ = errno;
      return IoResult::kError;
    }
    drained_ = true;
    IoResult w = Wait(POLLIN, deadline, /*watch_stop=*/true);
    if (w != IoResult::kOk) return w;
  }
  return IoResult::kOk;
}

IoResult SocketStream::WriteAll(const char* data, size_t n, size_t* sent, Deadline deadline) {
  while (*sent < n) {
    ssize_t w = ::send(fd_, data + *sent, n - *sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0) {
      *sent += static_cast<size_t>(w);
      if (bytes_out_ != nullptr) {
        bytes_out_->fetch_add(static_cast<uint64_t>(w), std::memory_order_relaxed);
      }
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Replies are not abandoned when the server stops: an acknowledged
      // commit's 'O' should reach its client.
      IoResult r = Wait(POLLOUT, deadline, /*watch_stop=*/false);
      if (r != IoResult::kOk) return r;
      continue;
    }
    errno_ = w < 0 ? errno : EPIPE;
    return (errno_ == EPIPE || errno_ == ECONNRESET) ? IoResult::kClosed : IoResult::kError;
  }
  return IoResult::kOk;
}

}  // namespace durus::server
