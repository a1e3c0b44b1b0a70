// InflightTable: the oids of commits that have been published to the other
// clients but whose Storage::Commit has not returned yet ("in flight"), and
// the wait of a load that meets one.
//
// Why: a commit becomes visible in the storage somewhere inside
// Storage::Commit, and in `sync` mode Commit returns only after the shared
// fsync.  A client that synced after the commit was published belongs
// after it (its snapshot includes it), so it must not read the older
// version of those oids; answering 'I' until Commit returned made every
// retry of a hot object's reader a conflict for as long as the fsync lasted
// (issue 12).  Instead such a load waits until the commits in flight on its
// oids have returned (microseconds to one fsync), then reads.  The
// isolation argument is in doc/server.md ("Isolation").
//
// Threading: every method is thread-safe.  Lock order: a caller may hold
// the server's publish_mu_ when calling Add (it must: see doc/server.md);
// WaitUntilSettled takes the table's mutex and calls `invalid` under it,
// so `invalid` may take a Client::mu but nothing the table's callers hold
// while calling Add or Remove.
#ifndef DURUS_BDB_SERVER_INFLIGHT_TABLE_H_
#define DURUS_BDB_SERVER_INFLIGHT_TABLE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>
#include <vector>

#include "engine/oid.h"

namespace durus::server {

class InflightTable {
 public:
  // A commit's oids are in flight from Add until the matching Remove.
  void Add(const std::vector<Oid>& oids);
  void Remove(const std::vector<Oid>& oids);

  // What WaitUntilSettled found.
  enum class Wait { kClear, kInvalid, kTimedOut };

  // Returns once none of `oids[0..n)` is in flight (kClear), or once
  // invalid(oid) is true for one of them that is (kInvalid: it was
  // published to the caller since its last sync, so the caller answers
  // 'I' anyway), or after `timeout` (kTimedOut: answering 'I' is always
  // safe).  `before_wait` runs once, before the first wait (the server
  // counts the worker out of its active workers there).  Cheap when
  // nothing is in flight: one atomic load.
  Wait WaitUntilSettled(const Oid* oids, size_t n, const std::function<bool(Oid)>& invalid,
                        std::chrono::milliseconds timeout, const std::function<void()>& before_wait);

  // Loads that had to wait, since construction.
  uint64_t waits() const { return waits_.load(std::memory_order_relaxed); }
  bool empty() const { return commits_.load() == 0; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  // A count per oid: two commits may be in flight on one oid (the second
  // published after the first, validated against it).
  std::unordered_map<Oid, int> oids_;
  int waiters_ = 0;  // guarded by mu_
  // Commits in flight: loads skip the table while it is zero.  Changed
  // with seq_cst under mu_ (see WaitUntilSettled).
  std::atomic<int> commits_{0};
  std::atomic<uint64_t> waits_{0};
};

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_INFLIGHT_TABLE_H_
