// Commit: one Berkeley DB transaction applies the reference-count deltas
// and maintains the pending-garbage queue, then writes every record of the
// batch (bdb/schema.h states the invariants).  NewOid.
#include <algorithm>
#include <cstring>
#include <unordered_set>
#include <vector>

#include "bdb/journal.h"
#include "bdb/replication.h"
#include "bdb/retry.h"
#include "bdb/schema.h"
#include "bdb/storage_impl.h"
#include "engine/commit_plan.h"
#include "engine/record.h"

namespace durus::bdb {

namespace {
const char kEmpty[1] = {0};
// Per-thread scratch larger than this is released after the commit that
// grew it (one huge record must not stay resident in every thread).
constexpr size_t kMaxKeptScratch = 1 << 20;
}  // namespace

Status BdbStorage::NewOid(Oid* oid) {
  DURUS_RETURN_IF_ERROR(CheckOpen());
  if (options_.readonly) return Status::ReadOnly("storage " + home_ + " is read-only");
  if (repl_ != nullptr) {
    // Replication: a replica hands out no oids; a new master first
    // reloads next_oid from the replicated meta.db (through live handles).
    DURUS_RETURN_IF_ERROR(RefreshHandles());
    std::shared_lock<std::shared_mutex> open(close_mu_);
    DURUS_RETURN_IF_ERROR(CheckOpen());
    if (!repl_->IsMaster()) return NotMaster("new oids");
    if (repl_->master_generation() != promoted_generation_.load()) {
      std::lock_guard<std::mutex> l(write_mu_);
      DURUS_RETURN_IF_ERROR(ReplicationBeforeWriteLocked());
    }
  }
  *oid = Oid(next_oid_.fetch_add(1));
  return Status::OK();
}

Status BdbStorage::Commit(const CommitBatch& batch) {
  // Replication: handles a rollback made dead are reopened first.
  DURUS_RETURN_IF_ERROR(RefreshHandles());
  std::shared_lock<std::shared_mutex> open(close_mu_);
  DURUS_RETURN_IF_ERROR(CheckOpen());
  if (options_.readonly) return Status::ReadOnly("storage " + home_ + " is read-only");
  if (batch.empty()) return Status::OK();
  if (batch.size() > options_.max_commit_records) {
    return Status::InvalidArgument("commit of " + std::to_string(batch.size()) +
                                   " records exceeds max_commit_records (" +
                                   std::to_string(options_.max_commit_records) + ")");
  }
  Status s;
  {
    std::lock_guard<std::mutex> l(write_mu_);
    if (repl_ != nullptr) DURUS_RETURN_IF_ERROR(ReplicationBeforeWriteLocked());
    s = RetryTxn([&](bool* retry) { return CommitOnce(batch, retry); });
    NoteCommitLocked(batch, s);  // replication: what a failover may roll back
  }
  if (!s.ok()) return s;
  commits_since_checkpoint_.fetch_add(1, std::memory_order_relaxed);
  if (options_.durability == Durability::kSync) {
    // Outside write_mu_: concurrent committers share this fsync.
    return FromDb(env_->log_flush(nullptr), "flushing the commit to disk in " + home_);
  }
  return Status::OK();
}

// One attempt.  Sets *retry when Berkeley DB chose this transaction as a
// deadlock victim (the transaction is aborted; nothing was written).
//
// Order: plan (old versions of the stored records), then counts and queue
// in oid order (which also refuses dangling references before anything is
// written), then the records, the trace barrier, the meta counters.  Every
// refusal returns before the commit, so the transaction aborts and nothing
// of the batch is written.
Status BdbStorage::CommitOnce(const CommitBatch& batch, bool* retry) {
  *retry = false;
  Txn txn;
  int ret = txn.Begin(env_.get());
  if (ret != 0) return FromDb(ret, "beginning a commit");
  DbTxn* t = txn.get();

  auto fail = [&](int r, const std::string& what) { return TxnFailure(r, what, retry); };

  // Per-thread scratch: a commit runs on one thread and commits do not
  // nest, so these keep their capacity from one commit to the next.
  thread_local std::string buf;
  thread_local std::vector<Oid> created;
  struct TrimScratch {
    ~TrimScratch() {
      if (buf.capacity() > kMaxKeptScratch) std::string().swap(buf);
      if (created.capacity() * sizeof(Oid) > kMaxKeptScratch) std::vector<Oid>().swap(created);
    }
  } trim_scratch;

  char kb[8];
  // 1. Plan: old versions of the stored records give the count deltas.
  CommitPlan plan;
  Status s = PlanCommit(
      batch,
      [&](Oid oid, bool* exists, std::vector<Oid>* refs, uint64_t* size) -> Status {
        if (oid.value() >= max_stored_next_) {  // never stored: skip the lookup
          *exists = false;
          return Status::OK();
        }
        oid.ToBytes(kb);
        Dbt key = InDbt(kb, 8);
        int r = GetInto(records_.get(), t, &key, &buf, DB_RMW);
        if (r == DB_NOTFOUND) {
          *exists = false;
          return Status::OK();
        }
        if (r != 0) return fail(r, "reading oid " + OidToString(oid));
        *exists = true;
        *size = buf.size();
        RecordView view;
        Status us = UnpackRecord(buf, &view);
        if (!us.ok())
          return Status::Corruption(
              "stored record of oid " + OidToString(oid) + " is malformed: " + us.message(), {oid});
        *refs = NormalizedRefs(view.refs, oid);
        return Status::OK();
      },
      &plan);
  if (!s.ok()) return s;

  // 2. Counts and the queue, in oid order: the created oids (a count entry
  // starting at 0) merged with the targets of the deltas.  A target that
  // exists is read with DB_SET|DB_RMW through one cursor and rewritten in
  // place (DB_CURRENT: one btree search, not a get and a put); a missing
  // one refuses the commit.
  created.assign(plan.created.begin(), plan.created.end());
  std::sort(created.begin(), created.end());
  int64_t pending_delta = 0;
  {
    Cursor counts;
    ret = counts.Open(refcounts_.get(), t);
    if (ret != 0) return fail(ret, "opening a cursor for a commit");
    auto next_created = created.begin();
    auto next_delta = plan.deltas.begin();
    while (next_created != created.end() || next_delta != plan.deltas.end()) {
      Oid oid;
      bool is_created;
      int64_t delta = 0;
      if (next_delta == plan.deltas.end() ||
          (next_created != created.end() && *next_created <= next_delta->first)) {
        oid = *next_created++;
        is_created = true;
        if (next_delta != plan.deltas.end() && next_delta->first == oid) {
          delta = (next_delta++)->second;
        }
      } else {
        oid = next_delta->first;
        delta = (next_delta++)->second;
        is_created = false;
      }
      oid.ToBytes(kb);
      Dbt key = InDbt(kb, 8);
      uint64_t before = 0;
      char cv[8];
      if (!is_created) {
        Dbt cur;
        cur.set_flags(DB_DBT_USERMEM);
        cur.set_data(cv);
        cur.set_ulen(sizeof cv);
        int r = counts->get(&key, &cur, DB_SET | DB_RMW);
        if (r == DB_NOTFOUND) {
          if (delta > 0) {
            return Status::Conflict("commit references oid " + OidToString(oid) +
                                        ", which does not exist (never stored, or collected)",
                                    {oid});
          }
          return Status::Corruption(
              "oid " + OidToString(oid) + " is referenced by a stored record but has no count",
              {oid});
        }
        if (r == DB_BUFFER_SMALL || (r == 0 && cur.get_size() != 8)) {
          return Status::Corruption("count of oid " + OidToString(oid));
        }
        if (r != 0) return fail(r, "reading the count of oid " + OidToString(oid));
        before = GetU64(cv);
      }
      if (delta < 0 && before < static_cast<uint64_t>(-delta)) {
        return Status::Corruption(
            "reference count of oid " + OidToString(oid) + " would fall below zero", {oid});
      }
      uint64_t after = before + delta;
      Oid(after).ToBytes(cv);
      Dbt data = InDbt(cv, 8);
      // A created oid has no count entry (keys(records) == keys(refcounts)):
      // a put through the handle inserts it, a little cheaper than through
      // the positioned cursor (which Berkeley DB duplicates for each put).
      int r =
          is_created ? refcounts_->put(t, &key, &data, 0) : counts->put(&key, &data, DB_CURRENT);
      if (r != 0) return fail(r, "writing the count of oid " + OidToString(oid));
      if (oid.IsRoot()) continue;
      bool was_pending = !is_created && before == 0;
      bool now_pending = after == 0;
      if (now_pending && !was_pending) {
        Dbt empty = InDbt(kEmpty, 0);
        r = pending_->put(t, &key, &empty, 0);
        if (r != 0) return fail(r, "queueing oid " + OidToString(oid));
        ++pending_delta;
      } else if (was_pending && !now_pending) {  // resurrection
        r = pending_->del(t, &key, 0);
        if (r != 0 && r != DB_NOTFOUND) return fail(r, "dequeueing oid " + OidToString(oid));
        if (r == 0) --pending_delta;
      }
    }
  }  // the cursor is closed before the trace reads counts and before the commit

  // 3. Write records.
  for (const CommitBatch::Entry& e : batch.entries()) {
    e.oid.ToBytes(kb);
    Dbt key = InDbt(kb, 8);
    Dbt data = InDbt(e.record.data(), e.record.size());
    int r = records_->put(t, &key, &data, 0);
    if (r != 0) return fail(r, "storing oid " + OidToString(e.oid));
  }

  // 3b. A cycle trace in progress must keep everything this commit stores
  // or references (the barrier, bdb/gc/trace.h), in this same transaction;
  // while it deletes, linking what it found unreachable is a Conflict.
  if (trace_.ActiveLocked()) {
    std::unordered_set<Oid> created_set(plan.created.begin(), plan.created.end());
    Status ts = trace_.MarkCommitLocked(t, batch, created_set, retry);
    if (!ts.ok()) return ts;
  }

  // 3c. Replication: the commit's journal entry, in its transaction
  // (bdb/journal.h): replicas tell their clients from it.
  if (journal_ != nullptr) {
    int r = AppendJournal(journal_.get(), t, journal_seq_ + 1, batch);
    if (r != 0) return fail(r, "writing the commit journal");
  }

  // 4. Counters.
  uint64_t next = std::max(max_stored_next_, plan.max_oid.value() + 1);
  next = std::max<uint64_t>(next, next_oid_.load());
  uint64_t objects, bytes, pending;
  DURUS_RETURN_IF_ERROR(CountersAfter(plan.objects_delta, plan.bytes_delta, pending_delta, &objects,
                                      &bytes, &pending));
  // Only the counters that changed: the in-memory copies equal meta.db at
  // every writer boundary (each writer updates them under write_mu_ after
  // its transaction committed), so an unchanged one needs no put.
  const struct {
    const char* name;
    uint64_t before, after;
  } counters[] = {{schema::kMetaNextOid, max_stored_next_, next},
                  {schema::kMetaObjectCount, object_count_, objects},
                  {schema::kMetaRecordBytes, record_bytes_, bytes},
                  {schema::kMetaPendingCount, pending_count_, pending}};
  for (const auto& c : counters) {
    if (c.after == c.before) continue;
    char v[8];
    Oid(c.after).ToBytes(v);  // u64 big-endian
    Dbt key = InDbt(c.name, strlen(c.name));
    Dbt data = InDbt(v, 8);
    int r = meta_->put(t, &key, &data, 0);
    if (r != 0) return fail(r, std::string("writing meta ") + c.name);
  }
  ReplicationState::ClearPermFailed();
  ret = txn.Commit(CommitFlags());
  if (ret != 0) return FromDb(ret, "committing to " + home_);
  const bool not_replicated = repl_ != nullptr && ReplicationState::PermFailed();
  if (journal_ != nullptr) ++journal_seq_;
  PublishCounters(next, objects, bytes, pending);
  if (not_replicated) {
    // Committed here, but the replicas the ack policy asks for did not
    // acknowledge it in time: it may not survive a failover (plan 6).
    return Status::NotReplicated("commit applied on the master " +
                                 options_.replication.listen.ToString() +
                                 " but not acknowledged by the replication group (ack policy " +
                                 ReplicationAckName(options_.replication.ack) + ", within " +
                                 std::to_string(options_.replication.ack_timeout_ms) +
                                 " ms): it may or may not survive a failover");
  }
  return Status::OK();
}

void BdbStorage::PublishCounters(uint64_t next, uint64_t objects, uint64_t bytes,
                                 uint64_t pending) {
  max_stored_next_ = next;
  object_count_ = objects;
  record_bytes_ = bytes;
  pending_count_ = pending;
  // Never hand out an oid at or below one that was stored.
  uint64_t cur = next_oid_.load();
  while (cur < next && !next_oid_.compare_exchange_weak(cur, next)) {
  }
}

}  // namespace durus::bdb
