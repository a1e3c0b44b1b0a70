// durus_crash_loop: a WiredTiger random_abort-style crash loop for
// durus-bdb.
//
// For each durability mode, on one home that every round continues:
//   - a forked child opens the home (recovery runs), and commits the mixed
//     workload of tests/crash/workload.h (new subtrees with references,
//     overwrites, dropped trees for the collector, dropped rings for the
//     trace), starts online traces (StartPack) and runs blocking ones
//     (Collect(true)) now and then, with the background collector, log
//     flushes and checkpoints (+ log removal, 1 MiB log files) running;
//     after each acknowledged commit it appends the commit number to a
//     side log and fdatasyncs it;
//   - the parent SIGKILLs it at a random moment (sometimes during its
//     recovery), reopens the home and checks:
//       * sync, write_nosync: every acknowledged commit is present;
//         every mode: at most the one commit in flight beyond the last ack;
//       * the store is exactly the model's state after the recovered commit
//         R: every live object with its exact record, nothing torn, dropped
//         objects either collected or intact;
//       * counts exact, queue exact, no dangling reference, counters right
//         (tests/crash/store_check.h, plus bdb/gc/gc.h when built);
//       * every other round: a complete collection (Collect(true): resumes
//         an interrupted trace) leaves exactly the live objects, and the
//         store still verifies clean with no leaked cycle.
//
//   durus_crash_loop [--mode sync|write_nosync|nosync|all] [--kills N]
//                    [--seconds S] [--seed N] [--min-ms A] [--max-ms B]
//                    [--dir DIR] [--no-trace] [--keep]
//
// --kills N stops a mode after N kills (default 30); --seconds S after S
// seconds (with --seconds alone the kill count is unbounded).  Exit 0 when
// every check passed; the figures are printed per mode.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bdb/bdb_storage.h"
#include "tests/crash/store_check.h"
#include "tests/crash/workload.h"
#include "util/file.h"

namespace durus::reliability {
namespace {

struct Flags {
  std::vector<Durability> modes{Durability::kSync, Durability::kWriteNoSync, Durability::kNoSync};
  long kills = -1;
  double seconds = 0;
  uint64_t seed = 0;
  int min_ms = 5;
  int max_ms = 400;
  std::string dir;
  bool trace = true;
  bool keep = false;
};

struct ModeResult {
  int kills = 0;
  uint64_t acknowledged = 0;  // commits acknowledged across all rounds
  uint64_t lost = 0;          // acknowledged commits not recovered
  uint64_t recovered_max = 0;
  uint64_t collects = 0;
  uint64_t collected = 0;
  bool traces_unavailable = false;
  bool verify_ran = false;
  int mid_sweep = 0;  // recoveries that found a trace's sweep half done
  std::vector<std::string> failures;
};

[[noreturn]] void Usage(const char* msg) {
  fprintf(stderr,
          "%s\nusage: durus_crash_loop [--mode sync|write_nosync|nosync|all] [--kills N] "
          "[--seconds S] [--seed N] [--min-ms A] [--max-ms B] [--dir DIR] [--no-trace] [--keep]\n",
          msg);
  exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--mode") {
      std::string m = value();
      if (m != "all") {
        Durability d;
        if (!ParseDurability(m, &d).ok()) Usage(("bad mode " + m).c_str());
        f.modes = {d};
      }
    } else if (a == "--kills") {
      f.kills = std::stol(value());
    } else if (a == "--seconds") {
      f.seconds = std::stod(value());
    } else if (a == "--seed") {
      f.seed = std::stoull(value());
    } else if (a == "--min-ms") {
      f.min_ms = std::stoi(value());
    } else if (a == "--max-ms") {
      f.max_ms = std::stoi(value());
    } else if (a == "--dir") {
      f.dir = value();
    } else if (a == "--no-trace") {
      f.trace = false;
    } else if (a == "--keep") {
      f.keep = true;
    } else {
      Usage(("unknown argument " + a).c_str());
    }
  }
  if (f.kills < 0) f.kills = f.seconds > 0 ? 1L << 40 : 30;
  if (f.seed == 0) f.seed = static_cast<uint64_t>(time(nullptr)) * 2654435761u ^ getpid();
  if (f.max_ms < f.min_ms) f.max_ms = f.min_ms;
  return f;
}

BdbOptions WriterOptions(Durability mode) {
  BdbOptions o;
  o.durability = mode;
  o.checkpoint_interval_ms = 30;  // checkpoints and log removal all the time
  o.log_file_mb = 1;
  o.gc_background = true;
  o.gc_interval_ms = 5;
  o.gc_batch = 64;  // many small collector transactions
  return o;
}

[[noreturn]] void Child(const std::string& home, Durability mode, const std::string& side,
                        Model model, bool trace, int ready_fd) {
  std::unique_ptr<Storage> s;
  Status st = OpenBdbStorage(home, WriterOptions(mode), &s);
  if (!st.ok()) {
    fprintf(stderr, "child: open failed: %s\n", st.ToString().c_str());
    _exit(3);
  }
  // Tell the parent the home is open (recovery done): kills are timed from
  // here, so a slow open on a loaded machine does not starve the workload.
  if (write(ready_fd, "r", 1) != 1) _exit(12);
  close(ready_fd);
  std::string root;
  uint64_t r = s->Load(kRootOid, &root).ok() ? Model::CommitNumberOfRoot(root) : 0;
  if (r != model.commit()) {
    fprintf(stderr, "child: store at commit %llu, model at %llu\n", (unsigned long long)r,
            (unsigned long long)model.commit());
    _exit(9);
  }
  int fd = open(side.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) _exit(4);
  for (;;) {
    st = CommitRecords(s.get(), model.NextCommit());
    if (!st.ok()) {
      fprintf(stderr, "child: commit %llu failed: %s\n", (unsigned long long)model.commit() + 1,
              st.ToString().c_str());
      _exit(6);
    }
    model.Advance();
    std::string line = std::to_string(model.commit()) + "\n";
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(7);
    if (fdatasync(fd) != 0) _exit(8);
    if (trace && model.commit() % 23 == 0) {
      st = s->StartPack();
      if (!st.ok() && !st.IsNotSupported()) {
        fprintf(stderr, "child: StartPack failed: %s\n", st.ToString().c_str());
        _exit(10);
      }
    }
    if (trace && model.commit() % 151 == 0) {
      CollectReport rep;
      st = s->Collect(true, &rep);
      if (!st.ok() && !st.IsNotSupported()) {
        fprintf(stderr, "child: Collect(true) failed: %s\n", st.ToString().c_str());
        _exit(11);
      }
    }
  }
}

uint64_t LastAcknowledged(const std::string& side) {
  std::ifstream in(side);
  uint64_t last = 0, v = 0;
  while (in >> v) last = v;
  return last;
}

// Reopen after a kill and check everything; false on a failure (recorded).
bool CheckRound(const std::string& home, Durability mode, const std::string& side, bool collect,
                Model* model, ModeResult* res) {
  auto fail = [&](const std::string& what) {
    res->failures.push_back("kill " + std::to_string(res->kills) + ": " + what);
    return false;
  };
  const uint64_t acked = LastAcknowledged(side);
  BdbOptions o;
  o.durability = mode;
  o.gc_background = false;
  std::unique_ptr<BdbHandle> s;
  Status st = OpenBdbStorage(home, o, &s);
  if (!st.ok()) return fail("reopen (recovery) failed: " + st.ToString());
  std::string root;
  st = s->Load(kRootOid, &root);
  if (!st.ok() && !st.IsNotFound()) return fail("loading the root: " + st.ToString());
  const uint64_t r = st.ok() ? Model::CommitNumberOfRoot(root) : 0;
  if (r < acked) {
    res->lost += acked - r;
    if (mode != Durability::kNoSync) {
      return fail(std::to_string(acked - r) + " acknowledged commits lost (acknowledged " +
                  std::to_string(acked) + ", recovered " + std::to_string(r) + ")");
    }
  }
  if (r > acked + 1) {
    return fail("recovered commit " + std::to_string(r) + " but only " + std::to_string(acked) +
                " were acknowledged (one may be in flight)");
  }
  res->recovered_max = std::max(res->recovered_max, r);
  model->AdvanceTo(r);

  std::vector<std::string> problems;
  st = model->Compare(s.get(), &problems);
  if (!st.ok()) return fail("scan failed: " + st.ToString());
  CheckOptions co;
  CheckResult cr;
  st = CheckStore(s.get(), co, &cr);
  if (!st.ok()) return fail("check failed: " + st.ToString());
  res->verify_ran |= cr.verify_ran;
  if (cr.dangling_during_sweep > 0) ++res->mid_sweep;
  problems.insert(problems.end(), cr.problems.begin(), cr.problems.end());

  if (problems.empty() && collect) {
    // The first collection finishes a trace the crash interrupted (what
    // that trace's barrier kept alive legitimately survives it); the
    // second traces from scratch with no commit running: nothing
    // unreachable may survive it.
    CollectReport rep, rep2;
    st = s->Collect(true, &rep);
    if (st.ok()) st = s->Collect(true, &rep2);
    rep.collected += rep2.collected;
    if (st.IsNotSupported()) {
      res->traces_unavailable = true;
    } else if (!st.ok()) {
      return fail("Collect(true) after recovery failed: " + st.ToString());
    } else {
      ++res->collects;
      res->collected += rep.collected;
      co.leaks_are_problems = true;
      co.expect_no_garbage = true;
      st = CheckStore(s.get(), co, &cr);
      if (!st.ok()) return fail("check after collection failed: " + st.ToString());
      problems.insert(problems.end(), cr.problems.begin(), cr.problems.end());
      if (cr.records != model->live().size()) {
        problems.push_back("after a complete collection " + std::to_string(cr.records) +
                           " records remain, " + std::to_string(model->live().size()) + " live");
      }
      st = model->Compare(s.get(), &problems);
      if (!st.ok()) return fail("scan failed: " + st.ToString());
    }
  }
  st = s->Close();
  if (!st.ok()) problems.push_back("close failed: " + st.ToString());
  if (!problems.empty()) {
    std::string all;
    for (size_t i = 0; i < problems.size() && i < 20; ++i) all += "\n    " + problems[i];
    return fail("store at commit " + std::to_string(r) + " is inconsistent:" + all);
  }
  // The next child continues from r.
  std::ofstream(side, std::ios::trunc) << r << "\n";
  return true;
}

ModeResult RunMode(const Flags& f, const std::string& dir, Durability mode) {
  ModeResult res;
  const std::string home = dir + "/" + DurabilityName(mode);
  const std::string side = dir + "/" + DurabilityName(mode) + ".acked";
  std::ofstream(side, std::ios::trunc) << 0 << "\n";
  const uint64_t seed = f.seed + static_cast<uint64_t>(mode) * 1000003;
  std::mt19937_64 rng(seed);
  Model model(seed);
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t prev = 0;
  while (res.kills < f.kills) {
    if (f.seconds > 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >= f.seconds) {
      break;
    }
    fflush(stdout);
    fflush(stderr);
    int pipefd[2];
    if (pipe(pipefd) != 0) {
      res.failures.push_back(std::string("pipe: ") + strerror(errno));
      break;
    }
    pid_t pid = fork();
    if (pid < 0) {
      res.failures.push_back(std::string("fork: ") + strerror(errno));
      break;
    }
    if (pid == 0) {
      close(pipefd[0]);
      Child(home, mode, side, model, f.trace, pipefd[1]);
    }
    close(pipefd[1]);
    // One round in eight: kill during the child's open (recovery).  The
    // others: a uniform delay after the home is open.
    if (rng() % 8 == 0) {
      usleep(static_cast<useconds_t>(rng() % 30000));
    } else {
      char c;
      ssize_t n = read(pipefd[0], &c, 1);  // EOF if the child died: caught below
      (void)n;
      usleep(static_cast<useconds_t>(f.min_ms + rng() % (f.max_ms - f.min_ms + 1)) * 1000);
    }
    close(pipefd[0]);
    kill(pid, SIGKILL);
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    if (!WIFSIGNALED(wstatus)) {
      res.failures.push_back("kill " + std::to_string(res.kills) + ": the writer exited with " +
                             std::to_string(WEXITSTATUS(wstatus)) + " before the kill");
      break;
    }
    ++res.kills;
    uint64_t acked = LastAcknowledged(side);
    res.acknowledged += acked > prev ? acked - prev : 0;
    if (!CheckRound(home, mode, side, f.trace && res.kills % 2 == 0, &model, &res)) break;
    prev = model.commit();
  }
  return res;
}

int Main(int argc, char** argv) {
  Flags f = ParseFlags(argc, argv);
  std::string dir = f.dir;
  bool made = false;
  if (dir.empty()) {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/durus-crash-loop-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      perror("mkdtemp");
      return 2;
    }
    dir = tmpl;
    made = true;
  } else {
    mkdir(dir.c_str(), 0755);
  }
  printf("crash loop in %s, seed %llu, verify %s, traces %s\n", dir.c_str(),
         (unsigned long long)f.seed, VerifyAvailable() ? "bdb/gc/gc.h + recount" : "recount only",
         f.trace ? "on" : "off");
  bool ok = true;
  for (Durability mode : f.modes) {
    auto t0 = std::chrono::steady_clock::now();
    ModeResult r = RunMode(f, dir, mode);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printf(
        "%s: %d kills survived, %llu commits acknowledged (store at commit %llu), "
        "%llu acknowledged commits lost, %llu post-crash collections (%llu objects freed), "
        "%d recoveries mid-sweep%s, %.1f s\n",
        DurabilityName(mode), r.kills, (unsigned long long)r.acknowledged,
        (unsigned long long)r.recovered_max, (unsigned long long)r.lost,
        (unsigned long long)r.collects, (unsigned long long)r.collected, r.mid_sweep,
        r.traces_unavailable ? " [cycle trace not available: NotSupported]" : "", secs);
    for (const std::string& fl : r.failures) printf("  FAILED %s\n", fl.c_str());
    if (!r.failures.empty()) ok = false;
    if (r.kills == 0) {
      printf("  FAILED no kill happened\n");
      ok = false;
    }
  }
  if (made && ok && !f.keep) {
    util::RemoveTree(dir);
  } else if (!ok || f.keep) {
    printf("kept %s\n", dir.c_str());
  }
  printf("%s\n", ok ? "crash loop: PASSED" : "crash loop: FAILED");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace durus::reliability

int main(int argc, char** argv) { return durus::reliability::Main(argc, argv); }
