// Retrying Berkeley DB deadlocks: the one policy every reader and writer of
// bdb/ uses; and the one retry after DB_REP_HANDLE_DEAD (replication).
// Internal to bdb/.
//
// Berkeley DB resolves a deadlock by failing one of the parties with
// DB_LOCK_DEADLOCK (or DB_LOCK_NOTGRANTED): that party aborts what it did
// and tries again from the start.  Writers never deadlock with each other
// (they serialise on the storage's writer lock), so the other party is a
// read without a transaction, and a few attempts always suffice; the bound
// only keeps a bug from looping for ever.
//
// Threading: plain functions.  Errors: whatever the attempt returns; after
// the last attempt, its (retryable) failure.
#ifndef DURUS_BDB_BDB_RETRY_H_
#define DURUS_BDB_BDB_RETRY_H_

#include <string>
#include <utility>

#include "bdb/handles.h"
#include "engine/status.h"

namespace durus::bdb {

// Attempts of a writing transaction (1 + 50 retries).
inline constexpr int kTxnAttempts = 51;
// Attempts of a read without a transaction (a load, a scan chunk).
inline constexpr int kReadAttempts = 100;

// Calls `attempt()` (returning a Berkeley DB code) until it returns a code
// that IsRetryable() does not accept, at most `attempts` times; returns the
// last code.
template <typename Attempt>
int RetryDb(Attempt&& attempt, int attempts = kTxnAttempts) {
  int ret = 0;
  for (int i = 0; i < attempts; ++i) {
    ret = attempt();
    if (!IsRetryable(ret)) break;
  }
  return ret;
}

// The same for an attempt that returns a Status and sets its `bool* retry`
// argument when it failed on a deadlock (a Status does not carry Berkeley
// DB's code): called again, at most `attempts` times in all.
template <typename Attempt>
Status RetryTxn(Attempt&& attempt, int attempts = kTxnAttempts) {
  for (int i = 1;; ++i) {
    bool retry = false;
    Status s = attempt(&retry);
    if (!retry || i >= attempts) return s;
  }
}

// Status for a failed Berkeley DB call inside a retried attempt: sets
// *retry when `ret` is a deadlock.
inline Status TxnFailure(int ret, const std::string& what, bool* retry) {
  if (IsRetryable(ret)) *retry = true;
  return FromDb(ret, what);
}

// DB_REP_HANDLE_DEAD: a table handle that was open across a rollback of
// this site's log (a demoted master's unacknowledged tail, a replica's
// records the new master lacks) or an internal init refuses every
// operation; a fresh handle works (doc/replication-plan.md 7).  The
// storage reopens its handles and runs the operation once more.
inline bool IsHandleDead(int ret) { return ret == DB_REP_HANDLE_DEAD; }
// The same for a Status made by FromDb (bdb/journal.h's readers return
// Status only): FromDb keeps Berkeley DB's message, which names the code.
inline bool IsHandleDead(const Status& s) {
  return !s.ok() && s.message().find("DB_REP_HANDLE_DEAD") != std::string::npos;
}

// Runs `attempt(bool* dead)`; when it set *dead (it failed on a dead
// handle, nothing done), calls `reopen()` and, if that worked, runs the
// attempt once more.  One retry: a second rollback at that very moment is
// an error for the caller, not a loop.
template <typename Attempt, typename Reopen>
Status RetryHandleDead(Attempt&& attempt, Reopen&& reopen) {
  bool dead = false;
  Status s = attempt(&dead);
  if (!dead) return s;
  Status r = reopen();
  if (!r.ok()) return r;
  dead = false;
  return attempt(&dead);
}

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_RETRY_H_
