// Reader for Durus's FileStorage2 format (durus/file_storage2.py):
//
//   "DFS20\0", u64 index_offset
//   transactions: records (u32 L, record[L]) ended by u32 0
//   at index_offset: u64 n + n bytes of a zlib'd pickle of the index
//   more transactions after the index
//
// The index is skipped: scanning every record, last version winning, gives
// what the index would.  A record is valid if it fits where it is and its
// framing checks (CheckItem); a transaction is valid if its records are
// and it ends with its terminator.
//
// What precedes the index was complete when the index was written (a pack
// renames a finished file into place), so damage there is corruption.  A
// malformed transaction after the index is the torn tail a crash leaves --
// skipped, as Durus's repair=True would truncate it -- only if it runs to
// the end of the file without its terminator and no valid transaction
// (records ending in a terminator) follows it.  Anything else is damage:
// Corruption naming the offset, or under salvage, resynchronisation on
// the next valid record, with every skipped range reported and, where the
// damaged record's header is still plausible, its oid.  Each transaction
// after the index is checked before any of its records is handed out.
#include <cstring>

#include "engine/record.h"
#include "migrate/file_io.h"
#include "migrate/source.h"

namespace durus::migrate {

namespace {

constexpr size_t kMagicSize = 6;
constexpr uint64_t kHeaderSize = kMagicSize + 8;

class Dfs20Source : public CheckedFileSource {
 public:
  Dfs20Source(std::string path, SourceOptions options)
      : CheckedFileSource(options), path_(std::move(path)) {}

  Status Init();
  Status Next(SourceItem* item, bool* done) override;

 private:
  Status Corrupt(uint64_t offset, const std::string& what) override {
    return Status::Corruption(path_ + ": corrupt FileStorage2 file at byte offset " +
                              std::to_string(offset) + ": " + what + "; " + kSalvageHint);
  }
  // *len: the u32 at `pos` if the 4 bytes are before `limit`.
  Status ReadLen(uint64_t pos, uint64_t limit, uint32_t* len, bool* ok);
  // The record (with its length) at `pos` if valid and ending by `limit`.
  Status ValidItem(uint64_t pos, uint64_t limit, bool* ok, uint64_t* end,
                   std::string* why) override;
  // Valid records from `start` up to a terminator: *terminated and *stop
  // (just past the terminator, or the first invalid record).
  Status Chain(uint64_t start, bool* terminated, uint64_t* stop, uint64_t* count, std::string* why);
  // From *pos, the first position whose length fits before `limit`
  // (*found), else *pos = limit.
  Status NextCandidate(uint64_t* pos, uint64_t limit, bool* found);
  Status NextChain(uint64_t from, uint64_t* q);
  Status NextItem(uint64_t from, uint64_t limit, uint64_t* r) override;
  Status Skip(uint64_t from, uint64_t to, const std::string& why) override;
  Status Torn(uint64_t offset, uint64_t records, const std::string& detail, bool* done);
  Status StartTransaction(uint64_t pos, bool* done);
  Status SkipIndex();
  Status FindIndex(bool* found);

  const std::string path_;
  uint64_t index_offset_ = 0;
  bool index_done_ = false;
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
    std::string why = "index offset " + std::to_string(index_offset_) + " outside the file (" +
                      std::to_string(file_.size()) + " bytes)";
    if (!options_.salvage) return Corrupt(kMagicSize, why);
    bool found = false;
    DURUS_RETURN_IF_ERROR(FindIndex(&found));
    if (!found) {
      return Status::Corruption(path_ + ": corrupt FileStorage2 file at byte offset " +
                                std::to_string(kMagicSize) + ": " + why +
                                "; salvage found no index after the first transactions");
    }
    DURUS_RETURN_IF_ERROR(
        Skip(kMagicSize, kHeaderSize,
             why + ": the index is at byte offset " + std::to_string(index_offset_)));
  }
  cur_ = kHeaderSize;
  region_end_ = index_offset_;
  return Status::OK();
}

// Salvage with a damaged index offset: the index is where the records
// before it stop, if a plausible index (u64 n, then a zlib stream) is there.
Status Dfs20Source::FindIndex(bool* found) {
  *found = false;
  uint64_t pos = kHeaderSize;
  for (;;) {
    uint32_t len = 0;
    bool ok = false;
    DURUS_RETURN_IF_ERROR(ReadLen(pos, file_.size(), &len, &ok));
    if (ok && len == 0) {
      pos += 4;
      continue;
    }
    uint64_t end = 0;
    DURUS_RETURN_IF_ERROR(ValidItem(pos, file_.size(), &ok, &end, nullptr));
    if (ok) {
      pos = end;
      continue;
    }
    break;
  }
  file_.Seek(pos);
  std::string_view b;
  DURUS_RETURN_IF_ERROR(file_.Read(9, &b));
  if (b.size() < 9 || static_cast<unsigned char>(b[8]) != 0x78) return Status::OK();
  if (GetU64(b.data()) > file_.size() - pos - 8) return Status::OK();
  index_offset_ = pos;
  *found = true;
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
  cur_ = region_end_ = index_offset_ + 8 + n;
  index_done_ = true;
  return Status::OK();
}

Status Dfs20Source::ReadLen(uint64_t pos, uint64_t limit, uint32_t* len, bool* ok) {
  *ok = false;
  if (limit < pos + 4) return Status::OK();
  file_.Seek(pos);
  std::string_view b;
  DURUS_RETURN_IF_ERROR(file_.Read(4, &b));
  if (b.size() < 4) return Status::OK();
  *len = GetU32(b.data());
  *ok = true;
  return Status::OK();
}

Status Dfs20Source::ValidItem(uint64_t pos, uint64_t limit, bool* ok, uint64_t* end,
                              std::string* why) {
  uint32_t len = 0;
  DURUS_RETURN_IF_ERROR(ReadLen(pos, limit, &len, ok));
  if (!*ok) {
    if (why != nullptr) *why = "partial record length";
    return Status::OK();
  }
  *ok = false;
  if (len < kRecordHeaderSize) {
    if (why != nullptr) *why = "bad record size " + std::to_string(len);
    return Status::OK();
  }
  if (len > limit - pos - 4) {
    if (why != nullptr)
      *why = "record of " + std::to_string(len) + " bytes runs past " +
             (limit == file_.size() ? std::string("the end of the file")
                                    : "byte offset " + std::to_string(limit));
    return Status::OK();
  }
  std::string_view rec;
  DURUS_RETURN_IF_ERROR(file_.Read(len, &rec));
  if (rec.size() != len) {
    if (why != nullptr) *why = "short read";
    return Status::OK();
  }
  Oid oid = Oid::FromBytes(rec.data());
  if (!CheckItem(path_, oid, rec, pos).ok()) {
    if (why != nullptr) *why = "malformed record of oid " + OidToString(oid);
    return Status::OK();
  }
  *ok = true;
  *end = pos + 4 + len;
  return Status::OK();
}

Status Dfs20Source::Chain(uint64_t start, bool* terminated, uint64_t* stop, uint64_t* count,
                          std::string* why) {
  uint64_t pos = start;
  *count = 0;
  *terminated = false;
  for (;;) {
    uint32_t len = 0;
    bool ok = false;
    DURUS_RETURN_IF_ERROR(ReadLen(pos, file_.size(), &len, &ok));
    if (!ok) {
      if (why != nullptr) *why = "no transaction terminator before the end of the file";
      break;
    }
    if (len == 0) {
      *terminated = true;
      pos += 4;
      break;
    }
    uint64_t end = 0;
    DURUS_RETURN_IF_ERROR(ValidItem(pos, file_.size(), &ok, &end, why));
    if (!ok) break;
    pos = end;
    ++*count;
  }
  *stop = pos;
  return Status::OK();
}

// Both scans filter candidates (a length that fits) before the full
// check, which moves the reader.
Status Dfs20Source::NextCandidate(uint64_t* pos, uint64_t limit, bool* found) {
  *found = false;
  if (limit < 4 + kRecordHeaderSize) {
    *pos = limit;
    return Status::OK();
  }
  auto fits = [limit](const char* b, uint64_t p) {
    uint32_t len = GetU32(b);
    return len >= kRecordHeaderSize && len <= limit - p - 4;
  };
  DURUS_RETURN_IF_ERROR(ScanFor(&file_, pos, limit - 4 - kRecordHeaderSize, 4, fits, found));
  if (!*found) *pos = limit;
  return Status::OK();
}

Status Dfs20Source::NextChain(uint64_t from, uint64_t* q) {
  uint64_t pos = from;
  while (pos + 4 + kRecordHeaderSize + 4 <= file_.size()) {
    bool found = false;
    DURUS_RETURN_IF_ERROR(NextCandidate(&pos, file_.size(), &found));
    if (!found) continue;
    bool terminated = false;
    uint64_t stop = 0, count = 0;
    DURUS_RETURN_IF_ERROR(Chain(pos, &terminated, &stop, &count, nullptr));
    if (terminated && count > 0) {
      *q = pos;
      return Status::OK();
    }
    ++pos;
  }
  *q = file_.size();
  return Status::OK();
}

Status Dfs20Source::NextItem(uint64_t from, uint64_t limit, uint64_t* r) {
  uint64_t pos = from;
  while (pos + 4 + kRecordHeaderSize <= limit) {
    bool found = false;
    DURUS_RETURN_IF_ERROR(NextCandidate(&pos, limit, &found));
    if (!found) continue;
    bool ok = false;
    uint64_t end = 0;
    DURUS_RETURN_IF_ERROR(ValidItem(pos, limit, &ok, &end, nullptr));
    if (ok) {
      *r = pos;
      return Status::OK();
    }
    ++pos;
  }
  *r = limit;
  return Status::OK();
}

// The damaged record's oid is reported if its header still looks like one
// (the data length fits the skipped range): a FileStorage2 record carries
// its oid only once, so this is the best evidence there is.
Status Dfs20Source::Skip(uint64_t from, uint64_t to, const std::string& why) {
  if (to <= from) return Status::OK();
  skipped_.push_back(SkippedRange{from, to - from, "bytes", why});
  if (to - from >= 4 + kRecordHeaderSize) {
    file_.Seek(from + 4);
    std::string_view b;
    DURUS_RETURN_IF_ERROR(file_.Read(kRecordHeaderSize, &b));
    if (b.size() == kRecordHeaderSize &&
        GetU32(b.data() + 8) <= to - from - 4 - kRecordHeaderSize) {
      lost_.push_back(LostVersion{Oid::FromBytes(b.data()), from});
    }
  }
  return Status::OK();
}

Status Dfs20Source::Torn(uint64_t offset, uint64_t records, const std::string& detail, bool* done) {
  DURUS_RETURN_IF_ERROR(
      NoteTornTail(path_, options_.strict, offset, file_.size(), records, detail));
  file_.Seek(file_.size());
  cur_ = region_end_ = file_.size();
  *done = true;
  return Status::OK();
}

Status Dfs20Source::StartTransaction(uint64_t pos, bool* done) {
  bool terminated = false;
  uint64_t stop = 0, count = 0;
  std::string why;
  DURUS_RETURN_IF_ERROR(Chain(pos, &terminated, &stop, &count, &why));
  if (terminated) {
    cur_ = pos;
    region_end_ = stop;
    return Status::OK();
  }
  uint64_t q = file_.size();
  DURUS_RETURN_IF_ERROR(NextChain(stop, &q));
  // A crash leaves records cut off by the end of the file; a record that
  // is complete but malformed is damage.
  bool interrupted_write = false;
  uint32_t len = 0;
  bool ok = false;
  DURUS_RETURN_IF_ERROR(ReadLen(stop, file_.size(), &len, &ok));
  interrupted_write = !ok || (len >= kRecordHeaderSize && len > file_.size() - stop - 4);
  if (q == file_.size() && interrupted_write) return Torn(pos, count, why, done);
  if (!options_.salvage) {
    std::string after = q == file_.size()
                            ? "the record is complete, so not a torn write"
                            : "a valid transaction follows at byte offset " + std::to_string(q) +
                                  ", so this is not a torn last transaction: the file is damaged";
    return Corrupt(stop, why + " (in the transaction at byte offset " + std::to_string(pos) + "; " +
                             after + ")");
  }
  cur_ = pos;
  region_end_ = q;
  return Status::OK();
}

Status Dfs20Source::Next(SourceItem* item, bool* done) {
  *done = false;
  for (;;) {
    if (cur_ < region_end_) {
      uint32_t len = 0;
      bool ok = false;
      DURUS_RETURN_IF_ERROR(ReadLen(cur_, region_end_, &len, &ok));
      if (ok && len == 0) {  // a terminator
        cur_ += 4;
        continue;
      }
      bool got = false;
      DURUS_RETURN_IF_ERROR(TakeItem(4, 0, item, &got));
      if (got) return Status::OK();
      continue;
    }
    if (!index_done_) {
      DURUS_RETURN_IF_ERROR(SkipIndex());
      continue;
    }
    if (region_end_ >= file_.size()) {
      file_.Seek(file_.size());
      *done = true;
      return Status::OK();
    }
    DURUS_RETURN_IF_ERROR(StartTransaction(region_end_, done));
    if (*done) return Status::OK();
  }
}

}  // namespace

Status OpenDfs20Source(const std::string& path, const SourceOptions& options,
                       std::unique_ptr<RecordSource>* out) {
  return InitSource<Dfs20Source>(path, options, out);
}

}  // namespace durus::migrate
