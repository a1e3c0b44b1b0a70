// Point-in-time restore (`durus-bdb restore BACKUP DEST --logs DIR --to T`):
// a hot backup's untouched copy (BACKUP/restore-base, bdb/backup.h) rolled
// forward with the original home's log files (its archive, bdb/
// log_archive.h, and/or the live home's own log directory) by Berkeley
// DB's catastrophic recovery (DB_RECOVER_FATAL), stopped at a time
// (DbEnv::set_tx_timestamp): every transaction that committed at or
// before T is applied, every later one is not.  Commit times in the
// Berkeley DB log are whole seconds, so T is too.
//
// Steps: DEST (new or empty) gets the base's database and log files; then,
// from BACKUP/restore-base and each log directory, every log file from the
// base's first on (the longest copy of each: the base holds only the part
// of its last file written before the backup ended, and must agree with the
// longer copy byte for byte); then recovery; then a checkpoint, the logs no
// longer needed removed, and DEST opened as a home and verified
// (bdb/gc/gc.h).  DEST is a home of its own afterwards: a new branch of
// the log sequence, not archiving (give it a new archive directory, and
// take a new backup).
//
// Refused, with a one-line error and DEST left to be deleted: a BACKUP
// without restore-base (made before this feature, or --no-restore-base); T
// before the backup began (the backup's pages already hold later commits
// whose log may not be in the backup: use an older backup); a log
// directory that belongs to another home (its marker names another
// home_id) or whose identity cannot be checked against the backup's; a gap
// in the log files (names the first missing file); a base log file that a
// longer copy does not continue.
//
// Threading: one call at a time (it runs Berkeley DB in a private
// environment in DEST).  Errors: Status (InvalidArgument for the refusals
// above, NotFound for a missing file, IOError, and Berkeley DB's own error
// for a recovery that fails, with its message).
#ifndef DURUS_BDB_BDB_RESTORE_H_
#define DURUS_BDB_BDB_RESTORE_H_

#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "engine/status.h"

namespace durus {

struct RestoreOptions {
  // Directories to take log files from: the home's log archive and/or the
  // home itself (its newest files are not archived yet).
  std::vector<std::string> log_dirs;
  // Stop at this time (Unix seconds); without it, replay every log record.
  bool has_time = false;
  time_t to_time = 0;
  // Run `durus-bdb verify` on DEST at the end.
  bool verify = true;
};

struct RestoreReport {
  std::string home;  // the home BACKUP was taken of
  time_t backup_started = 0;
  uint32_t first_log = 0;  // log files replayed: log.first .. log.last
  uint32_t last_log = 0;
  time_t last_commit = 0;  // of the last transaction applied (0: none in the log)
  uint64_t objects = 0;    // object count of DEST
  uint64_t record_bytes = 0;
  bool verified = false;
  uint64_t problems = 0;  // found by verify (0 when clean)
  double seconds = 0;
};

Status RestoreBackup(const std::string& backup, const std::string& dest,
                     const RestoreOptions& options, RestoreReport* report);

// TIME as `restore --to` takes it: a Unix timestamp ("1714567890" or
// "@1714567890"), ISO 8601 ("2024-05-01T12:30:00", local time, or with
// "Z" / "+02:00"), or "2024-05-01 12:30:00" (local).  InvalidArgument
// naming the text otherwise.
Status ParseRestoreTime(const std::string& text, time_t* out);

// "2024-05-01 12:30:00 CEST" (local time), as restore reports times.
std::string FormatTime(time_t t);

}  // namespace durus

#endif  // DURUS_BDB_BDB_RESTORE_H_
