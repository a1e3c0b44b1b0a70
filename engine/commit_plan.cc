#include "engine/commit_plan.h"

#include <algorithm>

#include "engine/record.h"

namespace durus {

Status PlanCommit(const CommitBatch& batch, const OldRecordFn& old_record, CommitPlan* plan) {
  *plan = CommitPlan();
  std::vector<Oid> old_refs;
  for (const CommitBatch::Entry& e : batch.entries()) {
    RecordView view;
    DURUS_RETURN_IF_ERROR(ValidateRecord(e.oid, e.record, &view));
    std::vector<Oid> new_refs = NormalizedRefs(view.refs, e.oid);
    bool exists = false;
    uint64_t old_size = 0;
    old_refs.clear();
    DURUS_RETURN_IF_ERROR(old_record(e.oid, &exists, &old_refs, &old_size));
    if (exists) {
      plan->bytes_delta += static_cast<int64_t>(e.record.size()) - static_cast<int64_t>(old_size);
    } else {
      plan->created.push_back(e.oid);
      plan->bytes_delta += static_cast<int64_t>(e.record.size());
      plan->objects_delta += 1;
    }
    if (plan->max_oid < e.oid) plan->max_oid = e.oid;
    // Both lists are sorted and unique: merge them.
    size_t i = 0, j = 0;
    while (i < new_refs.size() || j < old_refs.size()) {
      if (j == old_refs.size() || (i < new_refs.size() && new_refs[i] < old_refs[j])) {
        plan->deltas[new_refs[i++]] += 1;
      } else if (i == new_refs.size() || old_refs[j] < new_refs[i]) {
        plan->deltas[old_refs[j++]] -= 1;
      } else {
        ++i;
        ++j;
      }
    }
  }
  for (auto it = plan->deltas.begin(); it != plan->deltas.end();) {
    if (it->second == 0) {
      it = plan->deltas.erase(it);
      continue;
    }
    if (it->second > 0 && !batch.Contains(it->first)) plan->must_exist.push_back(it->first);
    ++it;
  }
  return Status::OK();
}

}  // namespace durus
