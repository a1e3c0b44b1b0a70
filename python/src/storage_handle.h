// StorageHandle: the C++ object behind durus_bdb.BerkeleyDBStorage
// (exposed as durus_bdb._durus_bdb.StorageCore; the Python class in
// durus_bdb/storage.py subclasses it and adds the generators).
//
// It owns the durus::Storage (a BdbStorage, or a MemoryStorage for the
// private `_memory_model` mode) and Durus's pending commit: begin() clears
// a CommitBatch, store() validates into it, commit() hands it to
// Storage::Commit.
//
// Ownership: the handle owns the storage; close() (or destruction) closes
// it.  After close() every storage call raises StorageError ("closed").
//
// Threading: every storage call releases the GIL (other Python threads run
// while Berkeley DB works) and holds `mu_` shared, so close() (exclusive)
// never runs while a call is inside the storage.  The pending batch is only
// touched with the GIL held; commit() moves it out before releasing the GIL,
// so a concurrent store() starts a new batch instead of racing.  The
// storage's own background threads (checkpoint, collector) never touch
// Python.
//
// Errors: Status values become Python exceptions through ThrowStatus
// (python/src/status_error.h); argument errors are TypeError/ValueError.
#ifndef DURUS_BDB_PYTHON_SRC_STORAGE_HANDLE_H_
#define DURUS_BDB_PYTHON_SRC_STORAGE_HANDLE_H_

#include <pybind11/pybind11.h>

#include <memory>
#include <shared_mutex>
#include <string>

#include "bdb/bdb_storage.h"
#include "engine/commit_batch.h"
#include "engine/storage.h"

namespace durus {
namespace python {

class StorageHandle {
 public:
  // Opens `path` with BdbOptions built from the arguments; with
  // `memory_model` an in-memory MemoryStorage instead (tests only).
  // `durability` / `cache_mb` None (and options not given): the home's
  // (bdb/home_options.h: DURUS_BDB_<KEY>, the kept value, the default).
  StorageHandle(const std::string& path, bool readonly, const pybind11::object& durability,
                const pybind11::object& cache_mb, const pybind11::dict& options, bool memory_model);
  ~StorageHandle();

  StorageHandle(const StorageHandle&) = delete;
  StorageHandle& operator=(const StorageHandle&) = delete;

  pybind11::bytes Load(pybind11::handle oid);
  void Begin();
  void Store(pybind11::handle oid, pybind11::handle record);
  // Commit the pending batch (Durus's end() without the invalidation step,
  // which durus_bdb/storage.py does first).  The batch is emptied whatever
  // the outcome.
  void Commit();
  size_t PendingCount() const { return batch_.size(); }
  pybind11::list Sync();
  pybind11::bytes NewOid();
  // Records for `oids`, None where an oid has no record.
  pybind11::list BulkLoad(pybind11::handle oids);
  // Up to `max` (oid, record) tuples with oid >= start, in oid order.
  pybind11::list Scan(uint64_t start, size_t max);
  // Starts an online pack; false when the storage has no online pack.
  bool StartPack();
  pybind11::dict Collect(bool cycles);
  pybind11::dict Stats();
  uint64_t RefCount(pybind11::handle oid);
  pybind11::list Pending(uint64_t start, size_t max);
  void Flush();
  void Close();
  bool closed() const;

  const std::string& path() const { return path_; }
  const std::string& durability() const { return durability_; }
  bool readonly() const { return readonly_; }
  std::string Describe() const;

 private:
  // Runs fn(storage) with the GIL released and mu_ held shared; Closed if
  // the storage was closed.
  template <typename Fn>
  Status Run(Fn&& fn);

  // Raise `s` with this storage's path as context.
  [[noreturn]] void Throw(const Status& s) const;

  const std::string path_;
  std::string durability_;  // the mode in effect (set once by the constructor)
  const bool readonly_;
  mutable std::shared_mutex mu_;
  // A BdbHandle, or a MemoryStorage: both inspectable (refcount(), pending()).
  std::unique_ptr<InspectableStorage> storage_;  // null once closed
  CommitBatch batch_;                            // guarded by the GIL
};

}  // namespace python
}  // namespace durus

#endif  // DURUS_BDB_PYTHON_SRC_STORAGE_HANDLE_H_
