#include "engine/storage.h"

#include <cstdint>

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

Status Storage::GetReplicationInfo(const JournalPosition* since, ReplicationInfo* out) {
  *out = ReplicationInfo();
  out->all_changed = since != nullptr;
  return Status::OK();
}

RecordIterator::RecordIterator(Storage* storage, Oid start, size_t batch)
    : storage_(storage), batch_(batch == 0 ? 1 : batch), next_(start) {
  Fetch();
}

void RecordIterator::Next() {
  if (!Valid()) return;
  if (++pos_ == page_.size()) Fetch();
}

void RecordIterator::Fetch() {
  page_.clear();
  pos_ = 0;
  if (exhausted_ || !status_.ok()) return;
  status_ = storage_->Scan(next_, batch_, &page_);
  if (!status_.ok()) {
    page_.clear();
    return;
  }
  if (page_.size() < batch_) exhausted_ = true;
  for (const auto& item : page_) {
    if (item.first.value() < next_.value()) {
      status_ = Status::Corruption("a scan from oid " + OidToString(next_) + " returned oid " +
                                       OidToString(item.first) + ": the oids go backwards",
                                   {item.first});
      page_.clear();
      return;
    }
    if (item.first.value() == UINT64_MAX) {
      exhausted_ = true;  // nothing can follow the largest oid
    } else {
      next_ = Oid(item.first.value() + 1);
    }
  }
}

Status ForEachRecord(Storage* storage, const std::function<Status(Oid, const std::string&)>& fn,
                     size_t batch) {
  RecordIterator it(storage, Oid(0), batch);
  for (; it.Valid(); it.Next()) DURUS_RETURN_IF_ERROR(fn(it.oid(), it.record()));
  return it.status();
}

std::string CensusClassName(std::string_view record) {
  RecordView view;
  if (!UnpackRecord(record, &view).ok()) return "?";
  std::string_view data = view.data;
  // PROTO 2 (two bytes), then GLOBAL ('c') module '\n' name '\n'.
  if (data.size() >= 2 && data[0] == '\x80') data.remove_prefix(2);
  size_t module_end = data.find('\n');
  size_t name_end =
      module_end == std::string_view::npos ? module_end : data.find('\n', module_end + 1);
  if (data.empty() || data[0] != 'c' || module_end <= 1 || name_end == std::string_view::npos ||
      name_end == module_end + 1) {
    return ExtractClassName(record);
  }
  std::string name(data.substr(1, module_end - 1));
  name += '.';
  name.append(data.substr(module_end + 1, name_end - module_end - 1));
  return name;
}

Status Census(Storage* storage, std::map<std::string, uint64_t>* census) {
  census->clear();
  return ForEachRecord(storage, [&](Oid, const std::string& record) {
    ++(*census)[CensusClassName(record)];
    return Status::OK();
  });
}

}  // namespace durus
