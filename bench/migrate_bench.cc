// Migration benchmark (issue 6, "Performance").  Not a test; run by hand:
//
//   build/bench/migrate_bench [--objects 1000000] [--big 4000000] [--dir /tmp]
//
// 1. Generates a Shelf file directly (as a Durus pack writes it: every
//    record in the initial transaction plus the offset map, then ten
//    commits overwriting 1000 objects each): `--objects` records of ~300 B
//    (12-byte header, 200-336 bytes of incompressible data, 2 refs).
// 2. Peers, each in a fresh child process, reading the same file with a
//    minimal Shelf parser: a raw Berkeley DB bulk load of the same records
//    into one btree (transactional environment, DB_TXN_NOSYNC, sorted
//    keys, 10,000 puts per transaction, 128 MiB cache, ended by a
//    checkpoint), and the same with DB_TXN_NOT_DURABLE (no logging).
// 3. `durus-bdb migrate` of the file (migrate::Migrate in a child), and
//    `export` of the resulting home to a Shelf file and to a dump.
// 4. Peak RSS (getrusage of the child) of the migration at --objects and
//    at --big objects; disk used by the new home.
//
// Every child is this binary re-executed with a hidden mode, so its peak
// RSS is its own.
#include <db_cxx.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/record.h"
#include "migrate/migrate.h"
#include "util/file.h"

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void Die(const std::string& msg) {
  fprintf(stderr, "migrate_bench: %s\n", msg.c_str());
  exit(1);
}

// --- the Shelf generator ---------------------------------------------------

struct GenStats {
  uint64_t items = 0;
  uint64_t record_bytes = 0;  // of the final versions
  uint64_t file_bytes = 0;
};

std::string MakeRecord(uint64_t oid, uint64_t n, std::mt19937_64* rng, std::string* scratch) {
  size_t dlen = 200 + (*rng)() % 137;  // 200..336
  scratch->assign("cbench\nThing\n");
  while (scratch->size() < dlen) {
    uint64_t v = (*rng)();
    scratch->append(reinterpret_cast<char*>(&v), std::min<size_t>(8, dlen - scratch->size()));
  }
  std::vector<durus::Oid> refs;
  uint64_t a = (oid + 1) % n, b = (*rng)() % n;
  for (uint64_t r : {a, b}) {
    if (r != oid) refs.push_back(durus::Oid(r));
  }
  std::sort(refs.begin(), refs.end());
  refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
  return durus::PackRecord(durus::Oid(oid), *scratch, refs);
}

void PutU64(std::string* s, uint64_t v) { durus::PutU64(s, v); }

GenStats GenerateShelf(const std::string& path, uint64_t n) {
  GenStats st;
  FILE* f = fopen(path.c_str(), "wb");
  if (!f) Die("cannot create " + path);
  std::vector<char> iobuf(1 << 20);
  setvbuf(f, iobuf.data(), _IOFBF, iobuf.size());
  std::mt19937_64 rng(42);
  std::string scratch, out;
  std::vector<uint64_t> offsets(0);  // (the generator may use memory)
  offsets.reserve(n);
  fwrite("SHELF-1\n", 1, 8, f);
  std::string zero(8, '\0');
  fwrite(zero.data(), 1, 8, f);
  uint64_t pos = 16;
  for (uint64_t oid = 0; oid < n; ++oid) {
    std::string rec = MakeRecord(oid, n, &rng, &scratch);
    out.clear();
    PutU64(&out, 8 + rec.size());
    PutU64(&out, oid);
    out += rec;
    fwrite(out.data(), 1, out.size(), f);
    offsets.push_back(pos);
    pos += out.size();
    ++st.items;
    st.record_bytes += rec.size();
  }
  uint64_t start = pos;
  {
    std::string len;
    PutU64(&len, start - 16);
    fflush(f);
    if (pwrite(fileno(f), len.data(), 8, 8) != 8) Die("pwrite");
  }
  uint64_t count = n + 1;  // max_oid + 2
  uint64_t bpw = 0;
  for (uint64_t v = start + count + 1; v; v >>= 8) ++bpw;
  out.clear();
  PutU64(&out, 16 + bpw * count);
  PutU64(&out, bpw);
  PutU64(&out, count);
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t w = i < n ? offsets[i] : (count - 1) + start;  // the only hole: the last index
    char b[8];
    durus::Oid(w).ToBytes(b);
    out.append(b + 8 - bpw, bpw);
  }
  fwrite(out.data(), 1, out.size(), f);
  pos += out.size();
  // Ten commits overwriting 1000 random objects each.
  for (int t = 0; t < 10; ++t) {
    std::string txn;
    for (int i = 0; i < 1000 && n > 0; ++i) {
      uint64_t oid = rng() % n;
      std::string rec = MakeRecord(oid, n, &rng, &scratch);
      PutU64(&txn, 8 + rec.size());
      PutU64(&txn, oid);
      txn += rec;
      ++st.items;
    }
    out.clear();
    PutU64(&out, txn.size());
    out += txn;
    fwrite(out.data(), 1, out.size(), f);
    pos += out.size();
  }
  fclose(f);
  st.file_bytes = pos;
  return st;
}

// --- the minimal Shelf parser the peers use --------------------------------

template <typename Fn>
void ForEachShelfItem(const std::string& path, Fn fn) {
  FILE* f = fopen(path.c_str(), "rb");
  if (!f) Die("cannot open " + path);
  std::vector<char> iobuf(1 << 20);
  setvbuf(f, iobuf.data(), _IOFBF, iobuf.size());
  auto u64 = [&](uint64_t* v) {
    unsigned char b[8];
    if (fread(b, 1, 8, f) != 8) return false;
    *v = durus::GetU64(b);
    return true;
  };
  char prefix[8];
  if (fread(prefix, 1, 8, f) != 8) Die("short");
  uint64_t n0 = 0;
  u64(&n0);
  std::string rec;
  auto items = [&](uint64_t len) {
    uint64_t done = 0;
    while (done < len) {
      uint64_t l = 0;
      u64(&l);
      rec.resize(l);
      if (fread(rec.data(), 1, l, f) != l) Die("short item");
      fn(std::string_view(rec).substr(0, 8), std::string_view(rec).substr(8));
      done += 8 + l;
    }
  };
  items(n0);
  uint64_t bytes = 0;
  u64(&bytes);
  fseeko(f, static_cast<off_t>(bytes), SEEK_CUR);
  uint64_t t = 0;
  while (u64(&t)) items(t);
  fclose(f);
}

// --- peers: raw Berkeley DB bulk load ---------------------------------------

void RawLoad(const std::string& shelf, const std::string& home, bool not_durable) {
  mkdir(home.c_str(), 0755);
  DbEnv env(DB_CXX_NO_EXCEPTIONS);
  env.set_cachesize(0, 128u << 20, 1);
  env.set_lk_max_locks(200000);
  env.set_lk_max_objects(200000);
  env.set_lg_bsize(4u << 20);
  env.set_lg_max(32u << 20);
  env.log_set_config(DB_LOG_AUTO_REMOVE, 1);
  env.set_flags(DB_TXN_NOSYNC, 1);
  if (env.open(home.c_str(),
               DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_RECOVER,
               0644) != 0) {
    Die("env open");
  }
  Db db(&env, 0);
  if (not_durable) db.set_flags(DB_TXN_NOT_DURABLE);
  if (db.open(nullptr, "records.db", nullptr, DB_BTREE, DB_CREATE | DB_AUTO_COMMIT, 0644) != 0) {
    Die("db open");
  }
  DbTxn* txn = nullptr;
  int in_txn = 0;
  ForEachShelfItem(shelf, [&](std::string_view oid, std::string_view rec) {
    if (txn == nullptr) env.txn_begin(nullptr, &txn, 0);
    Dbt k(const_cast<char*>(oid.data()), 8);
    Dbt v(const_cast<char*>(rec.data()), static_cast<u_int32_t>(rec.size()));
    if (db.put(txn, &k, &v, 0) != 0) Die("put");
    if (++in_txn == 10000) {
      txn->commit(0);
      txn = nullptr;
      in_txn = 0;
    }
  });
  if (txn) txn->commit(0);
  env.txn_checkpoint(0, 0, DB_FORCE);
  db.close(0);
  env.close(0);
}

// --- children ---------------------------------------------------------------

struct ChildResult {
  double seconds = 0;
  long max_rss_kb = 0;
};

ChildResult RunChild(const std::vector<std::string>& args) {
  auto t0 = Clock::now();
  pid_t pid = fork();
  if (pid < 0) Die("fork");
  if (pid == 0) {
    std::vector<char*> argv;
    static std::string self = "/proc/self/exe";
    argv.push_back(self.data());
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) != pid) Die("wait4");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Die("child " + args[0] + " failed");
  ChildResult r;
  r.seconds = Since(t0);
  r.max_rss_kb = ru.ru_maxrss;
  return r;
}

uint64_t DirBytes(const std::string& dir, bool db_files_only) {
  uint64_t total = 0;
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    bool is_db = n.size() > 3 && n.compare(n.size() - 3, 3, ".db") == 0;
    if (db_files_only && !is_db) continue;
    if (!db_files_only && n.compare(0, 4, "log.") == 0) continue;  // "logs removed"
    struct stat st;
    if (stat((dir + "/" + n).c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  closedir(d);
  return total;
}

void RemoveTree(const std::string& p) {
  std::string error;
  if (!durus::util::RemoveTree(p, &error)) Die(error);
}

int ChildMode(int argc, char** argv) {
  std::string mode = argv[1];
  if (mode == "--child-raw" || mode == "--child-raw-nd") {
    RawLoad(argv[2], argv[3], mode == "--child-raw-nd");
    return 0;
  }
  if (mode == "--child-migrate") {
    durus::migrate::MigrateOptions o;
    o.source = argv[2];
    o.home = argv[3];
    o.progress = [](const durus::migrate::Progress& p) {
      if (p.phase_done) fprintf(stderr, "  phase %-14s %8.2f s\n", p.phase, p.phase_seconds);
    };
    durus::migrate::MigrateReport r;
    durus::Status s = durus::migrate::Migrate(o, &r);
    if (!s.ok()) Die(s.ToString());
    fprintf(stderr, "  %s\n", durus::migrate::SummaryLine(r).c_str());
    return 0;
  }
  if (mode == "--child-export-shelf" || mode == "--child-export-dump") {
    durus::migrate::ExportOptions o;
    o.home = argv[2];
    o.dest = argv[3];
    o.format = mode == "--child-export-shelf" ? durus::migrate::ExportFormat::kShelf
                                              : durus::migrate::ExportFormat::kDump;
    durus::migrate::ExportReport r;
    durus::Status s = durus::migrate::Export(o, &r);
    if (!s.ok()) Die(s.ToString());
    return 0;
  }
  Die("unknown mode " + mode);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && strncmp(argv[1], "--child-", 8) == 0) return ChildMode(argc, argv);
  uint64_t n = 1000000, big = 4000000;
  std::string base = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--objects")
      n = strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--big")
      big = strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--dir")
      base = argv[i + 1];
    else
      Die("usage: migrate_bench [--objects N] [--big N] [--dir DIR]");
  }
  std::string dir = base + "/migrate-bench-XXXXXX";
  if (!mkdtemp(dir.data())) Die("mkdtemp");
  std::string shelf = dir + "/src.durus";

  printf("migrate_bench: %llu objects (and %llu for the memory figure), in %s\n",
         (unsigned long long)n, (unsigned long long)big, dir.c_str());
  auto t0 = Clock::now();
  GenStats g = GenerateShelf(shelf, n);
  printf("generated Shelf: %llu items, %.1f MB final record bytes, %.1f MB file, %.1f s\n",
         (unsigned long long)g.items, g.record_bytes / 1e6, g.file_bytes / 1e6, Since(t0));
  fflush(stdout);

  ChildResult raw = RunChild({"--child-raw", shelf, dir + "/raw"});
  RemoveTree(dir + "/raw");
  ChildResult raw_nd = RunChild({"--child-raw-nd", shelf, dir + "/rawnd"});
  RemoveTree(dir + "/rawnd");
  ChildResult mig = RunChild({"--child-migrate", shelf, dir + "/home"});
  uint64_t home_db = DirBytes(dir + "/home", true);
  uint64_t home_all = DirBytes(dir + "/home", false);
  ChildResult exs = RunChild({"--child-export-shelf", dir + "/home", dir + "/out.durus"});
  ChildResult exd = RunChild({"--child-export-dump", dir + "/home", dir + "/out.dump"});
  struct stat st_dump;
  stat((dir + "/out.dump").c_str(), &st_dump);
  RemoveTree(dir + "/home");
  unlink((dir + "/out.durus").c_str());
  unlink((dir + "/out.dump").c_str());

  auto rate = [&](double s, uint64_t items) { return items / s; };
  double r_raw = rate(raw.seconds, g.items), r_nd = rate(raw_nd.seconds, g.items);
  double r_mig = rate(mig.seconds, g.items);
  double r_exs = rate(exs.seconds, n), r_exd = rate(exd.seconds, n);
  printf("\n%-44s %10s %12s %10s\n", "", "seconds", "records/s", "peak RSS");
  auto row = [&](const char* name, const ChildResult& c, double r) {
    printf("%-44s %10.2f %12.0f %7ld MB\n", name, c.seconds, r, c.max_rss_kb / 1024);
  };
  row("raw BDB bulk load (txn, DB_TXN_NOSYNC)", raw, r_raw);
  row("raw BDB bulk load (DB_TXN_NOT_DURABLE)", raw_nd, r_nd);
  row("durus-bdb migrate (records+counts+queue)", mig, r_mig);
  row("durus-bdb export --format shelf", exs, r_exs);
  row("durus-bdb export --format dump", exd, r_exd);
  printf("\nratios (target >= 0.5):\n");
  printf("  migrate / raw NOSYNC load        %.2fx\n", r_mig / r_raw);
  printf("  migrate / raw NOT_DURABLE load   %.2fx\n", r_mig / r_nd);
  printf("  export shelf / raw NOSYNC load   %.2fx\n", r_exs / r_raw);
  printf("  export dump / raw NOSYNC load    %.2fx\n", r_exd / r_raw);
  printf(
      "disk (target <= 1.5x record bytes): .db files %.1f MB = %.2fx of %.1f MB records; "
      "whole home without logs %.1f MB = %.2fx (the rest: region files of the last opener)\n",
      home_db / 1e6, double(home_db) / g.record_bytes, g.record_bytes / 1e6, home_all / 1e6,
      double(home_all) / g.record_bytes);
  printf("dump size: %.1f MB\n", st_dump.st_size / 1e6);
  fflush(stdout);

  if (big > 0) {
    std::string bigshelf = dir + "/big.durus";
    unlink(shelf.c_str());
    GenStats gb = GenerateShelf(bigshelf, big);
    ChildResult mb = RunChild({"--child-migrate", bigshelf, dir + "/bighome"});
    printf(
        "\npeak RSS of migrate: %ld MB at %llu objects, %ld MB at %llu objects: %.3fx "
        "(target <= 1.15x); %llu objects took %.1f s (%.0f records/s)\n",
        mig.max_rss_kb / 1024, (unsigned long long)n, mb.max_rss_kb / 1024, (unsigned long long)big,
        double(mb.max_rss_kb) / mig.max_rss_kb, (unsigned long long)big, mb.seconds,
        rate(mb.seconds, gb.items));
  }
  RemoveTree(dir);
  return 0;
}
