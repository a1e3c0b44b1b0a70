// Reads: Load, Scan, statistics and count introspection.
//
// Reads use no transaction: each Berkeley DB call is atomic on its own and
// sees only committed data (degree 2), which is what Durus's load()
// promises.  A read chosen as a deadlock victim is simply retried.  On a
// replication site a read that meets a handle made dead by a rollback
// (DB_REP_HANDLE_DEAD) runs once more after the handles are reopened
// (WithLiveHandles; bdb/storage_repl.cc).  One that finds the site locked out
// (DB_REP_LOCKOUT: syncing with a new master, changing role) waits for the
// lockout outside Berkeley DB, briefly, then fails Busy (ThroughLockouts,
// bdb/retry.h); loads on a replication site go through a cursor
// (GetNoWait), as DB->get without a transaction would sleep 5 s inside
// Berkeley DB instead.
#include <dirent.h>
#include <sys/stat.h>

#include "bdb/retry.h"
#include "bdb/schema.h"
#include "bdb/status_file.h"
#include "bdb/storage_impl.h"
#include "engine/record.h"

namespace durus::bdb {

namespace {

// One get of `oid` from `db` with the read retry policy; on a replication
// site through a cursor (GetNoWait: a lockout fails at once, never with
// DB->get's 5 s sleep).  Returns Berkeley DB's code.
int GetByOid(Db* db, bool site, Oid oid, std::string* out) {
  char k[8];
  oid.ToBytes(k);
  Dbt key = InDbt(k, 8);
  return RetryDb(
      [&] { return site ? GetNoWait(db, &key, out) : GetInto(db, nullptr, &key, out, 0); },
      kReadAttempts);
}

}  // namespace

Status BdbStorage::Load(Oid oid, std::string* record) {
  // A master cut off from its group refuses reads (its data may be stale).
  if (repl_ != nullptr) DURUS_RETURN_IF_ERROR(FenceReads());
  const bool site = repl_ != nullptr;
  return ThroughLockouts([&] {
    return WithLiveHandles([&](bool* dead) {
      std::shared_lock<std::shared_mutex> open(close_mu_);
      DURUS_RETURN_IF_ERROR(CheckOpen());
      const int ret = GetByOid(records_.get(), site, oid, record);
      if (ret == DB_NOTFOUND) {
        return Status::NotFound("no record for oid " + OidToString(oid), {oid});
      }
      *dead = IsHandleDead(ret);
      return FromDb(
          ret, "loading oid " + OidToString(oid) + " from " + home_ + "/" + schema::kRecordsFile);
    });
  });
}

Status BdbStorage::Scan(Oid start, size_t max, std::vector<std::pair<Oid, std::string>>* out) {
  // A lockout (a cursor refused, DB_REP_LOCKOUT) scans again from `start`.
  return ThroughLockouts([&] {
    return WithLiveHandles([&](bool* dead) {
      std::shared_lock<std::shared_mutex> open(close_mu_);
      DURUS_RETURN_IF_ERROR(CheckOpen());
      out->clear();
      std::string value;
      char kb[8];
      int ret = 0;
      // A deadlock victim restarts its cursor just after the last item read.
      for (int attempt = 0; attempt < kReadAttempts && out->size() < max; ++attempt) {
        Cursor c;
        ret = c.Open(records_.get(), nullptr);
        if (ret != 0) {
          *dead = IsHandleDead(ret);
          return FromDb(ret, "opening a cursor on records.db");
        }
        Oid next = out->empty() ? start : Oid(out->back().first.value() + 1);
        next.ToBytes(kb);
        uint32_t flag = DB_SET_RANGE;
        while (out->size() < max) {
          Dbt key = OidCursorKey(kb);
          if (value.size() < 1024) value.resize(1024);
          Dbt data;
          data.set_flags(DB_DBT_USERMEM);
          data.set_data(value.data());
          data.set_ulen(static_cast<u_int32_t>(value.size()));
          ret = c->get(&key, &data, flag);
          if (ret == DB_BUFFER_SMALL) {
            value.resize(data.get_size());  // a failed get leaves the cursor in place
            continue;
          }
          if (ret != 0) break;
          flag = DB_NEXT;
          out->emplace_back(Oid::FromBytes(kb), std::string(value.data(), data.get_size()));
        }
        if (ret == 0 || ret == DB_NOTFOUND) return Status::OK();
        if (!IsRetryable(ret)) break;
      }
      if (ret == 0 || ret == DB_NOTFOUND) return Status::OK();
      // A dead handle: the retry scans again from `start` (out cleared).
      *dead = IsHandleDead(ret);
      return FromDb(ret, "scanning records.db of " + home_);
    });
  });
}

Status BdbStorage::GetRefCount(Oid oid, uint64_t* count) {
  const bool site = repl_ != nullptr;
  return ThroughLockouts([&] {
    return WithLiveHandles([&](bool* dead) {
      std::shared_lock<std::shared_mutex> open(close_mu_);
      DURUS_RETURN_IF_ERROR(CheckOpen());
      std::string v;
      const int ret = GetByOid(refcounts_.get(), site, oid, &v);
      if (ret == DB_NOTFOUND)
        return Status::NotFound("no count for oid " + OidToString(oid), {oid});
      *dead = IsHandleDead(ret);
      DURUS_RETURN_IF_ERROR(FromDb(ret, "reading the count of oid " + OidToString(oid)));
      if (v.size() != 8)
        return Status::Corruption("count of oid " + OidToString(oid) + " malformed");
      *count = GetU64(v.data());
      return Status::OK();
    });
  });
}

Status BdbStorage::ListPending(Oid start, size_t max, std::vector<Oid>* out) {
  return ThroughLockouts([&] {
    return WithLiveHandles([&](bool* dead) {
      std::shared_lock<std::shared_mutex> open(close_mu_);
      DURUS_RETURN_IF_ERROR(CheckOpen());
      out->clear();
      Cursor c;
      int ret = c.Open(pending_.get(), nullptr);
      if (ret != 0) {
        *dead = IsHandleDead(ret);
        return FromDb(ret, "cursor on pending.db");
      }
      char kb[8];
      start.ToBytes(kb);
      uint32_t flag = DB_SET_RANGE;
      while (out->size() < max) {
        Dbt key = OidCursorKey(kb);
        Dbt data;
        data.set_flags(DB_DBT_PARTIAL);
        data.set_dlen(0);
        ret = c->get(&key, &data, flag);
        if (ret != 0) break;
        flag = DB_NEXT;
        out->push_back(Oid::FromBytes(kb));
      }
      if (ret == 0 || ret == DB_NOTFOUND) return Status::OK();
      *dead = IsHandleDead(ret);
      return FromDb(ret, "scanning pending.db");
    });
  });
}

Status BdbStorage::GetStats(StorageStats* stats) {
  std::shared_lock<std::shared_mutex> open(close_mu_);
  DURUS_RETURN_IF_ERROR(CheckOpen());
  *stats = StorageStats();
  {
    std::lock_guard<std::mutex> l(write_mu_);
    stats->object_count = object_count_;
    stats->record_bytes = record_bytes_;
    stats->pending_garbage = pending_count_;
  }
  stats->next_oid = next_oid_.load();
  stats->format_version = format_version_;
  // A read-only opener (durus-bdb stat) reports the mode the home is run
  // with, as recorded by its last writer.
  stats->durability = recorded_durability_;
  stats->disk_bytes = DirectoryBytes(home_);
  stats->collected_total = collected_total_.load();
  TraceProgress trace = trace_.Progress();
  stats->trace_running = trace.running;
  if (trace.running) {
    stats->trace_phase = trace.state.phase == TracePhase::kSweep ? "sweep" : "mark";
    stats->trace_traced = trace.state.traced;
    stats->trace_swept = trace.state.swept;
  }
  stats->traces_completed = trace.completed_total;
  stats->last_trace_traced = trace.last_completed.traced;
  stats->last_trace_swept = trace.last_completed.swept;
  stats->last_trace_bytes_freed = trace.last_completed.bytes_freed;
  stats->recovered = previous_holder_crashed_ && !snapshot_;
  stats->recovery_seconds = recovery_seconds_;
  if (repl_ != nullptr) {
    ReplicaCountersLocked(stats);
    ReplicationFiguresLocked(&stats->replication);
  }
  return Status::OK();
}

std::vector<Oid> BdbStorage::Sync() {
  std::lock_guard<std::mutex> l(collected_mu_);
  std::vector<Oid> out;
  out.swap(collected_);
  return out;
}

}  // namespace durus::bdb
