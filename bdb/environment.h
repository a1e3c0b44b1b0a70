// Opening the Berkeley DB environment and databases of a home, shared by
// BdbStorage and the other bdb/ writers (bulk loading for migration, the
// trace).  Internal to bdb/.
//
// OpenEnvironment joins the regions a clean close left (bdb/env_shape.h,
// the clean marker) or else runs recovery (DB_RECOVER); either is only safe
// because the caller holds the HomeLock (bdb/home_lock.h) first and no hot
// backup is joined (the join lock, bdb/backup.h).
#ifndef DURUS_BDB_BDB_ENVIRONMENT_H_
#define DURUS_BDB_BDB_ENVIRONMENT_H_

#include <string>

#include "bdb/bdb_storage.h"
#include "bdb/env_shape.h"
#include "bdb/handles.h"

namespace durus::bdb {

// How long OpenEnvironment waits for a joined hot backup to leave before
// it runs recovery (Busy after that).
inline constexpr uint32_t kRecoveryJoinWaitMs = 60000;

class ReplicationState;  // bdb/replication.h

// What OpenEnvironment did, for CloseEnvironment.
struct EnvOpenInfo {
  EnvShape shape;           // the regions' shape
  bool joined = false;      // joined the regions of a clean close: no recovery ran
  bool replicated = false;  // a replication site: always recovers, leaves no marker
  int64_t join_mark = 0;    // the join file's size at open: a backup joining
                            // later grows it (JoinLock::AcquireShared)
};

// Configure (cache, lock table, log buffer and file size, log
// auto-removal, durability: bdb/env_shape.h) and open the environment in
// `home` with the join lock (bdb/backup.h) held exclusively: joining the
// existing regions if the clean marker matches (TakeCleanMarker), else (or
// if the join fails) running recovery.  Every region file is then
// allocated to its mapped size (AllocateRegionFiles).
//
// With `repl`, a replication site: repmgr is configured before the open
// and DB_INIT_REP added (started afterwards by ReplicationState::Start);
// such a site always recovers and never joins regions left by a close
// (the replication region's state is Berkeley DB's to rebuild: recovery
// is the path its replication is tested on, doc/replication-plan.md 11.6).
Status OpenEnvironment(const std::string& home, const BdbOptions& options, EnvPtr* env,
                       EnvOpenInfo* info = nullptr, ReplicationState* repl = nullptr);

// Close `env` (its databases closed, its final checkpoint taken) and, if
// Berkeley DB closed it without error, `no_joiner` (the caller holds the
// join lock exclusively) and no backup joined since the open (`info`):
// write the clean marker for the next open if the regions still have the
// shape the home wants (ShapeFor with `options`), else remove them (the
// next open recovers into new ones anyway).  The close's error otherwise.
Status CloseEnvironment(const std::string& home, const BdbOptions& options, const EnvOpenInfo& info,
                        bool no_joiner, EnvPtr* env);

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
