// One handler per protocol-1 command byte (DESIGN.md §2), except the
// commit (session_commit.cc): V N M L B S P Q, durus-bdb's info request R
// (server/info_request.h), and the hot-object parking of loads
// (LeaseTable) with the lease thread that ends it.
#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "engine/record.h"
#include "server/info_request.h"
#include "server/protocol.h"
#include "server/server_impl.h"

namespace durus::server {

Outcome ServerImpl::Dispatch(Client* c, uint8_t cmd) {
  auto kept = [](bool k) { return k ? Outcome::kKept : Outcome::kDropped; };
  if (options_.read_only) {
    if (const char* what = RefusedWhenReadOnly(cmd)) {
      Drop(c, LogLevel::kWarn,
           std::string(what) + " refused: the server is read-only (--read-only)");
      return Outcome::kDropped;
    }
  }
  if (DroppedForLostEntries(c)) return Outcome::kDropped;
  switch (cmd) {
    case kCmdLoad: return kept(HandleLoad(c));
    case kCmdBulkLoad: return kept(HandleBulkLoad(c));
    case kCmdCommit: return HandleCommit(c);
    case kCmdSync: return kept(HandleSync(c));
    case kCmdNewOid: return kept(HandleNewOids(c, 1));
    case kCmdNewOids: {
      std::string n;
      if (!Read(c, &n, 1, RequestDeadline(1), "oid count")) return Outcome::kDropped;
      return kept(HandleNewOids(c, static_cast<uint8_t>(n[0])));
    }
    case kCmdVersion: return kept(HandleVersion(c));
    case kCmdPack: return kept(HandlePack(c));
    case kCmdQuit: return kept(HandleQuit(c));
    case kCmdInfo: return kept(HandleInfo(c));
    case kCmdHangUp: Drop(c, LogLevel::kInfo, "hung up"); return Outcome::kDropped;
    default: {
      char msg[64];
      snprintf(msg, sizeof(msg), "unknown command byte 0x%02x", cmd);
      Drop(c, LogLevel::kWarn, msg);
      return Outcome::kDropped;
    }
  }
}

bool ServerImpl::HandleVersion(Client* c) {
  std::string buf;
  if (!Read(c, &buf, 4, RequestDeadline(4), "protocol version")) return false;
  uint32_t theirs = GetU32(buf.data());
  c->reply.clear();
  PutU32(&c->reply, kProtocolVersion);
  if (!Write(c, c->reply, RequestDeadline(4), "protocol version")) return false;
  if (theirs != kProtocolVersion) {
    Drop(c, LogLevel::kWarn, "protocol " + std::to_string(theirs) + " not supported");
    return false;
  }
  return true;
}

bool ServerImpl::HandleQuit(Client* c) {
  if (!c->may_stop) {
    Drop(c, LogLevel::kWarn, StopRefusal(options_.access.allow_stop));
    return false;
  }
  log_->Log(LogLevel::kInfo, "client %" PRIu64 " asked the server to quit", c->id);
  RequestStop("quit requested by client " + std::to_string(c->id));
  return true;
}

bool ServerImpl::HandleInfo(Client* c) {
  std::string buf;
  if (!Read(c, &buf, 4, RequestDeadline(4), "info request length")) return false;
  const uint32_t len = GetU32(buf.data());
  if (len > kMaxInfoRequestBytes) {
    Drop(c, LogLevel::kWarn,
         "info request (R) of " + std::to_string(len) + " bytes: at most " +
             std::to_string(kMaxInfoRequestBytes));
    return false;
  }
  if (!Read(c, &buf, len, RequestDeadline(len), "info request")) return false;
  std::optional<JournalPosition> since;
  Status st = ParseInfoRequest(buf, &since);
  // In flight first, the journal after: a commit in flight now either
  // is named here or had returned -- and its journal entry was visible --
  // before the journal is read.  (A client that follows the master
  // invalidates both: a commit published before it connected is in its
  // snapshot, doc/replication.md "Clients that follow the master".)
  const std::vector<Oid> in_flight = table_.InflightOids();
  ReplicationInfo info;
  if (st.ok()) st = storage_->GetReplicationInfo(since ? &*since : nullptr, &info);
  if (!st.ok()) {
    Drop(c, st.IsInvalidArgument() ? LogLevel::kWarn : LogLevel::kError,
         "info request (R) failed: " + st.ToString());
    return false;
  }
  const std::string json = EncodeInfoReply(info, since.has_value(), in_flight);
  c->reply.clear();
  PutU32(&c->reply, static_cast<uint32_t>(json.size()));
  c->reply += json;
  DURUS_LOG(*log_, kDebug, "client %" PRIu64 " info: %s", c->id, json.c_str());
  return Write(c, c->reply, RequestDeadline(c->reply.size()), "the info reply");
}

bool ServerImpl::HandleNewOids(Client* c, int count) {
  std::vector<Oid> oids(count);
  for (int i = 0; i < count; ++i) {
    Status st = storage_->NewOid(&oids[i]);
    if (!st.ok()) {
      Drop(c, st.IsReadOnly() ? LogLevel::kWarn : LogLevel::kError,
           "new_oid failed: " + st.ToString());
      return false;
    }
  }
  const InvalidationTable::Unused held = table_.HandOut(c->member, oids);
  if (held.oids > options_.max_unused_oids || held.runs > options_.max_unused_oids / 10) {
    Drop(c, LogLevel::kWarn,
         "holds " + std::to_string(held.oids) + " oids from N/M it has not stored (" +
             std::to_string(held.runs) + " runs), over --max-unused-oids " +
             std::to_string(options_.max_unused_oids));
    return false;
  }
  c->reply.resize(oids.size() * Oid::kSize);
  for (size_t i = 0; i < oids.size(); ++i) oids[i].ToBytes(&c->reply[i * Oid::kSize]);
  return Write(c, c->reply, RequestDeadline(c->reply.size()), "new oids");
}

bool ServerImpl::HandleLoad(Client* c) {
  std::string oid_bytes;
  if (!Read(c, &oid_bytes, Oid::kSize, RequestDeadline(Oid::kSize), "oid to load")) return false;
  Oid oid = Oid::FromBytes(oid_bytes.data());
  // A commit in flight on the oid since before our last sync: wait until
  // it has returned, so that we read its version, not the one before.
  bool invalid = !SettleInflight(c, &oid, 1);
  // Read first, check the invalid set after: if the record we read came
  // from a commit newer than this client's last sync, that commit had
  // already published the oid here (it does so before becoming visible).
  std::string record;
  Status st;
  if (!invalid) {
    const auto t0 = Clock::now();
    st = storage_->Load(oid, &record);
    metrics_.load_latency.Observe(Clock::now() - t0);
  }
  metrics_.objects_loaded.fetch_add(1, std::memory_order_relaxed);
  if (!invalid) CatchUpReplicated();
  if (DroppedForLostEntries(c)) return false;
  if (!invalid) invalid = table_.IsInvalid(c->member, oid);
  c->reply.clear();
  if (invalid || st.IsReadConflict()) {
    load_conflicts_.fetch_add(1, std::memory_order_relaxed);
    c->reply.push_back(kStatusInvalid);
  } else if (st.ok()) {
    AppendLoadOkay(record, &c->reply);
  } else if (st.IsNotFound()) {
    c->reply.push_back(kStatusKeyError);
  } else {
    Drop(c, LogLevel::kError, "load of oid " + OidToString(oid) + " failed: " + st.ToString());
    return false;
  }
  DURUS_LOG(*log_, kDebug, "client %" PRIu64 " load %s -> %c", c->id, OidToString(oid).c_str(),
            c->reply[0]);
  return Write(c, c->reply, RequestDeadline(c->reply.size()), "a load reply");
}

bool ServerImpl::HandleBulkLoad(Client* c) {
  std::string n_bytes;
  if (!Read(c, &n_bytes, 4, RequestDeadline(4), "bulk load count")) return false;
  uint64_t n = GetU32(n_bytes.data());
  if (n * Oid::kSize > options_.max_commit_bytes) {
    Drop(c, LogLevel::kWarn,
         "bulk load of " + std::to_string(n) + " oids exceeds --max-commit-bytes");
    return false;
  }
  // The oid list is request memory; the replies are streamed in pieces
  // of about kReplyPiece bytes, so that a small request naming a large
  // object many times cannot make the server build a reply of gigabytes
  // (issue 12: 12 KB naming a 1 MiB object 1,500 times).
  const uint64_t list_bytes = n * Oid::kSize;
  if (!AcquireRequestBytes(c, list_bytes, "bulk load oid list")) return false;
  RequestBudget::Lease held(&budget_, list_bytes);
  std::string oid_bytes;
  if (!Read(c, &oid_bytes, list_bytes, RequestDeadline(list_bytes), "bulk load oids")) return false;
  metrics_.objects_loaded.fetch_add(n, std::memory_order_relaxed);
  constexpr size_t kReplyPiece = 1 << 20;
  constexpr size_t kMaxChunk = 256;
  size_t chunk = 1;  // oids per storage call; adapts to the record sizes
  std::vector<Oid> oids;
  std::vector<LoadResult> results;
  std::vector<char> invalid;
  c->reply.clear();
  for (size_t done = 0; done < n;) {
    const size_t k = std::min<size_t>(chunk, n - done);
    oids.resize(k);
    for (size_t i = 0; i < k; ++i) oids[i] = Oid::FromBytes(&oid_bytes[(done + i) * Oid::kSize]);
    results.clear();
    size_t bytes = 0;
    if (SettleInflight(c, oids.data(), k)) {
      Status st = storage_->BulkLoad(oids, &results);
      if (!st.ok()) {
        Drop(c, LogLevel::kError, "bulk load failed: " + st.ToString());
        return false;
      }
      CatchUpReplicated();
      if (DroppedForLostEntries(c)) return false;
      table_.MarkInvalid(c->member, oids, &invalid);
    } else {
      invalid.assign(k, 1);
    }
    for (size_t i = 0; i < k; ++i) {
      if (invalid[i] || results[i].status.IsReadConflict()) {
        load_conflicts_.fetch_add(1, std::memory_order_relaxed);
        c->reply.push_back(kStatusInvalid);
        continue;
      }
      const LoadResult& r = results[i];
      if (r.status.ok()) {
        bytes += r.record.size();
        AppendLoadOkay(r.record, &c->reply);
      } else if (r.status.IsNotFound()) {
        c->reply.push_back(kStatusKeyError);
      } else {
        Drop(c, LogLevel::kError,
             "load of oid " + OidToString(oids[i]) + " failed: " + r.status.ToString());
        return false;
      }
    }
    done += k;
    // Next chunk: about a piece's worth of records of the sizes just seen.
    chunk = std::clamp<size_t>(kReplyPiece / std::max<size_t>(bytes / k, 1), 1, kMaxChunk);
    if (c->reply.size() >= kReplyPiece || done == n) {
      if (!Write(c, c->reply, RequestDeadline(c->reply.size()), "bulk load replies")) return false;
      c->reply.clear();
    }
  }
  DURUS_LOG(*log_, kDebug, "client %" PRIu64 " bulk load of %" PRIu64 " oids", c->id, n);
  return true;
}

std::vector<Oid> ServerImpl::DrainInvalid(Client* c) {
  // Counted while the storage may move its position before the oids are
  // in the sets (CatchUpReplicated).
  if (replicated_) replicated_publishing_.fetch_add(1);
  std::vector<Oid> out = table_.Drain(c->member, [this] {
    std::vector<Oid> gone = storage_->Sync();
    if (!gone.empty()) {
      DURUS_LOG(*log_, kDebug,
                "%zu oids removed by the collector: invalidating them for every client",
                gone.size());
    }
    // A replica: the master's commits applied here since the last look.
    std::vector<Oid> replicated = storage_->ReplicatedChanges();
    gone.insert(gone.end(), replicated.begin(), replicated.end());
    return gone;
  });
  if (replicated_) replicated_publishing_.fetch_sub(1);
  return out;
}

void ServerImpl::CatchUpReplicated() {
  // On a replica, commits are applied by Berkeley DB, not published by
  // this server before they become visible.  So after a read: if the
  // journal has entries not yet published, publish them now, then check
  // the invalid set.  A record we read from such a commit had its journal
  // entry visible (same transaction), so its oids are in the set before
  // the check (doc/replication.md, "Isolation on a replica", rule 3').
  if (!replicated_) return;
  if (storage_->ReplicatedChangesPending()) {
    replicated_publishing_.fetch_add(1);
    table_.PublishReplicated([this] {
      std::vector<Oid> oids = storage_->ReplicatedChanges();
      // Counted under the table's lock, with the oids: a commit list
      // drained before this publication sees the count move
      // (ContinueCommit).
      if (!oids.empty()) replicated_published_.fetch_add(1);
      return oids;
    });
    replicated_publishing_.fetch_sub(1);
  } else if (replicated_publishing_.load() > 0) {
    // Another thread's publication is under way: the storage's position
    // may be past our record's commit while its oids are not yet in the
    // sets.  Taking the table's lock (publishing nothing) waits for it.
    table_.PublishReplicated([] { return std::vector<Oid>(); });
  }
}

void ServerImpl::FollowReplicated() {
  // Keeps the storage's position near the journal's end while no client
  // asks, so the master's trim (bdb/journal.h) only passes entries this
  // server published, unless this site was cut off for longer than the
  // retention (then ReplicatedGaps moves and the clients are dropped).
  CatchUpReplicated();
}

bool ServerImpl::DroppedForLostEntries(Client* c) {
  if (!replicated_ || storage_->ReplicatedGaps() == c->repl_gaps) return false;
  Drop(c, LogLevel::kWarn,
       "journal entries this replica had not published were trimmed by the master (this site "
       "was cut off for longer than the journal's retention): the client's cache may be stale");
  return true;
}

bool ServerImpl::HandleSync(Client* c) {
  leases_.Unpin(c->id, Clock::time_point());  // a new transaction
  const std::vector<Oid> invalid = DrainInvalid(c);
  if (DroppedForLostEntries(c)) return false;
  c->reply.clear();
  AppendOidList(invalid, &c->reply);
  DURUS_LOG(*log_, kDebug, "client %" PRIu64 " sync: %zu invalidations", c->id, invalid.size());
  return Write(c, c->reply, RequestDeadline(c->reply.size()), "sync invalidations");
}

bool ServerImpl::HandlePack(Client* c) {
  Status st = storage_->StartPack();
  if (st.ok()) {
    log_->Log(LogLevel::kInfo, "client %" PRIu64 " started a pack (collection)", c->id);
  } else {
    // Durus answers 'O' whatever the storage does with a pack.
    log_->Log(LogLevel::kWarn, "client %" PRIu64 " asked for a pack: %s", c->id,
              st.ToString().c_str());
  }
  c->reply.assign(1, kStatusOkay);
  return Write(c, c->reply, RequestDeadline(1), "the pack status");
}

bool ServerImpl::SettleInflight(Client* c, const Oid* oids, size_t n) {
  const auto timeout =
      std::chrono::milliseconds(static_cast<int64_t>(options_.inflight_wait_s * 1000));
  const InvalidationTable::Wait w =
      table_.WaitForInflight(c->member, oids, n, timeout, [this] { pool_.GoOut(); });
  if (w == InvalidationTable::Wait::kTimedOut) {
    log_->Log(LogLevel::kWarn,
              "client %" PRIu64
              ": a commit in flight on the oids it loads did not return within "
              "%.1f s: answered I",
              c->id, options_.inflight_wait_s);
  }
  return w != InvalidationTable::Wait::kTimedOut;
}

bool ServerImpl::AcquireRequestBytes(Client* c, uint64_t bytes, const char* what) {
  auto before_wait = [&] {
    pool_.GoOut();
    log_->Log(LogLevel::kInfo,
              "client %" PRIu64 ": %s of %" PRIu64 " bytes waits for request memory (%" PRIu64
              " of --max-request-memory %" PRIu64 " in use)",
              c->id, what, bytes, budget_.in_use(), budget_.limit());
    // A committer must not hold the commit token while it waits: those
    // holding the memory may need the token to finish.  Its commit then
    // goes ahead only if nothing changed meanwhile (as after the grace).
    ReleaseToken(c, /*grace_expired=*/false);
  };
  if (budget_.Acquire(bytes, RequestDeadline(bytes), before_wait)) return true;
  Drop(c, LogLevel::kWarn,
       std::string(what) + " of " + std::to_string(bytes) + " bytes: --max-request-memory " +
           std::to_string(budget_.limit()) +
           " stayed in use by other requests until the deadline "
           "(nothing stored)");
  return false;
}

// --- hot objects: parking loads of leased oids ---------------------------

bool ServerImpl::MaybeParkLoad(Client* c) {
  if (c->lease_pass) {
    c->lease_pass = false;
    return false;
  }
  if (options_.lease_think_s <= 0 || c->io.buffered() < 1 + Oid::kSize ||
      c->io.peek()[0] != kCmdLoad) {
    return false;
  }
  const auto now = Clock::now();
  if (now >= c->contender_until) return false;
  // Re-armed first if a wait took it out of epoll's interest, so that a
  // byte (or EOF) arriving while parked marks it pending.
  if (c->disarmed && !pool_.Rearm(c)) return false;
  const auto max_wait = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options_.lease_max_wait_s));
  return leases_.Park(c->id, Oid::FromBytes(c->io.peek() + 1), now + max_wait);
}

void ServerImpl::LeaseLoop() {
  while (true) {
    std::vector<LeaseTable::Release> released = leases_.AwaitReleases();
    if (released.empty()) return;  // stopping
    for (const LeaseTable::Release& r : released) {
      // Claimed while parked: nobody else removes it.
      Client* c = static_cast<Client*>(pool_.Find(r.client));
      if (c == nullptr) continue;
      c->lease_pass = true;
      if (r.timed_out) c->contender_until = Clock::time_point();
      // Its request is buffered: no epoll event will announce it.
      c->state.store(WorkerPool::kIdle, std::memory_order_release);
      pool_.QueueReady(r.client);
    }
  }
}

}  // namespace durus::server
