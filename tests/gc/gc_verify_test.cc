// verify: each injected fault is detected (and only it), --repair fixes it,
// and the durus-bdb verify / gc commands report and exit as documented.
#include <cstdio>

#include "tests/gc/gc_test_util.h"

namespace durus::gctest {
namespace {

using gc::ProblemKind;

// A small consistent store: root -> a -> b -> c, root -> d; e is queued
// garbage (count 0, not yet collected) holding f.
struct Fixture {
  uint64_t a, b, c, d, e, f;
  void Build(Graph* g) {
    g->New();
    a = g->New(), b = g->New(), c = g->New(), d = g->New(), e = g->New(), f = g->New();
    g->Set(a, {b});
    g->Set(b, {c});
    g->Set(c, {});
    g->Set(d, {});
    g->Set(f, {});
    g->Set(e, {f});
    g->Set(0, {a, d, e});
    ASSERT_TRUE(g->Flush().ok());
    g->Put(0, {a, d});
  }
};

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    s_ = test::OpenBdb(dir_.Sub("home"), ManualGc());
    ASSERT_NE(s_, nullptr);
    g_ = std::make_unique<Graph>(s_.get());
    fx_.Build(g_.get());
    ASSERT_FALSE(HasFatalFailure());
    gc::VerifyReport r = Verify(s_.get());
    ASSERT_TRUE(r.clean()) << Describe(r);
    EXPECT_EQ(r.records, 7u);
    EXPECT_EQ(r.reachable, 5u);
    EXPECT_EQ(r.unreachable, 2u);
    EXPECT_EQ(r.collectable, 2u);
    EXPECT_EQ(r.leaked, 0u);
    EXPECT_EQ(r.queued, 1u);
  }

  // Verify finds exactly `n` problems of kind `kind` (and nothing else,
  // unless `others` allows it); repair; a second verify is clean.
  void ExpectDetectedAndRepaired(ProblemKind kind, uint64_t n, uint64_t others = 0) {
    gc::VerifyReport r = Verify(s_.get());
    EXPECT_EQ(r.count(kind), n) << Describe(r);
    EXPECT_EQ(r.total_problems(), n + others) << Describe(r);
    bool sampled = false;
    for (const gc::Problem& p : r.samples) sampled |= p.kind == kind;
    EXPECT_EQ(sampled, n > 0);
    gc::VerifyReport fixed = Verify(s_.get(), /*repair=*/true);
    EXPECT_EQ(fixed.count(kind), n);
    gc::VerifyReport after = Verify(s_.get());
    EXPECT_TRUE(after.clean()) << Describe(after);
    EXPECT_TRUE(test::CheckConsistency(s_.get()).empty());
    for (uint64_t x : g_->Reachable()) EXPECT_TRUE(Exists(s_.get(), x)) << x;
    // The repaired store still collects normally.
    CollectReport rep;
    ASSERT_TRUE(s_->Collect(true, &rep).ok());
    EXPECT_TRUE(Verify(s_.get()).clean());
  }

  TempDir dir_;
  std::unique_ptr<BdbHandle> s_;
  std::unique_ptr<Graph> g_;
  Fixture fx_;
};

TEST_F(VerifyTest, WrongCount) {
  ASSERT_TRUE(bdb_testing::SetCount(s_.get(), Oid(fx_.b), 3).ok());
  ExpectDetectedAndRepaired(ProblemKind::kCountMismatch, 1);
}

TEST_F(VerifyTest, WrongCountOfZeroAlsoBreaksTheQueue) {
  // c's count says 0 (it has one referrer): a collector would delete it.
  ASSERT_TRUE(bdb_testing::SetCount(s_.get(), Oid(fx_.c), 0).ok());
  ASSERT_TRUE(bdb_testing::AddQueueEntry(s_.get(), Oid(fx_.c)).ok());
  ExpectDetectedAndRepaired(ProblemKind::kCountMismatch, 1, /*queued nonzero + counter*/ 2);
  EXPECT_EQ(test::CountOf(s_.get(), fx_.c), 1u);
}

TEST_F(VerifyTest, MissingCount) {
  ASSERT_TRUE(bdb_testing::EraseCount(s_.get(), Oid(fx_.d)).ok());
  ExpectDetectedAndRepaired(ProblemKind::kMissingCount, 1);
}

TEST_F(VerifyTest, OrphanCount) {
  ASSERT_TRUE(bdb_testing::SetCount(s_.get(), Oid(9999), 2).ok());
  ExpectDetectedAndRepaired(ProblemKind::kOrphanCount, 1);
}

TEST_F(VerifyTest, DanglingReference) {
  // b's record vanished (with its count): a references a missing oid.
  ASSERT_TRUE(bdb_testing::EraseRecord(s_.get(), Oid(fx_.b)).ok());
  ASSERT_TRUE(bdb_testing::EraseCount(s_.get(), Oid(fx_.b)).ok());
  g_->Forget(fx_.b);
  // c lost its only referrer: its count (1) is now wrong, and the counters.
  gc::VerifyReport r = Verify(s_.get());
  EXPECT_EQ(r.count(ProblemKind::kDanglingRef), 1u) << Describe(r);
  bool named = false;
  for (const gc::Problem& p : r.samples) {
    if (p.kind == ProblemKind::kDanglingRef) named = p.oid == fx_.b && p.other == fx_.a;
  }
  EXPECT_TRUE(named) << Describe(r);
  gc::VerifyReport fixed = Verify(s_.get(), true);
  EXPECT_EQ(fixed.repaired.refs_dropped, 1u);
  gc::VerifyReport after = Verify(s_.get());
  EXPECT_TRUE(after.clean()) << Describe(after);
  std::string rec;
  ASSERT_TRUE(s_->Load(Oid(fx_.a), &rec).ok());
  EXPECT_TRUE(RecordRefs(rec).empty());
  EXPECT_EQ(test::CountOf(s_.get(), fx_.c), 0u);  // queued now
}

TEST_F(VerifyTest, LostQueueEntry) {
  ASSERT_TRUE(bdb_testing::EraseQueueEntry(s_.get(), Oid(fx_.e)).ok());
  // (pending_count still says 1: a counter problem too)
  ExpectDetectedAndRepaired(ProblemKind::kMissingQueueEntry, 1, 1);
  EXPECT_FALSE(Exists(s_.get(), fx_.e));  // collected once re-queued
  EXPECT_FALSE(Exists(s_.get(), fx_.f));
}

TEST_F(VerifyTest, QueuedWithReferrers) {
  ASSERT_TRUE(bdb_testing::AddQueueEntry(s_.get(), Oid(fx_.b)).ok());
  ExpectDetectedAndRepaired(ProblemKind::kQueuedNonZero, 1, 1);
  EXPECT_TRUE(Exists(s_.get(), fx_.b));
}

TEST_F(VerifyTest, RootOnTheQueue) {
  ASSERT_TRUE(bdb_testing::AddQueueEntry(s_.get(), Oid(0)).ok());
  ExpectDetectedAndRepaired(ProblemKind::kQueuedNonZero, 1, 1);
  EXPECT_TRUE(Exists(s_.get(), 0));
}

TEST_F(VerifyTest, QueuedMissingOid) {
  ASSERT_TRUE(bdb_testing::AddQueueEntry(s_.get(), Oid(4242)).ok());
  ExpectDetectedAndRepaired(ProblemKind::kQueuedMissing, 1, 1);
}

TEST_F(VerifyTest, LeakedCycle) {
  std::vector<uint64_t> ring = g_->Ring(40);
  g_->Set(0, {fx_.a, fx_.d, ring[0]});
  ASSERT_TRUE(g_->Flush().ok());
  g_->Put(0, {fx_.a, fx_.d});
  gc::VerifyReport r = Verify(s_.get());
  EXPECT_EQ(r.leaked, 40u);
  EXPECT_EQ(r.collectable, 2u);  // e and f are queued garbage, not leaks
  gc::VerifyReport fixed = Verify(s_.get(), true);
  EXPECT_EQ(fixed.repaired.unreachable_deleted, 42u);
  for (uint64_t x : ring) EXPECT_FALSE(Exists(s_.get(), x));
  ExpectDetectedAndRepaired(ProblemKind::kLeaked, 0);  // clean now
  EXPECT_EQ(Stats(s_.get()).object_count, 5u);
  EXPECT_EQ(s_->Sync().size(), 42u);
}

TEST_F(VerifyTest, CycleHangingOffQueuedGarbageIsLeaked) {
  // e (count 0, queued) -> ring: counting frees e, never the ring.
  std::vector<uint64_t> ring = g_->Ring(3);
  g_->Set(fx_.e, {fx_.f, ring[0]});
  ASSERT_TRUE(g_->Flush().ok());
  gc::VerifyReport r = Verify(s_.get());
  EXPECT_EQ(r.unreachable, 5u);
  EXPECT_EQ(r.collectable, 2u);
  EXPECT_EQ(r.leaked, 3u);
  EXPECT_EQ(r.total_problems(), 3u) << Describe(r);
}

TEST_F(VerifyTest, WrongCounter) {
  ASSERT_TRUE(bdb_testing::SetObjectCounter(s_.get(), 77).ok());
  ExpectDetectedAndRepaired(ProblemKind::kMetaMismatch, 1);
  EXPECT_EQ(Stats(s_.get()).object_count, 5u);
}

TEST_F(VerifyTest, MalformedRecordIsReportedNotChanged) {
  ASSERT_TRUE(bdb_testing::PutRecordRaw(s_.get(), Oid(fx_.d), std::string("\0\0\1", 3)).ok());
  gc::VerifyReport r = Verify(s_.get());
  EXPECT_EQ(r.count(ProblemKind::kMalformedRecord), 1u) << Describe(r);
  // Repair is refused: what the record references is unknown, so a
  // recount without it could free objects it keeps alive.
  ASSERT_TRUE(bdb_testing::SetCount(s_.get(), Oid(fx_.b), 3).ok());
  gc::VerifyReport fixed = Verify(s_.get(), true);
  EXPECT_NE(fixed.repair_refused.find("1 record(s) do not parse"), std::string::npos)
      << Describe(fixed);
  EXPECT_EQ(fixed.repaired.counts_set, 0u);
  EXPECT_EQ(test::CountOf(s_.get(), fx_.b), 3u);
  gc::VerifyReport after = Verify(s_.get());
  EXPECT_EQ(after.count(ProblemKind::kMalformedRecord), 1u);
  std::string rec;
  ASSERT_TRUE(s_->Load(Oid(fx_.d), &rec).ok());
  EXPECT_EQ(rec, std::string("\0\0\1", 3));
}

TEST_F(VerifyTest, SeveralFaultsAtOnce) {
  ASSERT_TRUE(bdb_testing::SetCount(s_.get(), Oid(fx_.a), 9).ok());
  ASSERT_TRUE(bdb_testing::EraseQueueEntry(s_.get(), Oid(fx_.e)).ok());
  ASSERT_TRUE(bdb_testing::AddQueueEntry(s_.get(), Oid(fx_.c)).ok());
  std::vector<uint64_t> ring = g_->Ring(5);
  g_->Set(fx_.d, {ring[0]});
  ASSERT_TRUE(g_->Flush().ok());
  g_->Put(fx_.d, {});
  gc::VerifyReport r = Verify(s_.get());
  EXPECT_EQ(r.count(ProblemKind::kCountMismatch), 1u);
  EXPECT_EQ(r.count(ProblemKind::kMissingQueueEntry), 1u);
  EXPECT_EQ(r.count(ProblemKind::kQueuedNonZero), 1u);
  EXPECT_EQ(r.count(ProblemKind::kLeaked), 5u);
  gc::VerifyReport fixed = Verify(s_.get(), true);
  gc::VerifyReport after = Verify(s_.get());
  EXPECT_TRUE(after.clean()) << Describe(after);
  for (uint64_t x : g_->Reachable()) EXPECT_TRUE(Exists(s_.get(), x)) << x;
}

TEST_F(VerifyTest, LargerStoreSpansManyChunks) {
  // Enough records and refs for several bulk-read chunks and recount
  // flushes, with a fault at the far end.
  std::vector<uint64_t> tree = g_->Tree(20000, 5);
  g_->Set(0, {fx_.a, fx_.d, tree[0]});
  ASSERT_TRUE(g_->Flush().ok());
  gc::VerifyReport r = Verify(s_.get());
  EXPECT_TRUE(r.clean()) << Describe(r);
  EXPECT_EQ(r.records, 20007u);
  EXPECT_EQ(r.refs, 20000u - 1 + 6);
  ASSERT_TRUE(bdb_testing::SetCount(s_.get(), Oid(tree.back()), 0).ok());
  ExpectDetectedAndRepaired(ProblemKind::kCountMismatch, 1);
}

// --- The commands.

TEST_F(VerifyTest, VerifyCommandExitCodesJsonAndRepair) {
  ASSERT_TRUE(bdb_testing::SetCount(s_.get(), Oid(fx_.b), 5).ok());
  ASSERT_TRUE(s_->Close().ok());
  std::string home = dir_.Sub("home");

  CommandResult r = RunCommand("verify " + home + " --json");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("\"clean\": false"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"count_mismatch\": 1"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find('\r'), std::string::npos);  // no progress bar when piped

  r = RunCommand("verify " + home);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("count_mismatch: oid " + std::to_string(fx_.b) + " count 5, referrers 1"),
            std::string::npos)
      << r.out;

  r = RunCommand("verify " + home + " --repair");
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("after repair: clean"), std::string::npos) << r.out;

  r = RunCommand("verify " + home + " --json");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\"clean\": true"), std::string::npos);

  EXPECT_EQ(RunCommand("verify").code, 2);
  EXPECT_EQ(RunCommand("verify " + home + " --bogus").code, 2);
  EXPECT_EQ(RunCommand("verify " + dir_.Sub("nonexistent")).code, 1);
  EXPECT_EQ(RunCommand("verify --help").code, 0);
}

TEST_F(VerifyTest, GcCommandCollectsCyclesAndCompacts) {
  std::vector<uint64_t> tree = g_->Tree(5000, 4);
  std::vector<uint64_t> ring = g_->Ring(100);
  g_->Set(0, {fx_.a, fx_.d, tree[0], ring[0]});
  ASSERT_TRUE(g_->Flush().ok());
  g_->Put(0, {fx_.a, fx_.d});
  ASSERT_TRUE(s_->Close().ok());
  std::string home = dir_.Sub("home");

  CommandResult r = RunCommand("gc " + home);
  EXPECT_EQ(r.code, 0) << r.err;
  // The queue: e, f and the tree; the ring stays.
  EXPECT_NE(r.out.find("collected      5002 objects"), std::string::npos) << r.out;
  r = RunCommand("verify " + home);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("leaked"), std::string::npos);

  r = RunCommand("gc " + home + " --cycles --compact");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("collected      100 objects"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("traced         5 reachable"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("compacted"), std::string::npos) << r.out;
  r = RunCommand("verify " + home);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(RunCommand("gc").code, 2);
  EXPECT_EQ(RunCommand("gc --help").code, 0);
}

TEST(VerifyDuringATrace, AnInterruptedSweepIsNotAProblem) {
  // A server stopped (or killed) in the middle of a pack: the trace resumes
  // at the next open.  Half a garbage ring is deleted, the other half still
  // references it: verify knows the trace will finish the job.
  TempDir dir;
  std::vector<uint64_t> live, ring, ring2;
  {
    auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
    Graph g(s.get());
    g.New();
    live = g.Chain(5);
    ring = g.Ring(20);
    ring2 = g.Ring(7);  // not reached by the sweep yet
    g.Set(0, {live[0], ring[0], ring2[0]});
    ASSERT_TRUE(g.Flush().ok());
    g.Put(0, {live[0]});
    bool started = false, done = false;
    ASSERT_TRUE(bdb_testing::StartTrace(s.get(), &started).ok());
    bdb_testing::TraceInfo info;
    do {
      uint64_t n = 0;
      ASSERT_TRUE(bdb_testing::TraceStep(s.get(), 2, &n, &done).ok());
      ASSERT_TRUE(bdb_testing::GetTraceInfo(s.get(), &info).ok());
      ASSERT_FALSE(done);
    } while (!(info.phase == 2 && info.cursor > ring[8]));
    ASSERT_TRUE(s->Close().ok());
  }
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  EXPECT_FALSE(Exists(s.get(), ring[0]));
  EXPECT_TRUE(Exists(s.get(), ring[19]));
  gc::VerifyReport r = Verify(s.get());
  EXPECT_TRUE(r.clean()) << Describe(r);
  EXPECT_TRUE(r.trace_running);
  EXPECT_EQ(r.trace_swept_refs, 1u);  // ring[19] -> ring[0]
  // What is left of the ring is a chain now: counting frees it.
  uint64_t left = 0;
  for (uint64_t x : ring) left += Exists(s.get(), x);
  EXPECT_GT(left, 0u);
  EXPECT_LT(left, ring.size());
  EXPECT_EQ(r.collectable, left);
  EXPECT_EQ(r.trace_will_free, ring2.size());
  EXPECT_EQ(r.leaked, 0u);
  EXPECT_NE(Describe(r).find("a trace (pack) is in progress"), std::string::npos);
  // Repair has nothing to do, and the finished trace leaves a clean store.
  gc::VerifyReport fixed = Verify(s.get(), true);
  EXPECT_EQ(fixed.total_problems(), 0u);
  CollectReport rep;
  ASSERT_TRUE(s->Collect(true, &rep).ok());
  for (uint64_t x : ring) EXPECT_FALSE(Exists(s.get(), x));
  for (uint64_t x : ring2) EXPECT_FALSE(Exists(s.get(), x));
  r = Verify(s.get());
  EXPECT_TRUE(r.clean()) << Describe(r);
  EXPECT_FALSE(r.trace_running);
  EXPECT_EQ(r.unreachable, 0u);
}

TEST(VerifyDuringATrace, ADanglingRefFromALiveObjectIsStillAProblem) {
  TempDir dir;
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  Graph g(s.get());
  g.New();
  std::vector<uint64_t> live = g.Chain(5);
  std::vector<uint64_t> ring = g.Ring(6);
  g.Set(0, {live[0], ring[0]});
  ASSERT_TRUE(g.Flush().ok());
  g.Put(0, {live[0]});
  bool started = false, done = false;
  ASSERT_TRUE(bdb_testing::StartTrace(s.get(), &started).ok());
  bdb_testing::TraceInfo info;
  do {
    uint64_t n = 0;
    ASSERT_TRUE(bdb_testing::TraceStep(s.get(), 1, &n, &done).ok());
    ASSERT_TRUE(bdb_testing::GetTraceInfo(s.get(), &info).ok());
  } while (!(info.phase == 2 && info.cursor > live[4]));
  // A live record loses its child behind the trace's back.
  ASSERT_TRUE(bdb_testing::EraseRecord(s.get(), Oid(live[2])).ok());
  ASSERT_TRUE(bdb_testing::EraseCount(s.get(), Oid(live[2])).ok());
  gc::VerifyReport r = Verify(s.get());
  EXPECT_EQ(r.count(gc::ProblemKind::kDanglingRef), 1u) << Describe(r);
}

// --- Records of every size Berkeley DB stores (issue 11, finding 1): a
// record of 1 MiB or more made the chunked reader stop, so verify reported
// everything after it as missing and --repair dropped live references.

// A record of exactly `size` bytes (header + data, no refs) for `oid`.
std::string RecordOfSize(uint64_t oid, size_t size) {
  std::string data(size - kRecordHeaderSize, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131 + oid) & 0xff);
  return PackRecord(Oid(oid), data, {});
}

TEST(VerifyLargeRecords, EverySizeAmongSmallOnesIsReadAndRepairIsANoOp) {
  TempDir dir;
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  ASSERT_NE(s, nullptr);
  Graph g(s.get());
  g.New();
  const size_t kMiB = 1u << 20;
  const std::vector<size_t> sizes = {kMiB - 1, kMiB, kMiB + 1, 16 * kMiB, kMiB, 3 * kMiB / 2};
  // root -> every object; small[i] -> small[i+1] -> ... -> a chain of 50
  // small records after the last big one.
  std::vector<uint64_t> smalls, bigs;
  for (size_t i = 0; i < sizes.size(); ++i) {
    smalls.push_back(g.New());
    bigs.push_back(g.New());
  }
  std::vector<uint64_t> tail;
  for (int i = 0; i < 50; ++i) tail.push_back(g.New());
  std::vector<uint64_t> everything = {0};
  CommitBatch batch;
  uint64_t big_bytes = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    uint64_t next = i + 1 < smalls.size() ? smalls[i + 1] : tail[0];
    ASSERT_TRUE(batch.Add(Oid(smalls[i]), Rec(smalls[i], {next})).ok());
    std::string rec = RecordOfSize(bigs[i], sizes[i]);
    ASSERT_EQ(rec.size(), sizes[i]);
    big_bytes += rec.size();
    ASSERT_TRUE(batch.Add(Oid(bigs[i]), rec).ok());
    everything.push_back(smalls[i]);
    everything.push_back(bigs[i]);
  }
  for (size_t i = 0; i < tail.size(); ++i) {
    std::vector<uint64_t> refs;
    if (i + 1 < tail.size()) refs.push_back(tail[i + 1]);
    ASSERT_TRUE(batch.Add(Oid(tail[i]), Rec(tail[i], refs)).ok());
    everything.push_back(tail[i]);
  }
  std::vector<uint64_t> root_refs(everything.begin() + 1, everything.end());
  ASSERT_TRUE(batch.Add(Oid(0), Rec(0, root_refs)).ok());
  Status st = s->Commit(batch);
  ASSERT_TRUE(st.ok()) << st.ToString();
  const uint64_t records = everything.size();
  ASSERT_EQ(Stats(s.get()).object_count, records);

  gc::VerifyReport r = Verify(s.get());
  EXPECT_TRUE(r.clean()) << Describe(r);
  EXPECT_EQ(r.records, records) << Describe(r);
  EXPECT_EQ(r.reachable, records);
  EXPECT_GT(r.record_bytes, big_bytes);

  gc::VerifyReport fixed = Verify(s.get(), /*repair=*/true);
  EXPECT_EQ(fixed.total_problems(), 0u) << Describe(fixed);
  EXPECT_EQ(fixed.repaired.refs_dropped, 0u);
  EXPECT_EQ(fixed.repaired.counts_removed, 0u);
  EXPECT_EQ(fixed.repaired.unreachable_deleted, 0u);
  CollectReport rep;
  ASSERT_TRUE(s->Collect(true, &rep).ok());
  EXPECT_EQ(rep.collected, 0u);
  EXPECT_EQ(Stats(s.get()).object_count, records);
  for (uint64_t x : everything) EXPECT_TRUE(Exists(s.get(), x)) << x;
  for (size_t i = 0; i < bigs.size(); ++i) {
    std::string rec;
    ASSERT_TRUE(s->Load(Oid(bigs[i]), &rec).ok());
    EXPECT_TRUE(rec == RecordOfSize(bigs[i], sizes[i])) << "oid " << bigs[i];
  }
  EXPECT_TRUE(Verify(s.get()).clean());
}

TEST(Compact, ReturnsFreedPagesToTheFileSystem) {
  TempDir dir;
  auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
  Graph g(s.get());
  g.New();
  std::vector<uint64_t> tree = g.Tree(30000, 8);
  g.Set(0, {tree[0]});
  ASSERT_TRUE(g.Flush().ok());
  g.Put(0, {});
  CollectReport rep;
  ASSERT_TRUE(s->Collect(false, &rep).ok());
  ASSERT_EQ(rep.collected, tree.size());
  CompactReport c;
  ASSERT_TRUE(CompactStorage(s.get(), &c).ok());
  EXPECT_GT(c.pages_freed, 0u);
  EXPECT_LT(c.file_bytes_after, c.file_bytes_before / 2) << c.file_bytes_before;
  EXPECT_TRUE(Verify(s.get()).clean());
}

}  // namespace
}  // namespace durus::gctest
