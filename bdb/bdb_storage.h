// Opening a durus-bdb home: the Berkeley DB implementation of
// durus::Storage (engine/storage.h), as a typed handle (BdbHandle).
//
// The public surface of bdb/.  Other folders (tools/, python/, migrate/,
// server/) include only these headers, none of which includes db_cxx.h,
// so they never see Berkeley DB types:
//   bdb/bdb_storage.h   this file: open a home, BdbHandle, live figures
//   bdb/home_options.h  the options a home keeps (durus-bdb config)
//   bdb/backup.h        BackupHome (a function of a home path)
//   bdb/restore.h       RestoreHome, point-in-time restore (home paths)
//   bdb/salvage.h       salvage what a damaged home's files still hold
//   bdb/bulk_loader.h   BulkLoader::Create(home): a new home, fast
//   bdb/gc/gc.h         verify / repair / compact / collect with progress
//   bdb/env_figures.h   Berkeley DB's cache and log figures (monitoring)
//   bdb/disk_usage.h    what a home's files take on disk, by kind
//   bdb/home_trim.h     a closed home's logs and regions removed (gc --compact)
//   bdb/repl_admin.h    remove a site from a running group (repl-remove)
// Everything else in bdb/ is internal (storage_impl.h, schema.h, handles.h,
// ...).  Test-only, in the durus_bdb_testing library that only tests and
// their harnesses link: bdb/testing.h (direct table writes, stepping the
// collector) and bdb/fault_injection.h (failing Berkeley DB's I/O).
//
// The on-disk layout is in doc/on-disk-format.md and at the top of
// bdb/schema.h; the threads in doc/threading.md.
//
// Ownership: OpenBdbStorage hands the caller a unique_ptr; destroying it
// closes the storage (Close() is idempotent).  One process at a time may
// hold a home: a second opener gets Busy naming the holder's pid.
//
// Threading: the returned Storage is safe for concurrent use.  It runs its
// own background threads (checkpoint + log removal, log flush for nosync,
// the garbage collector), all stopped by Close().
#ifndef DURUS_BDB_BDB_BDB_STORAGE_H_
#define DURUS_BDB_BDB_BDB_STORAGE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "bdb/replication_options.h"
#include "engine/status.h"
#include "engine/storage.h"

namespace durus {

enum class Durability {
  kSync,         // commit = log write + fsync: nothing acknowledged is lost
  kWriteNoSync,  // commit = log write, no fsync: survives a process crash
  kNoSync,       // log buffered in memory: a crash loses recent commits
};

// "sync", "write_nosync", "nosync" (also accepts "write-nosync").
Status ParseDurability(const std::string& name, Durability* out);
const char* DurabilityName(Durability d);

// A tunable of BdbOptions that a home may keep (bdb/home_options.h): its
// value plus whether the opener set it.  Assigning marks it set; reading
// converts to T, so `o.cache_mb = 256` and `if (o.durability == ...)` read
// as before.  At open, an unset one takes the environment's
// DURUS_BDB_<NAME>, else the home's kept value, else the default here
// (doc/options.md).  Why not std::optional: every reader inside bdb/
// would need `.value_or(default)` and the default would live in each.
template <typename T>
class Setting {
 public:
  constexpr Setting(T default_value) : value_(default_value) {}  // NOLINT: implicit on purpose
  Setting& operator=(T v) {
    value_ = v;
    set_ = true;
    return *this;
  }
  operator T() const { return value_; }  // NOLINT: reads as the plain field it replaced
  T value() const { return value_; }
  // Whether the opener assigned it (an explicit option).
  bool set() const { return set_; }
  // Take a value from the environment or the home: not an explicit option.
  void Resolve(T v) { value_ = v; }

 private:
  T value_;
  bool set_ = false;
};

struct BdbOptions {
  // The Setting fields are the ones a home keeps (doc/options.md).
  Setting<Durability> durability{Durability::kSync};
  // Berkeley DB cache (mpool) size.
  Setting<uint32_t> cache_mb{64};
  bool readonly = false;
  // Create the home (directory and databases) when it does not exist.
  bool create_if_missing = true;
  // nosync only: flush the log every this many ms from a background
  // thread, bounding the loss window (0: never, only at checkpoints).
  Setting<uint32_t> flush_interval_ms{0};
  // Background checkpoint period; old log files are removed after each.
  Setting<uint32_t> checkpoint_interval_ms{1000};
  // Size of each log file; after a checkpoint, whole files no longer
  // needed are removed, so this is the granularity of log reclamation.
  // 0 (the default): chosen for the home's size at each open, 4 MiB for a
  // small home up to 32 MiB (bdb/env_shape.h).
  Setting<uint32_t> log_file_mb{0};
  // Largest commit accepted, in records (the lock table is sized for it).
  uint32_t max_commit_records = 250000;
  // Berkeley DB page checksums in the database files of a *new* home
  // (format 2).  false creates a format 1 home without them: for measuring
  // their cost and testing the upgrade path only.  Existing files keep
  // what they were created with.
  bool page_checksums = true;

  // Garbage collector (gc/).  The background collector deletes queued
  // oids in transactions of `gc_batch` records, at most `gc_per_second`
  // records per second (0: unlimited).
  Setting<bool> gc_background{true};
  Setting<uint32_t> gc_batch{256};
  Setting<uint32_t> gc_per_second{0};
  Setting<uint32_t> gc_interval_ms{50};

  // Log archiving for point-in-time restore (bdb/log_archive.h): a
  // directory to copy each log file into before it is removed; "" keeps
  // what the home has recorded (nothing for a new home: logs are removed);
  // "off" stops archiving.  The retention prunes the archive, oldest first,
  // of files older than max_age_s / beyond max_bytes in total (0: keep);
  // it is recorded with the directory and used when not given.
  std::string log_archive;
  uint64_t log_archive_max_age_s = 0;
  uint64_t log_archive_max_bytes = 0;

  // A site of a Berkeley DB replication group (bdb/replication_options.h,
  // doc/replication.md) when replication.enabled().
  ReplicationOptions replication;
};

namespace bdb {
class BdbStorage;  // the implementation (bdb/storage_impl.h)
}  // namespace bdb

// An open durus-bdb home: the storage contract, the reference-count
// introspection, and what only a Berkeley DB home has.  Maintenance that
// needs the home's internals (bdb/gc/gc.h, bdb/testing.h, bdb/
// fault_injection.h) takes a BdbHandle, so the compiler, not a run-time
// check, refuses any other storage.  Only bdb::BdbStorage derives from it
// (the constructor is private), which is what makes impl() sound.
class BdbHandle : public InspectableStorage {
 public:
  // The home directory, as given to OpenBdbStorage.
  virtual const std::string& home() const = 0;
  // The options in effect: the opener's, completed from the environment,
  // the home's kept options and the defaults (bdb/home_options.h).
  virtual const BdbOptions& options() const = 0;

  // bdb/-internal: the implementation behind this handle.  The type is
  // complete only inside bdb/ (storage_impl.h); other folders cannot use it.
  virtual bdb::BdbStorage& impl() = 0;

 private:
  friend class bdb::BdbStorage;
  BdbHandle() = default;
};

// Open (creating when allowed) the home directory `home`.  The Setting
// fields of `options` the caller did not set come from DURUS_BDB_<NAME>,
// then the home's kept options (bdb/home_options.h), then the defaults;
// creating a home keeps the ones the caller set.
// Errors: Busy (another process holds it), InvalidArgument (not a
// durus-bdb home -- a Durus FileStorage file is named as one --,
// unsupported format version, a bad DURUS_BDB_* or kept option), NotFound (missing and
// !create_if_missing), IOError.
Status OpenBdbStorage(const std::string& home, const BdbOptions& options,
                      std::unique_ptr<BdbHandle>* out);
// The same, for a caller that needs only the contract (engine/storage.h).
Status OpenBdbStorage(const std::string& home, const BdbOptions& options,
                      std::unique_ptr<Storage>* out);

// The figures the process holding a home last published (bdb/status_file.h):
// how `durus-bdb stat` reports on a home a server is using, since a second
// process cannot open it.
struct LiveStats {
  StorageStats stats;      // disk_bytes measured now, the rest as published
  int64_t pid = 0;         // the publishing (holding) process
  double age_seconds = 0;  // since it published them (about 1 s at most)
};

// NotFound when nothing publishes figures for `home` (no holder, a holder
// that does not publish, e.g. a read-only one, or a holder that crashed).
// InvalidArgument for a malformed file.
Status ReadLiveStats(const std::string& home, LiveStats* out);

// True if `home` looks like a durus-bdb home (has our metadata database).
bool IsBdbHome(const std::string& home);

}  // namespace durus

#endif  // DURUS_BDB_BDB_BDB_STORAGE_H_
