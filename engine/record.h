// The Durus object record codec (durus/serialize.py).
//
// A record, as Durus's Connection builds it and as every storage keeps it:
//
//   offset  size  field
//   ------  ----  -----------------------------------------------------
//   0       8     oid, u64 big-endian (the oid the record is stored under)
//   8       4     data length D, u32 big-endian
//   12      D     data: class pickle (protocol 2) + state pickle, the state
//                 usually zlib-compressed (starts with 'x')
//   12+D    8*R   refs: the oids this object references, 8 bytes each.
//                 Durus writes them sorted, de-duplicated, without the
//                 object's own oid; we accept any order and duplicates and
//                 normalise (sort, de-duplicate, drop self) when counting.
//
// The storage never unpickles: the refs are all it needs for reference
// counting, and the class name (for census) is the second line of data:
// data.split(b'\n', 2)[1].
//
// Nothing here allocates more than the refs vector; views point into the
// caller's buffer, which must outlive them.
#ifndef DURUS_BDB_ENGINE_RECORD_H_
#define DURUS_BDB_ENGINE_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/oid.h"
#include "engine/status.h"

namespace durus {

inline constexpr size_t kRecordHeaderSize = 12;  // oid[8] + u32 length

struct RecordView {
  Oid oid;
  std::string_view data;
  std::string_view refs;  // raw refs bytes, length a multiple of 8
};

// Build a record from its parts (durus.serialize.pack_record).
std::string PackRecord(Oid oid, std::string_view data, const std::vector<Oid>& refs);
std::string PackRecordRaw(Oid oid, std::string_view data, std::string_view refs);

// Split a record into its parts.  Fails with InvalidArgument when the record
// is shorter than its header, its data length runs past the end, or the refs
// part is not a multiple of 8 bytes.  Does not check the embedded oid.
Status UnpackRecord(std::string_view record, RecordView* out);

// UnpackRecord plus: the embedded oid must equal `expected` (the oid the
// record is being stored under).
Status ValidateRecord(Oid expected, std::string_view record, RecordView* out);

// The referenced oids, sorted ascending, de-duplicated, without `self`.
// `refs` must be a multiple of 8 bytes (as UnpackRecord guarantees).
std::vector<Oid> NormalizedRefs(std::string_view refs, Oid self);

// The refs part of `record`, normalised (empty on a malformed record).
std::vector<Oid> RecordRefs(std::string_view record);

// The class name (second line of the data), or "?" if there is none, as
// durus.serialize.extract_class_name.
std::string ExtractClassName(std::string_view record);

// Big-endian integer helpers shared by every on-disk and wire format.
inline void PutU32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out->append(b, 4);
}
inline void PutU64(std::string* out, uint64_t v) {
  char b[8];
  Oid(v).ToBytes(b);
  out->append(b, 8);
}
inline uint32_t GetU32(const void* p) {
  const unsigned char* b = static_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}
inline uint64_t GetU64(const void* p) { return Oid::FromBytes(p).value(); }

}  // namespace durus

#endif  // DURUS_BDB_ENGINE_RECORD_H_
