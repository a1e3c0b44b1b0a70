// Durability options and bounded disk use.
//  - nosync with a background log-flush interval: commits acknowledged
//    longer than the interval before a SIGKILL survive it.
//  - Sustained overwrites do not accumulate log files (checkpoints plus
//    automatic log removal).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/core/test_util.h"

namespace durus::test {
namespace {

std::vector<std::string> LogFiles(const std::string& home) {
  std::vector<std::string> logs;
  DIR* d = opendir(home.c_str());
  while (struct dirent* e = d ? readdir(d) : nullptr) {
    if (std::string(e->d_name).rfind("log.", 0) == 0) logs.push_back(e->d_name);
  }
  if (d) closedir(d);
  return logs;
}

// A forked nosync writer commits 200 versions of the root, acknowledges,
// idles 400 ms, and is SIGKILLed.  Returns the load of the root afterwards.
Status KillIdleNoSyncWriter(const std::string& home, uint32_t flush_interval_ms,
                            std::string* root) {
  int pipefd[2];
  EXPECT_EQ(pipe(pipefd), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    BdbOptions opts;
    opts.durability = Durability::kNoSync;
    opts.flush_interval_ms = flush_interval_ms;
    opts.checkpoint_interval_ms = 60000;  // only the flush thread may write the log
    std::unique_ptr<Storage> s;
    if (!OpenBdbStorage(home, opts, &s).ok()) _exit(3);
    for (uint64_t i = 1; i <= 200; ++i) {
      CommitBatch b;
      if (!b.Add(Oid(0), Rec(0, {}, "#" + std::to_string(i))).ok()) _exit(4);
      if (!s->Commit(b).ok()) _exit(5);
    }
    if (write(pipefd[1], "k", 1) != 1) _exit(6);  // acknowledged
    pause();
    _exit(0);
  }
  close(pipefd[1]);
  char c;
  EXPECT_EQ(read(pipefd[0], &c, 1), 1);
  close(pipefd[0]);
  usleep(400000);  // 8 intervals of 50 ms
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  std::unique_ptr<Storage> s = OpenBdb(home);
  if (s == nullptr) return Status::IOError("reopen failed");
  return s->Load(kRootOid, root);
}

TEST(DurabilityTest, NoSyncFlushIntervalBoundsTheLossWindow) {
  TempDir dir;
  std::string root;
  Status st = KillIdleNoSyncWriter(dir.Sub("home"), 50, &root);
  ASSERT_TRUE(st.ok()) << "nothing survived the kill: " << st.ToString();
  EXPECT_EQ(root, Rec(0, {}, "#200"));
}

TEST(DurabilityTest, NoSyncWithoutFlushLosesUnflushedCommits) {
  // The counterpart: without the flush interval (and no checkpoint) the
  // same acknowledged commits are lost, which is what the table in the
  // README says and what makes the test above meaningful.
  TempDir dir;
  std::string root;
  Status st = KillIdleNoSyncWriter(dir.Sub("home"), 0, &root);
  EXPECT_TRUE(st.IsNotFound() || root != Rec(0, {}, "#200")) << st.ToString();
}

TEST(DurabilityTest, SustainedOverwritesDoNotAccumulateLogFiles) {
  TempDir dir;
  const std::string home = dir.Sub("home");
  BdbOptions opts;
  opts.durability = Durability::kWriteNoSync;
  opts.log_file_mb = 1;
  opts.checkpoint_interval_ms = 20;
  std::unique_ptr<Storage> s = OpenBdb(home, opts);
  ASSERT_NE(s, nullptr);
  // ~60 MiB of log: 100 objects of 2 KiB rewritten 300 times.
  size_t max_logs = 0;  // reported: bounded by log rate x checkpoint time
  std::string payload(2000, 'x');
  for (int round = 0; round < 300; ++round) {
    CommitBatch b;
    std::vector<Oid> refs;
    for (uint64_t i = 1; i <= 100; ++i) refs.push_back(Oid(i));
    ASSERT_TRUE(b.Add(Oid(0), PackRecord(Oid(0), "root", refs)).ok());
    for (uint64_t i = 1; i <= 100; ++i) {
      payload[0] = static_cast<char>('a' + round % 26);
      ASSERT_TRUE(b.Add(Oid(i), Rec(i, {}, payload)).ok());
    }
    ASSERT_TRUE(s->Commit(b).ok());
    if (round % 10 == 0) usleep(30000);  // let the checkpointer run
    max_logs = std::max(max_logs, LogFiles(home).size());
  }
  // Log file numbers grow by one per file ever written: far more files
  // were written than remain once a checkpoint has run.
  uint64_t highest = 0;
  for (const std::string& f : LogFiles(home))
    highest = std::max<uint64_t>(highest, std::stoull(f.substr(4)));
  StorageStats stats;
  for (int i = 0; i < 100 && LogFiles(home).size() > 4; ++i) usleep(100000);
  ASSERT_TRUE(s->GetStats(&stats).ok());
  std::cout << "log files written " << highest << ", at most " << max_logs << " at once, now "
            << LogFiles(home).size() << ", home " << stats.disk_bytes / 1024 << " KiB\n";
  EXPECT_GE(highest, 40u);  // ~60 MiB of log went through 1 MiB files
  EXPECT_LE(LogFiles(home).size(), 4u);
  // Region files (cache, locks) take ~32 MiB; the data itself is ~250 KiB.
  EXPECT_LT(stats.disk_bytes, 48u << 20);
}

}  // namespace
}  // namespace durus::test
