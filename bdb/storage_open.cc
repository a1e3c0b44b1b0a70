// Opening, creating and closing a home.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "bdb/backup.h"
#include "bdb/environment.h"
#include "bdb/home_lock.h"
#include "bdb/home_options.h"
#include "bdb/log_check.h"
#include "bdb/schema.h"
#include "bdb/storage_impl.h"
#include "bdb/verify_pages.h"
#include "engine/record.h"
#include "util/file.h"

namespace durus {

Status ParseDurability(const std::string& name, Durability* out) {
  if (name == "sync") {
    *out = Durability::kSync;
  } else if (name == "write_nosync" || name == "write-nosync") {
    *out = Durability::kWriteNoSync;
  } else if (name == "nosync") {
    *out = Durability::kNoSync;
  } else {
    return Status::InvalidArgument("unknown durability '" + name +
                                   "' (expected sync, write_nosync or nosync)");
  }
  return Status::OK();
}

const char* DurabilityName(Durability d) {
  switch (d) {
    case Durability::kSync: return "sync";
    case Durability::kWriteNoSync: return "write_nosync";
    case Durability::kNoSync: return "nosync";
  }
  return "?";
}

namespace {

using util::IsDirectory;  // util/file.h
using util::PathExists;

bool DirectoryIsEmpty(const std::string& p) {
  DIR* d = opendir(p.c_str());
  if (d == nullptr) return false;
  bool empty = true;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") {
      empty = false;
      break;
    }
  }
  closedir(d);
  return empty;
}

// A regular file where a home should be: most likely a Durus storage file
// someone means to open (their FileStorage path, now a directory).
Status NotADirectory(const std::string& path) {
  char head[8] = {};
  std::ifstream in(path, std::ios::binary);
  in.read(head, sizeof head);
  const std::string h(head, static_cast<size_t>(in.gcount()));
  if (h.compare(0, 8, "SHELF-1\n") == 0 || h.compare(0, 6, std::string("DFS20\0", 6)) == 0) {
    return Status::InvalidArgument(path + " is a Durus FileStorage file: durus-bdb migrate " +
                                   path + " HOME");
  }
  return Status::InvalidArgument(path + " is not a durus-bdb home (a file)");
}

}  // namespace

bool IsBdbHome(const std::string& home) { return PathExists(home + "/" + schema::kMetaFile); }

Status OpenBdbStorage(const std::string& home, const BdbOptions& options,
                      std::unique_ptr<BdbHandle>* out) {
  auto storage = std::make_unique<bdb::BdbStorage>(home, options);
  DURUS_RETURN_IF_ERROR(storage->Open());
  *out = std::move(storage);
  return Status::OK();
}

Status OpenBdbStorage(const std::string& home, const BdbOptions& options,
                      std::unique_ptr<Storage>* out) {
  std::unique_ptr<BdbHandle> handle;
  DURUS_RETURN_IF_ERROR(OpenBdbStorage(home, options, &handle));
  *out = std::move(handle);
  return Status::OK();
}

namespace bdb {

BdbStorage::BdbStorage(std::string home, BdbOptions options)
    : home_(std::move(home)), options_(options) {}

BdbStorage::~BdbStorage() { Close().IgnoreError(); }

std::string BdbStorage::Describe() const {
  return "BerkeleyDBStorage(" + home_ + ", durability=" + DurabilityName(options_.durability) +
         (options_.readonly ? ", readonly" : "") + ")";
}

Status BdbStorage::CheckOpen() const {
  return closed_.load() ? Status::Closed("storage " + home_ + " is closed") : Status::OK();
}

uint32_t BdbStorage::CommitFlags() const {
  // sync: written without fsync under write_mu_, then Flush() outside it
  // (group commit).  The others are Berkeley DB's own modes.
  return options_.durability == Durability::kNoSync ? DB_TXN_NOSYNC : DB_TXN_WRITE_NOSYNC;
}

Status BdbStorage::Open() {
  if (home_.empty()) return Status::InvalidArgument("empty home path");
  if (!PathExists(home_)) {
    if (!options_.create_if_missing || options_.readonly) {
      return Status::NotFound("home " + home_ + " does not exist");
    }
    DURUS_RETURN_IF_ERROR(bdb::MakeDirs(home_));
  } else if (!IsDirectory(home_)) {
    return NotADirectory(home_);
  }
  const bool creating = !IsBdbHome(home_);
  if (creating) {
    bool empty = DirectoryIsEmpty(home_);
    bool only_lock = !empty && PathExists(home_ + "/" + schema::kLockFile) &&
                     !PathExists(home_ + "/" + schema::kRecordsFile);
    if (!empty && !only_lock) {
      return Status::InvalidArgument("home " + home_ +
                                     " is not a durus-bdb home (no meta.db) and is not empty");
    }
    if (!options_.create_if_missing || options_.readonly) {
      return Status::NotFound("home " + home_ + " is not a durus-bdb home (no meta.db)");
    }
  }
  // A read-only open of a home we may not write (a read-only mount):
  // recovery and the region files would need writes, so read a clean
  // home's files through a private cache instead.
  snapshot_ = options_.readonly && access(home_.c_str(), W_OK) != 0;
  // A clean close empties the lock file; one that still names a process
  // was left by a crash, and recovery will read the log (OpenEnv).
  previous_holder_crashed_ = !DescribeHolder(home_).empty();
  Status s = snapshot_ ? lock_.AcquireSharedReadOnly(home_) : lock_.Acquire(home_);
  if (!s.ok()) {
    // The lock file is the first thing we write: say why we cannot.
    if (s.IsIOError()) DURUS_RETURN_IF_ERROR(CheckHomeAccess(home_, !options_.readonly));
    return s;
  }
  s = CheckHomeAccess(home_, !options_.readonly);
  // The opener's options completed from DURUS_BDB_* and the home's kept
  // ones, before anything reads them (bdb/home_options.h).
  const BdbOptions given = options_;
  if (s.ok()) s = ResolveHomeOptions(home_, &options_);
  if (s.ok() && !options_.readonly && !options_.replication.enabled() && IsReplicationSite(home_)) {
    s = ReplicationSiteRefusal(home_);
  }
  // Before the environment: an archiving home opens with auto-removal off.
  if (s.ok() && !options_.readonly) s = SetUpLogArchive(home_, options_, &archive_);
  // Files shorter than their last page before recovery (see
  // VerifyShortFilesAfterRecovery).
  std::vector<const char*> short_files;
  if (s.ok() && previous_holder_crashed_ && !snapshot_) short_files = ShortFiles();
  bool damaged = false;  // the verification's verdict, reported as it is
  if (s.ok()) s = OpenEnv(short_files, &damaged);
  if (s.ok()) s = OpenDatabases();
  if (s.ok()) s = LoadMeta();
  if (s.ok() && repl_ != nullptr) s = OpenJournal();  // replication: bdb/journal.h
  if (!s.ok() && !damaged) s = ExplainLogEndingEarly(s);
  // A new home keeps the mode its creator asked for; later explicit
  // options apply to their open only.
  if (s.ok() && creating && !options_.readonly) s = RecordCreationOptions(home_, given);
  if (!s.ok()) {
    records_.reset();
    refcounts_.reset();
    pending_.reset();
    meta_.reset();
    env_.reset();
    // Keep the lock file's description when the last holder had crashed:
    // this failed open must not make the home look cleanly closed.
    lock_.Release(/*clean=*/!previous_holder_crashed_);
    return s;
  }
  closed_ = false;
  StartBackground();
  return Status::OK();
}

std::vector<const char*> BdbStorage::ShortFiles() const {
  std::vector<const char*> out;
  for (const char* f : {schema::kRecordsFile, schema::kRefcountsFile, schema::kPendingFile,
                        schema::kMetaFile, schema::kMarksFile}) {
    if (!CheckNotTruncated(home_ + "/" + f).ok()) out.push_back(f);
  }
  return out;
}

Status BdbStorage::VerifyShortFilesAfterRecovery(const std::vector<const char*>& files) {
  // After a crash a file may legitimately be shorter than its meta page
  // says (the meta page written before a newly allocated page); recovery
  // then writes the missing pages from the log.  But pages lost to a
  // truncation are "rewritten" the same way, as empty pages, and the file
  // passes every later check while records that lived there come back
  // wrong (the corruption matrix's K1).  So a file that was short before
  // recovery gets Berkeley DB's structural verification after it: rare,
  // and it tells the two apart.
  if (files.empty()) return Status::OK();
  DURUS_RETURN_IF_ERROR(FromDb(env_->memp_sync(nullptr), "writing the cache of " + home_));
  for (const char* f : files) {
    std::vector<DamagedPage> pages;
    uint64_t more = 0;
    bool examined = false;
    DURUS_RETURN_IF_ERROR(VerifyTableFile(home_, f, 4, &pages, &more, &examined));
    if (!pages.empty()) {
      return Status::Corruption(home_ + "/" + f +
                                " was shorter than its last page when the home "
                                "was opened after a crash, and recovery could not restore what "
                                "was lost (" +
                                pages.front().message +
                                "): the home is damaged (restore a backup, or `durus-bdb "
                                "salvage` what remains)");
    }
  }
  return Status::OK();
}

Status BdbStorage::OpenEnv(const std::vector<const char*>& short_files, bool* damaged) {
  if (snapshot_) return OpenReadOnlySnapshot(home_, options_, &env_);
  const auto start = std::chrono::steady_clock::now();
  // A holder that died after writing the clean marker (bdb/env_shape.h)
  // but before releasing the lock: recover all the same.
  if (previous_holder_crashed_) RemoveCleanMarker(home_);
  DURUS_RETURN_IF_ERROR(CheckLogBeforeRecovery());
  // Replication: configured in OpenEnvironment, started once it is open
  // (bdb/replication.h); a replica's tables arrive by replication.
  if (options_.replication.enabled() && !options_.readonly) {
    repl_ = std::make_unique<ReplicationState>(options_.replication, options_.durability);
  }
  Status s = OpenEnvironment(home_, options_, &env_, &env_info_, repl_.get());
  // Between recovery and repmgr_start: the verification reads the files
  // from disk through a private cache, so they must hold what recovery
  // left and nothing else.  Once a site is started, repmgr's threads
  // apply the master's log (after rolling back to where the logs agree)
  // while the cache writes pages out in no particular order: a split
  // page on disk before its new page reads as "invalid next_pgno", a
  // meta page before the page it counts as "last_pgno is not correct"
  // (both seen in the kill loop, on homes that verify clean once the
  // cache is written out).  And a damaged site must not join its group.
  if (s.ok()) {
    s = VerifyShortFilesAfterRecovery(short_files);
    *damaged = !s.ok();
  }
  if (s.ok() && repl_ != nullptr) s = repl_->Start(env_.get());
  recovery_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

Status BdbStorage::ExplainLogEndingEarly(const Status& failure) const {
  // Pages stamped with LSNs past the end of the log: Berkeley DB refuses
  // to open such a file ("file meta.db has LSN 1/88254, past end of log at
  // 1/551") or to write to it (EINVAL), which read as a moved database or
  // a bare "Invalid argument".  The log lost records the database files
  // already hold: it was cut (a torn tail we cut off was more than a torn
  // write) or log files are missing.  Messages kept since the last
  // ClearLastDbError, i.e. from the failing step of this open.
  std::string why = failure.ToString() + "; " + LastDbError();
  size_t at = why.find("past end of log at ");
  if (at == std::string::npos && log_cut_at_.empty()) return failure;
  std::string where = log_cut_at_;
  if (where.empty()) {
    char name[32];
    snprintf(name, sizeof name, "log.%010lu", strtoul(why.c_str() + at + 19, nullptr, 10));
    where = home_ + "/" + name;
  }
  size_t bdb = why.find("BDB2506");
  std::string detail =
      bdb == std::string::npos ? failure.ToString() : why.substr(bdb, why.find(';', bdb) - bdb);
  return Status::Corruption(
      "the log of " + home_ + " ends before changes its database files already hold (" + detail +
      "): " + where +
      " was cut short or log files are missing, so the home cannot be "
      "recovered. Copy what the database files hold with `durus-bdb salvage " +
      home_ + " DUMP` and load it with `durus-bdb migrate DUMP NEWHOME`, or restore a backup");
}

Status BdbStorage::CheckLogBeforeRecovery() {
  // Recovery cuts the log at the first record it cannot read in the last
  // log file and zeroes the rest (bdb/log_check.h).  After a crash it then
  // replays what is left: only a torn tail may be cut.  After a clean
  // close the database files already hold everything, but pages stamped
  // with LSNs past the cut make every later write fail: the damaged log is
  // set aside instead.  (A clean close ends with a checkpoint in the last
  // file, so only that file matters then.)
  LogCheck check;
  DURUS_RETURN_IF_ERROR(CheckLog(home_, /*last_file_only=*/!previous_holder_crashed_, &check));
  if (!check.damaged) return Status::OK();
  std::string saved;
  if (!previous_holder_crashed_) {
    DURUS_RETURN_IF_ERROR(ResetDamagedLog(home_, &saved));
    ReportRecoveryNotice(home_, "recovery of " + home_ + ": its log is damaged in " + check.file +
                                    " at offset " + std::to_string(check.offset) +
                                    "; the home was closed cleanly, so its database files hold "
                                    "every commit: a new log was started (the old one is kept "
                                    "in " +
                                    saved + ")");
    return Status::OK();
  }
  if (!check.torn_tail()) {
    return Status::Corruption(
        "the log of " + home_ + " is damaged in " + home_ + "/" + check.file + " at offset " +
        std::to_string(check.offset) + ", and " + std::to_string(check.intact_after) +
        " intact log records (commits) follow the damage: recovery would drop them, so "
        "nothing was changed. The database files hold the home as of its last checkpoint: "
        "copy what they hold with `durus-bdb salvage " +
        home_ + " DUMP` and load it with `durus-bdb migrate DUMP NEWHOME`, or restore a backup");
  }
  DURUS_RETURN_IF_ERROR(SaveTornTail(home_, check, &saved));
  log_cut_at_ = home_ + "/" + check.file + " at offset " + std::to_string(check.offset);
  ReportRecoveryNotice(home_, "recovery of " + home_ + ": the last " +
                                  std::to_string(check.bytes_after) + " bytes of its log (" +
                                  check.file + " from offset " + std::to_string(check.offset) +
                                  ") cannot be read (a write torn by the crash); the commits in "
                                  "them are rolled back (the bytes are kept in " +
                                  saved + ")");
  return Status::OK();
}

Status BdbStorage::OpenDatabases() {
  // meta.db first: a new home is recognised by it (IsBdbHome), so a crash
  // while the databases are being created leaves either no database file
  // (Open treats the directory as empty) or meta.db and some of the others
  // (the next open creates the rest and initialises meta).  The other way
  // round, a crash between records.db and meta.db left a directory no open
  // would accept.
  struct Spec {
    DbPtr* db;
    const char* file;
  } specs[] = {{&meta_, schema::kMetaFile},
               {&records_, schema::kRecordsFile},
               {&refcounts_, schema::kRefcountsFile},
               {&pending_, schema::kPendingFile}};
  // Once meta.db holds a format version the home is initialised (meta is
  // initialised last, after every file exists): a database file missing
  // then is damage, never a reason to create an empty one.
  bool initialised = false;
  for (const Spec& spec : specs) {
    DURUS_RETURN_IF_ERROR(OpenBtree(env_.get(), home_, spec.file, options_.readonly, spec.db,
                                    !initialised, options_.page_checksums));
    if (spec.db == &meta_) {
      Dbt key = InDbt(schema::kMetaFormatVersion, strlen(schema::kMetaFormatVersion));
      std::string v;
      int ret = GetInto(meta_.get(), nullptr, &key, &v, 0);
      // Only "no such entry" means a new home: an unreadable meta.db (a
      // page failing its checksum panics the environment) is damage, and
      // going on would create missing files in it.
      if (ret != 0 && ret != DB_NOTFOUND) {
        return FromDb(ret, "reading " + home_ + "/" + schema::kMetaFile);
      }
      initialised = ret == 0;
    }
  }
  return Status::OK();
}

namespace {

Status GetMeta(Db* meta, DbTxn* txn, const char* name, std::string* value) {
  Dbt key = InDbt(name, strlen(name));
  int ret = GetInto(meta, txn, &key, value, 0);
  return FromDb(ret, std::string("reading meta ") + name);
}

Status GetMetaU64(Db* meta, const char* name, uint64_t* v) {
  std::string s;
  DURUS_RETURN_IF_ERROR(GetMeta(meta, nullptr, name, &s));
  if (s.size() != 8) return Status::Corruption(std::string("meta ") + name + " is not 8 bytes");
  *v = GetU64(s.data());
  return Status::OK();
}

Status PutMeta(Db* meta, DbTxn* txn, const char* name, const std::string& value) {
  Dbt key = InDbt(name, strlen(name));
  Dbt data = InDbt(value.data(), value.size());
  return FromDb(meta->put(txn, &key, &data, 0), std::string("writing meta ") + name);
}

std::string U64(uint64_t v) {
  std::string s;
  PutU64(&s, v);
  return s;
}

}  // namespace

Status AddToMetaCounter(const char* name, uint64_t value, int64_t delta, uint64_t* out) {
  if (delta < 0 && static_cast<uint64_t>(-(delta + 1)) + 1 > value) {
    return Status::Corruption(std::string("meta counter ") + name + " would go below zero (" +
                              std::to_string(value) + " " + std::to_string(delta) +
                              "): the counters disagree with the tables; nothing was written "
                              "(run `durus-bdb verify HOME` and report this)");
  }
  *out = value + static_cast<uint64_t>(delta);
  return Status::OK();
}

Status BdbStorage::CountersAfter(int64_t objects_delta, int64_t bytes_delta, int64_t pending_delta,
                                 uint64_t* objects, uint64_t* bytes, uint64_t* pending) const {
  DURUS_RETURN_IF_ERROR(
      AddToMetaCounter(schema::kMetaObjectCount, object_count_, objects_delta, objects));
  DURUS_RETURN_IF_ERROR(
      AddToMetaCounter(schema::kMetaRecordBytes, record_bytes_, bytes_delta, bytes));
  return AddToMetaCounter(schema::kMetaPendingCount, pending_count_, pending_delta, pending);
}

Status BdbStorage::PutMetaCounters(DbTxn* txn, uint64_t next_oid, uint64_t objects, uint64_t bytes,
                                   uint64_t pending) {
  DURUS_RETURN_IF_ERROR(PutMeta(meta_.get(), txn, schema::kMetaNextOid, U64(next_oid)));
  DURUS_RETURN_IF_ERROR(PutMeta(meta_.get(), txn, schema::kMetaObjectCount, U64(objects)));
  DURUS_RETURN_IF_ERROR(PutMeta(meta_.get(), txn, schema::kMetaRecordBytes, U64(bytes)));
  return PutMeta(meta_.get(), txn, schema::kMetaPendingCount, U64(pending));
}

Status BdbStorage::InitializeMeta(DbTxn* txn) {
  std::string version;
  // Format 1 is format 2 without page checksums (schema.h).
  PutU32(&version, options_.page_checksums ? schema::kFormatVersion : 1);
  DURUS_RETURN_IF_ERROR(PutMeta(meta_.get(), txn, schema::kMetaFormatVersion, version));
  DURUS_RETURN_IF_ERROR(PutMeta(meta_.get(), txn, schema::kMetaState, schema::kStateComplete));
  return PutMetaCounters(txn, 0, 0, 0, 0);
}

Status BdbStorage::LoadMeta() {
  std::string version;
  Status s = GetMeta(meta_.get(), nullptr, schema::kMetaFormatVersion, &version);
  if (s.IsNotFound()) {
    if (options_.readonly) return Status::InvalidArgument("home " + home_ + " is not initialised");
    Txn txn;
    DURUS_RETURN_IF_ERROR(FromDb(txn.Begin(env_.get()), "begin"));
    DURUS_RETURN_IF_ERROR(InitializeMeta(txn.get()));
    DURUS_RETURN_IF_ERROR(FromDb(txn.Commit(0), "initialising " + home_));
    DURUS_RETURN_IF_ERROR(GetMeta(meta_.get(), nullptr, schema::kMetaFormatVersion, &version));
  } else if (!s.ok()) {
    return s;
  }
  if (version.size() != 4 || GetU32(version.data()) < schema::kMinFormatVersion ||
      GetU32(version.data()) > schema::kFormatVersion) {
    return Status::InvalidArgument(
        "home " + home_ + " has format version " +
        (version.size() == 4 ? std::to_string(GetU32(version.data())) : "?") +
        "; this durus-bdb reads versions " + std::to_string(schema::kMinFormatVersion) + " to " +
        std::to_string(schema::kFormatVersion));
  }
  format_version_ = GetU32(version.data());
  std::string state;
  DURUS_RETURN_IF_ERROR(GetMeta(meta_.get(), nullptr, schema::kMetaState, &state));
  if (state != schema::kStateComplete) {
    return Status::InvalidArgument("home " + home_ +
                                   " holds an incomplete migration; re-run durus-bdb migrate");
  }
  DURUS_RETURN_IF_ERROR(GetMetaU64(meta_.get(), schema::kMetaNextOid, &max_stored_next_));
  DURUS_RETURN_IF_ERROR(GetMetaU64(meta_.get(), schema::kMetaObjectCount, &object_count_));
  DURUS_RETURN_IF_ERROR(GetMetaU64(meta_.get(), schema::kMetaRecordBytes, &record_bytes_));
  DURUS_RETURN_IF_ERROR(GetMetaU64(meta_.get(), schema::kMetaPendingCount, &pending_count_));
  next_oid_ = max_stored_next_;
  std::string recorded;
  if (GetMeta(meta_.get(), nullptr, schema::kMetaDurability, &recorded).ok()) {
    recorded_durability_ = recorded;
  }
  if (!options_.readonly && MayWrite()) {  // a replica writes nothing
    recorded_durability_ = DurabilityName(options_.durability);
    std::string mode = DurabilityName(options_.durability);
    Txn txn;
    DURUS_RETURN_IF_ERROR(FromDb(txn.Begin(env_.get()), "begin"));
    DURUS_RETURN_IF_ERROR(PutMeta(meta_.get(), txn.get(), schema::kMetaDurability, mode));
    DURUS_RETURN_IF_ERROR(FromDb(txn.Commit(0), "recording durability"));
  }
  return Status::OK();
}

Status BdbStorage::Flush() {
  std::shared_lock<std::shared_mutex> open(close_mu_);
  DURUS_RETURN_IF_ERROR(CheckOpen());
  return FromDb(env_->log_flush(nullptr), "flushing the log of " + home_);
}

Status BdbStorage::Close() {
  if (closed_.exchange(true)) return Status::Closed("storage " + home_ + " is already closed");
  StopBackground();
  Status result;
  {
    std::unique_lock<std::shared_mutex> closing(close_mu_);
    std::lock_guard<std::mutex> l(write_mu_);
    // Held until the environment is closed: a backup joining meanwhile
    // waits, and then finds every log file still there.
    JoinLock join;
    if (options_.readonly) join.AcquireExclusive(home_, 0).IgnoreError();
    if (!options_.readonly) {
      // A checkpoint at close makes the next open's recovery trivial.
      result = FromDb(env_->txn_checkpoint(0, 0, DB_FORCE), "checkpoint at close");
      // A hot backup joined to the environment (it holds the join lock
      // shared) needs every log file until it leaves: it has turned
      // automatic removal off, and an explicit removal would take the logs
      // its copied pages need.  The logs left are removed by a later
      // checkpoint or close.
      // With log archiving, an archive that cannot take them keeps the logs
      // in the home: reported, not an error of the close.
      if (join.AcquireExclusive(home_, 0).ok()) {
        if (archive_.dir.empty()) {
          Status r = ReleaseLogs(env_.get(), home_, archive_);
          if (result.ok()) result = r;
        } else {
          ReleaseLogsOrWarn(env_.get(), home_, archive_);
        }
      }
    }
    records_.reset();
    refcounts_.reset();
    pending_.reset();
    meta_.reset();
    // After a clean close the next open joins the regions instead of
    // recovering (bdb/env_shape.h): only if the final checkpoint worked and
    // no backup is (or was) joined.  A private read-only view has no
    // regions to leave.
    if (snapshot_) {
      env_.reset();
    } else {
      const bool no_joiner = result.ok() && join.held();
      Status c = CloseEnvironment(home_, options_, env_info_, no_joiner, &env_);
      if (result.ok()) result = c;
    }
  }
  lock_.Release();
  return result;
}

}  // namespace bdb
}  // namespace durus
