// DumpWriter: see migrate/dump_format.h and doc/dump-format.md.
#include <zlib.h>

#include "engine/record.h"
#include "migrate/dump_format.h"

namespace durus::migrate {

uint32_t Crc32(std::string_view data, uint32_t crc) {
  // zlib's crc32 takes a uInt length: feed large inputs in pieces.
  const Bytef* p = reinterpret_cast<const Bytef*>(data.data());
  size_t left = data.size();
  uLong c = crc;
  while (left > 0) {
    uInt n = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
    c = crc32(c, p, n);
    p += n;
    left -= n;
  }
  return static_cast<uint32_t>(c);
}

Status DumpWriter::Start(uint64_t next_oid, uint32_t flags) {
  std::string h(kDumpMagic, 8);
  PutU32(&h, kDumpVersion);
  PutU32(&h, flags);
  PutU64(&h, next_oid);
  PutU32(&h, 0);
  PutU32(&h, Crc32(h));
  return out_->Append(h);
}

Status DumpWriter::Add(Oid oid, std::string_view record) {
  if (record.size() > kDumpMaxBlock - 4) {
    return Status::InvalidArgument("record of oid " + OidToString(oid) + " too large for a dump");
  }
  if (!raw_.empty() && raw_.size() + 4 + record.size() > kDumpBlockTarget) {
    DURUS_RETURN_IF_ERROR(FlushBlock());
  }
  PutU32(&raw_, static_cast<uint32_t>(record.size()));
  raw_.append(record);
  ++block_records_;
  ++records_;
  record_bytes_ += record.size();
  return Status::OK();
}

Status DumpWriter::FlushBlock() {
  if (raw_.empty()) return Status::OK();
  uLongf bound = compressBound(static_cast<uLong>(raw_.size()));
  comp_.resize(bound);
  uLongf clen = bound;
  // Durus records are mostly zlib'd pickles already.  When a block gains
  // less than 10%, the next 16 are stored (level 0: still a zlib stream,
  // at memcpy speed) before compression is tried again.
  int level = store_only_ > 0 ? 0 : level_;
  if (store_only_ > 0) --store_only_;
  int rc = compress2(reinterpret_cast<Bytef*>(comp_.data()), &clen,
                     reinterpret_cast<const Bytef*>(raw_.data()), static_cast<uLong>(raw_.size()),
                     level);
  if (rc != Z_OK) return Status::IOError("zlib compress failed (" + std::to_string(rc) + ")");
  if (level > 0 && clen * 10 > raw_.size() * 9) store_only_ = 16;
  uint32_t raw_crc = Crc32(raw_);
  std::string h(kDumpBlockTag, 4);
  PutU32(&h, block_records_);
  PutU32(&h, static_cast<uint32_t>(raw_.size()));
  PutU32(&h, static_cast<uint32_t>(clen));
  PutU32(&h, raw_crc);
  PutU32(&h, Crc32(h));
  DURUS_RETURN_IF_ERROR(out_->Append(h));
  DURUS_RETURN_IF_ERROR(out_->Append(std::string_view(comp_.data(), clen)));
  std::string c;
  PutU32(&c, raw_crc);
  chain_crc_ = Crc32(c, chain_crc_);
  ++blocks_;
  raw_.clear();
  block_records_ = 0;
  return Status::OK();
}

Status DumpWriter::Finish() {
  DURUS_RETURN_IF_ERROR(FlushBlock());
  std::string t(kDumpEndTag, 4);
  PutU32(&t, 0);
  PutU64(&t, records_);
  PutU64(&t, record_bytes_);
  PutU64(&t, blocks_);
  PutU32(&t, chain_crc_);
  PutU32(&t, Crc32(t));
  return out_->Append(t);
}

}  // namespace durus::migrate
