// Footprint (issue 14): deleting half the objects of a home, collecting
// and compacting must not leave the home larger than before the deletion.
// A new user tried it: the log written by the deletion, the collection and
// the compaction itself stayed in the home, so `gc --compact` made it grow
// (67.9 -> 75.8 MiB) and `stat`'s figure did not drop.  The scenario runs
// as a user runs it: the application commits through the storage, then
// `durus-bdb gc --compact` and `durus-bdb stat --json` on the closed home.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "tests/gc/gc_test_util.h"
#include "tools/json.h"
#include "util/file.h"

namespace durus::gctest {
namespace {

// Real allocation of every regular file in `home` (st_blocks), by name.
std::map<std::string, uint64_t> AllocatedByFile(const std::string& home) {
  std::map<std::string, uint64_t> out;
  DIR* d = opendir(home.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    struct stat st;
    std::string p = home + "/" + e->d_name;
    if (stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) out[e->d_name] = st.st_blocks * 512ull;
  }
  closedir(d);
  return out;
}

uint64_t Total(const std::map<std::string, uint64_t>& files) {
  uint64_t t = 0;
  for (auto& [name, bytes] : files) t += bytes;
  return t;
}

std::string Describe(const std::map<std::string, uint64_t>& files) {
  std::string s;
  for (auto& [name, bytes] : files) s += "  " + name + " " + std::to_string(bytes) + "\n";
  return s + "  total " + std::to_string(Total(files)) + "\n";
}

// Options a user starts with (the defaults), the collector left to the
// command so the test decides when it runs.
BdbOptions UserOptions() {
  BdbOptions o;
  o.gc_background = false;
  return o;
}

constexpr uint64_t kObjects = 4000;
constexpr size_t kPayload = 900;  // ~3.6 MB of records

// A home with kObjects objects of ~1 KB, referenced from the root through
// 40 lists of 100 (committed 100 at a time, as an application would).
// Returns the lists' oids.
std::vector<uint64_t> MakeUserHome(const std::string& home) {
  std::vector<uint64_t> lists;
  auto s = test::OpenBdb(home, UserOptions());
  EXPECT_TRUE(s);
  if (!s) return lists;
  Oid root;
  EXPECT_TRUE(s->NewOid(&root).ok());
  for (uint64_t l = 0; l < kObjects / 100; ++l) {
    CommitBatch batch;
    std::vector<uint64_t> items;
    for (int i = 0; i < 100; ++i) {
      Oid o;
      EXPECT_TRUE(s->NewOid(&o).ok());
      items.push_back(o.value());
      std::string payload(kPayload, static_cast<char>('a' + (o.value() % 26)));
      EXPECT_TRUE(batch.Add(o, test::Rec(o.value(), {}, payload)).ok());
    }
    Oid list;
    EXPECT_TRUE(s->NewOid(&list).ok());
    EXPECT_TRUE(batch.Add(list, test::Rec(list.value(), items, "list")).ok());
    lists.push_back(list.value());
    EXPECT_TRUE(batch.Add(Oid(0), test::Rec(0, lists, "root")).ok());
    Status st = s->Commit(batch);
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  EXPECT_TRUE(s->Close().ok());
  return lists;
}

// stat --json: the by-kind figures add up to disk_bytes.
tools::Json StatJson(const std::string& home) {
  CommandResult r = RunCommand("stat --json " + home);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  tools::Json j = tools::Json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(j.is_object()) << r.out;
  if (!j.is_object()) return tools::Json::object();
  uint64_t sum = 0;
  for (const char* kind : {"records", "counts", "queue", "meta", "logs", "regions", "other"}) {
    EXPECT_TRUE(j["disk"].contains(kind)) << kind << ": " << r.out;
    sum += j["disk"][kind]["bytes"].get<uint64_t>();
  }
  EXPECT_EQ(sum, j["disk_bytes"].get<uint64_t>()) << r.out;
  EXPECT_EQ(sum, j["disk"]["total"]["bytes"].get<uint64_t>()) << r.out;
  return j;
}

TEST(Footprint, DeletingHalfThenCollectingAndCompactingDoesNotGrowTheHome) {
  test::KeptOnFailureTempDir dir;
  const std::string home = dir.Sub("home");
  std::vector<uint64_t> lists = MakeUserHome(home);
  ASSERT_EQ(lists.size(), kObjects / 100);
  // The home as the user sees it, closed, before the deletion.
  auto before = AllocatedByFile(home);

  // Delete half: the root drops every other list (one commit).
  std::vector<uint64_t> kept;
  for (size_t i = 0; i < lists.size(); i += 2) kept.push_back(lists[i]);
  {
    auto s = test::OpenBdb(home, UserOptions());
    ASSERT_TRUE(s);
    test::Commit(s.get(), {{0, test::Rec(0, kept, "root")}});
    StorageStats st;
    ASSERT_TRUE(s->GetStats(&st).ok());
    EXPECT_GT(st.pending_garbage, 0u);
    ASSERT_TRUE(s->Close().ok());
  }

  // A complete collection (queue and trace), then compaction, as the tool
  // runs them.
  CommandResult r = RunCommand("gc " + home + " --cycles");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto collected = AllocatedByFile(home);
  tools::Json stat_collected = StatJson(home);
  EXPECT_EQ(stat_collected["disk_bytes"].get<uint64_t>(), Total(collected));
  r = RunCommand("gc " + home + " --compact");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto compacted = AllocatedByFile(home);
  std::printf("before deletion:\n%safter collection:\n%safter compaction:\n%s",
              Describe(before).c_str(), Describe(collected).c_str(), Describe(compacted).c_str());
  std::printf("gc --compact said:\n%s", r.out.c_str());
  EXPECT_NE(r.out.find("and the region files removed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("    records"), std::string::npos) << r.out;

  EXPECT_LE(Total(compacted), Total(before)) << "before deletion:\n"
                                             << Describe(before) << "after compaction:\n"
                                             << Describe(compacted);
  // The records file itself shrank: half its pages went back.
  EXPECT_LT(compacted["records.db"], before["records.db"] * 3 / 4);

  // stat's figure is the files as gc left them, and it dropped.
  tools::Json stat_compacted = StatJson(home);
  EXPECT_EQ(stat_compacted["disk_bytes"].get<uint64_t>(), Total(compacted));
  EXPECT_LT(stat_compacted["disk_bytes"].get<uint64_t>(),
            stat_collected["disk_bytes"].get<uint64_t>());
  EXPECT_LT(stat_compacted["disk"]["records"]["bytes"].get<uint64_t>(),
            stat_collected["disk"]["records"]["bytes"].get<uint64_t>());
  EXPECT_EQ(stat_compacted["object_count"].get<uint64_t>(), kObjects / 2 + kept.size() + 1);

  // The home without its logs is whole: verify, then write and read on.
  r = RunCommand("verify " + home);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  {
    auto s = test::OpenBdb(home, UserOptions());
    ASSERT_TRUE(s);
    Oid o;
    ASSERT_TRUE(s->NewOid(&o).ok());
    kept.push_back(o.value());
    test::Commit(s.get(),
                 {{o.value(), test::Rec(o.value(), {}, "after")}, {0, test::Rec(0, kept, "root")}});
    ASSERT_TRUE(s->Close().ok());
    s = test::OpenBdb(home, UserOptions());
    ASSERT_TRUE(s);
    std::string rec;
    ASSERT_TRUE(s->Load(o, &rec).ok());
    EXPECT_EQ(rec, test::Rec(o.value(), {}, "after"));
    ASSERT_TRUE(s->Load(Oid(kept[0]), &rec).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  r = RunCommand("verify " + home);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

// With log archiving (point-in-time restore) the log sequence must go on:
// gc --compact compacts the tables but keeps the logs, and says so.
TEST(Footprint, CompactKeepsTheLogsOfAnArchivingHome) {
  test::KeptOnFailureTempDir dir;
  const std::string home = dir.Sub("home");
  {
    BdbOptions o = UserOptions();
    o.log_archive = dir.Sub("archive");
    auto s = test::OpenBdb(home, o);
    ASSERT_TRUE(s);
    test::Commit(s.get(), {{0, test::Rec(0, {}, "root")}});
    ASSERT_TRUE(s->Close().ok());
  }
  CommandResult r = RunCommand("gc " + home + " --compact");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("kept: log archiving is on"), std::string::npos) << r.out;
  bool has_log = false;
  for (auto& [name, bytes] : AllocatedByFile(home)) has_log |= name.rfind("log.", 0) == 0;
  EXPECT_TRUE(has_log);
  r = RunCommand("verify " + home);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

// A trace in progress survives gc --compact (without --cycles): its
// marks.db is kept (its LSNs reset with the other tables) and the trace
// resumes at the next open and frees the garbage ring.
TEST(Footprint, CompactKeepsATraceInProgress) {
  test::KeptOnFailureTempDir dir;
  const std::string home = dir.Sub("home");
  std::vector<uint64_t> ring;
  {
    auto s = test::OpenBdb(home, UserOptions());
    ASSERT_TRUE(s);
    Graph g(s.get());
    g.New();  // the root
    std::vector<uint64_t> chain = g.Chain(300);
    ring = g.Ring(50);
    g.Set(0, {chain[0]});
    ASSERT_TRUE(g.Flush().ok());
    bool started = false;
    ASSERT_TRUE(bdb_testing::StartTrace(s.get(), &started).ok());
    ASSERT_TRUE(started);
    uint64_t n = 0;
    bool done = false;
    ASSERT_TRUE(bdb_testing::TraceStep(s.get(), 10, &n, &done).ok());
    ASSERT_FALSE(done);
    ASSERT_TRUE(s->Close().ok());
  }
  CommandResult r = RunCommand("gc " + home + " --compact");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("and the region files removed"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("marks.db too"), std::string::npos) << r.out;
  EXPECT_TRUE(AllocatedByFile(home).count("marks.db")) << r.out;
  {
    auto s = test::OpenBdb(home, UserOptions());
    ASSERT_TRUE(s);
    bdb_testing::TraceInfo info;
    ASSERT_TRUE(bdb_testing::GetTraceInfo(s.get(), &info).ok());
    EXPECT_TRUE(info.running);
    CollectReport rep;
    ASSERT_TRUE(s->Collect(true, &rep).ok());
    EXPECT_EQ(rep.collected, ring.size());
    for (uint64_t x : ring) {
      std::string rec;
      EXPECT_TRUE(s->Load(Oid(x), &rec).IsNotFound()) << x;
    }
    ASSERT_TRUE(s->Close().ok());
  }
  r = RunCommand("verify " + home);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

// TrimClosedHome killed between its steps (bdb/home_trim.h) leaves a home
// that opens and loses nothing: (a) the tables' LSNs reset, the log still
// there; (b) the log removed, the region files still there.  Both after a
// crash (the lock file still names the holder, so the next opener checks
// the log and recovers).  The LSNs are reset as the trim resets them
// (DbEnv::lsn_reset), by Berkeley DB's db_load -r lsn.
TEST(Footprint, AnInterruptedTrimLeavesAHomeThatOpens) {
  if (system("command -v db5.3_load >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "db5.3_load (Debian db5.3-util) is not installed";
  }
  test::KeptOnFailureTempDir dir;
  const std::string home = dir.Sub("home");
  std::vector<uint64_t> lists = MakeUserHome(home);
  ASSERT_FALSE(lists.empty());
  auto crash = [&] {
    ASSERT_TRUE(util::WriteFile(home + "/durus-bdb.lock", "999999 durus-bdb gc\n"));
  };
  auto check = [&](const std::string& stage) {
    auto s = test::OpenBdb(home, UserOptions());
    ASSERT_TRUE(s) << stage;
    StorageStats st;
    ASSERT_TRUE(s->GetStats(&st).ok());
    EXPECT_EQ(st.object_count, kObjects + lists.size() + 1) << stage;
    std::string rec;
    EXPECT_TRUE(s->Load(Oid(lists.back()), &rec).ok()) << stage;
    Oid o;
    ASSERT_TRUE(s->NewOid(&o).ok());
    lists.push_back(o.value());
    test::Commit(s.get(),
                 {{o.value(), test::Rec(o.value(), {}, stage)}, {0, test::Rec(0, lists, "root")}});
    ASSERT_TRUE(s->Close().ok());
    CommandResult r = RunCommand("verify " + home);
    EXPECT_EQ(r.code, 0) << stage << ": " << r.out << r.err;
  };
  auto reset_lsns = [&] {
    for (const char* f : {"records.db", "refcounts.db", "pending.db", "meta.db"}) {
      std::string cmd = "db5.3_load -r lsn -h " + home + " " + f + " 2>&1";
      ASSERT_EQ(system(cmd.c_str()), 0) << cmd;
    }
  };
  // (a) Every table's LSNs reset, the log kept.
  reset_lsns();
  crash();
  check("lsn reset, log kept");
  // (b) The LSNs reset, then the log files gone, the regions left.
  reset_lsns();
  for (auto& [name, bytes] : AllocatedByFile(home)) {
    if (name.rfind("log.", 0) == 0) {
      ASSERT_EQ(unlink((home + "/" + name).c_str()), 0);
    }
  }
  bool regions = false;
  for (auto& [name, bytes] : AllocatedByFile(home)) regions |= name.rfind("__db.", 0) == 0;
  EXPECT_TRUE(regions);
  crash();
  check("log removed, regions kept");
}

// A new home's regions must take a large commit (the lock room is sized
// at open, to the home): 100,000 records (each referring to the one before, so the reference
// counts are written too) in one commit into a fresh home, then read back
// after a reopen.  Berkeley DB's lock table lives in the main region and
// its cache in the mpool region, both sized at open: too little room fails
// the commit ("Cannot allocate memory": out of locks).  A commit locks
// about one page per 3.5 KB it writes: 7,400 locks for records of 200 B,
// 20,800 for 600 B (of the 28,000 a home's main region has room for).
void CommitHundredThousandIntoAFreshHome(size_t payload) {
  test::KeptOnFailureTempDir dir;
  const std::string home = dir.Sub("home");
  constexpr int kRecords = 100000;
  std::vector<uint64_t> oids;
  {
    auto s = test::OpenBdb(home, UserOptions());
    ASSERT_TRUE(s);
    Oid root;  // the first oid is the root's
    ASSERT_TRUE(s->NewOid(&root).ok());
    ASSERT_EQ(root.value(), 0u);
    CommitBatch batch;
    uint64_t prev = 0;
    for (int i = 0; i < kRecords; ++i) {
      Oid o;
      ASSERT_TRUE(s->NewOid(&o).ok());
      std::vector<uint64_t> refs;
      if (prev != 0) refs.push_back(prev);
      ASSERT_TRUE(batch.Add(o, test::Rec(o.value(), refs, std::string(payload, 'x'))).ok());
      oids.push_back(o.value());
      prev = o.value();
    }
    ASSERT_TRUE(batch.Add(Oid(0), test::Rec(0, {prev}, "root")).ok());
    Status st = s->Commit(batch);
    ASSERT_TRUE(st.ok()) << payload << " B records: " << st.ToString();
    ASSERT_TRUE(s->Close().ok());
  }
  auto s = test::OpenBdb(home, UserOptions());
  ASSERT_TRUE(s);
  StorageStats st;
  ASSERT_TRUE(s->GetStats(&st).ok());
  EXPECT_EQ(st.object_count, static_cast<uint64_t>(kRecords) + 1);
  for (size_t i = 0; i < oids.size(); i += 9973) {
    std::string rec;
    ASSERT_TRUE(s->Load(Oid(oids[i]), &rec).ok()) << oids[i];
    std::vector<uint64_t> refs;
    if (i > 0) refs.push_back(oids[i - 1]);
    EXPECT_EQ(rec, test::Rec(oids[i], refs, std::string(payload, 'x'))) << oids[i];
  }
  ASSERT_TRUE(s->Close().ok());
}

TEST(Footprint, AHundredThousandRecordCommitIntoAFreshHome) {
  CommitHundredThousandIntoAFreshHome(200);
}

TEST(Footprint, AHundredThousandRecordCommitOfLargerRecordsIntoAFreshHome) {
  CommitHundredThousandIntoAFreshHome(600);
}

}  // namespace
}  // namespace durus::gctest
