// CommitSequencer: the commit token, which orders the validations of
// commits as Durus's single-threaded server does.  (Internal to server/.)
//
// A committer holds the token from sending its client the invalidation
// list until it has published its oids to the other clients, so a
// client's conflict check covers every commit ordered before its own.
// No thread waits for the token or for the client: a committer that finds
// it taken joins the line (TryAcquire returns false; its connection stays
// claimed and unserved), and the holder's Release names the next in line,
// whom the caller then serves (sends its list).  The holder is
// *graceable* while it waits for its client's commit data: a client slow
// to answer holds the token for at most the grace period (GraceExpired,
// then Release with grace_expired), after which its commit goes ahead
// only if nothing reached it meanwhile.  Only the rare second acquisition
// of a commit whose token was released that way waits in a thread
// (AcquireSync, on a futex).  The sequencer also keeps the deadline of
// each committer awaiting its client's commit data (AwaitData).
//
// Knows nothing of sockets or storage: committers are opaque pointers
// (the sessions' Client), with the id given at AwaitData.
// Threading: thread-safe; mu_ is a leaf: never held across I/O, nor while
// calling out or taking another lock (the futex wake is after the unlock;
// the caller serves the next committer after Release returned).
#ifndef DURUS_BDB_SERVER_COMMIT_SEQUENCER_H_
#define DURUS_BDB_SERVER_COMMIT_SEQUENCER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <unordered_map>
#include <vector>

#include "server/socket_stream.h"
#include "util/mutex.h"

namespace durus::server {

struct Client;

class CommitSequencer {
 public:
  // A worker waiting in AcquireSync; lives on its stack.
  struct SyncWaiter {
    Client* c = nullptr;
    // kWaiting -> kSleeping (the waiter, before the futex wait) ->
    // kGranted (the granter).
    std::atomic<uint32_t> grant{0};
  };

  // The token for `c` if free (then graceable: the client is yet to
  // answer its list), else `c` joins the line and false.
  bool TryAcquire(Client* c) EXCLUDES(mu_);
  // The token for a commit whose grace passed: waits in line.  False when
  // `stopping` became true while waiting.  `before_wait` runs once, before
  // the wait (the worker then counts as blocked).
  bool AcquireSync(SyncWaiter* w, const std::atomic<bool>& stopping,
                   const std::function<void()>& before_wait) EXCLUDES(mu_);

  struct Handover {
    bool released = false;   // `holder` held the token and gave it up
    Client* next = nullptr;  // a queued committer now holding it: send its list
  };
  // If `holder` holds the token (and, for `grace_expired`, is still
  // graceable), passes it to the next in line.  A waiter in AcquireSync is
  // woken here; a queued connection is returned in `next` (claimed, not
  // served: the caller sends its list and releases it).
  Handover Release(Client* holder, bool grace_expired) EXCLUDES(mu_);
  // `c` has read its commit data: if it still holds the token, the grace
  // period can no longer take it (returns true); false: it was released
  // meanwhile (its commit is optimistic).
  bool KeepToken(Client* c) EXCLUDES(mu_);
  // The holder if it has been graceable for `grace` at `now`, else null.
  Client* GraceExpired(Clock::time_point now, Clock::duration grace) const EXCLUDES(mu_);

  // Deadlines of committers waiting for their client's commit data.
  void AwaitData(Client* c, uint64_t id, Deadline d) EXCLUDES(mu_);
  void DataArrived(Client* c) EXCLUDES(mu_);
  // Ids of the committers whose deadline passed at `now`.
  std::vector<uint64_t> Late(Clock::time_point now) const EXCLUDES(mu_);
  bool StillLate(Client* c, Clock::time_point now) const EXCLUDES(mu_);
  // `c` is going away: forget its deadline; true if it holds the token
  // (the caller then Releases it).
  bool Forget(Client* c) EXCLUDES(mu_);
  // Stopping: empty the line and the deadlines.
  void Clear() EXCLUDES(mu_);

 private:
  struct Waiter {
    Client* c = nullptr;
    SyncWaiter* sync = nullptr;  // a worker waiting in AcquireSync
  };
  struct Awaiting {
    uint64_t id;
    Deadline deadline;
  };

  mutable util::Mutex mu_;
  Client* holder_ GUARDED_BY(mu_) = nullptr;
  // The holder is waiting for its client: the grace period applies.
  bool graceable_ GUARDED_BY(mu_) = false;
  Clock::time_point granted_at_ GUARDED_BY(mu_);
  std::deque<Waiter> line_ GUARDED_BY(mu_);
  std::unordered_map<Client*, Awaiting> awaiting_ GUARDED_BY(mu_);
};

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_COMMIT_SEQUENCER_H_
