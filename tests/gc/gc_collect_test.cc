// The reference-count collector: dropped subtrees go completely, counts and
// queue stay exact, resurrection, stale references refused, background and
// on-demand collection, Sync() reporting.
#include <chrono>
#include <set>
#include <thread>

#include "tests/gc/gc_test_util.h"

namespace durus::gctest {
namespace {

TEST(GcCollect, DroppedSubtreeIsCollectedCompletelyCountsAndQueueExact) {
  TempDir dir;
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  Graph g(s.get());
  ASSERT_EQ(g.New(), 0u);
  uint64_t keep = g.New();
  g.Set(keep, {});
  std::vector<uint64_t> tree = g.Tree(2000, 7);
  // A shared child: referenced from inside the subtree and from `keep`'s
  // sibling that stays: it must survive with count 1.
  uint64_t shared = g.New();
  g.Set(shared, {});
  g.Set(tree.back(), {shared});  // a leaf
  uint64_t holder = g.New();
  g.Set(holder, {shared});
  g.Set(0, {keep, tree[0], holder});
  ASSERT_TRUE(g.Flush().ok());
  EXPECT_TRUE(Verify(s.get()).clean());
  s->Sync();

  g.Put(0, {keep, holder});  // drop the subtree
  EXPECT_EQ(test::Pending(s.get()), std::vector<uint64_t>{tree[0]});
  gc::VerifyReport before = Verify(s.get());
  EXPECT_TRUE(before.clean()) << Describe(before);  // queued garbage is not a problem
  EXPECT_EQ(before.unreachable, tree.size());
  EXPECT_EQ(before.collectable, tree.size());
  EXPECT_EQ(before.leaked, 0u);

  CollectReport rep;
  ASSERT_TRUE(s->Collect(false, &rep).ok());
  EXPECT_EQ(rep.collected, tree.size());
  EXPECT_EQ(rep.pending_after, 0u);
  for (uint64_t o : tree) {
    EXPECT_FALSE(Exists(s.get(), o)) << o;
    uint64_t c;
    EXPECT_TRUE(s->GetRefCount(Oid(o), &c).IsNotFound()) << o;
  }
  EXPECT_TRUE(Exists(s.get(), shared));
  EXPECT_EQ(test::CountOf(s.get(), shared), 1u);
  EXPECT_EQ(test::CountOf(s.get(), keep), 1u);
  EXPECT_TRUE(test::Pending(s.get()).empty());
  EXPECT_TRUE(test::CheckConsistency(s.get()).empty());
  StorageStats st = Stats(s.get());
  EXPECT_EQ(st.object_count, 4u);  // root, keep, holder, shared
  EXPECT_EQ(st.pending_garbage, 0u);
  EXPECT_EQ(st.collected_total, tree.size());
  gc::VerifyReport after = Verify(s.get());
  EXPECT_TRUE(after.clean()) << Describe(after);
  EXPECT_EQ(after.unreachable, 0u);

  // Sync() hands out exactly the collected oids, once.
  std::vector<Oid> synced = s->Sync();
  std::set<uint64_t> got;
  for (Oid o : synced) got.insert(o.value());
  EXPECT_EQ(got, std::set<uint64_t>(tree.begin(), tree.end()));
  EXPECT_EQ(synced.size(), tree.size());
  EXPECT_TRUE(s->Sync().empty());
}

TEST(GcCollect, CollectedStateSurvivesReopen) {
  TempDir dir;
  std::vector<uint64_t> chain;
  {
    auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
    Graph g(s.get());
    g.New();
    chain = g.Chain(300);
    g.Set(0, {chain[0]});
    ASSERT_TRUE(g.Flush().ok());
    g.Put(0, {});
    CollectReport rep;
    ASSERT_TRUE(s->Collect(false, &rep).ok());
    EXPECT_EQ(rep.collected, 300u);
  }
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  for (uint64_t o : chain) EXPECT_FALSE(Exists(s.get(), o));
  EXPECT_EQ(Stats(s.get()).object_count, 1u);
  EXPECT_TRUE(Verify(s.get()).clean());
}

TEST(GcCollect, ResurrectedBeforeCollectionSurvivesWithItsSubtree) {
  TempDir dir;
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  Graph g(s.get());
  g.New();
  std::vector<uint64_t> chain = g.Chain(50);
  g.Set(0, {chain[0]});
  ASSERT_TRUE(g.Flush().ok());

  g.Put(0, {});  // chain[0] falls to 0: queued
  EXPECT_EQ(test::Pending(s.get()), std::vector<uint64_t>{chain[0]});
  EXPECT_EQ(test::CountOf(s.get(), chain[0]), 0u);
  // Referenced again by a new object before the collector ran.
  uint64_t holder = g.New();
  g.Set(holder, {chain[0]});
  g.Set(0, {holder});
  ASSERT_TRUE(g.Flush().ok());
  EXPECT_TRUE(test::Pending(s.get()).empty());
  CollectReport rep;
  ASSERT_TRUE(s->Collect(false, &rep).ok());
  EXPECT_EQ(rep.collected, 0u);
  for (uint64_t o : chain) EXPECT_TRUE(Exists(s.get(), o)) << o;
  EXPECT_EQ(test::CountOf(s.get(), chain[0]), 1u);
  EXPECT_TRUE(Verify(s.get()).clean());
}

TEST(GcCollect, ResurrectedHalfwayThroughACascadeSurvivesWithItsSubtree) {
  TempDir dir;
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  Graph g(s.get());
  g.New();
  std::vector<uint64_t> chain = g.Chain(10);
  g.Set(0, {chain[0]});
  ASSERT_TRUE(g.Flush().ok());
  g.Put(0, {});
  // Two collector steps of one oid each: chain[0] and chain[1] go, chain[2]
  // is queued with count 0.
  for (int i = 0; i < 2; ++i) {
    uint64_t n = 0;
    bool done = false;
    ASSERT_TRUE(bdb_testing::CollectStep(s.get(), 1, &n, &done).ok());
    EXPECT_EQ(n, 1u);
  }
  EXPECT_FALSE(Exists(s.get(), chain[1]));
  EXPECT_EQ(test::Pending(s.get()), std::vector<uint64_t>{chain[2]});
  g.Forget(chain[0]);
  g.Forget(chain[1]);
  g.Put(0, {chain[2]});  // resurrect the rest
  CollectReport rep;
  ASSERT_TRUE(s->Collect(false, &rep).ok());
  EXPECT_EQ(rep.collected, 0u);
  for (size_t i = 2; i < chain.size(); ++i) EXPECT_TRUE(Exists(s.get(), chain[i]));
  EXPECT_TRUE(Verify(s.get()).clean());
  EXPECT_TRUE(test::CheckConsistency(s.get()).empty());
}

TEST(GcCollect, CommitReferencingACollectedOidIsAConflict) {
  TempDir dir;
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  Graph g(s.get());
  g.New();
  uint64_t a = g.New(), b = g.New();
  g.Set(a, {b});
  g.Set(b, {});
  g.Set(0, {a});
  ASSERT_TRUE(g.Flush().ok());
  g.Put(0, {});
  CollectReport rep;
  ASSERT_TRUE(s->Collect(false, &rep).ok());
  ASSERT_EQ(rep.collected, 2u);

  // A client that still holds `a` (and `b`) tries to link them again.
  g.Set(0, {a});
  Status st = g.Flush();
  EXPECT_TRUE(st.IsConflict()) << st.ToString();
  ASSERT_EQ(st.oids().size(), 1u);
  EXPECT_EQ(st.oids()[0], Oid(a));
  uint64_t n = g.New();
  g.Set(n, {b});
  g.Set(0, {n});
  st = g.Flush();
  EXPECT_TRUE(st.IsConflict()) << st.ToString();
  // Nothing of the refused commits was written.
  std::string rec;
  ASSERT_TRUE(s->Load(Oid(0), &rec).ok());
  EXPECT_TRUE(RecordRefs(rec).empty());
  EXPECT_FALSE(Exists(s.get(), n));
  EXPECT_TRUE(Verify(s.get()).clean());
}

TEST(GcCollect, BackgroundCollectorEmptiesTheQueue) {
  TempDir dir;
  BdbOptions o;
  o.gc_background = true;
  o.gc_batch = 64;
  o.gc_interval_ms = 5;
  auto s = test::OpenBdb(dir.Sub("home"), o);
  Graph g(s.get());
  g.New();
  std::vector<uint64_t> tree = g.Tree(3000, 4);
  g.Set(0, {tree[0]});
  ASSERT_TRUE(g.Flush().ok());
  g.Put(0, {});
  ASSERT_TRUE(Eventually([&] { return Stats(s.get()).object_count == 1; }));
  EXPECT_EQ(Stats(s.get()).pending_garbage, 0u);
  EXPECT_EQ(Stats(s.get()).collected_total, tree.size());
  EXPECT_EQ(s->Sync().size(), tree.size());
  EXPECT_TRUE(Verify(s.get()).clean());
}

TEST(GcCollect, PacedBackgroundCollectorFinishes) {
  TempDir dir;
  BdbOptions o;
  o.gc_background = true;
  o.gc_batch = 50;
  o.gc_per_second = 5000;
  o.gc_interval_ms = 5;
  auto s = test::OpenBdb(dir.Sub("home"), o);
  Graph g(s.get());
  g.New();
  std::vector<uint64_t> chain = g.Chain(1000);
  g.Set(0, {chain[0]});
  ASSERT_TRUE(g.Flush().ok());
  g.Put(0, {});
  ASSERT_TRUE(Eventually([&] { return Stats(s.get()).object_count == 1; }));
  EXPECT_TRUE(Verify(s.get()).clean());
}

TEST(GcCollect, SwitchedOffCollectsNothingUntilAskedTo) {
  TempDir dir;
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  Graph g(s.get());
  g.New();
  std::vector<uint64_t> chain = g.Chain(100);
  g.Set(0, {chain[0]});
  ASSERT_TRUE(g.Flush().ok());
  g.Put(0, {});
  // Several background ticks' worth of time: the collector is off.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Stats(s.get()).object_count, 101u);
  EXPECT_EQ(Stats(s.get()).pending_garbage, 1u);
  EXPECT_TRUE(s->Sync().empty());
  CollectReport rep;
  ASSERT_TRUE(s->Collect(false, &rep).ok());
  EXPECT_EQ(rep.collected, 100u);
  EXPECT_EQ(s->Sync().size(), 100u);
}

TEST(GcCollect, CollectorAndCommitsInterleaveConsistently) {
  // Commits keep dropping and creating subtrees while the background
  // collector runs flat out; in the end everything dropped is gone and the
  // counts are exact.
  TempDir dir;
  BdbOptions o;
  o.gc_background = true;
  o.gc_batch = 16;
  o.gc_interval_ms = 1;
  o.durability = Durability::kNoSync;
  auto s = test::OpenBdb(dir.Sub("home"), o);
  Graph g(s.get());
  g.New();
  std::vector<uint64_t> slots(8);
  for (uint64_t& slot : slots) {
    slot = g.Tree(20, 3)[0];
  }
  g.Set(0, slots);
  ASSERT_TRUE(g.Flush().ok());
  for (int round = 0; round < 100; ++round) {
    size_t k = round % slots.size();
    std::vector<uint64_t> t = g.Tree(20, 3);
    // Half the time the new subtree also links the old one's root.
    if (round % 2) g.Set(t[19], {slots[k]});
    slots[k] = t[0];
    g.Set(0, slots);
    Status st = g.Flush();
    // An old subtree root may already be collected when we link it.
    if (st.IsConflict()) {
      g.Set(t[19], {});
      g.Set(0, slots);
      st = g.Flush();
    }
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  ASSERT_TRUE(Eventually([&] { return Stats(s.get()).pending_garbage == 0; }));
  CollectReport rep;
  ASSERT_TRUE(s->Collect(false, &rep).ok());
  std::set<uint64_t> live = g.Reachable();
  EXPECT_EQ(Stats(s.get()).object_count, live.size());
  for (uint64_t o2 : live) EXPECT_TRUE(Exists(s.get(), o2)) << o2;
  gc::VerifyReport r = Verify(s.get());
  EXPECT_TRUE(r.clean()) << Describe(r);
  EXPECT_EQ(r.unreachable, 0u);
}

}  // namespace
}  // namespace durus::gctest
