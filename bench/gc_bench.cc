// gc_bench: the garbage-collection benchmark of issue 5 ("Performance").
//
//   gc_bench [--benchmarks=collect,latency,trace,proportional] [--num=1000000]
//            [--trace_sizes=1000000,4000000] [--dir=PATH] ...   (--help)
//
//   collect   A store holding a subtree of --num objects that was just
//             dropped (one queued root, every other object referenced once).
//             Ours: Storage::Collect(false), the collector's own steps of
//             --batch oids per NOSYNC transaction, each deleting the record
//             and its count, decrementing and queueing its children.  Raw:
//             on a byte-for-byte copy of the same home, the same environment
//             and records.db (bdb::OpenEnvironment / OpenBtree), deleting
//             the same keys, --batch per NOSYNC transaction, and nothing else.
//             Target: ours >= 0.3 x raw.
//   latency   A store of --live reachable objects and --drops subtrees of
//             --drop_size objects each.  One thread loads uniformly random
//             live oids and records each latency; phases alternate: idle
//             (nothing to collect, --idle_ms), then a subtree is dropped and
//             the background collector (default pacing, gc_per_second
//             --gc_per_second) deletes it while loads continue.  p50/p99/p999
//             of all idle loads vs all loads while the collector ran.
//             Target: p99 busy <= 2 x p99 idle.
//   trace     For each size in --trace_sizes: a reachable tree of that many
//             objects plus garbage rings (1%); a fresh process opens it and
//             runs Collect(true) (a full trace: mark from the root, sweep).
//             Peak RSS growth (VmHWM, reset via /proc/self/clear_refs after
//             the open) and the rate.  Targets: growth <= 64 MiB at 1M and
//             growth(4M) <= 1.15 x growth(1M).
//
//   proportional  The same dropped subtree (--prop_garbage objects) collected
//             from stores of --prop_sizes live objects: the rate should not
//             depend on the store size (the queue is read from its first
//             key; nothing scans the store).
//
// This machine is shared: the ratios from one run are what counts.
#include <db_cxx.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bdb/bdb_storage.h"
#include "bdb/environment.h"
#include "bdb/handles.h"
#include "bdb/schema.h"
#include "bench/bench_flags.h"
#include "engine/record.h"
#include "engine/storage.h"
#include "util/file.h"

namespace durus::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Config {
  std::vector<std::string> benchmarks = {"collect", "latency", "trace"};
  uint64_t num = 1000000;
  std::vector<uint64_t> trace_sizes = {1000000, 4000000};
  uint64_t live = 500000;
  uint64_t drops = 4;
  uint64_t drop_size = 100000;
  uint64_t idle_ms = 3000;
  uint32_t gc_per_second = 0;
  uint32_t batch = 256;
  uint32_t record_size = 200;
  uint32_t cache_mb = 64;
  uint32_t fanout = 8;
  uint32_t repeats = 3;
  std::vector<uint64_t> prop_sizes = {10000, 1000000};
  uint64_t prop_garbage = 50000;
  std::string dir;
  bool keep = false;
};

const char kUsage[] =
    "usage: gc_bench [--flag=value ...]\n"
    "  --benchmarks=a,b,...   collect,latency,trace,proportional\n"
    "                         (default: collect,latency,trace)\n"
    "  --num=N                dropped subtree size for collect (1000000)\n"
    "  --trace_sizes=N,M      store sizes for trace (1000000,4000000)\n"
    "  --live=N --drops=N --drop_size=N   latency store (500000, 4, 100000)\n"
    "  --idle_ms=N            idle phase length for latency (3000)\n"
    "  --gc_per_second=N      collector pacing for latency (0: default duty cycle)\n"
    "  --batch=N              collector batch (gc_batch) and raw delete txn size (256)\n"
    "  --record_size=N        bytes per record (200)\n"
    "  --cache_mb=N           Berkeley DB cache (64)\n"
    "  --fanout=N             tree fan-out (8)\n"
    "  --repeats=N            collect: runs per side, alternating order; medians (3)\n"
    "  --prop_sizes=N,M --prop_garbage=N   proportional: live store sizes, garbage\n"
    "                         (10000,1000000; 50000)\n"
    "  --dir=PATH             where the homes go ($TMPDIR or /tmp)\n"
    "  --keep                 do not delete the homes\n";

std::vector<uint64_t> ParseList(const std::string& s) {
  std::vector<uint64_t> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    out.push_back(strtoull(s.substr(pos, comma - pos).c_str(), nullptr, 10));
    pos = comma + 1;
  }
  return out;
}

bool ParseFlags(int argc, char** argv, Config* c) {
  const char* tmp = getenv("TMPDIR");
  c->dir = tmp ? tmp : "/tmp";
  bool ok = ParseBenchFlags(argc, argv, kUsage, &c->keep,
                            [&](const std::string& name, const std::string& v) {
                              uint64_t n = strtoull(v.c_str(), nullptr, 10);
                              if (name == "benchmarks") {
                                c->benchmarks.clear();
                                size_t pos = 0;
                                while (pos <= v.size()) {
                                  size_t comma = v.find(',', pos);
                                  if (comma == std::string::npos) comma = v.size();
                                  c->benchmarks.push_back(v.substr(pos, comma - pos));
                                  pos = comma + 1;
                                }
                              } else if (name == "num") {
                                c->num = n;
                              } else if (name == "trace_sizes") {
                                c->trace_sizes = ParseList(v);
                              } else if (name == "live") {
                                c->live = n;
                              } else if (name == "drops") {
                                c->drops = n;
                              } else if (name == "drop_size") {
                                c->drop_size = n;
                              } else if (name == "idle_ms") {
                                c->idle_ms = n;
                              } else if (name == "gc_per_second") {
                                c->gc_per_second = static_cast<uint32_t>(n);
                              } else if (name == "batch") {
                                c->batch = static_cast<uint32_t>(n);
                              } else if (name == "record_size") {
                                c->record_size = static_cast<uint32_t>(n);
                              } else if (name == "cache_mb") {
                                c->cache_mb = static_cast<uint32_t>(n);
                              } else if (name == "prop_sizes") {
                                c->prop_sizes = ParseList(v);
                              } else if (name == "prop_garbage") {
                                c->prop_garbage = n;
                              } else if (name == "repeats") {
                                c->repeats = static_cast<uint32_t>(std::max<uint64_t>(n, 1));
                              } else if (name == "fanout") {
                                c->fanout = static_cast<uint32_t>(n);
                              } else if (name == "dir") {
                                c->dir = v;
                              } else {
                                fprintf(stderr, "unknown flag --%s\n", name.c_str());
                                return false;
                              }
                              return true;
                            });
  if (!ok) return false;
  return true;
}

void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    fprintf(stderr, "gc_bench: %s: %s\n", what, s.ToString().c_str());
    exit(1);
  }
}

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::string MakeHome(const Config& c, const std::string& name) {
  std::string tmpl = c.dir + "/gc_bench-" + name + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    perror("mkdtemp");
    exit(1);
  }
  return tmpl + "/home";
}

void RemoveHome(const Config& c, const std::string& home) {
  if (c.keep) return;
  std::string parent = home.substr(0, home.rfind('/'));
  std::string error;
  if (!durus::util::RemoveTree(parent, &error)) fprintf(stderr, "%s\n", error.c_str());
}

void CopyHome(const std::string& from, const std::string& to) {
  std::string parent = to.substr(0, to.rfind('/'));
  std::string cmd = "mkdir -p '" + parent + "' && cp -a '" + from + "' '" + to + "'";
  if (system(cmd.c_str()) != 0) {
    fprintf(stderr, "copy failed\n");
    exit(1);
  }
}

// A Durus-looking record: class pickle line, pseudo-random payload, refs.
std::string MakeRecord(uint64_t oid, const std::vector<Oid>& refs, uint32_t size,
                       std::mt19937_64* rng) {
  std::string data = "cdurus.persistent_dict\nPersistentDict\nq\x00";
  while (data.size() < size) {
    uint64_t r = (*rng)();
    data.append(reinterpret_cast<const char*>(&r), 8);
  }
  data.resize(size);
  return PackRecord(Oid(oid), data, refs);
}

BdbOptions BuildOptions(const Config& c) {
  BdbOptions o;
  o.durability = Durability::kNoSync;
  o.gc_background = false;
  o.cache_mb = std::max<uint32_t>(c.cache_mb, 64);
  o.checkpoint_interval_ms = 5000;
  return o;
}

// Stores the tree [first, first + n) (node i's children are first + i*F + 1
// ... in BFS numbering relative to `first`), bottom-up so that every commit
// references only stored oids.  Returns nothing; the root is `first`.
void StoreTree(Storage* s, uint64_t first, uint64_t n, uint32_t fanout, uint32_t size,
               std::mt19937_64* rng, bool progress) {
  CommitBatch batch;
  uint64_t done = 0;
  for (uint64_t k = n; k-- > 0;) {
    std::vector<Oid> kids;
    for (uint64_t j = 1; j <= fanout && k * fanout + j < n; ++j) {
      kids.push_back(Oid(first + k * fanout + j));
    }
    Check(batch.Add(Oid(first + k), MakeRecord(first + k, kids, size, rng)), "add");
    if (batch.size() >= 20000) {
      Check(s->Commit(batch), "commit");
      batch.Clear();
      done += 20000;
      if (progress && done % 1000000 == 0) {
        fprintf(stderr, "  stored %" PRIu64 " / %" PRIu64 "\n", done, n);
      }
    }
  }
  if (!batch.empty()) Check(s->Commit(batch), "commit");
}

// A ring of n objects [first, first + n).
void StoreRing(Storage* s, uint64_t first, uint64_t n, uint32_t size, std::mt19937_64* rng) {
  CommitBatch batch;
  for (uint64_t k = 0; k < n; ++k) {
    Check(batch.Add(Oid(first + k), MakeRecord(first + k, {Oid(first + (k + 1) % n)}, size, rng)),
          "add");
  }
  Check(s->Commit(batch), "commit ring");
}

void CommitRoot(Storage* s, const std::vector<Oid>& refs, std::mt19937_64* rng, uint32_t size) {
  CommitBatch batch;
  Check(batch.Add(Oid(0), MakeRecord(0, refs, size, rng)), "add root");
  Check(s->Commit(batch), "commit root");
}

// ---------------------------------------------------------------- collect

double RawDeletes(const Config& c, const std::string& home, uint64_t first, uint64_t n) {
  BdbOptions o = BuildOptions(c);
  o.cache_mb = c.cache_mb;
  bdb::EnvPtr env;
  Check(bdb::OpenEnvironment(home, o, &env), "raw env");
  bdb::DbPtr records;
  Check(bdb::OpenBtree(env.get(), home, schema::kRecordsFile, false, &records), "raw records");
  auto t0 = Clock::now();
  uint64_t k = 0;
  while (k < n) {
    bdb::Txn txn;
    if (txn.Begin(env.get()) != 0) Check(Status::IOError("begin"), "raw");
    for (uint32_t i = 0; i < c.batch && k < n; ++i, ++k) {
      char kb[8];
      Oid(first + k).ToBytes(kb);
      Dbt key = bdb::InDbt(kb, 8);
      int ret = records->del(txn.get(), &key, 0);
      if (ret != 0) Check(bdb::FromDb(ret, "raw delete"), "raw");
    }
    if (txn.Commit(DB_TXN_NOSYNC) != 0) Check(Status::IOError("commit"), "raw");
  }
  double secs = Seconds(t0, Clock::now());
  records.reset();
  env->txn_checkpoint(0, 0, 0);
  return secs;
}

double OursCollect(const Config& c, const std::string& home, uint64_t expect) {
  BdbOptions o;
  o.gc_background = false;
  o.gc_batch = c.batch;
  o.cache_mb = c.cache_mb;
  o.durability = Durability::kSync;
  std::unique_ptr<Storage> s;
  Check(OpenBdbStorage(home, o, &s), "open");
  CollectReport rep;
  auto t0 = Clock::now();
  Check(s->Collect(false, &rep), "collect");
  double secs = Seconds(t0, Clock::now());
  if (rep.collected != expect) {
    fprintf(stderr, "collected %" PRIu64 ", expected %" PRIu64 "\n", rep.collected, expect);
    exit(1);
  }
  Check(s->Close(), "close");
  return secs;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void BenchCollect(const Config& c) {
  printf("collect: dropped subtree of %" PRIu64
         " objects, %u-byte records, fan-out %u, "
         "batch %u, cache %u MiB, %u repeat(s) alternating which side runs first\n",
         c.num, c.record_size, c.fanout, c.batch, c.cache_mb, c.repeats);
  std::string built = MakeHome(c, "collect");
  std::mt19937_64 rng(1);
  uint64_t first = 1;  // the subtree; root is 0
  {
    std::unique_ptr<Storage> s;
    Check(OpenBdbStorage(built, BuildOptions(c), &s), "open");
    auto t0 = Clock::now();
    StoreTree(s.get(), first, c.num, c.fanout, c.record_size, &rng, true);
    CommitRoot(s.get(), {Oid(first)}, &rng, c.record_size);
    CommitRoot(s.get(), {}, &rng, c.record_size);  // drop it
    Check(s->Flush(), "flush");
    fprintf(stderr, "  built in %.1f s\n", Seconds(t0, Clock::now()));
    Check(s->Close(), "close");
  }
  std::vector<double> ours_rates, raw_rates, ratios;
  for (uint32_t r = 0; r < c.repeats; ++r) {
    std::string ours_home = MakeHome(c, "collect-ours"), raw_home = MakeHome(c, "collect-raw");
    CopyHome(built, ours_home);
    CopyHome(built, raw_home);
    double ours, raw;
    if (r % 2 == 0) {
      ours = OursCollect(c, ours_home, c.num);
      raw = RawDeletes(c, raw_home, first, c.num);
    } else {
      raw = RawDeletes(c, raw_home, first, c.num);
      ours = OursCollect(c, ours_home, c.num);
    }
    ours_rates.push_back(c.num / ours);
    raw_rates.push_back(c.num / raw);
    ratios.push_back(raw / ours);
    printf("  run %u: ours %8.0f objects/s (%.2f s), raw %8.0f keys/s (%.2f s), ratio %.2f\n", r,
           c.num / ours, ours, c.num / raw, raw, raw / ours);
    fflush(stdout);
    RemoveHome(c, ours_home);
    RemoveHome(c, raw_home);
  }
  double ratio = Median(ratios);
  printf("  median: ours (collector) %.0f objects/s, raw BDB deletes %.0f keys/s\n",
         Median(ours_rates), Median(raw_rates));
  printf("  ratio ours/raw (median)  %.2f   (target >= 0.30: %s)\n", ratio,
         ratio >= 0.3 ? "met" : "NOT met");
  fflush(stdout);
  RemoveHome(c, built);
}

// ----------------------------------------------------------- proportional

void BenchProportional(const Config& c) {
  printf("proportional: collecting a dropped subtree of %" PRIu64
         " objects from stores of different sizes (cost follows the garbage, not the store)\n",
         c.prop_garbage);
  std::vector<double> rates;
  for (uint64_t live : c.prop_sizes) {
    std::string home = MakeHome(c, "prop");
    std::mt19937_64 rng(4);
    {
      std::unique_ptr<Storage> s;
      Check(OpenBdbStorage(home, BuildOptions(c), &s), "open");
      StoreTree(s.get(), 1, live, c.fanout, c.record_size, &rng, true);
      StoreTree(s.get(), 1 + live, c.prop_garbage, c.fanout, c.record_size, &rng, false);
      CommitRoot(s.get(), {Oid(1), Oid(1 + live)}, &rng, c.record_size);
      CommitRoot(s.get(), {Oid(1)}, &rng, c.record_size);
      Check(s->Close(), "close");
    }
    double secs = OursCollect(c, home, c.prop_garbage);
    rates.push_back(c.prop_garbage / secs);
    printf("  store of %9" PRIu64 " live objects: %8.0f objects/s (%.2f s)\n", live,
           c.prop_garbage / secs, secs);
    fflush(stdout);
    RemoveHome(c, home);
  }
  if (rates.size() > 1) {
    printf("  rate in the largest / in the smallest store: %.2f (1.0 = independent of size)\n",
           rates.back() / rates.front());
  }
}

// ---------------------------------------------------------------- latency

struct Percentiles {
  double p50, p99, p999, max;
  size_t n;
};

Percentiles Summarize(std::vector<double>* v) {
  Percentiles p{0, 0, 0, 0, v->size()};
  if (v->empty()) return p;
  std::sort(v->begin(), v->end());
  auto at = [&](double q) {
    return (*v)[std::min(v->size() - 1, static_cast<size_t>(q * v->size()))];
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = v->back();
  return p;
}

void BenchLatency(const Config& c) {
  printf("latency: random loads of %" PRIu64 " live objects; %" PRIu64 " subtrees of %" PRIu64
         " dropped in turn; collector batch %u, gc_per_second %u%s\n",
         c.live, c.drops, c.drop_size, c.batch, c.gc_per_second,
         c.gc_per_second == 0 ? " (duty cycle 50%)" : "");
  std::string home = MakeHome(c, "latency");
  std::mt19937_64 rng(2);
  const uint64_t live_first = 1;
  std::vector<uint64_t> drop_first;
  {
    std::unique_ptr<Storage> s;
    Check(OpenBdbStorage(home, BuildOptions(c), &s), "open");
    StoreTree(s.get(), live_first, c.live, c.fanout, c.record_size, &rng, true);
    std::vector<Oid> roots = {Oid(live_first)};
    uint64_t next = live_first + c.live;
    for (uint64_t d = 0; d < c.drops; ++d) {
      StoreTree(s.get(), next, c.drop_size, c.fanout, c.record_size, &rng, true);
      drop_first.push_back(next);
      roots.push_back(Oid(next));
      next += c.drop_size;
    }
    CommitRoot(s.get(), roots, &rng, c.record_size);
    Check(s->Close(), "close");
  }
  BdbOptions o;
  o.gc_background = true;
  o.gc_batch = c.batch;
  o.gc_per_second = c.gc_per_second;
  o.cache_mb = c.cache_mb;
  std::unique_ptr<Storage> s;
  Check(OpenBdbStorage(home, o, &s), "open");
  // Warm the cache over the live set once (both phases then see the same).
  {
    std::string rec;
    for (uint64_t k = 0; k < c.live; ++k) Check(s->Load(Oid(live_first + k), &rec), "warm");
  }
  std::vector<double> idle, busy;
  std::uniform_int_distribution<uint64_t> pick(live_first, live_first + c.live - 1);
  auto load_once = [&](std::vector<double>* into) {
    std::string rec;
    Oid oid(pick(rng));
    auto t0 = Clock::now();
    Check(s->Load(oid, &rec), "load");
    into->push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  };
  std::vector<Oid> roots = {Oid(live_first)};
  for (uint64_t d = 0; d < c.drops; ++d) roots.push_back(Oid(drop_first[d]));
  double busy_secs = 0;
  for (uint64_t d = 0; d < c.drops; ++d) {
    auto end = Clock::now() + std::chrono::milliseconds(c.idle_ms);
    while (Clock::now() < end) load_once(&idle);
    roots.erase(std::find(roots.begin(), roots.end(), Oid(drop_first[d])));
    CommitRoot(s.get(), roots, &rng, c.record_size);
    auto t0 = Clock::now();
    StorageStats st;
    uint64_t n = 0;
    for (;;) {
      load_once(&busy);
      if (++n % 256 == 0) {
        Check(s->GetStats(&st), "stats");
        if (st.pending_garbage == 0) break;
      }
    }
    busy_secs += Seconds(t0, Clock::now());
  }
  StorageStats st;
  Check(s->GetStats(&st), "stats");
  Percentiles pi = Summarize(&idle), pb = Summarize(&busy);
  printf("  idle        %8zu loads  p50 %6.1f us  p99 %6.1f us  p999 %7.1f us  max %8.1f us\n",
         pi.n, pi.p50, pi.p99, pi.p999, pi.max);
  printf("  collecting  %8zu loads  p50 %6.1f us  p99 %6.1f us  p999 %7.1f us  max %8.1f us\n",
         pb.n, pb.p50, pb.p99, pb.p999, pb.max);
  printf("  collector   %" PRIu64 " objects in %.1f s (%.0f objects/s while loading)\n",
         st.collected_total, busy_secs, st.collected_total / busy_secs);
  printf("  ratio p99 collecting/idle %.2f   (target <= 2.0: %s)\n", pb.p99 / pi.p99,
         pb.p99 / pi.p99 <= 2.0 ? "met" : "NOT met");
  fflush(stdout);
  Check(s->Close(), "close");
  RemoveHome(c, home);
}

// ---------------------------------------------------------------- trace

uint64_t ProcStatusKb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  size_t len = strlen(field);
  while (std::getline(f, line)) {
    if (line.compare(0, len, field) == 0) return strtoull(line.c_str() + len + 1, nullptr, 10);
  }
  return 0;
}

struct TraceResult {
  double seconds = 0;
  uint64_t rss_base_kb = 0, hwm_kb = 0, traced = 0, collected = 0;
  uint64_t anon_base_kb = 0, anon_peak_kb = 0;  // heap etc., without the mapped cache
};

void BenchTrace(const Config& c) {
  printf(
      "trace: Collect(true) on reachable trees with 1%% garbage rings, fan-out %u, "
      "cache %u MiB, fresh process per size\n",
      c.fanout, c.cache_mb);
  std::vector<std::pair<uint64_t, TraceResult>> results;
  for (uint64_t size : c.trace_sizes) {
    std::string home = MakeHome(c, "trace");
    std::mt19937_64 rng(3);
    {
      std::unique_ptr<Storage> s;
      Check(OpenBdbStorage(home, BuildOptions(c), &s), "open");
      auto t0 = Clock::now();
      StoreTree(s.get(), 1, size, c.fanout, c.record_size, &rng, true);
      uint64_t rings = size / 100, ring_len = 10, next = 1 + size;
      std::vector<Oid> roots = {Oid(1)};
      for (uint64_t r = 0; r < rings / ring_len; ++r) {
        StoreRing(s.get(), next, ring_len, c.record_size, &rng);
        roots.push_back(Oid(next));
        next += ring_len;
        if (roots.size() >= 10000) {  // link in batches, then unlink
          CommitRoot(s.get(), roots, &rng, c.record_size);
          roots.resize(1);
          CommitRoot(s.get(), roots, &rng, c.record_size);
        }
      }
      CommitRoot(s.get(), roots, &rng, c.record_size);
      roots.resize(1);
      CommitRoot(s.get(), roots, &rng, c.record_size);
      CollectReport rep;
      Check(s->Collect(false, &rep), "collect");  // nothing: rings keep counts
      fprintf(stderr, "  built %" PRIu64 " in %.1f s\n", size, Seconds(t0, Clock::now()));
      Check(s->Close(), "close");
    }
    int fds[2];
    if (pipe(fds) != 0) exit(1);
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      BdbOptions o;
      o.gc_background = false;
      o.cache_mb = c.cache_mb;
      o.gc_batch = c.batch;
      std::unique_ptr<Storage> s;
      Check(OpenBdbStorage(home, o, &s), "open");
      TraceResult r;
      {
        std::ofstream clear("/proc/self/clear_refs");
        clear << "5";  // reset VmHWM to the current RSS
      }
      r.rss_base_kb = ProcStatusKb("VmRSS:");
      if (getenv("GC_BENCH_RSS_DETAIL")) {
        fprintf(stderr,
                "  at open: VmRSS %" PRIu64 " RssAnon %" PRIu64 " RssFile %" PRIu64
                " RssShmem %" PRIu64 " kB\n",
                ProcStatusKb("VmRSS:"), ProcStatusKb("RssAnon:"), ProcStatusKb("RssFile:"),
                ProcStatusKb("RssShmem:"));
      }
      r.anon_base_kb = r.anon_peak_kb = ProcStatusKb("RssAnon:");
      std::atomic<bool> stop{false};
      std::thread sampler([&] {  // VmHWM has no anonymous-only twin: sample
        while (!stop) {
          r.anon_peak_kb = std::max(r.anon_peak_kb, ProcStatusKb("RssAnon:"));
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
      });
      CollectReport rep;
      auto t0 = Clock::now();
      Check(s->Collect(true, &rep), "trace");
      r.seconds = Seconds(t0, Clock::now());
      stop = true;
      sampler.join();
      r.hwm_kb = ProcStatusKb("VmHWM:");
      if (getenv("GC_BENCH_RSS_DETAIL")) {
        fprintf(stderr,
                "  VmRSS %" PRIu64 " RssAnon %" PRIu64 " RssFile %" PRIu64 " RssShmem %" PRIu64
                " kB\n",
                ProcStatusKb("VmRSS:"), ProcStatusKb("RssAnon:"), ProcStatusKb("RssFile:"),
                ProcStatusKb("RssShmem:"));
      }
      r.traced = rep.traced;
      r.collected = rep.collected;
      Check(s->Close(), "close");
      if (write(fds[1], &r, sizeof(r)) != sizeof(r)) _exit(1);
      _exit(0);
    }
    close(fds[1]);
    TraceResult r;
    ssize_t got = read(fds[0], &r, sizeof(r));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != sizeof(r) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "trace child failed\n");
      exit(1);
    }
    double growth_mb = (static_cast<double>(r.hwm_kb) - r.rss_base_kb) / 1024.0;
    printf("  %9" PRIu64 " objects: traced %" PRIu64 ", freed %" PRIu64
           " in %.1f s (%.0f objects/s); RSS at open %.1f MiB, peak growth %.1f MiB"
           " (of which anonymous %.1f MiB; the rest is the mapped Berkeley DB cache)\n",
           size, r.traced, r.collected, r.seconds, (r.traced + r.collected) / r.seconds,
           r.rss_base_kb / 1024.0, growth_mb,
           (static_cast<double>(r.anon_peak_kb) - r.anon_base_kb) / 1024.0);
    fflush(stdout);
    results.emplace_back(size, r);
    RemoveHome(c, home);
  }
  if (!results.empty()) {
    auto growth = [](const TraceResult& r) {
      return (static_cast<double>(r.hwm_kb) - r.rss_base_kb) / 1024.0;
    };
    double g0 = growth(results.front().second);
    printf("  growth at %" PRIu64 ": %.1f MiB (target <= 64: %s)\n", results.front().first, g0,
           g0 <= 64 ? "met" : "NOT met");
    if (results.size() > 1) {
      double g1 = growth(results.back().second);
      printf("  growth ratio %" PRIu64 "/%" PRIu64 ": %.2f (target <= 1.15: %s)\n",
             results.back().first, results.front().first, g1 / g0,
             g1 / g0 <= 1.15 ? "met" : "NOT met");
    }
  }
}

}  // namespace
}  // namespace durus::bench

int main(int argc, char** argv) {
  using namespace durus::bench;
  Config c;
  if (!ParseFlags(argc, argv, &c)) return 2;
  for (const std::string& b : c.benchmarks) {
    if (b == "collect") {
      BenchCollect(c);
    } else if (b == "latency") {
      BenchLatency(c);
    } else if (b == "proportional") {
      BenchProportional(c);
    } else if (b == "trace") {
      BenchTrace(c);
    } else {
      fprintf(stderr, "unknown benchmark %s\n", b.c_str());
      return 2;
    }
  }
  return 0;
}
