// The cycle trace: marks every object reachable from the root (oid 0) in an
// on-disk table, then deletes the records it did not mark.  Reference
// counting alone never frees a cycle; this does.  Part of the garbage-
// collection module (bdb/gc/README.md); the storage calls the barrier.
//
// marks.db layout (one btree, transactional, in the storage's environment):
//
//   key               value    meaning
//   ----------------  -------  ----------------------------------------------
//   'M' + oid[8]      empty    oid is marked (reachable, or stored/referenced
//                              by a commit since the trace started)
//   'F' + oid[8]      empty    frontier: marked, references not yet followed
//   'S'               state    the trace in progress (see TraceState); absent
//                              when no trace runs, and then the table is empty
//
// Both the marked set and the frontier live on disk, so memory use does not
// depend on the store size (only on the Berkeley DB cache and the step size).
//
// Phases.  Start writes 'S' with limit = next_oid (every oid >= limit was
// created after the start and is never swept) and marks the root.  MARK
// steps pop up to `max` frontier entries (in oid order), read their records
// and mark what they reference.  When the frontier is empty, SWEEP steps
// walk records.db and the 'M' keys together in oid order from `cursor` up to
// `limit`: a marked record survives (its mark is dropped, it is behind the
// cursor now), an unmarked one is deleted (record, count, queue entry; the
// counts of what it referenced are decremented, queueing those that reach
// 0, exactly as the collector would), a mark without a record (collected
// meanwhile by counting) is dropped.  A sweep step first drains the frontier
// if a commit added to it.  When the cursor reaches `limit`, 'S' is deleted.
//
// Concurrent commits (the barrier).  While a trace marks, every commit
// marks, in its own transaction, the oids it stores and every oid its
// records reference (MarkCommitLocked): an object that gains a referrer is
// grey, so no marked-and-visited object ever points at an unmarked one, and
// everything reachable when the frontier is empty is marked.  Marks are only
// needed for oids in [cursor, limit): older ones were already swept (they
// survived), newer ones are never swept.  So anything stored or referenced
// after the trace started and before its marking ended survives it, as with
// Durus's pack_extra.
//
// Once the sweep runs, an unmarked oid in [cursor, limit) is garbage the
// trace has condemned: parts of its (possibly cyclic) garbage structure may
// be deleted already, so keeping it alive would keep dangling references.
// A commit that stores or references one is refused with Conflict, exactly
// like a commit referencing an oid the collector already deleted (a client
// holding a stale reference to garbage).  References to marked oids are
// still marked (a sweep step drains the frontier before deleting more).
//
// Crash safety.  Every step is one transaction (DB_TXN_NOSYNC, made durable
// by the next durable commit or checkpoint, like collector steps) that also
// rewrites 'S'.  After a crash, recovery leaves a prefix of the steps and
// commits, all consistent; the storage resumes the trace at open (Resume),
// with the barrier active before any commit can run.
//
// Threading: Start/Step take the storage's writer lock themselves
// (GcStore::Exclusive); the *Locked methods run under it (MarkCommitLocked
// inside a commit); Progress() is safe from any thread.  Errors: Status
// (steps retry Berkeley DB deadlocks).
#ifndef DURUS_BDB_BDB_GC_TRACE_H_
#define DURUS_BDB_BDB_GC_TRACE_H_

#include <cstdint>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "bdb/gc/store.h"
#include "bdb/handles.h"
#include "engine/commit_batch.h"
#include "engine/oid.h"
#include "engine/status.h"

namespace durus::bdb {

enum class TracePhase : uint8_t { kIdle = 0, kMark = 1, kSweep = 2 };

// The persistent state of a trace ('S' in marks.db).
struct TraceState {
  TracePhase phase = TracePhase::kIdle;
  uint64_t limit = 0;        // oids >= limit are never swept
  uint64_t cursor = 0;       // sweep: oids < cursor are done
  uint64_t traced = 0;       // records visited (marked and followed)
  uint64_t swept = 0;        // unreachable records deleted
  uint64_t bytes_freed = 0;  // their bytes
  uint64_t started = 0;      // unix time of Start
};

// A snapshot for stats, tests and the tools.
struct TraceProgress {
  bool running = false;
  TraceState state;
  uint64_t started_total = 0;    // traces started since open
  uint64_t completed_total = 0;  // traces completed since open
  TraceState last_completed;     // the last of them (phase kIdle)
};

// What one Step did.
struct TraceStepResult {
  uint64_t work = 0;       // frontier entries visited + sweep keys passed
  uint64_t collected = 0;  // records deleted
  uint64_t bytes_freed = 0;
  bool done = false;  // no trace is running any more
};

class Trace {
 public:
  explicit Trace(GcStore* store) : s_(store) {}
  Trace(const Trace&) = delete;
  Trace& operator=(const Trace&) = delete;

  // Writer lock held.  True while a trace runs (the barrier is needed).
  bool ActiveLocked() const { return state_.phase != TracePhase::kIdle; }

  // Writer lock held, inside the commit transaction `txn`; `created`: the
  // oids this commit stores that did not exist before.  Marking: mark
  // every oid the batch stores and every oid its records reference.
  // Sweeping: mark the created ones (an oid handed out before the trace
  // started may be stored only now), and Conflict (naming them) if any
  // other is an oid the trace found unreachable and has not deleted yet.
  // Sets *retry on a Berkeley DB deadlock.
  Status MarkCommitLocked(DbTxn* txn, const CommitBatch& batch,
                          const std::unordered_set<Oid>& created, bool* retry);

  // Start a trace unless one is running (*started false then, or when there
  // is no root to trace from).  Takes the writer lock.
  Status Start(bool* started);

  // One transaction of at most about `max` units of work.  Takes the
  // writer lock.
  Status Step(uint32_t max, TraceStepResult* result);

  // Writer lock held, at open (before any commit): pick up a trace a crash
  // or a close interrupted.  Does nothing when marks.db does not exist.
  Status ResumeLocked();

  // Writer lock held: close marks.db.  The caller also excludes every
  // other user of the storage (closing).
  void CloseHandleLocked();

  // Writer lock held: the state and the marks of the trace in progress
  // (verify tells what it will still free; the marks stay the Trace's).
  const TraceState& StateLocked() const { return state_; }
  Db* MarksLocked() const { return marks_.get(); }

  TraceProgress Progress() const;

 private:
  Status OpenMarksLocked();
  Status StepBody(DbTxn* txn, uint32_t max, TraceStepResult* result, TxnEffects* effects,
                  TraceState* next, bool* retry);
  Status StartBody(DbTxn* txn, TraceState* st, bool* no_root, bool* retry);
  int MarkLocked(DbTxn* txn, const TraceState& st, Oid oid, bool* added);
  int PutStateLocked(DbTxn* txn, const TraceState& st);
  void PublishLocked();

  friend struct TestingAccess;  // bdb/testing.cc damages the state

  GcStore* const s_;
  DbPtr marks_;
  TraceState state_;  // guarded by the storage's writer lock

  mutable std::mutex progress_mu_;
  TraceProgress progress_;  // guarded by progress_mu_
};

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_GC_TRACE_H_
