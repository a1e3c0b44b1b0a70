#include "tests/core/test_util.h"

#include <sys/wait.h>

#include <cstdio>
#include <map>
#include <set>

namespace durus::test {

ToolRun RunCommandLine(const std::string& command_line) {
  ToolRun r;
  std::string cmd = command_line + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::map<uint64_t, std::string> ScanAll(Storage* s) {
  std::map<uint64_t, std::string> out;
  Status st = ForEachRecord(s, [&](Oid oid, const std::string& rec) {
    out[oid.value()] = rec;
    return Status::OK();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

Status RecountFromRecords(Storage* s, std::map<Oid, uint64_t>* counts,
                          std::vector<std::string>* problems) {
  counts->clear();
  std::map<Oid, std::vector<Oid>> refs_of;
  DURUS_RETURN_IF_ERROR(ForEachRecord(s, [&](Oid oid, const std::string& rec) {
    counts->emplace(oid, 0);
    refs_of[oid] = RecordRefs(rec);
    return Status::OK();
  }));
  for (auto& [oid, refs] : refs_of) {
    for (Oid r : refs) {
      auto it = counts->find(r);
      if (it == counts->end()) {
        problems->push_back("oid " + OidToString(oid) + " references missing oid " +
                            OidToString(r));
      } else {
        ++it->second;
      }
    }
  }
  return Status::OK();
}

std::vector<std::string> CheckConsistency(InspectableStorage* s) {
  std::vector<std::string> problems;
  std::map<Oid, uint64_t> counts;
  Status st = RecountFromRecords(s, &counts, &problems);
  if (!st.ok()) return {st.ToString()};
  std::set<Oid> expected_pending;
  for (auto& [oid, c] : counts) {
    uint64_t stored = 0;
    Status cs = s->GetRefCount(oid, &stored);
    if (!cs.ok()) {
      problems.push_back("no count for oid " + OidToString(oid) + ": " + cs.ToString());
    } else if (stored != c) {
      problems.push_back("oid " + OidToString(oid) + " count " + std::to_string(stored) + " but " +
                         std::to_string(c) + " referrers");
    }
    if (c == 0 && !oid.IsRoot()) expected_pending.insert(oid);
  }
  std::vector<Oid> pending;
  if (!s->ListPending(Oid(0), 1u << 30, &pending).ok()) problems.push_back("ListPending failed");
  std::set<Oid> got(pending.begin(), pending.end());
  for (Oid o : expected_pending) {
    if (!got.count(o))
      problems.push_back("oid " + OidToString(o) + " has count 0 but is not queued");
  }
  for (Oid o : got) {
    if (!expected_pending.count(o)) {
      problems.push_back("oid " + OidToString(o) + " is queued but has referrers or is gone");
    }
  }
  StorageStats stats;
  if (s->GetStats(&stats).ok()) {
    if (stats.object_count != counts.size()) {
      problems.push_back("object_count " + std::to_string(stats.object_count) + " but " +
                         std::to_string(counts.size()) + " records");
    }
    if (stats.pending_garbage != got.size()) {
      problems.push_back("pending_garbage " + std::to_string(stats.pending_garbage) + " but " +
                         std::to_string(got.size()) + " queued");
    }
  }
  return problems;
}

}  // namespace durus::test
