// Reader for Durus's FileStorage2 format (durus/file_storage2.py):
//
//   "DFS20\0", u64 index_offset
//   transactions: records (u32 L, record[L]) ended by u32 0
//   at index_offset: u64 n + n bytes of a zlib'd pickle of the index
//   more transactions after the index
//
// The index is skipped: scanning every record, last version winning, gives
// what the index would.  What precedes the index was complete when the
// index was written (a pack renames a finished file into place), so damage
// there is corruption.  A transaction after the index without its
// terminator, or with a record length below 12 (Durus: "Bad record size")
// or past the end of the file, is the torn tail, as Durus's repair=True
// would truncate it.  Each such transaction is checked before any of its
// records is handed out.
#include <cstring>

#include "engine/record.h"
#include "migrate/file_io.h"
#include "migrate/source.h"

namespace durus::migrate {

namespace {

constexpr size_t kMagicSize = 6;
constexpr uint64_t kHeaderSize = kMagicSize + 8;

class Dfs20Source : public RecordSource {
 public:
  Dfs20Source(std::string path, SourceOptions options)
      : path_(std::move(path)), options_(options) {}

  Status Init();
  Status Next(SourceItem* item, bool* done) override;
  uint64_t bytes_read() const override { return file_.pos(); }
  uint64_t total_bytes() const override { return file_.size(); }

 private:
  Status Corrupt(uint64_t offset, const std::string& what) {
    return Status::Corruption(path_ + ": corrupt FileStorage2 file at byte offset " +
                              std::to_string(offset) + ": " + what);
  }
  Status Torn(uint64_t offset, const std::string& detail, bool* done);
  // Find the end of the transaction starting at `start` (just past its
  // terminator); *ok false if it is malformed or cut short.
  Status CheckTransaction(uint64_t start, bool* ok, uint64_t* end, std::string* why);
  Status SkipIndex();

  const std::string path_;
  const SourceOptions options_;
  FileReader file_;
  uint64_t index_offset_ = 0;
  bool index_done_ = false;
  bool in_txn_ = false;       // inside a transaction already checked or pre-index
  uint64_t txn_end_ = 0;      // just past the terminator of a checked transaction
};

Status Dfs20Source::Init() {
  DURUS_RETURN_IF_ERROR(file_.Open(path_));
  std::string_view b;
  DURUS_RETURN_IF_ERROR(file_.Read(kHeaderSize, &b));
  if (b.size() < kMagicSize || memcmp(b.data(), "DFS20\0", kMagicSize) != 0) {
    return Status::InvalidArgument(path_ + ": not a FileStorage2 file (no DFS20 magic)");
  }
  if (b.size() < kHeaderSize) return Corrupt(kMagicSize, "file truncated inside the header");
  index_offset_ = GetU64(b.data() + kMagicSize);
  if (index_offset_ < kHeaderSize || index_offset_ > file_.size() - 8) {
    return Corrupt(kMagicSize, "index offset " + std::to_string(index_offset_) +
                                   " outside the file (" + std::to_string(file_.size()) +
                                   " bytes)");
  }
  return Status::OK();
}

Status Dfs20Source::SkipIndex() {
  file_.Seek(index_offset_);
  std::string_view b;
  DURUS_RETURN_IF_ERROR(file_.Read(8, &b));
  if (b.size() < 8) return Corrupt(index_offset_, "truncated index");
  uint64_t n = GetU64(b.data());
  if (n > file_.size() - index_offset_ - 8) {
    return Corrupt(index_offset_, "the index (" + std::to_string(n) +
                                      " bytes) runs past the end of the file: truncated file");
  }
  file_.Seek(index_offset_ + 8 + n);
  index_done_ = true;
  return Status::OK();
}

Status Dfs20Source::Torn(uint64_t offset, const std::string& detail, bool* done) {
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

Status Dfs20Source::CheckTransaction(uint64_t start, bool* ok, uint64_t* end, std::string* why) {
  uint64_t pos = start;
  for (;;) {
    file_.Seek(pos);
    std::string_view b;
    DURUS_RETURN_IF_ERROR(file_.Read(4, &b));
    if (b.size() < 4) {
      *ok = false;
      *why = "no transaction terminator before the end of the file";
      return Status::OK();
    }
    uint32_t len = GetU32(b.data());
    if (len == 0) {
      *ok = true;
      *end = pos + 4;
      return Status::OK();
    }
    if (len < kRecordHeaderSize) {
      *ok = false;
      *why = "bad record size " + std::to_string(len) + " at byte offset " + std::to_string(pos);
      return Status::OK();
    }
    if (len > file_.size() - pos - 4) {
      *ok = false;
      *why = "record at byte offset " + std::to_string(pos) + " runs past the end of the file";
      return Status::OK();
    }
    pos += 4 + uint64_t{len};
  }
}

Status Dfs20Source::Next(SourceItem* item, bool* done) {
  *done = false;
  for (;;) {
    uint64_t pos = file_.pos();
    if (!index_done_ && pos == index_offset_) {
      DURUS_RETURN_IF_ERROR(SkipIndex());
      in_txn_ = false;
      continue;
    }
    bool pre_index = !index_done_;
    if (!in_txn_) {
      if (pos >= file_.size()) {
        if (pre_index) return Corrupt(pos, "the index is missing: truncated file");
        *done = true;
        return Status::OK();
      }
      if (!pre_index) {
        bool ok = false;
        std::string why;
        DURUS_RETURN_IF_ERROR(CheckTransaction(pos, &ok, &txn_end_, &why));
        if (!ok) return Torn(pos, why, done);
        file_.Seek(pos);
      }
      in_txn_ = true;
    }
    std::string_view b;
    DURUS_RETURN_IF_ERROR(file_.Read(4, &b));
    if (b.size() < 4) return Corrupt(pos, "file truncated inside a record length");
    uint32_t len = GetU32(b.data());
    if (len == 0) {  // terminator
      in_txn_ = false;
      continue;
    }
    uint64_t limit = pre_index ? index_offset_ : file_.size();
    if (len < kRecordHeaderSize || limit < pos + 4 || len > limit - pos - 4) {
      return Corrupt(pos, "bad record size " + std::to_string(len));
    }
    std::string_view rec;
    DURUS_RETURN_IF_ERROR(file_.Read(len, &rec));
    if (rec.size() != len) return Corrupt(pos, "short read");
    item->oid = Oid::FromBytes(rec.data());
    item->record = rec;
    item->offset = pos;
    return CheckItem(path_, item->oid, item->record, pos);
  }
}

}  // namespace

Status OpenDfs20Source(const std::string& path, const SourceOptions& options,
                       std::unique_ptr<RecordSource>* out) {
  auto src = std::make_unique<Dfs20Source>(path, options);
  DURUS_RETURN_IF_ERROR(src->Init());
  *out = std::move(src);
  return Status::OK();
}

}  // namespace durus::migrate
