#include "engine/storage.h"

#include "engine/record.h"

namespace durus {

Status Storage::BulkLoad(const std::vector<Oid>& oids, std::vector<LoadResult>* out) {
  out->clear();
  out->resize(oids.size());
  for (size_t i = 0; i < oids.size(); ++i) {
    LoadResult& r = (*out)[i];
    r.status = Load(oids[i], &r.record);
    if (!r.status.ok() && !r.status.IsNotFound()) return r.status;
  }
  return Status::OK();
}

Status Storage::Collect(bool, CollectReport*) {
  return Status::NotSupported("this storage has no collector");
}

Status Storage::StartPack() { return Status::OK(); }

Status Census(Storage* storage, std::map<std::string, uint64_t>* census) {
  census->clear();
  std::vector<std::pair<Oid, std::string>> batch;
  Oid next(0);
  while (true) {
    DURUS_RETURN_IF_ERROR(storage->Scan(next, 1000, &batch));
    for (auto& [oid, record] : batch) ++(*census)[ExtractClassName(record)];
    if (batch.size() < 1000) break;
    next = Oid(batch.back().first.value() + 1);
  }
  return Status::OK();
}

}  // namespace durus
