// The Durus storage contract, in the order of Durus's own MemoryStorage
// test (test/utest_storage.py), run against both the reference model and
// the Berkeley DB storage.
#include <gtest/gtest.h>

#include "engine/memory_storage.h"
#include "tests/core/test_util.h"

namespace durus::test {
namespace {

enum class Kind { kMemory, kBdb };

class ContractTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    storage_.reset();
    if (GetParam() == Kind::kMemory) {
      storage_ = std::make_unique<MemoryStorage>();
    } else {
      storage_ = OpenBdb(dir_.Sub("home"));
      ASSERT_NE(storage_, nullptr);
    }
  }
  TempDir dir_;
  std::unique_ptr<InspectableStorage> storage_;  // the model or the engine
};

TEST_P(ContractTest, FirstOidsAreZeroOneTwo) {
  for (uint64_t want : {0, 1, 2}) {
    Oid oid;
    ASSERT_TRUE(storage_->NewOid(&oid).ok());
    EXPECT_EQ(oid.value(), want);
  }
}

TEST_P(ContractTest, LoadMissingIsNotFoundNamingTheOid) {
  std::string rec;
  Status s = storage_->Load(Oid(0), &rec);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  ASSERT_EQ(s.oids().size(), 1u);
  EXPECT_EQ(s.oids()[0], Oid(0));
}

TEST_P(ContractTest, StoreLoadBulkLoadScan) {
  Oid a, b;
  ASSERT_TRUE(storage_->NewOid(&a).ok());
  ASSERT_TRUE(storage_->NewOid(&b).ok());
  Commit(storage_.get(), {{a.value(), Rec(a.value(), {b.value()}, "root")},
                          {b.value(), Rec(b.value(), {}, "child")}});
  std::string got;
  ASSERT_TRUE(storage_->Load(a, &got).ok());
  EXPECT_EQ(got, Rec(0, {1}, "root"));
  std::vector<LoadResult> results;
  ASSERT_TRUE(storage_->BulkLoad({b, a, Oid(99)}, &results).ok());
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].record, Rec(1, {}, "child"));
  EXPECT_EQ(results[1].record, Rec(0, {1}, "root"));
  EXPECT_TRUE(results[2].status.IsNotFound());
  std::vector<std::pair<Oid, std::string>> all;
  ASSERT_TRUE(storage_->Scan(Oid(0), 100, &all).ok());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].first, a);
  EXPECT_EQ(all[1].first, b);
  ASSERT_TRUE(storage_->Scan(Oid(1), 100, &all).ok());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].first, b);
  EXPECT_TRUE(storage_->Sync().empty());
}

TEST_P(ContractTest, ScanInBatchesVisitsEveryRecordOnce) {
  std::vector<std::pair<uint64_t, std::string>> recs;
  // The root references every object, so the background collector of the
  // Berkeley DB storage has nothing to take away during the scan.
  std::vector<uint64_t> all;
  for (uint64_t i = 1; i < 250; ++i) all.push_back(i);
  recs.push_back({0, Rec(0, all)});
  for (uint64_t i = 1; i < 250; ++i) recs.push_back({i, Rec(i, {}, std::string(i % 50, 'x'))});
  Commit(storage_.get(), recs);
  uint64_t seen = 0;
  Oid next(0);
  std::vector<std::pair<Oid, std::string>> batch;
  for (;;) {
    ASSERT_TRUE(storage_->Scan(next, 7, &batch).ok());
    for (auto& [oid, rec] : batch) EXPECT_EQ(oid.value(), seen++);
    if (batch.size() < 7) break;
    next = Oid(batch.back().first.value() + 1);
  }
  EXPECT_EQ(seen, 250u);
}

TEST_P(ContractTest, RecordIteratorVisitsEveryRecordOnceAcrossPages) {
  // 21 records in pages of 7: the last page is full, so the end is only
  // seen by a fourth, empty Scan.
  std::vector<uint64_t> all;
  for (uint64_t i = 1; i < 21; ++i) all.push_back(i);
  std::vector<std::pair<uint64_t, std::string>> recs = {{0, Rec(0, all)}};
  for (uint64_t i = 1; i < 21; ++i) recs.push_back({i, Rec(i, {})});
  Commit(storage_.get(), recs);
  uint64_t seen = 0;
  RecordIterator it(storage_.get(), Oid(0), 7);
  for (; it.Valid(); it.Next()) {
    EXPECT_EQ(it.oid().value(), seen++);
    EXPECT_EQ(it.record(),
              Rec(it.oid().value(), it.oid().IsRoot() ? all : std::vector<uint64_t>{}));
  }
  EXPECT_TRUE(it.status().ok()) << it.status().ToString();
  EXPECT_EQ(seen, 21u);

  RecordIterator from(storage_.get(), Oid(15), 4);
  seen = 15;
  for (; from.Valid(); from.Next()) EXPECT_EQ(from.oid().value(), seen++);
  EXPECT_EQ(seen, 21u);

  // ForEachRecord stops at, and returns, the callback's first error.
  uint64_t calls = 0;
  Status st = ForEachRecord(
      storage_.get(),
      [&](Oid oid, const std::string&) {
        ++calls;
        return oid.value() == 9 ? Status::InvalidArgument("stop at 9") : Status::OK();
      },
      7);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_EQ(calls, 10u);
}

TEST_P(ContractTest, NewOidsSkipStoredOids) {
  // A writer may store an oid it chose itself (e.g. migration); new_oid
  // must never hand it out afterwards.
  Commit(storage_.get(), {{0, Rec(0, {5})}, {5, Rec(5, {})}});
  Oid oid;
  ASSERT_TRUE(storage_->NewOid(&oid).ok());
  EXPECT_GT(oid.value(), 5u);
}

TEST_P(ContractTest, StatsCountObjectsAndBytes) {
  Commit(storage_.get(), {{0, Rec(0, {1})}, {1, Rec(1, {})}});
  Commit(storage_.get(), {{1, Rec(1, {}, "longer state")}});
  StorageStats st;
  ASSERT_TRUE(storage_->GetStats(&st).ok());
  EXPECT_EQ(st.object_count, 2u);
  EXPECT_EQ(st.record_bytes, Rec(0, {1}).size() + Rec(1, {}, "longer state").size());
}

TEST_P(ContractTest, CensusCountsClassNames) {
  Commit(storage_.get(), {{0, Rec(0, {1, 2}, "s", "PersistentDict")},
                          {1, Rec(1, {}, "s", "Leaf")},
                          {2, Rec(2, {}, "s", "Leaf")}});
  std::map<std::string, uint64_t> census;
  ASSERT_TRUE(Census(storage_.get(), &census).ok());
  // Rec pickles its class as module "mod": the census names it in full.
  EXPECT_EQ(census["mod.PersistentDict"], 1u);
  EXPECT_EQ(census["mod.Leaf"], 2u);
  EXPECT_EQ(census.size(), 2u);
}

// A damaged table whose scan does not advance (here: every page starts
// again at oid 0) must end the iteration with Corruption, not loop forever
// as a hand-written paging loop would.
class RestartingScanStorage : public MemoryStorage {
 public:
  Status Scan(Oid, size_t max, std::vector<std::pair<Oid, std::string>>* out) override {
    return MemoryStorage::Scan(Oid(0), max, out);
  }
};

TEST(RecordIteratorTest, AScanGoingBackwardsIsCorruption) {
  RestartingScanStorage s;
  Commit(&s, {{0, Rec(0, {1, 2})}, {1, Rec(1, {})}, {2, Rec(2, {})}});
  uint64_t visited = 0;
  Status st = ForEachRecord(
      &s,
      [&](Oid, const std::string&) {
        ++visited;
        return Status::OK();
      },
      2);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_EQ(visited, 2u);
}

INSTANTIATE_TEST_SUITE_P(Storages, ContractTest, ::testing::Values(Kind::kMemory, Kind::kBdb),
                         [](const auto& info) {
                           return info.param == Kind::kMemory ? "Memory" : "Bdb";
                         });

}  // namespace
}  // namespace durus::test
