#include "tests/crash/workload.h"

#include <algorithm>
#include <random>
#include <unordered_set>

#include "engine/record.h"

namespace durus::reliability {

namespace {

constexpr uint64_t kFanout = 3;

std::vector<Oid> TreeRefs(const std::vector<uint64_t>& members, size_t k) {
  std::vector<Oid> refs;
  for (uint64_t c = k * kFanout + 1; c <= k * kFanout + kFanout && c < members.size(); ++c) {
    refs.push_back(Oid(members[c]));
  }
  return refs;
}

std::vector<Oid> RingRefs(const std::vector<uint64_t>& members, size_t k) {
  return {Oid(members[(k + 1) % members.size()])};
}

std::string Padding(std::mt19937_64& rng) {
  size_t n = 10 + rng() % 400;
  std::string s(n, 'a');
  uint64_t x = rng();
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('a' + (x % 26));
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  }
  return s;
}

std::string NodeRecord(uint64_t oid, uint64_t commit, const std::vector<Oid>& refs,
                       std::mt19937_64& rng) {
  std::string data = "cmod\nNode\nq.c=" + std::to_string(commit) + " o=" + std::to_string(oid) +
                     " " + Padding(rng);
  std::vector<Oid> sorted = refs;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  sorted.erase(std::remove(sorted.begin(), sorted.end(), Oid(oid)), sorted.end());
  return PackRecord(Oid(oid), data, sorted);
}

}  // namespace

struct Model::Plan {
  int replace_slot = -1;
  Slot new_slot;
  std::vector<std::pair<Oid, std::string>> records;
};

uint64_t Model::Hash(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

Model::Plan Model::MakePlan() const {
  const uint64_t i = commit_ + 1;
  std::mt19937_64 rng(seed_ ^ (i * 0x9E3779B97F4A7C15ULL));
  Plan plan;
  std::unordered_set<uint64_t> written;
  bool any_live = false;
  for (const Slot& s : slots_) any_live |= !s.members.empty();
  if (!any_live || rng() % 100 < 35) {
    // Replace a slot's subtree.
    plan.replace_slot = static_cast<int>(rng() % kSlots);
    Slot& ns = plan.new_slot;
    uint64_t r = rng() % 100;
    uint64_t size = r < 70 ? 1 + rng() % 20 : r < 95 ? 21 + rng() % 60 : 200 + rng() % 200;
    ns.ring = rng() % 100 < 25;
    if (ns.ring && size < 2) size = 2;
    for (uint64_t k = 0; k < size; ++k) ns.members.push_back(next_oid_ + k);
    for (size_t k = 0; k < ns.members.size(); ++k) {
      auto refs = ns.ring ? RingRefs(ns.members, k) : TreeRefs(ns.members, k);
      plan.records.push_back({Oid(ns.members[k]), NodeRecord(ns.members[k], i, refs, rng)});
      written.insert(ns.members[k]);
    }
  }
  // Overwrite a few live objects in place.
  uint64_t n = rng() % 7;
  for (uint64_t k = 0; k < n; ++k) {
    int si = static_cast<int>(rng() % kSlots);
    if (si == plan.replace_slot || slots_[si].members.empty()) continue;
    const Slot& s = slots_[si];
    size_t m = rng() % s.members.size();
    uint64_t oid = s.members[m];
    if (!written.insert(oid).second) continue;
    auto refs = s.ring ? RingRefs(s.members, m) : TreeRefs(s.members, m);
    plan.records.push_back({Oid(oid), NodeRecord(oid, i, refs, rng)});
  }
  // The root: the slot heads, and the commit number.
  std::vector<Oid> heads;
  for (int si = 0; si < kSlots; ++si) {
    const Slot& s = si == plan.replace_slot ? plan.new_slot : slots_[si];
    if (!s.members.empty()) heads.push_back(Oid(s.members[0]));
  }
  std::sort(heads.begin(), heads.end());
  std::string data = "cmod\nRoot\nq." + Padding(rng) + "#" + std::to_string(i);
  plan.records.push_back({kRootOid, PackRecord(kRootOid, data, heads)});
  return plan;
}

std::vector<std::pair<Oid, std::string>> Model::NextCommit() const { return MakePlan().records; }

void Model::Advance() {
  Plan plan = MakePlan();
  if (plan.replace_slot >= 0) {
    Slot& old = slots_[plan.replace_slot];
    for (uint64_t oid : old.members) {
      auto it = live_.find(oid);
      dead_[oid] = Hash(it->second);
      live_.erase(it);
    }
    old = plan.new_slot;
    next_oid_ += old.members.size();
  }
  for (auto& [oid, rec] : plan.records) live_[oid.value()] = rec;
  ++commit_;
}

void Model::AdvanceTo(uint64_t n) {
  if (n < commit_) *this = Model(seed_);
  while (commit_ < n) Advance();
}

uint64_t Model::CommitNumberOfRoot(const std::string& root_record) {
  RecordView v;
  if (!UnpackRecord(root_record, &v).ok()) return 0;
  size_t p = v.data.rfind('#');
  if (p == std::string_view::npos) return 0;
  return std::stoull(std::string(v.data.substr(p + 1)));
}

Status Model::Compare(Storage* storage, std::vector<std::string>* problems) const {
  std::unordered_set<uint64_t> seen;
  RecordIterator it(storage, Oid(0), 2000);
  for (; it.Valid(); it.Next()) {
    uint64_t o = it.oid().value();
    const std::string& rec = it.record();
    seen.insert(o);
    auto l = live_.find(o);
    if (l != live_.end()) {
      if (l->second != rec) {
        problems->push_back("live oid " + std::to_string(o) +
                            " holds the wrong version at commit " + std::to_string(commit_));
      }
      continue;
    }
    auto d = dead_.find(o);
    if (d != dead_.end()) {
      if (d->second != Hash(rec)) {
        problems->push_back("dropped oid " + std::to_string(o) + " holds a record it never had");
      }
      continue;
    }
    problems->push_back("oid " + std::to_string(o) + " should not exist at commit " +
                        std::to_string(commit_) +
                        (o >= next_oid_ ? " (from a later commit: torn)" : ""));
  }
  DURUS_RETURN_IF_ERROR(it.status());
  for (auto& [oid, rec] : live_) {
    if (!seen.count(oid)) {
      problems->push_back("live oid " + std::to_string(oid) + " is missing at commit " +
                          std::to_string(commit_));
    }
  }
  return Status::OK();
}

Status CommitRecords(Storage* storage, const std::vector<std::pair<Oid, std::string>>& records) {
  CommitBatch batch;
  for (auto& [oid, rec] : records) DURUS_RETURN_IF_ERROR(batch.Add(oid, rec));
  return storage->Commit(batch);
}

}  // namespace durus::reliability
