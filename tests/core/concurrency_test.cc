// Concurrent loads, scans and commits on one storage, with the collector
// running: no operation may fail (Berkeley DB deadlock victims are retried
// inside the storage), readers never see a torn record, and the final
// state is consistent.  Also run under TSan (DURUS_SANITIZE=thread).
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "tests/core/test_util.h"

namespace durus::test {
namespace {

TEST(ConcurrencyTest, ReadersWritersAndCollectorTogether) {
  TempDir dir;
  BdbOptions opts;
  opts.durability = Durability::kWriteNoSync;
  opts.gc_interval_ms = 1;
  opts.checkpoint_interval_ms = 50;
  auto s = OpenBdb(dir.Sub("home"), opts);
  ASSERT_NE(s, nullptr);
  constexpr uint64_t kLive = 200;
  // Root -> 1..kLive; each object's payload names the round that wrote it,
  // repeated so a torn read would show two different rounds.
  auto object = [](uint64_t oid, uint64_t round, std::vector<uint64_t> refs) {
    std::string p;
    for (int i = 0; i < 20; ++i) p += "r" + std::to_string(round) + ";";
    return Rec(oid, refs, p);
  };
  {
    std::vector<std::pair<uint64_t, std::string>> recs;
    std::vector<uint64_t> all;
    for (uint64_t i = 1; i <= kLive; ++i) all.push_back(i);
    recs.push_back({0, Rec(0, all)});
    for (uint64_t i = 1; i <= kLive; ++i) recs.push_back({i, object(i, 0, {})});
    Commit(s.get(), recs);
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> errors{0}, loads{0}, commits{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      std::string rec;
      while (!stop) {
        Oid oid(1 + rng() % kLive);
        Status st = s->Load(oid, &rec);
        if (!st.ok()) {
          ++errors;
          ADD_FAILURE() << st.ToString();
          continue;
        }
        RecordView v;
        if (!UnpackRecord(rec, &v).ok()) {
          ++errors;
          continue;
        }
        std::string d(v.data.substr(v.data.find('.') + 1));
        std::string first = d.substr(0, d.find(';') + 1);
        for (size_t i = 0; i < d.size(); i += first.size()) {
          if (d.compare(i, first.size(), first) != 0) {
            ++errors;
            ADD_FAILURE() << "torn record for oid " << oid.value();
            break;
          }
        }
        ++loads;
        if (rng() % 50 == 0) {
          std::vector<std::pair<Oid, std::string>> batch;
          if (!s->Scan(Oid(rng() % kLive), 100, &batch).ok()) ++errors;
        }
      }
    });
  }
  // The writer: rewrites random live objects, and hangs then drops
  // garbage chains so the collector has work.
  std::mt19937_64 rng(99);
  uint64_t next = 100000;
  for (uint64_t round = 1; round <= 300; ++round) {
    CommitBatch b;
    for (int i = 0; i < 20; ++i) {
      uint64_t oid = 1 + rng() % kLive;
      std::vector<uint64_t> refs;
      if (i == 0) {  // a chain of 30 new objects hanging off this one
        refs.push_back(next);
        for (int k = 0; k < 30; ++k, ++next) {
          ASSERT_TRUE(b.Add(Oid(next), Rec(next, k == 29 ? std::vector<uint64_t>{}
                                                         : std::vector<uint64_t>{next + 1}))
                          .ok());
        }
      }
      ASSERT_TRUE(b.Add(Oid(oid), object(oid, round, refs)).ok());
    }
    Status st = s->Commit(b);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ++commits;
  }
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0u);
  EXPECT_GT(loads.load(), 0u);
  CollectReport report;
  ASSERT_TRUE(s->Collect(false, &report).ok());
  EXPECT_EQ(CheckConsistency(s.get()), std::vector<std::string>{});
  StorageStats stats;
  ASSERT_TRUE(s->GetStats(&stats).ok());
  // Live: root, kLive objects, and at most one chain (30) per live object.
  EXPECT_LE(stats.object_count, 1 + kLive + 30 * kLive);
  EXPECT_GT(stats.collected_total, 0u);
  std::cout << loads.load() << " loads, " << commits.load() << " commits, " << stats.collected_total
            << " collected\n";
}

}  // namespace
}  // namespace durus::test
