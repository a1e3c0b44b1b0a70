// Berkeley DB's own figures for an open home, as plain numbers: the cache
// (memp_stat) and the log (log_stat, the log files on disk).  For
// monitoring (`durus-bdb serve --http`, server/http/): a public header of
// bdb/ (listed in bdb_storage.h) that includes no Berkeley DB header, so
// tools/ can hand these numbers to the server, which knows only Storage.
//
// Threading: safe to call from any thread while the storage is open (it
// holds the storage open for the call); Closed after Close().
#ifndef DURUS_BDB_BDB_ENV_FIGURES_H_
#define DURUS_BDB_BDB_ENV_FIGURES_H_

#include <cstdint>

#include "bdb/bdb_storage.h"
#include "engine/status.h"

namespace durus {

struct BdbEnvFigures {
  uint64_t cache_hits = 0;         // pages found in the cache, since open
  uint64_t cache_misses = 0;       // pages read in, since open
  uint64_t cache_bytes = 0;        // the cache's configured size
  uint64_t log_written_bytes = 0;  // bytes written to the log, since open
  uint64_t log_flushes = 0;        // log fsyncs (st_scount), since open
  uint64_t log_disk_bytes = 0;     // the log files in the home now (allocated)
};

// Corruption when the environment has panicked (DB_RUNRECOVERY).
Status GetBdbEnvFigures(BdbHandle* storage, BdbEnvFigures* out);

}  // namespace durus

#endif  // DURUS_BDB_BDB_ENV_FIGURES_H_
