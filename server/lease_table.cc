#include "server/lease_table.h"

#include <algorithm>

namespace durus::server {

void LeaseTable::DropLeaseLocked(uint64_t owner, Owner* o) {
  for (const Oid& oid : o->oids) {
    auto it = lease_.find(oid);
    if (it != lease_.end() && it->second == owner) lease_.erase(it);
  }
  o->oids.clear();
}

void LeaseTable::ChangedLocked() {
  if (!waiters_.empty()) cv_.Signal();
}

void LeaseTable::Hold(uint64_t owner, const std::vector<Oid>& oids) {
  util::MutexLock l(&mu_);
  Owner& o = owners_[owner];
  DropLeaseLocked(owner, &o);
  o.pinned = true;
  if (oids.size() <= kMaxLeasedOids) {
    o.oids = oids;
    for (const Oid& oid : oids) {
      auto [it, fresh] = lease_.emplace(oid, owner);
      if (!fresh && it->second != owner) {
        // Another client's lease on it ends: its version is replaced.
        auto prev = owners_.find(it->second);
        if (prev != owners_.end()) {
          auto& v = prev->second.oids;
          v.erase(std::remove(v.begin(), v.end(), oid), v.end());
        }
        it->second = owner;
      }
    }
  }
  ChangedLocked();
}

void LeaseTable::Pin(uint64_t owner) {
  util::MutexLock l(&mu_);
  auto it = owners_.find(owner);
  if (it != owners_.end() && !it->second.oids.empty()) it->second.pinned = true;
}

void LeaseTable::Unpin(uint64_t owner, Clock::time_point until) {
  util::MutexLock l(&mu_);
  auto it = owners_.find(owner);
  if (it == owners_.end()) return;
  it->second.pinned = false;
  it->second.until = until;
  if (until <= Clock::now()) {
    DropLeaseLocked(owner, &it->second);
    owners_.erase(it);
  }
  ChangedLocked();
}

void LeaseTable::Forget(uint64_t owner) {
  util::MutexLock l(&mu_);
  auto it = owners_.find(owner);
  if (it == owners_.end()) return;
  DropLeaseLocked(owner, &it->second);
  owners_.erase(it);
  ChangedLocked();
}

bool LeaseTable::HeldLocked(uint64_t client, Oid oid, Clock::time_point now,
                            Clock::time_point* wake) const {
  auto it = lease_.find(oid);
  if (it == lease_.end() || it->second == client) return false;
  auto o = owners_.find(it->second);
  if (o == owners_.end()) return false;
  if (o->second.pinned) return true;
  if (now >= o->second.until) return false;
  *wake = std::min(*wake, o->second.until);
  return true;
}

bool LeaseTable::Park(uint64_t client, Oid oid, Clock::time_point deadline) {
  util::MutexLock l(&mu_);
  if (stopped_) return false;
  Clock::time_point wake = Clock::time_point::max();
  if (lease_.empty() || !HeldLocked(client, oid, Clock::now(), &wake)) return false;
  waiters_.push_back(Waiter{client, oid, deadline});
  parked_total_.fetch_add(1, std::memory_order_relaxed);
  cv_.Signal();  // the lease thread's next wake-up may be sooner now
  return true;
}

std::vector<LeaseTable::Release> LeaseTable::AwaitReleases() {
  util::MutexLock l(&mu_);
  std::vector<Release> out;
  while (!stopped_) {
    const auto now = Clock::now();
    auto wake = Clock::time_point::max();
    size_t kept = 0;
    for (const Waiter& w : waiters_) {
      auto until = w.deadline;
      if (!HeldLocked(w.client, w.oid, now, &until)) {
        out.push_back(Release{w.client, false});
      } else if (now >= w.deadline) {
        out.push_back(Release{w.client, true});
      } else {
        wake = std::min(wake, until);
        waiters_[kept++] = w;
      }
    }
    waiters_.resize(kept);
    // Owners whose unpinned lease has run out: forget them (bounded
    // memory; HeldLocked treats them as ended anyway).
    for (auto it = owners_.begin(); it != owners_.end();) {
      if (!it->second.pinned && now >= it->second.until) {
        DropLeaseLocked(it->first, &it->second);
        it = owners_.erase(it);
      } else {
        ++it;
      }
    }
    if (!out.empty()) return out;
    if (wake == Clock::time_point::max()) {
      cv_.Wait(&mu_);
    } else {
      cv_.WaitUntil(&mu_, wake);
    }
  }
  return out;
}

void LeaseTable::Stop() {
  {
    util::MutexLock l(&mu_);
    stopped_ = true;
    waiters_.clear();
  }
  cv_.SignalAll();
}

size_t LeaseTable::leased() const {
  util::MutexLock l(&mu_);
  return lease_.size();
}

}  // namespace durus::server
