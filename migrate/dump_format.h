// The durus-bdb dump: a portable, versioned, compressed, checksummed file
// holding every record of a storage.  doc/dump-format.md is the
// specification; this header has its constants and the writer (the reader
// is dump_source.cc).  All integers big-endian.
//
//   header  (32 bytes)  "DURUSDMP" u32 version u32 flags u64 next_oid
//                       u32 reserved u32 crc32(bytes 0..27)
//   block*  (24 bytes + C)  "DBLK" u32 count u32 raw_len u32 comp_len
//                       u32 crc32(raw) u32 crc32(bytes 0..19), then C bytes
//                       of zlib data inflating to raw_len bytes:
//                       count x (u32 L, record[L])
//   trailer (40 bytes)  "DEND" u32 reserved u64 records u64 record_bytes
//                       u64 blocks u32 chain_crc u32 crc32(bytes 0..35)
//
// Threading: one thread per writer.  Errors: Status.
#ifndef DURUS_BDB_MIGRATE_DUMP_FORMAT_H_
#define DURUS_BDB_MIGRATE_DUMP_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/oid.h"
#include "engine/status.h"
#include "migrate/file_io.h"

namespace durus::migrate {

inline constexpr char kDumpMagic[] = "DURUSDMP";  // 8 bytes, no NUL written
inline constexpr char kDumpBlockTag[] = "DBLK";
inline constexpr char kDumpEndTag[] = "DEND";
inline constexpr uint32_t kDumpVersion = 1;
inline constexpr uint32_t kDumpFlagSorted = 1;  // oids ascending, each once
inline constexpr size_t kDumpHeaderSize = 32;
inline constexpr size_t kDumpBlockHeaderSize = 24;
inline constexpr size_t kDumpTrailerSize = 40;
// Writers aim for this much raw payload per block; readers accept up to
// kDumpMaxBlock (a single record larger than the target gets its own block).
inline constexpr size_t kDumpBlockTarget = size_t{1} << 20;
inline constexpr uint64_t kDumpMaxBlock = uint64_t{1} << 31;

// Writes a dump to an open FileWriter.
class DumpWriter {
 public:
  DumpWriter(FileWriter* out, int level) : out_(out), level_(level) {}

  Status Start(uint64_t next_oid, uint32_t flags);
  Status Add(Oid oid, std::string_view record);
  Status Finish();  // the last block and the trailer (no fsync)

  uint64_t records() const { return records_; }
  uint64_t record_bytes() const { return record_bytes_; }

 private:
  Status FlushBlock();

  FileWriter* out_;
  int level_;
  std::string raw_;
  std::string comp_;
  uint32_t block_records_ = 0;
  uint64_t records_ = 0;
  uint64_t record_bytes_ = 0;
  uint64_t blocks_ = 0;
  uint32_t chain_crc_ = 0;
  // Blocks still to store at level 0 because recent data did not compress.
  int store_only_ = 0;
};

uint32_t Crc32(std::string_view data, uint32_t crc = 0);

}  // namespace durus::migrate

#endif  // DURUS_BDB_MIGRATE_DUMP_FORMAT_H_
