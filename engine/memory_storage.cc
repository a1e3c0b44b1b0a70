#include "engine/memory_storage.h"

#include <deque>
#include <unordered_set>

#include "engine/commit_plan.h"
#include "engine/record.h"

namespace durus {

Status MemoryStorage::CheckOpen() const {
  return closed_ ? Status::Closed("MemoryStorage is closed") : Status::OK();
}

Status MemoryStorage::Load(Oid oid, std::string* record) {
  std::lock_guard<std::mutex> l(mu_);
  DURUS_RETURN_IF_ERROR(CheckOpen());
  auto it = records_.find(oid);
  if (it == records_.end()) return Status::NotFound("no record for oid " + OidToString(oid), {oid});
  *record = it->second;
  return Status::OK();
}

Status MemoryStorage::Commit(const CommitBatch& batch) {
  std::lock_guard<std::mutex> l(mu_);
  DURUS_RETURN_IF_ERROR(CheckOpen());
  CommitPlan plan;
  DURUS_RETURN_IF_ERROR(PlanCommit(
      batch,
      [&](Oid oid, bool* exists, std::vector<Oid>* refs, uint64_t* size) {
        auto it = records_.find(oid);
        *exists = it != records_.end();
        if (*exists) {
          *refs = RecordRefs(it->second);
          *size = it->second.size();
        }
        return Status::OK();
      },
      &plan));
  for (Oid target : plan.must_exist) {
    if (!counts_.count(target)) {
      return Status::Conflict("commit references oid " + OidToString(target) +
                                  ", which does not exist (never stored, or collected)",
                              {target});
    }
  }
  for (Oid oid : plan.created) counts_[oid] = 0;
  for (auto& e : batch.entries()) {
    record_bytes_ -= records_.count(e.oid) ? records_[e.oid].size() : 0;
    records_[e.oid] = e.record;
    record_bytes_ += e.record.size();
  }
  for (auto& [target, delta] : plan.deltas) {
    uint64_t& c = counts_[target];
    if (delta < 0 && c < static_cast<uint64_t>(-delta)) {
      return Status::Corruption("reference count of oid " + OidToString(target) + " below zero");
    }
    c += delta;
    if (c == 0 && !target.IsRoot()) pending_.insert(target);
    if (c > 0) pending_.erase(target);
  }
  for (Oid oid : plan.created) {
    if (counts_[oid] == 0 && !oid.IsRoot()) pending_.insert(oid);
  }
  if (next_oid_ <= plan.max_oid.value()) next_oid_ = plan.max_oid.value() + 1;
  return Status::OK();
}

std::vector<Oid> MemoryStorage::Sync() {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Oid> out;
  out.swap(collected_);
  return out;
}

Status MemoryStorage::NewOid(Oid* oid) {
  std::lock_guard<std::mutex> l(mu_);
  DURUS_RETURN_IF_ERROR(CheckOpen());
  *oid = Oid(next_oid_++);
  return Status::OK();
}

Status MemoryStorage::Scan(Oid start, size_t max, std::vector<std::pair<Oid, std::string>>* out) {
  std::lock_guard<std::mutex> l(mu_);
  DURUS_RETURN_IF_ERROR(CheckOpen());
  out->clear();
  for (auto it = records_.lower_bound(start); it != records_.end() && out->size() < max; ++it) {
    out->emplace_back(it->first, it->second);
  }
  return Status::OK();
}

Status MemoryStorage::GetStats(StorageStats* stats) {
  std::lock_guard<std::mutex> l(mu_);
  DURUS_RETURN_IF_ERROR(CheckOpen());
  *stats = StorageStats();
  stats->object_count = records_.size();
  stats->record_bytes = record_bytes_;
  stats->pending_garbage = pending_.size();
  stats->next_oid = next_oid_;
  stats->durability = "memory";
  return Status::OK();
}

Status MemoryStorage::GetRefCount(Oid oid, uint64_t* count) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = counts_.find(oid);
  if (it == counts_.end()) return Status::NotFound("no count for oid " + OidToString(oid), {oid});
  *count = it->second;
  return Status::OK();
}

Status MemoryStorage::ListPending(Oid start, size_t max, std::vector<Oid>* out) {
  std::lock_guard<std::mutex> l(mu_);
  out->clear();
  for (auto it = pending_.lower_bound(start); it != pending_.end() && out->size() < max; ++it) {
    out->push_back(*it);
  }
  return Status::OK();
}

Status MemoryStorage::Collect(bool cycles, CollectReport* report) {
  std::lock_guard<std::mutex> l(mu_);
  DURUS_RETURN_IF_ERROR(CheckOpen());
  *report = CollectReport();
  auto remove = [&](Oid oid) {
    auto it = records_.find(oid);
    std::vector<Oid> refs = RecordRefs(it->second);
    record_bytes_ -= it->second.size();
    report->bytes_freed += it->second.size();
    records_.erase(it);
    counts_.erase(oid);
    collected_.push_back(oid);
    ++report->collected;
    return refs;
  };
  while (!pending_.empty()) {
    Oid oid = *pending_.begin();
    pending_.erase(pending_.begin());
    for (Oid ref : remove(oid)) {
      auto c = counts_.find(ref);
      if (c == counts_.end()) continue;  // already removed in this cascade
      if (--c->second == 0 && !ref.IsRoot()) pending_.insert(ref);
    }
  }
  if (cycles) {
    std::unordered_set<Oid> reached;
    std::deque<Oid> todo;
    if (records_.count(kRootOid)) todo.push_back(kRootOid);
    while (!todo.empty()) {
      Oid o = todo.front();
      todo.pop_front();
      if (!reached.insert(o).second) continue;
      for (Oid r : RecordRefs(records_[o])) {
        if (records_.count(r) && !reached.count(r)) todo.push_back(r);
      }
    }
    report->traced = reached.size();
    std::vector<Oid> dead;
    for (auto& [oid, rec] : records_) {
      if (!reached.count(oid)) dead.push_back(oid);
    }
    // Unreachable objects only reference each other or reachable ones:
    // drop their outgoing counts, then remove them.
    for (Oid oid : dead) {
      for (Oid ref : RecordRefs(records_[oid])) {
        auto c = counts_.find(ref);
        if (c != counts_.end() && c->second > 0) --c->second;
      }
    }
    for (Oid oid : dead) {
      pending_.erase(oid);
      remove(oid);
    }
  }
  report->pending_after = pending_.size();
  return Status::OK();
}

Status MemoryStorage::Close() {
  std::lock_guard<std::mutex> l(mu_);
  DURUS_RETURN_IF_ERROR(CheckOpen());
  closed_ = true;
  return Status::OK();
}

}  // namespace durus
