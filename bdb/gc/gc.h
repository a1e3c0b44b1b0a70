// The garbage-collection module's public header (bdb/gc/README.md):
// offline maintenance of a durus-bdb storage: verify (and repair) its
// reference counts, pending-garbage queue and reachability; run a full
// collection with progress reports; compact its files.  Used by
// `durus-bdb verify`, `durus-bdb gc` and the tests.  Does not include
// db_cxx.h.
//
// What verify checks (bdb/schema.h states the invariants):
//   - every page of every table file: Berkeley DB's structural verification
//     (Db::verify, page checksums included in format 2 homes), run on the
//     files outside the storage's environment (bdb/verify_pages.h).  Damage
//     is reported with the file, the page and the records it makes
//     unreadable, and ends the check there (report.damaged, not complete):
//     the home needs salvage or a backup;
//   - every count equals the number of distinct records referencing the oid
//     (recounted from the records into a temporary Berkeley DB table, so
//     memory does not grow with the store);
//   - every record has a count entry and every count entry a record;
//   - every reference points at an existing record;
//   - the queue holds exactly the non-root oids with no referrers;
//   - the metadata counters (object_count, record_bytes, pending_count,
//     next_oid);
//   - reachability from the root (marks in temporary tables): unreachable
//     objects that counting will free (queued garbage and what only it
//     holds) are normal; the others are leaked (cycles, and what hangs off
//     them) and are reported as problems.
//
// Repair (VerifyOptions::repair): sets every count to its recount, removes
// orphan count entries, makes the queue exact, drops dangling oids from the
// referring records' ref lists (the pickled data is untouched: Durus will
// raise ReadConflictError / KeyError for such a reference, as it would
// anyway), rewrites the counters, and, when anything is leaked, deletes
// every unreachable object (as the trace would).  Malformed records are
// reported but never changed.  Repair is a second pass, run only when a
// first, read-only pass read everything: it is refused (report.
// repair_refused says why; nothing is changed) when that reading was
// incomplete, pages are damaged or records do not parse, since what could
// not be read is no evidence that anything is missing.
//
// Threading: VerifyStorage holds the storage's writer lock for its whole
// run, so commits and the collector wait (loads continue); meant for
// offline use (durus-bdb verify opens the home itself).  Errors: Status;
// problems found are not errors, they are in the report, and neither is
// damage or a read error met while checking (report.complete false, a
// read_error problem): only failures of the repair itself are errors.
#ifndef DURUS_BDB_BDB_GC_GC_H_
#define DURUS_BDB_BDB_GC_GC_H_

#include <cstdint>
#include <functional>
#include <string>

#include "bdb/bdb_storage.h"
#include "bdb/gc/report.h"
#include "engine/status.h"
#include "engine/storage.h"

namespace durus {

// Called now and then with a phase name ("recount", "check", "trace",
// "unreachable", "repair", "collect", "sweep"), the units done and the
// expected total (0: unknown).
using MaintenanceProgressFn = std::function<void(const char* phase, uint64_t done, uint64_t total)>;

struct VerifyOptions {
  bool repair = false;
  // Skip the reachability trace (counts and queue only).
  bool check_reachability = true;
  // Problems kept as samples in the report (all are counted).
  uint64_t max_samples = 100;
  MaintenanceProgressFn progress;
};

// `storage` comes from OpenBdbStorage.  With repair, a read-only storage
// gives ReadOnly.
Status VerifyStorage(BdbHandle* storage, const VerifyOptions& options, gc::VerifyReport* report);

// Storage::Collect(cycles, report) with progress: empties the queue and,
// with `cycles`, runs a whole trace (continuing one already running).
Status CollectWithProgress(BdbHandle* storage, bool cycles, const MaintenanceProgressFn& progress,
                           CollectReport* report);

struct CompactReport {
  uint64_t file_bytes_before = 0;  // sizes of the .db files
  uint64_t file_bytes_after = 0;
  uint64_t pages_freed = 0;  // pages returned to the file system
  uint64_t pages_examined = 0;
};

// Db::compact(DB_FREE_SPACE) on every table: moves pages so that the free
// ones are at the end of each file and truncates them, returning space to
// the file system.  Holds the writer lock while it runs.
Status CompactStorage(BdbHandle* storage, CompactReport* report);

}  // namespace durus

#endif  // DURUS_BDB_BDB_GC_GC_H_
