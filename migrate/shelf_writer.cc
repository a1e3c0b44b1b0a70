#include "migrate/shelf_writer.h"

#include <cstring>

#include "engine/record.h"

namespace durus::migrate {

namespace {

constexpr char kPrefix[] = "SHELF-1\n";
constexpr uint64_t kInitialStart = 16;  // prefix + u64 transaction length
// Durus sizes the map by the largest oid; refuse what it could not handle.
constexpr uint64_t kMaxOidForShelf = uint64_t{1} << 40;

// Number of bytes Durus uses per word: len(int8_to_str(max_int + 1).lstrip('\0')).
uint64_t BytesPerWord(uint64_t maximum_int) {
  uint64_t v = maximum_int + 1;
  uint64_t n = 0;
  while (v != 0) {
    ++n;
    v >>= 8;
  }
  return n == 0 ? 1 : n;
}

void PutWord(std::string* out, uint64_t value, uint64_t bpw) {
  char b[8];
  Oid(value).ToBytes(b);
  out->append(b + 8 - bpw, bpw);
}

}  // namespace

Status ShelfWriter::Start() {
  DURUS_RETURN_IF_ERROR(offsets_.Create(temp_dir_));
  std::string h(kPrefix, 8);
  PutU64(&h, 0);  // the initial transaction's length, patched by Finish()
  return out_->Append(h);
}

Status ShelfWriter::Add(Oid oid, std::string_view record) {
  if (have_last_ && oid.value() <= last_oid_) {
    return Status::InvalidArgument("ShelfWriter: oids must increase (" + OidToString(oid) +
                                   " after " + std::to_string(last_oid_) + ")");
  }
  if (oid.value() >= kMaxOidForShelf) {
    return Status::NotSupported("oid " + OidToString(oid) +
                                " is too large for a Shelf file's offset map");
  }
  have_last_ = true;
  last_oid_ = oid.value();
  uint64_t pos[2] = {oid.value(), out_->pos()};
  DURUS_RETURN_IF_ERROR(offsets_.Append(std::string_view(reinterpret_cast<char*>(pos), 16)));
  // item: u64 L, oid, record   (L = 8 + len(record))
  std::string h;
  PutU64(&h, 8 + record.size());
  PutU64(&h, oid.value());
  DURUS_RETURN_IF_ERROR(out_->Append(h));
  ++records_;
  return out_->Append(record);
}

Status ShelfWriter::Finish() {
  const uint64_t start = out_->pos();  // the offset map starts here
  std::string len;
  PutU64(&len, start - kInitialStart);
  DURUS_RETURN_IF_ERROR(out_->WriteAt(8, len));
  // Durus: OffsetMap.generate(file, max_key, max_offset) with
  // number_of_ints = max_key + 2 and maximum_int = start + max_key + 2;
  // an empty shelf has max_key = -2.
  const uint64_t count = have_last_ ? last_oid_ + 2 : 0;
  const uint64_t bpw = BytesPerWord(start + count);
  std::string h;
  PutU64(&h, 16 + bpw * count);
  PutU64(&h, bpw);
  PutU64(&h, count);
  DURUS_RETURN_IF_ERROR(out_->Append(h));
  // Words in index order: an item's offset, or a hole.  gen_stitch links
  // the holes: each hole holds (index of the previous hole) + start, the
  // first one pointing at the last index (count - 1, always a hole).
  DURUS_RETURN_IF_ERROR(offsets_.StartReading());
  FileReader* in = offsets_.reader();
  uint64_t next_oid = 0, next_offset = 0;
  bool have_next = false;
  auto advance = [&]() -> Status {
    std::string_view v;
    DURUS_RETURN_IF_ERROR(in->Read(16, &v));
    have_next = v.size() == 16;
    if (have_next) {
      memcpy(&next_oid, v.data(), 8);
      memcpy(&next_offset, v.data() + 8, 8);
    }
    return Status::OK();
  };
  DURUS_RETURN_IF_ERROR(advance());
  uint64_t last_hole = count - 1;
  std::string words;
  words.reserve(1 << 20);
  for (uint64_t index = 0; index < count; ++index) {
    if (have_next && next_oid == index) {
      PutWord(&words, next_offset, bpw);
      DURUS_RETURN_IF_ERROR(advance());
    } else {
      PutWord(&words, last_hole + start, bpw);
      last_hole = index;
    }
    if (words.size() >= (1 << 20)) {
      DURUS_RETURN_IF_ERROR(out_->Append(words));
      words.clear();
    }
  }
  return out_->Append(words);
}

}  // namespace durus::migrate
