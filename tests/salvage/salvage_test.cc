// Salvage (bdb/salvage.h, `durus-bdb salvage`): records read straight from
// a home's files, then loaded by migrate into a working home.  Real homes,
// real damage (bytes overwritten in records.db and in the log), the real
// binary for the command-line cases.
#include "bdb/salvage.h"

#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "bdb/schema.h"
#include "migrate/dump_format.h"
#include "migrate/file_io.h"
#include "migrate/migrate.h"
#include "tests/core/test_util.h"

namespace durus::test {

// A records.db written by Berkeley DB directly, with or without page
// checksums (format 2 and format 1 homes), whatever this tree's homes use
// (records_file.cc).
void WriteRecordsFile(const std::string& home, const std::map<uint64_t, std::string>& records,
                      bool checksums);

namespace {

using Records = std::map<uint64_t, std::string>;

ToolRun RunTool(const std::string& args) {
  return RunCommandLine(std::string(DURUS_BDB_BINARY) + " " + args);
}

std::string ReadAll(const std::string& path) {
  std::string bytes;
  if (!util::ReadFile(path, &bytes)) bytes.clear();
  return bytes;
}

// Every file of a directory with its bytes: a home must not change.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  std::string cmd = "ls -A '" + dir + "'";
  FILE* p = popen(cmd.c_str(), "r");
  char line[512];
  while (p != nullptr && fgets(line, sizeof line, p) != nullptr) {
    std::string name(line);
    if (!name.empty() && name.back() == '\n') name.pop_back();
    files[name] = ReadAll(dir + "/" + name);
  }
  if (p != nullptr) pclose(p);
  return files;
}

// A root referencing everything; small records and large ones (several
// pages: overflow pages).
Records Population(uint64_t small, uint32_t seed) {
  std::mt19937 rng(seed);
  Records g;
  std::vector<uint64_t> all;
  const uint64_t large[] = {20000, 100000, 1100000};
  uint64_t n = small + 3;
  for (uint64_t oid = 1; oid < n; ++oid) {
    all.push_back(oid);
    std::vector<uint64_t> refs;
    if (oid + 1 < n && rng() % 3 == 0) refs.push_back(oid + 1);
    size_t len = oid <= 3 ? large[oid - 1] : 20 + rng() % 300;
    std::string payload(len, '\0');
    for (char& c : payload) c = static_cast<char>('a' + rng() % 26);
    g[oid] = Rec(oid, refs, payload);
  }
  g[0] = Rec(0, all, "root", "PersistentDict");
  return g;
}

// The migrated home's records, its invariants checked.
Records LoadHome(const std::string& home) {
  BdbOptions o;
  o.readonly = true;
  o.gc_background = false;
  o.create_if_missing = false;
  auto s = OpenBdb(home, o);
  if (!s) return {};
  std::vector<std::string> problems = CheckConsistency(s.get());
  EXPECT_TRUE(problems.empty()) << problems.front();
  Records r = ScanAll(s.get());
  EXPECT_TRUE(s->Close().ok());
  return r;
}

Status Migrate(const std::string& dump, const std::string& home, bool allow_dangling,
               migrate::MigrateReport* report) {
  migrate::MigrateOptions o;
  o.source = dump;
  o.home = home;
  o.verify = true;
  o.allow_dangling = allow_dangling;
  o.cache_mb = 16;
  return migrate::Migrate(o, report);
}

// Salvage through the library into a map (every oid must come once).
Status SalvageToMap(const std::string& home, SalvageOptions o, Records* got, SalvageReport* r) {
  o.max_samples = 100000;
  return SalvageHome(
      home, o,
      [&](Oid oid, std::string_view rec) {
        EXPECT_TRUE(got->emplace(oid.value(), std::string(rec)).second) << "oid " << oid.value();
        return Status::OK();
      },
      r);
}

uint32_t PageSize(const std::string& file) {
  std::string head = ReadAll(file).substr(0, 32);
  uint32_t ps = 0;
  memcpy(&ps, head.data() + 20, 4);
  return ps;
}

// Overwrite `len` bytes at `offset` of `path` with random bytes.
void Garble(const std::string& path, uint64_t offset, size_t len, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string junk(len, '\0');
  for (char& c : junk) c = static_cast<char>(rng());
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
}

// Btree leaf pages of a Berkeley DB file (page type byte 25 == P_LBTREE).
std::vector<uint64_t> LeafPages(const std::string& file) {
  std::string bytes = ReadAll(file);
  uint32_t ps = PageSize(file);
  std::vector<uint64_t> leaves;
  for (uint64_t p = 1; ps != 0 && (p + 1) * ps <= bytes.size(); ++p) {
    if (bytes[p * ps + 25] == 5) leaves.push_back(p);
  }
  return leaves;
}

// --- the whole path: salvage -> migrate -> the same objects ---------------

TEST(SalvageTest, HealthyHomeRoundTripsThroughMigrate) {
  TempDir dir;
  std::string home = dir.Sub("home");
  Records want = Population(400, 1);
  MakeHome(home, want);
  auto before = Snapshot(home);
  ToolRun r = RunTool("salvage " + home + " " + dir.Sub("dump"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("salvaged " + std::to_string(want.size()) + " records"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("nothing was lost"), std::string::npos) << r.out;
  EXPECT_EQ(Snapshot(home), before) << "salvage changed the home it read";

  migrate::MigrateReport mr;
  Status st = Migrate(dir.Sub("dump"), dir.Sub("new"), false, &mr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(LoadHome(dir.Sub("new")), want);
  EXPECT_EQ(mr.next_oid, want.rbegin()->first + 1);  // meta.db's next_oid
}

TEST(SalvageTest, JsonReportIsOneObject) {
  TempDir dir;
  std::string home = dir.Sub("home");
  MakeHome(home, Population(20, 2));
  ToolRun r = RunTool("salvage --json " + home + " " + dir.Sub("dump"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.out.find("\"records\":23,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"complete\":true"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"next_oid_from_meta\":true"), std::string::npos) << r.out;
}

// --- damage in records.db --------------------------------------------------

TEST(SalvageTest, GarbledPagesLoseOnlyTheirRecordsAndTheReportNamesThem) {
  TempDir dir;
  std::string home = dir.Sub("home");
  Records want = Population(3000, 3);
  MakeHome(home, want);
  std::string records = home + "/" + schema::kRecordsFile;
  uint32_t ps = PageSize(records);
  std::vector<uint64_t> leaves = LeafPages(records);
  ASSERT_GT(leaves.size(), 20u);
  // Three leaves in the middle: their headers and item tables.
  std::set<uint64_t> hit = {leaves[leaves.size() / 3], leaves[leaves.size() / 2],
                            leaves[2 * leaves.size() / 3]};
  for (uint64_t p : hit) Garble(records, p * ps, 400, static_cast<uint32_t>(p));

  Records got;
  SalvageReport rep;
  Status st = SalvageToMap(home, {}, &got, &rep);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(rep.Complete());
  EXPECT_FALSE(rep.db_clean);
  for (uint64_t p : hit) {
    EXPECT_TRUE(std::binary_search(rep.damaged_pages.begin(), rep.damaged_pages.end(), p))
        << "page " << p << " not reported";
  }
  // Homes have page checksums (format 2): those pages failed theirs.
  EXPECT_EQ(rep.checksum_failed_pages, std::vector<uint64_t>(hit.begin(), hit.end()));
  // What was salvaged is exactly what was stored; what was not is named.
  std::set<uint64_t> missing;
  for (auto& [oid, rec] : want) {
    auto it = got.find(oid);
    if (it == got.end()) {
      missing.insert(oid);
    } else {
      EXPECT_EQ(it->second, rec) << "oid " << oid;
    }
  }
  EXPECT_EQ(got.size(), rep.records);
  ASSERT_FALSE(missing.empty());
  EXPECT_LT(missing.size(), 200u);  // three pages' worth, not more
  ASSERT_EQ(missing.count(0), 0u);
  // The root references every object: each lost one is a dangling reference.
  std::set<uint64_t> dangling;
  for (Oid o : rep.dangling_samples) dangling.insert(o.value());
  EXPECT_EQ(dangling, missing);
  EXPECT_EQ(rep.dangling, missing.size());

  // The command: the dump loads with --allow-dangling into a clean home.
  ToolRun r = RunTool("salvage " + home + " " + dir.Sub("dump"));
  ASSERT_EQ(r.status, 3) << r.out;
  EXPECT_NE(r.out.find("--allow-dangling"), std::string::npos) << r.out;
  migrate::MigrateReport mr;
  st = Migrate(dir.Sub("dump"), dir.Sub("refused"), false, &mr);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  st = Migrate(dir.Sub("dump"), dir.Sub("new"), true, &mr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  // migrate drops each reference to a lost object from its record.
  Records expect;
  uint64_t pairs = 0;
  for (auto& [oid, rec] : got) {
    RecordView v;
    ASSERT_TRUE(UnpackRecord(rec, &v).ok());
    std::string kept;
    for (size_t i = 0; i < v.refs.size(); i += 8) {
      if (missing.count(GetU64(v.refs.data() + i)) != 0) {
        ++pairs;
      } else {
        kept.append(v.refs.data() + i, 8);
      }
    }
    expect[oid] = PackRecordRaw(v.oid, v.data, kept);
  }
  EXPECT_EQ(mr.dangling, pairs);
  EXPECT_EQ(LoadHome(dir.Sub("new")), expect);
}

TEST(SalvageTest, GarbledOverflowPageLosesThatRecordOnly) {
  TempDir dir;
  std::string home = dir.Sub("home");
  Records want = Population(50, 4);
  MakeHome(home, want);
  std::string records = home + "/" + schema::kRecordsFile;
  std::string bytes = ReadAll(records);
  uint32_t ps = PageSize(records);
  // Overflow pages (type 7) hold the large records; garble one in the
  // middle of the 1.1 MB record's chain.
  std::vector<uint64_t> overflow;
  for (uint64_t p = 1; (p + 1) * ps <= bytes.size(); ++p) {
    if (bytes[p * ps + 25] == 7) overflow.push_back(p);
  }
  ASSERT_GT(overflow.size(), 200u);
  Garble(records, overflow[overflow.size() - 100] * ps, 64, 9);
  Records got;
  SalvageReport rep;
  Status st = SalvageToMap(home, {}, &got, &rep);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(rep.Complete());
  for (auto& [oid, rec] : got) EXPECT_EQ(rec, want[oid]) << "oid " << oid;
  EXPECT_EQ(got.count(3), 0u) << "the damaged large record came back";
  EXPECT_EQ(got.size(), want.size() - 1);
  ASSERT_EQ(rep.dangling_samples.size(), 1u);
  EXPECT_EQ(rep.dangling_samples[0].value(), 3u);
}

// --- a home that cannot be opened ------------------------------------------

// A writer that commits `records` to `home` in commits of `per_commit` and
// dies without closing (no checkpoint: the commits are only in the log).
void CrashAfterCommits(const std::string& home, const Records& records, int per_commit) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    BdbOptions o;
    o.gc_background = false;
    std::unique_ptr<Storage> s;
    if (!OpenBdbStorage(home, o, &s).ok()) _exit(2);
    auto it = records.begin();
    while (it != records.end()) {
      CommitBatch batch;
      for (int i = 0; i < per_commit && it != records.end(); ++i, ++it) {
        if (!batch.Add(Oid(it->first), it->second).ok()) _exit(3);
      }
      if (!s->Commit(batch).ok()) _exit(4);
    }
    _exit(0);  // no Close: a crash
  }
  int wst = 0;
  ASSERT_EQ(waitpid(pid, &wst, 0), pid);
  ASSERT_TRUE(WIFEXITED(wst) && WEXITSTATUS(wst) == 0) << wst;
}

TEST(SalvageTest, LogGarbledInTheMiddleStillSalvagesTheDatabaseFile) {
  TempDir dir;
  std::string home = dir.Sub("home");
  // The layout this case needs: the crashed session's whole log in one
  // file, so that pages written after the damage point reached records.db.
  // (A small home's log files are 2 MiB since the footprint work: the
  // damage would land in a later file, and replay up to it succeed.)
  ASSERT_EQ(setenv("DURUS_BDB_LOG_FILE_MB", "32", 1), 0);
  struct Unset {
    ~Unset() { unsetenv("DURUS_BDB_LOG_FILE_MB"); }
  } unset;
  Records first = Population(1000, 5);
  MakeHome(home, first);  // closed: records.db holds all of these
  // A writer that dies without a checkpoint: recovery needs its log.
  Records later;
  for (uint64_t oid = 5000; oid < 7000; ++oid) later[oid] = Rec(oid, {}, std::string(200, 'L'));
  ASSERT_NO_FATAL_FAILURE(CrashAfterCommits(home, later, 50));  // many commits: a long log
  std::string log;
  for (int i = 99; i > 0 && log.empty(); --i) {  // the last log file
    char name[32];
    snprintf(name, sizeof name, "/log.%010d", i);
    if (access((home + name).c_str(), F_OK) == 0) log = home + name;
  }
  ASSERT_FALSE(log.empty());
  // Log files are preallocated: the middle of what was written.
  std::string bytes = ReadAll(log);
  size_t end = bytes.find_last_not_of('\0');
  ASSERT_NE(end, std::string::npos);
  ASSERT_GT(end, 200000u);
  Garble(log, end / 2, 4096, 11);
  {
    std::unique_ptr<Storage> s;
    BdbOptions o;
    o.gc_background = false;
    o.create_if_missing = false;
    Status open = OpenBdbStorage(home, o, &s);
    EXPECT_FALSE(open.ok()) << "the damaged log did not stop the open";
    EXPECT_NE(open.message().find("salvage"), std::string::npos) << open.ToString();
  }
  Records got;
  SalvageReport rep;
  Status s = SalvageToMap(home, {}, &got, &rep);
  ASSERT_TRUE(s.ok()) << s.ToString();
  // Everything the file held at the last checkpoint; of the later commits,
  // whatever pages reached the file (exactly as committed).
  for (auto& [oid, rec] : first) EXPECT_EQ(got[oid], rec) << "oid " << oid;
  for (auto& [oid, rec] : got) {
    if (first.count(oid) == 0) {
      EXPECT_EQ(rec, later[oid]) << "oid " << oid;
    }
  }
  // The log cannot be replayed up to the damage here: pages written after
  // it reached records.db ("past end of log").  Said, and not complete.
  EXPECT_TRUE(rep.not_closed_cleanly);
  EXPECT_FALSE(rep.log_replayed);
  EXPECT_NE(rep.replay_problem.find("past end of log"), std::string::npos) << rep.replay_problem;
  EXPECT_NE(rep.log_damage.find("log."), std::string::npos) << rep.log_damage;
  EXPECT_FALSE(rep.Complete());
}

// A writer that crashed after commits made since the last checkpoint (they
// are only in the log), and then refcounts.db damaged, so that the home no
// longer opens.  Salvage used to read records.db alone and miss those
// commits (the corruption matrix's K2: 97 of 345 records stale); it now
// replays the log into a copy first.
TEST(SalvageTest, CrashedHomeReplaysItsLogSoNoAcknowledgedCommitIsMissing) {
  TempDir dir;
  std::string home = dir.Sub("home");
  Records want = Population(200, 9);
  MakeHome(home, want);  // closed cleanly: a checkpoint
  Records later;
  for (uint64_t oid = 4; oid < 104; ++oid) later[oid] = want[oid] = Rec(oid, {}, "after");
  ASSERT_NO_FATAL_FAILURE(CrashAfterCommits(home, later, 10));  // ten acknowledged commits
  ASSERT_EQ(truncate((home + "/" + schema::kRefcountsFile).c_str(), 0), 0);
  auto before = Snapshot(home);

  ToolRun r = RunTool("salvage " + home + " " + dir.Sub("dump"));
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("its log was replayed into a copy first"), std::string::npos) << r.out;
  migrate::MigrateReport mr;
  Status st = Migrate(dir.Sub("dump"), dir.Sub("new"), false, &mr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(LoadHome(dir.Sub("new")), want) << "an acknowledged commit is missing";

  // Asked not to replay: the loss is reported, and the exit status says so.
  ToolRun nr = RunTool("salvage " + home + " " + dir.Sub("dump2") + " --no-replay --json");
  EXPECT_EQ(nr.status, 3) << nr.out;
  EXPECT_NE(nr.out.find("\"log_replayed\":false"), std::string::npos) << nr.out;
  EXPECT_NE(nr.out.find("--no-replay"), std::string::npos) << nr.out;
  EXPECT_EQ(Snapshot(home), before) << "salvage changed the home it read";
  // No copy left behind beside the dump.
  ToolRun ls = RunCommandLine("ls -A " + dir.path());
  EXPECT_EQ(ls.out.find("durus-bdb-replay"), std::string::npos) << ls.out;
}

// --- checksummed files (DB_CHKSUM) -----------------------------------------

TEST(SalvageTest, PageFailingItsChecksumIsSkippedAndReported) {
  TempDir dir;
  std::string home = dir.Sub("home");
  ASSERT_EQ(mkdir(home.c_str(), 0755), 0);
  Records want = Population(2000, 6);
  WriteRecordsFile(home, want, true);
  std::string records = home + "/" + schema::kRecordsFile;
  uint32_t ps = PageSize(records);
  std::vector<uint64_t> leaves = LeafPages(records);
  ASSERT_GT(leaves.size(), 10u);
  uint64_t a = leaves[leaves.size() / 4], b = leaves[3 * leaves.size() / 4];
  // A few bytes inside the items: structurally fine, only the checksum tells.
  Garble(records, a * ps + ps - 200, 4, 1);
  Garble(records, b * ps + ps - 300, 4, 2);
  Records got;
  SalvageReport rep;
  SalvageOptions o;
  o.temp_dir = dir.path();
  Status st = SalvageToMap(home, o, &got, &rep);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(rep.checksum_failed_pages, (std::vector<uint64_t>{a, b}));
  EXPECT_FALSE(rep.structural_only);
  EXPECT_FALSE(rep.Complete());
  // Every record of the other pages, none damaged.
  for (auto& [oid, rec] : got) EXPECT_EQ(rec, want[oid]) << "oid " << oid;
  EXPECT_GT(got.size(), want.size() - 120);
  EXPECT_LT(got.size(), want.size());
  EXPECT_EQ(rep.dangling, want.size() - got.size());
  // The temporary copy is gone.
  EXPECT_EQ(Snapshot(dir.path()).size(), 1u);
}

TEST(SalvageTest, StructuralDamageWithoutChecksumsIsNamedByVerify) {
  TempDir dir;
  std::string home = dir.Sub("home");
  ASSERT_EQ(mkdir(home.c_str(), 0755), 0);
  Records want = Population(2000, 12);
  WriteRecordsFile(home, want, false);  // a format 1 home's file
  std::string records = home + "/" + schema::kRecordsFile;
  uint32_t ps = PageSize(records);
  std::vector<uint64_t> leaves = LeafPages(records);
  ASSERT_GT(leaves.size(), 10u);
  uint64_t a = leaves[leaves.size() / 2];
  Garble(records, a * ps, 300, 3);  // header and item table
  Records got;
  SalvageReport rep;
  Status st = SalvageToMap(home, {}, &got, &rep);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(rep.checksum_failed_pages.empty());
  EXPECT_TRUE(std::binary_search(rep.damaged_pages.begin(), rep.damaged_pages.end(), a))
      << "page " << a << " not named";
  EXPECT_FALSE(rep.db_clean);
  EXPECT_FALSE(rep.meta_next_oid);  // no meta.db: max oid + 1
  EXPECT_EQ(rep.next_oid, want.rbegin()->first + 1);
  for (auto& [oid, rec] : got) EXPECT_EQ(rec, want[oid]) << "oid " << oid;
  EXPECT_LT(got.size(), want.size());
  EXPECT_EQ(rep.dangling, want.size() - got.size());
}

// --- the command's errors ---------------------------------------------------

TEST(SalvageCliTest, ClearErrorsAndNothingWritten) {
  TempDir dir;
  ToolRun r = RunTool("salvage " + dir.Sub("missing") + " " + dir.Sub("d1"));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.out.find("does not exist"), std::string::npos) << r.out;

  std::ofstream(dir.Sub("file")) << "x";
  r = RunTool("salvage " + dir.Sub("file") + " " + dir.Sub("d2"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("not a directory"), std::string::npos) << r.out;

  ASSERT_EQ(mkdir(dir.Sub("empty").c_str(), 0755), 0);
  r = RunTool("salvage " + dir.Sub("empty") + " " + dir.Sub("d3"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("not a durus-bdb home"), std::string::npos) << r.out;

  std::string home = dir.Sub("home");
  MakeHome(home, Population(5, 7));
  auto before = Snapshot(home);
  r = RunTool("salvage " + home + " " + home + "/dump");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("outside"), std::string::npos) << r.out;
  r = RunTool("salvage " + home + " " + dir.Sub("file"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("already exists"), std::string::npos) << r.out;
  // A records.db that is not a Berkeley DB file at all.
  std::string fake = dir.Sub("fake");
  ASSERT_EQ(mkdir(fake.c_str(), 0755), 0);
  std::ofstream(fake + "/records.db") << std::string(8192, 'z');
  r = RunTool("salvage " + fake + " " + dir.Sub("d4"));
  EXPECT_EQ(r.status, 3) << r.out;  // an empty dump, everything reported lost
  EXPECT_NE(r.out.find("salvaged 0 records"), std::string::npos) << r.out;
  EXPECT_EQ(Snapshot(home), before);
  for (const char* d : {"d1", "d2", "d3"}) EXPECT_NE(access(dir.Sub(d).c_str(), F_OK), 0) << d;
}

TEST(SalvageCliTest, HeldHomeIsRefusedUnlessForced) {
  TempDir dir;
  std::string home = dir.Sub("home");
  Records want = Population(30, 8);
  MakeHome(home, want);
  BdbOptions o;
  o.gc_background = false;
  auto held = OpenBdb(home, o);
  ASSERT_TRUE(held);
  ToolRun r = RunTool("salvage " + home + " " + dir.Sub("dump"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("in use by process"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--force"), std::string::npos) << r.out;
  EXPECT_NE(access(dir.Sub("dump").c_str(), F_OK), 0);
  r = RunTool("salvage --force " + home + " " + dir.Sub("dump"));
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("in use by"), std::string::npos) << r.out;
  EXPECT_TRUE(held->Close().ok());
}

// --- aggressive: stale versions lose to the live ones -----------------------

TEST(SalvageTest, AggressiveKeepsTheLiveVersion) {
  TempDir dir;
  std::string home = dir.Sub("home");
  Records want = Population(600, 10);
  MakeHome(home, want);
  {
    BdbOptions o;
    o.gc_background = false;
    auto s = OpenBdb(home, o);
    ASSERT_TRUE(s);
    CommitBatch batch;
    // New versions of different sizes: the old bytes stay in the pages.
    for (uint64_t oid = 10; oid < 600; oid += 2) {
      std::vector<uint64_t> refs;
      for (Oid r : RecordRefs(want[oid])) refs.push_back(r.value());
      want[oid] = Rec(oid, refs, std::string(oid % 50, 'N'));
      ASSERT_TRUE(batch.Add(Oid(oid), want[oid]).ok());
    }
    ASSERT_TRUE(s->Commit(batch).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  Records got;
  SalvageReport rep;
  SalvageOptions o;
  o.aggressive = true;
  Status st = SalvageToMap(home, o, &got, &rep);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(rep.passes, 3);  // ordinary, aggressive, verification
  for (auto& [oid, rec] : want) EXPECT_EQ(got[oid], rec) << "oid " << oid;
  EXPECT_EQ(got.size(), want.size() + rep.aggressive_only);
}

// --- the parser --------------------------------------------------------------

struct Parsed {
  std::vector<std::pair<uint64_t, std::string>> records;
  std::vector<std::string> problems;
  uint64_t bad_lines = 0;
};

Parsed Parse(const std::string& text, size_t piece) {
  Parsed p;
  SalvagePairer pairer(
      [&](Oid oid, std::string_view rec, bool) { p.records.emplace_back(oid.value(), rec); },
      [&](SalvagePairer::Problem, const std::string& what) { p.problems.push_back(what); });
  SalvageTextParser parser([&](std::string_view b, bool ok) { pairer.Item(b, ok); },
                           [&] { pairer.SectionEnd(); });
  for (size_t i = 0; i < text.size(); i += piece) parser.Feed(text.substr(i, piece));
  parser.Finish();
  p.bad_lines = parser.bad_lines();
  return p;
}

std::string Hex(std::string_view b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (unsigned char c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

TEST(SalvageParserTest, PairsResyncAndPlaceholders) {
  std::string r1 = Rec(1, {2}), r2 = Rec(2, {}), r3 = Rec(3, {1}), r5 = Rec(5, {});
  std::string text = "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n";
  text += " " + Hex(Oid(1).Bytes()) + "\n " + Hex(r1) + "\n";                           // a pair
  text += " " + Hex(Oid(2).Bytes()) + "\n " + Hex(std::string("UNKNOWN\0", 8)) + "\n";  // lost
  text += " " + Hex(r3) + "\n";                                // key skipped: embedded oid
  text += " " + Hex(Oid(4).Bytes()) + "\n " + Hex(r5) + "\n";  // wrong oid
  text += " 0g\n";                                             // not hex
  text += "garbage line\n";
  text += " " + Hex(Oid(2).Bytes()) + "\n " + Hex(r2) + "\n";
  text += " " + Hex(Oid(7).Bytes()) + "\nDATA=END\n";  // key at the end
  for (size_t piece : {1, 3, 7, 1000}) {
    Parsed p = Parse(text, piece);
    ASSERT_EQ(p.records.size(), 3u) << piece;
    EXPECT_EQ(p.records[0], std::make_pair(uint64_t{1}, r1));
    EXPECT_EQ(p.records[1], std::make_pair(uint64_t{3}, r3));
    EXPECT_EQ(p.records[2], std::make_pair(uint64_t{2}, r2));
    ASSERT_EQ(p.problems.size(), 4u) << piece;
    EXPECT_NE(p.problems[0].find("oid 2: record unreadable"), std::string::npos) << p.problems[0];
    EXPECT_NE(p.problems[1].find("oid 4"), std::string::npos) << p.problems[1];
    EXPECT_NE(p.problems[3].find("oid 7"), std::string::npos) << p.problems[3];
    EXPECT_EQ(p.bad_lines, 1u);
  }
}

TEST(SalvageParserTest, PrintableFormat) {
  std::string r = Rec(9, {}, std::string("a\\b\x01\xff", 5));
  std::string esc;
  for (unsigned char c : r) {
    if (c == '\\') {
      esc += "\\\\";
    } else if (isprint(c)) {
      esc += static_cast<char>(c);
    } else {
      esc += "\\" + Hex(std::string(1, static_cast<char>(c)));
    }
  }
  std::string text = "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n";
  text += " \\00\\00\\00\\00\\00\\00\\00\\09\n " + esc + "\nDATA=END\n";
  Parsed p = Parse(text, 5);
  ASSERT_EQ(p.records.size(), 1u);
  EXPECT_EQ(p.records[0].second, r);
  EXPECT_TRUE(p.problems.empty());
}

}  // namespace
}  // namespace durus::test
