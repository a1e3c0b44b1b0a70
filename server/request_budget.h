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
// Threading: thread-safe; mu_ is a leaf (before_wait runs without it).
#ifndef DURUS_BDB_SERVER_REQUEST_BUDGET_H_
#define DURUS_BDB_SERVER_REQUEST_BUDGET_H_

#include <chrono>
#include <cstdint>

#include "util/mutex.h"

namespace durus::server {

class RequestBudget {
 public:
  explicit RequestBudget(uint64_t limit) : limit_(limit) {}

  // Take `bytes`; false if they were not available before `deadline`.
  // `before_wait` runs once if the call has to wait.
  template <typename BeforeWait>
  bool Acquire(uint64_t bytes, std::chrono::steady_clock::time_point deadline,
               BeforeWait before_wait) EXCLUDES(mu_);
  void Release(uint64_t bytes) EXCLUDES(mu_);

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
  uint64_t in_use() const EXCLUDES(mu_) {
    util::MutexLock l(&mu_);
    return used_;
  }

 private:
  bool FitsLocked(uint64_t bytes) const REQUIRES(mu_) {
    return used_ == 0 || used_ + bytes <= limit_;
  }

  const uint64_t limit_;
  mutable util::Mutex mu_;
  util::CondVar cv_;
  uint64_t used_ GUARDED_BY(mu_) = 0;
  std::chrono::steady_clock::time_point trimmed_at_ GUARDED_BY(mu_);
};

template <typename BeforeWait>
bool RequestBudget::Acquire(uint64_t bytes, std::chrono::steady_clock::time_point deadline,
                            BeforeWait before_wait) {
  util::MutexLock l(&mu_);
  if (!FitsLocked(bytes)) {
    mu_.Unlock();
    before_wait();
    mu_.Lock();
    while (!FitsLocked(bytes)) {
      if (!cv_.WaitUntil(&mu_, deadline)) {
        if (!FitsLocked(bytes)) return false;  // as wait_until with a predicate
        break;
      }
    }
  }
  used_ += bytes;
  return true;
}

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_REQUEST_BUDGET_H_
