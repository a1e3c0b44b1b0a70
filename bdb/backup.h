// Hot backup of a durus-bdb home (`durus-bdb backup HOME DEST`).
//
// HOME may be in use by a server (or any process holding its HomeLock):
// the backup then joins the live Berkeley DB environment (no recovery: that
// would pull the regions from under the holder), turns log auto-removal off
// in the shared region for its duration, and lets Berkeley DB copy every
// database file page-consistently through the cache and then every log file
// (DbEnv::backup).  The log is flushed first, so every commit acknowledged
// before the backup began -- in every durability mode -- is in the copied
// log.  HOME idle: the backup takes the HomeLock itself and opens the home
// normally (recovery) first.
//
// DEST is then made a home of its own: catastrophic recovery (all copied
// logs replayed over the copied pages, which is what a hot copy needs),
// a checkpoint, old logs removed.  DEST opens like any home afterwards.
//
// Restore base (for point-in-time restore, bdb/restore.h).  Before that
// recovery, the copy as Berkeley DB made it -- database files and log
// files, untouched -- is kept in DEST/restore-base/ with a text file
// `backup-info` (below).  Why a second copy: recovering DEST writes log
// records of its own (undo of transactions unfinished at the copy, a
// checkpoint, the next opener's meta.db write) at LSNs that, in HOME's log,
// hold other records; pages stamped with those LSNs can no longer be
// rolled forward with HOME's archived logs (Berkeley DB skips a redo whose
// page LSN does not match, or stops with "Log sequence error").  The
// untouched copy plus HOME's own log sequence can.  It doubles the size of
// a backup; BackupOptions::restore_base = false (`--no-restore-base`)
// leaves it out, and deleting the directory later is harmless for DEST.
//
// backup-info (one "key value" a line): home (absolute path), home_id
// (HOME's log-archive identity, bdb/log_archive.h, or "none" when HOME did
// not archive its logs), started / finished (Unix seconds: before the
// copy began, after it ended), first_log / last_log (numbers of the log
// files copied).
//
// Joining safely.  A process joining an environment must never meet a
// recovering opener, which recreates the regions (and a stale joiner could
// then flush its old log buffer into the new log).  JoinLock (bdb/home_lock.h) is
// a flock on HOME/durus-bdb.join: joiners (backup) hold it shared for their
// whole stay, an opener that runs recovery holds it exclusively while it
// does (bdb/environment.cc), and a closer removes no log file while a
// joiner holds it (bdb/storage_open.cc, bdb/bulk_loader.cc).  A
// backup killed while it holds a Berkeley DB mutex in the shared region can
// stall the holder: stop a backup with SIGINT/SIGTERM, not SIGKILL.
//
// Threading: one call at a time per process.  Errors: Status (Busy when a
// recovering opener holds the join lock too long, InvalidArgument for a
// non-home or a non-empty DEST, IOError otherwise).
#ifndef DURUS_BDB_BDB_BACKUP_H_
#define DURUS_BDB_BDB_BACKUP_H_

#include <cstdint>
#include <memory>
#include <string>

#include "engine/status.h"
#include "engine/storage.h"

namespace durus {

class BdbHandle;  // bdb/bdb_storage.h

struct BackupOptions {
  // How long to wait for a recovering opener to release the join lock.
  uint32_t join_timeout_ms = 30000;
  // Keep the untouched copy in DEST/restore-base/ (see above).
  bool restore_base = true;
};

struct BackupReport {
  bool online = false;        // joined a live environment (HOME in use)
  std::string holder;         // the process holding HOME, when online
  uint64_t files_copied = 0;  // database + log files in DEST after the copy
  uint64_t bytes_copied = 0;
  uint64_t objects = 0;  // object count of DEST, after its recovery
  uint64_t record_bytes = 0;
  double seconds = 0;
  bool restore_base = false;  // DEST/restore-base/ written
  // HOME is a site of a replication group: its replication files were
  // left out, DEST is a plain home (doc/replication.md, "Backup").
  bool from_replication_site = false;
};

// Open a home made by a backup or a restore, for a look (no background
// collector, never created).
Status OpenCopiedHome(const std::string& dest, std::unique_ptr<BdbHandle>* out);

// DEST/restore-base and its description (see above).
inline constexpr const char* kRestoreBaseDir = "restore-base";
inline constexpr const char* kBackupInfoFile = "backup-info";

Status BackupHome(const std::string& home, const std::string& dest, const BackupOptions& options,
                  BackupReport* report);

}  // namespace durus

#endif  // DURUS_BDB_BDB_BACKUP_H_
