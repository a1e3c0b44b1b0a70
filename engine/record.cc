#include "engine/record.h"

#include <algorithm>

namespace durus {

std::string PackRecordRaw(Oid oid, std::string_view data, std::string_view refs) {
  std::string r;
  r.reserve(kRecordHeaderSize + data.size() + refs.size());
  PutU64(&r, oid.value());
  PutU32(&r, static_cast<uint32_t>(data.size()));
  r.append(data);
  r.append(refs);
  return r;
}

std::string PackRecord(Oid oid, std::string_view data, const std::vector<Oid>& refs) {
  std::string raw;
  raw.reserve(refs.size() * Oid::kSize);
  for (Oid ref : refs) PutU64(&raw, ref.value());
  return PackRecordRaw(oid, data, raw);
}

Status UnpackRecord(std::string_view record, RecordView* out) {
  if (record.size() < kRecordHeaderSize) {
    return Status::InvalidArgument("truncated record: " + std::to_string(record.size()) +
                                   " bytes, shorter than the 12-byte header");
  }
  Oid oid = Oid::FromBytes(record.data());
  uint64_t dlen = GetU32(record.data() + 8);
  if (dlen > record.size() - kRecordHeaderSize) {
    return Status::InvalidArgument(
        "truncated record for oid " + OidToString(oid) + ": data length " + std::to_string(dlen) +
            " runs past the record's " + std::to_string(record.size()) + " bytes",
        {oid});
  }
  size_t refs_len = record.size() - kRecordHeaderSize - dlen;
  if (refs_len % Oid::kSize != 0) {
    return Status::InvalidArgument("malformed record for oid " + OidToString(oid) +
                                       ": refs length " + std::to_string(refs_len) +
                                       " is not a multiple of 8",
                                   {oid});
  }
  out->oid = oid;
  out->data = record.substr(kRecordHeaderSize, dlen);
  out->refs = record.substr(kRecordHeaderSize + dlen);
  return Status::OK();
}

Status ValidateRecord(Oid expected, std::string_view record, RecordView* out) {
  DURUS_RETURN_IF_ERROR(UnpackRecord(record, out));
  if (out->oid != expected) {
    return Status::InvalidArgument(
        "record stored under oid " + OidToString(expected) + " embeds oid " + OidToString(out->oid),
        {expected});
  }
  return Status::OK();
}

std::vector<Oid> NormalizedRefs(std::string_view refs, Oid self) {
  std::vector<Oid> v;
  size_t n = refs.size() / Oid::kSize;
  v.reserve(n);
  bool sorted = true;
  for (size_t i = 0; i < n; ++i) {
    Oid o = Oid::FromBytes(refs.data() + i * Oid::kSize);
    if (o == self) continue;
    if (!v.empty() && !(v.back() < o)) sorted = false;
    v.push_back(o);
  }
  if (!sorted) {  // Durus already sorts; only foreign writers need this.
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }
  return v;
}

std::vector<Oid> RecordRefs(std::string_view record) {
  RecordView view;
  if (!UnpackRecord(record, &view).ok()) return {};
  return NormalizedRefs(view.refs, view.oid);
}

std::string ExtractClassName(std::string_view record) {
  RecordView view;
  if (!UnpackRecord(record, &view).ok()) return "?";
  size_t first = view.data.find('\n');
  if (first == std::string_view::npos) return "?";
  size_t second = view.data.find('\n', first + 1);
  if (second == std::string_view::npos) return std::string(view.data.substr(first + 1));
  return std::string(view.data.substr(first + 1, second - first - 1));
}

}  // namespace durus
