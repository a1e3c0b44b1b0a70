// Replaying a crashed home's log into a copy, so that salvage reads every
// acknowledged commit.  Internal to bdb/ (used by bdb/salvage.cc).
//
// Why: after a crash, records.db holds the home as of its last checkpoint;
// the commits since then exist only in the log, as changes to records.db's
// pages.  Salvage reads records.db with Berkeley DB's salvage verification,
// which knows nothing of the log, so on a crashed home it missed those
// commits (97 of 345 records in the corruption matrix, the log intact).
// A home that no longer opens (a damaged refcounts.db, pending.db, meta.db)
// cannot be recovered in place either: recovery needs every file.
//
// How: records.db and the log files are copied into a new directory under
// the salvage's temp dir (never HOME, which is only read), and Berkeley DB's
// recovery runs there, in a private environment.  Recovery skips the log
// records of files that are absent, so the derived tables (refcounts,
// pending, meta: migrate recomputes them) are left out, damaged or not.  A
// damaged log is copied only up to its first unreadable record
// (bdb/log_check.h): what follows cannot be replayed, and the caller reports
// it as lost.  When recovery fails (a records.db page it must change is
// damaged, pages stamped past the end of a cut log), nothing is replayed and
// the caller salvages the original records.db, reporting why.
//
// Disk: the copy needs the size of records.db plus the log.  Errors: none;
// every failure is a reason in LogReplay::problem.
#ifndef DURUS_BDB_BDB_SALVAGE_REPLAY_H_
#define DURUS_BDB_BDB_SALVAGE_REPLAY_H_

#include <cstdint>
#include <string>

namespace durus::bdb {

struct LogReplay {
  // Recovery ran in the copy: `dir`/records.db holds the log's commits.
  bool replayed = false;
  std::string dir;         // the copy; removed by ~LogReplay
  std::string problem;     // why nothing was replayed
  uint64_t log_files = 0;  // log files copied (the last one maybe cut)
  // The log was damaged: replayed (if at all) only up to this point.
  bool log_damaged = false;
  std::string damage;          // "log.0000000001 at offset 561863"
  uint64_t damaged_bytes = 0;  // log bytes from there to the end, not replayed

  LogReplay() = default;
  LogReplay(const LogReplay&) = delete;
  LogReplay& operator=(const LogReplay&) = delete;
  ~LogReplay();
};

// Copies records.db and the log of `home` into a new directory under
// `temp_dir` (the current directory when empty) and runs recovery there.
void ReplayLogIntoCopy(const std::string& home, const std::string& temp_dir, uint32_t cache_mb,
                       LogReplay* out);

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_SALVAGE_REPLAY_H_
