#include "bdb/environment.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "bdb/backup.h"
#include "bdb/home_lock.h"
#include "bdb/log_archive.h"
#include "bdb/replication.h"
#include "bdb/schema.h"

namespace durus::bdb {

namespace {

bool Mentions(const std::string& text, const char* what) {
  return text.find(what) != std::string::npos;
}

// "... log.0000000001 ..." or an LSN "[1][4567]" in Berkeley DB's messages:
// the log file named by number.
std::string LogFileOf(const std::string& text) {
  size_t at = text.find("log.");
  if (at != std::string::npos && at + 14 <= text.size()) return text.substr(at, 14);
  at = text.find('[');
  if (at != std::string::npos) {
    unsigned long file = strtoul(text.c_str() + at + 1, nullptr, 10);
    if (file > 0) {
      char name[32];
      snprintf(name, sizeof name, "log.%010lu", file);
      return name;
    }
  }
  return "";
}

}  // namespace

namespace {

// A handle reporting errors as return codes, its messages kept
// (DbErrorCallback).
EnvPtr NewEnv() {
  EnvPtr env(new DbEnv(DB_CXX_NO_EXCEPTIONS));
  env->set_errcall(&DbErrorCallback);
  return env;
}

int SetCache(DbEnv* env, const BdbOptions& options) {
  uint64_t cache = uint64_t{options.cache_mb} << 20;
  return env->set_cachesize(static_cast<u_int32_t>(cache >> 30),
                            static_cast<u_int32_t>(cache & ((1u << 30) - 1)), 1);
}

}  // namespace

Status ExplainOpenFailure(const std::string& home, int ret) {
  const std::string detail = LastDbError();
  const std::string what = "opening the Berkeley DB environment in " + home;
  if (ret == ENOSPC || Mentions(detail, "No space left on device")) {
    return Status::IOError(what +
                           ": No space left on device (the Berkeley DB region files -- the "
                           "cache, sized to the home within cache_mb, plus a third, and about "
                           "10 MiB of locks and mutexes -- and a log file are allocated at "
                           "open: free some space, or open with a smaller cache) (" +
                           detail + ")");
  }
  for (const char* cause :
       {"Permission denied", "Operation not permitted", "Read-only file system"}) {
    if (Mentions(detail, cause) || Mentions(DbEnv::strerror(ret), cause)) {
      return Status::IOError(what + ": " + detail);
    }
  }
  // A database page that fails its checksum, or a file whose header is
  // gone (recovery reads the pages it replays onto): the file is damaged,
  // not the log; Berkeley DB's message names it.
  if (Mentions(detail, "checksum error: page") || Mentions(detail, "pgin failed") ||
      Mentions(detail, "unexpected file type or format")) {
    return Status::Corruption(
        what + ": a database file is damaged (" + detail + "): `durus-bdb verify " + home +
        "` names it once the home opens, otherwise restore a backup or copy what is readable "
        "with `durus-bdb salvage " +
        home + " DUMP`");
  }
  // Recovery met a log record it cannot read (a checksum mismatch or a
  // record that makes no sense) before the end of the log.  A damaged tail
  // is cut off by recovery (bdb/log_check.h decides first); this is damage
  // recovery cannot step over.  Reopening will fail the same way.
  bool log_damage = Mentions(detail, "checksum") || Mentions(detail, "Log file corrupt") ||
                    Mentions(detail, "log record") || Mentions(detail, "Illegal record type") ||
                    Mentions(detail, "LSN");
  if (ret == DB_RUNRECOVERY && log_damage) {
    std::string file = LogFileOf(detail);
    return Status::Corruption(
        "the log of " + home + " is damaged" + (file.empty() ? "" : " in " + home + "/" + file) +
        " and recovery cannot read past it (" + detail +
        "). The database files are intact up to the last checkpoint: copy what they hold with "
        "`durus-bdb salvage " +
        home +
        " DUMP` and load it with `durus-bdb migrate DUMP NEWHOME`, "
        "or restore a backup (with archived logs: `durus-bdb restore`)");
  }
  return FromDb(ret, what + (detail.empty() ? "" : " (" + detail + ")"));
}

Status CheckHomeAccess(const std::string& home, bool write) {
  // Berkeley DB reports a file it may not write as a failed recovery
  // (DB_RUNRECOVERY, "run recovery"), which sends the user looking for
  // corruption.  Ask the file system first and name the file.
  const int mode = write ? (R_OK | W_OK) : R_OK;
  std::vector<std::string> paths{home};
  if (DIR* d = opendir(home.c_str())) {
    while (struct dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      paths.push_back(home + "/" + n);
    }
    closedir(d);
  }
  for (const std::string& p : paths) {
    if (access(p.c_str(), mode) != 0) {
      int err = errno;
      return Status::IOError("cannot " + std::string(write ? "write " : "read ") + p + ": " +
                             strerror(err) +
                             (write ? " (a read-write open writes every file of the home: check "
                                      "its owner, mode, attributes (chattr -i) and mount, or open "
                                      "it read-only)"
                                    : ""));
    }
  }
  return Status::OK();
}

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

namespace {

// Configure a new handle for `shape`.  `create`: the regions will be
// created (recovery), so write them out as they are made (DB_REGION_INIT;
// the rest of each file is allocated after the open).
int Configure(DbEnv* env, const EnvShape& shape, bool create) {
  int ret = env->set_cachesize(static_cast<u_int32_t>(shape.cache_bytes >> 30),
                               static_cast<u_int32_t>(shape.cache_bytes & ((1u << 30) - 1)), 1);
  if (ret == 0) ret = env->set_lk_max_locks(shape.max_locks);
  if (ret == 0) ret = env->set_lk_max_objects(shape.max_locks);
  if (ret == 0) ret = env->set_lk_tablesize(shape.lock_table_size);
  if (ret == 0) ret = env->set_lk_max_lockers(shape.max_lockers);
  if (ret == 0) ret = env->set_memory_max(0, shape.memory_max);
  if (ret == 0) ret = env->set_lk_detect(DB_LOCK_DEFAULT);
  // Berkeley DB wants log files at least 4x the in-memory log buffer.
  if (ret == 0) ret = env->set_lg_bsize(shape.log_buffer_bytes);
  if (ret == 0) ret = env->set_lg_max(shape.log_file_bytes);
  if (ret == 0) ret = env->set_tx_max(1000);
  // Write the region files out as they are created: without it the open
  // initialises a sparse file through its mapping, and on a full disk the
  // first touch of an unallocated page is a SIGBUS instead of an error.
  if (ret == 0 && create) ret = env->set_flags(DB_REGION_INIT, 1);
  // An archiving home (bdb/log_archive.h) removes logs only once archived:
  // off before open, or recovery's checkpoint would remove them.
  if (ret == 0) ret = env->log_set_config(DB_LOG_AUTO_REMOVE, shape.auto_remove_logs ? 1 : 0);
  // sync commits are written without fsync and then flushed explicitly
  // (group commit, see storage_commit.cc); nosync keeps the log in memory.
  if (ret == 0) ret = env->set_flags(shape.nosync ? DB_TXN_NOSYNC : DB_TXN_WRITE_NOSYNC, 1);
  return ret;
}

constexpr uint32_t kOpenFlags =
    DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_THREAD;

int64_t JoinFileSize(const std::string& home) {
  struct stat st;
  return stat((home + "/" + schema::kJoinFile).c_str(), &st) == 0 ? st.st_size : 0;
}

}  // namespace

Status OpenEnvironment(const std::string& home, const BdbOptions& options, EnvPtr* out,
                       EnvOpenInfo* info, ReplicationState* repl) {
  EnvOpenInfo local;
  EnvOpenInfo& opened = info != nullptr ? *info : local;
  opened = EnvOpenInfo();
  opened.shape = ShapeFor(home, options);
  opened.replicated = repl != nullptr;
  // Recovery recreates the regions: never while a hot backup (bdb/backup.h)
  // is joined to them, e.g. a backup that joined a server which has since
  // stopped.  The backup holds the join lock shared for its whole stay; we
  // hold it exclusively while we open (a backup arriving meanwhile waits),
  // then let it go: a joiner afterwards meets a finished environment.  The
  // caller holds the HomeLock, so no other opener races.
  JoinLock join;
  Status js = join.AcquireExclusive(home, kRecoveryJoinWaitMs);
  if (js.IsBusy()) {
    return Status::Busy("cannot recover " + home + ": a hot backup (durus-bdb backup) is still " +
                        "joined to its environment after " +
                        std::to_string(kRecoveryJoinWaitMs / 1000) + " s; try again when it ends");
  }
  DURUS_RETURN_IF_ERROR(js);
  opened.join_mark = JoinFileSize(home);
  // After a clean close by this boot, with the same shape and no file
  // changed since: join the regions it left (no recovery to run, none of
  // its cost).  The marker is gone from here on, whatever happens.
  // (A replication site takes the marker but always recovers.)
  if (TakeCleanMarker(home, CleanMarkerText(home, opened.shape)) && repl == nullptr) {
    EnvPtr env = NewEnv();
    int ret = Configure(env.get(), opened.shape, /*create=*/false);
    ClearLastDbError();
    if (ret == 0) ret = env->open(home.c_str(), kOpenFlags, 0644);
    // Settings kept in the shared region (a backup turns auto-removal off
    // while it is joined) are this opener's again.
    if (ret == 0) {
      ret = env->log_set_config(DB_LOG_AUTO_REMOVE, opened.shape.auto_remove_logs ? 1 : 0);
    }
    if (ret == 0 && AllocateRegionFiles(home).ok()) {
      opened.joined = true;
      *out = std::move(env);
      return Status::OK();
    }
    // Could not join: recover as if there had been no marker.
  }
  // New regions: forget the joiners of the old ones.
  if (opened.join_mark > 0 && truncate((home + "/" + schema::kJoinFile).c_str(), 0) == 0) {
    opened.join_mark = 0;
  }
  EnvPtr env = NewEnv();
  int ret = Configure(env.get(), opened.shape, /*create=*/true);
  if (ret != 0) return FromDb(ret, "configuring the Berkeley DB environment in " + home);
  uint32_t flags = kOpenFlags | DB_RECOVER;
  // Replication (bdb/replication.h): repmgr is configured before the open.
  if (repl != nullptr) {
    DURUS_RETURN_IF_ERROR(repl->Configure(env.get()));
    flags |= DB_INIT_REP;
  }
  ClearLastDbError();
  ret = env->open(home.c_str(), flags, 0644);
  if (ret != 0) return ExplainOpenFailure(home, ret);
  DURUS_RETURN_IF_ERROR(AllocateRegionFiles(home));
  *out = std::move(env);
  return Status::OK();
}

Status CloseEnvironment(const std::string& home, const BdbOptions& options, const EnvOpenInfo& info,
                        bool no_joiner, EnvPtr* env) {
  if (!*env) return Status::OK();
  DbEnv* raw = env->release();
  int ret = raw->close(0);
  ForgetDbPanicCause(raw);
  delete raw;
  if (ret != 0) return FromDb(ret, "closing the Berkeley DB environment of " + home);
  if (!no_joiner || JoinFileSize(home) != info.join_mark) return Status::OK();
  if (info.replicated) return Status::OK();  // always recovers (OpenEnvironment)
  if (ShapeFor(home, options).Text() == info.shape.Text()) {
    WriteCleanMarker(home, info.shape);
  } else {
    // The home outgrew (or, new, undershot) its regions: the next open
    // recovers into regions of its new shape anyway, so these need not
    // take disk space until then.  (Berkeley DB removes them only if no
    // process is attached.)
    DbEnv remover(DB_CXX_NO_EXCEPTIONS);
    remover.remove(home.c_str(), 0);
  }
  return Status::OK();
}

Status OpenReadOnlySnapshot(const std::string& home, const BdbOptions& options, EnvPtr* out) {
  EnvPtr env = NewEnv();
  int ret = SetCache(env.get(), options);
  if (ret != 0) return FromDb(ret, "configuring a read-only view of " + home);
  // DB_PRIVATE: the cache lives in this process's heap, no region file is
  // written; no log, no transactions, no recovery (the caller checked the
  // home was closed cleanly, so its files are consistent).
  ClearLastDbError();
  ret = env->open(home.c_str(), DB_CREATE | DB_INIT_MPOOL | DB_PRIVATE | DB_THREAD, 0);
  if (ret != 0) return ExplainOpenFailure(home, ret);
  *out = std::move(env);
  return Status::OK();
}

Status OpenBtree(DbEnv* env, const std::string& home, const char* file, bool readonly, DbPtr* out,
                 bool create, bool checksums) {
  DbPtr db(new Db(env, 0));
  // Without exceptions a failed db_create (a panicked environment) leaves a
  // Db without a handle, and every call on it dereferences null.
  if (db->get_DB() == nullptr) {
    return Status::Corruption("cannot open " + home + "/" + file +
                              ": Berkeley DB stopped the environment (" + DbPanicCause() + ")");
  }
  // Page checksums (format 2): every page read from disk is checked, so a
  // damaged page is an error instead of a wrong record.  Only takes effect
  // when the file is created; an existing file keeps what it was made with
  // (format 1 homes: none).
  int ret = checksums ? db->set_flags(DB_CHKSUM) : 0;
  if (ret != 0) return FromDb(ret, "configuring " + home + "/" + file);
  uint32_t flags = DB_THREAD | (readonly ? DB_RDONLY : 0) | (create && !readonly ? DB_CREATE : 0);
  // A transactional environment needs DB_AUTO_COMMIT for an open outside a
  // transaction; a private read-only one (OpenReadOnlySnapshot) has none.
  u_int32_t env_flags = 0;
  if (env->get_open_flags(&env_flags) == 0 && (env_flags & DB_INIT_TXN)) flags |= DB_AUTO_COMMIT;
  ClearLastDbError();
  ret = db->open(nullptr, file, nullptr, DB_BTREE, flags, 0644);
  std::string path = home + "/" + file;
  if (ret == ENOENT && !create) {
    return Status::Corruption(path +
                              " is missing from an initialised home: the home is damaged "
                              "(restore a backup, or `durus-bdb salvage` what remains)");
  }
  if (ret != 0 && LastDbError().find("not a multiple of the pagesize") != std::string::npos) {
    return Status::Corruption(path +
                              " is truncated (its size is not a whole number of pages): "
                              "the home is damaged (restore a backup, or `durus-bdb salvage` what "
                              "remains)");
  }
  if (ret != 0) {
    return FromDb(ret,
                  "opening " + path + (LastDbError().empty() ? "" : " (" + LastDbError() + ")"));
  }
  Status whole = CheckNotTruncated(path);
  if (!whole.ok() && (env_flags & DB_INIT_REP)) {
    // A replication site applies the master's log from repmgr's threads
    // while we open: a file extended in the cache can have its meta page
    // (page 0, written first) on disk before its new last page (seen in
    // the kill loop, journal.db one page "short").  Write the cache out
    // and look again: pages really lost are still missing then.
    env->memp_sync(nullptr);
    whole = CheckNotTruncated(path);
  }
  DURUS_RETURN_IF_ERROR(whole);
  *out = std::move(db);
  return Status::OK();
}

Status CheckNotTruncated(const std::string& path) {
  // The generic meta page (page 0, Berkeley DB's DBMETA): bytes 12-15 the
  // magic (its byte order is the file's), 20-23 the page size, 32-35 the
  // number of the last page.  A file shorter than its last page has lost
  // pages: Berkeley DB would read the missing ones as empty, and a store
  // would look smaller than it is with no error at all.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::OK();  // the open that follows reports it
  unsigned char meta[36];
  ssize_t got = pread(fd, meta, sizeof meta, 0);
  struct stat st;
  int sr = fstat(fd, &st);
  close(fd);
  if (got != static_cast<ssize_t>(sizeof meta) || sr != 0) {
    return Status::Corruption(path +
                              " is truncated (shorter than its first page): the home is "
                              "damaged (restore a backup, or `durus-bdb salvage` what remains)");
  }
  auto u32 = [&](int at, bool swap) {
    uint32_t v;
    memcpy(&v, meta + at, 4);
    return swap ? __builtin_bswap32(v) : v;
  };
  constexpr uint32_t kBtreeMagic = 0x053162;
  bool swap = u32(12, false) != kBtreeMagic;
  if (swap && u32(12, true) != kBtreeMagic) return Status::OK();  // not ours to judge
  uint64_t page_size = u32(20, swap);
  uint64_t last_pgno = u32(32, swap);
  uint64_t need = (last_pgno + 1) * page_size;
  if (static_cast<uint64_t>(st.st_size) < need) {
    return Status::Corruption(path + " is truncated: " + std::to_string(st.st_size) +
                              " bytes, but its last page (" + std::to_string(last_pgno) +
                              ") ends at " + std::to_string(need) +
                              ": the home is damaged (restore a backup, or `durus-bdb salvage` "
                              "what remains)");
  }
  return Status::OK();
}

}  // namespace durus::bdb
