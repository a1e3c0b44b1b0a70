// An independent checker of a durus-bdb store's invariants, for the
// reliability tests (crash loops, injected faults, stress, backup).
//
// It reads the store only through the durus::Storage API (Scan, GetRefCount,
// ListPending, GetStats), recomputes everything from the records in memory
// and reports every difference as one line.  It is deliberately a second
// implementation, independent of bdb/gc/verify.cc: a bug shared by the
// storage and its own verifier would otherwise go unseen.  When the garbage
// collector's VerifyStorage (bdb/gc/gc.h) is built, CheckStore runs it too
// and adds its problems.
//
// Memory: the whole store's oids and refs are held in RAM, so this is for
// test-sized stores (up to a few hundred thousand objects).
//
// Threading: call with no concurrent writers (counts move under a commit).
#ifndef DURUS_BDB_TESTS_CRASH_STORE_CHECK_H_
#define DURUS_BDB_TESTS_CRASH_STORE_CHECK_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bdb/bdb_storage.h"
#include "engine/oid.h"
#include "engine/status.h"
#include "engine/storage.h"

namespace durus::reliability {

struct CheckOptions {
  // Also run bdb/gc/gc.h's VerifyStorage when it is built (the storage
  // must then be a Berkeley DB storage).
  bool use_verify = true;
  // Report unreachable objects that counting will never free (cycles) as
  // problems.  Right after a crash they are legitimately present until a
  // trace runs, so callers set this only after Collect(true).
  bool leaks_are_problems = false;
  // After a complete collection (queue drained and a trace run) nothing
  // unreachable may remain at all.
  bool expect_no_garbage = false;
};

struct CheckResult {
  std::vector<std::string> problems;  // empty: clean
  uint64_t records = 0;
  uint64_t reachable = 0;
  uint64_t unreachable = 0;    // queued garbage + what only it holds + cycles
  uint64_t leaked = 0;         // unreachable and not freeable by counting
  bool verify_ran = false;     // bdb/gc/gc.h was available and ran
  bool trace_running = false;  // a cycle trace is in progress (when knowable)
  // References from unreachable objects to objects a running trace already
  // swept (legitimate only mid-sweep; counted, not problems).
  uint64_t dangling_during_sweep = 0;
  std::set<Oid> reachable_oids;

  bool ok() const { return problems.empty(); }
  std::string Summary() const;  // the first problems, one per line
};

// Recounts `storage` and compares (see above).  A Status error means the
// store could not be read at all (itself a finding for the caller).
Status CheckStore(BdbHandle* storage, const CheckOptions& options, CheckResult* result);

// True when this build has bdb/gc/gc.h (the collector engineer's verify).
bool VerifyAvailable();

}  // namespace durus::reliability

#endif  // DURUS_BDB_TESTS_CRASH_STORE_CHECK_H_
