// Opening the Berkeley DB environment and databases of a home, shared by
// BdbStorage and the other bdb/ writers (bulk loading for migration, the
// trace).  Internal to bdb/.
//
// OpenEnvironment always runs recovery (DB_RECOVER), which is only safe
// because the caller holds the HomeLock (bdb/home_lock.h) first and no hot
// backup is joined (the join lock, bdb/backup.h).
#ifndef DURUS_BDB_BDB_ENVIRONMENT_H_
#define DURUS_BDB_BDB_ENVIRONMENT_H_

#include <string>

#include "bdb/bdb_storage.h"
#include "bdb/handles.h"

namespace durus::bdb {

// How long OpenEnvironment waits for a joined hot backup to leave before
// it runs recovery (Busy after that).
inline constexpr uint32_t kRecoveryJoinWaitMs = 60000;

class ReplicationState;  // bdb/replication.h

// Configure (cache, lock table, log buffer and file size, log
// auto-removal, durability) and open the environment in `home`, running
// recovery with the join lock (bdb/backup.h) held exclusively.  With
// `repl`, a replication site: repmgr is configured before the open and
// DB_INIT_REP added (started afterwards by ReplicationState::Start).
Status OpenEnvironment(const std::string& home, const BdbOptions& options, EnvPtr* env,
                       ReplicationState* repl = nullptr);

// A read-only view of a home this process cannot write (read-only mount,
// another user's files) that was closed cleanly: a private environment
// (cache in this process's memory, no region or log file written, no
// recovery).  Databases opened in it are read without transactions.
Status OpenReadOnlySnapshot(const std::string& home, const BdbOptions& options, EnvPtr* env);

// Open the btree `file` in `env`, creating it when `create` (and not
// readonly), with page checksums (DB_CHKSUM) when it is created.  A file
// that should exist (!create) and does not is Corruption, and so is one
// shorter than its last page (CheckNotTruncated).
Status OpenBtree(DbEnv* env, const std::string& home, const char* file, bool readonly, DbPtr* db,
                 bool create = true, bool checksums = true);

// Corruption if the Berkeley DB file at `path` is shorter than the last
// page its meta page records (pages lost to a truncation).
Status CheckNotTruncated(const std::string& path);

// IOError naming the first file of `home` (or the directory) that this
// process cannot read (or, with `write`, write): permission denied,
// read-only file system, an immutable file.
Status CheckHomeAccess(const std::string& home, bool write);

// The Status for a failed DbEnv::open in `home`, from Berkeley DB's
// messages (LastDbError): permission / read-only / full disk as IOError
// with the cause, a log that recovery cannot read as Corruption naming the
// log file and what to do.
Status ExplainOpenFailure(const std::string& home, int ret);

// Create `path` and its parents.
Status MakeDirs(const std::string& path);

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_ENVIRONMENT_H_
