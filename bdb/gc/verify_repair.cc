// The verifier's repair (bdb/gc/verifier.h, bdb/gc/gc.h for what it
// fixes), and compaction.
//
// Repair runs only in Verify's second pass, after a pass that only read had
// read everything (bdb/gc/verify.cc).  It still checks, before each
// destructive step, what it relies on: an oid it is about to treat as
// missing is looked up in records.db, and counters never go below zero.
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "bdb/gc/verifier.h"
#include "bdb/retry.h"
#include "bdb/schema.h"
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
                            "stopped before " +
                            action + " (please report this)");
}

// Applies the buffered fixes in one transaction (retried on deadlock).
Status Verifier::ApplyFixes() {
  if (fixes_.empty()) return Status::OK();
  DURUS_RETURN_IF_ERROR(
      s_->TransactLocked("a repair", 0, [&](DbTxn* txn, TxnEffects*, bool* retry) {
        int ret = WriteFixes(txn);
        return ret == 0 ? Status::OK() : TxnFailure(ret, "repairing", retry);
      }));
  fixes_.clear();
  return Status::OK();
}

int Verifier::WriteFixes(DbTxn* txn) {
  for (const Fix& f : fixes_) {
    Dbt key = InDbt(f.key.data(), f.key.size());
    int ret;
    if (f.kind == Fix::kPut) {
      Dbt data = InDbt(f.value.data(), f.value.size());
      ret = f.db->put(txn, &key, &data, 0);
    } else {
      ret = f.db->del(txn, &key, 0);
      if (ret == DB_NOTFOUND) ret = 0;
    }
    if (ret != 0) return ret;
  }
  return 0;
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
  const MetaCounters cur = s_->CountersLocked();
  MetaCounters want;
  want.objects = rep_->records;
  want.bytes = bytes;
  want.pending = queue_after_;
  want.next_oid = std::max(cur.next_oid, rep_->records > 0 ? max_oid_ + 1 : 0);
  uint64_t differ = (want.objects != cur.objects) + (want.bytes != cur.bytes) +
                    (want.pending != cur.pending) + (want.next_oid != cur.next_oid);
  if (differ > 0) {
    repair_.meta_fixed += differ;
    DURUS_RETURN_IF_ERROR(s_->SetCountersLocked(want));
  }
  if (rep_->leaked > 0) DURUS_RETURN_IF_ERROR(DeleteUnreachable());
  rep_->repaired = repair_;
  // Make the repair durable now, whatever the storage's durability.
  return FromDb(s_->env()->log_flush(nullptr), "flushing the repair");
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
    // The store writes the counters (never below zero: a bug to report,
    // not to write) and hands the deleted oids to Sync().
    size_t removed = 0;
    DURUS_RETURN_IF_ERROR(s_->TransactLocked(
        "deleting unreachable objects", 0, [&](DbTxn* txn, TxnEffects* effects, bool* retry) {
          uint64_t freed = 0;
          DeleteCursors cursors;
          int ret = cursors.Open(s_, txn);
          for (size_t i = 0; ret == 0 && i < batch.size(); ++i) {
            if (batch[i].IsRoot()) continue;
            ret = DeleteObjectInTxn(s_, txn, &cursors, batch[i], DeleteMode(), effects, &freed);
          }
          removed = effects->removed.size();
          return ret == 0 ? Status::OK() : TxnFailure(ret, "deleting unreachable objects", retry);
        }));
    repair_.unreachable_deleted += removed;
    n += batch.size();
    if (opt_.progress) opt_.progress("delete unreachable", n, rep_->unreachable);
  }
  return Status::OK();
}

// CompactStorage (bdb/gc/gc.h): under the writer lock, so nothing writes
// the files meanwhile.
Status Compact(GcStore* s, CompactReport* report) {
  *report = CompactReport();
  return s->Exclusive("storage " + s->home() + " is read-only", [&]() -> Status {
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
  });
}

}  // namespace bdb
}  // namespace durus
