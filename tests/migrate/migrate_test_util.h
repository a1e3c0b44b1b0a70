// Helpers shared by the migration tests (migrate_test.cc,
// corrupt_source_test.cc): sources built byte by byte (Shelf, FileStorage2),
// homes made through the storage API, a migration with test defaults, and
// reading a home back with its invariants checked.
#ifndef DURUS_BDB_TESTS_MIGRATE_MIGRATE_TEST_UTIL_H_
#define DURUS_BDB_TESTS_MIGRATE_MIGRATE_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "bdb/bulk_loader.h"
#include "engine/record.h"
#include "migrate/migrate.h"
#include "tests/core/test_util.h"
#include "util/file.h"

namespace durus::migrate::test_util {

using test::Rec;
using test::TempDir;
using Records = std::map<uint64_t, std::string>;

// --- helpers ------------------------------------------------------------

// Whole files (util/file.h); a failure shows as the test's own mismatch.
inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::string error;
  EXPECT_TRUE(util::WriteFile(path, bytes, &error)) << error;
}

inline std::string ReadFile(const std::string& path) {
  std::string bytes;
  if (!util::ReadFile(path, &bytes)) bytes.clear();
  return bytes;
}

inline std::string U64(uint64_t v) {
  std::string s;
  PutU64(&s, v);
  return s;
}

// A Shelf file (durus/shelf.py) byte by byte: `initial` items in the first
// transaction with an offset map, then one transaction per `later` entry.
struct ShelfImage {
  std::string bytes;
  std::vector<uint64_t> txn_offsets;  // start of each later transaction
};

inline std::string Item(uint64_t oid, const std::string& record) {
  return U64(8 + record.size()) + Oid(oid).Bytes() + record;
}

inline ShelfImage MakeShelf(
    const std::vector<std::pair<uint64_t, std::string>>& initial,
    const std::vector<std::vector<std::pair<uint64_t, std::string>>>& later) {
  ShelfImage img;
  std::string items;
  std::map<uint64_t, uint64_t> offsets;
  uint64_t max_oid = 0;
  for (auto& [oid, rec] : initial) {
    offsets[oid] = 16 + items.size();
    items += Item(oid, rec);
    max_oid = std::max(max_oid, oid);
  }
  img.bytes = "SHELF-1\n" + U64(items.size()) + items;
  uint64_t start = img.bytes.size();
  uint64_t count = initial.empty() ? 0 : max_oid + 2;
  uint64_t bpw = 0;
  for (uint64_t v = start + count + 1; v; v >>= 8) ++bpw;
  img.bytes += U64(16 + bpw * count) + U64(bpw) + U64(count);
  uint64_t last_hole = count - 1;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t w;
    if (offsets.count(i)) {
      w = offsets[i];
    } else {
      w = last_hole + start;
      last_hole = i;
    }
    img.bytes += Oid(w).Bytes().substr(8 - bpw);
  }
  for (auto& txn : later) {
    img.txn_offsets.push_back(img.bytes.size());
    std::string t;
    for (auto& [oid, rec] : txn) t += Item(oid, rec);
    img.bytes += U64(t.size()) + t;
  }
  return img;
}

inline Status RunMigrate(const std::string& src, const std::string& home, MigrateReport* r,
                         bool verify = true, bool strict = false, bool allow_dangling = false,
                         ProgressFn progress = nullptr) {
  MigrateOptions o;
  o.source = src;
  o.home = home;
  o.verify = verify;
  o.strict = strict;
  o.allow_dangling = allow_dangling;
  o.cache_mb = 16;
  o.sort_memory_mb = 1;  // small runs: the external sort really merges
  o.progress = std::move(progress);
  return Migrate(o, r);
}

inline std::unique_ptr<BdbHandle> OpenReadonly(const std::string& home) {
  BdbOptions o;
  o.readonly = true;
  o.gc_background = false;
  o.create_if_missing = false;
  o.cache_mb = 8;
  std::unique_ptr<BdbHandle> s;
  Status st = OpenBdbStorage(home, o, &s);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return s;
}

// Every record of `s` (the shared scanner of tests/core/test_util.h).
inline Records AllRecords(Storage* s) { return test::ScanAll(s); }

// Opens `home` read-only: its records, and no invariant violated.
inline Records CheckHome(const std::string& home) {
  auto s = OpenReadonly(home);
  if (!s) return {};
  std::vector<std::string> problems = test::CheckConsistency(s.get());
  EXPECT_TRUE(problems.empty()) << problems.front();
  Records r = AllRecords(s.get());
  EXPECT_TRUE(s->Close().ok());
  return r;
}

inline bool IsEmptyOrAbsent(const std::string& dir) {
  MigrationTarget t = InspectMigrationTarget(dir);
  return t == MigrationTarget::kAbsent || t == MigrationTarget::kEmpty;
}

// A random graph: `n` objects, refs to existing ones, some overwritten.
inline Records RandomGraph(uint64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Records g;
  for (uint64_t oid = 0; oid < n; ++oid) {
    std::vector<uint64_t> refs;
    int k = rng() % 4;
    for (int i = 0; i < k && oid > 0; ++i) refs.push_back(rng() % oid);
    if (oid + 1 < n && rng() % 2) refs.push_back(oid + 1);
    std::sort(refs.begin(), refs.end());
    refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
    g[oid] = Rec(oid, refs, std::string(10 + rng() % 200, 'a' + oid % 26));
  }
  return g;
}

// A complete home holding `records`, written through the storage API.
inline void MakeHome(const std::string& home, const Records& records) {
  test::MakeHome(home, records, Durability::kNoSync);
}

// `home` exported as a dump to `dest`.
inline void ExportDump(const std::string& home, const std::string& dest) {
  ExportOptions eo;
  eo.home = home;
  eo.dest = dest;
  eo.format = ExportFormat::kDump;
  ExportReport er;
  Status s = Export(eo, &er);
  ASSERT_TRUE(s.ok()) << s.ToString();
}

// A FileStorage2 file byte by byte: one transaction before the index, the
// index (skipped by the reader: any bytes do), transactions after it.
inline std::string MakeDfs20(
    const std::vector<std::vector<std::pair<uint64_t, std::string>>>& txns) {
  std::string body;
  auto txn = [&](const std::vector<std::pair<uint64_t, std::string>>& t) {
    for (auto& [oid, rec] : t) {
      std::string l;
      PutU32(&l, static_cast<uint32_t>(rec.size()));
      body += l + rec;
    }
    body += std::string(4, '\0');
  };
  if (!txns.empty()) txn(txns[0]);
  uint64_t index_offset = 14 + body.size();
  body += U64(5) + "xzzzz";  // stands for the zlib'd pickle of the index
  for (size_t i = 1; i < txns.size(); ++i) txn(txns[i]);
  return std::string("DFS20\0", 6) + U64(index_offset) + body;
}

}  // namespace durus::migrate::test_util

#endif  // DURUS_BDB_TESTS_MIGRATE_MIGRATE_TEST_UTIL_H_
