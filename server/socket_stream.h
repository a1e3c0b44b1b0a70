// SocketStream: buffered reads and writes on one non-blocking client
// socket, each bounded by a deadline.
//
// The server hands a connection to a worker thread only when bytes are
// waiting (epoll), but a request's later bytes may not have arrived yet:
// ReadExact waits for them with poll(2) until the deadline, and gives up
// early when the server's stop descriptor becomes readable.  WriteAll
// waits for socket buffer space the same way (a client that stops reading
// its replies is a stuck client).
//
// Ownership: the stream owns the client fd and closes it on destruction;
// `stop_fd` is borrowed (it must outlive the stream).
//
// Threading: one thread at a time (the worker holding the connection).
#ifndef DURUS_BDB_SERVER_SOCKET_STREAM_H_
#define DURUS_BDB_SERVER_SOCKET_STREAM_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace durus::server {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

enum class IoResult {
  kOk,
  kWouldBlock,  // FillNow only: nothing to read right now
  kClosed,      // the peer closed the connection (EOF)
  kTimeout,     // the deadline passed first
  kStopped,     // the server is stopping (reads only)
  kError,       // a socket error; see error()
};
const char* IoResultName(IoResult r);

class SocketStream;

// A hook run on the calling thread just before any SocketStream operation
// of that thread blocks (waits in poll), so a worker holding other ready
// connections can pass them on instead of making them wait behind a slow
// client, and can stop epoll from reporting bytes on `stream` that the
// waiting operation will read itself.  Thread-local; nullptr to clear.
void SetBlockingHook(void (*hook)(void* arg, SocketStream* stream), void* arg);

class SocketStream {
 public:
  SocketStream(int fd, int stop_fd);
  ~SocketStream();
  SocketStream(const SocketStream&) = delete;
  SocketStream& operator=(const SocketStream&) = delete;

  int fd() const { return fd_; }
  // Add every byte received / sent to these (relaxed; the monitoring
  // counters of server/metrics.h).  Either may be null; both must outlive
  // the stream.
  void CountBytes(std::atomic<uint64_t>* in, std::atomic<uint64_t>* out) {
    bytes_in_ = in;
    bytes_out_ = out;
  }
  int error() const { return errno_; }

  // Bytes received but not yet consumed.
  size_t buffered() const { return end_ - pos_; }

  // True if the last recv found the socket empty (it returned fewer bytes
  // than it had room for, or EAGAIN): every byte that arrives after it
  // raises a new edge-triggered epoll event.  False after a recv that
  // filled all the room it had: more may be waiting unannounced.
  bool drained() const { return drained_; }

  // One non-blocking recv into the buffer: kOk (bytes arrived), kWouldBlock,
  // kClosed or kError.
  IoResult FillNow();

  // The buffered bytes (buffered() of them), not consumed.
  const char* peek() const { return buf_ + pos_; }

  // Consume one buffered byte; requires buffered() > 0.
  uint8_t TakeByte() { return static_cast<uint8_t>(buf_[pos_++]); }

  // Append bytes to `out` until it holds `target` bytes.  Resumable: after
  // kTimeout the bytes received so far stay in `out`.
  IoResult ReadUntil(std::string* out, size_t target, Deadline deadline);

  // Send all of [data, data+n).  Resumable through `*sent`.
  IoResult WriteAll(const char* data, size_t n, size_t* sent, Deadline deadline);
  IoResult WriteAll(const std::string& s, Deadline deadline) {
    size_t sent = 0;
    return WriteAll(s.data(), s.size(), &sent, deadline);
  }

 private:
  // Wait for `events` on the socket (and the stop fd if `watch_stop`).
  IoResult Wait(short events, Deadline deadline, bool watch_stop);

  int fd_;
  int stop_fd_;
  int errno_ = 0;
  bool drained_ = false;
  static constexpr size_t kBufSize = 64 * 1024;
  char* buf_;
  size_t pos_ = 0;
  size_t end_ = 0;
  std::atomic<uint64_t>* bytes_in_ = nullptr;
  std::atomic<uint64_t>* bytes_out_ = nullptr;
  void CountIn(ssize_t n) {
    if (n > 0 && bytes_in_ != nullptr) {
      bytes_in_->fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    }
  }
};

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_SOCKET_STREAM_H_
