// MemoryStorage: the storage contract and reference-counting rules kept in
// memory.  It is the model the Berkeley DB storage is checked against in
// tests (tests/model_test.cc) and a stand-in for layers that want a storage
// without a disk.
//
// Rules (../shared/DESIGN.md §5), identical to BdbStorage's:
//  - refcount(x) = number of distinct stored records whose refs contain x,
//    self-references ignored;
//  - a commit referencing an oid that neither exists nor is in the batch is
//    refused with Conflict and changes nothing;
//  - an oid whose count reaches 0 (root excepted) goes on the pending queue;
//    referencing it again takes it off (resurrection);
//  - Collect() deletes queued records, cascading.
//
// Threading: one mutex around everything; fine for a model.
#ifndef DURUS_BDB_ENGINE_MEMORY_STORAGE_H_
#define DURUS_BDB_ENGINE_MEMORY_STORAGE_H_

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "engine/storage.h"

namespace durus {

class MemoryStorage : public InspectableStorage {
 public:
  MemoryStorage() = default;

  Status Load(Oid oid, std::string* record) override;
  Status Commit(const CommitBatch& batch) override;
  std::vector<Oid> Sync() override;
  Status NewOid(Oid* oid) override;
  Status Scan(Oid start, size_t max, std::vector<std::pair<Oid, std::string>>* out) override;
  Status GetStats(StorageStats* stats) override;
  Status GetRefCount(Oid oid, uint64_t* count) override;
  Status ListPending(Oid start, size_t max, std::vector<Oid>* out) override;
  Status Collect(bool cycles, CollectReport* report) override;
  Status Flush() override { return Status::OK(); }
  Status Close() override;
  std::string Describe() const override { return "MemoryStorage()"; }

 private:
  Status CheckOpen() const;

  mutable std::mutex mu_;
  bool closed_ = false;
  std::map<Oid, std::string> records_;
  std::map<Oid, uint64_t> counts_;
  std::set<Oid> pending_;
  std::vector<Oid> collected_;
  uint64_t record_bytes_ = 0;
  uint64_t next_oid_ = 0;
};

}  // namespace durus

#endif  // DURUS_BDB_ENGINE_MEMORY_STORAGE_H_
