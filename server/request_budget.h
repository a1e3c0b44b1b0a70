// RequestBudget: a server-wide bound on the bytes of requests in flight
// (commit data and bulk-load oid lists being received and held), so that
// several clients each sending a large commit cannot together take the
// server's memory (issue 12: 3 clients x 250 MB of commit data, 847 MB
// RSS; --max-commit-bytes bounds one commit only).
//
// A request that does not fit waits until others release their bytes, up
// to its deadline; then the server drops that client with a log line.
// A single request larger than the whole budget is admitted only when
// nothing else holds any of it (so --max-commit-bytes above the budget
// still works, one at a time).
//
// Releasing a large request (>= 1 MiB) also gives freed heap memory back
// to the operating system (malloc_trim, at most once a second): glibc
// keeps freed small blocks, so a burst of large requests would otherwise
// leave the server's RSS high after the clients left.
//
// Threading: thread-safe.
#ifndef DURUS_BDB_SERVER_REQUEST_BUDGET_H_
#define DURUS_BDB_SERVER_REQUEST_BUDGET_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace durus::server {

class RequestBudget {
 public:
  explicit RequestBudget(uint64_t limit) : limit_(limit) {}

  // Take `bytes`; false if they were not available before `deadline`.
  // `before_wait` runs once if the call has to wait.
  template <typename BeforeWait>
  bool Acquire(uint64_t bytes, std::chrono::steady_clock::time_point deadline, BeforeWait before_wait);
  void Release(uint64_t bytes);

  // Holds bytes taken by Acquire; releases them on destruction.
  class Lease {
   public:
    Lease(RequestBudget* b, uint64_t bytes) : b_(b), bytes_(bytes) {}
    ~Lease() { b_->Release(bytes_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

   private:
    RequestBudget* b_;
    uint64_t bytes_;
  };

  uint64_t limit() const { return limit_; }
  uint64_t in_use() const {
    std::lock_guard<std::mutex> l(mu_);
    return used_;
  }

 private:
  bool FitsLocked(uint64_t bytes) const { return used_ == 0 || used_ + bytes <= limit_; }

  const uint64_t limit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t used_ = 0;
  std::chrono::steady_clock::time_point trimmed_at_;  // guarded by mu_
};

template <typename BeforeWait>
bool RequestBudget::Acquire(uint64_t bytes, std::chrono::steady_clock::time_point deadline,
                            BeforeWait before_wait) {
  std::unique_lock<std::mutex> l(mu_);
  if (!FitsLocked(bytes)) {
    l.unlock();
    before_wait();
    l.lock();
    if (!cv_.wait_until(l, deadline, [&] { return FitsLocked(bytes); })) return false;
  }
  used_ += bytes;
  return true;
}


}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_REQUEST_BUDGET_H_
