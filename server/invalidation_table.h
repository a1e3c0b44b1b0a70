// InvalidationTable: what each client must be told and may not be given —
// its invalid oids, the oids handed out to it and not yet stored, and the
// commits in flight.  Pure logic: no sockets, no storage, no threads of
// its own.  (Internal to server/; the isolation argument it implements is
// doc/server.md, "Isolation".)
//
//  - Invalid oids: a commit's oids are added to every other member's set
//    when it is published (Publish), and oids removed by the collector to
//    every member's (Drain's `collect`).  A member's set is reported and
//    emptied at its sync and at the start of its commit (Drain).
//  - Unused oids: handed out by N/M (HandOut) until stored (Stored); a
//    commit that stores another member's unused oid is refused (Publish:
//    kStolen), as Durus does.  Kept as runs (UnusedOids).
//  - In flight: a published commit's oids until its Storage::Commit
//    returned (Settled).  A load of an in-flight oid not in its client's
//    invalid set waits until the commit has returned (WaitForInflight),
//    instead of reading the older version or answering 'I' for a whole
//    fsync (issue 12).  A commit becomes visible somewhere inside
//    Storage::Commit; a client that synced after its publication belongs
//    after it.  Cheap when nothing is in flight: one atomic load.
//
// Publication, the registration in flight, joining and every drain happen
// under one lock (mu_), so a drain sees every commit published before it
// either in the drained list or (still in flight) in the table.
//
// Ownership: the table owns the members; Join hands out a pointer valid
// until Leave.  Threading: thread-safe.  Lock order (ACQUIRED_BEFORE /
// ACQUIRED_AFTER, checked by clang's -Wthread-safety-beta): mu_ before
// inflight_mu_ before a Member::mu; no callback runs under mu_ except Drain's `collect`, and
// none under the others.  Callers may hold the CommitSequencer's lock,
// never a lock the table's callbacks take.
#ifndef DURUS_BDB_SERVER_INVALIDATION_TABLE_H_
#define DURUS_BDB_SERVER_INVALIDATION_TABLE_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/oid.h"
#include "server/unused_oids.h"
#include "util/mutex.h"

namespace durus::server {

class InvalidationTable {
 public:
  // One client's sets.
  class Member {
   private:
    friend class InvalidationTable;
    util::Mutex mu ACQUIRED_AFTER(InvalidationTable::mu_, InvalidationTable::inflight_mu_);
    std::unordered_set<Oid> invalid GUARDED_BY(mu);  // to report at its next S or C
    UnusedOids unused GUARDED_BY(mu);                // handed out by N/M, not yet stored
  };

  // A client connects.  Connecting counts as a sync: a commit published
  // before it is in its snapshot (its loads wait for it while it is in
  // flight).
  Member* Join() EXCLUDES(mu_);
  void Leave(Member* m) EXCLUDES(mu_);
  size_t members() const EXCLUDES(mu_);

  // m's sync (S, or the start of its commit): `collect` (the oids the
  // collector removed since the last call: Storage::Sync) are published
  // to every member, then m's set is emptied and returned.  A commit
  // published before this but still in flight is part of m's snapshot
  // from now on: m's loads of its oids wait for it (WaitForInflight).
  std::vector<Oid> Drain(Member* m, const std::function<std::vector<Oid>()>& collect) EXCLUDES(mu_);

  // Replication, on a replica: `changes` (Storage::ReplicatedChanges,
  // commits applied by replication since the last call) are published to
  // every member, under the lock of Drain, so a drain sees them either in
  // its list or not at all.
  void PublishReplicated(const std::function<std::vector<Oid>()>& changes) EXCLUDES(mu_);
  // Checked after reading a record: invalid means answer 'I'.
  bool IsInvalid(Member* m, Oid oid) EXCLUDES(mu_);
  // (*out)[i] = IsInvalid(m, oids[i]), under one lock.
  void MarkInvalid(Member* m, const std::vector<Oid>& oids, std::vector<char>* out) EXCLUDES(mu_);

  struct Unused {
    uint64_t oids;
    size_t runs;
  };
  // `oids` were handed out to m (N/M): what m holds now.
  Unused HandOut(Member* m, const std::vector<Oid>& oids) EXCLUDES(mu_);
  // m's commit of `oids` succeeded: no longer unused.
  void Stored(Member* m, const std::vector<Oid>& oids) EXCLUDES(mu_);

  enum class Publication {
    kPublished,  // in every other member's set, and in flight until Settled
    kRaced,      // optimistic, and m's own set is not empty: refuse ('I')
    kStolen,     // stores another member's unused oid: drop the client
  };
  // m's commit of `oids`, validated: publish it before it can become
  // visible (an extra invalidation if the storage then refuses it is
  // harmless).  `optimistic`: its commit token was taken by the grace
  // period, so anything published to m since its list refuses it.
  Publication Publish(Member* m, const std::vector<Oid>& oids, bool optimistic, Oid* stolen)
      EXCLUDES(mu_, inflight_mu_);
  // The commit of `oids` returned from Storage::Commit.
  void Settled(const std::vector<Oid>& oids) EXCLUDES(inflight_mu_);

  enum class Wait { kClear, kInvalid, kTimedOut };
  // Before m reads oids[0..n): returns once none of them is in flight
  // (kClear), or once one that is has entered m's invalid set (kInvalid:
  // answer 'I' anyway), or after `timeout` (kTimedOut: answering 'I' is
  // always safe).  `before_wait` runs once, before the first wait (the
  // server counts the worker out of its active workers there).
  Wait WaitForInflight(Member* m, const Oid* oids, size_t n, std::chrono::milliseconds timeout,
                       const std::function<void()>& before_wait) EXCLUDES(inflight_mu_);
  // The oids of the commits in flight now (published, Storage::Commit not
  // yet returned): the info request R names them, since such a commit may
  // take a journal seq after the one R read (server/info_request.h).
  std::vector<Oid> InflightOids() EXCLUDES(inflight_mu_);
  // Loads that had to wait, since construction.
  uint64_t waits() const { return waits_.load(std::memory_order_relaxed); }
  bool nothing_in_flight() const { return commits_.load() == 0; }

 private:
  mutable util::Mutex mu_ ACQUIRED_BEFORE(inflight_mu_);
  std::unordered_map<Member*, std::unique_ptr<Member>> members_ GUARDED_BY(mu_);

  util::Mutex inflight_mu_;
  util::CondVar inflight_cv_;
  // A count per oid: two commits may be in flight on one oid (the second
  // published after the first, validated against it).
  std::unordered_map<Oid, int> inflight_ GUARDED_BY(inflight_mu_);
  int waiters_ GUARDED_BY(inflight_mu_) = 0;
  // Commits in flight: loads skip the table while it is zero.  Changed
  // with seq_cst under inflight_mu_ (see WaitForInflight).
  std::atomic<int> commits_{0};
  std::atomic<uint64_t> waits_{0};
};

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_INVALIDATION_TABLE_H_
