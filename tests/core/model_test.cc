// Model test: random operation sequences run against the Berkeley DB
// storage and the in-memory reference model (engine/memory_storage.h);
// records, counts, queue and statistics compared after every commit and
// after every reopen.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "engine/memory_storage.h"
#include "tests/core/test_util.h"

namespace durus::test {
namespace {

std::vector<std::pair<Oid, std::string>> All(Storage* s) {
  std::vector<std::pair<Oid, std::string>> out;
  RecordIterator it(s, Oid(0), 500);
  for (; it.Valid(); it.Next()) out.emplace_back(it.oid(), it.record());
  EXPECT_TRUE(it.status().ok()) << it.status().ToString();
  return out;
}

void ExpectSame(InspectableStorage* model, InspectableStorage* real, const std::string& when) {
  SCOPED_TRACE(when);
  auto a = All(model), b = All(real);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].first, b[i].first);
    ASSERT_EQ(a[i].second, b[i].second) << "oid " << a[i].first.value();
    uint64_t ca = 0, cb = 0;
    ASSERT_TRUE(model->GetRefCount(a[i].first, &ca).ok());
    ASSERT_TRUE(real->GetRefCount(a[i].first, &cb).ok());
    ASSERT_EQ(ca, cb) << "count of oid " << a[i].first.value();
  }
  EXPECT_EQ(Pending(model), Pending(real));
  StorageStats sa, sb;
  ASSERT_TRUE(model->GetStats(&sa).ok());
  ASSERT_TRUE(real->GetStats(&sb).ok());
  EXPECT_EQ(sa.object_count, sb.object_count);
  EXPECT_EQ(sa.record_bytes, sb.record_bytes);
  EXPECT_EQ(sa.pending_garbage, sb.pending_garbage);
  EXPECT_EQ(CheckConsistency(real), std::vector<std::string>{});
}

class ModelTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(ModelTest, RandomOperationsMatchTheModel) {
  std::mt19937_64 rng(GetParam());
  TempDir dir;
  BdbOptions opts;
  opts.gc_background = false;  // collection happens when the sequence says
  opts.durability = Durability::kWriteNoSync;
  std::unique_ptr<BdbHandle> real = OpenBdb(dir.Sub("home"), opts);
  ASSERT_NE(real, nullptr);
  MemoryStorage model;
  std::vector<uint64_t> existing;  // oids stored and not collected
  std::set<uint64_t> collected;
  uint64_t next_oid = 0;
  auto pick = [&](size_t n) { return rng() % n; };

  // Root first.
  Commit(&model, {{0, Rec(0, {})}});
  Commit(real.get(), {{0, Rec(0, {})}});
  existing.push_back(0);
  next_oid = 1;

  for (int step = 0; step < 300; ++step) {
    int op = static_cast<int>(pick(100));
    if (op < 70) {
      // A commit: some new objects, some overwrites, random refs among
      // existing objects and the new ones.
      std::vector<uint64_t> batch_oids;
      size_t news = pick(6), overwrites = pick(4);
      for (size_t i = 0; i < news; ++i) batch_oids.push_back(next_oid++);
      for (size_t i = 0; i < overwrites; ++i) batch_oids.push_back(existing[pick(existing.size())]);
      if (pick(3) == 0) batch_oids.push_back(0);
      std::vector<uint64_t> targets = existing;
      targets.insert(targets.end(), batch_oids.begin(), batch_oids.end());
      std::vector<std::pair<uint64_t, std::string>> recs;
      for (uint64_t oid : batch_oids) {
        std::vector<uint64_t> refs;
        size_t nrefs = pick(4);
        for (size_t r = 0; r < nrefs; ++r) refs.push_back(targets[pick(targets.size())]);
        std::sort(refs.begin(), refs.end());
        refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
        recs.push_back({oid, Rec(oid, refs, "s" + std::to_string(step))});
      }
      // Sometimes reference a collected or never-stored oid: both refuse.
      bool dangling = pick(10) == 0;
      if (dangling && !recs.empty()) {
        uint64_t bad = collected.empty() || pick(2) ? next_oid + 1000 : *collected.begin();
        // On the last record: an oid stored twice keeps its last record.
        recs.back().second = Rec(recs.back().first, {bad});
      }
      Status a = TryCommit(&model, recs), b = TryCommit(real.get(), recs);
      ASSERT_EQ(a.code(), b.code()) << a.ToString() << " vs " << b.ToString();
      if (dangling && !recs.empty()) {
        std::string dump;
        for (auto& r : recs) dump += " " + std::to_string(r.first);
        ASSERT_TRUE(b.IsConflict()) << b.ToString() << " oids:" << dump
                                    << " bad refs:" << RecordRefs(recs.back().second).size();
      }
      if (b.ok()) {
        for (uint64_t oid : batch_oids) {
          if (std::find(existing.begin(), existing.end(), oid) == existing.end()) {
            existing.push_back(oid);
          }
        }
      }
      ExpectSame(&model, real.get(), "after commit at step " + std::to_string(step));
    } else if (op < 92) {
      CollectReport ra, rb;
      ASSERT_TRUE(model.Collect(false, &ra).ok());
      ASSERT_TRUE(real->Collect(false, &rb).ok());
      EXPECT_EQ(ra.collected, rb.collected);
      std::vector<Oid> sa = model.Sync(), sb = real->Sync();
      std::set<Oid> seta(sa.begin(), sa.end()), setb(sb.begin(), sb.end());
      EXPECT_EQ(seta, setb);
      for (Oid o : sa) {
        collected.insert(o.value());
        existing.erase(std::find(existing.begin(), existing.end(), o.value()));
      }
      ExpectSame(&model, real.get(), "after collect at step " + std::to_string(step));
    } else {
      ASSERT_TRUE(real->Close().ok());
      real = OpenBdb(dir.Sub("home"), opts);
      ASSERT_NE(real, nullptr);
      ExpectSame(&model, real.get(), "after reopen at step " + std::to_string(step));
    }
    if (HasFatalFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, ModelTest, ::testing::Values(1u, 2u, 3u, 4u));

}  // namespace
}  // namespace durus::test
