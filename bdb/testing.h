// Test-only hooks into a Berkeley DB storage: write its tables directly,
// bypassing reference counting (to inject the faults `verify` must find),
// and drive the collector and the cycle trace one step at a time (to test
// interleavings deterministically).  Never used by the product.  Does not
// include db_cxx.h.
//
// Every function takes the storage's writer lock, so it is safe to call
// while the storage is in use; each write is one transaction.  `storage`
// must come from OpenBdbStorage (InvalidArgument otherwise).
#ifndef DURUS_BDB_BDB_TESTING_H_
#define DURUS_BDB_BDB_TESTING_H_

#include <cstdint>
#include <string>

#include "engine/oid.h"
#include "engine/status.h"
#include "engine/storage.h"

namespace durus::bdb_testing {

// Fault injection (no counter, queue or meta bookkeeping: that is the point).
Status SetCount(Storage* storage, Oid oid, uint64_t count);
Status EraseCount(Storage* storage, Oid oid);
Status AddQueueEntry(Storage* storage, Oid oid);
Status EraseQueueEntry(Storage* storage, Oid oid);
Status EraseRecord(Storage* storage, Oid oid);  // the record only
Status PutRecordRaw(Storage* storage, Oid oid, const std::string& record);
// Sets the object_count counter (meta.db and the in-memory copy).
Status SetObjectCounter(Storage* storage, uint64_t value);

// Overwrites the trace state in marks.db with garbage (an unreadable
// state: the next open must not resume, and a new trace must start clean).
Status DamageTraceState(Storage* storage);

// Stepping.
Status CollectStep(Storage* storage, uint32_t max, uint64_t* collected, bool* done);
Status StartTrace(Storage* storage, bool* started);
Status TraceStep(Storage* storage, uint32_t max, uint64_t* collected, bool* done);

struct TraceInfo {
  bool running = false;
  int phase = 0;  // 0 idle, 1 mark, 2 sweep
  uint64_t limit = 0, cursor = 0, traced = 0, swept = 0;
  uint64_t started_total = 0, completed_total = 0;
};
Status GetTraceInfo(Storage* storage, TraceInfo* info);

}  // namespace durus::bdb_testing

#endif  // DURUS_BDB_BDB_TESTING_H_
