#include "engine/commit_batch.h"

#include "engine/record.h"

namespace durus {

Status ParseOid(std::string_view bytes, Oid* oid) {
  if (bytes.size() != Oid::kSize) {
    return Status::InvalidArgument("an oid must be 8 bytes, got " + std::to_string(bytes.size()));
  }
  *oid = Oid::FromBytes(bytes.data());
  return Status::OK();
}

Status CommitBatch::Add(Oid oid, std::string record) {
  RecordView view;
  DURUS_RETURN_IF_ERROR(ValidateRecord(oid, record, &view));
  auto it = index_.find(oid);
  if (it != index_.end()) {
    Entry& e = entries_[it->second];
    bytes_ -= e.record.size();
    bytes_ += record.size();
    e.record = std::move(record);
    return Status::OK();
  }
  bytes_ += record.size();
  index_.emplace(oid, entries_.size());
  entries_.push_back(Entry{oid, std::move(record)});
  return Status::OK();
}

Status CommitBatch::AddRaw(std::string_view oid_bytes, std::string record) {
  Oid oid;
  DURUS_RETURN_IF_ERROR(ParseOid(oid_bytes, &oid));
  return Add(oid, std::move(record));
}

void CommitBatch::Clear() {
  entries_.clear();
  index_.clear();
  bytes_ = 0;
}

}  // namespace durus
