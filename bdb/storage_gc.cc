// The storage's side of garbage collection: GcStore (bdb/gc/store.h), the
// narrow interface the module bdb/gc/ works through, and the entry points
// that hand the module a storage (Collect, StartPack, and VerifyStorage,
// CollectWithProgress, CompactStorage of bdb/gc/gc.h).
//
// TransactLocked is the one place where a writer other than Commit writes
// the meta counters and publishes them with the oids it deleted, so that
// whoever sees the object count drop also finds the oids in Sync().  On a
// replication group's master it also writes those oids as one journal
// entry (kind 2, bdb/journal.h) in the same transaction: replicas' servers
// tell their clients from it, as Sync() tells the master's.
#include <algorithm>
#include <cstring>

#include "bdb/journal.h"
#include "bdb/retry.h"
#include "bdb/storage_impl.h"

namespace durus::bdb {

Status BdbStorage::Exclusive(const std::string& readonly_error, const std::function<Status()>& fn) {
  std::shared_lock<std::shared_mutex> open(close_mu_);
  DURUS_RETURN_IF_ERROR(CheckOpen());
  if (!readonly_error.empty() && options_.readonly) return Status::ReadOnly(readonly_error);
  std::lock_guard<std::mutex> l(write_mu_);
  // Replication: only the master writes (bdb/storage_repl.cc).
  if (!readonly_error.empty() && repl_ != nullptr) {
    DURUS_RETURN_IF_ERROR(ReplicationBeforeWriteLocked());
  }
  return fn();
}

MetaCounters BdbStorage::CountersLocked() const {
  MetaCounters c;
  c.next_oid = max_stored_next_;
  c.objects = object_count_;
  c.bytes = record_bytes_;
  c.pending = pending_count_;
  return c;
}

Status BdbStorage::TransactLocked(const char* what, uint32_t commit_flags, const TxnBody& body) {
  TxnEffects effects;
  uint64_t objects = 0, bytes = 0, pending = 0;
  DURUS_RETURN_IF_ERROR(RetryTxn([&](bool* retry) -> Status {
    effects = TxnEffects();
    objects = object_count_;
    bytes = record_bytes_;
    pending = pending_count_;
    Txn txn;
    int ret = txn.Begin(env_.get());
    if (ret != 0) return FromDb(ret, std::string("beginning ") + what);
    DURUS_RETURN_IF_ERROR(body(txn.get(), &effects, retry));
    if (effects.abort) return Status::OK();  // Txn aborts
    if (!effects.delta.empty()) {
      const CounterDelta& d = effects.delta;
      DURUS_RETURN_IF_ERROR(
          CountersAfter(d.objects, d.bytes, d.pending, &objects, &bytes, &pending));
      DURUS_RETURN_IF_ERROR(PutMetaCounters(txn.get(), max_stored_next_, objects, bytes, pending));
    }
    // One entry per transaction (a collector batch), not per oid.
    if (journal_ != nullptr && !effects.removed.empty()) {
      ret = AppendJournalOids(journal_.get(), txn.get(), journal_seq_ + 1, kJournalCollected,
                              effects.removed);
      if (ret != 0) return TxnFailure(ret, "writing the collector's journal entry", retry);
    }
    ret = txn.Commit(commit_flags);
    if (ret != 0) return FromDb(ret, std::string("committing ") + what);
    return Status::OK();
  }));
  if (effects.abort) return Status::OK();
  if (journal_ != nullptr && !effects.removed.empty()) ++journal_seq_;
  object_count_ = objects;
  record_bytes_ = bytes;
  pending_count_ = pending;
  if (!effects.removed.empty()) {
    collected_total_ += effects.removed.size();
    std::lock_guard<std::mutex> cl(collected_mu_);
    collected_.insert(collected_.end(), effects.removed.begin(), effects.removed.end());
  }
  return Status::OK();
}

Status BdbStorage::SetCountersLocked(const MetaCounters& c) {
  DURUS_RETURN_IF_ERROR(RetryTxn([&](bool* retry) -> Status {
    Txn txn;
    int ret = txn.Begin(env_.get());
    if (ret != 0) return FromDb(ret, "beginning to write the counters");
    DURUS_RETURN_IF_ERROR(PutMetaCounters(txn.get(), c.next_oid, c.objects, c.bytes, c.pending));
    ret = txn.Commit(0);
    if (ret != 0) return TxnFailure(ret, "writing the counters", retry);
    return Status::OK();
  }));
  max_stored_next_ = c.next_oid;
  object_count_ = c.objects;
  record_bytes_ = c.bytes;
  pending_count_ = c.pending;
  // Never hand out an oid at or below one that was stored.
  uint64_t cur = next_oid_.load();
  while (cur < c.next_oid && !next_oid_.compare_exchange_weak(cur, c.next_oid)) {
  }
  return Status::OK();
}

Status BdbStorage::CollectStep(uint32_t max, uint64_t* collected, uint64_t* bytes, bool* done) {
  return collector_.Step(max, collected, bytes, done);
}

Status BdbStorage::Collect(bool cycles, CollectReport* report) {
  const uint32_t batch = std::max<uint32_t>(options_.gc_batch, 1);
  return collector_.Run(cycles, batch, std::max<uint32_t>(batch, 1024), nullptr, report);
}

Status BdbStorage::StartPack() {
  if (!options_.gc_background) {
    // Nothing would step the trace: run the whole collection now.
    CollectReport report;
    return Collect(true, &report);
  }
  bool started = false;
  DURUS_RETURN_IF_ERROR(trace_.Start(&started));
  { std::lock_guard<std::mutex> l(bg_mu_); }
  bg_cv_.notify_all();  // start stepping now rather than at the next tick
  return Status::OK();
}

}  // namespace durus::bdb

namespace durus {

Status VerifyStorage(BdbHandle* storage, const VerifyOptions& options, gc::VerifyReport* report) {
  *report = gc::VerifyReport();
  bdb::BdbStorage& s = storage->impl();
  return bdb::Verify(s.gc_store(), s.trace(), options, report);
}

Status CollectWithProgress(BdbHandle* storage, bool cycles, const MaintenanceProgressFn& progress,
                           CollectReport* report) {
  *report = CollectReport();
  const uint32_t batch = 1024;
  return storage->impl().collector()->Run(cycles, batch, batch, progress, report);
}

Status CompactStorage(BdbHandle* storage, CompactReport* report) {
  *report = CompactReport();
  return bdb::Compact(storage->impl().gc_store(), report);
}

}  // namespace durus
