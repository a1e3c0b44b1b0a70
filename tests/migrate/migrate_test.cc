// migrate/ and bdb/bulk_loader: sources built byte by byte here (Shelf,
// dumps), real homes in temp directories, real child processes killed
// mid-migration.  The sources written by real Durus are covered by
// test_migrate_durus.py.
#include "migrate/migrate.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>

#include "bdb/bulk_loader.h"
#include "engine/record.h"
#include "migrate/dump_format.h"
#include "migrate/external_sorter.h"
#include "migrate/source.h"
#include "tests/core/test_util.h"
#include "tests/migrate/migrate_test_util.h"

namespace durus::migrate {
namespace {

using namespace test_util;  // NOLINT(build/namespaces): the shared helpers

// --- the external sort --------------------------------------------------

TEST(ExternalSorterTest, ManyRunsMergeInOrder) {
  TempDir dir;
  ExternalSorter<uint64_t> sorter(dir.path(), 1);  // 1024 items per run
  std::mt19937_64 rng(7);
  std::vector<uint64_t> expect;
  for (int i = 0; i < 150000; ++i) {  // ~147 runs: more than one merge level
    uint64_t v = rng() % 100000;
    expect.push_back(v);
    ASSERT_TRUE(sorter.Add(v).ok());
  }
  ASSERT_TRUE(sorter.Finish().ok());
  EXPECT_GT(sorter.runs_written(), ExternalSorter<uint64_t>::kMaxFanIn);
  std::sort(expect.begin(), expect.end());
  std::vector<uint64_t> got;
  for (;;) {
    uint64_t v;
    bool done = false;
    ASSERT_TRUE(sorter.Next(&v, &done).ok());
    if (done) break;
    got.push_back(v);
  }
  EXPECT_EQ(got, expect);
  // The runs were unlinked at creation: nothing is left in the directory.
  EXPECT_TRUE(IsEmptyOrAbsent(dir.path()));
}

TEST(ExternalSorterTest, InMemoryWhenSmall) {
  TempDir dir;
  ExternalSorter<uint64_t> sorter(dir.path(), 1 << 20);
  for (uint64_t v : {5, 3, 9, 3}) ASSERT_TRUE(sorter.Add(v).ok());
  ASSERT_TRUE(sorter.Finish().ok());
  EXPECT_EQ(sorter.runs_written(), 0u);
  std::vector<uint64_t> got;
  uint64_t v;
  bool done = false;
  while (sorter.Next(&v, &done).ok() && !done) got.push_back(v);
  EXPECT_EQ(got, (std::vector<uint64_t>{3, 3, 5, 9}));
}

// --- Shelf sources ------------------------------------------------------

TEST(MigrateShelfTest, LastVersionWinsAndCountsFollowIt) {
  TempDir dir;
  // Version 1 of oid 1 references 2 and 3; the last references only 3.
  // Oid 4 appears only in the initial transaction, unreferenced.
  ShelfImage img =
      MakeShelf({{0, Rec(0, {1})},
                 {1, Rec(1, {2, 3}, "v1")},
                 {2, Rec(2, {})},
                 {3, Rec(3, {})},
                 {4, Rec(4, {})}},
                {{{1, Rec(1, {2}, "v2")}}, {{1, Rec(1, {3}, "v3")}, {5, Rec(5, {0})}}});
  WriteFile(dir.Sub("s.durus"), img.bytes);
  MigrateReport r;
  Status s = RunMigrate(dir.Sub("s.durus"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(r.format, SourceFormat::kShelf);
  EXPECT_EQ(r.source_records, 8u);
  EXPECT_EQ(r.objects, 6u);
  EXPECT_TRUE(r.verified);
  EXPECT_EQ(r.next_oid, 6u);
  Records got = CheckHome(dir.Sub("home"));
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[1], Rec(1, {3}, "v3"));
  auto st = OpenReadonly(dir.Sub("home"));
  EXPECT_EQ(test::CountOf(st.get(), 0), 1u);  // from 5
  EXPECT_EQ(test::CountOf(st.get(), 2), 0u);  // only old versions referenced it
  EXPECT_EQ(test::CountOf(st.get(), 3), 1u);
  EXPECT_EQ(test::Pending(st.get()), (std::vector<uint64_t>{2, 4, 5}));
  StorageStats stats;
  ASSERT_TRUE(st->GetStats(&stats).ok());
  EXPECT_EQ(stats.pending_garbage, 3u);
  EXPECT_EQ(stats.next_oid, 6u);
  EXPECT_EQ(r.pending, 3u);
}

TEST(MigrateShelfTest, LargeRandomGraphThroughManySortRuns) {
  TempDir dir;
  Records g = RandomGraph(30000, 11);
  std::vector<std::pair<uint64_t, std::string>> initial(g.begin(), g.end());
  // Overwrites in later transactions, out of order.
  std::vector<std::vector<std::pair<uint64_t, std::string>>> later(3);
  std::mt19937 rng(3);
  for (int t = 0; t < 3; ++t) {
    for (int i = 0; i < 2000; ++i) {
      uint64_t oid = rng() % 30000;
      std::string rec = Rec(oid, {rng() % 30000}, "overwritten" + std::to_string(t));
      if (RecordRefs(rec).empty()) continue;
      later[t].push_back({oid, rec});
      g[oid] = rec;
    }
  }
  WriteFile(dir.Sub("s.durus"), MakeShelf(initial, later).bytes);
  MigrateReport r;
  Status s = RunMigrate(dir.Sub("s.durus"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(r.verified);
  EXPECT_EQ(CheckHome(dir.Sub("home")), g);
}

TEST(MigrateShelfTest, EmptyShelfGivesEmptyHome) {
  TempDir dir;
  WriteFile(dir.Sub("s.durus"), MakeShelf({}, {}).bytes);
  MigrateReport r;
  ASSERT_TRUE(RunMigrate(dir.Sub("s.durus"), dir.Sub("home"), &r).ok());
  EXPECT_EQ(r.objects, 0u);
  auto st = OpenReadonly(dir.Sub("home"));
  ASSERT_TRUE(st);
  StorageStats stats;
  ASSERT_TRUE(st->GetStats(&stats).ok());
  EXPECT_EQ(stats.object_count, 0u);
  EXPECT_EQ(stats.next_oid, 0u);  // so Durus's first new_oid() is the root
}

TEST(MigrateShelfTest, TornLastTransactionSkippedOrStrictFails) {
  TempDir dir;
  ShelfImage img = MakeShelf({{0, Rec(0, {1})}, {1, Rec(1, {})}},
                             {{{1, Rec(1, {}, "ok")}}, {{1, Rec(1, {}, "torn")}}});
  uint64_t torn_at = img.txn_offsets[1];
  std::string cut = img.bytes.substr(0, img.bytes.size() - 5);  // crash mid-write
  WriteFile(dir.Sub("s.durus"), cut);

  MigrateReport r;
  Status s = RunMigrate(dir.Sub("s.durus"), dir.Sub("strict"), &r, true, /*strict=*/true);
  ASSERT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("torn last transaction at byte offset " + std::to_string(torn_at)),
            std::string::npos)
      << s.message();
  EXPECT_TRUE(IsEmptyOrAbsent(dir.Sub("strict")));  // nothing half-written left

  s = RunMigrate(dir.Sub("s.durus"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(r.torn_tail);
  EXPECT_EQ(r.torn_offset, torn_at);
  EXPECT_EQ(r.torn_bytes, cut.size() - torn_at);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(CheckHome(dir.Sub("home"))[1], Rec(1, {}, "ok"));

  // A few bytes of a transaction length only.
  WriteFile(dir.Sub("s2.durus"), img.bytes.substr(0, torn_at + 3));
  s = RunMigrate(dir.Sub("s2.durus"), dir.Sub("home2"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(r.torn_tail);
  EXPECT_EQ(r.torn_offset, torn_at);
}

TEST(MigrateShelfTest, TruncatedInsideInitialTransactionIsCorruption) {
  TempDir dir;
  ShelfImage img = MakeShelf({{0, Rec(0, {1})}, {1, Rec(1, {})}}, {});
  WriteFile(dir.Sub("s.durus"), img.bytes.substr(0, 40));
  MigrateReport r;
  Status s = RunMigrate(dir.Sub("s.durus"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("byte offset 8"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
  EXPECT_TRUE(IsEmptyOrAbsent(dir.Sub("home")));
}

TEST(MigrateShelfTest, CorruptRecordReportedWithItsOffset) {
  TempDir dir;
  std::string bad = Rec(1, {});
  bad[8] = '\x7f';  // data length runs far past the record
  ShelfImage img = MakeShelf({{0, Rec(0, {1})}, {1, bad}}, {});
  uint64_t item_offset = 16 + Item(0, Rec(0, {1})).size();
  WriteFile(dir.Sub("s.durus"), img.bytes);
  MigrateReport r;
  Status s = RunMigrate(dir.Sub("s.durus"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("byte offset " + std::to_string(item_offset)), std::string::npos)
      << s.message();
  EXPECT_TRUE(IsEmptyOrAbsent(dir.Sub("home")));
}

TEST(MigrateShelfTest, ItemOidDifferentFromRecordOidIsCorruption) {
  TempDir dir;
  ShelfImage img = MakeShelf({{0, Rec(0, {})}}, {{{1, Rec(2, {})}}});
  WriteFile(dir.Sub("s.durus"), img.bytes);
  MigrateReport r;
  Status s = RunMigrate(dir.Sub("s.durus"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("byte offset " + std::to_string(img.txn_offsets[0] + 8)),
            std::string::npos)
      << s.message();
}

TEST(MigrateSourceTest, EmptyFileAndWrongMagicAreRefused) {
  TempDir dir;
  WriteFile(dir.Sub("empty"), "");
  WriteFile(dir.Sub("junk"), "this is not a Durus file at all");
  MigrateReport r;
  Status s = RunMigrate(dir.Sub("empty"), dir.Sub("h1"), &r);
  ASSERT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find("empty"), std::string::npos);
  s = RunMigrate(dir.Sub("junk"), dir.Sub("h2"), &r);
  ASSERT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find("unknown format"), std::string::npos);
  s = RunMigrate(dir.Sub("missing"), dir.Sub("h3"), &r);
  ASSERT_TRUE(s.IsNotFound()) << s.ToString();
  // Forcing a format on the wrong file.
  MigrateOptions o;
  o.source = dir.Sub("junk");
  o.home = dir.Sub("h4");
  o.format = SourceFormat::kFileStorage2;
  s = Migrate(o, &r);
  ASSERT_TRUE(s.IsInvalidArgument()) << s.ToString();
  for (const char* h : {"h1", "h2", "h3", "h4"}) EXPECT_TRUE(IsEmptyOrAbsent(dir.Sub(h))) << h;
}

TEST(MigrateSourceTest, FileStorage2LastWinsAcrossTheIndex) {
  TempDir dir;
  WriteFile(dir.Sub("fs2"), MakeDfs20({{{0, Rec(0, {1})}, {1, Rec(1, {}, "a")}},
                                       {{1, Rec(1, {}, "b")}},
                                       {{2, Rec(2, {0})}, {1, Rec(1, {2}, "c")}}}));
  MigrateReport r;
  Status s = RunMigrate(dir.Sub("fs2"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(r.format, SourceFormat::kFileStorage2);
  Records got = CheckHome(dir.Sub("home"));
  EXPECT_EQ(got, (Records{{0, Rec(0, {1})}, {1, Rec(1, {2}, "c")}, {2, Rec(2, {0})}}));
}

// Damaged sources of every kind: every reader returns a Status (never
// crashes, never hands out a malformed record), whatever the damage.
TEST(MigrateSourceTest, ReadersSurviveRandomDamage) {
  TempDir dir;
  Records g = RandomGraph(300, 17);
  std::vector<std::pair<uint64_t, std::string>> all(g.begin(), g.end());
  std::vector<std::pair<uint64_t, std::string>> half(all.begin(), all.begin() + 150);
  std::vector<std::pair<uint64_t, std::string>> rest(all.begin() + 150, all.end());
  MakeHome(dir.Sub("home"), g);
  ExportDump(dir.Sub("home"), dir.Sub("d.dump"));
  struct Image {
    SourceFormat format;
    std::string bytes;
  } images[] = {
      {SourceFormat::kShelf, MakeShelf(half, {rest, {{5, Rec(5, {1})}}}).bytes},
      {SourceFormat::kFileStorage2, MakeDfs20({half, rest, {{5, Rec(5, {1})}}})},
      {SourceFormat::kDump, ReadFile(dir.Sub("d.dump"))},
  };
  std::mt19937 rng(99);
  int errors = 0, oks = 0;
  for (const Image& img : images) {
    for (int round = 0; round < 150; ++round) {
      std::string b = img.bytes;
      switch (round % 3) {
        case 0: b.resize(rng() % b.size()); break;
        case 1:
          for (int i = 0; i < 3; ++i) b[rng() % b.size()] ^= static_cast<char>(1 + rng() % 255);
          break;
        case 2: {
          size_t at = rng() % (b.size() - 8);
          for (int i = 0; i < 8; ++i) b[at + i] = static_cast<char>(rng());
          break;
        }
      }
      std::string path = dir.Sub("damaged");
      WriteFile(path, b);
      std::unique_ptr<RecordSource> src;
      SourceOptions so;
      so.strict = round % 2 == 0;
      Status s = OpenSource(path, img.format, so, &src);
      uint64_t n = 0;
      while (s.ok()) {
        SourceItem item;
        bool done = false;
        s = src->Next(&item, &done);
        if (!s.ok() || done) break;
        RecordView v;
        ASSERT_TRUE(ValidateRecord(item.oid, item.record, &v).ok());
        ASSERT_LT(++n, 10000u);
      }
      (s.ok() ? oks : errors)++;
    }
  }
  EXPECT_GT(errors, 100);  // the damage was noticed...
  EXPECT_GT(oks, 0);       // ...and torn tails / harmless flips still read
}

// --- targets ------------------------------------------------------------

TEST(MigrateTargetTest, NonEmptyTargetsAreRefusedAndLeftAlone) {
  TempDir dir;
  WriteFile(dir.Sub("s.durus"), MakeShelf({{0, Rec(0, {})}}, {}).bytes);
  MigrateReport r;
  // A directory with someone's file in it.
  ASSERT_EQ(mkdir(dir.Sub("foreign").c_str(), 0755), 0);
  WriteFile(dir.Sub("foreign/notes.txt"), "mine");
  Status s = RunMigrate(dir.Sub("s.durus"), dir.Sub("foreign"), &r);
  ASSERT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find("not empty"), std::string::npos);
  EXPECT_EQ(ReadFile(dir.Sub("foreign/notes.txt")), "mine");
  // A complete home.
  Records g = RandomGraph(50, 1);
  MakeHome(dir.Sub("home"), g);
  s = RunMigrate(dir.Sub("s.durus"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find("already a durus-bdb home"), std::string::npos) << s.message();
  EXPECT_EQ(CheckHome(dir.Sub("home")), g);
  // A plain file.
  s = RunMigrate(dir.Sub("s.durus"), dir.Sub("s.durus"), &r);
  ASSERT_FALSE(s.ok());
  // An empty existing directory is fine.
  ASSERT_EQ(mkdir(dir.Sub("empty").c_str(), 0755), 0);
  s = RunMigrate(dir.Sub("s.durus"), dir.Sub("empty"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
}

// --- dangling references --------------------------------------------------

TEST(MigrateDanglingTest, FailsByDefaultStripsWhenAllowed) {
  TempDir dir;
  // 2 references 9 and 7, neither stored; 1 references 2 and 8 (missing).
  WriteFile(dir.Sub("s.durus"),
            MakeShelf({{0, Rec(0, {1})}, {1, Rec(1, {2, 8})}, {2, Rec(2, {7, 9}, "x")}}, {}).bytes);
  MigrateReport r;
  Status s = RunMigrate(dir.Sub("s.durus"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("3 reference(s)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("oid 2 references missing oid 7"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("--allow-dangling"), std::string::npos);
  EXPECT_TRUE(IsEmptyOrAbsent(dir.Sub("home")));

  s = RunMigrate(dir.Sub("s.durus"), dir.Sub("home"), &r, /*verify=*/true, false,
                 /*allow_dangling=*/true);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(r.dangling, 3u);
  EXPECT_TRUE(r.verified);
  Records got = CheckHome(dir.Sub("home"));  // consistent: no dangling ref stored
  EXPECT_EQ(got[1], Rec(1, {2}));
  EXPECT_EQ(got[2], Rec(2, {}, "x"));
  EXPECT_EQ(r.record_bytes, got[0].size() + got[1].size() + got[2].size());
}

// --- dumps, homes as sources, round trips --------------------------------

TEST(MigrateRoundTripTest, HomeToShelfToHomeAndDumpToHome) {
  TempDir dir;
  Records g = RandomGraph(5000, 5);
  MakeHome(dir.Sub("a"), g);
  for (ExportFormat f : {ExportFormat::kShelf, ExportFormat::kDump}) {
    std::string name = f == ExportFormat::kShelf ? "out.durus" : "out.dump";
    ExportOptions eo;
    eo.home = dir.Sub("a");
    eo.dest = dir.Sub(name);
    eo.format = f;
    ExportReport er;
    Status s = Export(eo, &er);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(er.objects, g.size());
    // Refuses to overwrite.
    EXPECT_TRUE(Export(eo, &er).IsInvalidArgument());
    MigrateReport r;
    s = RunMigrate(dir.Sub(name), dir.Sub("b-" + name), &r);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(r.format, f == ExportFormat::kShelf ? SourceFormat::kShelf : SourceFormat::kDump);
    EXPECT_EQ(CheckHome(dir.Sub("b-" + name)), g) << name;
  }
  // A home as a source.
  MigrateReport r;
  Status s = RunMigrate(dir.Sub("a"), dir.Sub("c"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(r.format, SourceFormat::kBdb);
  EXPECT_EQ(CheckHome(dir.Sub("c")), g);
}

TEST(MigrateDumpTest, DumpKeepsNextOidAndDetectsDamage) {
  TempDir dir;
  Records g = RandomGraph(3000, 9);
  MakeHome(dir.Sub("a"), g);
  {
    BdbOptions o;
    o.gc_background = false;
    auto st = test::OpenBdb(dir.Sub("a"), o);
    Oid oid;
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(st->NewOid(&oid).ok());
    test::Commit(st.get(), {{3100, Rec(3100, {0})}});  // next_oid now 3101
    g[3100] = Rec(3100, {0});
  }
  ExportDump(dir.Sub("a"), dir.Sub("d.dump"));
  MigrateReport r;
  ASSERT_TRUE(RunMigrate(dir.Sub("d.dump"), dir.Sub("b"), &r).ok());
  EXPECT_EQ(r.next_oid, 3101u);
  EXPECT_EQ(CheckHome(dir.Sub("b")), g);

  std::string dump = ReadFile(dir.Sub("d.dump"));
  // A flipped byte inside the first block's compressed data.
  std::string bad = dump;
  bad[kDumpHeaderSize + kDumpBlockHeaderSize + 100] ^= 0x55;
  WriteFile(dir.Sub("bad.dump"), bad);
  Status s = RunMigrate(dir.Sub("bad.dump"), dir.Sub("c"), &r);
  ASSERT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("byte offset " + std::to_string(kDumpHeaderSize)), std::string::npos)
      << s.message();
  EXPECT_TRUE(IsEmptyOrAbsent(dir.Sub("c")));
  // Truncated: no trailer.
  WriteFile(dir.Sub("short.dump"), dump.substr(0, dump.size() - kDumpTrailerSize));
  s = RunMigrate(dir.Sub("short.dump"), dir.Sub("c"), &r);
  ASSERT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
  // A damaged header.
  bad = dump;
  bad[20] ^= 1;
  WriteFile(dir.Sub("hdr.dump"), bad);
  s = RunMigrate(dir.Sub("hdr.dump"), dir.Sub("c"), &r);
  ASSERT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_TRUE(IsEmptyOrAbsent(dir.Sub("c")));
}

// --- interrupted migrations ----------------------------------------------

// Runs a migration in a child process that SIGKILLs itself at the first
// progress report of `phase` (a phase end if `at_end`).  Returns true if
// the child died by SIGKILL (i.e. the kill point was reached).
bool MigrateAndDie(const std::string& src, const std::string& home, const std::string& phase,
                   bool at_end, bool verify) {
  pid_t pid = fork();
  if (pid == 0) {
    MigrateReport r;
    Status s = RunMigrate(src, home, &r, verify, false, false, [&](const Progress& p) {
      if (phase == p.phase && p.phase_done == at_end) raise(SIGKILL);
    });
    _exit(s.ok() ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

TEST(MigrateInterruptedTest, KilledChildThenRerunEndsCompleteAndVerified) {
  TempDir dir;
  Records g = RandomGraph(20000, 21);
  std::vector<std::pair<uint64_t, std::string>> initial(g.begin(), g.end());
  WriteFile(dir.Sub("s.durus"), MakeShelf(initial, {}).bytes);
  struct Point {
    const char* phase;
    bool at_end;
    bool verify;
  } points[] = {{"load", false, false},   // mid-load (record 1024)
                {"load", true, false},    // all records in, no counts
                {"count", true, false},   // counts in, just before the flip
                {"verify", true, true}};  // verified, just before the flip
  int i = 0;
  for (const Point& p : points) {
    std::string home = dir.Sub("home" + std::to_string(i++));
    ASSERT_TRUE(MigrateAndDie(dir.Sub("s.durus"), home, p.phase, p.at_end, p.verify))
        << p.phase << (p.at_end ? " end" : "");
    // Never mistaken for a complete home.
    EXPECT_EQ(InspectMigrationTarget(home), MigrationTarget::kIncomplete);
    std::unique_ptr<Storage> st;
    Status s = OpenBdbStorage(home, BdbOptions(), &st);
    EXPECT_FALSE(s.ok()) << p.phase;
    // The re-run wipes it and completes.
    MigrateReport r;
    s = RunMigrate(dir.Sub("s.durus"), home, &r);
    ASSERT_TRUE(s.ok()) << p.phase << ": " << s.ToString();
    EXPECT_TRUE(r.restarted);
    EXPECT_TRUE(r.verified);
    EXPECT_EQ(InspectMigrationTarget(home), MigrationTarget::kComplete);
    EXPECT_EQ(CheckHome(home), g) << p.phase;
  }
}

// After the flip the home is a normal home: logged writes on pages the
// loader wrote unlogged survive a crash and recovery.
TEST(MigrateInterruptedTest, MigratedHomeRecoversAfterCrashOfItsWriter) {
  TempDir dir;
  Records g = RandomGraph(8000, 4);
  std::vector<std::pair<uint64_t, std::string>> initial(g.begin(), g.end());
  WriteFile(dir.Sub("s.durus"), MakeShelf(initial, {}).bytes);
  MigrateReport r;
  ASSERT_TRUE(RunMigrate(dir.Sub("s.durus"), dir.Sub("home"), &r, false).ok());
  pid_t pid = fork();
  if (pid == 0) {
    BdbOptions o;
    o.durability = Durability::kSync;
    o.gc_background = false;
    std::unique_ptr<Storage> s;
    if (!OpenBdbStorage(dir.Sub("home"), o, &s).ok()) _exit(2);
    for (uint64_t i = 0; i < 200; ++i) {
      CommitBatch b;
      uint64_t oid = (i * 37) % 8000;
      if (!b.Add(Oid(oid), Rec(oid, {0}, "after" + std::to_string(i))).ok()) _exit(3);
      if (!s->Commit(b).ok()) _exit(4);
    }
    raise(SIGKILL);  // no close, no checkpoint
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exit " << WEXITSTATUS(status);
  for (uint64_t i = 0; i < 200; ++i) {
    uint64_t oid = (i * 37) % 8000;
    g[oid] = Rec(oid, {0}, "after" + std::to_string(i));
  }
  // Recovery runs at open; the collector may then remove garbage, so
  // compare what every sync commit wrote and check the invariants.
  BdbOptions o;
  o.gc_background = false;
  auto s = test::OpenBdb(dir.Sub("home"), o);
  ASSERT_TRUE(s);
  EXPECT_TRUE(test::CheckConsistency(s.get()).empty());
  Records got = AllRecords(s.get());
  for (uint64_t i = 0; i < 200; ++i) {
    uint64_t oid = (i * 37) % 8000;
    EXPECT_EQ(got[oid], g[oid]);
  }
}

}  // namespace
}  // namespace durus::migrate
