// SIGKILL during collection and during a trace, at many points: after
// reopen, verify finds nothing wrong (but cycles a trace has not reached
// yet), no reachable object is missing, collector progress made durable by
// a durable commit is kept, and finishing the collection leaves a clean
// store.
//
// A child process (fork) opens a copy of a prepared home and works on it,
// reporting through a pipe: 'S' after each collector or trace step,
// 'D'+n after each acknowledged durable commit.  The parent kills it with
// SIGKILL after k steps (plus a varying delay, so kills land inside steps
// and commits too), then reopens the home itself.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "tests/gc/gc_test_util.h"

namespace durus::gctest {
namespace {

constexpr char kStep = 'S';
constexpr char kDurable = 'D';

void Report(int fd, char tag, uint64_t value) {
  char msg[9];
  msg[0] = tag;
  Oid(value).ToBytes(msg + 1);
  if (write(fd, msg, 9) != 9) _exit(4);  // one write: atomic on a pipe
}

// Reads reports until `steps` step reports arrived (or EOF); returns the
// largest durable value seen.
struct Observed {
  uint64_t steps = 0;
  uint64_t durable = 0;
  bool any_durable = false;
  bool eof = false;
};

void ReadUntil(int fd, uint64_t steps, Observed* obs) {
  while (obs->steps < steps) {
    char msg[9];
    size_t got = 0;
    while (got < 9) {
      ssize_t n = read(fd, msg + got, 9 - got);
      if (n <= 0) {
        obs->eof = true;
        return;
      }
      got += n;
    }
    if (msg[0] == kStep) ++obs->steps;
    if (msg[0] == kDurable) {
      obs->durable = std::max(obs->durable, Oid::FromBytes(msg + 1).value());
      obs->any_durable = true;
    }
  }
}

// Drains what the child wrote before dying (durable reports after the kill
// point are still true).
void Drain(int fd, Observed* obs) { ReadUntil(fd, UINT64_MAX, obs); }

void CopyHome(const std::string& from, const std::string& to) {
  std::string cmd = "cp -a '" + from + "' '" + to + "'";
  ASSERT_EQ(system(cmd.c_str()), 0);
}

// Fork a child running `work(report_fd)`; kill it after `steps` steps and
// `delay_us`; return what it reported.
template <typename Work>
Observed RunAndKill(uint64_t steps, unsigned delay_us, Work work) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    work(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  Observed obs;
  ReadUntil(fds[0], steps, &obs);
  if (delay_us > 0) usleep(delay_us);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  Drain(fds[0], &obs);
  close(fds[0]);
  // Killed, or finished all its work before the kill point (exit 0).
  EXPECT_TRUE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
              (WIFEXITED(status) && WEXITSTATUS(status) == 0))
      << "child status " << status;
  return obs;
}

// Everything but leaked cycles must be clean.
void ExpectCleanButCycles(BdbHandle* s) {
  gc::VerifyReport r = Verify(s);
  EXPECT_EQ(r.total_problems(), r.count(gc::ProblemKind::kLeaked)) << Describe(r);
}

// --- Killed during reference-count collection.

struct CollectTemplate {
  TempDir dir;
  std::vector<uint64_t> live, dropped;
  uint64_t counter = 0;  // a live object the child rewrites durably
  uint64_t objects_before = 0;

  void Build() {
    BdbOptions o = ManualGc();
    auto s = test::OpenBdb(dir.Sub("home"), o);
    Graph g(s.get());
    g.New();
    live = g.Tree(300, 3);
    dropped = g.Tree(3000, 4);
    counter = g.New();
    g.Set(counter, {});
    g.Set(0, {live[0], dropped[0], counter});
    ASSERT_TRUE(g.Flush().ok());
    g.Put(0, {live[0], counter});
    objects_before = Stats(s.get()).object_count;
    ASSERT_TRUE(s->Close().ok());
  }
};

TEST(GcCrash, KilledDuringCollectionAtManyPoints) {
  CollectTemplate t;
  t.Build();
  ASSERT_FALSE(HasFatalFailure());
  const uint64_t kill_after[] = {0, 1, 2, 3, 4, 6, 9, 13, 19, 28, 42, 63, 95, 140};
  int i = 0;
  for (uint64_t k : kill_after) {
    SCOPED_TRACE("killed after " + std::to_string(k) + " steps");
    std::string home = t.dir.Sub("run" + std::to_string(i));
    CopyHome(t.dir.Sub("home"), home);
    unsigned delay = (i * 337) % 2000;  // 0-2 ms into the next step
    ++i;
    Observed obs = RunAndKill(k, delay, [&](int fd) {
      BdbOptions o = ManualGc();
      std::unique_ptr<BdbHandle> s;
      if (!OpenBdbStorage(home, o, &s).ok()) _exit(3);
      uint64_t collected = 0;
      for (uint64_t step = 1;; ++step) {
        uint64_t n = 0;
        bool done = false;
        if (!bdb_testing::CollectStep(s.get(), 16, &n, &done).ok()) _exit(3);
        collected += n;
        Report(fd, kStep, step);
        if (step % 5 == 0) {
          // A durable commit: every earlier (nosync) step is durable now.
          std::string rec = Rec(t.counter, {}, "tick" + std::to_string(step));
          if (!test::TryCommit(s.get(), {{t.counter, rec}}).ok()) _exit(3);
          Report(fd, kDurable, collected);
        }
        if (done) break;
      }
      _exit(0);
    });
    auto s = test::OpenBdb(home, ManualGc());
    ASSERT_NE(s, nullptr);
    gc::VerifyReport r = Verify(s.get());
    EXPECT_TRUE(r.clean()) << Describe(r);
    for (uint64_t x : t.live) ASSERT_TRUE(Exists(s.get(), x)) << x;
    ASSERT_TRUE(Exists(s.get(), t.counter));
    // Progress acknowledged as durable was not lost.
    uint64_t objects = Stats(s.get()).object_count;
    if (obs.any_durable) {
      EXPECT_LE(objects, t.objects_before - obs.durable);
    }
    EXPECT_TRUE(test::CheckConsistency(s.get()).empty());
    // The collector resumes and finishes.
    CollectReport rep;
    ASSERT_TRUE(s->Collect(false, &rep).ok());
    for (uint64_t x : t.dropped) EXPECT_FALSE(Exists(s.get(), x)) << x;
    EXPECT_EQ(Stats(s.get()).object_count, t.objects_before - t.dropped.size());
    EXPECT_TRUE(Verify(s.get()).clean());
    ASSERT_TRUE(s->Close().ok());
    ASSERT_TRUE(util::RemoveTree(home));
  }
}

// --- Killed during a trace, with commits running in another thread.

struct TraceTemplate {
  TempDir dir;
  std::vector<uint64_t> live, ring, ring2, queued;
  uint64_t holder = 0;  // live object the committer links new objects from
  void Build() {
    auto s = test::OpenBdb(dir.Sub("home"), ManualGc());
    Graph g(s.get());
    g.New();
    live = g.Tree(400, 3);
    ring = g.Ring(600);
    ring2 = g.Ring(4);
    queued = g.Chain(50);  // queued garbage, left for the collector
    holder = g.New();
    g.Set(holder, {});
    g.Set(0, {live[0], ring[0], ring2[0], queued[0], holder});
    ASSERT_TRUE(g.Flush().ok());
    g.Put(0, {live[0], holder});
    ASSERT_TRUE(s->Close().ok());
  }
};

TEST(GcCrash, KilledDuringATraceWithConcurrentCommitsAtManyPoints) {
  TraceTemplate t;
  t.Build();
  ASSERT_FALSE(HasFatalFailure());
  // About 130 marking steps, then about 140 sweeping ones.
  const uint64_t kill_after[] = {0, 1, 2, 5, 12, 27, 60, 100, 135, 150, 180, 220, 260};
  int i = 0;
  for (uint64_t k : kill_after) {
    SCOPED_TRACE("killed after " + std::to_string(k) + " trace steps");
    std::string home = t.dir.Sub("run" + std::to_string(i));
    CopyHome(t.dir.Sub("home"), home);
    unsigned delay = (i * 211) % 1500;
    ++i;
    Observed obs = RunAndKill(k, delay, [&](int fd) {
      BdbOptions o = ManualGc();
      std::unique_ptr<BdbHandle> s;
      if (!OpenBdbStorage(home, o, &s).ok()) _exit(3);
      bool started = false;
      if (!bdb_testing::StartTrace(s.get(), &started).ok() || !started) _exit(3);
      std::atomic<bool> stop{false};
      // The committer: holder -> a new object -> part of the garbage ring
      // (linking garbage during the trace: it must survive), then later
      // re-pointed to a live object, dropping the previous new object.
      std::thread committer([&] {
        for (uint64_t n = 1; !stop; ++n) {
          Oid fresh;
          if (!s->NewOid(&fresh).ok()) _exit(3);
          uint64_t target = n % 2 ? t.ring[(n * 37) % t.ring.size()] : t.live[n % t.live.size()];
          std::string r1 = Rec(fresh.value(), {target}), r2 = Rec(t.holder, {fresh.value()});
          Status st = test::TryCommit(s.get(), {{fresh.value(), r1}, {t.holder, r2}});
          // A ring object may be gone already (swept): refused, fine.
          if (!st.ok() && !st.IsConflict()) _exit(3);
          if (st.ok()) Report(fd, kDurable, fresh.value());
        }
      });
      for (uint64_t step = 1;; ++step) {
        uint64_t n = 0;
        bool done = false;
        if (!bdb_testing::TraceStep(s.get(), 8, &n, &done).ok()) _exit(3);
        Report(fd, kStep, step);
        if (done) break;
      }
      stop = true;
      committer.join();
      _exit(0);
    });
    auto s = test::OpenBdb(home, ManualGc());
    ASSERT_NE(s, nullptr);
    ExpectCleanButCycles(s.get());
    for (uint64_t x : t.live) ASSERT_TRUE(Exists(s.get(), x)) << x;
    // The last acknowledged commit (or a later one) is there, with what it
    // linked.
    std::string rec;
    ASSERT_TRUE(s->Load(Oid(t.holder), &rec).ok());
    std::vector<Oid> refs = RecordRefs(rec);
    if (obs.any_durable) {
      ASSERT_EQ(refs.size(), 1u);
      EXPECT_GE(refs[0].value(), obs.durable);
      std::string fresh;
      ASSERT_TRUE(s->Load(refs[0], &fresh).ok());
      for (Oid r : RecordRefs(fresh)) EXPECT_TRUE(Exists(s.get(), r.value()));
    }
    // Finish: the resumed (or a new) trace frees the cycles, except the
    // ring if the holder links it now.  A trace keeps what was linked while
    // it ran even if unlinked again (floating garbage, as Durus's pack), so
    // a second trace, with no commits running, leaves exactly the live set.
    CollectReport rep;
    ASSERT_TRUE(s->Collect(true, &rep).ok());
    ExpectCleanButCycles(s.get());
    ASSERT_TRUE(s->Collect(true, &rep).ok());
    gc::VerifyReport r = Verify(s.get());
    EXPECT_TRUE(r.clean()) << Describe(r);
    EXPECT_EQ(r.unreachable, 0u);
    for (uint64_t x : t.live) EXPECT_TRUE(Exists(s.get(), x)) << x;
    for (uint64_t x : t.ring2) EXPECT_FALSE(Exists(s.get(), x)) << x;
    for (uint64_t x : t.queued) EXPECT_FALSE(Exists(s.get(), x)) << x;
    ASSERT_TRUE(s->Close().ok());
    ASSERT_TRUE(util::RemoveTree(home));
  }
}

}  // namespace
}  // namespace durus::gctest
