// Retrying Berkeley DB deadlocks: the one policy every reader and writer of
// bdb/ uses; the one retry after DB_REP_HANDLE_DEAD (replication); and the
// short wait through a replication lockout (DB_REP_LOCKOUT).
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

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
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
//
// An attempt that failed on a replication lockout (its Status names
// DB_REP_LOCKOUT: a txn_begin refused under DB_REP_CONF_NOWAIT, or any
// call TxnFailure saw fail so) is run again after a pause, within
// kLockoutBudget and without counting against `attempts`; past the budget
// its failure becomes LockoutBusy.  Declared below.
template <typename Attempt>
Status RetryTxn(Attempt&& attempt, int attempts = kTxnAttempts);

// Status for a failed Berkeley DB call inside a retried attempt: sets
// *retry when `ret` is a deadlock.  A lockout keeps Berkeley DB's name
// for it in the message (IsLockout(Status)), which RetryTxn waits out.
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

// --- Replication lockouts (DB_REP_LOCKOUT) ---
//
// While a replication site syncs with a new master, rolls back, runs an
// internal init or changes role, Berkeley DB locks its API out: it sets
// REP_LOCKOUT_OP, waits for the operations in progress to drain (polling
// once a second), then runs alone.  Calls arriving meanwhile wait inside
// Berkeley DB in whole seconds: a DB->get without a transaction sleeps 5 s
// and fails with DB_LOCK_DEADLOCK (__db_rep_enter), a txn_begin or a
// cursor without a transaction sleeps in 5 s steps until the lockout is
// over (__op_rep_enter).  A lockout of a few milliseconds then cost a
// load 5 s -- the ~5 s failover tails of doc/replication.md.  So every
// replication site is configured with DB_REP_CONF_NOWAIT
// (FailFastOnLockouts): txn_begin and cursors fail at once with
// DB_REP_LOCKOUT instead; reads go through a cursor (GetNoWait), never
// DB->get, on a replication site; and we wait here, outside Berkeley DB
// (holding nothing it waits for), in pauses of kLockoutPause, for at most
// kLockoutBudget.  A lockout longer than that (an internal init of a large
// home) fails the call with LockoutBusy: Busy, the error a fenced master's
// reads get too -- the server drops the client, which retries, on this
// site or another.

// The longest one call waits for a lockout to end.  Berkeley DB's own
// lockout polls in 1 s steps, so a lockout that found operations in
// progress lasts a little over 1 s; 2 s covers one such step.
inline constexpr std::chrono::milliseconds kLockoutBudget{2000};
inline constexpr std::chrono::milliseconds kLockoutPause{2};

// Sets DB_REP_CONF_NOWAIT on a replication environment (before
// repmgr_start): calls made during a lockout fail with DB_REP_LOCKOUT at
// once (see above).  Returns Berkeley DB's code.
inline int FailFastOnLockouts(DbEnv* env) { return env->rep_set_config(DB_REP_CONF_NOWAIT, 1); }

inline bool IsLockout(int ret) { return ret == DB_REP_LOCKOUT; }
// The same for a Status made by FromDb (which keeps Berkeley DB's message,
// naming the code) or by LockoutBusy.
inline bool IsLockout(const Status& s) {
  return !s.ok() && s.message().find("DB_REP_LOCKOUT") != std::string::npos;
}

// Pauses taken in lockouts by this process (every thread): for tests and
// diagnosis -- a load that found a site locked out and waited here, not
// inside Berkeley DB.
inline std::atomic<uint64_t> g_lockout_pauses{0};
inline uint64_t LockoutPauses() { return g_lockout_pauses.load(std::memory_order_relaxed); }

// One call's wait through a lockout: Pause() sleeps kLockoutPause and
// returns true while the budget (from construction) lasts, false once it
// is spent (the caller then reports LockoutBusy).
class LockoutWait {
 public:
  explicit LockoutWait(std::chrono::milliseconds budget = kLockoutBudget)
      : budget_(budget), start_(std::chrono::steady_clock::now()) {}
  bool Pause() {
    if (std::chrono::steady_clock::now() - start_ >= budget_) return false;
    g_lockout_pauses.fetch_add(1, std::memory_order_relaxed);
    // Berkeley DB said "Operation locked out" to this thread's error
    // messages (DbErrorCallback, capped): noise for whatever this thread
    // reports next.
    ClearLastDbError();
    std::this_thread::sleep_for(kLockoutPause);
    return true;
  }
  std::chrono::milliseconds budget() const { return budget_; }

 private:
  std::chrono::milliseconds budget_;
  std::chrono::steady_clock::time_point start_;
};

// The error of a call still locked out after its wait: Busy, retryable.
inline Status LockoutBusy(const std::string& what, std::chrono::milliseconds waited) {
  return Status::Busy(what + ": this replication site was locked out by Berkeley DB for over " +
                      std::to_string(waited.count()) +
                      " ms (DB_REP_LOCKOUT: it is syncing with a new master, rolling back or "
                      "changing role); retry in a moment, here or at another site of the group");
}

// Runs `attempt()` (returning a Status) again while it fails on a lockout,
// pausing between runs, within `budget`; past it, LockoutBusy of the last
// failure (whose message says what was attempted).
template <typename Attempt>
Status ThroughLockouts(Attempt&& attempt, std::chrono::milliseconds budget = kLockoutBudget) {
  LockoutWait wait(budget);
  for (;;) {
    Status s = attempt();
    if (!IsLockout(s) || s.IsBusy()) return s;
    if (!wait.Pause()) return LockoutBusy(s.message(), wait.budget());
  }
}

// A get of `key` without a transaction that meets a lockout with
// DB_REP_LOCKOUT at once (under DB_REP_CONF_NOWAIT), never with
// DB->get's 5 s sleep: through a cursor, which counts as an operation
// only while it is open.  For replication sites; the same cost as DB->get
// (which makes a cursor inside too).
inline int GetNoWait(Db* db, Dbt* key, std::string* out) {
  Cursor c;
  int ret = c.Open(db, nullptr);
  if (ret == 0) ret = GetInto(c.get(), key, out, DB_SET);
  return ret;
}

template <typename Attempt>
Status RetryTxn(Attempt&& attempt, int attempts) {
  LockoutWait lockout;
  for (int i = 1;;) {
    bool retry = false;
    Status s = attempt(&retry);
    if (IsLockout(s)) {
      if (s.IsBusy()) return s;  // an inner wait already spent its budget
      if (!lockout.Pause()) return LockoutBusy(s.message(), lockout.budget());
      continue;
    }
    if (!retry || i >= attempts) return s;
    ++i;
  }
}

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_RETRY_H_
