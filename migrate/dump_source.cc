// Reader for the durus-bdb dump (migrate/dump_format.h, doc/dump-format.md).
// Every checksum is checked; a dump that ends without its trailer is
// truncated and refused (a dump is written in one go, to a temporary name,
// so unlike a Shelf it has no legitimate torn tail).
//
// Salvage: a block whose data fails its checksum is skipped whole (its
// header says how long it is and how many records it held); a block whose
// header is damaged is skipped up to the next block header or trailer
// that passes its checksum; a damaged dump header or trailer, a truncated
// end and totals that no longer match are reported, not errors.  Every
// skipped range is reported; the lost records' oids are unknown (their
// bytes are compressed), but a dump holds oids in ascending order, so the
// range's reason names the oid they followed.
#include <zlib.h>

#include <cstring>

#include "engine/record.h"
#include "migrate/dump_format.h"
#include "migrate/source.h"

namespace durus::migrate {

namespace {

class DumpSource : public RecordSource {
 public:
  DumpSource(std::string path, SourceOptions options) : path_(std::move(path)), options_(options) {}

  Status Init();
  Status Next(SourceItem* item, bool* done) override;
  uint64_t bytes_read() const override { return file_.pos(); }
  uint64_t total_bytes() const override { return file_.size(); }
  uint64_t next_oid_hint() const override { return next_oid_; }

 private:
  Status Corrupt(uint64_t offset, const std::string& what) {
    return Status::Corruption(path_ + ": corrupt dump at byte offset " + std::to_string(offset) +
                              ": " + what + "; " + kSalvageHint);
  }
  // Salvage: report [from, to) as skipped.
  void Skip(uint64_t from, uint64_t to, const std::string& why) {
    skipped_.push_back(SkippedRange{from, to - from, "bytes", why});
  }
  // Corrupt(), or under salvage a skip of [offset, to) and OK.
  Status Damaged(uint64_t offset, uint64_t to, const std::string& what) {
    if (!options_.salvage) return Corrupt(offset, what);
    Skip(offset, to, what + after_oid());
    return Status::OK();
  }
  std::string after_oid() const {
    return records_ == 0 ? " (before the first record)"
                         : " (after oid " + std::to_string(last_oid_) + ")";
  }
  // Salvage: the next block header or trailer that passes its checksum.
  Status Resync(uint64_t from, uint64_t* to);
  Status ReadBlock(bool* end);
  Status ReadTrailer(uint64_t offset, std::string_view tag_and_rest);

  const std::string path_;
  const SourceOptions options_;
  FileReader file_;
  uint64_t last_oid_ = 0;
  uint64_t next_oid_ = 0;
  std::string raw_;
  size_t raw_pos_ = 0;
  uint32_t block_left_ = 0;  // records left in the current block
  uint64_t block_offset_ = 0;
  uint64_t records_ = 0;
  uint64_t record_bytes_ = 0;
  uint64_t blocks_ = 0;
  uint32_t chain_crc_ = 0;
  bool ended_ = false;
};

Status DumpSource::Init() {
  DURUS_RETURN_IF_ERROR(file_.Open(path_));
  std::string_view h;
  DURUS_RETURN_IF_ERROR(file_.Read(kDumpHeaderSize, &h));
  if (h.size() < 8 || memcmp(h.data(), kDumpMagic, 8) != 0) {
    return Status::InvalidArgument(path_ + ": not a durus-bdb dump (no DURUSDMP magic)");
  }
  if (h.size() < kDumpHeaderSize) return Corrupt(0, "file truncated inside the header");
  if (Crc32(h.substr(0, 28)) != GetU32(h.data() + 28)) {
    if (!options_.salvage) return Corrupt(0, "header checksum");
    // Its next_oid cannot be trusted: the migration then derives it from
    // the largest oid.
    Skip(0, kDumpHeaderSize, "dump header checksum (its next_oid is ignored)");
    return Status::OK();
  }
  uint32_t version = GetU32(h.data() + 8);
  if (version != kDumpVersion) {
    return Status::NotSupported(path_ + ": dump format version " + std::to_string(version) +
                                "; this durus-bdb reads version " + std::to_string(kDumpVersion));
  }
  next_oid_ = GetU64(h.data() + 16);
  return Status::OK();
}

Status DumpSource::ReadTrailer(uint64_t offset, std::string_view first) {
  std::string t(first);
  std::string_view rest;
  DURUS_RETURN_IF_ERROR(file_.Read(kDumpTrailerSize - t.size(), &rest));
  t.append(rest);
  ended_ = true;
  if (t.size() < kDumpTrailerSize) return Damaged(offset, file_.size(), "truncated trailer");
  if (Crc32(std::string_view(t).substr(0, 36)) != GetU32(t.data() + 36)) {
    return Damaged(offset, file_.size(), "trailer checksum");
  }
  uint64_t records = GetU64(t.data() + 8), bytes = GetU64(t.data() + 16);
  uint64_t blocks = GetU64(t.data() + 24);
  uint32_t chain = GetU32(t.data() + 32);
  bool skipped_any = !skipped_.empty();
  if ((records != records_ || bytes != record_bytes_ || blocks != blocks_ || chain != chain_crc_) &&
      !skipped_any) {
    return Damaged(offset, offset + kDumpTrailerSize,
                   "the trailer's totals (" + std::to_string(records) + " records, " +
                       std::to_string(blocks) + " blocks) do not match the blocks read (" +
                       std::to_string(records_) + " records, " + std::to_string(blocks_) +
                       " blocks)");
  }
  if (file_.pos() != file_.size()) {
    return Damaged(file_.pos(), file_.size(), "unexpected bytes after the trailer");
  }
  return Status::OK();
}

Status DumpSource::Resync(uint64_t from, uint64_t* to) {
  for (uint64_t pos = from; pos + kDumpBlockHeaderSize <= file_.size(); ++pos) {
    file_.Seek(pos);
    std::string_view h;
    DURUS_RETURN_IF_ERROR(file_.Read(kDumpTrailerSize, &h));
    if (memcmp(h.data(), kDumpBlockTag, 4) == 0 &&
        Crc32(h.substr(0, 20)) == GetU32(h.data() + 20)) {
      *to = pos;
      return Status::OK();
    }
    if (h.size() == kDumpTrailerSize && memcmp(h.data(), kDumpEndTag, 4) == 0 &&
        Crc32(h.substr(0, 36)) == GetU32(h.data() + 36)) {
      *to = pos;
      return Status::OK();
    }
  }
  *to = file_.size();
  return Status::OK();
}

Status DumpSource::ReadBlock(bool* end) {
  *end = false;
  uint64_t offset = file_.pos();
  std::string_view h;
  DURUS_RETURN_IF_ERROR(file_.Read(kDumpBlockHeaderSize, &h));
  if (h.size() >= 4 && memcmp(h.data(), kDumpEndTag, 4) == 0) {
    DURUS_RETURN_IF_ERROR(ReadTrailer(offset, h));
    *end = true;
    return Status::OK();
  }
  if (h.empty()) {
    ended_ = true;
    *end = true;
    if (!options_.salvage)
      return Corrupt(offset, "the dump ends without its trailer: truncated file");
    Skip(offset, offset,
         "the dump ends without its trailer: truncated file; any records " +
             (records_ == 0 ? std::string("at all") : "after oid " + std::to_string(last_oid_)) +
             " are missing");
    return Status::OK();
  }
  std::string bad;
  if (h.size() < kDumpBlockHeaderSize) {
    bad = "truncated block header";
  } else if (memcmp(h.data(), kDumpBlockTag, 4) != 0) {
    bad = "expected a block";
  } else if (Crc32(h.substr(0, 20)) != GetU32(h.data() + 20)) {
    bad = "block header checksum";
  } else if (GetU32(h.data() + 4) == 0) {
    bad = "empty block";
  }
  if (!bad.empty()) {
    if (!options_.salvage) return Corrupt(offset, bad);
    uint64_t to = 0;
    DURUS_RETURN_IF_ERROR(Resync(offset + 1, &to));
    Skip(offset, to, bad + after_oid());
    file_.Seek(to);
    return Status::OK();  // no block: the caller reads on
  }
  uint32_t count = GetU32(h.data() + 4), raw_len = GetU32(h.data() + 8);
  uint32_t comp_len = GetU32(h.data() + 12), raw_crc = GetU32(h.data() + 16);
  uint64_t block_end = offset + kDumpBlockHeaderSize + comp_len;
  std::string_view comp;
  DURUS_RETURN_IF_ERROR(file_.Read(comp_len, &comp));
  if (comp.size() < comp_len) {
    ended_ = true;
    *end = true;
    return Damaged(
        offset, file_.size(),
        "block of " + std::to_string(count) + " records runs past the end: truncated file");
  }
  raw_.resize(raw_len);
  uLongf out_len = raw_len;
  int rc = uncompress(reinterpret_cast<Bytef*>(raw_.data()), &out_len,
                      reinterpret_cast<const Bytef*>(comp.data()), comp_len);
  if (rc != Z_OK || out_len != raw_len)
    bad = "block does not decompress (zlib error " + std::to_string(rc) + ")";
  else if (Crc32(raw_) != raw_crc)
    bad = "block checksum";
  if (!bad.empty()) {
    raw_.clear();
    raw_pos_ = 0;
    return Damaged(offset, block_end, bad + ": " + std::to_string(count) + " records lost");
  }
  std::string c;
  PutU32(&c, raw_crc);
  chain_crc_ = Crc32(c, chain_crc_);
  ++blocks_;
  raw_pos_ = 0;
  block_left_ = count;
  block_offset_ = offset;
  return Status::OK();
}

Status DumpSource::Next(SourceItem* item, bool* done) {
  *done = false;
  while (block_left_ == 0) {
    if (raw_pos_ != raw_.size()) {
      DURUS_RETURN_IF_ERROR(
          Damaged(block_offset_, block_offset_, "block has bytes after its last record"));
      raw_pos_ = raw_.size();
    }
    if (ended_) {
      *done = true;
      return Status::OK();
    }
    bool end = false;
    DURUS_RETURN_IF_ERROR(ReadBlock(&end));
    if (end) {
      *done = true;
      return Status::OK();
    }
  }
  std::string bad;
  uint32_t len = 0;
  if (raw_.size() - raw_pos_ < 4) {
    bad = "record length past the block";
  } else if ((len = GetU32(raw_.data() + raw_pos_)) > raw_.size() - raw_pos_ - 4) {
    bad = "record runs past the end of its block";
  } else if (len < kRecordHeaderSize) {
    bad = "record of " + std::to_string(len) + " bytes";
  } else if (!CheckItem(path_, Oid::FromBytes(raw_.data() + raw_pos_ + 4),
                        std::string_view(raw_.data() + raw_pos_ + 4, len), block_offset_)
                  .ok()) {
    bad = "malformed record of oid " + OidToString(Oid::FromBytes(raw_.data() + raw_pos_ + 4));
  }
  if (!bad.empty()) {
    // The block passed its checksum, so the writer wrote this: the rest
    // of the block cannot be framed.
    if (!options_.salvage) return Corrupt(block_offset_, bad + " (in the block at this offset)");
    Skip(block_offset_, block_offset_,
         bad + " in the block at this offset: its last " + std::to_string(block_left_) +
             " records skipped" + after_oid());
    block_left_ = 0;
    raw_pos_ = raw_.size();
    return Next(item, done);
  }
  std::string_view rec(raw_.data() + raw_pos_ + 4, len);
  raw_pos_ += 4 + size_t{len};
  --block_left_;
  item->oid = Oid::FromBytes(rec.data());
  item->record = rec;
  item->offset = block_offset_;
  last_oid_ = item->oid.value();
  ++records_;
  record_bytes_ += len;
  return Status::OK();
}

}  // namespace

Status OpenDumpSource(const std::string& path, const SourceOptions& options,
                      std::unique_ptr<RecordSource>* out) {
  return InitSource<DumpSource>(path, options, out);
}

}  // namespace durus::migrate
