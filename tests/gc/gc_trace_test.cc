// The cycle trace: cycles are freed by the trace and never by counting;
// commits during a trace (in every phase) keep what they store and link;
// online (StartPack) and offline (Collect(true)); resumed after reopen.
#include <chrono>
#include <random>
#include <set>
#include <thread>

#include "tests/gc/gc_test_util.h"

namespace durus::gctest {
namespace {

using bdb_testing::GetTraceInfo;
using bdb_testing::StartTrace;
using bdb_testing::TraceInfo;

void Step(BdbHandle* s, uint32_t max, bool* done, uint64_t* collected = nullptr) {
  uint64_t n = 0;
  Status st = bdb_testing::TraceStep(s, max, &n, done);
  ASSERT_TRUE(st.ok()) << st.ToString();
  if (collected) *collected += n;
}

void RunTraceToEnd(BdbHandle* s, uint32_t max) {
  for (bool done = false; !done;) {
    Step(s, max, &done);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// The store every cycle test starts from: a reachable tree, and three kinds
// of garbage that counting cannot free.
struct CycleStore {
  std::vector<uint64_t> live;       // reachable
  uint64_t self_loop = 0;           // x -> x only: self references are not
                                    // counted, so counting frees it
  uint64_t pair_a = 0, pair_b = 0;  // a -> {a, b}, b -> {a, b}: self-cycles
                                    // inside a cycle
  std::vector<uint64_t> ring;       // long ring
  uint64_t hanger = 0;              // garbage (count 0) -> ring2
  std::vector<uint64_t> ring2;
  std::vector<uint64_t> tail;  // ring3 -> tail chain (hangs off a cycle)
  std::vector<uint64_t> ring3;
  // What only the trace can free.
  size_t leaked() const { return 2 + ring.size() + ring2.size() + ring3.size() + tail.size(); }

  void Build(Graph* g) {
    g->New();  // root
    live = g->Tree(200, 3);
    self_loop = g->New();
    g->Set(self_loop, {self_loop});
    pair_a = g->New();
    pair_b = g->New();
    g->Set(pair_a, {pair_a, pair_b});
    g->Set(pair_b, {pair_a, pair_b});
    ring = g->Ring(1000);
    ring2 = g->Ring(5);
    hanger = g->New();
    g->Set(hanger, {ring2[0]});
    ring3 = g->Ring(3);
    tail = g->Chain(20);
    g->Set(ring3[1], {ring3[2], tail[0]});
    // Everything is linked from the root first, then dropped: the cycles'
    // counts stay above 0 because they reference each other.
    g->Set(0, {live[0], self_loop, pair_a, ring[0], hanger, ring3[0]});
    Status st = g->Flush();
    ASSERT_TRUE(st.ok()) << st.ToString();
    g->Put(0, {live[0]});
  }
};

TEST(GcTrace, CyclesAreFreedByTheTraceAndNeverByCounting) {
  TempDir dir;
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  Graph g(s.get());
  CycleStore cs;
  cs.Build(&g);
  ASSERT_FALSE(HasFatalFailure());

  // Counting, to the end: frees the hanger and the lone self-loop (its
  // self reference is not counted, so it was queued when dropped), and
  // nothing that is part of a cycle.
  CollectReport rep;
  ASSERT_TRUE(s->Collect(false, &rep).ok());
  EXPECT_EQ(rep.collected, 2u);
  EXPECT_FALSE(Exists(s.get(), cs.hanger));
  EXPECT_FALSE(Exists(s.get(), cs.self_loop));
  EXPECT_TRUE(Exists(s.get(), cs.pair_a));
  EXPECT_EQ(test::CountOf(s.get(), cs.pair_a), 1u);
  EXPECT_TRUE(Exists(s.get(), cs.ring[500]));
  EXPECT_TRUE(Exists(s.get(), cs.ring2[0]));
  EXPECT_EQ(test::CountOf(s.get(), cs.ring2[0]), 1u);
  EXPECT_TRUE(test::Pending(s.get()).empty());
  EXPECT_TRUE(test::CheckConsistency(s.get()).empty());
  ASSERT_TRUE(s->Collect(false, &rep).ok());
  EXPECT_EQ(rep.collected, 0u);

  gc::VerifyReport before = Verify(s.get());
  size_t leaked = cs.leaked();
  EXPECT_EQ(before.leaked, leaked) << Describe(before);
  EXPECT_EQ(before.count(gc::ProblemKind::kLeaked), leaked);

  ASSERT_TRUE(s->Collect(true, &rep).ok());
  EXPECT_EQ(rep.collected, leaked);
  EXPECT_EQ(rep.traced, 1 + cs.live.size());
  EXPECT_EQ(rep.pending_after, 0u);
  for (uint64_t o : cs.ring) EXPECT_FALSE(Exists(s.get(), o));
  for (uint64_t o : cs.ring2) EXPECT_FALSE(Exists(s.get(), o));
  for (uint64_t o : cs.ring3) EXPECT_FALSE(Exists(s.get(), o));
  for (uint64_t o : cs.tail) EXPECT_FALSE(Exists(s.get(), o));
  for (uint64_t o : cs.live) EXPECT_TRUE(Exists(s.get(), o));
  EXPECT_EQ(Stats(s.get()).object_count, 1 + cs.live.size());
  gc::VerifyReport after = Verify(s.get());
  EXPECT_TRUE(after.clean()) << Describe(after);
  EXPECT_EQ(after.unreachable, 0u);
  TraceInfo info;
  ASSERT_TRUE(GetTraceInfo(s.get(), &info).ok());
  EXPECT_FALSE(info.running);
  EXPECT_EQ(info.completed_total, 1u);
}

TEST(GcTrace, SelfCycleWithAReferrerIsLeakedUntilTraced) {
  // x -> x and y -> x, y dropped: counting frees y, then x has count 0 (its
  // self-reference is not counted) and goes too.  A two-object cycle with
  // a self-reference stays.
  TempDir dir;
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  Graph g(s.get());
  g.New();
  uint64_t a = g.New(), b = g.New();
  g.Set(a, {a, b});
  g.Set(b, {a, b});
  g.Set(0, {a});
  ASSERT_TRUE(g.Flush().ok());
  g.Put(0, {});
  CollectReport rep;
  ASSERT_TRUE(s->Collect(false, &rep).ok());
  EXPECT_EQ(rep.collected, 0u);
  EXPECT_EQ(Verify(s.get()).leaked, 2u);
  ASSERT_TRUE(s->Collect(true, &rep).ok());
  EXPECT_EQ(rep.collected, 2u);
  EXPECT_TRUE(Verify(s.get()).clean());
}

TEST(GcTrace, OnlinePackViaStartPackRunsInTheBackground) {
  TempDir dir;
  BdbOptions o;
  o.gc_background = true;
  o.gc_batch = 32;  // many small steps
  o.gc_interval_ms = 1;
  auto s = test::OpenBdb(dir.Sub("home"), o);
  Graph g(s.get());
  CycleStore cs;
  cs.Build(&g);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(s->StartPack().ok());
  // Keep committing while it runs: new objects linked to old ones.
  std::vector<uint64_t> extra;
  for (int i = 0; i < 20; ++i) {
    uint64_t n = g.New();
    g.Set(n, {cs.live[i * 7 % cs.live.size()]});
    extra.push_back(n);
    std::vector<uint64_t> roots = {cs.live[0]};
    roots.insert(roots.end(), extra.begin(), extra.end());
    g.Set(0, roots);
    ASSERT_TRUE(g.Flush().ok());
  }
  ASSERT_TRUE(Eventually([&] {
    TraceInfo info;
    return GetTraceInfo(s.get(), &info).ok() && info.completed_total >= 1 &&
           Stats(s.get()).pending_garbage == 0;
  }));
  StorageStats st = Stats(s.get());
  for (uint64_t x : g.Reachable()) EXPECT_TRUE(Exists(s.get(), x)) << x;
  EXPECT_EQ(st.object_count, g.Reachable().size());
  gc::VerifyReport r = Verify(s.get());
  EXPECT_TRUE(r.clean()) << Describe(r);
  // Every deleted oid reaches Sync().
  EXPECT_EQ(s->Sync().size(), cs.leaked() + 2);  // + the hanger and the self-loop
}

TEST(GcTrace, StartPackWithTheCollectorOffCollectsAtOnce) {
  TempDir dir;
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  Graph g(s.get());
  CycleStore cs;
  cs.Build(&g);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(s->StartPack().ok());
  EXPECT_EQ(Stats(s.get()).object_count, 1 + cs.live.size());
  EXPECT_TRUE(Verify(s.get()).clean());
}

// The interleavings the barrier exists for, step by step (steps of one).
TEST(GcTrace, CommitsDuringMarkKeepNewAndNewlyLinkedObjects) {
  TempDir dir;
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  Graph g(s.get());
  g.New();
  uint64_t a = g.New(), b = g.New(), c = g.New(), d = g.New();
  std::vector<uint64_t> ring = g.Ring(4);
  g.Set(a, {b});
  g.Set(b, {c});
  g.Set(c, {});
  g.Set(d, {});
  g.Set(0, {a, d, ring[0]});
  ASSERT_TRUE(g.Flush().ok());
  g.Put(0, {a, d});  // the ring is garbage
  bool started = false;
  {
    Status st0 = StartTrace(s.get(), &started);
    ASSERT_TRUE(st0.ok()) << st0.ToString();
  }
  ASSERT_TRUE(started);
  bool done = false;
  Step(s.get(), 1, &done);  // visits the root: a and d are grey, b and c white
  ASSERT_FALSE(done);
  Step(s.get(), 1, &done);  // visits a (lowest oid first): b grey
  Step(s.get(), 1, &done);  // visits b: c grey
  Step(s.get(), 1, &done);  // visits c
  // Now d is grey, everything under a is black.  Move c under a new object
  // hanging from a black object (a), and drop b: c's only path is new.
  uint64_t n = g.New();
  g.Set(n, {c});
  g.Set(a, {n});
  ASSERT_TRUE(g.Flush().ok());
  // And link the garbage ring back from d (grey) and then from a (black),
  // dropping it from d: a resurrection through a black object.
  g.Put(d, {ring[2]});
  g.Put(a, {n, ring[2]});
  g.Put(d, {});
  CollectReport rep;
  ASSERT_TRUE(s->Collect(false, &rep).ok());  // counting frees b
  EXPECT_FALSE(Exists(s.get(), b));
  g.Forget(b);
  RunTraceToEnd(s.get(), 1);
  for (uint64_t x : {uint64_t{0}, a, c, d, n}) EXPECT_TRUE(Exists(s.get(), x)) << x;
  for (uint64_t x : ring) EXPECT_TRUE(Exists(s.get(), x)) << x;
  gc::VerifyReport r = Verify(s.get());
  EXPECT_TRUE(r.clean()) << Describe(r);
}

TEST(GcTrace, CommitsDuringSweepLinkLiveObjectsButNotCondemnedGarbage) {
  TempDir dir;
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  Graph g(s.get());
  g.New();
  std::vector<uint64_t> live = g.Chain(10);
  std::vector<uint64_t> ring_lo = g.Ring(3);   // low oids: swept early
  std::vector<uint64_t> ring_hi = g.Ring(30);  // higher oids
  g.Set(0, {live[0], ring_lo[0], ring_hi[0]});
  ASSERT_TRUE(g.Flush().ok());
  g.Put(0, {live[0]});
  uint64_t early = g.New();  // handed out, not stored yet
  g.Put(live[9], {});        // any commit moves the trace's future limit past it
  bool started = false, done = false;
  {
    Status st0 = StartTrace(s.get(), &started);
    ASSERT_TRUE(st0.ok()) << st0.ToString();
  }
  // Mark everything (11 visits), then sweep past ring_lo.
  TraceInfo info;
  while (true) {
    Step(s.get(), 1, &done);
    ASSERT_TRUE(GetTraceInfo(s.get(), &info).ok());
    if (info.phase == 2 && info.cursor > ring_lo.back()) break;
    ASSERT_FALSE(done);
  }
  EXPECT_FALSE(Exists(s.get(), ring_lo[0]));
  ASSERT_LE(info.cursor, ring_hi[0]);
  for (uint64_t x : ring_lo) g.Forget(x);
  // ring_hi is not deleted yet, but the trace found it unreachable: linking
  // it (from a swept live object, from a new object) is refused, as linking
  // a collected object is; nothing of the commit is written.
  g.Set(live[3], {live[4], ring_hi[10]});
  Status st = g.Flush();
  EXPECT_TRUE(st.IsConflict()) << st.ToString();
  ASSERT_EQ(st.oids().size(), 1u);
  EXPECT_EQ(st.oids()[0], Oid(ring_hi[10]));
  uint64_t n = g.New();
  g.Set(n, {ring_hi[1]});
  g.Set(0, {live[0], n});
  EXPECT_TRUE(g.Flush().IsConflict());
  // Storing the condemned object itself is refused too (its old record
  // may reference ring objects the sweep deleted already).
  g.Set(ring_hi[5], {ring_hi[6]});
  EXPECT_TRUE(g.Flush().IsConflict());
  // So is a stale reference to the swept ring.
  uint64_t m = g.New();
  g.Set(m, {ring_lo[1]});
  g.Set(0, {live[0], m});
  EXPECT_TRUE(g.Flush().IsConflict());
  // Live objects, marked, can be linked anywhere, old and new.
  uint64_t k = g.New();
  g.Set(k, {live[9], live[2]});
  g.Set(live[8], {live[9], live[1]});
  g.Set(0, {live[0], k});
  ASSERT_TRUE(g.Flush().ok());
  // An oid handed out before the trace started (a client's oid pool: below
  // the trace's limit) and stored only now is new, not condemned: it is
  // stored and it survives, with a new object that references it.
  ASSERT_LT(early, info.limit);
  ASSERT_GE(early, info.cursor);
  g.Set(early, {live[5]});
  uint64_t k2 = g.New();
  g.Set(k2, {early});
  g.Set(0, {live[0], k, k2});
  st = g.Flush();
  ASSERT_TRUE(st.ok()) << st.ToString();
  RunTraceToEnd(s.get(), 2);
  for (uint64_t x : ring_hi) EXPECT_FALSE(Exists(s.get(), x)) << x;
  for (uint64_t x : g.Reachable()) EXPECT_TRUE(Exists(s.get(), x)) << x;
  gc::VerifyReport r = Verify(s.get());
  EXPECT_TRUE(r.clean()) << Describe(r);
  EXPECT_EQ(r.unreachable, 0u);
}

// Random graph edits interleaved with trace steps of random sizes, against
// a model: whatever is reachable in the model exists, verify is clean, and
// garbage that nothing touched during the trace is gone.
TEST(GcTrace, RandomCommitsInterleavedWithTraceSteps) {
  for (unsigned seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    TempDir dir;
    BdbOptions o = ManualGc();
    o.durability = Durability::kNoSync;  // many small commits
    auto s = test::OpenBdb(dir.Sub("home"), o);
    Graph g(s.get());
    g.New();
    std::vector<uint64_t> objs = g.Tree(150, 3);
    std::vector<uint64_t> untouched = g.Ring(7);  // garbage nobody touches
    g.Set(0, {objs[0], untouched[0]});
    ASSERT_TRUE(g.Flush().ok());
    g.Put(0, {objs[0]});
    // A few random extra edges, some making cycles (few: with many, every
    // object has several paths and a missed edge goes unnoticed).
    for (int i = 0; i < 6; ++i) {
      uint64_t x = objs[rng() % objs.size()], y = objs[rng() % objs.size()];
      std::vector<uint64_t> refs = g.RefsOf(x);
      refs.push_back(y);
      g.Put(x, refs);
    }
    // Oids handed out before the trace (like a client's oid pool), stored
    // while it marks or sweeps.
    std::vector<uint64_t> pool;
    for (int i = 0; i < 40; ++i) pool.push_back(g.New());
    g.Put(objs.back(), g.RefsOf(objs.back()));  // moves the limit past the pool
    bool started = false;
    {
      Status st0 = StartTrace(s.get(), &started);
      ASSERT_TRUE(st0.ok()) << st0.ToString();
    }
    bool done = false;
    while (!done) {
      int ops = rng() % 4;
      for (int k = 0; k < ops; ++k) {
        // Re-point one reference of a live object at another live (or new)
        // object, possibly dropping subgraphs.
        std::set<uint64_t> live = g.Reachable();
        std::vector<uint64_t> lv(live.begin(), live.end());
        uint64_t x = lv[rng() % lv.size()];
        std::vector<uint64_t> refs = g.RefsOf(x);
        int what = rng() % 5;
        if (what >= 3 && !refs.empty()) {
          // Move a reference from x to y in one commit: the edge an
          // incremental trace misses without its barrier (y may be
          // visited already while x is not).
          // The frontier goes in oid order: moving from a high oid to a
          // low one is the likely unvisited-to-visited move.
          std::vector<uint64_t> inner;  // live objects with references
          for (uint64_t o2 : lv) {
            if (!g.RefsOf(o2).empty()) inner.push_back(o2);
          }
          x = inner[inner.size() / 2 + rng() % (inner.size() - inner.size() / 2)];
          refs = g.RefsOf(x);
          size_t i = rng() % refs.size();
          uint64_t moved = refs[i];
          refs.erase(refs.begin() + i);
          uint64_t y = lv[rng() % (lv.size() / 2 + 1)];
          if (y != x) {
            std::vector<uint64_t> yrefs = g.RefsOf(y);
            yrefs.push_back(moved);
            g.Set(y, yrefs);
          }
        } else if (what == 0 && !refs.empty()) {
          refs.erase(refs.begin() + rng() % refs.size());
        } else if (what == 1) {
          uint64_t n = pool.empty() ? g.New() : pool.back();
          if (!pool.empty()) pool.pop_back();
          uint64_t y = lv[rng() % lv.size()];
          g.Set(n, {y});
          refs.push_back(n);
        } else {
          refs.push_back(lv[rng() % lv.size()]);
          if (!refs.empty() && rng() % 2) refs.erase(refs.begin());
        }
        g.Set(x, refs);
        Status st = g.Flush();
        ASSERT_TRUE(st.ok()) << st.ToString();
      }
      if (rng() % 3 == 0) {
        CollectReport rep;
        ASSERT_TRUE(s->Collect(false, &rep).ok());
      }
      Step(s.get(), 1 + rng() % 5, &done);
      if (HasFatalFailure()) return;
    }
    std::set<uint64_t> live = g.Reachable();
    for (uint64_t x : live) ASSERT_TRUE(Exists(s.get(), x)) << x;
    for (uint64_t x : untouched) EXPECT_FALSE(Exists(s.get(), x)) << x;
    gc::VerifyReport r = Verify(s.get());
    EXPECT_EQ(r.total_problems() - r.count(gc::ProblemKind::kLeaked), 0u) << Describe(r);
    // Cycles cut loose during the trace may survive it (like Durus's
    // pack); a second trace frees them.
    CollectReport rep;
    ASSERT_TRUE(s->Collect(true, &rep).ok());
    EXPECT_EQ(Stats(s.get()).object_count, live.size());
    r = Verify(s.get());
    EXPECT_TRUE(r.clean()) << Describe(r);
  }
}

TEST(GcTrace, TraceResumesAfterReopenWithTheBarrierOn) {
  TempDir dir;
  std::vector<uint64_t> ring, live;
  uint64_t a = 0;
  {
    auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
    Graph g(s.get());
    g.New();
    live = g.Chain(20);
    ring = g.Ring(10);
    a = g.New();
    g.Set(a, {});
    g.Set(0, {live[0], ring[0], a});
    ASSERT_TRUE(g.Flush().ok());
    g.Put(0, {live[0], a});
    bool started = false, done = false;
    {
      Status st0 = StartTrace(s.get(), &started);
      ASSERT_TRUE(st0.ok()) << st0.ToString();
    }
    Step(s.get(), 3, &done);
    ASSERT_FALSE(done);
    ASSERT_TRUE(s->Close().ok());
  }
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  TraceInfo info;
  ASSERT_TRUE(GetTraceInfo(s.get(), &info).ok());
  EXPECT_TRUE(info.running);
  EXPECT_EQ(info.phase, 1);
  // A commit after reopen links part of the garbage ring from `a` (visited
  // or not): the barrier must be on.
  std::string rec = Rec(a, {ring[4]});
  ASSERT_TRUE(test::TryCommit(s.get(), {{a, rec}}).ok());
  RunTraceToEnd(s.get(), 4);
  for (uint64_t x : ring) EXPECT_TRUE(Exists(s.get(), x)) << x;
  for (uint64_t x : live) EXPECT_TRUE(Exists(s.get(), x)) << x;
  gc::VerifyReport r = Verify(s.get());
  EXPECT_TRUE(r.clean()) << Describe(r);
  // Unlink it again: now a trace frees it.
  ASSERT_TRUE(test::TryCommit(s.get(), {{a, Rec(a, {})}}).ok());
  CollectReport rep;
  ASSERT_TRUE(s->Collect(true, &rep).ok());
  EXPECT_EQ(rep.collected, ring.size());
  EXPECT_TRUE(Verify(s.get()).clean());
}

TEST(GcTrace, UnreadableTraceStateIsDroppedAndANewTraceStartsClean) {
  TempDir dir;
  std::vector<uint64_t> live, ring;
  {
    auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
    Graph g(s.get());
    g.New();
    live = g.Chain(30);
    ring = g.Ring(10);
    g.Set(0, {live[0], ring[0]});
    ASSERT_TRUE(g.Flush().ok());
    g.Put(0, {live[0]});
    bool started = false, done = false;
    ASSERT_TRUE(StartTrace(s.get(), &started).ok());
    Step(s.get(), 5, &done);  // leaves marks and frontier entries behind
    // ... among them the garbage ring, linked and unlinked meanwhile.
    g.Put(0, {live[0], ring[0]});
    g.Put(0, {live[0]});
    ASSERT_TRUE(bdb_testing::DamageTraceState(s.get()).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  TraceInfo info;
  ASSERT_TRUE(GetTraceInfo(s.get(), &info).ok());
  EXPECT_FALSE(info.running);
  // The leftovers must not count as marks: the ring goes, the chain stays.
  CollectReport rep;
  ASSERT_TRUE(s->Collect(true, &rep).ok());
  EXPECT_EQ(rep.collected, ring.size());
  for (uint64_t x : live) EXPECT_TRUE(Exists(s.get(), x));
  gc::VerifyReport r = Verify(s.get());
  EXPECT_TRUE(r.clean()) << Describe(r);
}

TEST(GcTrace, NoRootNothingIsDeleted) {
  TempDir dir;
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  // Records without a root (not a Durus store, but legal for the storage).
  std::string r5 = Rec(5, {6}), r6 = Rec(6, {5});
  ASSERT_TRUE(test::TryCommit(s.get(), {{5, r5}, {6, r6}}).ok());
  CollectReport rep;
  ASSERT_TRUE(s->Collect(true, &rep).ok());
  EXPECT_EQ(rep.collected, 0u);
  EXPECT_TRUE(Exists(s.get(), 5));
}

}  // namespace
}  // namespace durus::gctest
