// CommitPlan: the reference-count arithmetic of one commit, independent of
// where counts are kept.  MemoryStorage and BdbStorage both build a plan
// from the batch and the records it overwrites, then apply it in their own
// transaction, so the two cannot disagree on the rules.
//
// For each stored record: refs added since the old version count +1 on the
// target, refs dropped count -1; self-references are ignored; a record that
// did not exist before contributes only +1s.  Deltas are summed per target.
#ifndef DURUS_BDB_ENGINE_COMMIT_PLAN_H_
#define DURUS_BDB_ENGINE_COMMIT_PLAN_H_

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "engine/commit_batch.h"
#include "engine/oid.h"
#include "engine/status.h"

namespace durus {

struct CommitPlan {
  // Net change of each target's count (zero entries removed).
  std::map<Oid, int64_t> deltas;
  // Stored oids that did not exist before this commit (they get a count
  // entry, starting at 0).
  std::vector<Oid> created;
  // Targets whose count rises and that are not stored in this batch: each
  // must already exist, or the commit is refused as a dangling reference.
  std::vector<Oid> must_exist;
  // Record-byte and object-count changes for the statistics.
  int64_t bytes_delta = 0;
  int64_t objects_delta = 0;
  // Largest oid stored (next_oid must pass it).
  Oid max_oid{0};
};

// Looks up the current version of `oid`: sets *exists and, if it exists,
// *old_refs (normalised) and *old_size.
using OldRecordFn =
    std::function<Status(Oid oid, bool* exists, std::vector<Oid>* old_refs, uint64_t* old_size)>;

Status PlanCommit(const CommitBatch& batch, const OldRecordFn& old_record, CommitPlan* plan);

}  // namespace durus

#endif  // DURUS_BDB_ENGINE_COMMIT_PLAN_H_
