// A deterministic mixed workload and its in-memory model, for crash loops
// and fault tests.
//
// Commit i is a pure function of (seed, i) and the model state after commit
// i-1, so a process that recovers a store at commit R can rebuild the exact
// expected state by replaying the model to R, without trusting the store.
//
// The object graph: the root (oid 0) references the heads of kSlots slots;
// each slot holds a subtree (a tree, or a ring: a cycle that only the trace
// can free once it is dropped).  A commit
//   - replaces a slot's subtree (the old one becomes garbage for the
//     collector or, for a ring, for the trace), or
//   - overwrites a few live objects in place (same refs, new data),
// and always rewrites the root, whose data carries "#i" (the commit number
// a recovered store is at).  New references only ever point at live
// objects, so no commit can conflict with the collector.
//
// Threading: a Model is owned by one thread.
#ifndef DURUS_BDB_TESTS_CRASH_WORKLOAD_H_
#define DURUS_BDB_TESTS_CRASH_WORKLOAD_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/commit_batch.h"
#include "engine/status.h"
#include "engine/storage.h"

namespace durus::reliability {

class Model {
 public:
  static constexpr int kSlots = 16;

  explicit Model(uint64_t seed) : seed_(seed), slots_(kSlots) {}

  uint64_t commit() const { return commit_; }
  uint64_t seed() const { return seed_; }

  // The records of commit commit()+1 (not yet applied).
  std::vector<std::pair<Oid, std::string>> NextCommit() const;
  // Apply commit commit()+1 to the model.
  void Advance();
  // Replay from scratch (or forward) until commit() == n.
  void AdvanceTo(uint64_t n);

  // Expected state after commit(): live objects with their exact records,
  // and every dropped object with a hash of its last record (the collector
  // may or may not have deleted it yet).
  const std::unordered_map<uint64_t, std::string>& live() const { return live_; }
  const std::unordered_map<uint64_t, uint64_t>& dead() const { return dead_; }
  uint64_t next_oid() const { return next_oid_; }

  // The commit number in a root record ("#i" at the end of its data), 0
  // for an absent root.
  static uint64_t CommitNumberOfRoot(const std::string& root_record);

  // Compares `storage` with the model: every live object present with its
  // exact record; every stored oid live or dead (with the dead record's
  // hash); nothing at or beyond next_oid (a torn or future commit).
  // Appends problems to *problems.
  Status Compare(Storage* storage, std::vector<std::string>* problems) const;

  static uint64_t Hash(const std::string& s);

 private:
  struct Slot {
    std::vector<uint64_t> members;  // members[0] is the head; empty: unused
    bool ring = false;
  };
  struct Plan;
  Plan MakePlan() const;

  uint64_t seed_;
  uint64_t commit_ = 0;
  uint64_t next_oid_ = 1;
  std::vector<Slot> slots_;
  std::unordered_map<uint64_t, std::string> live_;
  std::unordered_map<uint64_t, uint64_t> dead_;
};

// Commits `records` as one batch.
Status CommitRecords(Storage* storage, const std::vector<std::pair<Oid, std::string>>& records);

}  // namespace durus::reliability

#endif  // DURUS_BDB_TESTS_CRASH_WORKLOAD_H_
