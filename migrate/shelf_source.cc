// Reader for Durus's Shelf format (durus/shelf.py; ../shared/DESIGN.md §3):
//
//   "SHELF-1\n"
//   u64 n, then n bytes: the initial transaction (the items of the last pack)
//   offset map: u64 bytes, u64 bytes_per_word, u64 count, bytes-16 bytes
//   transactions to EOF: u64 T, then T bytes of items
//   item: u64 L, oid[8], record[L-8]        (all integers big-endian)
//
// Later items override earlier ones; the caller keeps the last.
//
// An item is valid if it fits where it is, its oid equals its record's
// and the record's framing checks (CheckItem).  A transaction is valid if
// its items are valid and tile it exactly; each is checked before any of
// its items is handed out.
//
// Damage and torn tails.  The initial transaction and the offset map are
// written before the file is used (a pack writes a new file and renames
// it), so damage there is corruption.  A malformed transaction after the
// map is the torn tail a crash during a commit leaves -- skipped, as
// Durus's repair=True would truncate it -- only if nothing valid follows
// it and it looks like an interrupted write: a valid prefix of itself,
// cut off by the end of the file or by the zeros that end it (blocks the
// file system allocated but never wrote).  Anything else is damage:
// Corruption naming the offset, or under salvage, resynchronisation (the
// next valid transaction bounds the damaged one; inside it, the next valid
// item), with every skipped range and every identifiable lost item
// reported.  Scanning for the next valid transaction costs one candidate
// check per byte of the damaged region, most rejected on their first
// eight bytes.
#include <algorithm>
#include <cstring>
#include <set>

#include "engine/record.h"
#include "migrate/file_io.h"
#include "migrate/source.h"

namespace durus::migrate {

namespace {

constexpr char kPrefix[] = "SHELF-1\n";
constexpr size_t kPrefixSize = 8;
// u64 L + oid[8] + the smallest record (oid[8] + u32 length).
constexpr uint64_t kMinItem = 8 + 8 + kRecordHeaderSize;

class ShelfSource : public CheckedFileSource {
 public:
  ShelfSource(std::string path, SourceOptions options)
      : CheckedFileSource(options), path_(std::move(path)) {}

  Status Init();
  Status Next(SourceItem* item, bool* done) override;

 private:
  Status ReadU64At(uint64_t pos, uint64_t* v, bool* short_read);
  Status Corrupt(uint64_t offset, const std::string& what) override {
    return Status::Corruption(path_ + ": corrupt Shelf file at byte offset " +
                              std::to_string(offset) + ": " + what + "; " + kSalvageHint);
  }
  // The item at `pos` if it is valid and ends at or before `limit`
  // (*end: just past it); otherwise *ok false and, if `why` is not null
  // (the scans pass null: messages cost more than the checks), why.
  Status ValidItem(uint64_t pos, uint64_t limit, bool* ok, uint64_t* end,
                   std::string* why) override;
  // Valid items from `start` while they fit within `limit`: *stop is where
  // the chain stops (limit, or the first invalid item), *count how many.
  Status ItemChain(uint64_t start, uint64_t limit, uint64_t* stop, uint64_t* count,
                   std::string* why);
  // The first offset >= from (and < limit) where a valid, non-empty
  // transaction / a valid item starts; the limit if none.
  Status NextTransaction(uint64_t from, uint64_t* q);
  Status NextItem(uint64_t from, uint64_t limit, uint64_t* r) override;
  Status IsTornWrite(uint64_t pos, bool* torn);
  // Salvage: record [from, to) as skipped, with the items identifiable in it.
  Status Skip(uint64_t from, uint64_t to, const std::string& why) override;
  // Salvage: the offset map when the initial transaction's length is wrong.
  Status FindMap(uint64_t* map_start, uint64_t* map_end, bool* found);
  Status CheckMap(uint64_t map_start, uint64_t* map_end, bool* ok, std::string* why);
  // Reads the transaction at `pos` and sets the next region to read.
  Status StartTransaction(uint64_t pos, bool* done);
  Status Torn(uint64_t offset, uint64_t records, const std::string& detail, bool* done);

  const std::string path_;
  bool in_initial_ = true;
  uint64_t map_end_ = 0;
};

Status ShelfSource::ReadU64At(uint64_t pos, uint64_t* v, bool* short_read) {
  file_.Seek(pos);
  std::string_view b;
  DURUS_RETURN_IF_ERROR(file_.Read(8, &b));
  *short_read = b.size() < 8;
  if (!*short_read) *v = GetU64(b.data());
  return Status::OK();
}

Status ShelfSource::CheckMap(uint64_t map_start, uint64_t* map_end, bool* ok, std::string* why) {
  // The offset map: u64 bytes (= 16 + bpw * count), u64 bpw, u64 count.
  uint64_t bytes = 0, bpw = 0, count = 0;
  bool s1, s2, s3;
  DURUS_RETURN_IF_ERROR(ReadU64At(map_start, &bytes, &s1));
  DURUS_RETURN_IF_ERROR(ReadU64At(map_start + 8, &bpw, &s2));
  DURUS_RETURN_IF_ERROR(ReadU64At(map_start + 16, &count, &s3));
  *ok = false;
  if (s1 || s2 || s3) {
    if (why != nullptr) *why = "file truncated inside the offset map header";
  } else if (bpw == 0 || bpw > 8 || bytes < 16 || (count != 0 && (bytes - 16) / count != bpw) ||
             bytes != 16 + bpw * count) {
    if (why != nullptr) {
      *why = "malformed offset map header (bytes=" + std::to_string(bytes) +
             ", bytes_per_word=" + std::to_string(bpw) + ", count=" + std::to_string(count) + ")";
    }
  } else if (bytes > file_.size() - map_start - 8) {
    if (why != nullptr) *why = "the offset map runs past the end of the file: truncated file";
  } else {
    *ok = true;
    *map_end = map_start + 8 + bytes;
  }
  return Status::OK();
}

Status ShelfSource::FindMap(uint64_t* map_start, uint64_t* map_end, bool* found) {
  // The first offset where a well-formed map header stands, and the
  // initial transaction's items before it tile exactly.
  *found = false;
  for (uint64_t m = 16; m + 24 <= file_.size(); ++m) {
    bool ok = false;
    DURUS_RETURN_IF_ERROR(CheckMap(m, map_end, &ok, nullptr));
    if (!ok) continue;
    uint64_t stop = 0, count = 0;
    DURUS_RETURN_IF_ERROR(ItemChain(16, m, &stop, &count, nullptr));
    if (stop != m) continue;
    *map_start = m;
    *found = true;
    return Status::OK();
  }
  return Status::OK();
}

Status ShelfSource::Init() {
  DURUS_RETURN_IF_ERROR(file_.Open(path_));
  std::string_view b;
  DURUS_RETURN_IF_ERROR(file_.Read(kPrefixSize, &b));
  if (b.size() < kPrefixSize || memcmp(b.data(), kPrefix, kPrefixSize) != 0) {
    if (!options_.salvage || b.size() < kPrefixSize) {
      return Status::InvalidArgument(path_ + ": not a Shelf file (no SHELF-1 prefix)");
    }
    // Forced with --format shelf --salvage: the prefix is only a label.
    DURUS_RETURN_IF_ERROR(Skip(0, kPrefixSize, "damaged SHELF-1 prefix"));
  }
  uint64_t n = 0;
  bool short_read = false;
  DURUS_RETURN_IF_ERROR(ReadU64At(8, &n, &short_read));
  if (short_read) return Corrupt(8, "file truncated inside the header");
  std::string why;
  uint64_t map_start = 16 + n;
  if (n > file_.size() - 16) {
    why = "the initial transaction (" + std::to_string(n) +
          " bytes) runs past the end of the file (" + std::to_string(file_.size()) +
          " bytes): truncated file";
  } else {
    bool ok = false;
    DURUS_RETURN_IF_ERROR(CheckMap(map_start, &map_end_, &ok, &why));
  }
  if (!why.empty()) {
    uint64_t at = n > file_.size() - 16 ? 8 : map_start;
    if (!options_.salvage) return Corrupt(at, why);
    bool found = false;
    DURUS_RETURN_IF_ERROR(FindMap(&map_start, &map_end_, &found));
    if (!found) {
      return Status::Corruption(path_ + ": corrupt Shelf file at byte offset " +
                                std::to_string(at) + ": " + why +
                                "; salvage found no offset map anywhere in the file");
    }
    DURUS_RETURN_IF_ERROR(Skip(8, 16,
                               "the initial transaction's length (" + std::to_string(n) +
                                   ") is wrong: the offset map is at byte offset " +
                                   std::to_string(map_start)));
  }
  cur_ = 16;
  region_end_ = map_start;
  in_initial_ = true;
  return Status::OK();
}

Status ShelfSource::ValidItem(uint64_t pos, uint64_t limit, bool* ok, uint64_t* end,
                              std::string* why) {
  *ok = false;
  uint64_t len = 0;
  bool short_read = false;
  if (limit < pos + 8) {
    if (why != nullptr) *why = "partial item length";
    return Status::OK();
  }
  DURUS_RETURN_IF_ERROR(ReadU64At(pos, &len, &short_read));
  if (short_read || len < kMinItem - 8 || len > limit - pos - 8) {
    if (why != nullptr)
      *why = "item length " + std::to_string(len) +
             " does not fit its transaction (which ends at " + std::to_string(limit) + ")";
    return Status::OK();
  }
  std::string_view body;
  DURUS_RETURN_IF_ERROR(file_.Read(static_cast<size_t>(len), &body));
  if (body.size() != len) {
    if (why != nullptr) *why = "short read";
    return Status::OK();
  }
  if (memcmp(body.data() + 8, body.data(), 8) != 0) {
    if (why != nullptr) *why = "the item's oid and its record's oid differ";
    return Status::OK();
  }
  Oid oid = Oid::FromBytes(body.data());
  Status s = CheckItem(path_, oid, body.substr(8), pos);
  if (!s.ok()) {
    if (why != nullptr) *why = "malformed record of oid " + OidToString(oid);
    return Status::OK();
  }
  *ok = true;
  *end = pos + 8 + len;
  return Status::OK();
}

Status ShelfSource::ItemChain(uint64_t start, uint64_t limit, uint64_t* stop, uint64_t* count,
                              std::string* why) {
  uint64_t pos = start;
  *count = 0;
  while (pos < limit) {
    bool ok = false;
    uint64_t end = 0;
    DURUS_RETURN_IF_ERROR(ValidItem(pos, limit, &ok, &end, why));
    if (!ok) break;
    pos = end;
    ++*count;
  }
  *stop = pos;
  return Status::OK();
}

// The scans below filter candidates (a length that fits, an oid written
// twice) before the full check, which moves the reader.
Status ShelfSource::NextTransaction(uint64_t from, uint64_t* q) {
  const uint64_t size = file_.size();
  *q = size;
  if (size < 8 + kMinItem) return Status::OK();
  auto fits = [size](const char* b, uint64_t p) {
    uint64_t t = GetU64(b);
    return t >= kMinItem && t <= size - p - 8;
  };
  for (uint64_t pos = from;; ++pos) {
    bool found = false;
    DURUS_RETURN_IF_ERROR(ScanFor(&file_, &pos, size - 8 - kMinItem, 8, fits, &found));
    if (!found) return Status::OK();
    uint64_t t = 0, stop = 0, count = 0;
    bool short_read = false;
    DURUS_RETURN_IF_ERROR(ReadU64At(pos, &t, &short_read));
    DURUS_RETURN_IF_ERROR(ItemChain(pos + 8, pos + 8 + t, &stop, &count, nullptr));
    if (stop == pos + 8 + t) {
      *q = pos;
      return Status::OK();
    }
  }
}

Status ShelfSource::NextItem(uint64_t from, uint64_t limit, uint64_t* r) {
  *r = limit;
  if (limit < kMinItem) return Status::OK();
  auto plausible = [limit](const char* b, uint64_t p) {
    uint64_t len = GetU64(b);
    return len >= kMinItem - 8 && len <= limit - p - 8 && memcmp(b + 8, b + 16, 8) == 0;
  };
  for (uint64_t pos = from;; ++pos) {
    bool found = false;
    DURUS_RETURN_IF_ERROR(ScanFor(&file_, &pos, limit - kMinItem, 24, plausible, &found));
    if (!found) return Status::OK();
    bool ok = false;
    uint64_t end = 0;
    DURUS_RETURN_IF_ERROR(ValidItem(pos, limit, &ok, &end, nullptr));
    if (ok) {
      *r = pos;
      return Status::OK();
    }
  }
}

// What a crash during a commit leaves: a prefix of the transaction, then
// possibly zeros up to the size the file system recorded.  So: with z the
// start of the file's trailing zeros, [pos, z) holds less than the
// transaction's length, and its items are valid up to one cut off by z.
Status ShelfSource::IsTornWrite(uint64_t pos, bool* torn) {
  *torn = false;
  uint64_t z = file_.size();
  while (z > pos) {
    uint64_t from = z - std::min<uint64_t>(z - pos, 1 << 16);
    file_.Seek(from);
    std::string_view b;
    DURUS_RETURN_IF_ERROR(file_.Read(static_cast<size_t>(z - from), &b));
    size_t i = b.size();
    while (i > 0 && b[i - 1] == 0) --i;
    z = from + i;
    if (i > 0 || b.empty()) break;
  }
  if (z - pos < 8) {
    *torn = true;
    return Status::OK();
  }
  uint64_t t = 0;
  bool short_read = false;
  DURUS_RETURN_IF_ERROR(ReadU64At(pos, &t, &short_read));
  if (short_read || t <= z - pos - 8) return Status::OK();
  uint64_t stop = 0, count = 0;
  DURUS_RETURN_IF_ERROR(ItemChain(pos + 8, z, &stop, &count, nullptr));
  if (z - stop < 8) {
    *torn = true;
    return Status::OK();
  }
  uint64_t len = 0;
  DURUS_RETURN_IF_ERROR(ReadU64At(stop, &len, &short_read));
  *torn = !short_read && len > z - stop - 8;
  return Status::OK();
}

// Items in a damaged range are found by their oid, written twice at an
// item's start (the item's and its record's), with a non-zero item length
// before it and either that length or the record's data length fitting
// the range.
Status ShelfSource::Skip(uint64_t from, uint64_t to, const std::string& why) {
  if (to <= from) return Status::OK();
  skipped_.push_back(SkippedRange{from, to - from, "bytes", why});
  if (to < 8 + 8 + kRecordHeaderSize + 8) return Status::OK();
  // b points at a candidate item's length; its oid is at b + 8.
  auto fits = [to](const char* b, uint64_t p, uint64_t* len, uint64_t* data_len) {
    *len = GetU64(b);
    *data_len = GetU32(b + 24);
    bool len_fits = *len >= kMinItem - 8 && *len <= to - p - 8;
    bool data_fits = *data_len <= to - p - 8 - 20;
    return *len != 0 && memcmp(b + 8, b + 16, 8) == 0 && (len_fits || data_fits);
  };
  std::set<uint64_t> seen;
  uint64_t len = 0, data_len = 0;
  for (uint64_t k = std::max<uint64_t>(from, 8);;) {
    bool found = false;
    DURUS_RETURN_IF_ERROR(ScanFor(
        &file_, &k, to - 8 - 8 - kRecordHeaderSize, 28,
        [&](const char* b, uint64_t p) { return fits(b, p, &len, &data_len); }, &found));
    if (!found) return Status::OK();
    file_.Seek(k + 8);
    std::string_view b;
    DURUS_RETURN_IF_ERROR(file_.Read(8, &b));
    Oid oid = Oid::FromBytes(b.data());
    if (seen.insert(oid.value()).second) lost_.push_back(LostVersion{oid, k});
    k += len >= kMinItem - 8 && len <= to - k - 8 ? 8 + len : 8 + 8 + 20 + data_len;
  }
}

Status ShelfSource::Torn(uint64_t offset, uint64_t records, const std::string& detail, bool* done) {
  DURUS_RETURN_IF_ERROR(
      NoteTornTail(path_, options_.strict, offset, file_.size(), records, detail));
  file_.Seek(file_.size());
  cur_ = region_end_ = file_.size();
  *done = true;
  return Status::OK();
}

Status ShelfSource::StartTransaction(uint64_t pos, bool* done) {
  const uint64_t size = file_.size();
  uint64_t t = 0;
  bool short_read = false;
  DURUS_RETURN_IF_ERROR(ReadU64At(pos, &t, &short_read));
  bool fits = !short_read && t <= size - pos - 8;
  uint64_t stop = pos, count = 0;
  std::string why;
  if (!short_read) {
    DURUS_RETURN_IF_ERROR(ItemChain(pos + 8, fits ? pos + 8 + t : size, &stop, &count, &why));
  }
  if (fits && stop == pos + 8 + t) {
    cur_ = pos + 8;
    region_end_ = pos + 8 + t;
    return Status::OK();
  }
  // Malformed: where, and why.
  uint64_t bad = pos;
  if (short_read) {
    why = "partial transaction length";
  } else if (!fits) {
    why = "transaction of " + std::to_string(t) + " bytes, only " + std::to_string(size - pos - 8) +
          " present";
  } else {
    bad = stop;
  }
  uint64_t q = size;
  DURUS_RETURN_IF_ERROR(NextTransaction(std::max(pos + 1, bad), &q));
  bool torn = false;
  if (q == size) DURUS_RETURN_IF_ERROR(IsTornWrite(pos, &torn));
  if (torn) return Torn(pos, count, why, done);
  if (!options_.salvage) {
    std::string after = q == size
                            ? "it is complete, so not a torn write"
                            : "a valid transaction follows at byte offset " + std::to_string(q) +
                                  ", so this is not a torn last "
                                  "transaction: the file is damaged";
    return Corrupt(bad, why + " (in the transaction at byte offset " + std::to_string(pos) + "; " +
                            after + ")");
  }
  // Salvage: this transaction's items are in [pos + 8, q).
  if (q < pos + 8) {
    DURUS_RETURN_IF_ERROR(Skip(pos, q, why));
    cur_ = region_end_ = q;
    return Status::OK();
  }
  if (!fits || pos + 8 + t != q) {
    // The length itself is wrong unless the items end where it says
    // (then the damage is after them: the next transaction's header).
    uint64_t chain_end = 0, n = 0;
    DURUS_RETURN_IF_ERROR(ItemChain(pos + 8, q, &chain_end, &n, nullptr));
    bool length_right = fits && pos + 8 + t <= q && chain_end >= pos + 8 + t;
    if (!length_right) {
      DURUS_RETURN_IF_ERROR(Skip(pos, pos + 8,
                                 "transaction length " + std::to_string(t) +
                                     " does not match its items (the next valid "
                                     "transaction is at byte offset " +
                                     std::to_string(q) + ")"));
    }
  }
  cur_ = pos + 8;
  region_end_ = q;
  return Status::OK();
}

Status ShelfSource::Next(SourceItem* item, bool* done) {
  *done = false;
  for (;;) {
    if (cur_ < region_end_) {
      bool got = false;
      DURUS_RETURN_IF_ERROR(TakeItem(8, 8, item, &got));
      if (got) return Status::OK();
      continue;
    }
    uint64_t pos = region_end_;
    if (in_initial_) {
      in_initial_ = false;
      pos = map_end_;
    }
    if (pos >= file_.size()) {
      file_.Seek(file_.size());
      cur_ = region_end_ = file_.size();
      *done = true;
      return Status::OK();
    }
    DURUS_RETURN_IF_ERROR(StartTransaction(pos, done));
    if (*done) return Status::OK();
  }
}

}  // namespace

Status OpenShelfSource(const std::string& path, const SourceOptions& options,
                       std::unique_ptr<RecordSource>* out) {
  return InitSource<ShelfSource>(path, options, out);
}

}  // namespace durus::migrate
