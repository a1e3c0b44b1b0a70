// Shared fixtures for the core tests: temporary homes and record builders.
#ifndef DURUS_BDB_TESTS_CORE_TEST_UTIL_H_
#define DURUS_BDB_TESTS_CORE_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bdb/bdb_storage.h"
#include "engine/record.h"
#include "engine/storage.h"
#include "util/file.h"

namespace durus::test {

// A fresh directory under $TMPDIR, removed (recursively) on destruction
// (util/file.h).
using TempDir = util::TempDir;

// The same, kept (and named on stderr) when the test failed: for tests
// whose leftovers explain a failure.
class KeptOnFailureTempDir : public util::TempDir {
 public:
  explicit KeptOnFailureTempDir(const std::string& prefix = "durus-bdb-test")
      : util::TempDir(prefix) {}
  ~KeptOnFailureTempDir() {
    if (::testing::Test::HasFailure()) Keep();
  }
};

// A record for `oid` whose data is `payload` (wrapped to look like Durus's
// class pickle + state, so class-name extraction works) and refs `refs`.
inline std::string Rec(uint64_t oid, const std::vector<uint64_t>& refs,
                       const std::string& payload = "state", const std::string& cls = "Thing") {
  std::vector<Oid> r;
  for (uint64_t x : refs) r.push_back(Oid(x));
  std::string data = "cmod\n" + cls + "\nq." + payload;
  return PackRecord(Oid(oid), data, r);
}

inline void Commit(Storage* s, const std::vector<std::pair<uint64_t, std::string>>& records) {
  CommitBatch batch;
  for (auto& [oid, rec] : records) ASSERT_TRUE(batch.Add(Oid(oid), rec).ok());
  Status st = s->Commit(batch);
  ASSERT_TRUE(st.ok()) << st.ToString();
}

inline Status TryCommit(Storage* s, const std::vector<std::pair<uint64_t, std::string>>& records) {
  CommitBatch batch;
  for (auto& [oid, rec] : records) DURUS_RETURN_IF_ERROR(batch.Add(Oid(oid), rec));
  return s->Commit(batch);
}

inline uint64_t CountOf(InspectableStorage* s, uint64_t oid) {
  uint64_t c = 0;
  Status st = s->GetRefCount(Oid(oid), &c);
  EXPECT_TRUE(st.ok()) << "count of " << oid << ": " << st.ToString();
  return c;
}

inline std::vector<uint64_t> Pending(InspectableStorage* s) {
  std::vector<Oid> p;
  EXPECT_TRUE(s->ListPending(Oid(0), 1u << 30, &p).ok());
  std::vector<uint64_t> out;
  for (Oid o : p) out.push_back(o.value());
  return out;
}

inline std::unique_ptr<BdbHandle> OpenBdb(const std::string& home, BdbOptions opts = {}) {
  std::unique_ptr<BdbHandle> s;
  Status st = OpenBdbStorage(home, opts, &s);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return s;
}

// A new home at `home` holding `records` (one commit through the storage
// API), closed cleanly: its files hold everything (a checkpoint).
inline void MakeHome(const std::string& home, const std::map<uint64_t, std::string>& records,
                     Durability durability = Durability::kSync) {
  BdbOptions o;
  o.gc_background = false;
  o.durability = durability;
  auto s = OpenBdb(home, o);
  ASSERT_TRUE(s);
  CommitBatch batch;
  for (auto& [oid, rec] : records) ASSERT_TRUE(batch.Add(Oid(oid), rec).ok());
  Status st = s->Commit(batch);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(s->Close().ok());
}

// A command run as a user runs it (popen of `command_line`): the exit
// status (-1 if killed) and stdout and stderr together.
struct ToolRun {
  int status = -1;
  std::string out;
};
ToolRun RunCommandLine(const std::string& command_line);

// Every record of `s`, by oid (ForEachRecord, engine/storage.h).
std::map<uint64_t, std::string> ScanAll(Storage* s);

// Counts recomputed from the records (the invariant every state must meet):
// map oid -> number of distinct referrers, for every stored oid.
Status RecountFromRecords(Storage* s, std::map<Oid, uint64_t>* counts,
                          std::vector<std::string>* problems);

// Checks stored counts, queue and stats against a recount; returns the
// problems found (empty when consistent).
std::vector<std::string> CheckConsistency(InspectableStorage* s);

}  // namespace durus::test

#endif  // DURUS_BDB_TESTS_CORE_TEST_UTIL_H_
