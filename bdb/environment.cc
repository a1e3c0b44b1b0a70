#include "bdb/environment.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "bdb/backup.h"
#include "bdb/log_archive.h"

namespace durus::bdb {

namespace {

// Berkeley DB's own explanation of the last error on this thread, added to
// the Status message of an environment open.
thread_local std::string t_last_db_error;

void RememberDbError(const DbEnv*, const char*, const char* msg) { t_last_db_error = msg; }

}  // namespace

Status MakeDirs(const std::string& path) {
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    std::string cur = path.substr(0, pos);
    struct stat st;
    if (cur.empty() || (stat(cur.c_str(), &st) == 0 && S_ISDIR(st.st_mode))) continue;
    if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::IOError("cannot create directory " + cur + ": " + strerror(errno));
    }
  }
  return Status::OK();
}

Status OpenEnvironment(const std::string& home, const BdbOptions& options, EnvPtr* out) {
  EnvPtr env(new DbEnv(DB_CXX_NO_EXCEPTIONS));
  env->set_errcall(&RememberDbError);
  uint64_t cache = uint64_t{options.cache_mb} << 20;
  int ret = env->set_cachesize(static_cast<u_int32_t>(cache >> 30),
                               static_cast<u_int32_t>(cache & ((1u << 30) - 1)), 1);
  if (ret == 0) {
    // Page locks: a commit of N records of ~300 B touches about N/10 record
    // pages plus count pages; leave room for max_commit_records and for
    // concurrent readers.
    uint32_t locks = std::max<uint32_t>(50000, options.max_commit_records);
    ret = env->set_lk_max_locks(locks);
    if (ret == 0) ret = env->set_lk_max_objects(locks);
    if (ret == 0) ret = env->set_lk_max_lockers(20000);
  }
  if (ret == 0) ret = env->set_lk_detect(DB_LOCK_DEFAULT);
  // Berkeley DB wants log files at least 4x the in-memory log buffer.
  const uint32_t log_file_bytes = std::max<uint32_t>(options.log_file_mb, 1) << 20;
  if (ret == 0) ret = env->set_lg_bsize(std::min<uint32_t>(4u << 20, log_file_bytes / 4));
  if (ret == 0) ret = env->set_lg_max(log_file_bytes);
  if (ret == 0) ret = env->set_tx_max(1000);
  // An archiving home (bdb/log_archive.h) removes logs only once archived:
  // off before open, or recovery's checkpoint would remove them.
  if (ret == 0) ret = env->log_set_config(DB_LOG_AUTO_REMOVE, WillArchiveLogs(home, options) ? 0 : 1);
  if (ret == 0) {
    // sync commits are written without fsync and then flushed explicitly
    // (group commit, see storage_commit.cc); nosync keeps the log in memory.
    ret = env->set_flags(
        options.durability == Durability::kNoSync ? DB_TXN_NOSYNC : DB_TXN_WRITE_NOSYNC, 1);
  }
  if (ret != 0) return FromDb(ret, "configuring the Berkeley DB environment in " + home);
  uint32_t flags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL |
                   DB_THREAD | DB_RECOVER;
  // Recovery recreates the regions: never while a hot backup (bdb/backup.h)
  // is joined to them, e.g. a backup that joined a server which has since
  // stopped.  The backup holds the join lock shared for its whole stay; we
  // hold it exclusively while recovery runs (a backup arriving meanwhile
  // waits), then let it go: a joiner afterwards meets a finished
  // environment.  The caller holds the HomeLock, so no other opener races.
  JoinLock join;
  Status js = join.AcquireExclusive(home, kRecoveryJoinWaitMs);
  if (js.IsBusy()) {
    return Status::Busy("cannot recover " + home + ": a hot backup (durus-bdb backup) is still " +
                        "joined to its environment after " +
                        std::to_string(kRecoveryJoinWaitMs / 1000) + " s; try again when it ends");
  }
  DURUS_RETURN_IF_ERROR(js);
  t_last_db_error.clear();
  ret = env->open(home.c_str(), flags, 0644);
  if (ret != 0) {
    return FromDb(ret, "opening the Berkeley DB environment in " + home +
                           (t_last_db_error.empty() ? "" : " (" + t_last_db_error + ")"));
  }
  *out = std::move(env);
  return Status::OK();
}

Status OpenBtree(DbEnv* env, const std::string& home, const char* file, bool readonly,
                 DbPtr* out) {
  DbPtr db(new Db(env, 0));
  uint32_t flags = DB_THREAD | DB_AUTO_COMMIT | (readonly ? DB_RDONLY : DB_CREATE);
  int ret = db->open(nullptr, file, nullptr, DB_BTREE, flags, 0644);
  if (ret != 0) return FromDb(ret, "opening " + home + "/" + file);
  *out = std::move(db);
  return Status::OK();
}

}  // namespace durus::bdb
