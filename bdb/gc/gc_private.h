// The garbage-collection module's private header: what its files share and
// what the storage that owns a Collector and a Trace calls.  Nothing outside
// bdb/ includes it; the module's public header is bdb/gc/gc.h, its README
// bdb/gc/README.md.
//
//   bdb/gc/store.h          GcStore: what the module may do to the storage
//   bdb/gc/collector.cc     the pending-garbage collector (Collector) and
//                           DeleteObjectInTxn, shared with the trace's sweep
//                           and verify --repair
//   bdb/gc/trace.{h,cc}     the cycle trace and its commit barrier
//   bdb/gc/verifier.h       verify and repair (bdb/gc/verify*.cc)
//   bdb/gc/pacer.h          the background thread's pacing
//   bdb/gc/report.{h,cc}    verify's report
//
// Threading: Collector::Step and Run take the storage's writer lock
// through GcStore::Exclusive, one step at a time; DeleteObjectInTxn runs
// inside a transaction of the caller's.  Errors: Status, or a Berkeley DB
// code where said.
#ifndef DURUS_BDB_BDB_GC_GC_PRIVATE_H_
#define DURUS_BDB_BDB_GC_GC_PRIVATE_H_

#include <cstdint>
#include <vector>

#include "bdb/gc/gc.h"
#include "bdb/gc/store.h"
#include "bdb/gc/trace.h"
#include "bdb/handles.h"
#include "engine/oid.h"
#include "engine/storage.h"

namespace durus::bdb {

// Makes *d ask for no data (a partial get of 0 bytes: only the key, or
// only whether it exists).  DB_THREAD handles want user memory even for 0
// bytes: `buf` (one byte, the caller's) is it.
inline void AskNoData(Dbt* d, char* buf) {
  d->set_flags(DB_DBT_USERMEM | DB_DBT_PARTIAL);
  d->set_data(buf);
  d->set_ulen(0);
  d->set_dlen(0);
}

// Cursors on records.db and refcounts.db inside one transaction, reused
// by every DeleteObjectInTxn of a step (a cursor positioned by a lookup
// deletes or rewrites without a second descent of the tree).
struct DeleteCursors {
  Cursor records, counts;
  int Open(GcStore* s, DbTxn* txn);
};

// How DeleteObjectInTxn treats the object and what it references.
struct DeleteMode {
  // The collector: delete only if the count is still 0 (a commit may have
  // revived it since it was queued); the caller has dequeued it.  Otherwise
  // (the trace's sweep, verify --repair) delete whatever the count.
  bool collector = false;
  // A cascade from an object deleted earlier in this transaction: its count
  // entry is gone already (it reached 0 there), no check, no queue entry.
  bool count_deleted = false;
  // Referenced oids whose count reaches 0 are queued; with `cascade`, up to
  // `cascade_room` of them have their count entry deleted at once and are
  // appended to *cascade instead, for the caller to delete in the same
  // transaction with count_deleted (no round trip through pending.db).
  std::vector<Oid>* cascade = nullptr;
  size_t cascade_room = 0;
};

// Deletes object `oid` inside `txn`: its record, count entry and queue
// entry; decrements the counts of the (still existing) oids it
// references.  Appends `oid` to effects->removed and adds to
// effects->delta / *freed if it existed.  Returns a Berkeley DB code (0 on
// success; DB_LOCK_DEADLOCK: retry).
int DeleteObjectInTxn(GcStore* s, DbTxn* txn, DeleteCursors* cursors, Oid oid,
                      const DeleteMode& mode, TxnEffects* effects, uint64_t* freed);

// The pending-garbage collector, and whole collections (queue, then
// optionally a trace) in the caller's thread.
class Collector {
 public:
  Collector(GcStore* store, Trace* trace) : store_(store), trace_(trace) {}
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // One transaction: delete up to `max` queued oids whose count is still
  // 0 (cascading into the queue).  *done is set when the queue is empty.
  Status Step(uint32_t max, uint64_t* collected, uint64_t* bytes, bool* done);

  // Empties the queue (steps of `queue_batch`) and, with `cycles`, runs a
  // whole trace (steps of `trace_batch`; a trace already running is
  // finished first, then an own one runs), then empties the queue again.
  // `progress` (may be empty): phases "collect", "trace", "sweep".
  Status Run(bool cycles, uint32_t queue_batch, uint32_t trace_batch,
             const MaintenanceProgressFn& progress, CollectReport* report);

 private:
  Status StepBody(DbTxn* txn, uint32_t max, TxnEffects* effects, uint64_t* bytes, bool* retry);
  Status Drain(uint32_t batch, const MaintenanceProgressFn& progress, CollectReport* report);
  MetaCounters Counters();

  GcStore* const store_;
  Trace* const trace_;
};

// VerifyStorage and CompactStorage (bdb/gc/gc.h) on the storage behind
// `store`; `trace`: its trace (verify reads the state of one in progress).
Status Verify(GcStore* store, Trace* trace, const VerifyOptions& options, gc::VerifyReport* report);
Status Compact(GcStore* store, CompactReport* report);

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_GC_GC_PRIVATE_H_
