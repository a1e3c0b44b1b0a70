// Injected I/O faults for the reliability tests (tests/fault/): makes
// Berkeley DB's own writes and fsyncs fail with a chosen errno, the way a
// full or failing disk would, through Berkeley DB's documented replacement
// hooks (db_env_set_func_write / _pwrite / _fsync).  LevelDB's
// FaultInjectionEnv and SQLite's crash VFS, for our storage.  Never used by
// the product: it is in the durus_bdb_testing library, which only tests
// and their harnesses link; this header does not include db.h.
//
// The hooks are process-wide and Berkeley DB reads them when it opens an
// environment, so InstallFaultHooks() must run before the first
// environment opens in the process (tests do it in a freshly forked child
// or at the start of main).  Disarmed, every call passes straight through
// (write, pwrite, fdatasync), so an installed process behaves normally.
//
// Which calls Berkeley DB 5.3 (Debian's build) makes: the log AND the
// database pages are written with seek + write(2) (kWrite; pwrite is never
// called, measured), so the path filter tells them apart ("log." vs ".db");
// pages are written when the cache evicts them and at checkpoints; every
// durable point (a sync commit, log_flush, a checkpoint) calls fsync
// (kFsync; passed on to fdatasync as Berkeley DB itself would).  Berkeley
// DB retries EIO (and EINTR/EBUSY/EAGAIN) up to 100 times before failing.
//
// Threading: Arm/Disarm/counters are lock-free atomics, safe from any
// thread and from a signal handler (the test server arms faults on
// SIGUSR1); the hooks themselves run on Berkeley DB's threads.
#ifndef DURUS_BDB_BDB_FAULT_INJECTION_H_
#define DURUS_BDB_BDB_FAULT_INJECTION_H_

#include <cstdint>
#include <string>

#include "bdb/bdb_storage.h"
#include "engine/status.h"

namespace durus::fault {

enum class FaultOp : int {
  kWrite = 1,     // write(2): the log
  kPwrite = 2,    // pwrite(2): database pages
  kFsync = 4,     // fsync/fdatasync
  kAnyWrite = 3,  // write + pwrite
  kAll = 7,
};

struct FaultSpec {
  int ops = static_cast<int>(FaultOp::kWrite);  // FaultOp bits
  int error = 28;                               // errno to fail with (ENOSPC = 28, EIO = 5)
  uint64_t skip = 0;                            // matching calls that still succeed first
  int64_t count = -1;                           // then this many fail (-1: every one until Disarm)
  // The first failing write writes half its bytes and returns that short
  // count (a torn write, as a disk filling up mid-write produces); the
  // calls after it fail.
  bool short_write = false;
  // Only calls on files whose name contains this ("log." for the log,
  // ".db" for the databases; empty: every file).
  char path_contains[32] = {0};
  // Fail each matching call with this probability instead (0: off).  Used
  // by the random-fault soak; `count` still bounds the total.
  double probability = 0;
  uint64_t seed = 1;
};

// Install the hooks into Berkeley DB (idempotent).  Must precede the first
// environment open in this process.
Status InstallFaultHooks();

// Start failing calls as `spec` says (replaces any previous arming).
// Async-signal-safe.
void ArmFault(const FaultSpec& spec);
// Let every call through again.  Async-signal-safe.
void DisarmFault();
bool FaultArmed();

struct FaultCounters {
  uint64_t writes = 0;  // write calls seen
  uint64_t pwrites = 0;
  uint64_t fsyncs = 0;
  uint64_t injected = 0;  // calls made to fail (or torn) so far
};
FaultCounters GetFaultCounters();

// Panics the Berkeley DB environment of `storage` (DB_PANIC_ENVIRONMENT):
// every later call fails with "run recovery" and nothing more is written
// (no checkpoint, no log write) until the home is reopened.  What the
// storage itself should do when a commit fails on I/O (doc/reliability.md);
// a test hook until it does.  InvalidArgument for a closed storage.
Status PanicEnvironment(BdbHandle* storage);

// Fail-stop mode: when a fault is injected, panic `storage`'s environment
// first (as if the storage stopped at its first I/O error).  nullptr: off.
// The storage must stay open while set.
void SetPanicOnFault(BdbHandle* storage);

// "write:ENOSPC", "fsync:EIO:log.", "pwrite:EIO:.db:skip=3:count=1:short",
// "any:ENOSPC:p=0.01" -> spec.  For command lines and environment variables.
Status ParseFaultSpec(const std::string& text, FaultSpec* spec);

}  // namespace durus::fault

#endif  // DURUS_BDB_BDB_FAULT_INJECTION_H_
