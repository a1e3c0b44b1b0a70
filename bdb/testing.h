// Test-only hooks into a Berkeley DB storage: write its tables directly,
// bypassing reference counting (to inject the faults `verify` must find),
// and drive the collector and the cycle trace one step at a time (to test
// interleavings deterministically).  Never used by the product.  Does not
// include db_cxx.h.
//
// Every function takes the storage's writer lock, so it is safe to call
// while the storage is in use; each write is one transaction.  Linked from
// the durus_bdb_testing library (bdb/CMakeLists.txt), never the product's.
#ifndef DURUS_BDB_BDB_TESTING_H_
#define DURUS_BDB_BDB_TESTING_H_

#include <cstdint>
#include <string>

#include "bdb/bdb_storage.h"
#include "engine/oid.h"
#include "engine/status.h"

namespace durus::bdb_testing {

// Fault injection (no counter, queue or meta bookkeeping: that is the point).
Status SetCount(BdbHandle* storage, Oid oid, uint64_t count);
Status EraseCount(BdbHandle* storage, Oid oid);
Status AddQueueEntry(BdbHandle* storage, Oid oid);
Status EraseQueueEntry(BdbHandle* storage, Oid oid);
Status EraseRecord(BdbHandle* storage, Oid oid);  // the record only
Status PutRecordRaw(BdbHandle* storage, Oid oid, const std::string& record);
// Sets the object_count counter (meta.db and the in-memory copy).
Status SetObjectCounter(BdbHandle* storage, uint64_t value);

// Overwrites the trace state in marks.db with garbage (an unreadable
// state: the next open must not resume, and a new trace must start clean).
Status DamageTraceState(BdbHandle* storage);

// Stepping.
Status CollectStep(BdbHandle* storage, uint32_t max, uint64_t* collected, bool* done);
Status StartTrace(BdbHandle* storage, bool* started);
Status TraceStep(BdbHandle* storage, uint32_t max, uint64_t* collected, bool* done);

struct TraceInfo {
  bool running = false;
  int phase = 0;  // 0 idle, 1 mark, 2 sweep
  uint64_t limit = 0, cursor = 0, traced = 0, swept = 0;
  uint64_t started_total = 0, completed_total = 0;
};
Status GetTraceInfo(BdbHandle* storage, TraceInfo* info);

}  // namespace durus::bdb_testing

#endif  // DURUS_BDB_BDB_TESTING_H_
