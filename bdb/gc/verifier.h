// The verifier behind VerifyStorage (bdb/gc/gc.h): one pass over a
// Berkeley DB storage under its writer lock, through GcStore
// (bdb/gc/store.h).  Private to the garbage-collection module.  Its methods
// are defined by concern:
//   bdb/gc/verify.cc               the pass: pages, recount, comparison, counters
//   bdb/gc/verify_reachability.cc  reachability from the root, leaks, dangling refs
//   bdb/gc/verify_repair.cc        repair, and compaction
//
// Memory stays bounded whatever the store size: tables are read in chunks
// (bdb/table_reader.h), recounts and marks live in temporary Berkeley DB
// tables (file NULL: pages in the environment's cache, spilled to a
// temporary file when it is full), and the refs gathered for the recount
// are aggregated in a fixed-size in-memory buffer before being merged into
// the temporary table.
//
// Threading: one Verifier per call, holding the storage's writer lock for
// its whole Run.  Errors: Status.
#ifndef DURUS_BDB_BDB_GC_VERIFIER_H_
#define DURUS_BDB_BDB_GC_VERIFIER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bdb/gc/gc_private.h"
#include "bdb/gc/report.h"
#include "bdb/handles.h"
#include "bdb/table_reader.h"

namespace durus::bdb {

// The report's types, as the verifier's files use them.
using gc::Problem;
using gc::ProblemKind;
using gc::VerifyReport;

inline constexpr size_t kVerifyFixesPerTxn = 1000;

// Temporary tables keyed by 8-byte oids (any oid-keyed table, in fact).
// A temporary btree in the storage's environment (not transactional).
Status OpenTemp(DbEnv* env, DbPtr* out);
int TempGet(Db* db, Oid oid, std::string* value);
int TempPut(Db* db, Oid oid, const void* data, size_t size, uint32_t flags = 0);
int TempDel(Db* db, Oid oid);  // 0 when absent
std::string U64Bytes(uint64_t v);

// One change to a storage table, applied later in a batch transaction.
struct Fix {
  enum Kind { kPut, kDel } kind;
  Db* db;
  std::string key;
  std::string value;
};

// The whole verification under the storage's writer lock.
class Verifier {
 public:
  // `writing`: the repair pass (Verify runs it only after a read-only pass
  // read everything without an error).
  Verifier(GcStore* s, Trace* trace, const VerifyOptions& o, gc::VerifyReport* r, bool writing)
      : s_(s), running_trace_(trace), opt_(o), rep_(r), writing_(writing) {}

  Status Run();

 private:
  void Progress(const char* phase, uint64_t done, uint64_t total) {
    if (opt_.progress && (done % 4096 == 0 || done == total)) opt_.progress(phase, done, total);
  }

  void CloseTemps() {
    for (DbPtr* d : {&counts_, &marks_, &frontier_, &unreach_, &zero_, &missing_}) d->reset();
  }

  struct Stream {
    explicit Stream(Db* db) : reader(db) {}
    TableReader reader;
    bool valid = false;
    Oid key;
    std::string_view value;
    Status Advance(const char* what) {
      std::string_view k;
      bool end;
      int ret = reader.Next(&k, &value, &end);
      if (ret != 0) return FromDb(ret, std::string("scanning ") + what);
      valid = !end;
      if (valid) {
        if (k.size() != 8) return Status::Corruption(std::string(what) + " has a malformed key");
        key = Oid::FromBytes(k.data());
      }
      return Status::OK();
    }
  };

  // Everything that reads: pages, recount, comparison, reachability,
  // counters.  Writes only in the repair pass (buffered count and queue
  // fixes, applied as the comparison goes).
  Status Check();

  // --- 0. Pages: Berkeley DB's structural verification of every table
  // file (and, with page checksums, every page's checksum), outside the
  // storage's environment (bdb/verify_pages.h).  The cache is written back
  // first so that the files are current; we hold the writer lock, so
  // nothing writes them meanwhile.  Damage found: the records are not read
  // through the storage (a checksum failure would panic its environment);
  // the damaged pages and the records they make unreadable are reported.
  Status CheckPages();

  // --- 1. Recount: counts_[target] = (referrers u64, one referrer u64).
  Status Recount();

  Status FlushPairs(std::vector<std::pair<uint64_t, uint64_t>>* pairs);

  // --- 2. Compare records, refcounts, recount and queue in one merge.

  Status Compare();

  // Repair never acts on "oid has no record" without asking records.db
  // directly: a scan that missed records (issue 11: a reader that stopped
  // at the first record larger than its buffer) must not turn into
  // dropped references or deleted counts.
  Status ExpectNoRecord(Oid oid, const char* action);

  void FixCount(Oid oid, uint64_t value);

  void FixQueue(Oid oid, bool add);

  // Applies the buffered fixes in one transaction (retried on deadlock).
  Status ApplyFixes();
  // The fixes' writes inside `txn` (a Berkeley DB code).
  int WriteFixes(DbTxn* txn);

  // --- 3. Reachability: mark from the root, then simulate counting on the
  // unreachable part (Kahn's algorithm): what it cannot free is leaked.
  Status Reachability();

  // A reachable record references `r`: if `r` is missing, count it.
  Status CountReachableReferrer(Oid r);

  // True if the running trace will delete `oid`: it has finished marking
  // (or is marking and `oid` is unmarked) and `oid` lies in what it has
  // still to sweep.
  Status CondemnedByTrace(Oid oid, bool* condemned);

  // Dangling references are problems, except those held only by
  // unreachable records to oids a running sweep has deleted already (a
  // garbage cycle is deleted one record at a time).
  Status EvaluateDangling();

  Status FirstKeys(Db* db, size_t max, std::vector<Oid>* out);

  // --- 4. Counters.
  void CheckMeta();

  // --- 5. Repair (the count and queue fixes are already buffered).
  Status Repair();

  // Rewrites every record that references a missing oid without it.
  Status DropDanglingRefs(uint64_t* bytes);

  // Deletes every unreachable object (leaked or not), in small
  // transactions, as the trace's sweep does.
  Status DeleteUnreachable();

  GcStore* s_;
  Trace* running_trace_;
  const VerifyOptions& opt_;
  gc::VerifyReport* rep_;
  uint64_t total_ = 0;
  uint64_t max_oid_ = 0;
  uint64_t dangling_ = 0;
  TraceState trace_;           // the running trace, if any, at the start
  Db* trace_marks_ = nullptr;  // its marks (owned by the Trace)
  MetaCounters meta_;          // the storage's counters at the start
  uint64_t queue_after_ = 0;   // queue entries once repaired
  const bool writing_;
  gc::RepairSummary repair_;
  std::vector<Fix> fixes_;
  DbPtr counts_, marks_, frontier_, unreach_, zero_, missing_;
};

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_GC_VERIFIER_H_
