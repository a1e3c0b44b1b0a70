#include "tests/crash/store_check.h"

#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "engine/record.h"

#ifdef DURUS_HAVE_VERIFY
#include "bdb/gc/gc.h"
#include "bdb/testing.h"
#endif

namespace durus::reliability {

bool VerifyAvailable() {
#ifdef DURUS_HAVE_VERIFY
  return true;
#else
  return false;
#endif
}

std::string CheckResult::Summary() const {
  std::string s;
  size_t n = 0;
  for (const std::string& p : problems) {
    if (++n > 20) {
      s += "... and " + std::to_string(problems.size() - 20) + " more\n";
      break;
    }
    s += p + "\n";
  }
  return s;
}

Status CheckStore(BdbHandle* storage, const CheckOptions& options, CheckResult* result) {
  *result = CheckResult();
  auto problem = [&](std::string p) { result->problems.push_back(std::move(p)); };

  // 1. Every record: its refs (normalised), byte total.
  std::unordered_map<uint64_t, std::vector<Oid>> refs_of;
  uint64_t bytes = 0;
  RecordIterator it(storage, Oid(0), 2000);
  for (; it.Valid(); it.Next()) {
    Oid oid = it.oid();
    const std::string& rec = it.record();
    RecordView v;
    Status st = UnpackRecord(rec, &v);
    if (!st.ok()) {
      problem("oid " + OidToString(oid) + ": malformed record: " + st.ToString());
      refs_of[oid.value()] = {};
    } else {
      if (v.oid != oid)
        problem("oid " + OidToString(oid) + " holds a record for oid " + OidToString(v.oid));
      refs_of[oid.value()] = NormalizedRefs(v.refs, oid);
    }
    bytes += rec.size();
  }
  DURUS_RETURN_IF_ERROR(it.status());
  result->records = refs_of.size();

  // 2. Recount; dangling references (judged after reachability, below).
  std::unordered_map<uint64_t, uint64_t> counts;
  std::vector<std::pair<uint64_t, Oid>> dangling;  // (referrer, missing)
  for (auto& [oid, refs] : refs_of) counts.emplace(oid, 0);
  for (auto& [oid, refs] : refs_of) {
    for (Oid r : refs) {
      auto it = counts.find(r.value());
      if (it == counts.end()) {
        dangling.push_back({oid, r});
      } else {
        ++it->second;
      }
    }
  }
  std::set<Oid> expected_pending;
  for (auto& [oid, c] : counts) {
    uint64_t stored = 0;
    Status st = storage->GetRefCount(Oid(oid), &stored);
    if (!st.ok()) {
      problem("no count entry for oid " + std::to_string(oid) + ": " + st.ToString());
    } else if (stored != c) {
      problem("oid " + std::to_string(oid) + ": stored count " + std::to_string(stored) + ", " +
              std::to_string(c) + " referrers");
    }
    if (c == 0 && oid != 0) expected_pending.insert(Oid(oid));
  }

  // 3. The queue holds exactly the non-root oids without referrers.
  std::vector<Oid> pending;
  DURUS_RETURN_IF_ERROR(storage->ListPending(Oid(0), 1u << 30, &pending));
  std::set<Oid> queued(pending.begin(), pending.end());
  for (Oid o : expected_pending) {
    if (!queued.count(o)) problem("oid " + OidToString(o) + " has no referrers but is not queued");
  }
  for (Oid o : queued) {
    if (!expected_pending.count(o)) {
      problem("oid " + OidToString(o) + " is queued but " +
              (counts.count(o.value()) ? "has referrers" : "does not exist"));
    }
  }

  // 4. Counters.
  StorageStats stats;
  DURUS_RETURN_IF_ERROR(storage->GetStats(&stats));
  if (stats.object_count != refs_of.size()) {
    problem("object_count " + std::to_string(stats.object_count) + ", " +
            std::to_string(refs_of.size()) + " records");
  }
  if (stats.record_bytes != bytes) {
    problem("record_bytes " + std::to_string(stats.record_bytes) + ", records hold " +
            std::to_string(bytes));
  }
  if (stats.pending_garbage != queued.size()) {
    problem("pending_garbage " + std::to_string(stats.pending_garbage) + ", " +
            std::to_string(queued.size()) + " queued");
  }
  if (!refs_of.empty()) {
    uint64_t max_oid = 0;
    for (auto& [oid, refs] : refs_of) max_oid = std::max(max_oid, oid);
    if (stats.next_oid <= max_oid) {
      problem("next_oid " + std::to_string(stats.next_oid) + " <= stored oid " +
              std::to_string(max_oid) + " (oids would be reused)");
    }
  }

  // 5. Reachability from the root; of the rest, what counting frees (the
  // queued oids and, transitively, what only garbage references).
  std::unordered_set<uint64_t> reachable;
  if (refs_of.count(0)) {
    std::deque<uint64_t> todo{0};
    reachable.insert(0);
    while (!todo.empty()) {
      uint64_t o = todo.front();
      todo.pop_front();
      for (Oid r : refs_of[o]) {
        if (refs_of.count(r.value()) && reachable.insert(r.value()).second)
          todo.push_back(r.value());
      }
    }
  }
  // A cycle trace sweeps unreachable objects in oid order, one small
  // transaction at a time, so while it runs (e.g. resumed after a crash, not
  // yet finished) an unreachable object may reference one already swept.
  // Only then is a dangling reference from garbage legitimate.
  bool trace_running = false;
#ifdef DURUS_HAVE_VERIFY
  {
    bdb_testing::TraceInfo info;
    if (bdb_testing::GetTraceInfo(storage, &info).ok()) trace_running = info.running;
  }
#endif
  result->trace_running = trace_running;
  for (auto& [referrer, missing] : dangling) {
    if (trace_running && !reachable.count(referrer)) {
      ++result->dangling_during_sweep;
      continue;
    }
    problem(std::string("dangling reference: ") +
            (reachable.count(referrer) ? "reachable" : "unreachable") + " oid " +
            std::to_string(referrer) + " references missing oid " + OidToString(missing) +
            (trace_running ? "" : " (no trace running)"));
  }
  result->reachable = reachable.size();
  for (uint64_t o : reachable) result->reachable_oids.insert(Oid(o));
  result->unreachable = refs_of.size() - reachable.size();
  if (result->unreachable > 0) {
    // Simulate the collector: delete queued oids, decrementing what they hold.
    std::unordered_map<uint64_t, uint64_t> c = counts;
    std::deque<uint64_t> q;
    std::unordered_set<uint64_t> freed;
    for (Oid o : expected_pending) q.push_back(o.value());
    while (!q.empty()) {
      uint64_t o = q.front();
      q.pop_front();
      if (!freed.insert(o).second) continue;
      for (Oid r : refs_of[o]) {
        auto it = c.find(r.value());
        if (it != c.end() && --it->second == 0 && r.value() != 0) q.push_back(r.value());
      }
    }
    for (auto& [oid, refs] : refs_of) {
      if (reachable.count(oid)) {
        if (freed.count(oid))
          problem("reachable oid " + std::to_string(oid) + " would be collected");
        continue;
      }
      if (!freed.count(oid)) ++result->leaked;
    }
    if (options.leaks_are_problems && result->leaked > 0) {
      problem(std::to_string(result->leaked) +
              " unreachable objects are never freed by counting "
              "(a cycle the trace missed)");
    }
    if (options.expect_no_garbage) {
      problem(std::to_string(result->unreachable) +
              " unreachable objects remain after a complete collection");
    }
  }

#ifdef DURUS_HAVE_VERIFY
  if (options.use_verify) {
    VerifyOptions vo;
    vo.check_reachability = true;
    gc::VerifyReport report;
    Status st = VerifyStorage(storage, vo, &report);
    if (!st.ok()) {
      problem("VerifyStorage failed: " + st.ToString());
    } else {
      result->verify_ran = true;
      // Leaks are only problems when the caller says so (see CheckOptions).
      uint64_t leaked = report.count(gc::ProblemKind::kLeaked);
      uint64_t others = report.total_problems() - leaked;
      // Dangling references from garbage during a sweep: see above.
      uint64_t swept_refs = report.count(gc::ProblemKind::kDanglingRef);
      if (swept_refs > 0 && swept_refs <= result->dangling_during_sweep) others -= swept_refs;
      if (others > 0 || (options.leaks_are_problems && leaked > 0)) {
        std::string text = gc::FormatVerifyText(report);
        problem("VerifyStorage: " + std::to_string(report.total_problems()) + " problems:\n" +
                text);
      }
      if (report.records != refs_of.size()) {
        problem("VerifyStorage saw " + std::to_string(report.records) + " records, Scan " +
                std::to_string(refs_of.size()));
      }
      if (report.reachable != reachable.size()) {
        problem("VerifyStorage: " + std::to_string(report.reachable) + " reachable, recount " +
                std::to_string(reachable.size()));
      }
    }
  }
#endif
  return Status::OK();
}

}  // namespace durus::reliability
