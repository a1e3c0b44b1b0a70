#include "server/protocol.h"

#include "engine/record.h"

namespace durus::server {

void AppendOidList(const std::vector<Oid>& oids, std::string* out) {
  PutU32(out, static_cast<uint32_t>(oids.size()));
  size_t base = out->size();
  out->resize(base + oids.size() * Oid::kSize);
  for (size_t i = 0; i < oids.size(); ++i) oids[i].ToBytes(&(*out)[base + i * Oid::kSize]);
}

void AppendLoadOkay(std::string_view record, std::string* out) {
  out->push_back(kStatusOkay);
  PutU32(out, static_cast<uint32_t>(record.size()));
  out->append(record);
}

Status ParseCommitData(std::string_view tdata, CommitBatch* batch) {
  batch->Clear();
  size_t i = 0;
  while (i < tdata.size()) {
    if (tdata.size() - i < 4) {
      return Status::InvalidArgument("commit data: truncated frame length at offset " +
                                     std::to_string(i));
    }
    uint32_t rlen = GetU32(tdata.data() + i);
    i += 4;
    if (rlen < Oid::kSize || rlen > tdata.size() - i) {
      return Status::InvalidArgument("commit data: frame length " + std::to_string(rlen) +
                                     " at offset " + std::to_string(i - 4) +
                                     " does not fit the data");
    }
    std::string_view oid_bytes = tdata.substr(i, Oid::kSize);
    std::string record(tdata.substr(i + Oid::kSize, rlen - Oid::kSize));
    Status st = batch->AddRaw(oid_bytes, std::move(record));
    if (!st.ok()) {
      return Status::InvalidArgument(
          "commit data: bad record at offset " + std::to_string(i - 4) + ": " + st.ToString(),
          st.oids());
    }
    i += rlen;
  }
  return Status::OK();
}

std::vector<Oid> SplitOids(std::string_view bytes) {
  std::vector<Oid> out;
  out.reserve(bytes.size() / Oid::kSize);
  for (size_t i = 0; i + Oid::kSize <= bytes.size(); i += Oid::kSize) {
    out.push_back(Oid::FromBytes(bytes.data() + i));
  }
  return out;
}

}  // namespace durus::server
