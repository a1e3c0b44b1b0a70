// The commit ('C'), step by step.  No thread waits while a commit is
// validated:
//  - 'C' with the token free (CommitSequencer): take it, send the client
//    its invalidation list, and leave the connection in phase kData: the
//    worker moves on, and the client's answer (commit length and data)
//    raises an epoll event like any request, which continues the commit
//    (ContinueCommit).
//  - 'C' with the token taken: the connection joins the line in phase
//    kQueued and stays claimed (busy) but unserved.  The holder, on
//    releasing the token, grants it to the first in line (GrantToken): it
//    prepares and sends that client's list itself (so the next round trip
//    starts at once), puts the connection in phase kData and releases it.
//  - A client slow to answer holds the token for at most commit_grace_s:
//    the monitor releases it on the holder's behalf; the commit then goes
//    ahead only if no invalidation reached that client meanwhile.
//  - A client that does not answer within the request deadline is dropped
//    by the monitor (nothing stored).
// ContinueCommit: read the data (ReadCommitData) -> hold the token again
// if the grace took it (RetakeToken) -> validate and publish
// (InvalidationTable::Publish) -> release the token -> apply and answer
// (Apply).
#include <cinttypes>
#include <cstring>

#include "engine/record.h"
#include "server/protocol.h"
#include "server/server_impl.h"

namespace durus::server {

namespace {

// How long a client that lost a commit (abandoned after its invalidation
// list, or refused) counts as a contender for hot objects: its loads of
// oids leased to others are parked (LeaseTable).  Its next successful
// commit ends it sooner.  Clients that never lose a commit (readers) are
// never parked.
constexpr auto kContenderMemory = std::chrono::seconds(1);

double MillisSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

Outcome ServerImpl::HandleCommit(Client* c) {
  c->commit_t0 = Clock::now();
  // Replication: a commit is validated (its list) and applied on the
  // master.  Validated on a replica and applied after that replica's
  // promotion, it would overwrite the commits of the previous master that
  // reached this site meanwhile (doc/replication.md, "Not done yet").
  if (replicated_) {
    // The storage's own refusal, before the token and the list.
    const Status st = storage_->CheckWritable("a write");
    if (!st.ok()) {
      Drop(c, LogLevel::kWarn, "commit failed: " + st.ToString() + " (nothing stored)");
      return Outcome::kDropped;
    }
  }
  // Set before the line can see `c` (TryAcquire's lock orders it for the
  // granter).
  c->phase = CommitPhase::kQueued;
  if (!sequencer_.TryAcquire(c)) {
    // In line: the holder's release sends our list and hands the
    // connection back to epoll.  Nothing of `c` may be touched now.
    return Outcome::kSuspended;
  }
  PrepareCommitList(c);
  c->list_sent = 0;
  c->phase = CommitPhase::kList;
  return ContinueListSend(c) ? Outcome::kKept : Outcome::kDropped;
}

void ServerImpl::PrepareCommitList(Client* c) {
  // Validating its next commit, which may write the same oids again.
  leases_.Pin(c->id);
  if (replicated_) {
    // Everything replicated so far into the list; a publication after
    // the count refuses the commit (ContinueCommit), needlessly when it
    // lands between the count and the drain (rare: a promotion's tail).
    CatchUpReplicated();
    c->repl_published_at_list = replicated_published_.load();
  }
  const std::vector<Oid> invalid = DrainInvalid(c);
  c->n_invalid = invalid.size();
  c->reply.clear();
  AppendOidList(invalid, &c->reply);
}

bool ServerImpl::ContinueListSend(Client* c) {
  IoResult r = c->io.WriteAll(c->reply.data(), c->reply.size(), &c->list_sent,
                              RequestDeadline(c->reply.size()));
  if (r != IoResult::kOk) {
    std::string why =
        std::string(IoResultName(r)) + " while sending commit invalidations (nothing stored)";
    if (r == IoResult::kError) why += std::string(": ") + strerror(c->io.error());
    Drop(c, LogLevel::kWarn, why);
    return false;
  }
  // The client's answer continues the commit (Serve, ContinueCommit).
  EnterDataPhase(c);
  return true;
}

void ServerImpl::EnterDataPhase(Client* c) {
  c->phase = CommitPhase::kData;
  sequencer_.AwaitData(c, c->id, RequestDeadline(4));
}

void ServerImpl::ReleaseToken(Client* holder, bool grace_expired) {
  const CommitSequencer::Handover h = sequencer_.Release(holder, grace_expired);
  if (h.released && grace_expired) {
    leases_.Unpin(holder->id, Clock::time_point());  // nobody waits for a slow client
    grace_expired_.fetch_add(1);
    log_->Log(LogLevel::kWarn,
              "client %" PRIu64
              " (%s) has not sent its commit data %.2f s after its invalidations: "
              "released the commit token (--commit-grace); its commit goes ahead only if nothing "
              "it may have read changes meanwhile",
              holder->id, holder->peer.c_str(), options_.commit_grace_s);
  }
  if (h.next != nullptr) GrantToken(h.next);
}

void ServerImpl::GrantToken(Client* n) {
  // `n` is claimed but unserved (kQueued): ours until released below.
  PrepareCommitList(n);
  n->list_sent = 0;
  // One non-blocking attempt; a worker finishes a partial send.
  IoResult r = n->io.WriteAll(n->reply.data(), n->reply.size(), &n->list_sent, Clock::now());
  if (r == IoResult::kOk) {
    EnterDataPhase(n);
  } else {
    n->phase = CommitPhase::kList;
  }
  pool_.ReleaseAndKick(n, /*kick=*/r != IoResult::kOk);
}

bool ServerImpl::ContinueCommit(Client* c) {
  sequencer_.DataArrived(c);
  c->phase = CommitPhase::kNone;
  std::string len_bytes;
  IoResult r = c->io.ReadUntil(&len_bytes, 4, RequestDeadline(4));
  // Dropping releases the token.
  if (r != IoResult::kOk) return IoFailed(c, r, "while reading the commit length (nothing stored)");
  const uint32_t tlen = GetU32(len_bytes.data());
  if (tlen == 0) return Abandoned(c);
  if (tlen > options_.max_commit_bytes) {
    Drop(c, LogLevel::kWarn,
         "commit of " + std::to_string(tlen) + " bytes exceeds --max-commit-bytes " +
             std::to_string(options_.max_commit_bytes) + " (nothing stored)");
    return false;
  }
  // The data, then the parsed batch, stay in memory until the commit is
  // answered: request memory, bounded across clients.
  if (!AcquireRequestBytes(c, tlen, "commit data")) return false;
  RequestBudget::Lease held(&budget_, tlen);
  CommitBatch batch;
  if (!ReadCommitData(c, tlen, &batch)) return false;

  // Still the holder?  From here on the grace period cannot take it.
  const bool optimistic = !sequencer_.KeepToken(c);
  if (optimistic && !RetakeToken(c)) return false;
  std::vector<Oid> oids;  // published, hence in flight until Commit returns
  oids.reserve(batch.size());
  for (const auto& e : batch.entries()) oids.push_back(e.oid);
  // Replication: commits of another master reach the invalid sets without
  // the token (a replica's publication; a demotion and a promotion since
  // the list).  One that reached them since this client's list makes the
  // commit as suspect as a grace's: refused if its set is not empty.
  bool raced = optimistic;
  if (replicated_) {
    CatchUpReplicated();
    raced = raced || replicated_published_.load() != c->repl_published_at_list;
  }
  Oid stolen;
  const InvalidationTable::Publication p = table_.Publish(c->member, oids, raced, &stolen);
  if (p == InvalidationTable::Publication::kPublished) leases_.Hold(c->id, oids);
  // Later committers may validate now: they have seen our oids.
  ReleaseToken(c);
  switch (p) {
    case InvalidationTable::Publication::kStolen:
      Drop(c, LogLevel::kWarn,
           "commit stores oid " + OidToString(stolen) +
               ", handed out to another client and not yet used by it (nothing stored)");
      return false;
    case InvalidationTable::Publication::kRaced:
      leases_.Unpin(c->id, Clock::time_point());
      return Refuse(c, "objects changed while it was slow to send its commit data");
    case InvalidationTable::Publication::kPublished: break;
  }
  return Apply(c, batch, oids, tlen);
}

bool ServerImpl::Abandoned(Client* c) {
  // The client found a conflict in the invalidations (Durus's client sends
  // an empty commit only then): no reply expected.
  commit_conflicts_.fetch_add(1, std::memory_order_relaxed);
  c->contender_until = Clock::now() + kContenderMemory;
  leases_.Unpin(c->id, Clock::time_point());
  ReleaseToken(c);
  DURUS_LOG(*log_, kDebug, "client %" PRIu64 " abandoned its commit (%zu invalidations)", c->id,
            c->n_invalid);
  return true;
}

bool ServerImpl::ReadCommitData(Client* c, uint32_t tlen, CommitBatch* batch) {
  std::string tdata;
  tdata.reserve(std::min<size_t>(tlen, 1 << 20));
  IoResult r = c->io.ReadUntil(&tdata, tlen, RequestDeadline(tlen));
  if (r != IoResult::kOk) return IoFailed(c, r, "while reading commit data (nothing stored)");
  pool_.HandOff();  // Storage::Commit may wait for the disk
  Status st = ParseCommitData(tdata, batch);
  if (!st.ok()) {
    Drop(c, LogLevel::kWarn, "malformed commit (nothing stored): " + st.ToString());
    return false;
  }
  return true;
}

bool ServerImpl::RetakeToken(Client* c) {
  DURUS_LOG(*log_, kDebug,
            "client %" PRIu64 " was slow to send its commit: the commit token was released", c->id);
  // Back in line, keeping our invalid set as it is (no list this time).
  CommitSequencer::SyncWaiter again;
  again.c = c;
  if (sequencer_.AcquireSync(&again, pool_.stop_flag(), [this] { pool_.GoOut(); })) return true;
  Drop(c, LogLevel::kInfo, "server stopping while waiting to commit (nothing stored)");
  return false;
}

bool ServerImpl::Refuse(Client* c, const char* why) {
  c->contender_until = Clock::now() + kContenderMemory;
  commit_conflicts_.fetch_add(1);
  commits_refused_.fetch_add(1);
  DURUS_LOG(*log_, kInfo, "client %" PRIu64 " commit refused (conflict): %s", c->id, why);
  c->reply.assign(1, kStatusInvalid);
  return Write(c, c->reply, RequestDeadline(1), "the commit status");
}

bool ServerImpl::Apply(Client* c, const CommitBatch& batch, const std::vector<Oid>& oids,
                       uint32_t tlen) {
  // Applied one at a time by the storage; returns once durable (in sync
  // mode concurrent calls share the fsync).
  const auto t_apply = Clock::now();
  pool_.GoOut();  // the storage may wait for its write lock and the disk
  Status st = storage_->Commit(batch);
  metrics_.commit_latency.Observe(Clock::now() - t_apply);
  const double apply_ms = MillisSince(t_apply);
  table_.Settled(oids);
  // Its client may commit the same oids again within its think time.
  leases_.Unpin(c->id,
                st.ok() ? Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(options_.lease_think_s))
                        : Clock::time_point());
  if (st.IsConflict()) return Refuse(c, st.ToString().c_str());
  if (!st.ok()) {
    // Commit is atomic: nothing of it is stored (or, for a failed flush,
    // it is not acknowledged as durable).
    // A replica's refusal (bdb/storage_repl.cc) is the client's mistake,
    // not the server's: a warning naming the master.
    Drop(c, st.IsReadOnly() ? LogLevel::kWarn : LogLevel::kError,
         "commit failed: " + st.ToString());
    return false;
  }
  table_.Stored(c->member, oids);
  ++c->commits;
  c->contender_until = Clock::time_point();
  commits_.fetch_add(1);
  DURUS_LOG(*log_, kInfo,
            "client %" PRIu64 " committed %zu objects, %" PRIu64
            " bytes in %.2f ms (storage %.2f ms)",
            c->id, batch.size(), static_cast<uint64_t>(tlen), MillisSince(c->commit_t0), apply_ms);
  c->reply.assign(1, kStatusOkay);
  return Write(c, c->reply, RequestDeadline(1), "the commit status");
}

}  // namespace durus::server
