// BulkLoader (bdb/bulk_loader.h): building a home without logging every
// record, and without per-object state in RAM.
//
// Why DB_TXN_NOT_DURABLE is safe here: until Finish() flips meta.db's
// state to complete (a logged, durable transaction), OpenBdbStorage refuses
// the home and a re-run of the migration wipes it, so nothing depends on
// the unlogged pages surviving a crash.  Finish() closes the unlogged
// databases (Db::close flushes and fsyncs them) and checkpoints BEFORE the
// flip, so once state=complete is durable the data under it is too.  Later
// opens use ordinary logged handles; Berkeley DB's non-durable flag is a
// property of the handle, not of the file.
#include "bdb/bulk_loader.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "bdb/backup.h"
#include "bdb/environment.h"
#include "bdb/handles.h"
#include "bdb/home_lock.h"
#include "bdb/home_options.h"
#include "bdb/log_archive.h"
#include "bdb/schema.h"
#include "engine/record.h"
#include "util/file.h"

namespace durus {

namespace {

using util::IsDirectory;  // util/file.h
using util::PathExists;

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  return names;
}

bool StartsWith(const std::string& s, const char* prefix) {
  return s.compare(0, strlen(prefix), prefix) == 0;
}

// Files a durus-bdb home (or a migration into one) may hold.
bool IsHomeFile(const std::string& n) {
  return n == schema::kRecordsFile || n == schema::kRefcountsFile || n == schema::kPendingFile ||
         n == schema::kMetaFile || n == schema::kMarksFile || n == schema::kLockFile ||
         n == kMigrationMarkerFile || StartsWith(n, "__db.") || StartsWith(n, "log.") ||
         StartsWith(n, schema::kStatusFile) || n == schema::kJoinFile ||
         n == bdb::kCleanMarkerFile || StartsWith(n, kHomeOptionsFile);  // and its temporary
}

Status WriteMarker(const std::string& home) {
  std::string path = home + "/" + kMigrationMarkerFile;
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot create " + path + ": " + strerror(errno));
  static const char kText[] =
      "A durus-bdb migration into this directory has not completed.\n"
      "Re-run `durus-bdb migrate SOURCE HOME` to restart it.\n";
  bool ok = write(fd, kText, sizeof(kText) - 1) == static_cast<ssize_t>(sizeof(kText) - 1);
  ok = fsync(fd) == 0 && ok;
  int err = errno;
  close(fd);
  if (!ok) return Status::IOError("cannot write " + path + ": " + strerror(err));
  return bdb::SyncDirectory(home);
}

// Remove every home file except the locks (the caller holds the home
// lock; a backup may hold the join lock).
Status WipeHomeFiles(const std::string& home) {
  for (const std::string& n : ListDir(home)) {
    if (n == schema::kLockFile || n == schema::kJoinFile || !IsHomeFile(n)) continue;
    std::string p = home + "/" + n;
    if (unlink(p.c_str()) != 0 && errno != ENOENT) {
      return Status::IOError("cannot remove " + p + ": " + strerror(errno));
    }
  }
  return Status::OK();
}

std::string U64Bytes(uint64_t v) {
  std::string s;
  PutU64(&s, v);
  return s;
}

Status PutMeta(Db* meta, DbTxn* txn, const char* name, const std::string& value) {
  Dbt key = bdb::InDbt(name, strlen(name));
  Dbt data = bdb::InDbt(value.data(), value.size());
  return bdb::FromDb(meta->put(txn, &key, &data, 0), std::string("writing meta ") + name);
}

// The meta state of an existing home ("complete", "incomplete"), read with
// the lock held.  Fails when the environment or meta.db cannot be opened.
Status ReadHomeState(const std::string& home, std::string* state) {
  BdbOptions o;
  o.cache_mb = 8;
  bdb::EnvPtr env;
  DURUS_RETURN_IF_ERROR(bdb::OpenEnvironment(home, o, &env));
  bdb::DbPtr meta;
  DURUS_RETURN_IF_ERROR(bdb::OpenBtree(env.get(), home, schema::kMetaFile, true, &meta));
  Dbt key = bdb::InDbt(schema::kMetaState, strlen(schema::kMetaState));
  int ret = bdb::GetInto(meta.get(), nullptr, &key, state, 0);
  return bdb::FromDb(ret, "reading the state of " + home);
}

uint64_t FileSize(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace

MigrationTarget InspectMigrationTarget(const std::string& home) {
  if (!PathExists(home)) return MigrationTarget::kAbsent;
  if (!IsDirectory(home)) return MigrationTarget::kForeign;
  std::vector<std::string> names = ListDir(home);
  bool marker = false, meta = false, foreign = false, only_lock = true;
  for (const std::string& n : names) {
    if (n == kMigrationMarkerFile) marker = true;
    if (n == schema::kMetaFile) meta = true;
    if (!IsHomeFile(n)) foreign = true;
    if (n != schema::kLockFile && n != schema::kJoinFile) only_lock = false;
  }
  if (only_lock) return MigrationTarget::kEmpty;
  if (foreign) return MigrationTarget::kForeign;
  if (marker) return MigrationTarget::kIncomplete;
  if (meta) return MigrationTarget::kComplete;
  // Region or log files without meta.db or marker: not ours to delete.
  return MigrationTarget::kForeign;
}

namespace bdb {
namespace {

class BulkLoaderImpl : public BulkLoader {
 public:
  BulkLoaderImpl(std::string home, const BulkLoaderOptions& options, bool created_dir)
      : home_(std::move(home)), options_(options), created_dir_(created_dir) {}

  ~BulkLoaderImpl() override { CloseAll(); }

  Status Start(bool wipe);

  Status Put(Oid oid, std::string_view record) override;
  Status FlushRecords() override;
  Status ScanRecords(const std::function<Status(Oid, std::string_view)>& fn) override;
  Status Get(Oid oid, std::string* record) override;
  Status Replace(Oid oid, std::string_view record) override;
  Status AppendCount(Oid oid, uint64_t count) override;
  Status ScanCounts(const std::function<Status(Oid, uint64_t)>& fn) override;
  Status ScanPending(const std::function<Status(Oid)>& fn) override;
  Status Finish(const BulkLoadTotals& totals, BulkLoadSummary* summary) override;
  void Abandon() override;
  const std::string& home() const override { return home_; }

  HomeLock* lock() { return &lock_; }

 private:
  struct Buffered {
    uint64_t oid;
    uint64_t seq;
    size_t offset;
    uint32_t size;
  };

  Status OpenNonDurable(const char* file, DbPtr* db);
  // Bulk cursor scan of `db` in key order: fn(key, value) per pair.
  Status BulkScan(Db* db, const char* what,
                  const std::function<Status(std::string_view, std::string_view)>& fn);
  Status CommitBatch();
  Status BeginIfNeeded();
  void CloseAll();

  const std::string home_;
  const BulkLoaderOptions options_;
  const bool created_dir_;

  HomeLock lock_;
  EnvPtr env_;
  DbPtr records_, refcounts_, pending_, meta_;

  // Put() buffer: an arena of record bytes and their index.
  std::string arena_;
  std::vector<Buffered> buffered_;
  uint64_t seq_ = 0;

  // The open non-durable transaction and how many writes it holds.
  Txn txn_;
  uint32_t in_txn_ = 0;

  // AppendCount state.
  bool have_last_count_ = false;
  uint64_t last_count_oid_ = 0;
  uint64_t counts_appended_ = 0;
  uint64_t pending_appended_ = 0;
  bool finished_ = false;
};

Status BulkLoaderImpl::OpenNonDurable(const char* file, DbPtr* out) {
  DbPtr db(new Db(env_.get(), 0));
  // Page checksums as in every home of format 2 (environment.cc OpenBtree).
  int ret = db->set_flags(DB_TXN_NOT_DURABLE | DB_CHKSUM);
  if (ret == 0) {
    ret = db->open(nullptr, file, nullptr, DB_BTREE, DB_CREATE | DB_AUTO_COMMIT, 0644);
  }
  if (ret != 0) return FromDb(ret, "creating " + home_ + "/" + file);
  *out = std::move(db);
  return Status::OK();
}

Status BulkLoaderImpl::Start(bool wipe) {
  if (wipe) DURUS_RETURN_IF_ERROR(WipeHomeFiles(home_));
  // The marker goes first: from here on a crash leaves something a re-run
  // recognises as its own and wipes.
  DURUS_RETURN_IF_ERROR(WriteMarker(home_));
  BdbOptions o;
  o.cache_mb = options_.cache_mb;
  o.durability = Durability::kNoSync;
  o.max_commit_records = std::max<uint32_t>(options_.batch_records * 4, 50000);
  DURUS_RETURN_IF_ERROR(OpenEnvironment(home_, o, &env_));
  DURUS_RETURN_IF_ERROR(OpenBtree(env_.get(), home_, schema::kMetaFile, false, &meta_));
  DURUS_RETURN_IF_ERROR(OpenNonDurable(schema::kRecordsFile, &records_));
  DURUS_RETURN_IF_ERROR(OpenNonDurable(schema::kRefcountsFile, &refcounts_));
  DURUS_RETURN_IF_ERROR(OpenNonDurable(schema::kPendingFile, &pending_));
  Txn txn;
  DURUS_RETURN_IF_ERROR(FromDb(txn.Begin(env_.get()), "beginning the meta transaction"));
  std::string version;
  PutU32(&version, schema::kFormatVersion);
  DURUS_RETURN_IF_ERROR(PutMeta(meta_.get(), txn.get(), schema::kMetaFormatVersion, version));
  DURUS_RETURN_IF_ERROR(
      PutMeta(meta_.get(), txn.get(), schema::kMetaState, schema::kStateIncomplete));
  for (const char* name : {schema::kMetaNextOid, schema::kMetaObjectCount, schema::kMetaRecordBytes,
                           schema::kMetaPendingCount}) {
    DURUS_RETURN_IF_ERROR(PutMeta(meta_.get(), txn.get(), name, U64Bytes(0)));
  }
  DURUS_RETURN_IF_ERROR(FromDb(txn.Commit(DB_TXN_SYNC), "marking " + home_ + " incomplete"));
  arena_.reserve(options_.buffer_bytes + 4096);
  return Status::OK();
}

Status BulkLoaderImpl::BeginIfNeeded() {
  if (txn_.get() != nullptr) return Status::OK();
  in_txn_ = 0;
  return FromDb(txn_.Begin(env_.get(), DB_TXN_NOSYNC), "beginning a load transaction");
}

Status BulkLoaderImpl::CommitBatch() {
  if (txn_.get() == nullptr) return Status::OK();
  in_txn_ = 0;
  return FromDb(txn_.Commit(DB_TXN_NOSYNC), "committing a load transaction in " + home_);
}

Status BulkLoaderImpl::Put(Oid oid, std::string_view record) {
  if (finished_) return Status::InvalidArgument("bulk load already finished");
  if (record.size() > UINT32_MAX) return Status::InvalidArgument("record too large");
  if (!arena_.empty() && arena_.size() + record.size() > options_.buffer_bytes) {
    DURUS_RETURN_IF_ERROR(FlushRecords());
  }
  buffered_.push_back(
      Buffered{oid.value(), seq_++, arena_.size(), static_cast<uint32_t>(record.size())});
  arena_.append(record);
  return Status::OK();
}

Status BulkLoaderImpl::FlushRecords() {
  if (buffered_.empty()) return CommitBatch();
  // Oid order makes the btree inserts sequential; for equal oids the later
  // Put sorts last and is the one written.
  std::sort(buffered_.begin(), buffered_.end(), [](const Buffered& a, const Buffered& b) {
    return a.oid != b.oid ? a.oid < b.oid : a.seq < b.seq;
  });
  char kb[8];
  for (size_t i = 0; i < buffered_.size(); ++i) {
    const Buffered& b = buffered_[i];
    if (i + 1 < buffered_.size() && buffered_[i + 1].oid == b.oid) continue;  // superseded
    DURUS_RETURN_IF_ERROR(BeginIfNeeded());
    Oid(b.oid).ToBytes(kb);
    Dbt key = InDbt(kb, 8);
    Dbt data = InDbt(arena_.data() + b.offset, b.size);
    int ret = records_->put(txn_.get(), &key, &data, 0);
    if (ret != 0) return FromDb(ret, "storing oid " + std::to_string(b.oid) + " in " + home_);
    if (++in_txn_ >= options_.batch_records) DURUS_RETURN_IF_ERROR(CommitBatch());
  }
  buffered_.clear();
  arena_.clear();
  return CommitBatch();
}

Status BulkLoaderImpl::ScanRecords(const std::function<Status(Oid, std::string_view)>& fn) {
  DURUS_RETURN_IF_ERROR(FlushRecords());
  return BulkScan(records_.get(), schema::kRecordsFile,
                  [&](std::string_view k, std::string_view v) -> Status {
                    if (k.size() != 8) return Status::Corruption("records.db key is not 8 bytes");
                    return fn(Oid::FromBytes(k.data()), v);
                  });
}

Status BulkLoaderImpl::ScanCounts(const std::function<Status(Oid, uint64_t)>& fn) {
  DURUS_RETURN_IF_ERROR(CommitBatch());
  return BulkScan(refcounts_.get(), schema::kRefcountsFile,
                  [&](std::string_view k, std::string_view v) -> Status {
                    if (k.size() != 8 || v.size() != 8) {
                      return Status::Corruption("malformed entry in refcounts.db");
                    }
                    return fn(Oid::FromBytes(k.data()), GetU64(v.data()));
                  });
}

Status BulkLoaderImpl::ScanPending(const std::function<Status(Oid)>& fn) {
  DURUS_RETURN_IF_ERROR(CommitBatch());
  return BulkScan(pending_.get(), schema::kPendingFile,
                  [&](std::string_view k, std::string_view) -> Status {
                    if (k.size() != 8) return Status::Corruption("malformed key in pending.db");
                    return fn(Oid::FromBytes(k.data()));
                  });
}

Status BulkLoaderImpl::Get(Oid oid, std::string* record) {
  char kb[8];
  oid.ToBytes(kb);
  Dbt key = InDbt(kb, 8);
  int ret = GetInto(records_.get(), txn_.get(), &key, record, 0);
  return FromDb(ret, "reading oid " + OidToString(oid) + " from " + home_);
}

Status BulkLoaderImpl::BulkScan(
    Db* db, const char* what, const std::function<Status(std::string_view, std::string_view)>& fn) {
  Cursor c;
  DURUS_RETURN_IF_ERROR(FromDb(c.Open(db, txn_.get()), std::string("opening a cursor on ") + what));
  // Bulk reads: one call returns as many pairs as fit in the buffer.
  std::vector<char> buf(size_t{4} << 20);
  for (;;) {
    Dbt key;
    Dbt data;
    data.set_flags(DB_DBT_USERMEM);
    data.set_data(buf.data());
    data.set_ulen(static_cast<u_int32_t>(buf.size()));
    int ret = c->get(&key, &data, DB_MULTIPLE_KEY | DB_NEXT);
    if (ret == DB_BUFFER_SMALL) {  // one record larger than the buffer
      size_t need = (static_cast<size_t>(data.get_size()) + 2 * 1024 * 1024) & ~size_t{1023};
      buf.resize(std::max(need, buf.size() * 2));
      continue;
    }
    if (ret == DB_NOTFOUND) return Status::OK();
    if (ret != 0) return FromDb(ret, std::string("scanning ") + what + " of " + home_);
    DbMultipleKeyDataIterator it(data);
    Dbt k, v;
    while (it.next(k, v)) {
      DURUS_RETURN_IF_ERROR(
          fn(std::string_view(static_cast<const char*>(k.get_data()), k.get_size()),
             std::string_view(static_cast<const char*>(v.get_data()), v.get_size())));
    }
  }
}

Status BulkLoaderImpl::Replace(Oid oid, std::string_view record) {
  DURUS_RETURN_IF_ERROR(BeginIfNeeded());
  char kb[8];
  oid.ToBytes(kb);
  Dbt key = InDbt(kb, 8);
  Dbt data = InDbt(record.data(), record.size());
  int ret = records_->put(txn_.get(), &key, &data, 0);
  if (ret != 0) return FromDb(ret, "rewriting oid " + OidToString(oid) + " in " + home_);
  if (++in_txn_ >= options_.batch_records) return CommitBatch();
  return Status::OK();
}

Status BulkLoaderImpl::AppendCount(Oid oid, uint64_t count) {
  if (have_last_count_ && oid.value() <= last_count_oid_) {
    return Status::InvalidArgument("AppendCount: oid " + OidToString(oid) +
                                   " is not above the previous one");
  }
  have_last_count_ = true;
  last_count_oid_ = oid.value();
  DURUS_RETURN_IF_ERROR(BeginIfNeeded());
  char kb[8], cv[8];
  oid.ToBytes(kb);
  Oid(count).ToBytes(cv);
  Dbt key = InDbt(kb, 8);
  Dbt data = InDbt(cv, 8);
  int ret = refcounts_->put(txn_.get(), &key, &data, 0);
  if (ret != 0) return FromDb(ret, "writing the count of oid " + OidToString(oid));
  ++in_txn_;
  if (count == 0 && !oid.IsRoot()) {
    static const char kEmpty[1] = {0};
    Dbt empty = InDbt(kEmpty, 0);
    ret = pending_->put(txn_.get(), &key, &empty, 0);
    if (ret != 0) return FromDb(ret, "queueing oid " + OidToString(oid));
    ++in_txn_;
    ++pending_appended_;
  }
  ++counts_appended_;
  if (in_txn_ >= options_.batch_records) return CommitBatch();
  return Status::OK();
}

Status BulkLoaderImpl::Finish(const BulkLoadTotals& totals, BulkLoadSummary* summary) {
  if (finished_) return Status::InvalidArgument("bulk load already finished");
  DURUS_RETURN_IF_ERROR(FlushRecords());
  if (counts_appended_ != totals.object_count) {
    return Status::InvalidArgument("bulk load: " + std::to_string(counts_appended_) +
                                   " counts appended for " + std::to_string(totals.object_count) +
                                   " objects");
  }
  // 1. Make the unlogged databases durable: close() flushes and fsyncs.
  DbPtr* dbs[] = {&records_, &refcounts_, &pending_};
  for (DbPtr* db : dbs) {
    Db* raw = db->release();
    int ret = raw->close(0);
    delete raw;
    if (ret != 0) return FromDb(ret, "closing a loaded database in " + home_);
  }
  DURUS_RETURN_IF_ERROR(FromDb(env_->txn_checkpoint(0, 0, DB_FORCE), "checkpoint"));
  // The mode it was loaded for is kept by the home (bdb/home_options.h),
  // before the flip: a home is never complete without it.
  DURUS_RETURN_IF_ERROR(
      SetHomeOptions(home_, {{"durability", DurabilityName(options_.durability)}}));
  // 2. The flip: counters and state=complete in one durable transaction.
  Txn txn;
  DURUS_RETURN_IF_ERROR(FromDb(txn.Begin(env_.get()), "beginning the final transaction"));
  DbTxn* t = txn.get();
  DURUS_RETURN_IF_ERROR(PutMeta(meta_.get(), t, schema::kMetaNextOid, U64Bytes(totals.next_oid)));
  DURUS_RETURN_IF_ERROR(
      PutMeta(meta_.get(), t, schema::kMetaObjectCount, U64Bytes(totals.object_count)));
  DURUS_RETURN_IF_ERROR(
      PutMeta(meta_.get(), t, schema::kMetaRecordBytes, U64Bytes(totals.record_bytes)));
  DURUS_RETURN_IF_ERROR(
      PutMeta(meta_.get(), t, schema::kMetaPendingCount, U64Bytes(pending_appended_)));
  DURUS_RETURN_IF_ERROR(
      PutMeta(meta_.get(), t, schema::kMetaDurability, DurabilityName(options_.durability)));
  DURUS_RETURN_IF_ERROR(PutMeta(meta_.get(), t, schema::kMetaState, schema::kStateComplete));
  DURUS_RETURN_IF_ERROR(FromDb(txn.Commit(DB_TXN_SYNC), "marking " + home_ + " complete"));
  finished_ = true;
  // 3. Tidy up: a checkpoint so the next open has nothing to recover, the
  // logs it makes unnecessary, the region files (the next opener sizes its
  // own cache), and the marker.
  // A hot backup joined to the environment (bdb/backup.h) needs the logs
  // and the regions until it leaves: then both stay (the next open
  // recovers as usual).
  Status s = FromDb(env_->txn_checkpoint(0, 0, DB_FORCE), "final checkpoint");
  JoinLock join;
  const bool alone = join.AcquireExclusive(home_, 0).ok();
  if (s.ok() && alone) {
    s = FromDb(env_->log_archive(nullptr, DB_ARCH_REMOVE), "removing old logs");
  }
  meta_.reset();
  env_.reset();
  if (s.ok() && alone) {
    DbEnv remover(DB_CXX_NO_EXCEPTIONS);
    s = FromDb(remover.remove(home_.c_str(), 0), "removing the region files of " + home_);
  }
  std::string marker = home_ + "/" + kMigrationMarkerFile;
  if (unlink(marker.c_str()) != 0 && errno != ENOENT && s.ok()) {
    s = Status::IOError("cannot remove " + marker + ": " + strerror(errno));
  }
  if (s.ok()) s = SyncDirectory(home_);
  if (summary != nullptr) {
    summary->object_count = totals.object_count;
    summary->record_bytes = totals.record_bytes;
    summary->pending_count = pending_appended_;
    summary->next_oid = totals.next_oid;
    summary->data_file_bytes = 0;
    for (const char* f :
         {schema::kRecordsFile, schema::kRefcountsFile, schema::kPendingFile, schema::kMetaFile}) {
      summary->data_file_bytes += FileSize(home_ + "/" + f);
    }
  }
  lock_.Release();
  return s;
}

void BulkLoaderImpl::CloseAll() {
  txn_.Abort();
  records_.reset();
  refcounts_.reset();
  pending_.reset();
  meta_.reset();
  env_.reset();
}

void BulkLoaderImpl::Abandon() {
  if (finished_) return;
  CloseAll();
  WipeHomeFiles(home_).IgnoreError();
  std::string joinfile = home_ + "/" + schema::kJoinFile;
  unlink(joinfile.c_str());
  std::string lockfile = home_ + "/" + schema::kLockFile;
  unlink(lockfile.c_str());
  lock_.Release();
  if (created_dir_) rmdir(home_.c_str());
}

}  // namespace
}  // namespace bdb

Status BulkLoader::Create(const std::string& home, const BulkLoaderOptions& options,
                          std::unique_ptr<BulkLoader>* out, bool* restarted) {
  *restarted = false;
  if (home.empty()) return Status::InvalidArgument("empty home path");
  MigrationTarget target = InspectMigrationTarget(home);
  bool created_dir = false;
  switch (target) {
    case MigrationTarget::kAbsent:
      DURUS_RETURN_IF_ERROR(bdb::MakeDirs(home));
      created_dir = true;
      break;
    case MigrationTarget::kForeign:
      return Status::InvalidArgument(IsDirectory(home)
                                         ? "target " + home +
                                               " is not empty (and not a durus-bdb home); "
                                               "migrate only into a new or empty directory"
                                         : "target " + home + " exists and is not a directory");
    case MigrationTarget::kEmpty:
    case MigrationTarget::kIncomplete:
    case MigrationTarget::kComplete: break;
  }
  auto loader = std::make_unique<bdb::BulkLoaderImpl>(home, options, created_dir);
  DURUS_RETURN_IF_ERROR(loader->lock()->Acquire(home));
  bool wipe = false;
  if (target == MigrationTarget::kIncomplete || target == MigrationTarget::kComplete) {
    // Decide from meta.db's state, read under the lock: a marker left by a
    // crash between the flip and the marker's removal must not cost a
    // complete home; a complete home is never overwritten.
    std::string state;
    Status s = ReadHomeState(home, &state);
    if (s.ok() && state == schema::kStateComplete) {
      if (target == MigrationTarget::kIncomplete) {
        std::string marker = home + "/" + kMigrationMarkerFile;
        unlink(marker.c_str());
      }
      return Status::InvalidArgument("target " + home +
                                     " is already a durus-bdb home; migrate only into a new "
                                     "or empty directory");
    }
    if (target == MigrationTarget::kComplete && !s.ok()) {
      return Status::InvalidArgument("target " + home +
                                     " holds a durus-bdb home that cannot be read (" +
                                     s.ToString() + "); refusing to overwrite it");
    }
    wipe = true;  // an interrupted migration: start again
    *restarted = true;
  }
  DURUS_RETURN_IF_ERROR(loader->Start(wipe));
  *out = std::move(loader);
  return Status::OK();
}

}  // namespace durus
