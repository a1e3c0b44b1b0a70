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

// Configure (cache, lock table, log buffer and file size, log
// auto-removal, durability) and open the environment in `home`, running
// recovery with the join lock (bdb/backup.h) held exclusively.
Status OpenEnvironment(const std::string& home, const BdbOptions& options, EnvPtr* env);

// Open (creating unless readonly) the btree `file` in `env`.
Status OpenBtree(DbEnv* env, const std::string& home, const char* file, bool readonly,
                 DbPtr* db);

// Create `path` and its parents.
Status MakeDirs(const std::string& path);

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_ENVIRONMENT_H_
