#include "server/invalidation_table.h"

namespace durus::server {

InvalidationTable::Member* InvalidationTable::Join() {
  auto owned = std::make_unique<Member>();
  Member* m = owned.get();
  util::MutexLock l(&mu_);
  members_.emplace(m, std::move(owned));
  return m;
}

void InvalidationTable::Leave(Member* m) {
  std::unique_ptr<Member> gone;
  util::MutexLock l(&mu_);
  auto it = members_.find(m);
  if (it == members_.end()) return;
  gone = std::move(it->second);
  members_.erase(it);
}

size_t InvalidationTable::members() const {
  util::MutexLock l(&mu_);
  return members_.size();
}

std::vector<Oid> InvalidationTable::Drain(Member* m,
                                          const std::function<std::vector<Oid>()>& collect) {
  util::MutexLock l(&mu_);
  const std::vector<Oid> gone = collect();
  if (!gone.empty()) {
    for (auto& [p, member] : members_) {
      util::MutexLock ml(&member->mu);
      member->invalid.insert(gone.begin(), gone.end());
    }
  }
  util::MutexLock ml(&m->mu);
  std::vector<Oid> out(m->invalid.begin(), m->invalid.end());
  std::unordered_set<Oid>().swap(m->invalid);  // gives a large set's memory back
  return out;
}

void InvalidationTable::PublishReplicated(const std::function<std::vector<Oid>()>& changes) {
  util::MutexLock l(&mu_);
  const std::vector<Oid> oids = changes();
  if (oids.empty()) return;
  for (auto& [p, member] : members_) {
    util::MutexLock ml(&member->mu);
    member->invalid.insert(oids.begin(), oids.end());
  }
}

bool InvalidationTable::IsInvalid(Member* m, Oid oid) {
  util::MutexLock l(&m->mu);
  return m->invalid.count(oid) != 0;
}

void InvalidationTable::MarkInvalid(Member* m, const std::vector<Oid>& oids,
                                    std::vector<char>* out) {
  out->assign(oids.size(), 0);
  util::MutexLock l(&m->mu);
  if (m->invalid.empty()) return;
  for (size_t i = 0; i < oids.size(); ++i) (*out)[i] = m->invalid.count(oids[i]) != 0;
}

InvalidationTable::Unused InvalidationTable::HandOut(Member* m, const std::vector<Oid>& oids) {
  util::MutexLock l(&m->mu);
  for (const Oid& o : oids) m->unused.Insert(o);
  return Unused{m->unused.size(), m->unused.ranges()};
}

void InvalidationTable::Stored(Member* m, const std::vector<Oid>& oids) {
  util::MutexLock l(&m->mu);
  for (const Oid& o : oids) m->unused.Erase(o);
}

InvalidationTable::Publication InvalidationTable::Publish(Member* m, const std::vector<Oid>& oids,
                                                          bool optimistic, Oid* stolen) {
  util::MutexLock l(&mu_);
  if (optimistic) {
    util::MutexLock ml(&m->mu);
    if (!m->invalid.empty()) return Publication::kRaced;
  }
  // Durus's check: a commit may not store an oid handed out to another
  // client and not yet used by it.
  for (auto& [p, other] : members_) {
    if (p == m) continue;
    util::MutexLock ml(&other->mu);
    if (other->unused.empty()) continue;
    for (const Oid& oid : oids) {
      if (other->unused.Contains(oid)) {
        *stolen = oid;
        return Publication::kStolen;
      }
    }
  }
  for (auto& [p, other] : members_) {
    if (p == m) continue;
    util::MutexLock ml(&other->mu);
    other->invalid.insert(oids.begin(), oids.end());
  }
  util::MutexLock il(&inflight_mu_);
  for (const Oid& o : oids) ++inflight_[o];
  commits_.fetch_add(1);
  // A waiter whose oid was just published to it ends its wait (kInvalid).
  if (waiters_ > 0) inflight_cv_.SignalAll();
  return Publication::kPublished;
}

void InvalidationTable::Settled(const std::vector<Oid>& oids) {
  util::MutexLock l(&inflight_mu_);
  for (const Oid& o : oids) {
    auto it = inflight_.find(o);
    if (it != inflight_.end() && --it->second == 0) inflight_.erase(it);
  }
  commits_.fetch_sub(1);
  if (waiters_ > 0) inflight_cv_.SignalAll();
}

std::vector<Oid> InvalidationTable::InflightOids() {
  std::vector<Oid> out;
  if (commits_.load() == 0) return out;
  util::MutexLock l(&inflight_mu_);
  out.reserve(inflight_.size());
  for (const auto& kv : inflight_) out.push_back(kv.first);
  return out;
}

InvalidationTable::Wait InvalidationTable::WaitForInflight(
    Member* m, const Oid* oids, size_t n, std::chrono::milliseconds timeout,
    const std::function<void()>& before_wait) {
  // m synced at d; a commit in flight at d was published (under mu_)
  // before d, so this load, later in m's thread, reads a count that
  // includes it unless it has been settled again, i.e. returned from
  // Storage::Commit.
  if (commits_.load() == 0) return Wait::kClear;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool waited = false;
  util::MutexLock l(&inflight_mu_);
  while (true) {
    bool busy = false;
    for (size_t i = 0; i < n && !inflight_.empty(); ++i) {
      if (inflight_.count(oids[i]) == 0) continue;
      {
        util::MutexLock ml(&m->mu);
        if (m->invalid.count(oids[i]) != 0) return Wait::kInvalid;
      }
      busy = true;
    }
    if (!busy) return Wait::kClear;
    if (!waited) {
      waited = true;
      waits_.fetch_add(1, std::memory_order_relaxed);
      inflight_mu_.Unlock();
      before_wait();
      inflight_mu_.Lock();
      continue;  // look again: the table may have changed meanwhile
    }
    ++waiters_;
    const bool woken = inflight_cv_.WaitUntil(&inflight_mu_, deadline);
    --waiters_;
    if (!woken) return Wait::kTimedOut;
  }
}

}  // namespace durus::server
