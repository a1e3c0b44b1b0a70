// Crash test (WiredTiger random_abort style): a forked writer commits a
// deterministic sequence and appends the number of every acknowledged
// commit to a side file it fsyncs; the parent SIGKILLs it at a random
// moment, reopens the home (recovery runs) and checks the recovered state
// against the expected state kept outside the database:
//   - sync and write_nosync: every acknowledged commit is present;
//   - every mode: the store is exactly the state after some commit R (no
//     torn commit), and counts recomputed from records equal stored counts.
// 20+ kill points per durability mode; each round continues the same home.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <random>

#include "tests/core/test_util.h"

namespace durus::test {
namespace {

constexpr uint64_t kWindow = 8;  // root references the last kWindow objects
constexpr uint64_t kExtraBase = 1u << 20;
constexpr uint64_t kExtras = 150;  // every 10th commit hangs this many objects

std::vector<uint64_t> WindowOf(uint64_t r) {
  std::vector<uint64_t> w;
  for (uint64_t j = r >= kWindow ? r - kWindow + 1 : 1; j <= r; ++j) w.push_back(j);
  return w;
}

std::vector<uint64_t> ExtrasOf(uint64_t i) {
  std::vector<uint64_t> e;
  if (i % 10 != 0) return e;
  for (uint64_t k = 0; k < kExtras; ++k) e.push_back(kExtraBase + i * 1000 + k);
  return e;
}

std::string ObjectRecord(uint64_t j, uint64_t r) {
  // Object j is written by commit j (v1) and rewritten by commit j+1 (v2).
  return Rec(j, ExtrasOf(j), "obj " + std::to_string(j) + (r > j ? " v2" : " v1"));
}

// Commit i: object i (new), object i-1 rewritten, root -> window, extras.
std::vector<std::pair<uint64_t, std::string>> CommitContent(uint64_t i) {
  std::vector<std::pair<uint64_t, std::string>> recs;
  recs.push_back({0, Rec(0, WindowOf(i), "#" + std::to_string(i))});
  recs.push_back({i, ObjectRecord(i, i)});
  if (i > 1) recs.push_back({i - 1, ObjectRecord(i - 1, i)});
  for (uint64_t e : ExtrasOf(i)) recs.push_back({e, Rec(e, {}, std::string(100, 'e'))});
  return recs;
}

uint64_t CommitNumberOf(Storage* s) {
  std::string root;
  if (!s->Load(kRootOid, &root).ok()) return 0;
  RecordView v;
  EXPECT_TRUE(UnpackRecord(root, &v).ok());
  std::string_view data = v.data;
  return std::stoull(std::string(data.substr(data.rfind('#') + 1)));
}

[[noreturn]] void Writer(const std::string& home, Durability mode, const std::string& side) {
  BdbOptions opts;
  opts.durability = mode;
  opts.checkpoint_interval_ms = 40;  // checkpoints and log removal during the run
  std::unique_ptr<Storage> s;
  if (!OpenBdbStorage(home, opts, &s).ok()) _exit(3);
  int fd = open(side.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) _exit(4);
  for (uint64_t i = CommitNumberOf(s.get()) + 1;; ++i) {
    CommitBatch batch;
    for (auto& [oid, rec] : CommitContent(i)) {
      if (!batch.Add(Oid(oid), rec).ok()) _exit(5);
    }
    if (!s->Commit(batch).ok()) _exit(6);
    std::string line = std::to_string(i) + "\n";
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(7);
    if (fdatasync(fd) != 0) _exit(8);
  }
}

uint64_t LastAcknowledged(const std::string& side) {
  std::ifstream in(side);
  uint64_t last = 0, v = 0;
  while (in >> v) last = v;
  return last;
}

// The recovered store must be exactly the state after commit r, except
// that garbage may or may not have been collected yet.
void ExpectStateAfter(InspectableStorage* s, uint64_t r) {
  std::vector<uint64_t> window = WindowOf(r);
  std::string got;
  for (uint64_t j : window) {
    ASSERT_TRUE(s->Load(Oid(j), &got).ok()) << "object " << j << " missing after commit " << r;
    EXPECT_EQ(got, ObjectRecord(j, r)) << "object " << j;
    for (uint64_t e : ExtrasOf(j)) {
      ASSERT_TRUE(s->Load(Oid(e), &got).ok()) << "extra " << e << " of live object " << j;
    }
  }
  // Nothing from a commit after r.
  EXPECT_TRUE(s->Load(Oid(r + 1), &got).IsNotFound()) << "torn: object " << r + 1 << " present";
  EXPECT_EQ(CheckConsistency(s), std::vector<std::string>{});
}

class CrashTest : public ::testing::TestWithParam<Durability> {};

TEST_P(CrashTest, KilledWriterLosesNoAcknowledgedCommit) {
  const Durability mode = GetParam();
  TempDir dir;
  const std::string home = dir.Sub("home"), side = dir.Sub("acked.log");
  std::mt19937 rng(static_cast<unsigned>(time(nullptr)) ^ static_cast<unsigned>(mode));
  int kills = 0;
  uint64_t lost = 0;
  for (int round = 0; round < 22; ++round) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) Writer(home, mode, side);
    usleep(20000 + rng() % 250000);
    kill(pid, SIGKILL);
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    ASSERT_TRUE(WIFSIGNALED(wstatus))
        << "writer exited with " << WEXITSTATUS(wstatus) << " before the kill";
    ++kills;
    uint64_t acked = LastAcknowledged(side);
    BdbOptions opts;
    opts.durability = mode;
    opts.gc_background = false;
    std::unique_ptr<BdbHandle> s = OpenBdb(home, opts);
    ASSERT_NE(s, nullptr);
    uint64_t r = CommitNumberOf(s.get());
    SCOPED_TRACE("round " + std::to_string(round) + ": acknowledged " + std::to_string(acked) +
                 ", recovered " + std::to_string(r));
    if (mode != Durability::kNoSync) {
      EXPECT_GE(r, acked) << "acknowledged commits lost";
    } else if (r < acked) {
      lost += acked - r;
    }
    EXPECT_LE(r, acked + 1);  // at most the commit in flight beyond the last ack
    ExpectStateAfter(s.get(), r);
    if (HasFailure()) return;
    // Keep the side file in step with what the next writer continues from.
    ASSERT_TRUE(s->Close().ok());
    std::ofstream(side, std::ios::trunc) << r << "\n";
  }
  EXPECT_GE(kills, 20);
  RecordProperty("kills", kills);
  RecordProperty("nosync_commits_lost", static_cast<int>(lost));
  std::cout << DurabilityName(mode) << ": " << kills << " kills survived, " << lost
            << " acknowledged commits lost\n";
}

INSTANTIATE_TEST_SUITE_P(Modes, CrashTest,
                         ::testing::Values(Durability::kSync, Durability::kWriteNoSync,
                                           Durability::kNoSync),
                         [](const auto& info) { return std::string(DurabilityName(info.param)); });

// A writer killed while it creates a new home (environment, then the
// database files one by one) leaves a directory the next open accepts and
// completes.  The kill moments are spread over the measured length of a
// creation, so some land between two database files.
TEST(CreationCrashTest, KilledDuringCreationLeavesAnOpenableHome) {
  TempDir dir;
  auto create = [](const std::string& home) {
    BdbOptions opts;
    opts.gc_background = false;
    std::unique_ptr<Storage> s;
    Status st = OpenBdbStorage(home, opts, &s);
    if (!st.ok()) _exit(3);
    pause();  // killed here at the latest
    _exit(0);
  };
  // How long a creation takes here (the child reports it through a pipe).
  double create_ms = 0;
  {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      auto t0 = std::chrono::steady_clock::now();
      std::unique_ptr<Storage> s;
      BdbOptions opts;
      opts.gc_background = false;
      if (!OpenBdbStorage(dir.Sub("timing"), opts, &s).ok()) _exit(3);
      double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (write(fds[1], &ms, sizeof ms) != sizeof ms) _exit(4);
      _exit(0);
    }
    close(fds[1]);
    ASSERT_EQ(read(fds[0], &create_ms, sizeof create_ms), static_cast<ssize_t>(sizeof create_ms));
    close(fds[0]);
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  }
  const int kRounds = 30;
  int reopened = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::string home = dir.Sub("home" + std::to_string(round));
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) create(home);
    // From 0 to 1.2x the measured creation time.
    usleep(static_cast<useconds_t>(create_ms * 1000 * 1.2 * round / kRounds));
    kill(pid, SIGKILL);
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "creator exited with " << WEXITSTATUS(wstatus);
    BdbOptions opts;
    opts.gc_background = false;
    std::unique_ptr<Storage> s;
    Status st = OpenBdbStorage(home, opts, &s);
    ASSERT_TRUE(st.ok()) << "round " << round << " (killed after "
                         << create_ms * 1.2 * round / kRounds << " ms): " << st.ToString();
    CommitBatch batch;
    ASSERT_TRUE(batch.Add(kRootOid, Rec(0, {}, "root")).ok());
    ASSERT_TRUE(s->Commit(batch).ok());
    ASSERT_TRUE(s->Close().ok());
    ++reopened;
  }
  std::cout << "creation killed " << reopened << " times over " << create_ms
            << " ms; every home opened\n";
}

}  // namespace
}  // namespace durus::test
