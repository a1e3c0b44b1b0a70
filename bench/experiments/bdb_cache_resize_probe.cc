// Does Berkeley DB 5.3 keep every committed record when an open
// environment's cache grows (DbEnv::set_cachesize after open, up to
// set_cache_max)?  The experiment behind "a cache grown while open" in
// bdb/env_shape.h and bench/README.md ("Small homes"): here it does not
// when any other thread uses the cache during the resize (and the storage
// lost records even with none: the README).
//
// Not part of the build: it uses Berkeley DB directly, which only bdb/
// may.  By hand:
//   g++ -O1 -o /tmp/resize_probe bench/experiments/bdb_cache_resize_probe.cc -ldb_cxx -lpthread
//   /tmp/resize_probe MODE RESIZE RUNS      (MODE writer|reader|single,
//                                            RESIZE 1 or 0 for the baseline)
// Each run: a new environment in a temporary directory, a 2 MiB cache that
// may grow to 8 regions (as durus-bdb's new home), 60,000 puts of 300 B
// (random keys, auto-commit, DB_TXN_WRITE_NOSYNC).  While they run the
// main thread grows the cache one region at a time up to 6, whenever the
// first region is full (5.3 sizes new regions from its current size),
// with a checkpoint every 50 ms on the same thread; then a final
// checkpoint, the database and the environment closed (without error),
// the regions removed, the environment recovered (DB_RECOVER) and every
// key looked up.  Modes:
//   writer  the puts run concurrently with the resizes;
//   reader  the puts pause (a mutex) during each resize, a reader thread
//           reads random written keys throughout;
//   single  no other thread: half the puts, the resizes, the other half.
// Prints, per run, the records missing after recovery among those whose
// put returned 0 (and, if any put failed, how many and why).
#include <db_cxx.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kRecords = 60000;
std::vector<char> failed;  // the puts that returned an error, by index
std::atomic<int> failures{0};

unsigned KeyOf(int i) { return static_cast<unsigned>(i) * 2654435761u; }

int Open(DbEnv* env, const char* home, bool growable) {
  env->set_cachesize(0, 2 << 20, 1);
  if (growable) {
    u_int32_t g = 0, b = 0;
    int n = 0;
    env->get_cachesize(&g, &b, &n);  // 2 MiB + 25%: one region
    env->set_cache_max(0, b * 8);
  }
  env->set_lk_max_locks(28000);
  env->set_lk_max_objects(28000);
  env->set_lk_max_lockers(5000);
  env->set_flags(DB_REGION_INIT, 1);
  env->set_flags(DB_TXN_WRITE_NOSYNC, 1);
  return env->open(
      home,
      DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_THREAD | DB_RECOVER,
      0644);
}

// Grows the cache to `regions` once its first region is full; false if
// not yet full.
bool Grow(DbEnv* env, int regions) {
  DB_MPOOL_STAT* mp = nullptr;
  env->memp_stat(&mp, nullptr, 0);
  const unsigned long first = mp->st_regsize, full = mp->st_regmax;
  free(mp);
  if (first < full) return false;
  // set_cachesize adds 25% below 500 MB and divides by the first region.
  int ret = env->set_cachesize(0, static_cast<u_int32_t>(regions * first / 5 * 4), 0);
  if (ret != 0) fprintf(stderr, "set_cachesize: %s\n", DbEnv::strerror(ret));
  return true;
}

int Run(const std::string& mode, bool resize) {
  char dir[] = "/tmp/resize-probe-XXXXXX";
  if (mkdtemp(dir) == nullptr) return -1;
  const std::string payload(300, 'x');
  {
    DbEnv env(DB_CXX_NO_EXCEPTIONS);
    if (Open(&env, dir, true) != 0) return -1;
    Db db(&env, 0);
    db.open(nullptr, "a.db", nullptr, DB_BTREE, DB_CREATE | DB_AUTO_COMMIT | DB_THREAD, 0644);
    std::mutex write_mu;
    failed.assign(kRecords, 0);
    failures = 0;
    std::atomic<int> written{0};
    std::atomic<bool> done{false};
    auto put = [&](int i) {
      unsigned k = KeyOf(i);
      Dbt key(&k, sizeof k), val(const_cast<char*>(payload.data()), payload.size());
      int ret = db.put(nullptr, &key, &val, DB_AUTO_COMMIT);
      if (ret != 0) {
        failed[i] = 1;
        if (failures++ == 0) fprintf(stderr, "put %d: %s\n", i, DbEnv::strerror(ret));
      }
      written = i + 1;
    };
    if (mode == "single") {
      for (int i = 0; i < kRecords / 2; ++i) put(i);
      for (int r = 2; r <= 6 && resize; ++r) Grow(&env, r);
      for (int i = kRecords / 2; i < kRecords; ++i) put(i);
      done = true;
    }
    std::thread writer([&] {
      for (int i = 0; mode != "single" && i < kRecords; ++i) {
        std::lock_guard<std::mutex> l(write_mu);
        put(i);
      }
      done = true;
    });
    std::thread reader([&] {
      while (mode == "reader" && !done) {
        int n = written;
        if (n == 0) continue;
        unsigned k = KeyOf(rand() % n);
        Dbt key(&k, sizeof k), val;
        val.set_flags(DB_DBT_MALLOC);
        if (db.get(nullptr, &key, &val, 0) == 0) free(val.get_data());
      }
    });
    for (int r = 2; mode != "single" && r <= 6 && !done;) {
      if (resize) {
        std::unique_lock<std::mutex> l(write_mu, std::defer_lock);
        if (mode == "reader") l.lock();  // writers paused during the resize
        if (Grow(&env, r)) ++r;
      }
      env.txn_checkpoint(0, 0, DB_FORCE);
      usleep(50000);
    }
    writer.join();
    reader.join();
    env.txn_checkpoint(0, 0, DB_FORCE);
    if (db.close(0) != 0 || env.close(0) != 0) fprintf(stderr, "close failed\n");
  }
  {
    DbEnv remover(DB_CXX_NO_EXCEPTIONS);
    remover.remove(dir, 0);
  }
  int missing = 0;
  {
    DbEnv env(DB_CXX_NO_EXCEPTIONS);
    if (Open(&env, dir, false) != 0) return -1;
    Db db(&env, 0);
    db.open(nullptr, "a.db", nullptr, DB_BTREE, DB_AUTO_COMMIT | DB_THREAD, 0644);
    for (int i = 0; i < kRecords; ++i) {
      unsigned k = KeyOf(i);
      Dbt key(&k, sizeof k), val;
      val.set_flags(DB_DBT_MALLOC);
      if (db.get(nullptr, &key, &val, 0) != 0) {
        missing += failed[i] ? 0 : 1;
      } else {
        free(val.get_data());
      }
    }
    db.close(0);
    env.close(0);
  }
  std::string rm = std::string("rm -rf ") + dir;
  if (system(rm.c_str()) != 0) fprintf(stderr, "cannot remove %s\n", dir);
  return missing;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s writer|reader|single RESIZE(0|1) RUNS\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const bool resize = atoi(argv[2]) != 0;
  const int runs = atoi(argv[3]);
  printf("%s, %s:", mode.c_str(), resize ? "cache grown 1 -> 6 regions" : "no resize");
  for (int i = 0; i < runs; ++i) {
    int missing = Run(mode, resize);
    printf(" %d", missing);
    if (failures > 0) printf(" (%d puts failed)", failures.load());
    fflush(stdout);
  }
  printf("  (records missing of %d, per run)\n", kRecords);
  return 0;
}
