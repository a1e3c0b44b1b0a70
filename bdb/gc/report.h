// The result of `durus-bdb verify`: what a full check of a store's
// reference counts, pending-garbage queue and reachability found, and what
// --repair changed.  Plain data plus text/JSON formatting; filled in by
// bdb/gc/verify*.cc and printed by tools/cmd_verify.cc.
//
// Threading: plain values.  Errors: none (formatting cannot fail).
#ifndef DURUS_BDB_BDB_GC_REPORT_H_
#define DURUS_BDB_BDB_GC_REPORT_H_

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace durus::gc {

// One kind of inconsistency.  Names (ProblemKindName) are the JSON keys.
enum class ProblemKind : int {
  kCountMismatch = 0,  // stored count != number of referrers
  kMissingCount,       // a record without a count entry
  kOrphanCount,        // a count entry without a record
  kDanglingRef,        // a record references an oid that does not exist
  kQueuedNonZero,      // on the queue, but referenced (or the root)
  kQueuedMissing,      // on the queue, but the oid does not exist
  kMissingQueueEntry,  // no referrers, not the root, not queued
  kLeaked,             // unreachable, and counting will never free it (a cycle
                       // or hanging off one): only the trace can
  kMalformedRecord,    // a record that does not parse
  kMetaMismatch,       // object_count / record_bytes / pending_count / next_oid
  kDamagedPage,        // Berkeley DB's structural verification (or a page
                       // checksum) failed on a page of a table file
  kUnreadableRecord,   // a record whose read failed (a damaged page)
  kReadError,          // verify could not read a table to the end (detail:
                       // the error); what it did not read is unchecked
  kNumKinds,
};

const char* ProblemKindName(ProblemKind kind);
// A sentence fragment for text output ("count differs from referrers").
const char* ProblemKindDescription(ProblemKind kind);

struct Problem {
  ProblemKind kind = ProblemKind::kCountMismatch;
  uint64_t oid = 0;       // the oid concerned (meta: 0)
  uint64_t stored = 0;    // the stored value (count, counter), when meaningful
  uint64_t expected = 0;  // the recomputed value, when meaningful
  uint64_t other = 0;     // dangling: a referrer; meta: unused
  // meta: the counter name; malformed: the parse error; damaged page: the
  // file, page and what is wrong with it, and the oids it holds;
  // unreadable: the error.
  std::string detail;
};

struct RepairSummary {
  uint64_t counts_set = 0;      // count entries written (fixed or added)
  uint64_t counts_removed = 0;  // orphan count entries deleted
  uint64_t queue_added = 0;
  uint64_t queue_removed = 0;
  uint64_t refs_dropped = 0;         // dangling refs removed from records' ref lists
  uint64_t unreachable_deleted = 0;  // unreachable objects deleted (leaks present)
  uint64_t meta_fixed = 0;
};

struct VerifyReport {
  // What was scanned.
  uint64_t files_verified = 0;  // table files checked page by page (Db::verify)
  uint64_t records = 0;
  uint64_t record_bytes = 0;
  uint64_t refs = 0;  // distinct (referrer, target) pairs
  uint64_t count_entries = 0;
  uint64_t queued = 0;
  // Reachability.
  uint64_t reachable = 0;    // records reachable from the root
  uint64_t unreachable = 0;  // records not reachable from the root
  uint64_t collectable = 0;  // of those, freed by counting alone (queued garbage
                             // and what only it references)
  uint64_t leaked = 0;       // of those, never freed by counting (nor by a
                             // trace in progress)
  // A trace (pack) in progress, interrupted by a close or a crash, resumes
  // at the next open; what it will delete is not a problem:
  bool trace_running = false;
  uint64_t trace_will_free = 0;   // unreachable, unmarked, not yet swept
  uint64_t trace_swept_refs = 0;  // garbage still referencing garbage the
                                  // sweep deleted already
  // Problems by kind, and the first `max_samples` of them.
  std::array<uint64_t, static_cast<int>(ProblemKind::kNumKinds)> problems{};
  std::vector<Problem> samples;
  uint64_t max_samples = 100;
  // Damage.  `complete` false: verify could not read everything (a damaged
  // page, a read error), so the figures above cover only what was read and
  // say nothing about what was not: `incomplete` says why.  `damaged`: the
  // files themselves are damaged; the home needs salvage or a backup.
  bool complete = true;
  std::string incomplete;
  bool damaged = false;
  // --repair.  `repair_refused` (non-empty): why nothing was changed (an
  // unreadable table or record is no evidence that what it holds is
  // missing, so repairing from a partial reading could destroy data).
  bool repair_requested = false;
  std::string repair_refused;
  RepairSummary repaired;
  double seconds = 0;

  uint64_t total_problems() const {
    uint64_t n = 0;
    for (uint64_t v : problems) n += v;
    return n;
  }
  bool clean() const { return total_problems() == 0 && complete && !damaged; }
  uint64_t count(ProblemKind k) const { return problems[static_cast<int>(k)]; }
  // Counts the problem and keeps it as a sample while there is room.
  void Add(Problem p) {
    ++problems[static_cast<int>(p.kind)];
    if (samples.size() < max_samples) samples.push_back(std::move(p));
  }
};

// Human-readable, several lines, ending with a newline.
std::string FormatVerifyText(const VerifyReport& report);
// One JSON object (no trailing newline).
std::string FormatVerifyJson(const VerifyReport& report);

}  // namespace durus::gc

#endif  // DURUS_BDB_BDB_GC_REPORT_H_
