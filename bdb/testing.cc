// Test-only hooks (bdb/testing.h).
#include "bdb/testing.h"

#include "bdb/storage_impl.h"

namespace durus {
namespace bdb {

struct TestingAccess {
  static BdbStorage* Get(BdbHandle* s) { return s != nullptr ? &s->impl() : nullptr; }

  // Runs `fn(s)` with the storage open and its write_mu_ held.
  template <typename Fn>
  static Status Locked(BdbHandle* storage, Fn fn) {
    BdbStorage* s = Get(storage);
    if (s == nullptr) return Status::InvalidArgument("no storage");
    std::shared_lock<std::shared_mutex> open(s->close_mu_);
    DURUS_RETURN_IF_ERROR(s->CheckOpen());
    std::lock_guard<std::mutex> l(s->write_mu_);
    return fn(s);
  }

  // Runs `fn(s, txn)` (a Berkeley DB code) in one transaction under write_mu_.
  template <typename Fn>
  static Status Write(BdbHandle* storage, const char* what, Fn fn) {
    return Locked(storage, [&](BdbStorage* s) {
      Txn txn;
      int ret = txn.Begin(s->env());
      if (ret == 0) ret = fn(s, txn.get());
      if (ret == 0) ret = txn.Commit(0);
      return FromDb(ret, what);
    });
  }

  static Status SetObjectCounter(BdbHandle* storage, uint64_t value) {
    return Locked(storage, [&](BdbStorage* s) -> Status {
      Txn txn;
      DURUS_RETURN_IF_ERROR(FromDb(txn.Begin(s->env()), "begin"));
      DURUS_RETURN_IF_ERROR(s->PutMetaCounters(txn.get(), s->max_stored_next_, value,
                                               s->record_bytes_, s->pending_count_));
      DURUS_RETURN_IF_ERROR(FromDb(txn.Commit(0), "commit"));
      s->object_count_ = value;
      return Status::OK();
    });
  }

  static Status DamageTraceState(BdbHandle* storage) {
    return Write(storage, "DamageTraceState", [](BdbStorage* s, DbTxn* t) {
      if (!s->trace_.marks_) return EINVAL;
      Dbt key = InDbt("S", 1);
      Dbt data = InDbt("garbage", 7);
      return s->trace_.marks_->put(t, &key, &data, 0);
    });
  }
};

}  // namespace bdb

namespace bdb_testing {

using bdb::BdbStorage;
using bdb::TestingAccess;

namespace {
const char kEmpty[1] = {0};

int Put(Db* db, DbTxn* t, Oid oid, const void* v, size_t n) {
  char k[8];
  oid.ToBytes(k);
  Dbt key = bdb::InDbt(k, 8);
  Dbt data = bdb::InDbt(v, n);
  return db->put(t, &key, &data, 0);
}

int Del(Db* db, DbTxn* t, Oid oid) {
  char k[8];
  oid.ToBytes(k);
  Dbt key = bdb::InDbt(k, 8);
  return db->del(t, &key, 0);
}
}  // namespace

Status SetCount(BdbHandle* storage, Oid oid, uint64_t count) {
  return TestingAccess::Write(storage, "SetCount", [&](BdbStorage* s, DbTxn* t) {
    char v[8];
    Oid(count).ToBytes(v);
    return Put(s->refcounts(), t, oid, v, 8);
  });
}

Status EraseCount(BdbHandle* storage, Oid oid) {
  return TestingAccess::Write(storage, "EraseCount",
                              [&](BdbStorage* s, DbTxn* t) { return Del(s->refcounts(), t, oid); });
}

Status AddQueueEntry(BdbHandle* storage, Oid oid) {
  return TestingAccess::Write(storage, "AddQueueEntry", [&](BdbStorage* s, DbTxn* t) {
    return Put(s->pending(), t, oid, kEmpty, 0);
  });
}

Status EraseQueueEntry(BdbHandle* storage, Oid oid) {
  return TestingAccess::Write(storage, "EraseQueueEntry",
                              [&](BdbStorage* s, DbTxn* t) { return Del(s->pending(), t, oid); });
}

Status EraseRecord(BdbHandle* storage, Oid oid) {
  return TestingAccess::Write(storage, "EraseRecord",
                              [&](BdbStorage* s, DbTxn* t) { return Del(s->records(), t, oid); });
}

Status PutRecordRaw(BdbHandle* storage, Oid oid, const std::string& record) {
  return TestingAccess::Write(storage, "PutRecordRaw", [&](BdbStorage* s, DbTxn* t) {
    return Put(s->records(), t, oid, record.data(), record.size());
  });
}

Status SetObjectCounter(BdbHandle* storage, uint64_t value) {
  return TestingAccess::SetObjectCounter(storage, value);
}

Status DamageTraceState(BdbHandle* storage) { return TestingAccess::DamageTraceState(storage); }

Status CollectStep(BdbHandle* storage, uint32_t max, uint64_t* collected, bool* done) {
  BdbStorage* s = TestingAccess::Get(storage);
  if (s == nullptr) return Status::InvalidArgument("no storage");
  uint64_t bytes = 0;
  return s->CollectStep(max, collected, &bytes, done);
}

Status StartTrace(BdbHandle* storage, bool* started) {
  BdbStorage* s = TestingAccess::Get(storage);
  if (s == nullptr) return Status::InvalidArgument("no storage");
  return s->trace()->Start(started);
}

Status TraceStep(BdbHandle* storage, uint32_t max, uint64_t* collected, bool* done) {
  BdbStorage* s = TestingAccess::Get(storage);
  if (s == nullptr) return Status::InvalidArgument("no storage");
  bdb::TraceStepResult r;
  DURUS_RETURN_IF_ERROR(s->trace()->Step(max, &r));
  *collected = r.collected;
  *done = r.done;
  return Status::OK();
}

Status GetTraceInfo(BdbHandle* storage, TraceInfo* info) {
  BdbStorage* s = TestingAccess::Get(storage);
  if (s == nullptr) return Status::InvalidArgument("no storage");
  bdb::TraceProgress p = s->trace()->Progress();
  info->running = p.running;
  info->phase = static_cast<int>(p.state.phase);
  info->limit = p.state.limit;
  info->cursor = p.state.cursor;
  info->traced = p.state.traced;
  info->swept = p.state.swept;
  info->started_total = p.started_total;
  info->completed_total = p.completed_total;
  return Status::OK();
}

}  // namespace bdb_testing
}  // namespace durus
