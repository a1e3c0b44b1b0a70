// durus_disk_bounded: a sustained overwrite workload keeps a home's size
// bounded (issue 7).  The same N objects are rewritten over and over (with
// varying sizes), and every tenth commit replaces a subtree (garbage for the
// collector), in `sync`... or any mode, for --seconds S.  The size of the
// home (every file: databases, logs, regions) is sampled each second; the
// mean of the last third of the run must not exceed the mean of the middle
// third by more than 25% plus two log files (checkpoints remove logs a file at a
// time), comparing means (the size saws between checkpoints); the database
// files alone must stay within 25% (+1 MiB) of their middle-third size.
// Without checkpoints and log removal the log alone would grow by the whole
// write volume, which is printed for comparison.
//
//   durus_disk_bounded [--seconds S] [--mode MODE] [--objects N] [--dir DIR]
//
// CI runs 30 s; a long run: --seconds 600 (doc/reliability.md).
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bdb/bdb_storage.h"
#include "engine/record.h"
#include "tests/crash/store_check.h"
#include "util/file.h"

namespace {

using namespace durus;

// Bytes on disk of the files in `dir` (only the *.db databases with
// `databases_only`).
uint64_t DirBytes(const std::string& dir, bool databases_only = false) {
  uint64_t total = 0;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  while (dirent* e = readdir(d)) {
    struct stat st;
    std::string p = dir + "/" + e->d_name;
    std::string n = e->d_name;
    bool db = n.size() > 3 && n.compare(n.size() - 3, 3, ".db") == 0;
    if (databases_only && !db) continue;
    if (e->d_name[0] != '.' && stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total += static_cast<uint64_t>(st.st_blocks) * 512;
    }
  }
  closedir(d);
  return total;
}

std::string Record(uint64_t oid, const std::vector<Oid>& refs, size_t size, uint64_t salt) {
  std::string data = "cmod\nThing\nq." + std::to_string(salt) + " ";
  data.resize(std::max(data.size(), size), static_cast<char>('a' + salt % 26));
  return PackRecord(Oid(oid), data, refs);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 30;
  std::string mode_name = "sync", dir;
  uint64_t objects = 2000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) {
      fprintf(stderr,
              "usage: durus_disk_bounded [--seconds S] [--mode MODE] [--objects N] [--dir DIR]\n");
      return 2;
    }
    if (a == "--seconds")
      seconds = atof(argv[++i]);
    else if (a == "--mode")
      mode_name = argv[++i];
    else if (a == "--objects")
      objects = strtoull(argv[++i], nullptr, 10);
    else if (a == "--dir")
      dir = argv[++i];
  }
  Durability mode;
  if (!ParseDurability(mode_name, &mode).ok()) return 2;
  bool made = false;
  if (dir.empty()) {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/durus-disk-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) return 2;
    dir = tmpl;
    made = true;
  }
  const std::string home = dir + "/home";
  BdbOptions opts;  // product defaults: checkpoints every second, 32 MiB logs
  opts.durability = mode;
  std::unique_ptr<Storage> s;
  Status st = OpenBdbStorage(home, opts, &s);
  if (!st.ok()) {
    fprintf(stderr, "open: %s\n", st.ToString().c_str());
    return 1;
  }
  // Root -> objects 1..N (fixed), and a subtree slot under the root.
  std::mt19937_64 rng(42);
  uint64_t next_sub = objects + 1;
  std::vector<Oid> root_refs;
  for (uint64_t o = 1; o <= objects; ++o) root_refs.push_back(Oid(o));
  uint64_t sub_head = 0;
  auto root_rec = [&]() {
    std::vector<Oid> r = root_refs;
    if (sub_head) r.push_back(Oid(sub_head));
    return Record(0, r, 64, 0);
  };
  {
    CommitBatch b;
    for (uint64_t o = 1; o <= objects; ++o) {
      if (!b.Add(Oid(o), Record(o, {}, 300, o)).ok()) return 1;
    }
    if (!b.Add(kRootOid, root_rec()).ok()) return 1;
    st = s->Commit(b);
    if (!st.ok()) return 1;
  }
  // log_file_mb 0: chosen for the home, at most 32 MiB (bdb/env_shape.h).
  const uint64_t log_file = uint64_t{opts.log_file_mb ? opts.log_file_mb.value() : 32u} << 20;
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto next_sample = t0;
  std::vector<std::pair<double, uint64_t>> samples;
  std::vector<uint64_t> data_samples;
  uint64_t commits = 0, written = 0;
  for (;;) {
    double t = std::chrono::duration<double>(Clock::now() - t0).count();
    if (t >= seconds) break;
    if (Clock::now() >= next_sample) {
      samples.push_back({t, DirBytes(home)});
      data_samples.push_back(DirBytes(home, true));
      next_sample += std::chrono::seconds(1);
    }
    CommitBatch b;
    for (int k = 0; k < 100; ++k) {
      uint64_t o = 1 + rng() % objects;
      std::string r = Record(o, {}, 100 + rng() % 1900, commits);
      written += r.size();
      if (!b.Add(Oid(o), std::move(r)).ok()) return 1;
    }
    if (commits % 10 == 0) {
      // Replace the subtree: 50 new objects; the old ones become garbage.
      std::vector<Oid> kids;
      for (int k = 1; k < 50; ++k) {
        if (!b.Add(Oid(next_sub + k), Record(next_sub + k, {}, 200, k)).ok()) return 1;
        kids.push_back(Oid(next_sub + k));
      }
      if (!b.Add(Oid(next_sub), Record(next_sub, kids, 100, 0)).ok()) return 1;
      sub_head = next_sub;
      next_sub += 50;
      if (!b.Add(kRootOid, root_rec()).ok()) return 1;
    }
    st = s->Commit(b);
    if (!st.ok()) {
      fprintf(stderr, "commit: %s\n", st.ToString().c_str());
      return 1;
    }
    ++commits;
  }
  samples.push_back({seconds, DirBytes(home)});
  data_samples.push_back(DirBytes(home, true));
  StorageStats stats;
  if (!s->GetStats(&stats).ok()) return 1;
  if (!s->Close().ok()) return 1;
  if (getenv("DISK_BOUNDED_VERBOSE")) {
    for (auto& [t, b] : samples) printf("  t=%5.1f s  home %.1f MiB\n", t, b / 1048576.0);
  }
  // Means (the size saws up and down between checkpoints; a peak depends on
  // how late a checkpoint runs on a loaded machine) and peaks of the middle
  // and the last third; the database files alone separately.
  auto stats_of = [&](double from, double to, double* mean, uint64_t* peak, uint64_t* data) {
    double sum = 0;
    int n = 0;
    *peak = 0;
    *data = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
      double t = samples[i].first;
      if (t < from || t >= to) continue;
      sum += static_cast<double>(samples[i].second);
      ++n;
      *peak = std::max(*peak, samples[i].second);
      *data = std::max(*data, data_samples[i]);
    }
    *mean = n ? sum / n : 0;
  };
  double mid_mean, last_mean;
  uint64_t mid_peak, last_peak, mid_data, last_data;
  stats_of(seconds / 3, 2 * seconds / 3, &mid_mean, &mid_peak, &mid_data);
  stats_of(2 * seconds / 3, seconds + 1, &last_mean, &last_peak, &last_data);
  const double bound = mid_mean * 1.25 + 2.0 * log_file;
  const uint64_t data_bound = mid_data + mid_data / 4 + (1u << 20);
  auto mib = [](double b) { return b / 1048576.0; };
  printf(
      "disk bounded (%s, %.0f s): %llu commits, %.1f MiB written as records, live records "
      "%.1f MiB\n  home mean %.1f MiB (peak %.1f) in the middle third, %.1f MiB (peak %.1f) in "
      "the last third, bound %.1f MiB; database files %.1f -> %.1f MiB (bound %.1f)\n",
      mode_name.c_str(), seconds, (unsigned long long)commits, mib(written),
      mib(stats.record_bytes), mib(mid_mean), mib(mid_peak), mib(last_mean), mib(last_peak),
      mib(bound), mib(mid_data), mib(last_data), mib(data_bound));
  const bool bounded = mid_mean > 0 && last_mean <= bound && last_data <= data_bound;
  // Consistent at the end.
  BdbOptions co;
  co.gc_background = false;
  std::unique_ptr<BdbHandle> c;
  if (!OpenBdbStorage(home, co, &c).ok()) return 1;
  reliability::CheckResult cr;
  st = reliability::CheckStore(c.get(), reliability::CheckOptions(), &cr);
  bool ok = st.ok() && cr.ok() && bounded;
  if (!cr.ok()) printf("store problems:\n%s", cr.Summary().c_str());
  if (!c->Close().ok()) ok = false;
  if (made && ok) {
    util::RemoveTree(dir);
  }
  printf("%s\n", ok ? "disk bounded: PASSED" : "disk bounded: FAILED");
  return ok ? 0 : 1;
}
