#include "bdb/backup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <memory>
#include <thread>
#include <vector>

#include "bdb/bdb_storage.h"
#include "bdb/environment.h"
#include "bdb/handles.h"
#include "bdb/home_lock.h"
#include "bdb/home_options.h"
#include "bdb/log_archive.h"
#include "bdb/replication.h"
#include "bdb/schema.h"
#include "util/file.h"

namespace durus {

namespace bdb {

namespace {
thread_local std::string t_backup_db_error;
void RememberBackupError(const DbEnv*, const char*, const char* msg) { t_backup_db_error = msg; }

std::string DbDetail() { return t_backup_db_error.empty() ? "" : " (" + t_backup_db_error + ")"; }
}  // namespace

}  // namespace bdb

namespace {

bool DirIsEmptyOrMissing(const std::string& p, bool* missing) {
  DIR* d = opendir(p.c_str());
  if (d == nullptr) {
    *missing = errno == ENOENT;
    return *missing;
  }
  *missing = false;
  bool empty = true;
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  closedir(d);
  return empty;
}

void CountFiles(const std::string& dir, uint64_t* files, uint64_t* bytes) {
  *files = *bytes = 0;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    if (stat((dir + "/" + n).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      ++*files;
      *bytes += static_cast<uint64_t>(st.st_size);
    }
  }
  closedir(d);
}

// DEST/restore-base: the files of DEST as DbEnv::backup copied them, and
// backup-info (bdb/backup.h).
Status KeepRestoreBase(const std::string& home, const std::string& dest, time_t started,
                       time_t finished) {
  const std::string base = dest + "/" + kRestoreBaseDir;
  if (mkdir(base.c_str(), 0755) != 0) {
    return Status::IOError("cannot create " + base + ": " + strerror(errno));
  }
  DIR* d = opendir(dest.c_str());
  if (d == nullptr) return Status::IOError("cannot read " + dest + ": " + strerror(errno));
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    struct stat st;
    std::string n = e->d_name;
    if (stat((dest + "/" + n).c_str(), &st) == 0 && S_ISREG(st.st_mode)) names.push_back(n);
  }
  closedir(d);
  for (const std::string& n : names) {
    DURUS_RETURN_IF_ERROR(bdb::CopyFileDurably(dest + "/" + n, base + "/" + n));
  }
  std::vector<uint32_t> logs;
  DURUS_RETURN_IF_ERROR(bdb::ListLogFiles(base, &logs));
  if (logs.empty()) return Status::IOError("the backup copied no log file into " + dest);
  bdb::LogArchiveConfig archive;
  std::string home_id = bdb::ReadLogArchiveConfig(home, &archive).ok() ? archive.home_id : "none";
  char* real = realpath(home.c_str(), nullptr);
  std::string abs_home = real != nullptr ? real : home;
  free(real);
  std::string info = "home " + abs_home + "\nhome_id " + home_id + "\nstarted " +
                     std::to_string(started) + "\nfinished " + std::to_string(finished) +
                     "\nfirst_log " + std::to_string(logs.front()) + "\nlast_log " +
                     std::to_string(logs.back()) + "\n";
  return bdb::WriteFileAtomically(base + "/" + kBackupInfoFile, info);
}

// Catastrophic recovery in DEST (a private environment: no region files
// are left behind), then a checkpoint and removal of the logs it no longer
// needs.
Status RecoverCopy(const std::string& dest) {
  bdb::EnvPtr env(new DbEnv(DB_CXX_NO_EXCEPTIONS));
  env->set_errcall(&bdb::RememberBackupError);
  bdb::t_backup_db_error.clear();
  uint32_t flags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL |
                   DB_PRIVATE | DB_RECOVER_FATAL;
  int ret = env->set_cachesize(0, 32u << 20, 1);
  if (ret == 0) ret = env->open(dest.c_str(), flags, 0644);
  if (ret != 0) return bdb::FromDb(ret, "recovering the copy in " + dest + bdb::DbDetail());
  ret = env->txn_checkpoint(0, 0, DB_FORCE);
  if (ret == 0) ret = env->log_archive(nullptr, DB_ARCH_REMOVE);
  if (ret != 0) return bdb::FromDb(ret, "checkpointing the copy in " + dest);
  return Status::OK();
}

// The copy was opened as a home (to read its counters), which built
// Berkeley DB's region files: tens of MB a backup does not need, since
// every open of a home rebuilds them (recovery).  Removed once closed.
Status RemoveRegionFiles(const std::string& dest) {
  DbEnv env(DB_CXX_NO_EXCEPTIONS);
  int ret = env.remove(dest.c_str(), 0);
  if (ret != 0) return bdb::FromDb(ret, "removing the region files of " + dest);
  return Status::OK();
}

}  // namespace

Status OpenCopiedHome(const std::string& dest, std::unique_ptr<BdbHandle>* out) {
  BdbOptions o;
  o.gc_background = false;
  o.create_if_missing = false;
  return OpenBdbStorage(dest, o, out);
}

Status BackupHome(const std::string& home, const std::string& dest, const BackupOptions& options,
                  BackupReport* report) {
  *report = BackupReport();
  const auto t0 = std::chrono::steady_clock::now();
  if (!IsBdbHome(home)) return Status::InvalidArgument(home + " is not a durus-bdb home");
  bool missing = false;
  if (!DirIsEmptyOrMissing(dest, &missing)) {
    return Status::InvalidArgument("backup destination " + dest + " exists and is not empty");
  }
  if (missing) DURUS_RETURN_IF_ERROR(bdb::MakeDirs(dest));

  bdb::HomeLock home_lock;
  bdb::JoinLock join_lock;
  bdb::EnvPtr env;
  Status s = home_lock.Acquire(home);
  if (s.ok()) {
    // Nobody uses HOME: open it normally (recovery), as its only user.
    BdbOptions o;
    DURUS_RETURN_IF_ERROR(bdb::OpenEnvironment(home, o, &env));
  } else if (s.IsBusy()) {
    report->online = true;
    report->holder = bdb::DescribeHolder(home);
    DURUS_RETURN_IF_ERROR(join_lock.AcquireShared(home, options.join_timeout_ms));
    env.reset(new DbEnv(DB_CXX_NO_EXCEPTIONS));
    env->set_errcall(&bdb::RememberBackupError);
    bdb::t_backup_db_error.clear();
    int ret = env->open(home.c_str(), DB_JOINENV | DB_THREAD, 0644);
    if (ret != 0) {
      env.reset();
      return bdb::FromDb(ret, "joining the live environment of " + home + bdb::DbDetail());
    }
  } else {
    return s;
  }

  const time_t started = time(nullptr);
  // No log file may disappear between the copy of the databases and the
  // copy of the logs.  (In the shared region: the holder's checkpoints stop
  // removing logs until we turn it back on.)
  // Put back what was there: an archiving holder (bdb/log_archive.h) runs
  // with auto-removal off, and turning it on would remove unarchived logs.
  int auto_remove = 0;
  int ret = env->log_get_config(DB_LOG_AUTO_REMOVE, &auto_remove);
  if (ret == 0 && auto_remove != 0) ret = env->log_set_config(DB_LOG_AUTO_REMOVE, 0);
  if (ret == 0) {
    bdb::t_backup_db_error.clear();
    ret = env->backup(dest.c_str(), DB_CREATE);
  }
  if (auto_remove != 0) {
    int ret2 = env->log_set_config(DB_LOG_AUTO_REMOVE, 1);
    if (ret == 0) ret = ret2;
  }
  std::string detail = bdb::DbDetail();
  env.reset();  // leaves the environment (the holder's stays up)
  join_lock.Release();
  home_lock.Release();
  if (ret != 0) return bdb::FromDb(ret, "copying " + home + " to " + dest + detail);
  // A site of a replication group (a replica or the master, hot or idle):
  // DbEnv::backup copied Berkeley DB's replication database too.  The
  // copy is a plain home -- the group's data at one moment, not a member:
  // membership stays with the sites (a copy holding it would be refused
  // by every opener, bdb/replication.h, and started as a site would claim
  // to be the one it was copied from).  doc/replication.md, "Backup".
  if (bdb::IsReplicationSite(dest)) {
    DURUS_RETURN_IF_ERROR(bdb::RemoveReplicationFiles(dest));
    report->from_replication_site = true;
  }
  // The options the home keeps (bdb/home_options.h) go with it: a restored
  // home must not fall back to the default durability.  Only a holder of
  // the HomeLock writes the file, and HOME is held (by us or the server).
  const std::string kept = home + "/" + kHomeOptionsFile;
  if (util::PathExists(kept)) {
    DURUS_RETURN_IF_ERROR(bdb::CopyFileDurably(kept, dest + "/" + kHomeOptionsFile));
  }
  CountFiles(dest, &report->files_copied, &report->bytes_copied);
  if (options.restore_base) {
    DURUS_RETURN_IF_ERROR(KeepRestoreBase(home, dest, started, time(nullptr)));
    report->restore_base = true;
  }

  DURUS_RETURN_IF_ERROR(RecoverCopy(dest));
  // Recovery recreates the replication database when the copied log still
  // holds its creation (a young group): out again.
  if (report->from_replication_site) DURUS_RETURN_IF_ERROR(bdb::RemoveReplicationFiles(dest));
  // DEST is a home: open it as one and read its counters.
  std::unique_ptr<BdbHandle> copy;
  DURUS_RETURN_IF_ERROR(OpenCopiedHome(dest, &copy));
  StorageStats stats;
  s = copy->GetStats(&stats);
  Status c = copy->Close();
  copy.reset();
  DURUS_RETURN_IF_ERROR(s);
  DURUS_RETURN_IF_ERROR(c);
  DURUS_RETURN_IF_ERROR(RemoveRegionFiles(dest));
  report->objects = stats.object_count;
  report->record_bytes = stats.record_bytes;
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return Status::OK();
}

}  // namespace durus
