// Trimming a closed home down to its tables (issue 14), the last step of
// `durus-bdb gc --compact`.
//
// Why: compaction returns the tables' free pages to the file system, but
// the deletion, the collection and the compaction itself (every page it
// moves is logged) write Berkeley DB log, and a checkpoint can only remove
// the log files before the current one: the current file, up to
// log_file_mb (32 MiB) long, stays.  So "delete half, collect, compact"
// left the home larger than before (67.9 -> 75.8 MiB in the issue).
//
// What TrimClosedHome does, holding the HomeLock (no storage open):
//   1. opens the environment (recovery: trivial after a clean close),
//      removes marks.db if no trace uses it (an empty table whose pages a
//      finished trace left), and checkpoints;
//   2. resets the log sequence numbers of every table (DbEnv::lsn_reset,
//      which reads and writes every page: about the cost of copying the
//      tables), so that no page refers to the log any more, and closes;
//   3. removes every log file, oldest first, and the region files; the
//      next open starts a fresh log and rebuilds its regions.
// A crash at any point leaves a home that opens: before step 3 the log is
// intact and ends in a checkpoint after which nothing is written (so a
// page whose LSN was reset needs nothing redone); in step 3 the files left
// are the newest and contiguous.
//
// When the logs must stay, nothing is changed and the report says why:
// log archiving for point-in-time restore is on (the log files are kept
// until archived: bdb/log_archive.h), or a hot backup is joined (it needs
// every log file until it leaves: bdb/backup.h).
//
// A public header of bdb/ (listed in bdb_storage.h); no Berkeley DB header.
// Errors: Status (Busy when another process holds the home).
#ifndef DURUS_BDB_BDB_HOME_TRIM_H_
#define DURUS_BDB_BDB_HOME_TRIM_H_

#include <cstdint>
#include <string>

#include "bdb/bdb_storage.h"
#include "engine/status.h"

namespace durus {

struct TrimReport {
  bool trimmed = false;  // logs and regions removed
  uint32_t log_files_removed = 0;
  bool marks_removed = false;  // the empty marks.db of a finished trace
  std::string kept_reason;     // !trimmed: why the logs stay
};

// `options`: as for OpenBdbStorage (the home's kept options complete
// them); only the cache size and the log-archive settings matter.
Status TrimClosedHome(const std::string& home, const BdbOptions& options, TrimReport* report);

}  // namespace durus

#endif  // DURUS_BDB_BDB_HOME_TRIM_H_
