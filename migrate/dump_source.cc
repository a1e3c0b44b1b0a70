// Reader for the durus-bdb dump (migrate/dump_format.h, doc/dump-format.md).
// Every checksum is checked; a dump that ends without its trailer is
// truncated and refused (a dump is written in one go, to a temporary name,
// so unlike a Shelf it has no legitimate torn tail).
#include <zlib.h>

#include <cstring>

#include "engine/record.h"
#include "migrate/dump_format.h"
#include "migrate/source.h"

namespace durus::migrate {

namespace {

class DumpSource : public RecordSource {
 public:
  explicit DumpSource(std::string path) : path_(std::move(path)) {}

  Status Init();
  Status Next(SourceItem* item, bool* done) override;
  uint64_t bytes_read() const override { return file_.pos(); }
  uint64_t total_bytes() const override { return file_.size(); }
  uint64_t next_oid_hint() const override { return next_oid_; }

 private:
  Status Corrupt(uint64_t offset, const std::string& what) {
    return Status::Corruption(path_ + ": corrupt dump at byte offset " + std::to_string(offset) +
                              ": " + what);
  }
  Status ReadBlock(bool* end);
  Status ReadTrailer(uint64_t offset, std::string_view tag_and_rest);

  const std::string path_;
  FileReader file_;
  uint64_t next_oid_ = 0;
  std::string raw_;
  size_t raw_pos_ = 0;
  uint32_t block_left_ = 0;   // records left in the current block
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
  if (Crc32(h.substr(0, 28)) != GetU32(h.data() + 28)) return Corrupt(0, "header checksum");
  uint32_t version = GetU32(h.data() + 8);
  if (version != kDumpVersion) {
    return Status::NotSupported(path_ + ": dump format version " + std::to_string(version) +
                                "; this durus-bdb reads version " +
                                std::to_string(kDumpVersion));
  }
  next_oid_ = GetU64(h.data() + 16);
  return Status::OK();
}

Status DumpSource::ReadTrailer(uint64_t offset, std::string_view first) {
  std::string t(first);
  std::string_view rest;
  DURUS_RETURN_IF_ERROR(file_.Read(kDumpTrailerSize - t.size(), &rest));
  t.append(rest);
  if (t.size() < kDumpTrailerSize) return Corrupt(offset, "truncated trailer");
  if (Crc32(std::string_view(t).substr(0, 36)) != GetU32(t.data() + 36)) {
    return Corrupt(offset, "trailer checksum");
  }
  uint64_t records = GetU64(t.data() + 8), bytes = GetU64(t.data() + 16);
  uint64_t blocks = GetU64(t.data() + 24);
  uint32_t chain = GetU32(t.data() + 32);
  if (records != records_ || bytes != record_bytes_ || blocks != blocks_ || chain != chain_crc_) {
    return Corrupt(offset, "the trailer's totals (" + std::to_string(records) + " records, " +
                               std::to_string(blocks) + " blocks) do not match the blocks read (" +
                               std::to_string(records_) + " records, " +
                               std::to_string(blocks_) + " blocks)");
  }
  if (file_.pos() != file_.size()) {
    return Corrupt(file_.pos(), "unexpected bytes after the trailer");
  }
  ended_ = true;
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
  if (h.empty()) return Corrupt(offset, "the dump ends without its trailer: truncated file");
  if (h.size() < kDumpBlockHeaderSize) return Corrupt(offset, "truncated block header");
  if (memcmp(h.data(), kDumpBlockTag, 4) != 0) return Corrupt(offset, "expected a block");
  if (Crc32(h.substr(0, 20)) != GetU32(h.data() + 20)) {
    return Corrupt(offset, "block header checksum");
  }
  uint32_t count = GetU32(h.data() + 4), raw_len = GetU32(h.data() + 8);
  uint32_t comp_len = GetU32(h.data() + 12), raw_crc = GetU32(h.data() + 16);
  if (count == 0) return Corrupt(offset, "empty block");
  std::string_view comp;
  DURUS_RETURN_IF_ERROR(file_.Read(comp_len, &comp));
  if (comp.size() < comp_len) return Corrupt(offset, "block runs past the end: truncated file");
  raw_.resize(raw_len);
  uLongf out_len = raw_len;
  int rc = uncompress(reinterpret_cast<Bytef*>(raw_.data()), &out_len,
                      reinterpret_cast<const Bytef*>(comp.data()), comp_len);
  if (rc != Z_OK || out_len != raw_len) {
    return Corrupt(offset, "block does not decompress (zlib error " + std::to_string(rc) + ")");
  }
  if (Crc32(raw_) != raw_crc) return Corrupt(offset, "block checksum");
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
      return Corrupt(block_offset_, "block has bytes after its last record");
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
  if (raw_.size() - raw_pos_ < 4) return Corrupt(block_offset_, "record length past the block");
  uint32_t len = GetU32(raw_.data() + raw_pos_);
  if (len > raw_.size() - raw_pos_ - 4) {
    return Corrupt(block_offset_, "record runs past the end of its block");
  }
  std::string_view rec(raw_.data() + raw_pos_ + 4, len);
  raw_pos_ += 4 + size_t{len};
  --block_left_;
  if (rec.size() < kRecordHeaderSize) {
    return Corrupt(block_offset_, "record of " + std::to_string(len) + " bytes");
  }
  item->oid = Oid::FromBytes(rec.data());
  item->record = rec;
  item->offset = block_offset_;
  ++records_;
  record_bytes_ += len;
  return CheckItem(path_ + " (block at byte offset " + std::to_string(block_offset_) + ")",
                   item->oid, rec, block_offset_);
}

}  // namespace

Status OpenDumpSource(const std::string& path, const SourceOptions& options,
                      std::unique_ptr<RecordSource>* out) {
  auto src = std::make_unique<DumpSource>(path);
  DURUS_RETURN_IF_ERROR(src->Init());
  *out = std::move(src);
  return Status::OK();
}

}  // namespace durus::migrate
