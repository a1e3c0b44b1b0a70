// The shape of a home's Berkeley DB regions (cache, lock table, log buffer
// and file size), sized to the home; the region files allocated to their
// mapped size; and the clean-close marker that lets the next open join the
// regions instead of recreating them (recovery).  Internal to bdb/, used by
// bdb/environment.cc.
//
// Sizes (doc/options.md, doc/reliability.md):
//   cache      half the home's database files, rounded up to 4 MiB, at
//              least 4 MiB, at most `cache_mb`; 16 MiB (at most cache_mb)
//              for a new home (under 1 MiB); exactly `cache_mb` if the
//              opener set it explicitly;
//   log file   `log_file_mb` if set (explicitly, DURUS_BDB_LOG_FILE_MB or
//              the home's options); else 2 MiB below 64 MiB of database
//              files, 4 MiB below 256 MiB, 16 MiB below 1 GiB, 32 MiB
//              above; the log buffer is a quarter of it, at most 4 MiB
//              (Berkeley DB wants the file at least 4x the buffer);
//   locks      a 16,384-bucket lock hash table and room for 28,000 page
//              locks plus 8,192 per 64 MiB of database files, at most
//              max_commit_records / 5 + 10,000 (a commit of N records of a
//              few hundred bytes locks 0.08-0.15 N pages); the main region
//              is capped there (set_memory_max), so it has a known maximum;
//              5,000 lockers.
//
// Why: every region file is allocated to its mapped maximum right after
// the open (AllocateRegionFiles).  Berkeley DB maps a region at its maximum
// but extends the file only as the region grows (the cache as pages are
// read, the lock region in a large commit), by writing its last byte: a
// sparse file, whose pages are first allocated when touched through the
// mapping.  On a full disk that touch is a SIGBUS.  Allocated up front, a
// full disk is an error at open instead, and the maxima above keep what is
// allocated proportionate to the home.
//
// The clean marker, HOME/durus-bdb.clean (text; doc/on-disk-format.md):
// written by BdbStorage::Close after its final checkpoint, a successful
// DbEnv::close and with no hot backup joined during the session; removed by
// every OpenEnvironment before it opens.  It holds the shape the regions
// were made with, Berkeley DB's version, the kernel's boot id and the
// identity (inode, size, mtime) of every Berkeley DB file of the home.  An
// open whose wanted shape, version, boot id and files all match it joins
// the existing regions (no DB_RECOVER: about 2 ms instead of 100-500); any
// difference -- a crash (no marker), a reboot (another boot id), other
// options, a file changed or replaced while the home was closed -- runs
// recovery as before.
#ifndef DURUS_BDB_BDB_ENV_SHAPE_H_
#define DURUS_BDB_BDB_ENV_SHAPE_H_

#include <cstdint>
#include <string>

#include "bdb/bdb_storage.h"
#include "bdb/handles.h"

namespace durus::bdb {

inline constexpr const char* kCleanMarkerFile = "durus-bdb.clean";  // in the home

// Lockers: one per transaction, per database handle and per cursor outside
// a transaction, at once.  (20,000 made a 3.2 MiB mutex region; 5,000 is
// 1.2 MiB and still far above what a server's threads hold.)
inline constexpr uint32_t kMaxLockers = 5000;

struct EnvShape {
  uint64_t cache_bytes = 0;
  uint32_t log_file_bytes = 0;
  uint32_t log_buffer_bytes = 0;
  uint32_t lock_table_size = 0;  // lock object hash buckets
  uint32_t max_locks = 0;        // lk_max_locks = lk_max_objects
  uint32_t max_lockers = 0;      // lk_max_lockers (transactions, cursors, handles)
  uint32_t memory_max = 0;       // the main region's maximum, bytes
  bool nosync = false;           // DB_TXN_NOSYNC (else DB_TXN_WRITE_NOSYNC)
  bool auto_remove_logs = true;  // DB_LOG_AUTO_REMOVE
  std::string Text() const;      // one line, for the marker
};

// The bytes of the home's database files (*.db).
uint64_t HomeDataBytes(const std::string& home);

// The shape an open of `home` with `options` configures (see above).
EnvShape ShapeFor(const std::string& home, const BdbOptions& options);

// Allocate every region file of `home` this process has mapped (from
// /proc/self/maps) to its mapped size.  IOError (naming the file and the
// cause; "No space left on device" on a full disk) if it cannot.
Status AllocateRegionFiles(const std::string& home);

// The marker's text for `shape`: version, boot id, shape and the home's
// Berkeley DB files as they are now.
std::string CleanMarkerText(const std::string& home, const EnvShape& shape);

// Remove the marker; true if it existed and its text equals `expected`.
bool TakeCleanMarker(const std::string& home, const std::string& expected);

// Write the marker (best effort: a marker that cannot be written only
// costs the next open a recovery).
void WriteCleanMarker(const std::string& home, const EnvShape& shape);

// Remove the marker if any (an open that will recover regardless).
void RemoveCleanMarker(const std::string& home);

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_ENV_SHAPE_H_
