// WorkerPool's pacing: how many workers run at once (parking, the
// active-worker accounting) and the monitor thread that presumes stalled
// workers blocked, adjusts the cap, and ticks the handler.  The epoll
// side is worker_pool.cc.
#include <algorithm>

#include "server/worker_pool.h"

namespace durus::server {

namespace {

// Slot::word: (request sequence << 2) | flags.
constexpr uint64_t kInRequest = 1;
constexpr uint64_t kOut = 2;  // not counted as active until the request ends

}  // namespace

thread_local WorkerPool::Slot* WorkerPool::tls_slot = nullptr;

// --- active workers -------------------------------------------------------

void WorkerPool::BeginRequest() {
  Slot* s = tls_slot;
  if (s == nullptr) return;
  ++s->seq;
  // No flag is set between requests, so the monitor cannot race this.
  s->word.store((s->seq << 2) | kInRequest, std::memory_order_relaxed);
}

void WorkerPool::EndRequest() {
  Slot* s = tls_slot;
  if (s == nullptr) return;
  uint64_t old = s->word.exchange(s->seq << 2, std::memory_order_acq_rel);
  if (old & kOut) {
    active_.fetch_add(1, std::memory_order_acq_rel);
    s->back = true;
  }
}

void WorkerPool::GoOut() {
  Slot* s = tls_slot;
  if (s == nullptr) return;
  uint64_t w = s->word.load(std::memory_order_relaxed);
  while ((w & kInRequest) && !(w & kOut)) {
    if (s->word.compare_exchange_weak(w, w | kOut, std::memory_order_acq_rel)) {
      LeaveActive();
      return;
    }
  }
}

void WorkerPool::LeaveActive() {
  // Below the limit by one is left as it is (a worker back from blocking
  // soon fills the place); by two, or none left, a parked one is woken.
  const int min_active = std::max(1, limit_.load(std::memory_order_relaxed) - 1);
  if (active_.fetch_sub(1, std::memory_order_acq_rel) - 1 >= min_active) return;
  util::MutexLock l(&park_mu_);
  if (parked_ > 0 && active_.load(std::memory_order_acquire) < min_active) {
    --parked_;
    ++grants_;
    active_.fetch_add(1, std::memory_order_acq_rel);  // counted for the one woken
    park_cv_.Signal();
  }
}

void WorkerPool::MaybePark() {
  int limit = limit_.load(std::memory_order_relaxed);
  if (Slot* s = tls_slot; s != nullptr && s->back) {
    s->back = false;
    ++limit;
  }
  if (active_.load(std::memory_order_relaxed) <= limit) return;
  util::MutexLock l(&park_mu_);
  if (active_.load(std::memory_order_acquire) <= limit || stopping_.load()) return;
  active_.fetch_sub(1, std::memory_order_acq_rel);
  ++parked_;
  while (grants_ == 0 && !stopping_.load()) park_cv_.Wait(&park_mu_);
  if (grants_ > 0) {
    --grants_;  // the granter counted us active again
    return;
  }
  --parked_;  // stopping
  active_.fetch_add(1, std::memory_order_acq_rel);
}

void WorkerPool::SetLimit(int limit) {
  if (limit_.exchange(limit, std::memory_order_acq_rel) >= limit) return;  // surplus parks itself
  util::MutexLock l(&park_mu_);
  while (parked_ > 0 && active_.load(std::memory_order_acquire) < limit) {
    --parked_;
    ++grants_;
    active_.fetch_add(1, std::memory_order_acq_rel);
    park_cv_.Signal();
  }
}

void WorkerPool::WakeAllParked() {
  { util::MutexLock l(&park_mu_); }
  park_cv_.SignalAll();
}

// --- the monitor ----------------------------------------------------------

void WorkerPool::MonitorLoop() {
  std::vector<uint64_t> last(static_cast<size_t>(options_.threads), 0);
  std::vector<Clock::time_point> since(static_cast<size_t>(options_.threads), Clock::now());
  window_start_ = Clock::now();
  while (!stopping_.load()) {
    {
      util::MutexLock l(&monitor_mu_);
      if (!stopping_.load()) monitor_cv_.WaitFor(&monitor_mu_, options_.tick);
    }
    const auto now = Clock::now();
    AdjustLimit(now);
    PresumeStalled(now, &last, &since);
    handler_->OnTick(now);
  }
}

void WorkerPool::AdjustLimit(Clock::time_point now) {
  // How many workers may run: no more than the connections that kept the
  // pool busy lately.  With one client, a second running worker only takes
  // its next request while the first is on its way back to epoll (a
  // wake-up per request instead of none).
  if (now - window_start_ < std::chrono::milliseconds(100)) return;
  window_start_ = now;
  window_.fetch_add(1, std::memory_order_relaxed);
  const int conns = window_conns_.exchange(0, std::memory_order_relaxed);
  SetLimit(std::clamp(conns, 1, options_.max_active));
}

void WorkerPool::PresumeStalled(Clock::time_point now, std::vector<uint64_t>* last,
                                std::vector<Clock::time_point>* since) {
  // Workers stuck in one request without saying they block.
  for (int i = 0; i < options_.threads; ++i) {
    std::atomic<uint64_t>& word = slots_[i].word;
    uint64_t w = word.load(std::memory_order_acquire);
    if (w != (*last)[i]) {
      (*last)[i] = w;
      (*since)[i] = now;
      continue;
    }
    if ((w & kInRequest) && !(w & kOut) && now - (*since)[i] >= options_.stall &&
        word.compare_exchange_strong(w, w | kOut, std::memory_order_acq_rel)) {
      (*last)[i] = w | kOut;
      DURUS_LOG(*log_, kDebug, "worker %d busy in one request for %.0f ms: another takes its place",
                i, std::chrono::duration<double, std::milli>(options_.stall).count());
      LeaveActive();
    }
  }
}

}  // namespace durus::server
