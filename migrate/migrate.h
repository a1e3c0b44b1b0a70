// Streaming migration into and out of durus-bdb: the public entry points of
// migrate/ (used by `durus-bdb migrate` / `durus-bdb export` in tools/ and
// by the Python module).  doc/migration.md is the user's guide;
// doc/dump-format.md specifies the portable dump.
//
// Migrate() reads a Durus storage (Shelf FileStorage, FileStorage2,
// SqliteStorage, a durus-bdb dump, or another durus-bdb home) from start
// to end once, keeping the last version of every oid, into a NEW home.
// Memory does not grow with the number of objects: records go straight
// into the home's records table (a later version overwrites an earlier
// one), and the reference counts and the pending-garbage queue are then
// computed from the final records by an external sort of (target,
// referrer) pairs in temporary files.  The home stays marked incomplete
// (refused by OpenBdbStorage) until everything, including --verify, has
// succeeded; a re-run after a crash wipes it and starts again.
//
// Export() writes a home out as a Shelf file that Durus's own FileStorage
// opens, or as a dump; both stream in oid order.
//
// Threading: each call runs on the calling thread; the progress callback
// is invoked on that thread.  Errors: Status, with the byte offset for a
// corrupt source; nothing throws (a progress callback must not throw).
#ifndef DURUS_BDB_MIGRATE_MIGRATE_H_
#define DURUS_BDB_MIGRATE_MIGRATE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bdb/bdb_storage.h"
#include "engine/status.h"
#include "util/progress.h"

namespace durus::migrate {

enum class SourceFormat {
  kAuto,          // detect by magic (a directory: a durus-bdb home)
  kShelf,         // Durus FileStorage, "SHELF-1\n"
  kFileStorage2,  // Durus FileStorage2, "DFS20\0"
  kSqlite,        // Durus SqliteStorage, "SQLite format 3\0"
  kDump,          // durus-bdb dump, "DURUSDMP"
  kBdb,           // a durus-bdb home directory
};

// "auto", "shelf", "filestorage2" (also "dfs20", "fs2"), "sqlite", "dump", "bdb".
Status ParseSourceFormat(const std::string& name, SourceFormat* out);
const char* SourceFormatName(SourceFormat format);

// The format of `path` from its first bytes (or: a directory holding a
// durus-bdb home).  InvalidArgument for an empty file or an unknown magic;
// NotFound if `path` does not exist.
Status DetectFormat(const std::string& path, SourceFormat* out);

// Progress (util/progress.h), reported at most a few times per second and
// at each phase end; phases "load", "count", "verify", "export".
using Progress = util::Progress;
using ProgressFn = util::ProgressFn;

struct MigrateOptions {
  std::string source;
  std::string home;
  SourceFormat format = SourceFormat::kAuto;
  // Recorded in the home's meta as its intended mode.  The migration
  // itself always ends with everything fsynced.
  Durability durability = Durability::kSync;
  // Re-read the source at the end and check every record, the object
  // count and every reference count before marking the home complete.
  bool verify = false;
  // A torn last transaction (Shelf, FileStorage2) fails the migration
  // instead of being reported and skipped.
  bool strict = false;
  // References to oids the source does not hold are removed from the
  // referring records (and reported) instead of failing the migration.
  bool allow_dangling = false;
  // Damage in the source (anything but a torn last transaction) is
  // skipped instead of failing the migration: every skipped range and
  // every object whose last version was lost is reported (see
  // MigrateReport).  Implies allow_dangling (a lost object's referrers
  // would otherwise dangle).
  bool salvage = false;
  // Read a FileStorage / FileStorage2 file that a Durus process holds
  // open for writing (its lock, durus/file.py).  Without it such a source
  // is refused with Busy before anything is created: the file may change
  // under the read, so the home would be a copy of no committed state.
  bool force = false;
  // How the caller's user overrides that refusal, appended to the error
  // ("stop it or pass --force"): the command's flag, or force=True in
  // Python.
  std::string force_hint = "--force";
  // Where the sort runs go (default: the home directory).  The files are
  // unlinked as soon as they are created, so nothing is left behind.
  std::string temp_dir;
  uint32_t cache_mb = 128;       // Berkeley DB cache while loading
  uint32_t sort_memory_mb = 32;  // per external sort
  ProgressFn progress;           // may be empty
};

// What salvage skipped: a range of the source, and why.
struct SalvagedRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  std::string unit;  // "bytes" (sqlite: "row ids")
  std::string reason;
};

// An object whose version in a skipped range was identified and not
// replaced by a later intact version.
struct LostObject {
  uint64_t oid = 0;
  uint64_t offset = 0;      // where the lost version was
  bool older_kept = false;  // an older version was loaded; else the oid is missing
};

struct MigrateReport {
  SourceFormat format = SourceFormat::kAuto;
  uint64_t source_records = 0;  // records read (every version)
  uint64_t source_bytes = 0;    // bytes of the source read
  uint64_t objects = 0;         // distinct oids stored
  uint64_t record_bytes = 0;    // sum of stored record sizes
  uint64_t references = 0;      // (referrer, target) pairs counted
  uint64_t pending = 0;         // unreferenced objects queued for collection
  uint64_t next_oid = 0;
  uint64_t dangling = 0;               // references to oids absent from the source
  bool torn_tail = false;              // a torn last transaction was skipped
  uint64_t torn_offset = 0;            // where it started
  uint64_t torn_bytes = 0;             // bytes ignored
  uint64_t torn_records = 0;           // complete records in the torn transaction
  bool salvage = false;                // salvage mode was on
  std::vector<SalvagedRange> skipped;  // every range salvage skipped, in order
  std::vector<LostObject> lost;        // by oid
  uint64_t lost_superseded = 0;        // lost versions a later intact version replaced
  bool restarted = false;              // an interrupted migration was wiped first
  bool verified = false;
  uint64_t home_data_bytes = 0;  // size of the home's .db files at the end
  double seconds = 0;
  std::vector<std::string> warnings;  // human-readable, one line each
};

// Migrate options.source into the new home options.home.  On failure the
// home is removed again (or, after a crash, left marked incomplete for a
// re-run to wipe); `report` is filled as far as the migration got.
Status Migrate(const MigrateOptions& options, MigrateReport* report);

enum class ExportFormat { kShelf, kDump };
Status ParseExportFormat(const std::string& name, ExportFormat* out);

struct ExportOptions {
  std::string home;
  std::string dest;  // must not exist
  ExportFormat format = ExportFormat::kShelf;
  uint32_t cache_mb = 64;
  // Dump only, zlib 0..9.  Durus records are mostly zlib-compressed pickles
  // already, so more effort buys little: 1 is the default.
  int compression_level = 1;
  ProgressFn progress;
};

struct ExportReport {
  uint64_t objects = 0;
  uint64_t record_bytes = 0;
  uint64_t bytes_written = 0;
  double seconds = 0;
};

// Write the home (opened read-only; the garbage collector does not run)
// to options.dest, via a temporary file renamed into place at the end.
Status Export(const ExportOptions& options, ExportReport* report);

// One line summaries (the tools print these when piped).
std::string SummaryLine(const MigrateReport& report);
std::string SummaryLine(const ExportReport& report, const ExportOptions& options);

}  // namespace durus::migrate

#endif  // DURUS_BDB_MIGRATE_MIGRATE_H_
