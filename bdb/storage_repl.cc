// BdbStorage as a site of a replication group (bdb/replication.h): the
// check before every write (refuse on a replica, reload after a
// promotion), the handles reopened after a rollback (DB_REP_HANDLE_DEAD),
// the journal's publication on a replica, the summary line for logs.  The
// machinery itself (configure, start, events) is bdb/replication.cc.
#include <algorithm>
#include <chrono>
#include <cstring>

#include "bdb/environment.h"
#include "bdb/journal.h"
#include "bdb/retry.h"
#include "bdb/schema.h"
#include "bdb/storage_impl.h"
#include "engine/record.h"

namespace durus::bdb {

// Both read through a cursor (GetNoWait, bdb/retry.h): a DB->get without
// a transaction during a lockout -- a replica refusing a commit while it
// syncs, a new master's first commit -- slept 5 s in Berkeley DB.
std::string MasterDurusAddress(Db* meta) {
  if (meta == nullptr) return "";
  Dbt key = InDbt(kMetaReplMasterDurus, strlen(kMetaReplMasterDurus));
  std::string value;
  return GetNoWait(meta, &key, &value) == 0 ? value : "";  // locked out: not named
}

Status ReadCounter(Db* meta, const char* name, uint64_t* out) {
  Dbt key = InDbt(name, strlen(name));
  std::string v;
  DURUS_RETURN_IF_ERROR(ThroughLockouts(
      [&] { return FromDb(GetNoWait(meta, &key, &v), std::string("reading meta ") + name); }));
  if (v.size() != 8) return Status::Corruption(std::string("meta ") + name + " is not 8 bytes");
  *out = GetU64(v.data());
  return Status::OK();
}

namespace {

// Journal entries ReplicatedChanges remembers, to tell after a rollback
// which of them are gone: a rollback only takes what the group had not
// acknowledged (a few commits in flight), far fewer than this.
constexpr size_t kPublishedKept = 1024;
// Oids of unacknowledged commits remembered for a rollback (beyond this a
// master whose group is gone for long keeps only the newest).
constexpr size_t kUnacknowledgedKept = 1 << 20;
// The fence's heartbeat: a replicated write when none was acknowledged
// for this long (an idle master writes one small log record per period).
constexpr int64_t kHeartbeatMs = 250;
constexpr char kMetaReplHeartbeat[] = "repl_heartbeat";

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Status BdbStorage::NotMaster(const std::string& what) {
  const std::string site = repl_->MasterSite(env_.get());
  if (site.empty()) {
    return Status::ReadOnly(what + " refused: " + options_.replication.listen.ToString() +
                            " is a site of a replication group with no master elected yet; "
                            "try again in a moment");
  }
  // The Durus address the master advertised (replicated in meta.db); on a
  // fresh promotion it may still name the previous master for a moment,
  // so the replication site is named too.
  const std::string durus = MasterDurusAddress(meta_.get());
  return Status::ReadOnly(what +
                          " refused: this server is a replica of a replication group; "
                          "the master is " +
                          (durus.empty() ? "?" : durus) + " (replication site " + site + ")");
}

Status BdbStorage::ReplicationBeforeWriteLocked() {
  if (!repl_->IsMaster()) return NotMaster("a write");
  const uint64_t generation = repl_->master_generation();
  if (generation == promoted_generation_.load()) return Status::OK();
  if (!handles_ok_) return Status::IOError("the tables of " + home_ + " could not be reopened");
  // Promoted (or opened as master): the in-memory counters may be as of
  // when this site was a replica; the replicated meta.db has the truth.
  DURUS_RETURN_IF_ERROR(ReloadCountersLocked());
  // So may the trace's state (loaded at open; the master that ran since
  // may have advanced or finished the trace): continue from meta's.
  trace_.CloseHandleLocked();
  trace_.ResumeLocked().IgnoreError();  // unreadable: no trace runs (as at open)
  unacknowledged_.clear();
  NoteAcknowledged();  // a new master starts unfenced
  if (journal_ != nullptr) {
    DURUS_RETURN_IF_ERROR(
        ThroughLockouts([&] { return LastJournalSeq(journal_.get(), &journal_seq_); }));
    // Entries applied while a replica are still published to this
    // server's clients (ReplicatedChanges); later ones are its own.
    promoted_tail_ = journal_seq_;
  }
  promoted_generation_ = generation;
  // Tell the group where Durus clients find us: a replica names it when
  // it refuses a commit.  Best effort (a failure is retried at the next
  // promotion; the replication site is named anyway).
  const std::string& advertise = options_.replication.advertise;
  if (!advertise.empty() && MasterDurusAddress(meta_.get()) != advertise) {
    Txn txn;
    if (txn.Begin(env_.get()) == 0) {
      Dbt key = InDbt(kMetaReplMasterDurus, strlen(kMetaReplMasterDurus));
      Dbt data = InDbt(advertise.data(), advertise.size());
      if (meta_->put(txn.get(), &key, &data, 0) == 0) txn.Commit(CommitFlags());
    }
  }
  return Status::OK();
}

Status BdbStorage::ReloadCountersLocked() {
  uint64_t next = 0, objects = 0, bytes = 0, pending = 0;
  DURUS_RETURN_IF_ERROR(ReadCounter(meta_.get(), schema::kMetaNextOid, &next));
  DURUS_RETURN_IF_ERROR(ReadCounter(meta_.get(), schema::kMetaObjectCount, &objects));
  DURUS_RETURN_IF_ERROR(ReadCounter(meta_.get(), schema::kMetaRecordBytes, &bytes));
  DURUS_RETURN_IF_ERROR(ReadCounter(meta_.get(), schema::kMetaPendingCount, &pending));
  // The values as they are (a rollback may have lowered them), except
  // next_oid_, which only moves up: an oid handed out is never reused.
  PublishCounters(next, objects, bytes, pending);
  return Status::OK();
}

void BdbStorage::NoteCommitLocked(const CommitBatch& batch, const Status& s) {
  if (repl_ == nullptr) return;
  if (s.ok()) {
    // Acknowledged: the acknowledging sites hold the log up to here, so
    // every earlier commit survives a failover too.
    unacknowledged_.clear();
    NoteAcknowledged();
  } else if (s.IsNotReplicated()) {
    NoteUnacknowledged();
    if (unacknowledged_.size() > kUnacknowledgedKept) {
      unacknowledged_.erase(unacknowledged_.begin(),
                            unacknowledged_.begin() + unacknowledged_.size() / 2);
    }
    for (const CommitBatch::Entry& e : batch.entries()) unacknowledged_.push_back(e.oid);
  }
}

void BdbStorage::NoteAcknowledged() { last_acknowledged_ns_ = NowNs(); }
void BdbStorage::NoteUnacknowledged() { last_unacknowledged_ns_ = NowNs(); }

// The fence needs PERM_FAILED to mean "cut off": with `all` one site down
// fails every commit while a quorum is there, and `none` never fails.
static bool FencedPolicy(ReplicationAck ack) {
  return ack == ReplicationAck::kQuorum || ack == ReplicationAck::kOne;
}

void BdbStorage::ReplicationHeartbeatLocked() {
  if (!FencedPolicy(options_.replication.ack) || !handles_ok_) return;
  if (NowNs() - last_acknowledged_ns_.load() < kHeartbeatMs * 1000000) return;
  // A master that cannot get this acknowledged waits the ack timeout here
  // (holding write_mu_: its commits would fail the same way meanwhile).
  const int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  char v[8];
  Oid(static_cast<uint64_t>(now)).ToBytes(v);  // u64 big-endian
  Txn txn;
  if (txn.Begin(env_.get()) != 0) return;
  Dbt key = InDbt(kMetaReplHeartbeat, strlen(kMetaReplHeartbeat));
  Dbt data = InDbt(v, 8);
  if (meta_->put(txn.get(), &key, &data, 0) != 0) return;
  ReplicationState::ClearPermFailed();
  if (txn.Commit(DB_TXN_NOSYNC) != 0) return;
  // The checkpoints release the log it grows: one in 40 counts as a
  // commit (an idle master checkpoints every 10 s, not every second).
  static thread_local uint32_t beats = 0;
  if (++beats % 40 == 0) commits_since_checkpoint_.fetch_add(1, std::memory_order_relaxed);
  if (ReplicationState::PermFailed()) {
    NoteUnacknowledged();
  } else {
    NoteAcknowledged();
  }
}

Status BdbStorage::FenceReads() {
  if (repl_ == nullptr || !repl_->IsMaster() || !FencedPolicy(options_.replication.ack)) {
    return Status::OK();
  }
  // Promoted a moment ago (the first write or background tick reloads
  // and clears the fence): not fenced.
  if (repl_->master_generation() != promoted_generation_.load()) return Status::OK();
  // Fenced while the last write that got an answer got PERM_FAILED: a
  // master whose background thread is merely late is not fenced, and a
  // cut-off one is from its first write's ack timeout (at most the
  // heartbeat period plus the ack timeout after it was cut off).
  const int64_t acknowledged = last_acknowledged_ns_.load();
  if (last_unacknowledged_ns_.load() <= acknowledged) return Status::OK();
  const int64_t silent_ms = (NowNs() - acknowledged) / 1000000;
  return Status::Busy(
      "reads refused: no write of this master (" + options_.replication.listen.ToString() +
      ") was acknowledged by its replication group for " + std::to_string(silent_ms) +
      " ms: it may be cut off from the group, which may have elected another "
      "master (its data could be stale)");
}

Status BdbStorage::RefreshHandles() {
  if (repl_ == nullptr) return Status::OK();
  if (handles_ok_ && repl_->handles_epoch() == handles_epoch_.load()) return Status::OK();
  return ReopenHandles(handles_gen_.load());
}

Status BdbStorage::ReopenHandles(uint64_t seen) {
  if (repl_ == nullptr) return Status::OK();
  // Exclusively: no operation holds a handle while it is replaced.
  std::unique_lock<std::shared_mutex> exclusive(close_mu_);
  DURUS_RETURN_IF_ERROR(CheckOpen());
  if (handles_gen_.load() != seen && handles_ok_) return Status::OK();  // another thread did
  std::lock_guard<std::mutex> l(write_mu_);
  // Read before reopening: an event after this read reopens again.
  const uint64_t epoch = repl_->handles_epoch();
  trace_.CloseHandleLocked();
  journal_.reset();
  records_.reset();
  refcounts_.reset();
  pending_.reset();
  meta_.reset();
  Status s = OpenDatabases();
  if (s.ok()) {
    s = OpenBtree(env_.get(), home_, kJournalFile, /*readonly=*/false, &journal_,
                  /*create=*/repl_->IsMaster(), options_.page_checksums);
  }
  if (s.ok()) s = ReloadCountersLocked();
  if (s.ok()) trace_.ResumeLocked().IgnoreError();  // as at open
  if (s.ok()) {
    std::lock_guard<std::mutex> j(journal_mu_);
    RewindJournalLocked();
    if (!repl_->IsMaster()) {
      // This site's own commits that no site acknowledged may have been
      // rolled back (a demoted master): its clients may hold them.
      rolled_back_.insert(rolled_back_.end(), unacknowledged_.begin(), unacknowledged_.end());
      unacknowledged_.clear();
    }
  }
  ++handles_gen_;
  handles_ok_ = s.ok();
  if (s.ok()) handles_epoch_ = epoch;
  return s.ok() ? s : Status::IOError("reopening the tables of " + home_ + ": " + s.ToString());
}

void BdbStorage::RewindJournalLocked() {
  // The log diverges from the new master's at one point; everything after
  // it was rolled back.  So the first remembered entry the journal no
  // longer holds as it was (same seq, same master's timestamp) starts the
  // rolled-back suffix.
  size_t keep = 0;
  for (; keep < published_.size(); ++keep) {
    const JournalEntry& p = published_[keep];
    std::vector<JournalEntry> now;
    if (!ReadJournal(journal_.get(), p.seq - 1, p.seq, 1, &now).ok() || now.empty() ||
        now[0].time_us != p.time_us) {
      break;
    }
  }
  if (keep < published_.size()) {
    for (size_t i = keep; i < published_.size(); ++i) {
      rolled_back_.insert(rolled_back_.end(), published_[i].oids.begin(), published_[i].oids.end());
    }
    synced_seq_ = published_[keep].seq - 1;
    published_.erase(published_.begin() + static_cast<std::ptrdiff_t>(keep), published_.end());
  }
  // Entries past the journal's end now (not remembered, or a rollback
  // further back than kPublishedKept): read again from there.
  uint64_t last = 0;
  if (LastJournalSeq(journal_.get(), &last).ok()) synced_seq_ = std::min(synced_seq_, last);
}

Status BdbStorage::OpenJournal() {
  // Created by a master (a DB_CREATE open is a replicated transaction); a
  // replica's arrives by replication.
  DURUS_RETURN_IF_ERROR(OpenBtree(env_.get(), home_, kJournalFile, /*readonly=*/false, &journal_,
                                  /*create=*/repl_->IsMaster(), options_.page_checksums));
  uint64_t last = 0;
  DURUS_RETURN_IF_ERROR(LastJournalSeq(journal_.get(), &last));
  // Clients connect after the open: their caches are empty, nothing
  // before the journal's end concerns them.
  NoteAcknowledged();  // not fenced at open
  std::lock_guard<std::mutex> l(journal_mu_);
  synced_seq_ = last;
  // The handles were opened after Start's sync; a later sync (or one that
  // raced this open: the reactive path) reopens them.
  handles_epoch_ = repl_->handles_epoch();
  return Status::OK();
}

std::vector<Oid> BdbStorage::ReplicatedChanges() {
  std::vector<Oid> out;
  if (repl_ == nullptr) return out;
  WithLiveHandles([&](bool* dead) {
    std::shared_lock<std::shared_mutex> open(close_mu_);
    if (closed_ || journal_ == nullptr) return Status::OK();
    const uint64_t upto = repl_->IsMaster() ? promoted_tail_.load() : UINT64_MAX;
    std::lock_guard<std::mutex> l(journal_mu_);
    out.insert(out.end(), rolled_back_.begin(), rolled_back_.end());
    rolled_back_.clear();
    // A master past its promotion's tail has nothing to read: no cursor
    // on the journal's last page, which an in-flight commit holds locked
    // through its acknowledgement wait.
    if (synced_seq_ >= upto) return Status::OK();
    std::vector<JournalEntry> entries;
    for (;;) {
      // A failed read leaves synced_seq_ where it was: the next call retries.
      Status s = ReadJournal(journal_.get(), synced_seq_, upto, 1024, &entries);
      if (!s.ok()) {
        *dead = IsHandleDead(s);
        return s;
      }
      if (entries.empty()) break;
      // Seqs are dense: a first entry past synced_seq_ + 1 means the master
      // trimmed entries this site never returned (bdb/journal.h).
      if (entries.front().seq != synced_seq_ + 1) replicated_gaps_.fetch_add(1);
      for (JournalEntry& e : entries) {
        out.insert(out.end(), e.oids.begin(), e.oids.end());
        synced_seq_ = e.seq;
        published_.push_back(std::move(e));
        if (published_.size() > kPublishedKept) published_.pop_front();
      }
    }
    return Status::OK();
  }).IgnoreError();  // what was read is returned; the next call retries the rest
  return out;
}

bool BdbStorage::ReplicatedChangesPending() {
  if (repl_ == nullptr) return false;
  bool pending = false;
  Status s = WithLiveHandles([&](bool* dead) {
    std::shared_lock<std::shared_mutex> open(close_mu_);
    if (closed_ || journal_ == nullptr) return Status::OK();
    if (repl_->IsMaster()) {
      // Every load asks: no read of the journal's last page (an in-flight
      // commit holds it locked through its acknowledgement wait) once the
      // entries before the promotion are published.
      std::lock_guard<std::mutex> l(journal_mu_);
      if (synced_seq_ >= promoted_tail_.load()) {
        pending = !rolled_back_.empty();
        return Status::OK();
      }
    }
    uint64_t last = 0;
    Status r = LastJournalSeq(journal_.get(), &last);
    if (!r.ok()) {
      *dead = IsHandleDead(r);
      return r;
    }
    const uint64_t upto = repl_->IsMaster() ? promoted_tail_.load() : UINT64_MAX;
    std::lock_guard<std::mutex> l(journal_mu_);
    pending = !rolled_back_.empty() || std::min(last, upto) > synced_seq_;
    return Status::OK();
  });
  return pending || !s.ok();  // a failure: let the reader retry
}

Status BdbStorage::CheckWritable(const std::string& what) {
  if (repl_ == nullptr) return Status::OK();
  std::shared_lock<std::shared_mutex> open(close_mu_);
  DURUS_RETURN_IF_ERROR(CheckOpen());
  return repl_->IsMaster() ? Status::OK() : NotMaster(what);
}

std::string BdbStorage::ReplicationSummary() {
  if (repl_ == nullptr) return "";
  // Not from the atomics before close_mu_ (tried 2026-12-07): the line
  // then came at DB_EVENT_REP_MASTER, and test_failover's kill loop, which
  // kills each new master soon after its line, failed 3 runs of 9 (see
  // doc/replication.md, "Not done yet": a double failure within a second
  // or two of a rejoin).
  std::shared_lock<std::shared_mutex> open(close_mu_);
  if (closed_) return "";
  switch (repl_->role()) {
    case ReplicationRole::kMaster: return "role master";
    case ReplicationRole::kReplica: {
      std::string site = repl_->MasterSite(env_.get());
      if (site.empty()) return "role replica, no master";
      std::string durus = MasterDurusAddress(meta_.get());
      return "role replica, master " + (durus.empty() ? site : durus + " (site " + site + ")");
    }
    case ReplicationRole::kNone: break;
  }
  return "role none (electing)";
}

}  // namespace durus::bdb
