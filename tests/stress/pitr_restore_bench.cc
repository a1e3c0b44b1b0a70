// durus_pitr_restore_bench: the restore time of doc/reliability.md
// ("Point-in-time restore").  Builds a home of --objects small objects with
// the bulk loader (root -> 1000 buckets -> leaves, ~100-byte records),
// turns log archiving on, takes a hot backup, commits --commits times
// (--per-commit objects rewritten each), notes the time, commits once more
// (the root emptied), then restores the backup to the noted time and checks
// the restored home: the object count, and verify (part of the restore).
//
//   durus_pitr_restore_bench [--objects N] [--commits N] [--per-commit N] [--dir DIR]
//
// Not a ctest (minutes at 1M objects); tests/core/pitr_test.cc is.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bdb/backup.h"
#include "bdb/bdb_storage.h"
#include "bdb/bulk_loader.h"
#include "bdb/restore.h"
#include "engine/record.h"

namespace {

using namespace durus;

constexpr uint64_t kBuckets = 1000;

std::string Leaf(uint64_t oid, int round) {
  std::string data =
      "cmod\nLeaf\nq." + std::to_string(round) + ":" + std::to_string(oid) + std::string(60, 'x');
  return PackRecord(Oid(oid), data, {});
}

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int Die(const std::string& what, const Status& s) {
  fprintf(stderr, "durus_pitr_restore_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 1;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t objects = 1000000;
  int commits = 100, per_commit = 100;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--objects")
      objects = strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--commits")
      commits = atoi(argv[i + 1]);
    else if (a == "--per-commit")
      per_commit = atoi(argv[i + 1]);
    else if (a == "--dir")
      dir = argv[i + 1];
  }
  if (dir.empty()) {
    char tmpl[] = "/tmp/durus-pitr-bench-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return 1;
    dir = tmpl;
  }
  const std::string home = dir + "/home", archive = dir + "/archive", backup = dir + "/backup",
                    dest = dir + "/dest";
  const uint64_t leaves = objects - 1 - kBuckets;
  auto t0 = std::chrono::steady_clock::now();
  {
    std::unique_ptr<BulkLoader> loader;
    bool restarted = false;
    Status s = BulkLoader::Create(home, BulkLoaderOptions(), &loader, &restarted);
    if (!s.ok()) return Die("create", s);
    std::vector<Oid> buckets;
    for (uint64_t b = 1; b <= kBuckets; ++b) buckets.push_back(Oid(b));
    BulkLoadTotals totals;
    auto put = [&](Oid oid, const std::string& rec) {
      totals.object_count++;
      totals.record_bytes += rec.size();
      return loader->Put(oid, rec);
    };
    s = put(Oid(0), PackRecord(Oid(0), "cmod\nRoot\nq.", buckets));
    for (uint64_t b = 1; s.ok() && b <= kBuckets; ++b) {
      std::vector<Oid> refs;
      for (uint64_t l = kBuckets + b; l <= kBuckets + leaves; l += kBuckets) refs.push_back(Oid(l));
      s = put(Oid(b), PackRecord(Oid(b), "cmod\nBucket\nq.", refs));
    }
    for (uint64_t l = kBuckets + 1; s.ok() && l <= kBuckets + leaves; ++l)
      s = put(Oid(l), Leaf(l, 0));
    if (s.ok()) s = loader->FlushRecords();
    for (uint64_t oid = 0; s.ok() && oid <= kBuckets + leaves; ++oid) {
      s = loader->AppendCount(Oid(oid), oid == 0 ? 0 : 1);
    }
    totals.next_oid = kBuckets + leaves + 1;
    BulkLoadSummary summary;
    if (s.ok()) s = loader->Finish(totals, &summary);
    if (!s.ok()) return Die("bulk load", s);
  }
  printf("built %llu objects in %.1f s\n", static_cast<unsigned long long>(objects), Since(t0));

  BdbOptions o;
  o.log_archive = archive;
  o.gc_background = false;
  std::unique_ptr<Storage> storage;
  Status s = OpenBdbStorage(home, o, &storage);
  if (!s.ok()) return Die("open", s);
  t0 = std::chrono::steady_clock::now();
  BackupReport br;
  s = BackupHome(home, backup, BackupOptions(), &br);
  if (!s.ok()) return Die("backup", s);
  printf("hot backup: %.1f s, %llu bytes copied\n", Since(t0),
         static_cast<unsigned long long>(br.bytes_copied));
  for (int c = 0; c < commits; ++c) {
    CommitBatch batch;
    for (int i = 0; i < per_commit; ++i) {
      uint64_t oid = kBuckets + 1 + (static_cast<uint64_t>(c) * per_commit + i) * 7919 % leaves;
      s = batch.Add(Oid(oid), Leaf(oid, c + 1));
    }
    if (s.ok()) s = storage->Commit(batch);
    if (!s.ok()) return Die("commit", s);
  }
  time_t before = time(nullptr);
  while (time(nullptr) == before) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CommitBatch empty;
  s = empty.Add(Oid(0), PackRecord(Oid(0), "cmod\nRoot\nq.", {}));
  if (s.ok()) s = storage->Commit(empty);
  if (s.ok()) s = storage->Close();
  if (!s.ok()) return Die("last commit", s);

  printf("load average before the restore: %s\n", LoadAverage().c_str());
  RestoreOptions ro;
  ro.log_dirs = {archive, home};
  ro.has_time = true;
  ro.to_time = before;
  RestoreReport rr;
  s = RestoreBackup(backup, dest, ro, &rr);
  if (!s.ok()) return Die("restore", s);
  printf(
      "restore of %llu objects (log.%u .. log.%u, %d commits after the backup): %.1f s "
      "including verify (%s); load average after: %s\n",
      static_cast<unsigned long long>(rr.objects), rr.first_log, rr.last_log, commits, rr.seconds,
      rr.problems == 0 ? "clean" : "PROBLEMS", LoadAverage().c_str());
  ro.verify = false;
  RestoreReport quick;
  s = RestoreBackup(backup, dest + "-noverify", ro, &quick);
  if (!s.ok()) return Die("restore --no-verify", s);
  printf("restore without verify: %.1f s\n", quick.seconds);
  bool ok = rr.objects == objects && rr.problems == 0;
  printf("%s; files in %s\n", ok ? "OK" : "FAILED", dir.c_str());
  return ok ? 0 : 1;
}
