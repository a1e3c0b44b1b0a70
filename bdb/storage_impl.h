// BdbStorage: durus::Storage on Berkeley DB.  Internal to bdb/; everybody
// else uses bdb/bdb_storage.h.
//
// One class, one file per concern (RocksDB's db_impl/ style):
//   storage_open.cc     open, create, close, options
//   storage_read.cc     Load, Scan, stats and count introspection
//   storage_commit.cc   Commit (records + reference counts + queue), NewOid
//   storage_gc.cc       GcStore, the narrow interface garbage collection
//                       (bdb/gc/, a module of its own) works through
//   background.cc       checkpoint / log-removal / log-flush / collector thread
//
// Threading (doc/threading.md): loads and scans run concurrently, without
// a transaction (Berkeley DB page locks; retried on deadlock).  Every
// writing transaction (commit, collector step, trace step) holds write_mu_,
// so writers never deadlock with each other and the in-memory copies of
// the meta counters (next_oid_, object_count_, ...) are only changed under
// it, after their transaction committed.  In `sync` mode a commit is
// written under write_mu_ without fsync and flushed after releasing it, so
// concurrent committers share one fsync (group commit).
#ifndef DURUS_BDB_BDB_STORAGE_IMPL_H_
#define DURUS_BDB_BDB_STORAGE_IMPL_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "bdb/bdb_storage.h"
#include "bdb/env_figures.h"
#include "bdb/environment.h"
#include "bdb/gc/gc_private.h"
#include "bdb/gc/store.h"
#include "bdb/handles.h"
#include "bdb/home_lock.h"
#include "bdb/journal.h"
#include "bdb/log_archive.h"
#include "bdb/replication.h"
#include "bdb/retry.h"

namespace durus::bdb {

// meta.db reads shared by the replication files (bdb/storage_repl.cc):
// the master's Durus address as it wrote it ("" if unknown; replicated,
// so a replica knows it), and one 8-byte counter.
std::string MasterDurusAddress(Db* meta);
Status ReadCounter(Db* meta, const char* name, uint64_t* out);

// Garbage collection sees it only as a GcStore (private base: gc_store()).
class BdbStorage : public BdbHandle, private GcStore {
 public:
  BdbStorage(std::string home, BdbOptions options);
  ~BdbStorage() override;

  // Called once by OpenBdbStorage.
  Status Open();

  Status Load(Oid oid, std::string* record) override;
  Status Commit(const CommitBatch& batch) override;
  std::vector<Oid> Sync() override;
  Status NewOid(Oid* oid) override;
  Status Scan(Oid start, size_t max, std::vector<std::pair<Oid, std::string>>* out) override;
  Status GetStats(StorageStats* stats) override;
  Status GetRefCount(Oid oid, uint64_t* count) override;
  Status ListPending(Oid start, size_t max, std::vector<Oid>* out) override;
  Status Collect(bool cycles, CollectReport* report) override;
  Status StartPack() override;
  std::string ReplicationSummary() override;
  Status CheckWritable(const std::string& what) override;
  std::vector<Oid> ReplicatedChanges() override;
  bool ReplicatedChangesPending() override;
  uint64_t ReplicatedGaps() override { return replicated_gaps_.load(); }
  Status GetReplicationInfo(const JournalPosition* since, ReplicationInfo* out) override;
  std::string ReplicationStopReason() override;
  Status Flush() override;
  Status Close() override;
  std::string Describe() const override;

  // Cache and log figures (bdb/env_figures.h; bdb/env_figures.cc).
  Status GetEnvFigures(BdbEnvFigures* out);

  // One collector transaction (bdb/gc/gc_private.h: Collector::Step).
  Status CollectStep(uint32_t max, uint64_t* collected, uint64_t* bytes, bool* done);

  // Garbage collection (bdb/gc/): the interface it works through, the
  // collector, and the cycle trace (started by StartPack / Collect(true),
  // stepped by the background thread; its barrier runs inside CommitOnce).
  GcStore* gc_store() { return this; }
  Collector* collector() { return &collector_; }
  Trace* trace() { return &trace_; }

  const std::string& home() const override { return home_; }
  // BdbHandle and GcStore: the options in effect (resolved by Open).
  const BdbOptions& options() const override { return options_; }
  BdbStorage& impl() override { return *this; }
  DbEnv* env() const override { return env_.get(); }
  Db* records() const override { return records_.get(); }
  Db* refcounts() const override { return refcounts_.get(); }
  Db* pending() const override { return pending_.get(); }
  Db* meta() const override { return meta_.get(); }

 private:
  friend struct TestingAccess;  // bdb/testing.cc (fault injection in tests)

  // GcStore (bdb/gc/store.h; bdb/storage_gc.cc).
  Status Exclusive(const std::string& readonly_error, const std::function<Status()>& fn) override;
  MetaCounters CountersLocked() const override;
  Status TransactLocked(const char* what, uint32_t commit_flags, const TxnBody& body) override;
  Status SetCountersLocked(const MetaCounters& counters) override;

  // Recovery (or joining a clean close's regions), the verification of
  // `short_files` (ShortFiles, taken before recovery; *damaged when it
  // fails), then replication.
  Status OpenEnv(const std::vector<const char*>& short_files, bool* damaged);
  // Reads the log before recovery runs and refuses or repairs what
  // recovery would get wrong (bdb/log_check.h).
  Status CheckLogBeforeRecovery();
  // Database files shorter than the last page their meta page records,
  // and, after recovery, Berkeley DB's verification of those files.
  std::vector<const char*> ShortFiles() const;
  Status VerifyShortFilesAfterRecovery(const std::vector<const char*>& files);
  // An open that failed because the log ends before what the database
  // files hold: one error naming the log file (else `failure` unchanged).
  Status ExplainLogEndingEarly(const Status& failure) const;
  Status OpenDatabases();
  Status LoadMeta();
  Status InitializeMeta(DbTxn* txn);
  Status CheckOpen() const;
  uint32_t CommitFlags() const;
  // The three meta counters after a transaction's changes (write_mu_
  // held), each through AddToMetaCounter: Corruption instead of a wrap.
  Status CountersAfter(int64_t objects_delta, int64_t bytes_delta, int64_t pending_delta,
                       uint64_t* objects, uint64_t* bytes, uint64_t* pending) const;
  // Write the counters into meta.db inside `txn`.
  Status PutMetaCounters(DbTxn* txn, uint64_t next_oid, uint64_t objects, uint64_t bytes,
                         uint64_t pending);
  Status CommitOnce(const CommitBatch& batch, bool* retry);
  Status CollectOnce(uint32_t max, uint64_t* collected, uint64_t* bytes, bool* done, bool* retry,
                     std::vector<Oid>* removed);

  // Replication (bdb/storage_repl.cc).  Before a write: Ok on the master
  // (after reloading what a promotion made stale), else ReadOnly naming
  // the master.  write_mu_ held.
  Status ReplicationBeforeWriteLocked();
  // Open journal.db (bdb/journal.h), creating it on a master.
  Status OpenJournal();
  // The refusal of a write on a site that is not master.
  Status NotMaster(const std::string& what);
  // Operations (bdb/storage_repl_ops.cc): stat's figures (close_mu_ held
  // shared), and the background thread's once-a-second work: the lag
  // sample, a pending removal request (bdb/repl_admin.h).
  void ReplicationFiguresLocked(ReplicationFigures* out);
  // On a site that is not master: the counters GetStats reports, from the
  // replicated meta.db (close_mu_ held shared).
  void ReplicaCountersLocked(StorageStats* stats);
  void ReplicationOpsTick();
  // A site that is not master runs no collector, trace or meta write.
  bool MayWrite() const { return repl_ == nullptr || repl_->IsMaster(); }
  // The counters from the replicated meta.db (write_mu_ held).
  Status ReloadCountersLocked();
  // After a commit's attempt (write_mu_ held): the oids of commits that
  // got NotReplicated since the last acknowledged one, which a failover
  // may roll back (an acknowledged commit makes every earlier one durable).
  void NoteCommitLocked(const CommitBatch& batch, const Status& s);

  // DB_REP_HANDLE_DEAD (bdb/storage_repl.cc; doc/replication-plan.md 7).
  // Reopens the handles when the replication events say they may be dead
  // (ReplicationState::handles_epoch) or a reopen failed; close_mu_ must
  // not be held.
  Status RefreshHandles();
  // Closes and reopens every table handle under close_mu_ exclusively (no
  // load, commit or collector step runs), reloads the counters and the
  // trace state, and finds the journal entries a rollback removed.
  // `seen`: handles_gen_ when the caller's attempt began (a reopen by
  // another thread since then is enough).
  Status ReopenHandles(uint64_t seen);
  // attempt(bool* dead) -> Status; run once more after a reopen when it
  // failed on a dead handle.  close_mu_ not held (the attempt takes it).
  template <typename Attempt>
  Status WithLiveHandles(Attempt&& attempt) {
    DURUS_RETURN_IF_ERROR(RefreshHandles());
    const uint64_t gen = handles_gen_.load();
    return RetryHandleDead(attempt, [&] { return ReopenHandles(gen); });
  }
  // The fence against stale reads on a master cut off from its group
  // (doc/replication-plan.md 6; bdb/storage_repl.cc).  The background
  // thread writes a small replicated meta key when no write was
  // acknowledged for kHeartbeatMs (write_mu_ held, master); loads on a
  // master are refused (Busy) while its last answered write (commit or
  // heartbeat) was not acknowledged.  Not with ack policy none.
  void ReplicationHeartbeatLocked();
  Status FenceReads();
  void NoteAcknowledged();
  void NoteUnacknowledged();
  // After a reopen (journal_mu_ held): the entries ReplicatedChanges
  // returned that the journal no longer holds were rolled back; their
  // oids go to the clients again and the next read starts before them.
  void RewindJournalLocked();

  void StartBackground();
  void StopBackground();
  void BackgroundLoop();
  // The master's journal trim (bdb/background.cc): batches until nothing
  // more is past the retention; *trimmed: entries deleted.
  Status TrimJournalRound(uint64_t* trimmed);
  // Rewrites the home's live-figures file (bdb/status_file.h).
  void PublishStatus();

  const std::string home_;
  // The opener's options until Open completes them (bdb/home_options.h);
  // not changed after, so the background threads read them unlocked.
  BdbOptions options_;

  HomeLock lock_;
  // A read-only view of a home this process cannot write
  // (OpenReadOnlySnapshot): no transactions, no recovery, no region files.
  bool snapshot_ = false;
  // The lock file still named a process when we opened: it crashed.
  bool previous_holder_crashed_ = false;
  // How long OpenEnv took (the log check and recovery): GetStats.
  double recovery_seconds_ = 0;
  // What OpenEnvironment did (joined or recovered, the regions' shape):
  // Close leaves the clean marker from it (bdb/env_shape.h).
  EnvOpenInfo env_info_;
  // Set when the open cut a torn log tail ("HOME/log.N at offset X"): if
  // the open then fails, the cut lost more than a torn write
  // (ExplainLogEndingEarly says so).
  std::string log_cut_at_;
  uint32_t format_version_ = 0;  // meta.db format_version (schema.h)
  LogArchiveConfig archive_;     // set at open; dir empty: logs are removed
  // Set when the home is a site of a replication group (before env_:
  // Berkeley DB's event callback points at it until env_ closes).
  std::unique_ptr<ReplicationState> repl_;
  // The ReplicationState::master_generation() the counters were last
  // reloaded for (written under write_mu_; NewOid reads it without).
  std::atomic<uint64_t> promoted_generation_{0};
  // The commit journal (replicated homes only; closed by StopBackground)
  // and its last seq as this master wrote it (write_mu_).
  DbPtr journal_;
  uint64_t journal_seq_ = 0;
  // The journal entries ReplicatedChanges has returned (journal_mu_), and
  // the last one it may return: the journal's end when this site was
  // promoted (a master's own commits are published by its server).
  std::mutex journal_mu_;
  uint64_t synced_seq_ = 0;
  std::atomic<uint64_t> promoted_tail_{UINT64_MAX};
  // Times ReplicatedChanges found trimmed entries it had not returned
  // (incremented under journal_mu_, before synced_seq_ moves past them).
  std::atomic<uint64_t> replicated_gaps_{0};
  // The last entries ReplicatedChanges returned (journal_mu_; at most
  // kPublishedKept), to find what a rollback removed; the oids of those
  // and of this site's own rolled-back commits, for the next call.
  std::deque<JournalEntry> published_;
  std::vector<Oid> rolled_back_;
  // Oids of this master's commits that got NotReplicated since its last
  // acknowledged commit (write_mu_; NoteCommitLocked).
  std::vector<Oid> unacknowledged_;
  // DB_REP_HANDLE_DEAD: repl_->handles_epoch() when the handles were last
  // opened; reopens so far (written under close_mu_ exclusively); false
  // after a failed reopen (the handles are closed: RefreshHandles retries).
  std::atomic<uint64_t> handles_epoch_{0};
  std::atomic<uint64_t> handles_gen_{0};
  std::atomic<bool> handles_ok_{true};
  // steady_clock nanoseconds of the last write the group acknowledged (or
  // of the promotion); FenceReads.
  std::atomic<int64_t> last_acknowledged_ns_{0};
  // ... and of the last one that got PERM_FAILED.
  std::atomic<int64_t> last_unacknowledged_ns_{0};
  EnvPtr env_;
  DbPtr records_, refcounts_, pending_, meta_;

  std::atomic<bool> closed_{true};
  // Held shared by every operation that touches a handle, exclusively by
  // Close(), so closing never pulls a handle from under a running load.
  mutable std::shared_mutex close_mu_;

  // Serialises writing transactions; guards the counters below.
  std::mutex write_mu_;
  uint64_t object_count_ = 0;
  uint64_t record_bytes_ = 0;
  uint64_t pending_count_ = 0;
  uint64_t max_stored_next_ = 0;       // next_oid as persisted (> every stored oid)
  std::atomic<uint64_t> next_oid_{0};  // NewOid's counter (>= max_stored_next_)
  // The counters as a committed transaction left them in meta.db (under
  // write_mu_); next_oid_ only moves up, past every stored oid.
  void PublishCounters(uint64_t next, uint64_t objects, uint64_t bytes, uint64_t pending);
  std::string recorded_durability_;  // meta.db durability (set at open)

  // Oids deleted by the collector, not yet returned by Sync().
  std::mutex collected_mu_;
  std::vector<Oid> collected_;
  std::atomic<uint64_t> collected_total_{0};

  // Background thread.
  std::mutex bg_mu_;
  std::condition_variable bg_cv_;
  bool bg_stop_ = false;
  std::thread bg_thread_;
  std::atomic<uint64_t> commits_since_checkpoint_{0};

  // The cycle trace in progress, if any (bdb/gc/trace.h); its state is
  // guarded by write_mu_, its marks.db handle is closed by
  // StopBackground().  The collector steps the queue and runs whole
  // collections (Collect).
  Trace trace_{this};
  Collector collector_{this, &trace_};
};

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_STORAGE_IMPL_H_
