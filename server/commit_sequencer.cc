#include "server/commit_sequencer.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ctime>

namespace durus::server {

namespace {

constexpr uint32_t kWaiting = 0;
constexpr uint32_t kSleeping = 1;
constexpr uint32_t kGranted = 2;

// std::atomic<uint32_t> is a plain 32-bit word here (always lock-free).
uint32_t* FutexWord(std::atomic<uint32_t>* a) { return reinterpret_cast<uint32_t*>(a); }

}  // namespace

bool CommitSequencer::TryAcquire(Client* c) {
  util::MutexLock l(&mu_);
  if (holder_ != nullptr) {
    line_.push_back(Waiter{c, nullptr});
    return false;
  }
  holder_ = c;
  graceable_ = true;
  granted_at_ = Clock::now();
  return true;
}

bool CommitSequencer::AcquireSync(SyncWaiter* w, const std::atomic<bool>& stopping,
                                  const std::function<void()>& before_wait) {
  {
    util::MutexLock l(&mu_);
    if (holder_ == nullptr) {
      holder_ = w->c;
      graceable_ = false;
      return true;
    }
    line_.push_back(Waiter{w->c, w});
  }
  before_wait();  // waits for the committers ahead
  bool leave = false;
  while (true) {
    uint32_t v = w->grant.load(std::memory_order_acquire);
    if (v == kGranted) return true;
    if (v == kWaiting) {
      w->grant.compare_exchange_strong(v, kSleeping, std::memory_order_acq_rel);
      continue;
    }
    if (!leave && stopping.load()) {
      // A holder suspended in the line is not served any more.  Leave the
      // line, unless a granter has taken us off it already (it then sets
      // the word without blocking in between).
      util::MutexLock l(&mu_);
      for (auto it = line_.begin(); it != line_.end(); ++it) {
        if (it->sync == w) {
          line_.erase(it);
          return false;
        }
      }
      leave = true;
      continue;
    }
    // Returns at once if the word is no longer kSleeping (spurious
    // wake-ups just loop); looks at `stopping` every 100 ms.
    struct timespec ts = {0, 100 * 1000 * 1000};
    ::syscall(SYS_futex, FutexWord(&w->grant), FUTEX_WAIT_PRIVATE, kSleeping, &ts, nullptr, 0);
  }
}

CommitSequencer::Handover CommitSequencer::Release(Client* holder, bool grace_expired) {
  Handover h;
  Waiter next;
  {
    util::MutexLock l(&mu_);
    if (holder_ != holder) return h;  // released already (grace, drop)
    // The holder may have read its data meanwhile and be publishing.
    if (grace_expired && !graceable_) return h;
    h.released = true;
    if (line_.empty()) {
      holder_ = nullptr;
      return h;
    }
    next = line_.front();
    line_.pop_front();
    holder_ = next.c;
    // A queued committer's client still has to answer its list.
    graceable_ = next.sync == nullptr;
    granted_at_ = Clock::now();
  }
  if (next.sync != nullptr) {
    // `sync` lives on its worker's stack and may be gone as soon as the
    // grant is visible; a wake-up aimed at a dead frame is harmless (futex
    // waiters tolerate spurious wake-ups, and the stack stays mapped).
    if (next.sync->grant.exchange(kGranted, std::memory_order_acq_rel) == kSleeping) {
      ::syscall(SYS_futex, FutexWord(&next.sync->grant), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr,
                0);
    }
    return h;
  }
  h.next = next.c;
  return h;
}

bool CommitSequencer::KeepToken(Client* c) {
  util::MutexLock l(&mu_);
  if (holder_ != c) return false;
  graceable_ = false;
  return true;
}

Client* CommitSequencer::GraceExpired(Clock::time_point now, Clock::duration grace) const {
  util::MutexLock l(&mu_);
  if (holder_ != nullptr && graceable_ && now - granted_at_ >= grace) return holder_;
  return nullptr;
}

void CommitSequencer::AwaitData(Client* c, uint64_t id, Deadline d) {
  util::MutexLock l(&mu_);
  awaiting_[c] = Awaiting{id, d};
}

void CommitSequencer::DataArrived(Client* c) {
  util::MutexLock l(&mu_);
  awaiting_.erase(c);
}

std::vector<uint64_t> CommitSequencer::Late(Clock::time_point now) const {
  std::vector<uint64_t> late;
  util::MutexLock l(&mu_);
  for (const auto& [c, a] : awaiting_) {
    if (now >= a.deadline) late.push_back(a.id);
  }
  return late;
}

bool CommitSequencer::StillLate(Client* c, Clock::time_point now) const {
  util::MutexLock l(&mu_);
  auto it = awaiting_.find(c);
  return it != awaiting_.end() && now >= it->second.deadline;
}

bool CommitSequencer::Forget(Client* c) {
  util::MutexLock l(&mu_);
  awaiting_.erase(c);
  return holder_ == c;
}

void CommitSequencer::Clear() {
  util::MutexLock l(&mu_);
  line_.clear();
  awaiting_.clear();
  holder_ = nullptr;
}

}  // namespace durus::server
