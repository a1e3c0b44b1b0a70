// libFuzzer target: verify's chunked table reader (bdb/table_reader.h), the
// code that reads records.db, refcounts.db, pending.db and verify's
// temporary tables in bulk chunks (issue 11: a record larger than what was
// left of a chunk ended the scan early, and --repair then deleted live
// objects).  The input is a table: arbitrary keys and values (some
// expanded to many times a chunk), read back with a small initial chunk
// size, sometimes deleting each returned key before the next call (as a
// caller writing between calls may).  Invariants:
//   - every entry is returned exactly once, in key order, with its value;
//   - the scan ends (no more calls than entries + 1) without an error.
// Input layout: byte 0: chunk size (1..64 KiB) and whether to delete;
// then entries {u8 key length, u16 LE value length, u8 repeat, key bytes,
// value bytes}, each value repeated 1 + repeat % 8 times.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "bdb/table_reader.h"

// Says which invariant broke before aborting (libFuzzer keeps the input).
#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      fprintf(stderr, "fuzz_table_reader: %s does not hold (line %d)\n", #cond, __LINE__); \
      abort();                                                                             \
    }                                                                                      \
  } while (0)

namespace {

std::map<std::string, std::string> ParseTable(const uint8_t* data, size_t size) {
  std::map<std::string, std::string> table;
  size_t i = 1;
  while (i + 4 <= size) {
    size_t klen = data[i];
    size_t vlen = data[i + 1] | (size_t{data[i + 2]} << 8);
    size_t repeat = 1 + data[i + 3] % 8;
    i += 4;
    if (i + klen > size) break;
    std::string key(reinterpret_cast<const char*>(data + i), klen);
    i += klen;
    vlen = std::min(vlen, size - i);
    std::string unit(reinterpret_cast<const char*>(data + i), vlen);
    i += vlen;
    std::string value;
    for (size_t r = 0; r < repeat; ++r) value += unit;
    table[key] = value;
  }
  return table;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using durus::bdb::TableReader;
  if (size < 1) return 0;
  size_t chunk = 1024 * (1 + data[0] % 64);
  bool delete_returned = (data[0] & 0x80) != 0;
  std::map<std::string, std::string> table = ParseTable(data, size);

  // An in-memory btree with small pages: many pages, overflow items.
  Db db(nullptr, DB_CXX_NO_EXCEPTIONS);
  db.set_pagesize(512);
  CHECK(db.open(nullptr, nullptr, nullptr, DB_BTREE, DB_CREATE, 0600) == 0);
  for (const auto& [k, v] : table) {
    Dbt key(const_cast<char*>(k.data()), static_cast<u_int32_t>(k.size()));
    Dbt val(const_cast<char*>(v.data()), static_cast<u_int32_t>(v.size()));
    CHECK(db.put(nullptr, &key, &val, 0) == 0);
  }

  TableReader reader(&db, chunk);
  auto expect = table.begin();
  for (size_t calls = 0;; ++calls) {
    CHECK(calls <= table.size());  // else no progress: it would hang
    std::string_view k, v;
    bool end = false;
    int ret = reader.Next(&k, &v, &end);
    CHECK(ret == 0);
    if (end) break;
    CHECK(expect != table.end());  // else an entry too many
    CHECK(k == expect->first);     // else skipped or repeated
    CHECK(v == expect->second);
    ++expect;
    if (delete_returned) {
      std::string copy(k);
      Dbt key(copy.data(), static_cast<u_int32_t>(copy.size()));
      CHECK(db.del(nullptr, &key, 0) == 0);
    }
  }
  CHECK(expect == table.end());  // else the scan ended early
  db.close(0);
  return 0;
}
