// BulkLoader: builds a new durus-bdb home from a stream of records, fast,
// for `durus-bdb migrate` (migrate/).  It writes exactly the layout of
// bdb/schema.h; what it adds is a way to get there without per-object
// state in RAM and without logging every record.
//
// Life of a load (the caller, migrate/, drives the phases in order):
//
//   Create()        the home must be missing, empty, or an interrupted
//                   migration (which is wiped: a re-run restarts).  Writes
//                   the marker file HOME/migration-incomplete, then meta.db
//                   with state=incomplete (durably), so neither a crash nor
//                   an error can leave something OpenBdbStorage accepts.
//   Put()...        records; the last Put of an oid wins.  Buffered and
//                   written in oid order within each buffer, in large
//                   transactions on databases opened DB_TXN_NOT_DURABLE
//                   (no log records: the log would double the I/O, and
//                   durability only matters once the load is complete).
//   ScanRecords()   every stored record in oid order (the caller computes
//                   the references from the final versions only).
//   Get(), Replace() read and rewrite a stored record (dropping dangling
//                   refs).
//   AppendCount()   the count of every stored oid, in strictly increasing
//                   oid order; zero counts (except the root) also go onto
//                   the pending-garbage queue.  ScanCounts() and
//                   ScanPending() read them back (for --verify).
//   Finish()        closes (and so fsyncs) the non-durable databases,
//                   checkpoints, writes the meta counters and flips
//                   state=complete in one durable transaction, removes the
//                   log files no longer needed, the environment's region
//                   files and the marker.
//
// A BulkLoader destroyed before Finish() succeeded leaves the home marked
// incomplete; Abandon() deletes what it wrote instead.
//
// Ownership: the loader holds the home's HomeLock from Create() to
// destruction.  Threading: one thread.  Errors: Status; nothing throws.
// This header does not include db_cxx.h.
#ifndef DURUS_BDB_BDB_BULK_LOADER_H_
#define DURUS_BDB_BDB_BULK_LOADER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "bdb/bdb_storage.h"
#include "engine/oid.h"
#include "engine/status.h"

namespace durus {

struct BulkLoaderOptions {
  // Berkeley DB cache used while loading.
  uint32_t cache_mb = 128;
  // Records buffered by Put() before they are sorted and written.
  size_t buffer_bytes = size_t{32} << 20;
  // Records per (non-durable) transaction.
  uint32_t batch_records = 10000;
  // Durability recorded in meta.db; with kSync the final flip to
  // state=complete is fsynced before Finish() returns (with the others it
  // may be lost to an OS crash, which leaves the home incomplete, never
  // complete-but-missing-data: the data files are fsynced first anyway).
  Durability durability = Durability::kSync;
};

// What Finish() needs from the caller: the totals it computed while
// scanning the final records.
struct BulkLoadTotals {
  uint64_t object_count = 0;
  uint64_t record_bytes = 0;
  uint64_t next_oid = 0;  // > every stored oid
};

struct BulkLoadSummary {
  uint64_t object_count = 0;
  uint64_t record_bytes = 0;
  uint64_t pending_count = 0;
  uint64_t next_oid = 0;
  uint64_t data_file_bytes = 0;  // size of the .db files after Finish()
};

// Name of the marker file present while a migration is in progress.
inline constexpr const char* kMigrationMarkerFile = "migration-incomplete";

// The state of `home` from a migration's point of view.
enum class MigrationTarget {
  kAbsent,      // does not exist
  kEmpty,       // an empty directory (or holding only our lock file)
  kIncomplete,  // an interrupted migration: Create() wipes and restarts
  kComplete,    // a durus-bdb home: refused
  kForeign,     // anything else non-empty: refused
};
MigrationTarget InspectMigrationTarget(const std::string& home);

class BulkLoader {
 public:
  // Start a load into `home`.  *restarted is set when an interrupted
  // migration was wiped first.  InvalidArgument for a non-empty target
  // (a complete home, or foreign files); Busy if another process holds it.
  static Status Create(const std::string& home, const BulkLoaderOptions& options,
                       std::unique_ptr<BulkLoader>* out, bool* restarted);

  virtual ~BulkLoader() = default;

  // Phase 1.  `record` is stored verbatim under `oid`; the caller has
  // validated it.  The last Put of an oid wins.
  virtual Status Put(Oid oid, std::string_view record) = 0;
  // Write out whatever Put() still buffers (ScanRecords calls it too).
  virtual Status FlushRecords() = 0;

  // Phase 2.  Calls fn(oid, record) for every stored record in oid order;
  // stops at (and returns) the first non-OK status fn returns.
  virtual Status ScanRecords(const std::function<Status(Oid, std::string_view)>& fn) = 0;
  // The stored record of `oid` (NotFound if none).
  virtual Status Get(Oid oid, std::string* record) = 0;
  // Overwrite a stored record (the caller keeps the totals right).
  virtual Status Replace(Oid oid, std::string_view record) = 0;

  // Phase 3.  One call per stored oid, oids strictly increasing.
  virtual Status AppendCount(Oid oid, uint64_t count) = 0;

  // Read back what AppendCount wrote (for verification), in oid order.
  virtual Status ScanCounts(const std::function<Status(Oid, uint64_t)>& fn) = 0;
  virtual Status ScanPending(const std::function<Status(Oid)>& fn) = 0;

  // Phase 4.  Fails (InvalidArgument) if the counts appended do not cover
  // totals.object_count oids.
  virtual Status Finish(const BulkLoadTotals& totals, BulkLoadSummary* summary) = 0;

  // Give up: close everything and delete what this load wrote (the
  // directory stays if it existed before).  For failures that are not
  // crashes; a crash leaves the marker and the next Create() wipes.
  virtual void Abandon() = 0;

  virtual const std::string& home() const = 0;
};

}  // namespace durus

#endif  // DURUS_BDB_BDB_BULK_LOADER_H_
