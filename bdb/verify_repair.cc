// The verifier's repair (bdb/verifier.h, bdb/verify.h for what it fixes),
// compaction, and collection with progress.
//
// Repair runs only in VerifyStorage's second pass, after a pass that only
// read had read everything (bdb/verify.cc).  It still checks, before each
// destructive step, what it relies on: an oid it is about to treat as
// missing is looked up in records.db, and counters never go below zero.
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "bdb/schema.h"
#include "bdb/verifier.h"
#include "engine/record.h"

namespace durus {
namespace bdb {

namespace {

uint64_t TableFileBytes(const std::string& home) {
  uint64_t total = 0;
  for (const char* f : {schema::kRecordsFile, schema::kRefcountsFile, schema::kPendingFile,
                        schema::kMetaFile, schema::kMarksFile}) {
    struct stat st;
    if (stat((home + "/" + f).c_str(), &st) == 0) total += st.st_size;
  }
  return total;
}

}  // namespace

// Repair never acts on "oid has no record" without asking records.db
// directly: a scan that missed records (issue 11: a reader that stopped
// at the first record larger than its buffer) must not turn into
// dropped references or deleted counts.
Status Verifier::ExpectNoRecord(Oid oid, const char* action) {
  std::string rec;
  int ret = TempGet(s_->records(), oid, &rec);
  if (ret == DB_NOTFOUND) return Status::OK();
  if (ret != 0) return FromDb(ret, "reading oid " + OidToString(oid));
  return Status::Corruption("verify took oid " + OidToString(oid) +
                            " for missing but its record exists (a bug in verify's scan); "
                            "stopped before " + action + " (please report this)");
}

// Applies the buffered fixes in one transaction (retried on deadlock).
Status Verifier::ApplyFixes() {
  if (fixes_.empty()) return Status::OK();
  for (int attempt = 0;; ++attempt) {
    Txn txn;
    int ret = txn.Begin(s_->env());
    for (size_t i = 0; ret == 0 && i < fixes_.size(); ++i) {
      const Fix& f = fixes_[i];
      Dbt key = InDbt(f.key.data(), f.key.size());
      if (f.kind == Fix::kPut) {
        Dbt data = InDbt(f.value.data(), f.value.size());
        ret = f.db->put(txn.get(), &key, &data, 0);
      } else {
        ret = f.db->del(txn.get(), &key, 0);
        if (ret == DB_NOTFOUND) ret = 0;
      }
    }
    if (ret == 0) ret = txn.Commit(0);
    if (ret == 0) break;
    if (!IsRetryable(ret) || attempt >= kVerifyMaxRetries) return FromDb(ret, "repairing");
  }
  fixes_.clear();
  return Status::OK();
}

// --- 5. Repair (the count and queue fixes are already buffered).
Status Verifier::Repair() {
  uint64_t problems = rep_->total_problems();
  uint64_t done = 0;
  DURUS_RETURN_IF_ERROR(ApplyFixes());
  uint64_t bytes = rep_->record_bytes;
  if (dangling_ > 0 && missing_) DURUS_RETURN_IF_ERROR(DropDanglingRefs(&bytes));
  if (opt_.progress) opt_.progress("repair", ++done, problems);
  // The counters, from what is now on disk.
  uint64_t objects = rep_->records;
  uint64_t pending = queue_after_;
  uint64_t next = std::max(s_->max_stored_next_, rep_->records > 0 ? max_oid_ + 1 : 0);
  if (objects != s_->object_count_ || bytes != s_->record_bytes_ ||
      pending != s_->pending_count_ || next != s_->max_stored_next_) {
    repair_.meta_fixed += (objects != s_->object_count_) + (bytes != s_->record_bytes_) +
                          (pending != s_->pending_count_) + (next != s_->max_stored_next_);
    DURUS_RETURN_IF_ERROR(WriteCounters(next, objects, bytes, pending));
  }
  if (rep_->leaked > 0) DURUS_RETURN_IF_ERROR(DeleteUnreachable());
  rep_->repaired = repair_;
  // Make the repair durable now, whatever the storage's durability.
  return FromDb(s_->env()->log_flush(nullptr), "flushing the repair");
}

Status Verifier::WriteCounters(uint64_t next, uint64_t objects, uint64_t bytes, uint64_t pending) {
  for (int attempt = 0;; ++attempt) {
    Txn txn;
    int ret = txn.Begin(s_->env());
    if (ret != 0) return FromDb(ret, "begin");
    Status st = s_->PutMetaCounters(txn.get(), next, objects, bytes, pending);
    if (st.ok()) {
      ret = txn.Commit(0);
      if (ret == 0) break;
      st = FromDb(ret, "writing the counters");
    }
    if (attempt >= kVerifyMaxRetries) return st;
  }
  s_->max_stored_next_ = next;
  s_->object_count_ = objects;
  s_->record_bytes_ = bytes;
  s_->pending_count_ = pending;
  uint64_t cur = s_->next_oid_.load();
  while (cur < next && !s_->next_oid_.compare_exchange_weak(cur, next)) {
  }
  return Status::OK();
}

// Rewrites every record that references a missing oid without it.
Status Verifier::DropDanglingRefs(uint64_t* bytes) {
  {
    // Each of them really is missing (asked before anything is written).
    Stream st(missing_.get());
    DURUS_RETURN_IF_ERROR(st.Advance("missing oids"));
    while (st.valid) {
      DURUS_RETURN_IF_ERROR(ExpectNoRecord(st.key, "dropping references to it"));
      DURUS_RETURN_IF_ERROR(st.Advance("missing oids"));
    }
  }
  Stream recs(s_->records());
  std::string v;
  for (;;) {
    DURUS_RETURN_IF_ERROR(recs.Advance("records.db"));
    if (!recs.valid) break;
    Oid oid = recs.key;
    std::string_view value = recs.value;
    int ret;
    RecordView view;
    if (!UnpackRecord(value, &view).ok()) continue;
    std::string kept;
    bool changed = false;
    for (size_t i = 0; i + 8 <= view.refs.size(); i += 8) {
      Oid r = Oid::FromBytes(view.refs.data() + i);
      ret = TempGet(missing_.get(), r, &v);
      if (ret == 0) {
        changed = true;
        ++repair_.refs_dropped;
        continue;
      }
      if (ret != DB_NOTFOUND) return FromDb(ret, "reading the missing-oid table");
      kept.append(view.refs.data() + i, 8);
    }
    if (!changed) continue;
    std::string rec = PackRecordRaw(view.oid, view.data, kept);
    int64_t change = static_cast<int64_t>(rec.size()) - static_cast<int64_t>(value.size());
    DURUS_RETURN_IF_ERROR(AddToMetaCounter(schema::kMetaRecordBytes, *bytes, change, bytes));
    fixes_.push_back(Fix{Fix::kPut, s_->records(), oid.Bytes(), rec});
    if (fixes_.size() >= kVerifyFixesPerTxn) DURUS_RETURN_IF_ERROR(ApplyFixes());
  }
  return ApplyFixes();
}

// Deletes every unreachable object (leaked or not), in small
// transactions, as the trace's sweep does.
Status Verifier::DeleteUnreachable() {
  std::vector<Oid> batch;
  Stream un(unreach_.get());
  DURUS_RETURN_IF_ERROR(un.Advance("the unreachable set"));
  uint64_t n = 0;
  while (un.valid) {
    batch.clear();
    while (un.valid && batch.size() < 256) {
      batch.push_back(un.key);
      DURUS_RETURN_IF_ERROR(un.Advance("the unreachable set"));
    }
    std::vector<Oid> removed;
    for (int attempt = 0;; ++attempt) {
      removed.clear();
      CounterDelta delta;
      uint64_t freed = 0;
      Txn txn;
      DeleteCursors cursors;
      int ret = txn.Begin(s_->env());
      if (ret == 0) ret = cursors.Open(s_, txn.get());
      for (size_t i = 0; ret == 0 && i < batch.size(); ++i) {
        if (batch[i].IsRoot()) continue;
        ret = DeleteObjectInTxn(s_, txn.get(), &cursors, batch[i], DeleteMode(), &delta,
                                &freed, &removed);
      }
      cursors.records.Close();
      cursors.counts.Close();
      uint64_t objects = 0, bytes = 0, pending = 0;
      if (ret == 0) {
        // A counter going below zero is a bug to report, never to write.
        DURUS_RETURN_IF_ERROR(AddToMetaCounter(schema::kMetaObjectCount, s_->object_count_,
                                           delta.objects, &objects));
        DURUS_RETURN_IF_ERROR(AddToMetaCounter(schema::kMetaRecordBytes, s_->record_bytes_,
                                           delta.bytes, &bytes));
        DURUS_RETURN_IF_ERROR(AddToMetaCounter(schema::kMetaPendingCount, s_->pending_count_,
                                           delta.pending, &pending));
        Status st =
            s_->PutMetaCounters(txn.get(), s_->max_stored_next_, objects, bytes, pending);
        if (!st.ok()) return st;
        ret = txn.Commit(0);
      }
      if (ret == 0) {
        s_->object_count_ = objects;
        s_->record_bytes_ = bytes;
        s_->pending_count_ = pending;
        break;
      }
      if (!IsRetryable(ret) || attempt >= kVerifyMaxRetries) {
        return FromDb(ret, "deleting unreachable objects");
      }
    }
    repair_.unreachable_deleted += removed.size();
    n += batch.size();
    if (opt_.progress) opt_.progress("delete unreachable", n, rep_->unreachable);
    if (!removed.empty()) {
      s_->collected_total_ += removed.size();
      std::lock_guard<std::mutex> l(s_->collected_mu_);
      s_->collected_.insert(s_->collected_.end(), removed.begin(), removed.end());
    }
  }
  return Status::OK();
}

// Compaction (bdb/verify.h: CompactStorage) needs the handles and write_mu_.
Status Verifier::Compact(BdbStorage* s, CompactReport* report) {
  std::shared_lock<std::shared_mutex> open(s->close_mu_);
  DURUS_RETURN_IF_ERROR(s->CheckOpen());
  if (s->options_.readonly) return Status::ReadOnly("storage " + s->home() + " is read-only");
  std::lock_guard<std::mutex> l(s->write_mu_);
  // Write the cache back first, so that the files show their real size.
  int ret0 = s->env()->txn_checkpoint(0, 0, DB_FORCE);
  if (ret0 != 0) return FromDb(ret0, "checkpoint before compaction");
  report->file_bytes_before = TableFileBytes(s->home());
  for (Db* db : {s->records(), s->refcounts(), s->pending(), s->meta()}) {
    DB_COMPACT c;
    memset(&c, 0, sizeof(c));
    int ret = db->compact(nullptr, nullptr, nullptr, &c, DB_FREE_SPACE, nullptr);
    if (ret != 0) return FromDb(ret, "compacting " + s->home());
    report->pages_freed += c.compact_pages_truncated;
    report->pages_examined += c.compact_pages_examine;
  }
  int ret = s->env()->txn_checkpoint(0, 0, DB_FORCE);
  if (ret != 0) return FromDb(ret, "checkpoint after compaction");
  report->file_bytes_after = TableFileBytes(s->home());
  return Status::OK();
}

}  // namespace bdb

Status CollectWithProgress(Storage* storage, bool cycles, const MaintenanceProgressFn& progress,
                           CollectReport* report) {
  *report = CollectReport();
  bdb::BdbStorage* s = bdb::AsBdb(storage);
  if (s == nullptr) return storage->Collect(cycles, report);
  StorageStats stats;
  DURUS_RETURN_IF_ERROR(storage->GetStats(&stats));
  const uint32_t batch = 1024;
  auto drain = [&]() -> Status {
    uint64_t total = 0;
    DURUS_RETURN_IF_ERROR(storage->GetStats(&stats));
    uint64_t queued = stats.pending_garbage;
    for (bool done = false; !done;) {
      uint64_t n = 0, b = 0;
      DURUS_RETURN_IF_ERROR(s->CollectStep(batch, &n, &b, &done));
      report->collected += n;
      report->bytes_freed += b;
      total += n;
      // Cascades make the total unknowable in advance: show at least done.
      if (progress) progress("collect", total, std::max(queued, total));
    }
    return Status::OK();
  };
  DURUS_RETURN_IF_ERROR(drain());
  if (cycles) {
    // As BdbStorage::Collect: finish a running trace, then trace again if
    // that one was not ours.
    for (int pass = 0; pass < 2; ++pass) {
      bool started = false;
      DURUS_RETURN_IF_ERROR(s->trace()->Start(&started));
      DURUS_RETURN_IF_ERROR(storage->GetStats(&stats));
      for (;;) {
        bdb::TraceStepResult r;
        DURUS_RETURN_IF_ERROR(s->trace()->Step(batch, &r));
        report->collected += r.collected;
        report->bytes_freed += r.bytes_freed;
        if (r.done) break;
        bdb::TraceProgress p = s->trace()->Progress();
        if (progress) {
          if (p.state.phase == bdb::TracePhase::kMark) {
            progress("trace", p.state.traced, stats.object_count);
          } else {
            progress("sweep", p.state.cursor, p.state.limit);
          }
        }
      }
      if (started) break;
    }
    report->traced = s->trace()->Progress().state.traced;
    DURUS_RETURN_IF_ERROR(drain());
  }
  DURUS_RETURN_IF_ERROR(storage->GetStats(&stats));
  report->pending_after = stats.pending_garbage;
  return Status::OK();
}

Status CompactStorage(Storage* storage, CompactReport* report) {
  *report = CompactReport();
  bdb::BdbStorage* s = bdb::AsBdb(storage);
  if (s == nullptr) return Status::InvalidArgument("compact needs a Berkeley DB storage");
  return bdb::Verifier::Compact(s, report);
}

}  // namespace durus
