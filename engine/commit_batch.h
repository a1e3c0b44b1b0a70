// CommitBatch: the records of one commit, validated as they are added.
//
// This is Durus's begin() / store(oid, record) / end() in C++: begin is a
// fresh (or Clear()ed) batch, store is Add(), end is Storage::Commit(batch).
// Add() checks the record's framing and that its embedded oid is the oid it
// is stored under, so a malformed record is refused before anything reaches
// the storage.  Storing the same oid twice keeps the last record (as
// Durus's FileStorage does with its pending dict).
//
// Threading: a batch is owned by one thread at a time.
#ifndef DURUS_BDB_ENGINE_COMMIT_BATCH_H_
#define DURUS_BDB_ENGINE_COMMIT_BATCH_H_

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/oid.h"
#include "engine/status.h"

namespace durus {

class CommitBatch {
 public:
  struct Entry {
    Oid oid;
    std::string record;
  };

  // Validate and add.  On error the batch is unchanged.
  Status Add(Oid oid, std::string record);

  // Same, with the oid given as raw bytes (must be exactly 8).
  Status AddRaw(std::string_view oid_bytes, std::string record);

  void Clear();
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  uint64_t bytes() const { return bytes_; }

  // Entries in the order first stored; a re-stored oid keeps its first
  // position and its last record.
  const std::vector<Entry>& entries() const { return entries_; }
  bool Contains(Oid oid) const { return index_.count(oid) != 0; }

 private:
  std::vector<Entry> entries_;
  std::unordered_map<Oid, size_t> index_;
  uint64_t bytes_ = 0;
};

// Decode an oid given as bytes: InvalidArgument unless exactly 8 bytes.
Status ParseOid(std::string_view bytes, Oid* oid);

}  // namespace durus

#endif  // DURUS_BDB_ENGINE_COMMIT_BATCH_H_
