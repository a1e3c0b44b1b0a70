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
// The initial transaction and the offset map are written before the file
// is used (a pack writes a new file and renames it), so damage there is
// corruption.  A transaction after the map that is cut short or whose items
// do not tile it exactly is what a crash during a commit leaves: it and
// everything after it are the torn tail (Durus's repair=True truncates
// there).  Each such transaction is therefore checked before any of its
// items is handed out.
#include <cstring>

#include "engine/record.h"
#include "migrate/file_io.h"
#include "migrate/source.h"

namespace durus::migrate {

namespace {

constexpr char kPrefix[] = "SHELF-1\n";
constexpr size_t kPrefixSize = 8;

class ShelfSource : public RecordSource {
 public:
  ShelfSource(std::string path, SourceOptions options)
      : path_(std::move(path)), options_(options) {}

  Status Init();
  Status Next(SourceItem* item, bool* done) override;
  uint64_t bytes_read() const override { return file_.pos(); }
  uint64_t total_bytes() const override { return file_.size(); }

 private:
  Status ReadU64(uint64_t* v, bool* short_read);
  Status Corrupt(uint64_t offset, const std::string& what) {
    return Status::Corruption(path_ + ": corrupt Shelf file at byte offset " +
                              std::to_string(offset) + ": " + what);
  }
  // Check the transaction whose items span [start, end); *ok false if its
  // items do not tile it exactly (the first malformation's offset in *bad).
  Status CheckTransaction(uint64_t start, uint64_t end, bool* ok, uint64_t* bad);
  Status Torn(uint64_t offset, const std::string& detail, bool* done);

  const std::string path_;
  const SourceOptions options_;
  FileReader file_;
  bool in_initial_ = true;
  uint64_t region_end_ = 0;  // end of the current transaction's items
  uint64_t map_end_ = 0;
};

Status ShelfSource::ReadU64(uint64_t* v, bool* short_read) {
  std::string_view b;
  DURUS_RETURN_IF_ERROR(file_.Read(8, &b));
  *short_read = b.size() < 8;
  if (!*short_read) *v = GetU64(b.data());
  return Status::OK();
}

Status ShelfSource::Init() {
  DURUS_RETURN_IF_ERROR(file_.Open(path_));
  std::string_view b;
  DURUS_RETURN_IF_ERROR(file_.Read(kPrefixSize, &b));
  if (b.size() < kPrefixSize || memcmp(b.data(), kPrefix, kPrefixSize) != 0) {
    return Status::InvalidArgument(path_ + ": not a Shelf file (no SHELF-1 prefix)");
  }
  uint64_t n = 0;
  bool short_read = false;
  DURUS_RETURN_IF_ERROR(ReadU64(&n, &short_read));
  if (short_read) return Corrupt(8, "file truncated inside the header");
  if (n > file_.size() - 16) {
    return Corrupt(8, "the initial transaction (" + std::to_string(n) +
                          " bytes) runs past the end of the file (" +
                          std::to_string(file_.size()) + " bytes): truncated file");
  }
  uint64_t map_start = 16 + n;
  // The offset map: u64 bytes (= 16 + bpw * count), u64 bpw, u64 count.
  file_.Seek(map_start);
  uint64_t bytes = 0, bpw = 0, count = 0;
  bool s1, s2, s3;
  DURUS_RETURN_IF_ERROR(ReadU64(&bytes, &s1));
  DURUS_RETURN_IF_ERROR(ReadU64(&bpw, &s2));
  DURUS_RETURN_IF_ERROR(ReadU64(&count, &s3));
  if (s1 || s2 || s3) return Corrupt(map_start, "file truncated inside the offset map header");
  if (bpw == 0 || bpw > 8 || (count != 0 && (bytes - 16) / count != bpw) || bytes < 16 ||
      bytes != 16 + bpw * count) {
    return Corrupt(map_start, "malformed offset map header (bytes=" + std::to_string(bytes) +
                                  ", bytes_per_word=" + std::to_string(bpw) +
                                  ", count=" + std::to_string(count) + ")");
  }
  if (bytes > file_.size() - map_start - 8) {
    return Corrupt(map_start, "the offset map runs past the end of the file: truncated file");
  }
  map_end_ = map_start + 8 + bytes;
  file_.Seek(16);
  region_end_ = map_start;
  in_initial_ = true;
  return Status::OK();
}

Status ShelfSource::CheckTransaction(uint64_t start, uint64_t end, bool* ok, uint64_t* bad) {
  uint64_t pos = start;
  *ok = true;
  while (pos < end) {
    file_.Seek(pos);
    uint64_t len = 0;
    bool short_read = false;
    DURUS_RETURN_IF_ERROR(ReadU64(&len, &short_read));
    if (short_read || end - pos < 8 || len < 8 || len > end - pos - 8) {
      *ok = false;
      *bad = pos;
      return Status::OK();
    }
    pos += 8 + len;
  }
  return Status::OK();
}

Status ShelfSource::Torn(uint64_t offset, const std::string& detail, bool* done) {
  uint64_t bytes = file_.size() - offset;
  if (options_.strict) {
    return Status::Corruption(path_ + ": torn last transaction at byte offset " +
                              std::to_string(offset) + " (" + detail + "; " +
                              std::to_string(bytes) + " bytes to the end of the file)");
  }
  torn_.present = true;
  torn_.offset = offset;
  torn_.bytes = bytes;
  torn_.detail = detail;
  file_.Seek(file_.size());
  *done = true;
  return Status::OK();
}

Status ShelfSource::Next(SourceItem* item, bool* done) {
  *done = false;
  for (;;) {
    uint64_t pos = file_.pos();
    if (pos < region_end_) {
      uint64_t len = 0;
      bool short_read = false;
      DURUS_RETURN_IF_ERROR(ReadU64(&len, &short_read));
      // Transactions after the map were checked; only the initial one can
      // fail here.
      if (short_read || region_end_ - pos < 8 || len < 8 || len > region_end_ - pos - 8) {
        return Corrupt(pos, "item length " + std::to_string(len) +
                                " does not fit its transaction (which ends at " +
                                std::to_string(region_end_) + ")");
      }
      std::string_view body;
      DURUS_RETURN_IF_ERROR(file_.Read(static_cast<size_t>(len), &body));
      if (body.size() != len) return Corrupt(pos, "short read");
      item->oid = Oid::FromBytes(body.data());
      item->record = body.substr(8);
      item->offset = pos;
      if (item->record.size() < 8 || memcmp(item->record.data(), body.data(), 8) != 0) {
        return Corrupt(pos, "the item's oid and its record's oid differ");
      }
      return CheckItem(path_, item->oid, item->record, pos);
    }
    if (in_initial_) {
      in_initial_ = false;
      file_.Seek(map_end_);
      region_end_ = map_end_;
      continue;
    }
    // The next transaction.
    if (pos >= file_.size()) {
      *done = true;
      return Status::OK();
    }
    uint64_t remaining = file_.size() - pos;
    if (remaining < 8) return Torn(pos, "partial transaction length", done);
    uint64_t t = 0;
    bool short_read = false;
    DURUS_RETURN_IF_ERROR(ReadU64(&t, &short_read));
    if (short_read) return Torn(pos, "partial transaction length", done);
    if (t > remaining - 8) {
      return Torn(pos, "transaction of " + std::to_string(t) + " bytes, only " +
                           std::to_string(remaining - 8) + " present",
                  done);
    }
    bool ok = true;
    uint64_t bad = 0;
    DURUS_RETURN_IF_ERROR(CheckTransaction(pos + 8, pos + 8 + t, &ok, &bad));
    if (!ok) {
      return Torn(pos, "malformed item at byte offset " + std::to_string(bad), done);
    }
    file_.Seek(pos + 8);
    region_end_ = pos + 8 + t;
  }
}

}  // namespace

Status OpenShelfSource(const std::string& path, const SourceOptions& options,
                       std::unique_ptr<RecordSource>* out) {
  auto src = std::make_unique<ShelfSource>(path, options);
  DURUS_RETURN_IF_ERROR(src->Init());
  *out = std::move(src);
  return Status::OK();
}

}  // namespace durus::migrate
