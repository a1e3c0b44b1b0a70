// Damaged migration sources (issue 11, finding 2): only a torn tail -- a
// last transaction with no valid transaction after it -- is skipped (with
// a warning naming its offset and what it held); damage anywhere else
// fails naming the file and the offset and leaves no home an opener would
// accept; --salvage skips exactly the damaged ranges, reports them and
// every object whose last version was lost, and loads everything intact.
#include <iterator>
#include <ostream>
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
  Records final_records;       // the last version of every oid
  std::vector<Records> after;  // after[i]: the state after txns[0..i]
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

// `bytes` with 4 bytes of 0x7f at `at` (an item's length: far past any
// end), written to `path`.
void WriteDamaged(const std::string& path, std::string bytes, uint64_t at) {
  Overwrite(&bytes, at, std::string(4, '\x7f'));
  WriteFile(path, bytes);
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
  uint64_t at = ItemOffset(h, 4, 20);
  WriteDamaged(dir.Sub("s.durus"), h.shelf.bytes, at);

  MigrateReport r;
  Status s = RunMigrate(dir.Sub("s.durus"), dir.Sub("home"), &r);
  ASSERT_FALSE(s.ok()) << "migrated " << r.objects << " of 501 objects and succeeded";
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), dir.Sub("s.durus"))) << s.message();
  EXPECT_TRUE(Contains(s.message(), "byte offset " + std::to_string(at))) << s.message();
  EXPECT_TRUE(Contains(s.message(), "--salvage")) << s.message();
  EXPECT_TRUE(IsEmptyOrAbsent(dir.Sub("home")));
}

// --- helpers for the matrix ----------------------------------------------

// `records` with the oids in `missing` removed, and references to them
// dropped from the rest (what salvage, which implies --allow-dangling,
// stores when those objects were lost).
Records Without(const Records& records, const std::set<uint64_t>& missing) {
  Records out;
  for (const auto& [oid, rec] : records) {
    if (missing.count(oid)) continue;
    RecordView v;
    EXPECT_TRUE(UnpackRecord(rec, &v).ok());
    std::string kept;
    for (size_t i = 0; i + 8 <= v.refs.size(); i += 8) {
      if (!missing.count(GetU64(v.refs.data() + i))) kept.append(v.refs.data() + i, 8);
    }
    out[oid] = kept.size() == v.refs.size() ? rec : PackRecordRaw(v.oid, v.data, kept);
  }
  return out;
}

Status Salvage(const std::string& src, const std::string& home, MigrateReport* r) {
  MigrateOptions o;
  o.source = src;
  o.home = home;
  o.salvage = true;
  o.verify = true;
  o.cache_mb = 16;
  o.sort_memory_mb = 1;
  return Migrate(o, r);
}

struct Range {
  uint64_t offset, length;
  bool operator==(const Range& o) const { return offset == o.offset && length == o.length; }
};
std::ostream& operator<<(std::ostream& os, const Range& r) {
  return os << "[" << r.offset << ", +" << r.length << ")";
}
std::vector<Range> Ranges(const MigrateReport& r) {
  std::vector<Range> out;
  for (const SalvagedRange& k : r.skipped) out.push_back({k.offset, k.length});
  return out;
}

// Fails: non-OK, Corruption naming the file and `offset`, the salvage
// hint, and no home left that anything would open.
void ExpectDamageError(const std::string& src, const std::string& home, uint64_t offset) {
  MigrateReport r;
  Status s = RunMigrate(src, home, &r);
  ASSERT_FALSE(s.ok()) << "migrated " << r.objects << " objects and succeeded";
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), src)) << s.message();
  EXPECT_TRUE(Contains(s.message(), "byte offset " + std::to_string(offset))) << s.message();
  EXPECT_TRUE(Contains(s.message(), "--salvage")) << s.message();
  EXPECT_TRUE(IsEmptyOrAbsent(home));
}

uint64_t ItemSize(const History& h, size_t t, size_t i) {
  return Item(h.txns[t][i].first, h.txns[t][i].second).size();
}

// --- Shelf: the corruption matrix -----------------------------------------

TEST(CorruptShelfTest, MiddleDamageSalvagedExactly) {
  TempDir dir;
  History h = MakeHistory(10, 50);
  uint64_t at = ItemOffset(h, 4, 20);
  WriteDamaged(dir.Sub("s.durus"), h.shelf.bytes, at);
  MigrateReport r;
  Status s = Salvage(dir.Sub("s.durus"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Ranges(r), (std::vector<Range>{{at, ItemSize(h, 4, 20)}}));
  uint64_t lost_oid = h.txns[4][20].first;
  ASSERT_EQ(r.lost.size(), 1u);
  EXPECT_EQ(r.lost[0].oid, lost_oid);
  EXPECT_EQ(r.lost[0].offset, at);
  EXPECT_FALSE(r.lost[0].older_kept);
  EXPECT_TRUE(r.verified);
  EXPECT_EQ(CheckHome(dir.Sub("home")), Without(h.final_records, {lost_oid}));
  EXPECT_TRUE(
      Contains(SummaryLine(r), "salvage: 1 range(s) skipped; lost objects identified: 1 missing"))
      << SummaryLine(r);
}

TEST(CorruptShelfTest, DamagedHeaderFailsAndSalvageFindsTheOffsetMap) {
  TempDir dir;
  History h = MakeHistory(4, 20);
  std::string bytes = h.shelf.bytes;
  Overwrite(&bytes, 12, std::string(4, '\x7f'));  // the initial transaction's length
  WriteFile(dir.Sub("s.durus"), bytes);
  ExpectDamageError(dir.Sub("s.durus"), dir.Sub("home"), 8);
  MigrateReport r;
  Status s = Salvage(dir.Sub("s.durus"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Ranges(r), (std::vector<Range>{{8, 8}}));
  EXPECT_TRUE(r.lost.empty());
  EXPECT_EQ(CheckHome(dir.Sub("home")), h.final_records);
}

// Damage in the initial transaction (the items of the last pack).
TEST(CorruptShelfTest, DamagedInitialTransactionFailsAndSalvagesTheRest) {
  TempDir dir;
  Records g = RandomGraph(300, 3);
  std::vector<std::pair<uint64_t, std::string>> initial(g.begin(), g.end());
  ShelfImage img = MakeShelf(initial, {{{0, g[0]}}});
  uint64_t at = 16;
  for (uint64_t oid = 0; oid < 100; ++oid) at += Item(oid, g[oid]).size();
  std::string bytes = img.bytes;
  Overwrite(&bytes, at + 8, "\x01\x02\x03\x04");  // the item's oid
  WriteFile(dir.Sub("s.durus"), bytes);
  ExpectDamageError(dir.Sub("s.durus"), dir.Sub("home"), at);
  MigrateReport r;
  Status s = Salvage(dir.Sub("s.durus"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Ranges(r), (std::vector<Range>{{at, Item(100, g[100]).size()}}));
  EXPECT_EQ(CheckHome(dir.Sub("home")), Without(g, {100}));
}

// Damage in the first transaction after the map, nine after it; the
// damaged item's object has no other version (lost), the damaged root
// version in another case has later ones (superseded, nothing lost).
TEST(CorruptShelfTest, DamagedFirstTransactionFailsAndSalvagesTheRest) {
  TempDir dir;
  History h = MakeHistory(10, 10);
  std::string bytes = h.shelf.bytes;
  uint64_t root_at = ItemOffset(h, 0, 0), obj_at = ItemOffset(h, 0, 5);
  Overwrite(&bytes, root_at + 3, std::string(4, '\xff'));
  Overwrite(&bytes, obj_at + 24, std::string(4, '\xff'));  // the record's data length
  WriteFile(dir.Sub("s.durus"), bytes);
  ExpectDamageError(dir.Sub("s.durus"), dir.Sub("home"), root_at);
  MigrateReport r;
  Status s = Salvage(dir.Sub("s.durus"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Ranges(r),
            (std::vector<Range>{{root_at, ItemSize(h, 0, 0)}, {obj_at, ItemSize(h, 0, 5)}}));
  uint64_t obj = h.txns[0][5].first;
  ASSERT_EQ(r.lost.size(), 1u);  // the root's lost version was replaced
  EXPECT_EQ(r.lost[0].oid, obj);
  EXPECT_EQ(r.lost_superseded, 1u);
  EXPECT_EQ(CheckHome(dir.Sub("home")), Without(h.final_records, {obj}));
}

// A damaged transaction length (its items intact): salvage loses nothing
// and reports the eight bytes.
TEST(CorruptShelfTest, DamagedTransactionLengthLosesNothingUnderSalvage) {
  TempDir dir;
  History h = MakeHistory(6, 10);
  std::string bytes = h.shelf.bytes;
  uint64_t at = h.shelf.txn_offsets[2];
  Overwrite(&bytes, at + 4, std::string(4, '\x11'));
  WriteFile(dir.Sub("s.durus"), bytes);
  ExpectDamageError(dir.Sub("s.durus"), dir.Sub("home"), at);
  MigrateReport r;
  Status s = Salvage(dir.Sub("s.durus"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Ranges(r), (std::vector<Range>{{at, 8}}));
  EXPECT_TRUE(r.lost.empty());
  EXPECT_EQ(CheckHome(dir.Sub("home")), h.final_records);
}

// The last transaction cut short by a crash: a torn tail, skipped with a
// warning naming the offset, the bytes and the complete records in it;
// every object of the complete transactions is there.  The same with the
// end of the transaction zero-filled (blocks allocated, never written).
TEST(CorruptShelfTest, TornLastTransactionIsSkippedWithAWarning) {
  TempDir dir;
  History h = MakeHistory(6, 10);
  uint64_t last = h.shelf.txn_offsets[5];
  uint64_t cut = ItemOffset(h, 5, 3) + 10;  // three complete items, then part of one
  for (bool zero_fill : {false, true}) {
    std::string bytes = h.shelf.bytes.substr(0, cut);
    if (zero_fill) bytes += std::string(h.shelf.bytes.size() - cut, '\0');
    std::string src = dir.Sub(zero_fill ? "zero.durus" : "cut.durus");
    std::string home = dir.Sub(zero_fill ? "zero" : "cut");
    WriteFile(src, bytes);
    MigrateReport r;
    Status s = RunMigrate(src, home, &r);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(r.torn_tail);
    EXPECT_EQ(r.torn_offset, last);
    EXPECT_EQ(r.torn_bytes, bytes.size() - last);
    EXPECT_EQ(r.torn_records, 3u);
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_TRUE(Contains(r.warnings[0], "byte offset " + std::to_string(last))) << r.warnings[0];
    EXPECT_TRUE(Contains(r.warnings[0], std::to_string(bytes.size() - last) + " bytes"))
        << r.warnings[0];
    EXPECT_TRUE(Contains(r.warnings[0], "3 complete record(s)")) << r.warnings[0];
    EXPECT_EQ(CheckHome(home), h.after[4]);
    // Salvage skips a torn tail the same way (it was never acknowledged).
    s = Salvage(src, home + "-s", &r);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(r.torn_tail);
    EXPECT_TRUE(r.skipped.empty());
    EXPECT_EQ(CheckHome(home + "-s"), h.after[4]);
  }
}

// The last transaction complete but damaged is not a torn write.
TEST(CorruptShelfTest, DamageInsideTheCompleteLastTransactionFails) {
  TempDir dir;
  History h = MakeHistory(6, 10);
  uint64_t at = ItemOffset(h, 5, 4);
  WriteDamaged(dir.Sub("s.durus"), h.shelf.bytes, at);
  ExpectDamageError(dir.Sub("s.durus"), dir.Sub("home"), at);
  MigrateReport r;
  Status s = Salvage(dir.Sub("s.durus"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Ranges(r), (std::vector<Range>{{at, ItemSize(h, 5, 4)}}));
  uint64_t obj = h.txns[5][4].first;
  EXPECT_EQ(CheckHome(dir.Sub("home")), Without(h.final_records, {obj}));
}

// A truncated file: inside the offset map it is corruption; after it, it
// cannot be told from a crash and is reported as a torn tail (not silent).
TEST(CorruptShelfTest, TruncatedFile) {
  TempDir dir;
  History h = MakeHistory(6, 10);
  WriteFile(dir.Sub("a.durus"), h.shelf.bytes.substr(0, 30));
  MigrateReport r;
  Status s = RunMigrate(dir.Sub("a.durus"), dir.Sub("a"), &r);
  ASSERT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "byte offset 16")) << s.message();
  EXPECT_TRUE(IsEmptyOrAbsent(dir.Sub("a")));
  s = Salvage(dir.Sub("a.durus"), dir.Sub("a"), &r);  // nothing to salvage without a map
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_TRUE(IsEmptyOrAbsent(dir.Sub("a")));

  uint64_t cut = h.shelf.txn_offsets[3] + 100;
  WriteFile(dir.Sub("b.durus"), h.shelf.bytes.substr(0, cut));
  s = RunMigrate(dir.Sub("b.durus"), dir.Sub("b"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(r.torn_tail);
  EXPECT_EQ(r.torn_offset, h.shelf.txn_offsets[3]);
  EXPECT_EQ(CheckHome(dir.Sub("b")), h.after[2]);
}

// --- FileStorage2 ---------------------------------------------------------

// The offset of record `i` of transaction `t` (t >= 1: after the index) in
// MakeDfs20's image, and the start of transaction t.
uint64_t Dfs20RecordOffset(const std::vector<Txn>& txns, size_t t, size_t i) {
  uint64_t pos = 14;
  for (size_t k = 0; k < t; ++k) {
    for (auto& [oid, rec] : txns[k]) pos += 4 + rec.size();
    pos += 4;
    if (k == 0) pos += 8 + 5;  // the stand-in index
  }
  for (size_t k = 0; k < i; ++k) pos += 4 + txns[t][k].second.size();
  return pos;
}

TEST(CorruptDfs20Test, MiddleDamageFailsSalvageSkipsTheRecord) {
  TempDir dir;
  History h = MakeHistory(8, 10);
  uint64_t at = Dfs20RecordOffset(h.txns, 3, 4);
  WriteDamaged(dir.Sub("fs2"), MakeDfs20(h.txns), at);
  ExpectDamageError(dir.Sub("fs2"), dir.Sub("home"), at);
  MigrateReport r;
  Status s = Salvage(dir.Sub("fs2"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Ranges(r), (std::vector<Range>{{at, 4 + h.txns[3][4].second.size()}}));
  uint64_t obj = h.txns[3][4].first;
  ASSERT_EQ(r.lost.size(), 1u);
  EXPECT_EQ(r.lost[0].oid, obj);
  EXPECT_EQ(CheckHome(dir.Sub("home")), Without(h.final_records, {obj}));
}

TEST(CorruptDfs20Test, TornLastTransactionIsSkippedWithAWarning) {
  TempDir dir;
  History h = MakeHistory(5, 10);
  std::string bytes = MakeDfs20(h.txns);
  uint64_t last = Dfs20RecordOffset(h.txns, 4, 0);
  uint64_t cut = Dfs20RecordOffset(h.txns, 4, 2) + 7;
  WriteFile(dir.Sub("fs2"), bytes.substr(0, cut));
  MigrateReport r;
  Status s = RunMigrate(dir.Sub("fs2"), dir.Sub("home"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(r.torn_tail);
  EXPECT_EQ(r.torn_offset, last);
  EXPECT_EQ(r.torn_records, 2u);
  EXPECT_EQ(CheckHome(dir.Sub("home")), h.after[3]);
}

// --- dumps ----------------------------------------------------------------

TEST(CorruptDumpTest, BadBlockFailsSalvageSkipsExactlyThatBlock) {
  TempDir dir;
  Records g;
  for (uint64_t oid = 0; oid < 1200; ++oid) {
    g[oid] = Rec(oid, oid + 1 < 1200 ? std::vector<uint64_t>{oid + 1} : std::vector<uint64_t>{},
                 std::string(2000, static_cast<char>('a' + oid % 26)) + std::to_string(oid * oid));
  }
  MakeHome(dir.Sub("a"), g);
  ExportDump(dir.Sub("a"), dir.Sub("d.dump"));
  // Which oids each block holds, by reading the intact dump.
  std::map<uint64_t, std::set<uint64_t>> blocks;
  {
    std::unique_ptr<RecordSource> src;
    ASSERT_TRUE(OpenSource(dir.Sub("d.dump"), SourceFormat::kDump, {}, &src).ok());
    SourceItem item;
    bool done = false;
    while (src->Next(&item, &done).ok() && !done) blocks[item.offset].insert(item.oid.value());
  }
  ASSERT_GE(blocks.size(), 3u);
  auto second = std::next(blocks.begin());
  uint64_t block_at = second->first;
  uint64_t block_len = std::next(second)->first - block_at;
  std::string bytes = ReadFile(dir.Sub("d.dump"));
  bytes[block_at + kDumpBlockHeaderSize + 50] ^= 0x5a;
  WriteFile(dir.Sub("bad.dump"), bytes);
  ExpectDamageError(dir.Sub("bad.dump"), dir.Sub("b"), block_at);
  MigrateReport r;
  Status s = Salvage(dir.Sub("bad.dump"), dir.Sub("b"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Ranges(r), (std::vector<Range>{{block_at, block_len}}));
  EXPECT_TRUE(
      Contains(r.skipped[0].reason, std::to_string(second->second.size()) + " records lost"))
      << r.skipped[0].reason;
  EXPECT_EQ(CheckHome(dir.Sub("b")), Without(g, second->second));

  // A damaged block header: skipped up to the next block.
  bytes = ReadFile(dir.Sub("d.dump"));
  bytes[block_at + 9] ^= 0x01;
  WriteFile(dir.Sub("hdr.dump"), bytes);
  ExpectDamageError(dir.Sub("hdr.dump"), dir.Sub("c"), block_at);
  s = Salvage(dir.Sub("hdr.dump"), dir.Sub("c"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Ranges(r), (std::vector<Range>{{block_at, block_len}}));
  EXPECT_EQ(CheckHome(dir.Sub("c")), Without(g, second->second));

  // Truncated (no trailer): an error; salvage keeps every record and
  // reports where the dump ended.
  bytes = ReadFile(dir.Sub("d.dump"));
  uint64_t trailer_at = bytes.size() - kDumpTrailerSize;
  WriteFile(dir.Sub("short.dump"), bytes.substr(0, trailer_at));
  ExpectDamageError(dir.Sub("short.dump"), dir.Sub("d"), trailer_at);
  s = Salvage(dir.Sub("short.dump"), dir.Sub("d"), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Ranges(r), (std::vector<Range>{{trailer_at, 0}}));
  EXPECT_TRUE(Contains(r.warnings[0], "nothing at byte offset " + std::to_string(trailer_at)))
      << r.warnings[0];
  EXPECT_EQ(CheckHome(dir.Sub("d")), g);
}

}  // namespace
}  // namespace durus::migrate
