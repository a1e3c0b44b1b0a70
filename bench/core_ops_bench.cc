// core_ops_bench: the price of single Berkeley DB operations in the
// storage's environment, to explain core_bench's ratios (bench/README.md,
// "Where the time goes").
//
//   core_ops_bench [--dir=PATH] [--only=SUBSTRING]
//
// The environment is opened by bdb::OpenEnvironment and the btrees by
// bdb::OpenBtree (write_nosync, default cache), exactly as the storage does;
// 100,000 objects are loaded first (a 300 B record and an 8 B count each).
// Each operation then runs 20,000 times, 100 per write_nosync transaction,
// on sorted random keys where it says "rand".  Wall time per operation is
// printed; for load-independent figures run one operation at a time under
// valgrind --tool=callgrind and subtract a run with --only=none.
#include <db_cxx.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bdb/environment.h"
#include "util/file.h"

namespace {

using Clock = std::chrono::steady_clock;

void Check(int ret, const char* what) {
  if (ret != 0) {
    fprintf(stderr, "core_ops_bench: %s: %s\n", what, DbEnv::strerror(ret));
    exit(1);
  }
}

void Check(const durus::Status& s) {
  if (!s.ok()) {
    fprintf(stderr, "core_ops_bench: %s\n", s.ToString().c_str());
    exit(1);
  }
}

void Key(uint64_t v, char* b) {
  for (int i = 7; i >= 0; --i, v >>= 8) b[i] = static_cast<char>(v & 0xff);
}

struct Op {
  const char* name;
  // Runs operation i (0..99) of a transaction; `keys` are its sorted keys.
  std::function<void(DbTxn* txn, int i, const std::vector<uint64_t>& keys)> run;
};

}  // namespace

int main(int argc, char** argv) {
  std::string parent = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--dir=", 0) == 0) {
      parent = a.substr(6);
    } else if (a.rfind("--only=", 0) == 0) {
      only = a.substr(7);
    } else {
      fprintf(stderr, "usage: core_ops_bench [--dir=PATH] [--only=SUBSTRING]\n");
      return 2;
    }
  }
  std::string home = parent + "/core-ops-XXXXXX";
  if (mkdtemp(home.data()) == nullptr) {
    perror("mkdtemp");
    return 1;
  }
  constexpr uint64_t kObjects = 100000;
  constexpr int kOps = 20000, kPerTxn = 100;
  {
    durus::BdbOptions o;
    o.durability = durus::Durability::kWriteNoSync;
    durus::bdb::EnvPtr env;
    Check(durus::bdb::OpenEnvironment(home, o, &env));
    durus::bdb::DbPtr rec, cnt;
    Check(durus::bdb::OpenBtree(env.get(), home, "records.db", false, &rec));
    Check(durus::bdb::OpenBtree(env.get(), home, "counts.db", false, &cnt));
    // A queue of fixed 8-byte records indexed by oid + 1: a dense count array.
    durus::bdb::DbPtr queue(new Db(env.get(), 0));
    Check(queue->set_re_len(8), "set_re_len");
    Check(queue->open(nullptr, "counts.queue", nullptr, DB_QUEUE,
                      DB_CREATE | DB_THREAD | DB_AUTO_COMMIT, 0644),
          "opening the queue");
    std::string value(300, 'v');
    char kb[8];
    char one[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    for (uint64_t i = 0; i < kObjects; i += 1000) {
      DbTxn* t;
      Check(env->txn_begin(nullptr, &t, 0), "begin");
      for (uint64_t j = i; j < i + 1000; ++j) {
        Key(j, kb);
        Dbt k(kb, 8), d(value.data(), 300), c(one, 8);
        Check(rec->put(t, &k, &d, 0), "filling records");
        Check(cnt->put(t, &k, &c, 0), "filling counts");
        db_recno_t rn = static_cast<db_recno_t>(j + 1);
        Dbt qk(&rn, sizeof rn);
        Check(queue->put(t, &qk, &c, 0), "filling the queue");
      }
      Check(t->commit(DB_TXN_WRITE_NOSYNC), "commit");
    }
    uint64_t next_rec = kObjects, next_cnt = kObjects, next_q = kObjects;
    Dbc* cursor = nullptr;
    std::vector<Op> ops = {
        {"put 300 B, new sequential key (the raw loop)",
         [&](DbTxn* t, int, const std::vector<uint64_t>&) {
           Key(next_rec++, kb);
           Dbt k(kb, 8), d(value.data(), 300);
           Check(rec->put(t, &k, &d, 0), "put");
         }},
        {"put 8 B, new sequential key (count of a new object)",
         [&](DbTxn* t, int, const std::vector<uint64_t>&) {
           Key(next_cnt++, kb);
           char z[8] = {0};
           Dbt k(kb, 8), d(z, 8);
           Check(cnt->put(t, &k, &d, 0), "put");
         }},
        {"cursor put DB_KEYFIRST 8 B, new sequential key",
         [&](DbTxn* t, int i, const std::vector<uint64_t>&) {
           // One cursor per transaction, positioned by its previous put
           // (Berkeley DB duplicates a positioned cursor for each put).
           if (i == 0) Check(cnt->cursor(t, &cursor, 0), "cursor");
           Key(next_cnt++, kb);
           char z[8] = {0};
           Dbt k(kb, 8), d(z, 8);
           Check(cursor->put(&k, &d, DB_KEYFIRST), "put");
           if (i == kPerTxn - 1) Check(cursor->close(), "cursor close");
         }},
        {"get DB_RMW + put 8 B, rand (count update before P2)",
         [&](DbTxn* t, int i, const std::vector<uint64_t>& keys) {
           Key(keys[i], kb);
           char v[8];
           Dbt k(kb, 8), d;
           d.set_flags(DB_DBT_USERMEM);
           d.set_data(v);
           d.set_ulen(8);
           Check(cnt->get(t, &k, &d, DB_RMW), "get");
           v[7]++;
           Dbt d2(v, 8);
           Check(cnt->put(t, &k, &d2, 0), "put");
         }},
        {"cursor DB_SET|DB_RMW + DB_CURRENT put 8 B, rand",
         [&](DbTxn* t, int i, const std::vector<uint64_t>& keys) {
           if (i == 0) Check(cnt->cursor(t, &cursor, 0), "cursor");
           Key(keys[i], kb);
           char v[8];
           Dbt k(kb, 8), d;
           d.set_flags(DB_DBT_USERMEM);
           d.set_data(v);
           d.set_ulen(8);
           Check(cursor->get(&k, &d, DB_SET | DB_RMW), "get");
           v[7]++;
           Dbt d2(v, 8);
           Check(cursor->put(&k, &d2, DB_CURRENT), "put");
           if (i == kPerTxn - 1) Check(cursor->close(), "cursor close");
         }},
        {"partial put 8 B into a 300 B record, rand",
         [&](DbTxn* t, int i, const std::vector<uint64_t>& keys) {
           Key(keys[i], kb);
           char v[8] = {1, 2, 3, 4, 5, 6, 7, static_cast<char>(i)};
           Dbt k(kb, 8), d(v, 8);
           d.set_flags(DB_DBT_PARTIAL);
           d.set_doff(0);
           d.set_dlen(8);
           Check(rec->put(t, &k, &d, 0), "partial put");
         }},
        {"existence check of a record (0-byte partial get), rand",
         [&](DbTxn* t, int i, const std::vector<uint64_t>& keys) {
           Key(keys[i], kb);
           Dbt k(kb, 8), d;
           d.set_flags(DB_DBT_PARTIAL | DB_DBT_USERMEM);
           d.set_dlen(0);
           d.set_ulen(0);
           Check(rec->get(t, &k, &d, 0), "get");
         }},
        {"queue put 8 B, rand (dense count array)",
         [&](DbTxn* t, int i, const std::vector<uint64_t>& keys) {
           db_recno_t rn = static_cast<db_recno_t>(keys[i] + 1);
           char v[8] = {0, 0, 0, 0, 0, 0, 0, static_cast<char>(i)};
           Dbt k(&rn, sizeof rn), d(v, 8);
           Check(queue->put(t, &k, &d, 0), "queue put");
         }},
        {"queue put 8 B, new sequential recno",
         [&](DbTxn* t, int, const std::vector<uint64_t>&) {
           db_recno_t rn = static_cast<db_recno_t>(++next_q);
           char z[8] = {0};
           Dbt k(&rn, sizeof rn), d(z, 8);
           Check(queue->put(t, &k, &d, 0), "queue put");
         }},
    };
    std::mt19937_64 rng(5);
    std::vector<uint64_t> keys(kPerTxn);
    printf(
        "core_ops_bench: %d operations each, %d per write_nosync transaction, over %llu "
        "objects\n",
        kOps, kPerTxn, static_cast<unsigned long long>(kObjects));
    for (Op& op : ops) {
      if (!only.empty() && std::string(op.name).find(only) == std::string::npos) continue;
      double seconds = 0;
      for (int n = 0; n < kOps; n += kPerTxn) {
        for (uint64_t& k : keys) k = rng() % kObjects;
        std::sort(keys.begin(), keys.end());
        auto t0 = Clock::now();
        DbTxn* t;
        Check(env->txn_begin(nullptr, &t, 0), "begin");
        for (int i = 0; i < kPerTxn; ++i) op.run(t, i, keys);
        Check(t->commit(DB_TXN_WRITE_NOSYNC), "commit");
        seconds += std::chrono::duration<double>(Clock::now() - t0).count();
      }
      printf("  %-60s %7.2f us/op\n", op.name, seconds / kOps * 1e6);
      fflush(stdout);
    }
    queue.reset();
  }
  std::string error;
  if (!durus::util::RemoveTree(home, &error)) fprintf(stderr, "%s\n", error.c_str());
  return 0;
}
