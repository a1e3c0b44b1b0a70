// Point-in-time restore (issue 11): log archiving (bdb/log_archive.h), the
// backup's restore base (bdb/backup.h) and `restore` (bdb/restore.h).
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <thread>

#include "bdb/backup.h"
#include "bdb/gc/gc.h"
#include "bdb/log_archive.h"
#include "bdb/restore.h"
#include "tests/core/test_util.h"

namespace durus::test {
namespace {

using Records = std::map<uint64_t, std::string>;

// Small log files (1 MiB) so a few hundred KB of commits switch files, and
// prompt checkpoints so the archive sees them within the test.
BdbOptions ArchivingOptions(const std::string& archive) {
  BdbOptions o;
  o.log_archive = archive;
  o.log_file_mb = 1;
  o.checkpoint_interval_ms = 20;
  o.gc_background = false;
  return o;
}

std::vector<uint32_t> Logs(const std::string& dir) {
  std::vector<uint32_t> n;
  EXPECT_TRUE(bdb::ListLogFiles(dir, &n).ok()) << dir;
  return n;
}

// Root (oid 0) referencing children 1..n; `round` changes every payload.
void CommitTree(Storage* s, uint64_t first, uint64_t count, int round, Records* expected) {
  std::vector<std::pair<uint64_t, std::string>> batch;
  for (uint64_t oid = first; oid < first + count; ++oid) {
    std::string payload = "r" + std::to_string(round) + "-" + std::to_string(oid) +
                          std::string(1500 + oid % 500, static_cast<char>('a' + round % 26));
    batch.emplace_back(oid, Rec(oid, {}, payload));
  }
  std::vector<uint64_t> children;
  for (auto& [oid, rec] : *expected) {
    if (oid != 0) children.push_back(oid);
  }
  for (auto& [oid, rec] : batch) {
    if (!expected->count(oid)) children.push_back(oid);
  }
  std::sort(children.begin(), children.end());
  batch.emplace_back(0, Rec(0, children, "root" + std::to_string(round)));
  Commit(s, batch);
  for (auto& [oid, rec] : batch) (*expected)[oid] = rec;
}

// Waits until the background thread has archived every log file the home
// no longer needs (the home keeps at most its two newest).
void WaitForArchiving(const std::string& home) {
  for (int i = 0; i < 500 && Logs(home).size() > 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void ExpectHomeHolds(const std::string& home, const Records& expected) {
  BdbOptions o;
  o.gc_background = false;
  o.create_if_missing = false;
  auto s = OpenBdb(home, o);
  ASSERT_TRUE(s);
  StorageStats stats;
  ASSERT_TRUE(s->GetStats(&stats).ok());
  EXPECT_EQ(stats.object_count, expected.size());
  for (auto& [oid, rec] : expected) {
    std::string got;
    Status st = s->Load(Oid(oid), &got);
    ASSERT_TRUE(st.ok()) << "oid " << oid << ": " << st.ToString();
    EXPECT_EQ(got, rec) << "oid " << oid;
  }
  VerifyOptions vo;
  gc::VerifyReport vr;
  ASSERT_TRUE(VerifyStorage(s.get(), vo, &vr).ok());
  EXPECT_TRUE(vr.clean()) << vr.total_problems() << " problems";
}

// Sleeps into the next second and returns the second before it: every
// commit so far has a timestamp <= the value returned, every later one >.
time_t NextSecond() {
  time_t t = time(nullptr);
  while (time(nullptr) == t) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return t;
}

class PitrTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string home_ = dir_.Sub("home");
  std::string archive_ = dir_.Sub("archive");
  std::string backup_ = dir_.Sub("backup");
  std::string dest_ = dir_.Sub("dest");

  // An archiving home with 10 objects, and a hot backup of it.
  std::unique_ptr<Storage> StartWithBackup(Records* expected) {
    auto s = OpenBdb(home_, ArchivingOptions(archive_));
    CommitTree(s.get(), 1, 10, 0, expected);
    BackupReport br;
    Status st = BackupHome(home_, backup_, BackupOptions(), &br);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return s;
  }
};

// The scenario: a hot backup, 50 later commits, a commit that
// empties the root and a complete collection; a restore to just before
// that commit gives every object as it was, and verifies clean.
TEST_F(PitrTest, RestoreToJustBeforeTheRootWasEmptied) {
  Records expected;
  auto s = OpenBdb(home_, ArchivingOptions(archive_));
  ASSERT_TRUE(s);
  CommitTree(s.get(), 1, 200, 0, &expected);
  BackupReport br;
  Status st = BackupHome(home_, backup_, BackupOptions(), &br);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(br.online && br.restore_base);
  for (int i = 1; i <= 50; ++i) {
    // Rewrites 20 old objects and adds 5 new ones: about 2.5 MB of log.
    CommitTree(s.get(), 1 + (i * 20) % 200, 20, i, &expected);
    CommitTree(s.get(), 1000 + i * 5, 5, i, &expected);
  }
  WaitForArchiving(home_);
  EXPECT_GE(Logs(archive_).size(), 2u) << "the test needs archived log files";
  const time_t before = NextSecond();
  Commit(s.get(), {{0, Rec(0, {}, "emptied")}});
  CollectReport cr;
  ASSERT_TRUE(s->Collect(false, &cr).ok());
  EXPECT_EQ(cr.pending_after, 0u);
  StorageStats stats;
  ASSERT_TRUE(s->GetStats(&stats).ok());
  ASSERT_EQ(stats.object_count, 1u);
  ASSERT_TRUE(s->Close().ok());

  RestoreOptions ro;
  ro.log_dirs = {archive_, home_};  // the newest log file is still in the home
  ro.has_time = true;
  ro.to_time = before;
  RestoreReport rr;
  st = RestoreBackup(backup_, dest_, ro, &rr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(rr.verified);
  EXPECT_EQ(rr.problems, 0u);
  EXPECT_EQ(rr.objects, expected.size());
  EXPECT_GT(rr.last_log, rr.first_log);
  EXPECT_LE(rr.last_commit, before);
  EXPECT_GE(rr.last_commit, before - 60);
  ExpectHomeHolds(dest_, expected);

  // Without --to, as far as the logs go: the emptied root.
  RestoreReport all;
  ro.has_time = false;
  st = RestoreBackup(backup_, dir_.Sub("dest-all"), ro, &all);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(all.objects, 1u);
  EXPECT_EQ(all.problems, 0u);
}

TEST_F(PitrTest, RestoreToBeforeTheBackupIsRefused) {
  Records expected;
  auto s = OpenBdb(home_, ArchivingOptions(archive_));
  CommitTree(s.get(), 1, 10, 0, &expected);
  const time_t before = NextSecond();
  NextSecond();
  BackupReport br;
  ASSERT_TRUE(BackupHome(home_, backup_, BackupOptions(), &br).ok());
  RestoreOptions ro;
  ro.log_dirs = {archive_};
  ro.has_time = true;
  ro.to_time = before;
  RestoreReport rr;
  Status st = RestoreBackup(backup_, dest_, ro, &rr);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_NE(st.message().find("use an older backup"), std::string::npos) << st.message();
  EXPECT_TRUE(access(dest_.c_str(), F_OK) != 0) << "nothing written";
}

TEST_F(PitrTest, AGapInTheArchiveNamesTheMissingFile) {
  Records expected;
  auto s = StartWithBackup(&expected);
  for (int i = 1; i <= 40; ++i) CommitTree(s.get(), 1, 60, i, &expected);
  WaitForArchiving(home_);
  ASSERT_TRUE(s->Close().ok());
  std::vector<uint32_t> archived = Logs(archive_);
  ASSERT_GE(archived.size(), 3u);
  std::string missing = bdb::LogFileName(archived[archived.size() / 2]);
  ASSERT_EQ(unlink((archive_ + "/" + missing).c_str()), 0);
  RestoreOptions ro;
  ro.log_dirs = {archive_, home_};
  RestoreReport rr;
  Status st = RestoreBackup(backup_, dest_, ro, &rr);
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
  EXPECT_NE(st.message().find(missing + " is missing"), std::string::npos) << st.message();
}

// An archive directory that cannot be written (here: replaced by a plain
// file) keeps every log file in the home -- through checkpoints, a close
// (which releases logs explicitly) and a reopen; once it is back, they are
// archived and a restore over them gives every commit.
TEST_F(PitrTest, AnUnwritableArchiveKeepsTheLogsInTheHome) {
  Records expected;
  auto s = StartWithBackup(&expected);
  const std::string moved = dir_.Sub("archive-away");
  ASSERT_EQ(rename(archive_.c_str(), moved.c_str()), 0);
  {
    FILE* f = fopen(archive_.c_str(), "w");
    ASSERT_TRUE(f != nullptr);
    fclose(f);
  }
  const std::vector<uint32_t> archived_before = Logs(moved);
  for (int i = 1; i <= 20; ++i) CommitTree(s.get(), 1, 60, i, &expected);
  ASSERT_TRUE(s->Close().ok()) << "an archive failure is not an error of the close";
  s = OpenBdb(home_, ArchivingOptions(""));  // the recorded setting, still broken
  ASSERT_TRUE(s) << "opens, keeping the logs";
  for (int i = 21; i <= 40; ++i) CommitTree(s.get(), 1, 60, i, &expected);
  ASSERT_TRUE(s->Close().ok());
  std::vector<uint32_t> in_home = Logs(home_);
  ASSERT_GE(in_home.size(), 3u) << "every log file since the archive failed stays";
  EXPECT_EQ(in_home.back() - in_home.front() + 1, in_home.size()) << "no gap in the home";
  EXPECT_EQ(Logs(moved), archived_before);
  if (!archived_before.empty()) {
    EXPECT_EQ(in_home.front(), archived_before.back() + 1);
  }

  ASSERT_EQ(unlink(archive_.c_str()), 0);
  ASSERT_EQ(rename(moved.c_str(), archive_.c_str()), 0);
  s = OpenBdb(home_, ArchivingOptions(""));
  ASSERT_TRUE(s->Close().ok());
  EXPECT_LE(Logs(home_).size(), 2u) << "archived once the directory is back";
  RestoreOptions ro;
  ro.log_dirs = {archive_, home_};
  RestoreReport rr;
  Status st = RestoreBackup(backup_, dest_, ro, &rr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ExpectHomeHolds(dest_, expected);
}

TEST_F(PitrTest, AnotherHomesArchiveIsRefused) {
  auto s = OpenBdb(home_, ArchivingOptions(archive_));
  ASSERT_TRUE(s);
  std::unique_ptr<Storage> other;
  Status st = OpenBdbStorage(dir_.Sub("other"), ArchivingOptions(archive_), &other);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_NE(st.message().find("logs of another home"), std::string::npos) << st.message();
}

// A second opener without the option keeps archiving; "off" stops it.
TEST_F(PitrTest, TheSettingIsKeptInTheHome) {
  Records expected;
  {
    auto s = OpenBdb(home_, ArchivingOptions(archive_));
    CommitTree(s.get(), 1, 10, 0, &expected);
  }
  BdbOptions plain = ArchivingOptions("");
  {
    auto s = OpenBdb(home_, plain);
    for (int i = 1; i <= 30; ++i) CommitTree(s.get(), 1, 60, i, &expected);
    WaitForArchiving(home_);
  }
  EXPECT_GE(Logs(archive_).size(), 2u);
  const size_t archived = Logs(archive_).size();
  plain.log_archive = "off";
  {
    auto s = OpenBdb(home_, plain);
    for (int i = 1; i <= 30; ++i) CommitTree(s.get(), 1, 60, i, &expected);
  }
  EXPECT_EQ(Logs(archive_).size(), archived);
  EXPECT_LE(Logs(home_).size(), 2u) << "removed again";
}

// Issue 14 (footprint): a backup is the databases and the logs; Berkeley
// DB's region files (45 MB of them for a small home) are rebuilt by
// whoever opens it.  Both ways: online (joining a live home) and offline.
std::vector<std::string> RegionFiles(const std::string& dir) {
  std::vector<std::string> found;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return found;
  while (dirent* e = readdir(d)) {
    if (strncmp(e->d_name, "__db.", 5) == 0) found.push_back(dir + "/" + e->d_name);
  }
  closedir(d);
  return found;
}

TEST_F(PitrTest, ABackupHoldsNoRegionFiles) {
  Records expected;
  auto s = StartWithBackup(&expected);  // online: the home is open
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  BackupReport br;
  Status st = BackupHome(home_, dest_, BackupOptions(), &br);  // offline
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(br.online);
  for (const std::string& dir : {backup_, backup_ + "/" + kRestoreBaseDir, dest_}) {
    EXPECT_EQ(RegionFiles(dir), std::vector<std::string>()) << dir;
  }
  ExpectHomeHolds(backup_, expected);
  ExpectHomeHolds(dest_, expected);
}

TEST(RestoreTime, Formats) {
  time_t t = 0;
  ASSERT_TRUE(ParseRestoreTime("1714567890", &t).ok());
  EXPECT_EQ(t, 1714567890);
  ASSERT_TRUE(ParseRestoreTime("@1714567890", &t).ok());
  EXPECT_EQ(t, 1714567890);
  ASSERT_TRUE(ParseRestoreTime("2024-05-01T12:51:30Z", &t).ok());
  EXPECT_EQ(t, 1714567890);
  ASSERT_TRUE(ParseRestoreTime("2024-05-01T14:51:30+02:00", &t).ok());
  EXPECT_EQ(t, 1714567890);
  time_t local = 0;
  ASSERT_TRUE(ParseRestoreTime("2024-05-01 12:51:30", &local).ok());
  ASSERT_TRUE(ParseRestoreTime("2024-05-01T12:51:30", &t).ok());
  EXPECT_EQ(t, local);
  EXPECT_TRUE(ParseRestoreTime("yesterday", &t).IsInvalidArgument());
  EXPECT_TRUE(ParseRestoreTime("2024-05-01T12:51:30 CEST", &t).IsInvalidArgument());
}

}  // namespace
}  // namespace durus::test
