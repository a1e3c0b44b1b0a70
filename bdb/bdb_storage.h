// Opening a durus-bdb home: the Berkeley DB implementation of
// durus::Storage (engine/storage.h).
//
// This header is the whole public surface of bdb/: it does not include
// db_cxx.h, so the Python module, the server and the tools never see
// Berkeley DB types.  The on-disk layout is in doc/on-disk-format.md and
// at the top of bdb/schema.h; the threads in doc/threading.md.
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

struct BdbOptions {
  Durability durability = Durability::kSync;
  // Berkeley DB cache (mpool) size.
  uint32_t cache_mb = 64;
  bool readonly = false;
  // Create the home (directory and databases) when it does not exist.
  bool create_if_missing = true;
  // nosync only: flush the log every this many ms from a background
  // thread, bounding the loss window (0: never, only at checkpoints).
  uint32_t flush_interval_ms = 0;
  // Background checkpoint period; old log files are removed after each.
  uint32_t checkpoint_interval_ms = 1000;
  // Size of each log file; after a checkpoint, whole files no longer
  // needed are removed, so this is the granularity of log reclamation.
  uint32_t log_file_mb = 32;
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
  bool gc_background = true;
  uint32_t gc_batch = 256;
  uint32_t gc_per_second = 0;
  uint32_t gc_interval_ms = 50;

  // Log archiving for point-in-time restore (bdb/log_archive.h): a
  // directory to copy each log file into before it is removed; "" keeps
  // what the home has recorded (nothing for a new home: logs are removed);
  // "off" stops archiving.  The retention prunes the archive, oldest first,
  // of files older than max_age_s / beyond max_bytes in total (0: keep);
  // it is recorded with the directory and used when not given.
  std::string log_archive;
  uint64_t log_archive_max_age_s = 0;
  uint64_t log_archive_max_bytes = 0;
};

// Open (creating when allowed) the home directory `home`.
// Errors: Busy (another process holds it), InvalidArgument (not a
// durus-bdb home, unsupported format version), NotFound (missing and
// !create_if_missing), IOError.
Status OpenBdbStorage(const std::string& home, const BdbOptions& options,
                      std::unique_ptr<Storage>* out);

// The figures the process holding a home last published (bdb/status_file.h):
// how `durus-bdb stat` reports on a home a server is using, since a second
// process cannot open it.
struct LiveStats {
  StorageStats stats;       // disk_bytes measured now, the rest as published
  int64_t pid = 0;          // the publishing (holding) process
  double age_seconds = 0;   // since it published them (about 1 s at most)
};

// NotFound when nothing publishes figures for `home` (no holder, a holder
// that does not publish, e.g. a read-only one, or a holder that crashed).
// InvalidArgument for a malformed file.
Status ReadLiveStats(const std::string& home, LiveStats* out);

// True if `home` looks like a durus-bdb home (has our metadata database).
bool IsBdbHome(const std::string& home);

}  // namespace durus

#endif  // DURUS_BDB_BDB_BDB_STORAGE_H_
