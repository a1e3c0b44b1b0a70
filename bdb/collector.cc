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
// Collect(cycles) runs the queue to empty in the caller's thread and, with
// cycles, a whole trace (bdb/trace.h) too; StartPack starts a trace that the
// background thread steps (or, with gc_background off, runs Collect(true)).
#include <deque>

#include "bdb/schema.h"
#include "bdb/storage_impl.h"
#include "bdb/trace.h"
#include "engine/record.h"

namespace durus::bdb {

namespace {
constexpr int kMaxRetries = 50;
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

int DeleteCursors::Open(BdbStorage* s, DbTxn* txn) {
  int ret = records.Open(s->records(), txn);
  if (ret == 0) ret = counts.Open(s->refcounts(), txn);
  return ret;
}

int DeleteObjectInTxn(BdbStorage* s, DbTxn* txn, DeleteCursors* cur, Oid oid,
                      const DeleteMode& mode, CounterDelta* delta, uint64_t* freed,
                      std::vector<Oid>* removed) {
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
  removed->push_back(oid);
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

Status BdbStorage::CollectStep(uint32_t max, uint64_t* collected, uint64_t* bytes, bool* done) {
  std::shared_lock<std::shared_mutex> open(close_mu_);
  DURUS_RETURN_IF_ERROR(CheckOpen());
  if (options_.readonly) return Status::ReadOnly("storage " + home_ + " is read-only");
  std::vector<Oid> removed;
  Status s;
  {
    std::lock_guard<std::mutex> l(write_mu_);
    for (int attempt = 0;; ++attempt) {
      bool retry = false;
      removed.clear();
      *collected = *bytes = 0;
      s = CollectOnce(max, collected, bytes, done, &retry, &removed);
      if (!retry || attempt >= kMaxRetries) break;
    }
    // Published with the counters (still under write_mu_): whoever sees
    // the object count drop also finds the oids in Sync().
    if (s.ok() && !removed.empty()) {
      collected_total_ += removed.size();
      std::lock_guard<std::mutex> cl(collected_mu_);
      collected_.insert(collected_.end(), removed.begin(), removed.end());
    }
  }
  return s;
}

Status BdbStorage::CollectOnce(uint32_t max, uint64_t* collected, uint64_t* bytes_freed,
                               bool* done, bool* retry, std::vector<Oid>* removed) {
  *retry = false;
  *done = false;
  Txn txn;
  int ret = txn.Begin(env_.get());
  if (ret != 0) return FromDb(ret, "beginning a collector step");
  DbTxn* t = txn.get();
  auto fail = [&](int r, const std::string& what) {
    if (IsRetryable(r)) *retry = true;
    return FromDb(r, what);
  };

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
  CounterDelta delta;
  uint32_t processed = 0;
  bool queue_empty = false;
  {
    DeleteCursors cursors;
    ret = cursors.Open(this, t);
    if (ret != 0) return fail(ret, "opening cursors for the collector");
    std::vector<Oid> cascade;
    while (processed < max) {
      if (work.empty()) {
        if (queue_empty) break;
        uint32_t want = std::min(chunk, max - processed);
        Cursor c;
        ret = c.Open(pending_.get(), t);
        if (ret != 0) return fail(ret, "cursor on pending.db");
        char kb[8];
        char nothing[1];
        while (work.size() < want) {
          Dbt key;
          key.set_flags(DB_DBT_USERMEM);
          key.set_data(kb);
          key.set_ulen(8);
          Dbt data;
          data.set_flags(DB_DBT_USERMEM | DB_DBT_PARTIAL);
          data.set_data(nothing);
          data.set_ulen(0);
          data.set_dlen(0);
          ret = c->get(&key, &data, DB_NEXT | DB_RMW);
          if (ret == DB_NOTFOUND) {
            queue_empty = true;
            break;
          }
          if (ret != 0) return fail(ret, "reading pending.db");
          ret = c->del(0);
          if (ret != 0) return fail(ret, "dequeueing from pending.db");
          --delta.pending;
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
      ret = DeleteObjectInTxn(this, t, &cursors, item.oid, mode, &delta, bytes_freed, removed);
      if (ret != 0) return fail(ret, "collecting oid " + OidToString(item.oid));
      for (Oid z : cascade) work.push_back(Item{z, true});
    }
    // Only cascaded items can be left over, and the room computation
    // leaves none: every item taken out of the queue was processed.
  }  // cursors closed before the commit
  if (processed == 0) {
    *done = true;
    return Status::OK();
  }
  uint64_t objects, bytes, pending;
  DURUS_RETURN_IF_ERROR(
      CountersAfter(delta.objects, delta.bytes, delta.pending, &objects, &bytes, &pending));
  DURUS_RETURN_IF_ERROR(PutMetaCounters(t, max_stored_next_, objects, bytes, pending));
  ret = txn.Commit(DB_TXN_NOSYNC);
  if (ret != 0) return FromDb(ret, "committing a collector step");
  object_count_ = objects;
  record_bytes_ = bytes;
  pending_count_ = pending;
  *collected = removed->size();
  *done = pending == 0;
  return Status::OK();
}

Status BdbStorage::Collect(bool cycles, CollectReport* report) {
  *report = CollectReport();
  const uint32_t batch = std::max<uint32_t>(options_.gc_batch, 1);
  auto drain_queue = [&]() -> Status {
    bool done = false;
    while (!done) {
      uint64_t n = 0, b = 0;
      DURUS_RETURN_IF_ERROR(CollectStep(batch, &n, &b, &done));
      report->collected += n;
      report->bytes_freed += b;
    }
    return Status::OK();
  };
  DURUS_RETURN_IF_ERROR(drain_queue());
  if (cycles) {
    // Run a trace to the end here.  A trace already running (StartPack, or
    // resumed after a crash) is finished first, but it may keep objects
    // unlinked after it started, so then a second, own trace follows: on
    // return everything unreachable at the call is gone.  The background
    // thread may take steps of the same trace meanwhile: steps serialise on
    // write_mu_, and either caller may be the one that finishes it.
    for (int pass = 0; pass < 2; ++pass) {
      bool started = false;
      DURUS_RETURN_IF_ERROR(trace_.Start(&started));
      for (;;) {
        TraceStepResult r;
        DURUS_RETURN_IF_ERROR(trace_.Step(std::max<uint32_t>(batch, 1024), &r));
        report->collected += r.collected;
        report->bytes_freed += r.bytes_freed;
        if (r.done) break;
      }
      if (started) break;  // ours (or there is no root: nothing to trace)
    }
    report->traced = trace_.Progress().state.traced;
    // Deleting unreachable objects may have queued reachable-looking ones
    // that only they referenced (marked during the trace, dropped since).
    DURUS_RETURN_IF_ERROR(drain_queue());
  }
  std::lock_guard<std::mutex> l(write_mu_);
  report->pending_after = pending_count_;
  return Status::OK();
}

Status BdbStorage::StartPack() {
  if (!options_.gc_background) {
    // Nothing would step the trace: run the whole collection now.
    CollectReport report;
    return Collect(true, &report);
  }
  bool started = false;
  DURUS_RETURN_IF_ERROR(trace_.Start(&started));
  {
    std::lock_guard<std::mutex> l(bg_mu_);
  }
  bg_cv_.notify_all();  // start stepping now rather than at the next tick
  return Status::OK();
}

}  // namespace durus::bdb
