// LeaseTable: the oids a client's last commit wrote stay "leased" to it
// while it is likely to commit them again, and a load of one of them by a
// client that recently lost a commit is parked until the lease ends.
//
// Why (issue 12): with one hot object, the client that committed it last
// holds the current version in its cache and commits again within a
// round trip, while the others (having lost a commit) sync, load the hot
// object and lose again to its next commit: each such round is a conflict
// for them.  Durus's single-threaded server slows those losers down by
// serving their requests behind the winner's commits; ours served them at
// once and they lost more often (0.7-1.7 conflicts per commit against
// Durus's 0.1-0.3).  Parking their loads of the oids the winner keeps
// writing until it stops (its lease ends) lets the winner run, and the
// losers read the object once, after it, and commit without conflict.
//
// A lease (owner, the oids of its last commit) is:
//  - pinned from the commit's publication until its acknowledgement, and
//    while its owner holds the commit token again (its next commit is
//    being validated: it may write the same oids);
//  - then held until `until` (the acknowledgement plus the think time the
//    server allows, ServerOptions::lease_think_s);
//  - ended at once when its owner's commit is abandoned or refused, when
//    it syncs (a new transaction), when a later commit of another client
//    writes the oid, and when it disconnects (Forget).
// A parked load is released when no other client's lease holds its oid,
// or at its deadline (ServerOptions::lease_max_wait_s), whichever first.
// Parking only delays a load before it is read: isolation is unaffected
// (doc/server.md).
//
// Threading: every method is thread-safe (one internal mutex, a leaf: no
// callback runs under it).  AwaitReleases is for one thread (the server's
// lease thread), which hands the released connections back to the workers.
#ifndef DURUS_BDB_SERVER_LEASE_TABLE_H_
#define DURUS_BDB_SERVER_LEASE_TABLE_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "engine/oid.h"
#include "util/mutex.h"

namespace durus::server {

class LeaseTable {
 public:
  using Clock = std::chrono::steady_clock;

  // Commits of more oids than this lease none (a bulk writer is not the
  // hot-object pattern, and the table stays small).
  static constexpr size_t kMaxLeasedOids = 256;

  // `owner`'s commit of `oids` is published: they become its lease
  // (replacing its previous one), pinned.  Oids leased to another client
  // pass to `owner`.
  void Hold(uint64_t owner, const std::vector<Oid>& oids) EXCLUDES(mu_);
  // `owner` holds the commit token again: its lease is pinned.
  void Pin(uint64_t owner) EXCLUDES(mu_);
  // `owner`'s lease is no longer pinned; it lasts until `until` (now:
  // ends at once).
  void Unpin(uint64_t owner, Clock::time_point until) EXCLUDES(mu_);
  // `owner` disconnected: its lease ends.
  void Forget(uint64_t owner) EXCLUDES(mu_);

  // If another client's lease holds `oid`, park `client`'s load of it
  // until the lease ends or `deadline`, and return true: AwaitReleases
  // will name `client` then.  Otherwise return false (load it now).
  bool Park(uint64_t client, Oid oid, Clock::time_point deadline) EXCLUDES(mu_);

  struct Release {
    uint64_t client;
    bool timed_out;  // its deadline came first: the lease still holds
  };
  // Blocks until parked loads are released (in the order they were
  // parked) or Stop() is called (then returns empty, and keeps returning
  // empty).
  std::vector<Release> AwaitReleases() EXCLUDES(mu_);
  void Stop() EXCLUDES(mu_);

  // Loads parked since construction.
  uint64_t parked() const { return parked_total_.load(std::memory_order_relaxed); }
  // Oids leased now (tests).
  size_t leased() const EXCLUDES(mu_);

 private:
  struct Owner {
    std::vector<Oid> oids;  // its lease
    bool pinned = false;
    Clock::time_point until{};
  };
  struct Waiter {
    uint64_t client;
    Oid oid;
    Clock::time_point deadline;
  };
  // True if a client other than `client` holds `oid` at `now`; lowers
  // *wake to the time the lease would end if it is not pinned.
  bool HeldLocked(uint64_t client, Oid oid, Clock::time_point now, Clock::time_point* wake) const
      REQUIRES(mu_);
  void ChangedLocked() REQUIRES(mu_);
  void DropLeaseLocked(uint64_t owner, Owner* o) REQUIRES(mu_);

  mutable util::Mutex mu_;
  util::CondVar cv_;  // AwaitReleases: a lease changed, or Stop
  std::unordered_map<Oid, uint64_t> lease_ GUARDED_BY(mu_);  // oid -> owner
  std::unordered_map<uint64_t, Owner> owners_ GUARDED_BY(mu_);
  std::vector<Waiter> waiters_ GUARDED_BY(mu_);
  bool stopped_ GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> parked_total_{0};
};

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_LEASE_TABLE_H_
