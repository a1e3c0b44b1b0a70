// GcStore: the narrow interface through which garbage collection (bdb/gc/:
// the collector, the trace, verify and repair) works on a Berkeley DB
// storage.  BdbStorage implements it (bdb/storage_gc.cc); the module never
// sees BdbStorage's private state, and the storage's writer lock, its
// counters and the list of collected oids stay the storage's business.
//
// What it offers:
//   - the environment, the tables and the options (read);
//   - Exclusive: a section holding the storage open and its writer lock,
//     so no commit and no other writer runs meanwhile (loads go on);
//   - inside it, TransactLocked: run a writing transaction, retried on a
//     Berkeley DB deadlock (bdb/retry.h), whose counter changes the store
//     writes to meta.db in the same transaction and, once it committed,
//     publishes with the oids it deleted (for Storage::Sync()) -- the one
//     place where a writer other than Commit publishes anything;
//   - CountersLocked / SetCountersLocked: the committed meta counters.
//
// Threading: every *Locked method requires the writer lock, i.e. runs
// inside Exclusive (or, for the storage itself, under write_mu_).
// Errors: Status.
#ifndef DURUS_BDB_BDB_GC_STORE_H_
#define DURUS_BDB_BDB_GC_STORE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bdb/bdb_storage.h"
#include "bdb/handles.h"
#include "engine/oid.h"
#include "engine/status.h"

namespace durus::bdb {

// Counter changes of a transaction that deletes objects.
struct CounterDelta {
  int64_t objects = 0;
  int64_t bytes = 0;
  int64_t pending = 0;
  bool empty() const { return objects == 0 && bytes == 0 && pending == 0; }
};

// The meta counters as committed (bdb/schema.h).
struct MetaCounters {
  uint64_t next_oid = 0;  // as persisted: > every stored oid
  uint64_t objects = 0;
  uint64_t bytes = 0;
  uint64_t pending = 0;
};

// value + delta for a meta counter (object_count, record_bytes,
// pending_count), into *out; Corruption, with nothing written, when that
// would go below zero.  Every writer (commit, collector, trace, repair)
// goes through it: a wrapped counter (18446744073709551615 objects, seen
// after a wrong repair) hides the bug that caused it.
Status AddToMetaCounter(const char* name, uint64_t value, int64_t delta, uint64_t* out);

// What a garbage-collection transaction changed besides its own tables,
// filled in by its body and applied by the store.
struct TxnEffects {
  CounterDelta delta;        // written to meta.db in the transaction
  std::vector<Oid> removed;  // deleted oids, handed to Sync() once committed
  bool abort = false;        // nothing to commit: abort, return OK
};

// A transaction body: writes inside `txn` and fills *effects.  A failed
// Berkeley DB call returns its Status and sets *retry when it was a
// deadlock (TxnFailure in bdb/retry.h); the store then aborts and runs
// the body again in a fresh transaction with fresh effects.
using TxnBody = std::function<Status(DbTxn* txn, TxnEffects* effects, bool* retry)>;

class GcStore {
 public:
  virtual ~GcStore() = default;

  virtual const std::string& home() const = 0;
  virtual const BdbOptions& options() const = 0;
  virtual DbEnv* env() const = 0;
  virtual Db* records() const = 0;
  virtual Db* refcounts() const = 0;
  virtual Db* pending() const = 0;
  virtual Db* meta() const = 0;

  // Runs `fn` holding the storage open (Closed, and fn does not run, if it
  // is closed) and holding its writer lock.  `readonly_error`: if not
  // empty and the storage is read-only, ReadOnly with that message
  // instead.
  virtual Status Exclusive(const std::string& readonly_error,
                           const std::function<Status()>& fn) = 0;

  // Writer lock held: the committed counters.
  virtual MetaCounters CountersLocked() const = 0;

  // Writer lock held: runs `body` in a transaction (retried on deadlock).
  // After it returned OK (and did not ask to abort): the counters changed
  // by effects.delta are written to meta.db (Corruption, nothing written,
  // if one would go below zero), the transaction commits with
  // `commit_flags` (DB_TXN_NOSYNC for collector and trace steps), and then
  // the counters and the removed oids are published.  `what` names the
  // work in errors ("a collector step").
  virtual Status TransactLocked(const char* what, uint32_t commit_flags, const TxnBody& body) = 0;

  // Writer lock held: writes and publishes `counters` (verify --repair) in
  // a durable transaction of their own; NewOid never hands out an oid
  // below counters.next_oid afterwards.
  virtual Status SetCountersLocked(const MetaCounters& counters) = 0;
};

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_GC_STORE_H_
