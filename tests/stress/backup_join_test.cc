// A hot backup joined to a live environment (bdb/backup.h) and the home's
// own opener and closer (issue 7):
//   - recovery never runs while a backup is joined: an opener waits for the
//     join lock (the backup holds it shared) before DB_RECOVER;
//   - a close does not remove log files while a backup is joined (the
//     backup copies the databases first and the logs afterwards; a removed
//     log would leave its copied pages unrecoverable).
// The backup is played by the test itself, doing what BackupHome does:
// holding the join lock shared and, for the log case, joining the
// environment and turning automatic log removal off.
#include <db_cxx.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "bdb/backup.h"
#include "bdb/bdb_storage.h"
#include "bdb/home_lock.h"
#include "tests/core/test_util.h"
#include "tests/crash/workload.h"

namespace durus {
namespace {

// Kept when the test failed (tests/core/test_util.h).
class TempDir : public test::KeptOnFailureTempDir {
 public:
  TempDir() : KeptOnFailureTempDir("durus-join") {}
};

std::set<std::string> LogFiles(const std::string& home) {
  std::set<std::string> out;
  DIR* d = opendir(home.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.compare(0, 4, "log.") == 0) out.insert(n);
  }
  closedir(d);
  return out;
}

// Commits until the home holds at least `files` log files (1 MiB each).
void FillLogs(Storage* s, reliability::Model* model, const std::string& home, size_t files) {
  for (int i = 0; i < 20000 && LogFiles(home).size() < files; ++i) {
    Status st = reliability::CommitRecords(s, model->NextCommit());
    ASSERT_TRUE(st.ok()) << st.ToString();
    model->Advance();
  }
  ASSERT_GE(LogFiles(home).size(), files);
}

BdbOptions Options() {
  BdbOptions o;
  o.log_file_mb = 1;
  o.checkpoint_interval_ms = 600000;  // no background checkpoint: the logs stay
  o.gc_background = false;
  return o;
}

TEST(BackupJoin, RecoveryWaitsForAJoinedBackup) {
  TempDir dir;
  const std::string home = dir.Sub("home");
  reliability::Model model(7);
  {
    std::unique_ptr<Storage> s;
    ASSERT_TRUE(OpenBdbStorage(home, Options(), &s).ok());
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(reliability::CommitRecords(s.get(), model.NextCommit()).ok());
      model.Advance();
    }
    ASSERT_TRUE(s->Close().ok());
  }
  // A backup that joined while the home's holder was up; the holder has
  // gone since, and a new opener arrives.
  bdb::JoinLock backup;
  ASSERT_TRUE(backup.AcquireShared(home, 0).ok());
  std::atomic<bool> backup_left{false};
  bool left_before_open = false;
  Status opened;
  std::unique_ptr<Storage> s;
  std::thread opener([&] {
    opened = OpenBdbStorage(home, Options(), &s);
    left_before_open = backup_left.load();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  backup_left = true;
  backup.Release();
  opener.join();
  ASSERT_TRUE(opened.ok()) << opened.ToString();
  EXPECT_TRUE(left_before_open) << "the home was opened (recovered) while a backup was joined";
  // And the other way round: a backup arriving while the home is open
  // joins at once (the opener let the lock go after recovery).
  bdb::JoinLock again;
  Status j = again.AcquireShared(home, 0);
  EXPECT_TRUE(j.ok()) << j.ToString();
  again.Release();
  ASSERT_TRUE(s->Close().ok());
}

TEST(BackupJoin, CloseKeepsLogsWhileABackupIsJoined) {
  TempDir dir;
  const std::string home = dir.Sub("home");
  reliability::Model model(8);
  std::unique_ptr<Storage> s;
  ASSERT_TRUE(OpenBdbStorage(home, Options(), &s).ok());
  ASSERT_NO_FATAL_FAILURE(FillLogs(s.get(), &model, home, 4));

  // The backup joins and stops automatic log removal, as BackupHome does.
  bdb::JoinLock backup;
  ASSERT_TRUE(backup.AcquireShared(home, 0).ok());
  auto env = std::make_unique<DbEnv>(DB_CXX_NO_EXCEPTIONS);
  ASSERT_EQ(env->open(home.c_str(), DB_JOINENV | DB_THREAD, 0644), 0);
  ASSERT_EQ(env->log_set_config(DB_LOG_AUTO_REMOVE, 0), 0);
  const std::set<std::string> before = LogFiles(home);

  ASSERT_TRUE(s->Close().ok());
  s.reset();
  const std::set<std::string> after = LogFiles(home);
  for (const std::string& f : before) {
    EXPECT_TRUE(after.count(f)) << f << " was removed by the close while a backup was joined";
  }
  ASSERT_EQ(env->log_set_config(DB_LOG_AUTO_REMOVE, 1), 0);
  ASSERT_EQ(env->close(0), 0);
  env.reset();
  backup.Release();

  // Control: with no backup the same close removes the logs it no longer
  // needs (so the check above can fail).
  ASSERT_TRUE(OpenBdbStorage(home, Options(), &s).ok());
  ASSERT_NO_FATAL_FAILURE(FillLogs(s.get(), &model, home, after.size() + 3));
  const std::set<std::string> full = LogFiles(home);
  ASSERT_TRUE(s->Close().ok());
  EXPECT_LT(LogFiles(home).size(), full.size()) << "a close with no backup removed no log";
}

}  // namespace
}  // namespace durus
