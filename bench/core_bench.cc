// core_bench: the core storage benchmark of issue 2 ("Performance"), in the
// spirit of LevelDB's benchmarks/db_bench.cc.
//
//   core_bench [--benchmarks=commit_refs,commit,load_random,open,recover]
//              [--durability=write_nosync[,sync,nosync]] [--num=N] [--cache_mb=M] ...
//
// Every workload is run twice in the same process, on fresh homes under
// --dir: once through durus::Storage (OpenBdbStorage, CommitBatch, Load:
// what Durus, the server and the Python module use) and once as a raw
// Berkeley DB loop that is the physical ceiling for any wrapper: the same
// environment (opened by bdb::OpenEnvironment, so cache, lock table, log
// buffer, flags are exactly the storage's), a btree opened by the same
// bdb::OpenBtree (so page size and flags match), the same records, the
// same transaction size and the same commit flags (and, in sync mode, the
// same explicit log flush after the commit), and nothing else: no counts,
// no queue, no metadata.  Each line prints our rate, the raw rate and
// their ratio against the target.  --help lists every flag.
//
// The workloads:
//   commit_refs  --num records of --record_size bytes (real Durus records:
//                oid, length, class pickle + zlib-compressed state pickle,
//                refs), --batch per commit, each record referencing --refs
//                distinct existing objects (uniform over the --base objects
//                stored, untimed, before: a reachable store, every object
//                referenced, as Durus's are).  Target: ours >= 0.5 x raw.
//   commit       the same with no refs.  Target >= 0.8 x raw.
//   commit_durus no target: the shape of a real Durus commit, where every
//                new object is referenced: --batch records per commit = a
//                container object referencing --batch - 2 new objects and
//                the previous container, plus the root re-stored to
//                reference the new container.
//   load_random  --reads loads of uniformly random existing oids from a
//                reachable store of --num objects.  Target >= 0.8 x raw gets.
//   load_during_commit  (issue 14) the latency of single loads of random
//                existing oids while another thread runs one Storage::Commit
//                of --big_commit records (re-storing the store's existing
//                records, then new ones), against the same loads with no
//                commit running (idle), same process and store.  Target:
//                p99 during the commit <= 2 x idle p99.  No raw side.
//   open         open + load of oid 0 on a store of --open_large objects
//                vs one of --open_small (clean shutdown), warm (files in
//                the OS page cache) and cold (pages dropped with
//                posix_fadvise first).  Target: large <= 2 x small.
//   recover      the same after a crash: a forked child opens the store,
//                commits --crash_commits commits and SIGKILLs itself
//                without closing; the parent times the open (which runs
//                Berkeley DB recovery) + load of oid 0.
//
// Repeats (--repeats) alternate which side runs first; the figure is the
// median.  This machine is shared: ratios from one run are what counts,
// absolute rates move with the load.
//
// The storage is opened with gc_background=false: the commit workloads
// store new objects nobody references (the shape), which the
// collector would otherwise start deleting under the benchmark.
#include <db_cxx.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bdb/bdb_storage.h"
#include "bdb/environment.h"
#include "bench/bench_flags.h"
#include "engine/commit_batch.h"
#include "engine/record.h"
#include "engine/storage.h"
#include "util/file.h"

namespace durus::bench {
namespace {

// ---------------------------------------------------------------- flags

struct Config {
  std::vector<std::string> benchmarks = {"commit_refs", "commit", "commit_durus",
                                         "load_random", "open",   "recover"};
  std::vector<Durability> durabilities = {Durability::kWriteNoSync};
  uint64_t num = 100000;            // records written (commit_*), store size (load_random)
  uint64_t reads = 500000;          // loads timed by load_random
  uint64_t big_commit = 100000;     // records of load_during_commit's one commit
  uint64_t idle_loads = 20000;      // loads timed idle by load_during_commit
  uint32_t load_interval_us = 100;  // one load due every N us (load_during_commit)
  uint32_t batch = 100;             // records per commit
  uint32_t record_size = 300;       // bytes per record, header and refs included
  uint32_t refs = 2;                // refs per record in commit_refs
  uint64_t base = 10000;            // objects stored (untimed) before commit_* start
  uint32_t cache_mb = 64;
  uint64_t open_small = 1000;
  uint64_t open_large = 1000000;
  uint32_t fill_batch = 1000;  // records per commit when filling stores (untimed)
  uint32_t crash_commits = 200;
  int repeats = 3;
  std::string side = "both";  // both | ours | raw (ours/raw: for profiling)
  std::string dir;            // parent of the temporary homes
  bool keep = false;          // keep the homes (paths are printed)
  uint64_t seed = 301;
  bool checksums = true;                  // page checksums on both sides (format 2)
  std::string csv;                        // append every figure to this CSV file (bench/plot.py)
  std::string csv_source = "core_bench";  // the CSV's source column
};

const char* kUsage =
    "usage: core_bench [flags]\n"
    "  --benchmarks=a,b,...   commit_refs,commit,commit_durus,load_random,open,recover\n"
    "                         (default: all but load_during_commit)\n"
    "                         load_during_commit: load latency during one large commit\n"
    "  --durability=d[,d]     sync | write_nosync | nosync (default write_nosync)\n"
    "  --num=N                records written by commit_*, store size of load_random (100000)\n"
    "  --reads=N              loads timed by load_random (500000)\n"
    "  --big_commit=N         records of load_during_commit's commit (100000)\n"
    "  --idle_loads=N         loads timed idle by load_during_commit (20000)\n"
    "  --load_interval_us=N   load_during_commit: one load due every N us (100)\n"
    "  --batch=N              records per commit (100)\n"
    "  --record_size=N        bytes per record (300)\n"
    "  --refs=N               refs per record in commit_refs (2)\n"
    "  --base=N               objects stored before commit_* (10000)\n"
    "  --cache_mb=N           Berkeley DB cache (64)\n"
    "  --open_small=N --open_large=N   store sizes for open/recover (1000, 1000000)\n"
    "  --fill_batch=N         records per commit when filling (1000)\n"
    "  --crash_commits=N      commits the crashing child writes (200)\n"
    "  --repeats=N            runs per side; the median is reported (3)\n"
    "  --side=both|ours|raw   run only one side (profiling)\n"
    "  --dir=PATH             where the temporary homes go ($TMPDIR or /tmp)\n"
    "  --keep                 do not delete the homes\n"
    "  --seed=N\n"
    "  --checksums=on|off     Berkeley DB page checksums, both sides (on: format 2)\n"
    "  --csv=FILE             also append every figure to FILE (created with a header;\n"
    "                         columns: bench/README.md \"Pictures\"), for bench/plot.py\n"
    "  --csv_source=TEXT      the CSV's source column (core_bench)\n";

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    if (comma > pos) out.push_back(s.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

bool ParseFlags(int argc, char** argv, Config* c) {
  bool ok = ParseBenchFlags(
      argc, argv, kUsage, &c->keep, [&](const std::string& name, const std::string& v) {
        auto u64 = [&](uint64_t* out) { *out = strtoull(v.c_str(), nullptr, 10); };
        auto u32 = [&](uint32_t* out) {
          *out = static_cast<uint32_t>(strtoul(v.c_str(), nullptr, 10));
        };
        if (name == "benchmarks") {
          c->benchmarks = Split(v);
        } else if (name == "durability") {
          c->durabilities.clear();
          for (const std::string& d : Split(v)) {
            Durability dur;
            Status s = ParseDurability(d, &dur);
            if (!s.ok()) {
              fprintf(stderr, "%s\n", s.ToString().c_str());
              return false;
            }
            c->durabilities.push_back(dur);
          }
        } else if (name == "num") {
          u64(&c->num);
        } else if (name == "reads") {
          u64(&c->reads);
        } else if (name == "big_commit") {
          u64(&c->big_commit);
        } else if (name == "idle_loads") {
          u64(&c->idle_loads);
        } else if (name == "load_interval_us") {
          u32(&c->load_interval_us);
        } else if (name == "batch") {
          u32(&c->batch);
        } else if (name == "record_size") {
          u32(&c->record_size);
        } else if (name == "refs") {
          u32(&c->refs);
        } else if (name == "base") {
          u64(&c->base);
        } else if (name == "cache_mb") {
          u32(&c->cache_mb);
        } else if (name == "open_small") {
          u64(&c->open_small);
        } else if (name == "open_large") {
          u64(&c->open_large);
        } else if (name == "fill_batch") {
          u32(&c->fill_batch);
        } else if (name == "crash_commits") {
          u32(&c->crash_commits);
        } else if (name == "repeats") {
          c->repeats = std::max(1, atoi(v.c_str()));
        } else if (name == "side") {
          c->side = v;
        } else if (name == "dir") {
          c->dir = v;
        } else if (name == "seed") {
          u64(&c->seed);
        } else if (name == "checksums") {
          c->checksums = v != "off" && v != "0";
        } else if (name == "csv") {
          c->csv = v;
        } else if (name == "csv_source") {
          c->csv_source = v;
        } else {
          fprintf(stderr, "unknown flag --%s\n", name.c_str());
          return false;
        }
        return true;
      });
  if (!ok) return false;
  if (c->batch == 0 || c->num < 2 || c->base == 0 || c->open_small == 0 || c->big_commit == 0 ||
      c->idle_loads == 0) {
    fprintf(stderr,
            "--batch, --base, --open_small, --big_commit and --idle_loads must be positive, "
            "--num at least 2\n");
    return false;
  }
  if (c->side != "both" && c->side != "ours" && c->side != "raw") {
    fprintf(stderr, "--side must be both, ours or raw\n");
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- helpers

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double CpuNow() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Accumulates the wall time and the process CPU time (every thread: the
// storage's background thread counts against it) of the timed sections.
// On this shared 2-core machine the CPU figure is the steadier one.
struct Stopwatch {
  double wall = 0, cpu = 0;
  Clock::time_point w0;
  double c0 = 0;
  void Start() {
    w0 = Clock::now();
    c0 = CpuNow();
  }
  void Stop() {
    wall += Since(w0);
    cpu += CpuNow() - c0;
  }
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

[[noreturn]] void Die(const std::string& what, const Status& s) {
  fprintf(stderr, "core_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  exit(1);
}

void Check(const Status& s, const std::string& what) {
  if (!s.ok()) Die(what, s);
}

void CheckDb(int ret, const std::string& what) {
  if (ret != 0) {
    fprintf(stderr, "core_bench: %s: %s\n", what.c_str(), DbEnv::strerror(ret));
    exit(1);
  }
}

// A fresh directory under the configured parent, removed unless --keep.
class TempHome {
 public:
  TempHome(const Config& c, const std::string& tag) : keep_(c.keep) {
    std::string parent = c.dir;
    if (parent.empty()) {
      const char* t = getenv("TMPDIR");
      parent = t ? t : "/tmp";
    }
    std::string tmpl = parent + "/core-bench-" + tag + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      perror(("mkdtemp " + tmpl).c_str());
      exit(1);
    }
    path_ = tmpl;
    if (keep_) fprintf(stderr, "  (keeping %s)\n", path_.c_str());
  }
  ~TempHome() {
    if (keep_ || path_.empty()) return;
    std::string error;
    if (!durus::util::RemoveTree(path_, &error)) fprintf(stderr, "%s\n", error.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  bool keep_;
  std::string path_;
};

// Files of `dir` whose name starts with `prefix`, and their total size.
uint64_t FileBytes(const std::string& dir, const std::string& prefix) {
  uint64_t total = 0;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind(prefix, 0) != 0) continue;
    struct stat st;
    if (stat((dir + "/" + n).c_str(), &st) == 0 && S_ISREG(st.st_mode)) total += st.st_size;
  }
  closedir(d);
  return total;
}

// Drop the home's pages from the OS page cache (a "cold" open without
// root's drop_caches): write back, then POSIX_FADV_DONTNEED every file.
// sync() first so no earlier open's dirty pages (Berkeley DB rewrites its
// region files at every open) are still being written back during the
// timed open.
void DropPageCache(const std::string& dir) {
  sync();
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  while (struct dirent* e = readdir(d)) {
    std::string p = dir + "/" + e->d_name;
    struct stat st;
    if (stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    int fd = open(p.c_str(), O_RDONLY);
    if (fd < 0) continue;
    if (fdatasync(fd) != 0) {
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
  }
  closedir(d);
}

// Page size of a btree file (read with a private handle, home closed).
uint32_t PageSizeOf(const std::string& file) {
  Db db(nullptr, DB_CXX_NO_EXCEPTIONS);
  uint32_t ps = 0;
  if (db.open(nullptr, file.c_str(), nullptr, DB_UNKNOWN, DB_RDONLY, 0) == 0) {
    db.get_pagesize(&ps);
  }
  db.close(0);
  return ps;
}

// ---------------------------------------------------------------- records

// Durus-shaped records (durus/serialize.py): oid[8], u32 data length, data
// = class pickle (protocol 2) + zlib-compressed state pickle, refs[8*n].
// A pool of data payloads of each needed length, each built so the whole
// record is exactly --record_size bytes.
class RecordMaker {
 public:
  RecordMaker(uint32_t record_size, uint64_t seed) : record_size_(record_size), rng_(seed) {}

  std::string Make(Oid oid, const std::vector<Oid>& refs) {
    size_t overhead = kRecordHeaderSize + refs.size() * Oid::kSize;
    size_t dlen = record_size_ > overhead + 40 ? record_size_ - overhead : 40;
    std::vector<std::string>& pool = pools_[dlen];
    if (pool.empty()) {
      for (int i = 0; i < kPool; ++i) pool.push_back(MakeData(dlen));
    }
    return PackRecord(oid, pool[oid.value() % kPool], refs);
  }

 private:
  static constexpr int kPool = 64;

  std::string MakeData(size_t dlen) {
    static const char kClass[] =
        "\x80\x02"
        "cbench.model\nItem\nq\x00.";
    std::string cls(kClass, sizeof(kClass) - 1);
    size_t need = dlen - cls.size();
    static const char kWords[] = "abcdefghijklmnopqrstuvwxyz ";
    std::string text, blob;
    for (int i = 0; i < 4096; ++i) text.push_back(kWords[rng_() % 27]);
    for (int i = 0; i < 4096; ++i) blob.push_back(static_cast<char>(rng_()));
    // Vary the incompressible part and the text until zlib's output has
    // exactly `need` bytes (it grows by 0 or 1 byte per text byte).
    for (size_t b = need / 2; b + 1 > 0; --b) {
      for (size_t t = 0; t < 4 * need; ++t) {
        std::string state = "\x80\x02}q\x01(U\x05titleq\x02U";
        state.push_back(static_cast<char>(std::min<size_t>(t, 255)));
        state.append(text, 0, t);
        state +=
            "U\x04"
            "blobq\x03U";
        state.push_back(static_cast<char>(std::min<size_t>(b, 255)));
        state.append(blob, 0, b);
        state += "u.";
        uLongf out_len = compressBound(state.size());
        std::string z(out_len, '\0');
        if (compress2(reinterpret_cast<Bytef*>(z.data()), &out_len,
                      reinterpret_cast<const Bytef*>(state.data()), state.size(), 6) != Z_OK) {
          break;
        }
        if (out_len == need) return cls + z.substr(0, out_len);
        if (out_len > need) break;
      }
      if (b == 0) break;
    }
    // Not reachable for sane sizes; pad so the record size still holds.
    return cls + std::string(need, 'x');
  }

  uint32_t record_size_;
  std::mt19937_64 rng_;
  std::map<size_t, std::vector<std::string>> pools_;
};

using Records = std::vector<std::pair<Oid, std::string>>;

// The commits of a commit_* workload, identical for both sides: the same
// seed gives the same oids, records and refs.
class CommitStream {
 public:
  // Oids from `first_oid` on; refs uniform over [0, ref_range).
  CommitStream(const Config& c, uint32_t refs, uint64_t first_oid, uint64_t ref_range)
      : c_(c),
        refs_(refs),
        next_(first_oid),
        ref_range_(ref_range),
        maker_(c.record_size, c.seed),
        rng_(c.seed + 1) {}

  // The next commit (up to --batch records, fewer at the end of --num).
  bool Next(Records* out) {
    out->clear();
    if (written_ >= c_.num) return false;
    uint64_t n = std::min<uint64_t>(c_.batch, c_.num - written_);
    std::vector<Oid> refs;
    for (uint64_t i = 0; i < n; ++i) {
      Oid oid(next_++);
      refs.clear();
      while (refs.size() < refs_ && refs.size() < ref_range_) {
        Oid r(rng_() % ref_range_);
        if (std::find(refs.begin(), refs.end(), r) == refs.end()) refs.push_back(r);
      }
      std::sort(refs.begin(), refs.end());  // as Durus writes them
      out->emplace_back(oid, maker_.Make(oid, refs));
    }
    written_ += n;
    return true;
  }

 private:
  const Config& c_;
  uint32_t refs_;
  uint64_t next_;
  uint64_t ref_range_;
  uint64_t written_ = 0;
  RecordMaker maker_;
  std::mt19937_64 rng_;
};

// The commits that build a reachable store, as a Durus database is (every
// object referenced, nothing on the pending-garbage queue): commit k stores
// a bucket object referencing the commit's other objects and the previous
// bucket, and re-stores the root (oid 0) referencing the new bucket.
class ReachableFill {
 public:
  // Objects first .. first+n-1; `prev` is the current last bucket (0: none).
  ReachableFill(const Config& c, uint64_t first, uint64_t n, uint64_t prev, uint32_t per_commit,
                uint64_t seed)
      : next_(first),
        end_(first + n),
        prev_(prev),
        per_commit_(per_commit),
        maker_(c.record_size, seed) {}

  bool Next(Records* out) {
    out->clear();
    if (next_ >= end_) return false;
    uint64_t bucket = next_++;
    std::vector<Oid> bucket_refs;
    if (prev_ != 0) bucket_refs.push_back(Oid(prev_));
    for (uint32_t i = 1; i < per_commit_ && next_ < end_; ++i, ++next_) {
      out->emplace_back(Oid(next_), maker_.Make(Oid(next_), {}));
      bucket_refs.push_back(Oid(next_));
    }
    out->emplace_back(Oid(bucket), maker_.Make(Oid(bucket), bucket_refs));
    out->emplace_back(kRootOid, maker_.Make(kRootOid, {Oid(bucket)}));
    prev_ = bucket;
    return true;
  }

  uint64_t last_bucket() const { return prev_; }

 private:
  uint64_t next_, end_, prev_;
  uint32_t per_commit_;
  RecordMaker maker_;
};

// ---------------------------------------------------------------- our side

BdbOptions OurOptions(const Config& c, Durability d) {
  BdbOptions o;
  o.durability = d;
  o.cache_mb = c.cache_mb;
  o.gc_background = false;
  o.page_checksums = c.checksums;
  return o;
}

void OpenOurs(const std::string& home, const BdbOptions& o, std::unique_ptr<Storage>* s) {
  Check(OpenBdbStorage(home, o, s), "opening " + home);
}

void CommitRecords(Storage* s, Records* recs) {
  CommitBatch batch;
  for (auto& [oid, rec] : *recs) Check(batch.Add(oid, std::move(rec)), "adding a record");
  Check(s->Commit(batch), "committing");
}

// A reachable store of n objects, 0..n-1 (untimed).
// Returns the last bucket (see ReachableFill).
uint64_t FillBase(Storage* s, const Config& c, uint64_t n) {
  ReachableFill fill(c, 1, n - 1, 0, c.fill_batch, c.seed + 7);
  Records recs;
  while (fill.Next(&recs)) CommitRecords(s, &recs);
  return fill.last_bucket();
}

// The timed part of one commit, out of line so a profiler can isolate it
// (valgrind --toggle-collect='*TimedCommit*').
__attribute__((noinline)) void TimedCommit(Storage* s, Records* recs, CommitBatch* batch) {
  // Durus's begin / store... / end.
  batch->Clear();
  for (auto& [oid, rec] : *recs) Check(batch->Add(oid, std::move(rec)), "adding a record");
  Check(s->Commit(*batch), "committing");
}

// ---------------------------------------------------------------- raw side

// The ceiling: a plain btree in an environment opened exactly as the
// storage opens its own.
class RawStore {
 public:
  RawStore(const std::string& home, const Config& c, Durability d) : d_(d) {
    BdbOptions o = OurOptions(c, d);
    Check(bdb::MakeDirs(home), "creating " + home);
    Check(bdb::OpenEnvironment(home, o, &env_), "opening the raw environment");
    Check(bdb::OpenBtree(env_.get(), home, "records.db", false, &db_, true, c.checksums),
          "opening raw records.db");
    buf_.resize(4096);
  }
  ~RawStore() {
    // Like BdbStorage::Close: a checkpoint so nothing is left to recover.
    env_->txn_checkpoint(0, 0, DB_FORCE);
    db_.reset();
    env_.reset();
  }

  // One transaction; the storage's commit flags (bdb/storage_open.cc
  // CommitFlags) and, in sync mode, its explicit flush.
  // Out of line for profiling; the timed loop calls TimedPut.
  __attribute__((noinline)) void Put(const Records& recs) {
    DbTxn* txn = nullptr;
    CheckDb(env_->txn_begin(nullptr, &txn, 0), "raw txn_begin");
    char kb[8];
    for (const auto& [oid, rec] : recs) {
      oid.ToBytes(kb);
      Dbt key(kb, 8);
      Dbt data(const_cast<char*>(rec.data()), static_cast<u_int32_t>(rec.size()));
      CheckDb(db_->put(txn, &key, &data, 0), "raw put");
    }
    CheckDb(txn->commit(d_ == Durability::kNoSync ? DB_TXN_NOSYNC : DB_TXN_WRITE_NOSYNC),
            "raw commit");
    if (d_ == Durability::kSync) CheckDb(env_->log_flush(nullptr), "raw log_flush");
  }

  // Size of the record, or 0 if absent.
  __attribute__((noinline)) size_t Get(Oid oid) {
    char kb[8];
    oid.ToBytes(kb);
    Dbt key(kb, 8);
    for (;;) {
      Dbt data;
      data.set_flags(DB_DBT_USERMEM);
      data.set_data(buf_.data());
      data.set_ulen(static_cast<u_int32_t>(buf_.size()));
      int ret = db_->get(nullptr, &key, &data, 0);
      if (ret == DB_BUFFER_SMALL) {
        buf_.resize(data.get_size());
        continue;
      }
      if (ret == DB_NOTFOUND) return 0;
      CheckDb(ret, "raw get");
      return data.get_size();
    }
  }

 private:
  Durability d_;
  bdb::EnvPtr env_;
  bdb::DbPtr db_;
  std::string buf_;
};

__attribute__((noinline)) void TimedRawPut(RawStore* raw, const Records& recs) { raw->Put(recs); }

// The same records in the raw btree, in the same transactions.
uint64_t RawFillBase(RawStore* raw, const Config& c, uint64_t n) {
  ReachableFill fill(c, 1, n - 1, 0, c.fill_batch, c.seed + 7);
  Records recs;
  while (fill.Next(&recs)) raw->Put(recs);
  return fill.last_bucket();
}

// ---------------------------------------------------------------- report

// Rates of each repeat: per wall second and per CPU second.
struct Result {
  std::vector<double> ours, raw, ours_cpu, raw_cpu;
  void Add(bool is_ours, double ops, const Stopwatch& w) {
    (is_ours ? ours : raw).push_back(ops / w.wall);
    (is_ours ? ours_cpu : raw_cpu).push_back(ops / w.cpu);
  }
};

// --csv: one row per figure, in the schema every bench/results/*.csv uses
// (bench/plot.py reads them all): ours against a baseline ("peer"), and
// their ratio.  Appended, so that runs accumulate in one file.
class CsvSink {
 public:
  static CsvSink& Get() {
    static CsvSink sink;
    return sink;
  }
  static constexpr const char* kHeader =
      "date,source,workload,durability,unit,ours,peer,peer_name,ratio,cpu_ratio\n";
  // False (after saying why) if FILE cannot be opened for appending.
  bool Open(const std::string& path, const std::string& source) {
    if (path.empty()) return true;
    f_ = fopen(path.c_str(), "a");
    if (f_ == nullptr) {
      fprintf(stderr, "core_bench: cannot open %s: %s\n", path.c_str(), strerror(errno));
      return false;
    }
    if (ftell(f_) == 0) fputs(kHeader, f_);
    source_ = source;
    for (char& ch : source_) {
      if (ch == ',' || ch == '"' || ch == '\n') ch = ' ';  // one plain field
    }
    time_t now = time(nullptr);
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    date_ = date;
    return true;
  }
  // cpu_ratio <= 0: not measured (left empty).
  void Row(const std::string& workload, Durability d, const char* unit, double ours, double peer,
           const char* peer_name, double cpu_ratio) {
    if (f_ == nullptr) return;
    fprintf(f_, "%s,%s,%s,%s,%s,%.6g,%.6g,%s,%.6g,", date_.c_str(), source_.c_str(),
            workload.c_str(), DurabilityName(d), unit, ours, peer, peer_name,
            peer > 0 ? ours / peer : 0.0);
    if (cpu_ratio > 0) fprintf(f_, "%.6g", cpu_ratio);
    fputc('\n', f_);
    fflush(f_);
  }
  ~CsvSink() {
    if (f_ != nullptr) fclose(f_);
  }

 private:
  FILE* f_ = nullptr;
  std::string source_, date_;
};

bool RunOurs(const Config& c) { return c.side != "raw"; }
bool RunRaw(const Config& c) { return c.side != "ours"; }

void PrintRatio(const char* name, Durability d, const char* unit, const Result& r, double target) {
  double o = Median(r.ours), w = Median(r.raw);
  printf("%-12s %-12s : ours %10.0f %s", name, DurabilityName(d), o, unit);
  if (r.ours.size() > 1) {
    printf(" [%.0f..%.0f]", *std::min_element(r.ours.begin(), r.ours.end()),
           *std::max_element(r.ours.begin(), r.ours.end()));
  }
  printf(" | raw %10.0f %s", w, unit);
  if (r.raw.size() > 1) {
    printf(" [%.0f..%.0f]", *std::min_element(r.raw.begin(), r.raw.end()),
           *std::max_element(r.raw.begin(), r.raw.end()));
  }
  if (o > 0 && w > 0) {
    double ratio = o / w;
    printf(" | ratio %.2f", ratio);
    if (target > 0) {
      printf(" (target >= %.2f: %s", target, ratio >= target ? "met" : "MISSED");
      if (ratio < target) printf(", short by %.0f%%", 100 * (target - ratio) / target);
      printf(")");
    }
  }
  double oc = Median(r.ours_cpu), wc = Median(r.raw_cpu);
  if (oc > 0 && wc > 0) printf(" | per cpu-s %.0f vs %.0f, ratio %.2f", oc, wc, oc / wc);
  printf("\n");
  fflush(stdout);
  if (o > 0 && w > 0)
    CsvSink::Get().Row(name, d, unit, o, w, "raw_bdb", oc > 0 && wc > 0 ? oc / wc : 0);
}

// ---------------------------------------------------------------- workloads

enum class Shape { kRefs, kPlain, kDurus };

// The timed commits of a commit_* workload after a base store whose last
// bucket is `last_bucket`; the same sequence for both sides.
std::function<bool(Records*)> MakeStream(const Config& c, Shape shape, uint64_t last_bucket) {
  if (shape == Shape::kDurus) {
    // --batch records per commit: a bucket, --batch - 2 items, the root.
    auto fill = std::make_shared<ReachableFill>(c, c.base, c.num, last_bucket,
                                                std::max<uint32_t>(c.batch - 1, 2), c.seed + 13);
    return [fill](Records* out) { return fill->Next(out); };
  }
  auto stream =
      std::make_shared<CommitStream>(c, shape == Shape::kRefs ? c.refs : 0, c.base, c.base);
  return [stream](Records* out) { return stream->Next(out); };
}

// commit_refs / commit / commit_durus: records per second over the timed
// commits.
void BenchCommits(const Config& c, Durability d, Shape shape) {
  const char* name = shape == Shape::kRefs    ? "commit_refs"
                     : shape == Shape::kPlain ? "commit"
                                              : "commit_durus";
  Result r;
  for (int rep = 0; rep < c.repeats; ++rep) {
    for (int turn = 0; turn < 2; ++turn) {
      bool ours = (turn == 0) == (rep % 2 == 0);
      uint64_t records = 0;
      if (ours && RunOurs(c)) {
        TempHome home(c, "ours");
        std::unique_ptr<Storage> s;
        OpenOurs(home.path(), OurOptions(c, d), &s);
        auto next = MakeStream(c, shape, FillBase(s.get(), c, c.base));
        Records recs;
        Stopwatch w;
        CommitBatch batch;
        while (next(&recs)) {
          records += recs.size();
          w.Start();
          TimedCommit(s.get(), &recs, &batch);
          w.Stop();
        }
        StorageStats st;
        Check(s->GetStats(&st), "stats");
        if (st.object_count != c.base + c.num) {
          fprintf(stderr, "core_bench: %s: expected %" PRIu64 " objects, have %" PRIu64 "\n", name,
                  c.base + c.num, st.object_count);
          exit(1);
        }
        Check(s->Close(), "closing");
        r.Add(true, records, w);
      } else if (!ours && RunRaw(c)) {
        TempHome home(c, "raw");
        RawStore raw(home.path(), c, d);
        auto next = MakeStream(c, shape, RawFillBase(&raw, c, c.base));
        Records recs;
        Stopwatch w;
        while (next(&recs)) {
          records += recs.size();
          w.Start();
          TimedRawPut(&raw, recs);
          w.Stop();
        }
        r.Add(false, records, w);
      }
    }
  }
  // The commit targets are stated for write_nosync; commit_durus
  // (the shape of a real Durus commit) has none.
  double target = 0;
  if (d == Durability::kWriteNoSync && shape == Shape::kRefs) target = 0.5;
  if (d == Durability::kWriteNoSync && shape == Shape::kPlain) target = 0.8;
  PrintRatio(name, d, "rec/s", r, target);
}

// load_random: loads per second of uniformly random existing oids.
void BenchLoads(const Config& c, Durability d) {
  Result r;
  std::vector<uint64_t> expected_bytes(c.repeats, 0);
  for (int rep = 0; rep < c.repeats; ++rep) {
    for (int turn = 0; turn < 2; ++turn) {
      bool ours = (turn == 0) == (rep % 2 == 0);
      std::mt19937_64 rng(c.seed + 3 + rep);
      uint64_t bytes = 0;
      if (ours && RunOurs(c)) {
        TempHome home(c, "ours");
        std::unique_ptr<Storage> s;
        OpenOurs(home.path(), OurOptions(c, d), &s);
        FillBase(s.get(), c, c.num);
        std::string rec;
        Stopwatch w;
        w.Start();
        for (uint64_t i = 0; i < c.reads; ++i) {
          Check(s->Load(Oid(rng() % c.num), &rec), "loading");
          bytes += rec.size();
        }
        w.Stop();
        Check(s->Close(), "closing");
        r.Add(true, c.reads, w);
      } else if (!ours && RunRaw(c)) {
        TempHome home(c, "raw");
        RawStore raw(home.path(), c, d);
        RawFillBase(&raw, c, c.num);
        Stopwatch w;
        w.Start();
        for (uint64_t i = 0; i < c.reads; ++i) bytes += raw.Get(Oid(rng() % c.num));
        w.Stop();
        r.Add(false, c.reads, w);
      }
      // Both sides must have read the same bytes (same oids, same records).
      if (bytes != 0) {
        if (expected_bytes[rep] != 0 && expected_bytes[rep] != bytes) {
          fprintf(stderr, "core_bench: load_random: ours and raw read different bytes\n");
          exit(1);
        }
        expected_bytes[rep] = bytes;
      }
    }
  }
  PrintRatio("load_random", d, "loads/s", r, 0.8);
}

// Percentile of `v` (sorted in place).
double Pct(std::vector<double>* v, double p) {
  if (v->empty()) return 0;
  std::sort(v->begin(), v->end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v->size() - 1) + 0.5);
  return (*v)[std::min(i, v->size() - 1)];
}

// Latencies (seconds) of single loads: `s` from when each was due,
// `call` of the Load call alone.
struct Latencies {
  std::vector<double> s, call;
  double Pct(double p) { return durus::bench::Pct(&s, p); }
  double Max() { return s.empty() ? 0 : *std::max_element(s.begin(), s.end()); }
};

// Loads of random existing oids of [0, n), one due every `interval`
// seconds from *go on (a steady client, not one that stops asking while a
// load waits): each load's latency runs from when it was due, so a load
// that waits also delays the ones due meanwhile, and they count (no
// "coordinated omission").  Stops after `max` loads, or at the first load
// due after *end_ns (Clock nanoseconds; 0: not yet) once it is set.
void PacedLoads(Storage* s, uint64_t n, uint64_t seed, double interval, uint64_t max,
                const std::atomic<bool>* go, const std::atomic<int64_t>* end_ns, Latencies* out) {
  std::mt19937_64 rng(seed);
  std::string rec;
  prctl(PR_SET_TIMERSLACK, 1UL);  // wake at the due time, not up to 50 us later
  while (go != nullptr && !go->load()) std::this_thread::yield();
  const auto start = Clock::now();
  for (uint64_t i = 0; i < max; ++i) {
    const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(interval * static_cast<double>(i)));
    if (end_ns != nullptr) {
      int64_t end = end_ns->load();
      if (end != 0 && due.time_since_epoch().count() > end) break;
    }
    // Sleep, not spin or yield: on a busy machine a spinning or yielding
    // thread loses its core for milliseconds at a time, which would be
    // measured as load latency; a sleeper is woken promptly.
    std::this_thread::sleep_until(due);
    const auto called = Clock::now();
    Check(s->Load(Oid(rng() % n), &rec), "loading");
    const auto done = Clock::now();
    out->s.push_back(std::chrono::duration<double>(done - due).count());
    out->call.push_back(std::chrono::duration<double>(done - called).count());
  }
}

// load_during_commit (issue 14): may a load wait for a writer?  One store
// of --num objects per repeat.  Idle: --idle_loads paced loads
// (PacedLoads, one due every --load_interval_us), nothing else running.
// Then this thread calls Storage::Commit with --big_commit records (the
// store's existing records re-stored as they are, oid 1 on, so every
// record page is written; new unreferenced objects for the rest) while
// another runs the same paced loads: every load due before the commit
// returned counts.  Without snapshot reads a load meeting a page the
// commit wrote waits for the rest of the commit (its page locks are held
// to the end), and so do the loads due meanwhile.
void BenchLoadDuringCommit(const Config& c, Durability d) {
  if (!RunOurs(c)) return;
  std::vector<double> idle50, idle99, dur50, dur99, dur_max, commit_s, loads_n, idle_call99,
      dur_call99;
  for (int rep = 0; rep < c.repeats; ++rep) {
    TempHome home(c, "ldc");
    std::unique_ptr<Storage> s;
    OpenOurs(home.path(), OurOptions(c, d), &s);
    FillBase(s.get(), c, c.num);
    CommitBatch batch;
    {
      RecordMaker maker(c.record_size, c.seed + 17);
      std::string rec;
      for (uint64_t i = 0; i < c.big_commit; ++i) {
        Oid oid(1 + i);
        if (oid.value() < c.num) {
          Check(s->Load(oid, &rec), "loading a record to re-store");
        } else {
          rec = maker.Make(oid, {});
        }
        Check(batch.Add(oid, std::move(rec)), "adding a record");
        rec.clear();
      }
    }
    Latencies idle, during;
    const double interval = c.load_interval_us * 1e-6;
    PacedLoads(s.get(), c.num, c.seed + 5 + rep, interval, c.idle_loads, nullptr, nullptr, &idle);
    std::atomic<bool> go{false};
    std::atomic<int64_t> end_ns{0};
    std::thread loader(PacedLoads, s.get(), c.num, c.seed + 6 + rep, interval, UINT64_MAX, &go,
                       &end_ns, &during);
    auto t0 = Clock::now();
    go = true;
    Status cs = s->Commit(batch);
    end_ns = Clock::now().time_since_epoch().count();
    commit_s.push_back(Since(t0));
    loader.join();
    Check(cs, "the large commit");
    Check(s->Close(), "closing");
    idle50.push_back(idle.Pct(0.5) * 1e6);
    idle99.push_back(idle.Pct(0.99) * 1e6);
    loads_n.push_back(static_cast<double>(during.s.size()));
    dur50.push_back(during.Pct(0.5) * 1e6);
    dur99.push_back(during.Pct(0.99) * 1e6);
    dur_max.push_back(during.Max() * 1e6);
    idle_call99.push_back(Pct(&idle.call, 0.99) * 1e6);
    dur_call99.push_back(Pct(&during.call, 0.99) * 1e6);
  }
  double i99 = Median(idle99), d99 = Median(dur99);
  double ratio = i99 > 0 ? d99 / i99 : 0;
  printf("%-12s %-12s : idle p50 %.1f p99 %.1f us | during a %" PRIu64
         "-record commit (%.2f s): %.0f loads, p50 %.1f p99 %.1f max %.0f us | p99 ratio %.2f "
         "(target <= 2.00: %s) | the Load call alone: p99 idle %.1f, during %.1f us\n",
         "load_during_commit", DurabilityName(d), Median(idle50), i99, c.big_commit,
         Median(commit_s), Median(loads_n), Median(dur50), d99, Median(dur_max), ratio,
         ratio <= 2.0 ? "met" : "MISSED", Median(idle_call99), Median(dur_call99));
  fflush(stdout);
  CsvSink::Get().Row("load_during_commit_p99", d, "us", d99, i99, "idle_p99_same_process", 0);
}

// Appends n reachable objects from `first` on; `prev` is the last bucket.
void FillReachable(Storage* s, const Config& c, uint64_t first, uint64_t n, uint64_t prev,
                   uint32_t per_commit, uint64_t seed) {
  ReachableFill fill(c, first, n, prev, per_commit, seed);
  Records recs;
  while (fill.Next(&recs)) CommitRecords(s, &recs);
}

// Builds a store of `objects` objects in `home` (root + reachable tree).
void BuildOpenStore(const Config& c, const std::string& home, uint64_t objects) {
  std::unique_ptr<Storage> s;
  OpenOurs(home, OurOptions(c, Durability::kWriteNoSync), &s);
  FillReachable(s.get(), c, 1, objects - 1, 0, c.fill_batch, c.seed + 11);
  StorageStats st;
  Check(s->GetStats(&st), "stats");
  if (st.object_count != objects || st.pending_garbage != 0) {
    fprintf(stderr,
            "core_bench: built %" PRIu64 " objects (%" PRIu64 " pending), wanted %" PRIu64 "\n",
            st.object_count, st.pending_garbage, objects);
    exit(1);
  }
  Check(s->Close(), "closing");
}

struct OpenTiming {
  double open_s = 0, load_s = 0;
  double total() const { return open_s + load_s; }
};

OpenTiming TimeOpen(const Config& c, Durability d, const std::string& home) {
  OpenTiming t;
  BdbOptions o = OurOptions(c, d);
  o.gc_background = true;  // what a user gets; the stores have no garbage
  std::unique_ptr<Storage> s;
  auto t0 = Clock::now();
  OpenOurs(home, o, &s);
  t.open_s = Since(t0);
  auto t1 = Clock::now();
  std::string root;
  Check(s->Load(kRootOid, &root), "loading the root");
  t.load_s = Since(t1);
  Check(s->Close(), "closing");
  return t;
}

// The child of a crash: commit, then die without closing anything.
[[noreturn]] void CrashChild(const Config& c, Durability d, const std::string& home,
                             uint64_t seed) {
  std::unique_ptr<Storage> s;
  Status st = OpenBdbStorage(home, OurOptions(c, d), &s);
  if (!st.ok()) _exit(2);
  std::string root;
  if (!s->Load(kRootOid, &root).ok()) _exit(3);
  std::vector<Oid> refs = RecordRefs(root);
  StorageStats stats;
  if (refs.empty() || !s->GetStats(&stats).ok()) _exit(4);
  uint64_t n = uint64_t{c.crash_commits} * c.batch;
  // Durus-like commits of --batch records (bucket + items + root).
  FillReachable(s.get(), c, stats.next_oid, n, refs[0].value(), c.batch, seed);
  if (d == Durability::kNoSync) {
    // nosync loses the buffered tail on a crash; flush so the log holds
    // the work and recovery has it to replay, as in the other modes.
    if (!s->Flush().ok()) _exit(5);
  }
  kill(getpid(), SIGKILL);
  _exit(6);
}

void Crash(const Config& c, Durability d, const std::string& home, uint64_t seed) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(1);
  }
  if (pid == 0) CrashChild(c, d, home, seed);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
    fprintf(stderr, "core_bench: crash child ended with status %d\n", status);
    exit(1);
  }
}

void PrintOpen(const char* name, Durability d, const char* variant, uint64_t small_n,
               const std::vector<OpenTiming>& small, uint64_t large_n,
               const std::vector<OpenTiming>& large, double target, const std::string& extra) {
  auto med = [](const std::vector<OpenTiming>& v, double (*f)(const OpenTiming&)) {
    std::vector<double> x;
    for (const OpenTiming& t : v) x.push_back(f(t));
    return Median(x) * 1000;
  };
  auto total = [](const OpenTiming& t) { return t.total(); };
  auto open = [](const OpenTiming& t) { return t.open_s; };
  auto load = [](const OpenTiming& t) { return t.load_s; };
  double s = med(small, total), l = med(large, total);
  printf("%-12s %-12s : %-5s %7" PRIu64 " objs %8.2f ms (open %.2f + load %.2f) | %7" PRIu64
         " objs %8.2f ms (open %.2f + load %.2f) | ratio %.2f",
         name, DurabilityName(d), variant, small_n, s, med(small, open), med(small, load), large_n,
         l, med(large, open), med(large, load), l / s);
  if (target > 0) {
    printf(" (target <= %.2f: %s)", target, l / s <= target ? "met" : "MISSED");
  }
  printf("%s\n", extra.c_str());
  fflush(stdout);
  // Open does not grow with the store: the large store's time against the
  // same open of the small store (the figure's ratio and target).
  CsvSink::Get().Row(std::string(name) + "_" + variant, d, "ms", l, s,
                     ("same_at_" + std::to_string(small_n) + "_objects").c_str(), 0);
}

// The two stores of open / recover, built once per run and shared.
struct OpenStores {
  std::unique_ptr<TempHome> small, large;
};

OpenStores* GetOpenStores(const Config& c) {
  static OpenStores stores;
  if (!stores.small) {
    stores.small = std::make_unique<TempHome>(c, "open-small");
    stores.large = std::make_unique<TempHome>(c, "open-large");
    auto t0 = Clock::now();
    BuildOpenStore(c, stores.small->path(), c.open_small);
    BuildOpenStore(c, stores.large->path(), c.open_large);
    fprintf(stderr, "  (built the open stores in %.1f s)\n", Since(t0));
  }
  return &stores;
}

// The raw ceiling of an open: bdb::OpenEnvironment (which runs recovery,
// as the storage does) + the records btree + one get of oid 0.
OpenTiming TimeRawOpen(const Config& c, Durability d, const std::string& home) {
  OpenTiming t;
  auto t0 = Clock::now();
  {
    bdb::EnvPtr env;
    bdb::DbPtr db;
    Check(bdb::OpenEnvironment(home, OurOptions(c, d), &env), "raw open of " + home);
    Check(bdb::OpenBtree(env.get(), home, "records.db", false, &db), "raw records.db");
    t.open_s = Since(t0);
    auto t1 = Clock::now();
    char kb[8] = {0};
    char buf[4096];
    Dbt key(kb, 8);
    Dbt data;
    data.set_flags(DB_DBT_USERMEM);
    data.set_data(buf);
    data.set_ulen(sizeof buf);
    CheckDb(db->get(nullptr, &key, &data, 0), "raw get of oid 0");
    t.load_s = Since(t1);
    db.reset();
    env->txn_checkpoint(0, 0, DB_FORCE);
  }
  return t;
}

// open: open + load(0), clean shutdown; warm (the home's files in the OS
// page cache) and cold (dropped first).  Also the raw ceiling.
void BenchOpen(const Config& c, Durability d) {
  if (!RunOurs(c)) return;
  OpenStores* st = GetOpenStores(c);
  const std::string& sh = st->small->path();
  const std::string& lh = st->large->path();
  char extra[128];
  snprintf(extra, sizeof extra, " [records.db %.0f MB]", FileBytes(lh, "records.db") / 1048576.0);
  for (int cold = 0; cold < 2; ++cold) {
    std::vector<OpenTiming> small, large;
    TimeOpen(c, d, sh);  // one untimed open each: the same state for every run
    TimeOpen(c, d, lh);
    for (int rep = 0; rep < std::max(c.repeats, 5); ++rep) {
      for (int turn = 0; turn < 2; ++turn) {  // alternate which store goes first
        bool is_large = (turn == 0) == (rep % 2 == 1);
        const std::string& h = is_large ? lh : sh;
        if (cold) DropPageCache(h);
        (is_large ? large : small).push_back(TimeOpen(c, d, h));
      }
    }
    PrintOpen("open", d, cold ? "cold" : "warm", c.open_small, small, c.open_large, large,
              cold ? 0 : 2.0, extra);
  }
  if (RunRaw(c)) {
    std::vector<OpenTiming> small, large;
    for (int rep = 0; rep < std::max(c.repeats, 5); ++rep) {
      small.push_back(TimeRawOpen(c, d, sh));
      large.push_back(TimeRawOpen(c, d, lh));
    }
    PrintOpen("open_raw", d, "warm", c.open_small, small, c.open_large, large, 0, extra);
  }
}

// Copy a closed home (every file) into a fresh temporary home.
std::unique_ptr<TempHome> CopyHome(const Config& c, const std::string& from, const char* tag) {
  auto to = std::make_unique<TempHome>(c, tag);
  std::string cmd = "cp -a '" + from + "/.' '" + to->path() + "/'";
  if (system(cmd.c_str()) != 0) {
    fprintf(stderr, "core_bench: %s failed\n", cmd.c_str());
    exit(1);
  }
  return to;
}

// recover: open + load(0) right after a writer was SIGKILLed, each time on
// a fresh copy of the clean store, so every run replays the same work.
void BenchRecover(const Config& c, Durability d) {
  if (!RunOurs(c)) return;
  OpenStores* st = GetOpenStores(c);
  std::vector<OpenTiming> small, large;
  uint64_t log_small = 0, log_large = 0;
  for (int rep = 0; rep < c.repeats; ++rep) {
    for (int which = 0; which < 2; ++which) {
      auto home = CopyHome(c, (which ? st->large : st->small)->path(), "recover");
      Crash(c, d, home->path(), c.seed + 100 + rep);
      uint64_t log = FileBytes(home->path(), "log.");
      (which ? log_large : log_small) = std::max(which ? log_large : log_small, log);
      (which ? large : small).push_back(TimeOpen(c, d, home->path()));
    }
  }
  char extra[160];
  snprintf(extra, sizeof extra,
           " [crash after %u commits of %u; log files at crash %.0f / %.0f MB]", c.crash_commits,
           c.batch, log_small / 1048576.0, log_large / 1048576.0);
  PrintOpen("recover", d, "crash", c.open_small, small, c.open_large, large, 0, extra);
}

// ---------------------------------------------------------------- main

void PrintHeader(const Config& c) {
  // Page sizes: the storage's records.db and the raw btree, both as created
  // by bdb::OpenBtree in an environment from bdb::OpenEnvironment.
  TempHome ours_home(c, "probe-ours"), raw_home(c, "probe-raw");
  {
    std::unique_ptr<Storage> s;
    OpenOurs(ours_home.path(), OurOptions(c, Durability::kWriteNoSync), &s);
    Check(s->Close(), "closing");
    RawStore raw(raw_home.path(), c, Durability::kWriteNoSync);
  }
  uint32_t ours_ps = PageSizeOf(ours_home.path() + "/records.db");
  uint32_t raw_ps = PageSizeOf(raw_home.path() + "/records.db");
  RecordMaker m(c.record_size, 1);
  std::string sample = m.Make(Oid(12345), {Oid(1), Oid(2)});
  printf("core_bench: Berkeley DB %s\n", DbEnv::version(nullptr, nullptr, nullptr));
  printf("  records   %u B (Durus-shaped: class pickle + zlib state; class '%s'), %u per commit\n",
         c.record_size, ExtractClassName(sample).c_str(), c.batch);
  printf("  commit_*  %" PRIu64 " records timed after %" PRIu64
         " stored; commit_refs: %u refs "
         "per record\n",
         c.num, c.base, c.refs);
  printf("  loads     %" PRIu64 " random over %" PRIu64 " objects\n", c.reads, c.num);
  printf("  cache     %u MB; page size ours %u B, raw %u B; repeats %d (median; [min..max])\n",
         c.cache_mb, ours_ps, raw_ps, c.repeats);
  printf(
      "  raw       plain btree, same env (bdb::OpenEnvironment) and btree open "
      "(bdb::OpenBtree), same txn size and commit flags\n");
  printf("---------------------------------------------------------------------------------\n");
  fflush(stdout);
}

}  // namespace
}  // namespace durus::bench

int main(int argc, char** argv) {
  using namespace durus::bench;
  Config c;
  if (!ParseFlags(argc, argv, &c)) return 2;
  if (!CsvSink::Get().Open(c.csv, c.csv_source)) return 2;
  PrintHeader(c);
  for (durus::Durability d : c.durabilities) {
    for (const std::string& b : c.benchmarks) {
      if (b == "commit_refs") {
        BenchCommits(c, d, Shape::kRefs);
      } else if (b == "commit") {
        BenchCommits(c, d, Shape::kPlain);
      } else if (b == "commit_durus") {
        BenchCommits(c, d, Shape::kDurus);
      } else if (b == "load_random") {
        BenchLoads(c, d);
      } else if (b == "load_during_commit") {
        BenchLoadDuringCommit(c, d);
      } else if (b == "open") {
        BenchOpen(c, d);
      } else if (b == "recover") {
        BenchRecover(c, d);
      } else {
        fprintf(stderr, "unknown benchmark %s\n", b.c_str());
        return 2;
      }
    }
  }
  return 0;
}
