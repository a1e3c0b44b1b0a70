#include "bdb/env_figures.h"

#include <db_cxx.h>

#include <cstdlib>
#include <mutex>
#include <shared_mutex>

#include "bdb/disk_usage.h"
#include "bdb/handles.h"
#include "bdb/storage_impl.h"

namespace durus {

Status GetBdbEnvFigures(BdbHandle* storage, BdbEnvFigures* out) {
  return storage->impl().GetEnvFigures(out);
}

namespace bdb {

Status BdbStorage::GetEnvFigures(BdbEnvFigures* out) {
  std::shared_lock<std::shared_mutex> open(close_mu_);
  DURUS_RETURN_IF_ERROR(CheckOpen());
  *out = BdbEnvFigures();
  DB_MPOOL_STAT* mp = nullptr;
  int ret = env_->memp_stat(&mp, nullptr, 0);
  if (ret != 0) return FromDb(ret, "reading the cache statistics (memp_stat)");
  out->cache_hits = mp->st_cache_hit;
  out->cache_misses = mp->st_cache_miss;
  out->cache_bytes = uint64_t{mp->st_gbytes} * (1ull << 30) + mp->st_bytes;
  free(mp);
  DB_LOG_STAT* lg = nullptr;
  ret = env_->log_stat(&lg, 0);
  if (ret != 0) return FromDb(ret, "reading the log statistics (log_stat)");
  out->log_written_bytes = uint64_t{lg->st_w_mbytes} * (1ull << 20) + lg->st_w_bytes;
  out->log_flushes = lg->st_scount;
  free(lg);
  // The log files ("log.0000000001", ...) live in the home; counted as
  // `durus-bdb stat` counts them (allocated blocks: the current file is
  // sparse until written).
  out->log_disk_bytes = MeasureHomeDisk(home_).logs.bytes;
  return Status::OK();
}

}  // namespace bdb
}  // namespace durus
