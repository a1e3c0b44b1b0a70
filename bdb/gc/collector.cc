// The pending-garbage collector: deletes queued oids whose count is still
// 0, decrementing what they referenced (which may queue more).
//
// Each step is one small transaction under write_mu_, committed with
// DB_TXN_NOSYNC: its log records are written by the next durable commit
// or checkpoint (the log is sequential, so a durable commit makes every
// earlier step durable).  After a crash, recovery leaves each step either
// applied or not, so the queue is always consistent and the collector
// simply resumes.  Cost is proportional to the garbage: the queue is read
// from its first key, never the whole store.
//
// Collector::Run runs the queue to empty in the caller's thread and, with
// cycles, a whole trace (bdb/gc/trace.h) too: Storage::Collect and
// CollectWithProgress (bdb/gc/gc.h).  The storage's background thread calls
// Step (bdb/background.cc).
#include <algorithm>
#include <deque>

#include "bdb/gc/gc_private.h"
#include "bdb/retry.h"
#include "engine/record.h"

namespace durus::bdb {

namespace {
const char kEmpty[1] = {0};

// A cursor get into `out` (resized to fit); DB_THREAD handles want user
// memory.  The cursor stays positioned on the key found.
int CursorGetInto(Dbc* c, Dbt* key, std::string* out, uint32_t flags) {
  if (out->capacity() < 512) out->reserve(512);
  out->resize(out->capacity());
  for (;;) {
    Dbt data;
    data.set_flags(DB_DBT_USERMEM);
    data.set_data(out->data());
    data.set_ulen(static_cast<u_int32_t>(out->size()));
    int ret = c->get(key, &data, flags);
    if (ret == DB_BUFFER_SMALL) {
      out->resize(data.get_size());
      continue;
    }
    if (ret == 0) out->resize(data.get_size());
    return ret;
  }
}
}  // namespace

int DeleteCursors::Open(GcStore* s, DbTxn* txn) {
  int ret = records.Open(s->records(), txn);
  if (ret == 0) ret = counts.Open(s->refcounts(), txn);
  return ret;
}

int DeleteObjectInTxn(GcStore* s, DbTxn* txn, DeleteCursors* cur, Oid oid, const DeleteMode& mode,
                      TxnEffects* effects, uint64_t* freed) {
  CounterDelta* delta = &effects->delta;
  thread_local std::string buf;
  char kb[8];
  oid.ToBytes(kb);
  Dbt key = InDbt(kb, 8);
  bool has_count = false;
  uint64_t count = 0;
  if (!mode.count_deleted) {
    int ret = CursorGetInto(cur->counts.get(), &key, &buf, DB_SET | DB_RMW);
    if (ret != 0 && ret != DB_NOTFOUND) return ret;
    has_count = ret == 0;
    count = has_count && buf.size() == 8 ? GetU64(buf.data()) : 0;
    if (mode.collector && (!has_count || count != 0 || oid.IsRoot())) return 0;
    if (has_count) {
      ret = cur->counts->del(0);
      if (ret != 0) return ret;
    }
    if (!mode.collector && has_count && count == 0 && !oid.IsRoot()) {
      ret = s->pending()->del(txn, &key, 0);
      if (ret == 0) {
        delta->pending -= 1;
      } else if (ret != DB_NOTFOUND) {
        return ret;
      }
    }
  }
  std::vector<Oid> refs;
  int ret = CursorGetInto(cur->records.get(), &key, &buf, DB_SET | DB_RMW);
  if (ret == 0) {
    refs = RecordRefs(buf);
    delta->bytes -= static_cast<int64_t>(buf.size());
    delta->objects -= 1;
    *freed += buf.size();
    ret = cur->records->del(0);
    if (ret != 0) return ret;
  } else if (ret != DB_NOTFOUND) {
    return ret;
  } else if (!has_count && !mode.count_deleted) {
    return 0;  // neither record nor count: nothing to delete
  }
  effects->removed.push_back(oid);
  size_t room = mode.cascade != nullptr ? mode.cascade_room : 0;
  for (Oid ref : refs) {
    char rk[8];
    ref.ToBytes(rk);
    Dbt rkey = InDbt(rk, 8);
    ret = CursorGetInto(cur->counts.get(), &rkey, &buf, DB_SET | DB_RMW);
    if (ret == DB_NOTFOUND) continue;  // deleted already, or dangling
    if (ret != 0) return ret;
    uint64_t c = buf.size() == 8 ? GetU64(buf.data()) : 0;
    if (c == 0) continue;  // inconsistent; verify --repair recounts
    --c;
    if (c == 0 && !ref.IsRoot() && room > 0) {
      // Collected next, in this transaction: its count entry goes now.
      ret = cur->counts->del(0);
      if (ret != 0) return ret;
      mode.cascade->push_back(ref);
      --room;
      continue;
    }
    char cv[8];
    Oid(c).ToBytes(cv);
    Dbt data = InDbt(cv, 8);
    ret = cur->counts->put(&rkey, &data, DB_CURRENT);
    if (ret != 0) return ret;
    if (c == 0 && !ref.IsRoot()) {
      Dbt empty = InDbt(kEmpty, 0);
      ret = s->pending()->put(txn, &rkey, &empty, DB_NOOVERWRITE);
      if (ret == 0) {
        delta->pending += 1;
      } else if (ret != DB_KEYEXIST) {
        return ret;
      }
    }
  }
  return 0;
}

Status Collector::Step(uint32_t max, uint64_t* collected, uint64_t* bytes, bool* done) {
  return store_->Exclusive("storage " + store_->home() + " is read-only", [&]() -> Status {
    size_t removed = 0;
    bool nothing = false;
    DURUS_RETURN_IF_ERROR(store_->TransactLocked(
        "a collector step", DB_TXN_NOSYNC, [&](DbTxn* txn, TxnEffects* effects, bool* retry) {
          *bytes = 0;
          DURUS_RETURN_IF_ERROR(StepBody(txn, max, effects, bytes, retry));
          nothing = effects->abort;
          removed = effects->removed.size();
          return Status::OK();
        }));
    // The counters and the removed oids are published (TransactLocked,
    // still under the writer lock): whoever sees the object count drop
    // also finds the oids in Sync().
    *collected = removed;
    *done = nothing || store_->CountersLocked().pending == 0;
    return Status::OK();
  });
}

Status Collector::StepBody(DbTxn* t, uint32_t max, TxnEffects* effects, uint64_t* bytes_freed,
                           bool* retry) {
  auto fail = [&](int r, const std::string& what) { return TxnFailure(r, what, retry); };
  // Work: oids dequeued from pending.db (count still to check), then the
  // oids whose count their deletion brought to 0, deleted in this same
  // transaction while the step has room (a dropped subtree does not make a
  // round trip through pending.db object by object); what does not fit is
  // queued.  Roots are dequeued a few at a time, so the cascade gets the
  // room; a step of unrelated garbage still fills up to `max`.
  struct Item {
    Oid oid;
    bool cascaded;
  };
  std::deque<Item> work;
  const uint32_t chunk = std::max<uint32_t>(1, max / 8);
  uint32_t processed = 0;
  bool queue_empty = false;
  DeleteCursors cursors;
  int ret = cursors.Open(store_, t);
  if (ret != 0) return fail(ret, "opening cursors for the collector");
  std::vector<Oid> cascade;
  while (processed < max) {
    if (work.empty()) {
      if (queue_empty) break;
      uint32_t want = std::min(chunk, max - processed);
      Cursor c;
      ret = c.Open(store_->pending(), t);
      if (ret != 0) return fail(ret, "cursor on pending.db");
      char kb[8];
      char nothing[1];
      while (work.size() < want) {
        Dbt key = OidCursorKey(kb);
        Dbt data;
        AskNoData(&data, nothing);
        ret = c->get(&key, &data, DB_NEXT | DB_RMW);
        if (ret == DB_NOTFOUND) {
          queue_empty = true;
          break;
        }
        if (ret != 0) return fail(ret, "reading pending.db");
        ret = c->del(0);
        if (ret != 0) return fail(ret, "dequeueing from pending.db");
        --effects->delta.pending;
        work.push_back(Item{Oid::FromBytes(kb), false});
      }
      if (work.empty()) break;
    }
    Item item = work.front();
    work.pop_front();
    ++processed;
    DeleteMode mode;
    mode.collector = true;
    mode.count_deleted = item.cascaded;
    mode.cascade = &cascade;
    mode.cascade_room = max - processed - std::min<size_t>(work.size(), max - processed);
    cascade.clear();
    ret = DeleteObjectInTxn(store_, t, &cursors, item.oid, mode, effects, bytes_freed);
    if (ret != 0) return fail(ret, "collecting oid " + OidToString(item.oid));
    for (Oid z : cascade) work.push_back(Item{z, true});
  }
  // Only cascaded items can be left over, and the room computation leaves
  // none: every item taken out of the queue was processed.  The cursors
  // close as this returns, before the store commits.
  if (processed == 0) effects->abort = true;  // the queue is empty
  return Status::OK();
}

MetaCounters Collector::Counters() {
  MetaCounters c;
  Status s = store_->Exclusive("", [&]() {
    c = store_->CountersLocked();
    return Status::OK();
  });
  s.IgnoreError();  // closed meanwhile: zeros, only for a progress display
  return c;
}

Status Collector::Drain(uint32_t batch, const MaintenanceProgressFn& progress,
                        CollectReport* report) {
  uint64_t total = 0;
  uint64_t queued = progress ? Counters().pending : 0;
  for (bool done = false; !done;) {
    uint64_t n = 0, b = 0;
    DURUS_RETURN_IF_ERROR(Step(batch, &n, &b, &done));
    report->collected += n;
    report->bytes_freed += b;
    total += n;
    // Cascades make the total unknowable in advance: show at least done.
    if (progress) progress("collect", total, std::max(queued, total));
  }
  return Status::OK();
}

Status Collector::Run(bool cycles, uint32_t queue_batch, uint32_t trace_batch,
                      const MaintenanceProgressFn& progress, CollectReport* report) {
  *report = CollectReport();
  DURUS_RETURN_IF_ERROR(Drain(queue_batch, progress, report));
  if (cycles) {
    // Run a trace to the end here.  A trace already running (StartPack, or
    // resumed after a crash) is finished first, but it may keep objects
    // unlinked after it started, so then a second, own trace follows: on
    // return everything unreachable at the call is gone.  The background
    // thread may take steps of the same trace meanwhile: steps serialise on
    // the writer lock, and either caller may be the one that finishes it.
    for (int pass = 0; pass < 2; ++pass) {
      bool started = false;
      DURUS_RETURN_IF_ERROR(trace_->Start(&started));
      uint64_t objects = progress ? Counters().objects : 0;
      for (;;) {
        TraceStepResult r;
        DURUS_RETURN_IF_ERROR(trace_->Step(trace_batch, &r));
        report->collected += r.collected;
        report->bytes_freed += r.bytes_freed;
        if (r.done) break;
        if (progress) {
          TraceProgress p = trace_->Progress();
          if (p.state.phase == TracePhase::kMark) {
            progress("trace", p.state.traced, objects);
          } else {
            progress("sweep", p.state.cursor, p.state.limit);
          }
        }
      }
      if (started) break;  // ours (or there is no root: nothing to trace)
    }
    report->traced = trace_->Progress().state.traced;
    // Deleting unreachable objects may have queued reachable-looking ones
    // that only they referenced (marked during the trace, dropped since).
    DURUS_RETURN_IF_ERROR(Drain(queue_batch, progress, report));
  }
  return store_->Exclusive("", [&]() {
    report->pending_after = store_->CountersLocked().pending;
    return Status::OK();
  });
}

}  // namespace durus::bdb
