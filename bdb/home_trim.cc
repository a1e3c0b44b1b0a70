#include "bdb/home_trim.h"

#include <db_cxx.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

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

// marks.db holds a trace's marks and state; a finished trace leaves it
// empty but keeps its pages.  Removed when empty (the next trace creates
// it again: Trace::OpenMarksLocked).
Status RemoveEmptyMarks(DbEnv* env, const std::string& home, bool* removed) {
  *removed = false;
  if (!util::PathExists(home + "/" + schema::kMarksFile)) return Status::OK();
  bool empty = false;
  {
    DbPtr marks;
    DURUS_RETURN_IF_ERROR(
        OpenBtree(env, home, schema::kMarksFile, /*readonly=*/false, &marks, /*create=*/false));
    Dbc* c = nullptr;
    int ret = marks->cursor(nullptr, &c, 0);
    if (ret != 0) return FromDb(ret, "reading " + home + "/" + schema::kMarksFile);
    Dbt key, data;
    key.set_flags(DB_DBT_MALLOC);
    data.set_flags(DB_DBT_MALLOC);
    ret = c->get(&key, &data, DB_FIRST);
    free(key.get_data());
    free(data.get_data());
    c->close();
    if (ret != 0 && ret != DB_NOTFOUND) {
      return FromDb(ret, "reading " + home + "/" + schema::kMarksFile);
    }
    empty = ret == DB_NOTFOUND;
  }
  if (!empty) return Status::OK();  // a trace in progress: it resumes at the next open
  int ret = env->dbremove(nullptr, schema::kMarksFile, nullptr, DB_AUTO_COMMIT);
  if (ret != 0) return FromDb(ret, "removing the empty " + home + "/" + schema::kMarksFile);
  *removed = true;
  return Status::OK();
}

Status Trim(const std::string& home, const BdbOptions& options, TrimReport* report) {
  EnvPtr env;
  DURUS_RETURN_IF_ERROR(OpenEnvironment(home, options, &env));
  // A hot backup that joined after recovery needs every log file until it
  // leaves; held (never waited for) until the logs are gone.
  JoinLock join;
  if (!join.AcquireExclusive(home, 0).ok()) {
    report->kept_reason = "a hot backup (durus-bdb backup) is joined to the home: it needs them";
    return Status::OK();
  }
  DURUS_RETURN_IF_ERROR(RemoveEmptyMarks(env.get(), home, &report->marks_removed));
  // Everything in the tables, and nothing logged after this checkpoint.
  int ret = env->txn_checkpoint(0, 0, DB_FORCE);
  if (ret != 0) return FromDb(ret, "checkpoint of " + home);
  for (const char* f : {schema::kRecordsFile, schema::kRefcountsFile, schema::kPendingFile,
                        schema::kMetaFile, schema::kMarksFile}) {
    if (!util::PathExists(home + "/" + f)) continue;
    ret = env->lsn_reset(f, 0);
    if (ret != 0) return FromDb(ret, std::string("resetting the log sequence numbers of ") + f);
  }
  DbEnv* raw = env.release();
  ret = raw->close(0);
  delete raw;
  if (ret != 0) return FromDb(ret, "closing the environment of " + home);
  // Oldest first: a crash leaves the newest files, contiguous.
  std::vector<uint32_t> logs;
  DURUS_RETURN_IF_ERROR(ListLogFiles(home, &logs));
  for (uint32_t n : logs) {
    const std::string path = home + "/" + LogFileName(n);
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::IOError("cannot remove " + path + ": " + strerror(errno));
    }
    ++report->log_files_removed;
  }
  DbEnv remover(DB_CXX_NO_EXCEPTIONS);
  ret = remover.remove(home.c_str(), 0);
  if (ret != 0) return FromDb(ret, "removing the region files of " + home);
  DURUS_RETURN_IF_ERROR(SyncDirectory(home));
  report->trimmed = true;
  return Status::OK();
}

}  // namespace
}  // namespace bdb

Status TrimClosedHome(const std::string& home, const BdbOptions& given, TrimReport* report) {
  *report = TrimReport();
  bdb::HomeLock lock;
  DURUS_RETURN_IF_ERROR(lock.Acquire(home));
  BdbOptions options = given;
  options.readonly = false;
  options.create_if_missing = false;
  Status s = ResolveHomeOptions(home, &options);
  // (The open before a trim refuses such a home already; this is the
  // trim's own guard.)
  if (s.ok() && bdb::IsReplicationSite(home)) s = bdb::ReplicationSiteRefusal(home);
  if (s.ok() && bdb::WillArchiveLogs(home, options)) {
    // Point-in-time restore replays the archived logs over a backup: the
    // log sequence must go on, and a file leaves only once archived.
    report->kept_reason = "log archiving is on (" + home + "/" + bdb::kArchiveConfigFile +
                          "): each log file stays until it is full and archived";
    return Status::OK();
  }
  if (s.ok()) s = bdb::Trim(home, options, report);
  // A failure leaves the holder's description: the next opener treats the
  // home as not closed cleanly and checks its log first.
  lock.Release(/*clean=*/s.ok());
  return s;
}

}  // namespace durus
