#include "server/inflight_table.h"

namespace durus::server {

void InflightTable::Add(const std::vector<Oid>& oids) {
  std::lock_guard<std::mutex> l(mu_);
  for (const Oid& o : oids) ++oids_[o];
  commits_.fetch_add(1);
  // A waiter whose oid was just published to it ends its wait (kInvalid).
  if (waiters_ > 0) cv_.notify_all();
}

void InflightTable::Remove(const std::vector<Oid>& oids) {
  std::lock_guard<std::mutex> l(mu_);
  for (const Oid& o : oids) {
    auto it = oids_.find(o);
    if (it != oids_.end() && --it->second == 0) oids_.erase(it);
  }
  commits_.fetch_sub(1);
  if (waiters_ > 0) cv_.notify_all();
}

InflightTable::Wait InflightTable::WaitUntilSettled(const Oid* oids, size_t n,
                                                    const std::function<bool(Oid)>& invalid,
                                                    std::chrono::milliseconds timeout,
                                                    const std::function<void()>& before_wait) {
  // The caller synced at d; a commit in flight at d was added (under the
  // server's publish_mu_) before d, so this load, later in the caller's
  // thread, reads a count that includes it unless it has been removed
  // again, i.e. returned from Storage::Commit.
  if (commits_.load() == 0) return Wait::kClear;
  std::unique_lock<std::mutex> l(mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool waited = false;
  while (true) {
    bool busy = false;
    for (size_t i = 0; i < n && !oids_.empty(); ++i) {
      if (oids_.count(oids[i]) == 0) continue;
      if (invalid(oids[i])) return Wait::kInvalid;
      busy = true;
    }
    if (!busy) return Wait::kClear;
    if (!waited) {
      waited = true;
      waits_.fetch_add(1, std::memory_order_relaxed);
      l.unlock();
      before_wait();
      l.lock();
      continue;  // look again: the table may have changed meanwhile
    }
    ++waiters_;
    const bool timed_out = cv_.wait_until(l, deadline) == std::cv_status::timeout;
    --waiters_;
    if (timed_out) return Wait::kTimedOut;
  }
}

}  // namespace durus::server
