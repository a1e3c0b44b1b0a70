// Damaged migration sources (issue 11, finding 2): only a torn tail -- a
// last transaction with no valid transaction after it -- is skipped (with
// a warning naming its offset and what it held); damage anywhere else
// fails naming the file and the offset and leaves no home an opener would
// accept; --salvage skips exactly the damaged ranges, reports them and
// every object whose last version was lost, and loads everything intact.
#include <set>

#include "migrate/dump_format.h"
#include "migrate/migrate.h"
#include "migrate/source.h"
#include "tests/migrate/migrate_test_util.h"

namespace durus::migrate {
namespace {

using namespace test_util;  // NOLINT(build/namespaces): the shared helpers

using Txn = std::vector<std::pair<uint64_t, std::string>>;

// A Durus-like history: an empty initial transaction, then `txns`
// commits, each adding `per_txn` objects and rewriting the root (oid 0)
// to reference all of them, as Durus's own FileStorage writes it.
struct History {
  ShelfImage shelf;
  std::vector<Txn> txns;
  Records final_records;          // the last version of every oid
  std::vector<Records> after;     // after[i]: the state after txns[0..i]
};

History MakeHistory(int txns, int per_txn) {
  History h;
  std::vector<uint64_t> root_refs;
  uint64_t next = 1;
  Records state;
  for (int t = 0; t < txns; ++t) {
    Txn txn;
    for (int i = 0; i < per_txn; ++i, ++next) {
      root_refs.push_back(next);
      txn.push_back({next, Rec(next, {}, "object " + std::to_string(next) + std::string(60, 'x'))});
    }
    txn.insert(txn.begin(), {0, Rec(0, root_refs, "root version " + std::to_string(t))});
    for (auto& [oid, rec] : txn) state[oid] = rec;
    h.after.push_back(state);
    h.txns.push_back(std::move(txn));
  }
  h.final_records = state;
  h.shelf = MakeShelf({}, h.txns);
  return h;
}

// The byte offset of item `i` of later transaction `t` in `h.shelf`.
uint64_t ItemOffset(const History& h, size_t t, size_t i) {
  uint64_t pos = h.shelf.txn_offsets[t] + 8;
  for (size_t k = 0; k < i; ++k) pos += Item(h.txns[t][k].first, h.txns[t][k].second).size();
  return pos;
}

void Overwrite(std::string* bytes, uint64_t at, const std::string& with) {
  bytes->replace(at, with.size(), with);
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// --- Shelf: the reported defect -------------------------------------------

// 501 objects in 10 transactions; 4 bytes overwritten in the middle of
// transaction 4 (the length of one of its items), five complete
// transactions after it.  The unfixed reader took this for a torn last
// transaction, dropped the rest of the file and succeeded.
TEST(CorruptShelfTest, DamageInTheMiddleFailsNamingTheOffset) {
  TempDir dir;
  History h = MakeHistory(10, 50);
  ASSERT_EQ(h.final_records.size(), 501u);
  std::string bytes = h.shelf.bytes;
  uint64_t at = ItemOffset(h, 4, 20);
  Overwrite(&bytes, at, std::string(4, '\x7f'));
  WriteFile(dir.Sub("s.durus"), bytes);

  MigrateReport r;
  Status s = RunMigrate(dir.Sub("s.durus"), dir.Sub("home"), &r);
  ASSERT_FALSE(s.ok()) << "migrated " << r.objects << " of 501 objects and succeeded";
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), dir.Sub("s.durus"))) << s.message();
  EXPECT_TRUE(Contains(s.message(), "byte offset " + std::to_string(at))) << s.message();
  EXPECT_TRUE(Contains(s.message(), "--salvage")) << s.message();
  EXPECT_TRUE(IsEmptyOrAbsent(dir.Sub("home")));
}

}  // namespace
}  // namespace durus::migrate
