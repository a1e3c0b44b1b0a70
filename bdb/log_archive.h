// Log archiving: a home's Berkeley DB log files, once the home no longer
// needs them, are copied into an archive directory before they are removed,
// so that a hot backup plus the archived logs can be rolled forward to any
// moment since the backup (`durus-bdb restore`, bdb/restore.h).
//
// Without archiving (the default) Berkeley DB removes a log file as soon as
// a checkpoint makes it unnecessary (DB_LOG_AUTO_REMOVE), and closes /
// migrations remove them explicitly.  With archiving, automatic removal is
// off from before the environment opens (recovery's own checkpoint and
// every log-file switch would otherwise remove files), and every removal
// goes through ReleaseLogs():
//
//   for each log file the home no longer needs, oldest first:
//     copy HOME/log.N to DIR/.log.N.tmp, fsync, rename to DIR/log.N, fsync
//     DIR; only then unlink HOME/log.N.  The first failure stops the pass:
//     that file and every later one stay in the home (retried at the next
//     checkpoint), so the archive never has a gap of our making and nothing
//     is removed that is not archived.
//   then prune the archive, oldest first, by age (of the last write into the
//   log file, kept as the archived copy's mtime) and/or total size.
//
// Where the setting lives.  HOME/durus-bdb.archive (text, written atomically
// by the opener holding the HomeLock):
//
//   home_id <32 hex digits>   identity of this home's log sequence
//   dir <path>                the archive directory
//   max_age_s <n>             retention by age, 0: none
//   max_bytes <n>             retention by total size, 0: none
//
// A plain file, not meta.db: it must be read before the environment opens
// (auto-removal has to be off during recovery), a hot backup reads it
// without touching the databases, and it is deliberately NOT part of a
// backup: a backup or a restored home starts a new branch of the log
// sequence (its log numbers continue from the original's), so it gets a new
// identity and must archive into a directory of its own.  An opener without
// the option keeps archiving as recorded (a second opener without it does
// not silently stop); an opener with log_archive = "off" removes the file
// and goes back to automatic removal; one with another directory switches
// to it (the old directory keeps what it has).
//
// DIR/durus-bdb-archive.id (text) names the home whose logs DIR holds
// ("home_id ...", "home <path>").  A DIR holding another home's marker, or
// log files without a marker, is refused at open: two homes' log.N files
// would overwrite each other.
//
// A hot backup joined to the home (bdb/backup.h) needs every log file until
// it leaves: ReleaseLogs' callers hold the join lock exclusively (probed,
// never waited for) and skip the pass when a backup holds it.
//
// Threading: ReleaseLogs is called by one thread at a time per home (the
// background thread, then Close).  Errors: Status; a failure to archive is
// reported by ReleaseLogs and never loses a log file.
#ifndef DURUS_BDB_BDB_LOG_ARCHIVE_H_
#define DURUS_BDB_BDB_LOG_ARCHIVE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "bdb/bdb_storage.h"
#include "bdb/handles.h"
#include "engine/status.h"

namespace durus::bdb {

inline constexpr const char* kArchiveConfigFile = "durus-bdb.archive";     // in the home
inline constexpr const char* kArchiveMarkerFile = "durus-bdb-archive.id";  // in DIR
// BdbOptions::log_archive value that turns archiving off.
inline constexpr const char* kArchiveOff = "off";

struct LogArchiveConfig {
  std::string dir;  // empty: no archiving (logs are removed)
  std::string home_id;
  uint64_t max_age_s = 0;
  uint64_t max_bytes = 0;
};

// The configuration recorded in `home` (NotFound when it archives nothing).
Status ReadLogArchiveConfig(const std::string& home, LogArchiveConfig* out);

// True when an opener of `home` with `options` archives (auto-removal must
// then be off).  Does not validate anything.
bool WillArchiveLogs(const std::string& home, const BdbOptions& options);

// The configuration for a read-write opener with `options` (the caller
// holds the HomeLock): recorded or changed in the home as the options say,
// DIR created and its marker checked or written.  InvalidArgument naming
// DIR and what to do for another home's archive; a DIR that cannot be used
// now (unwritable, not mounted) is only warned about (Warn): the home opens
// and keeps its log files until DIR works (checked again at every pass).
Status SetUpLogArchive(const std::string& home, const BdbOptions& options, LogArchiveConfig* out);

struct ReleaseReport {
  uint32_t archived = 0;  // files copied into the archive (and removed)
  uint32_t pruned = 0;    // files removed from the archive by retention
};

// Remove the log files `env` no longer needs, archiving each first when
// `config.dir` is set.  The caller holds the join lock exclusively.
Status ReleaseLogs(DbEnv* env, const std::string& home, const LogArchiveConfig& config,
                   ReleaseReport* report = nullptr);

// ReleaseLogs for the background thread and Close: a failure is written to
// stderr by Warn and otherwise ignored -- the logs stay where they are and
// the next call tries again.
void ReleaseLogsOrWarn(DbEnv* env, const std::string& home, const LogArchiveConfig& config);

// "durus-bdb: MESSAGE" on stderr; the same message at most once a minute.
void Warn(const std::string& message);

// "log.0000000012" <-> 12.
bool ParseLogFileName(const std::string& name, uint32_t* number);
std::string LogFileName(uint32_t number);

// The log files in `dir`, sorted by number.
Status ListLogFiles(const std::string& dir, std::vector<uint32_t>* numbers);

// Copy `src` to `dst` durably: a temporary name beside `dst`, fsync,
// rename, fsync of the directory.  Keeps `src`'s modification time.
Status CopyFileDurably(const std::string& src, const std::string& dst);
Status SyncDirectory(const std::string& dir);
// Write `text` to `path` atomically (a temporary beside it, fsync, rename).
Status WriteFileAtomically(const std::string& path, const std::string& text);

// *same = the first `prefix_len` bytes of `a` and `b` are equal.
Status SamePrefix(const std::string& a, const std::string& b, uint64_t prefix_len, bool* same);

// The identity recorded in an archive directory's marker (NotFound if none).
Status ReadArchiveMarker(const std::string& dir, std::string* home_id, std::string* home);

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_LOG_ARCHIVE_H_
