// Salvage: the records of a home read straight from its database files,
// for when the home cannot be opened (a panicked environment, a damaged
// log) or its files are damaged.  Used by `durus-bdb salvage HOME DUMP`
// (tools/cmd_salvage.cc), which writes what this finds as a dump
// (doc/dump-format.md) for `durus-bdb migrate` to load; doc/reliability.md
// ("Salvage") is the user's guide.  Does not include db_cxx.h.
//
// A home left by a crash has its latest commits only in its log: salvage
// first replays the log into a copy (bdb/salvage_replay.h) and reads that.
//
// How: Berkeley DB's salvage verification (Db::verify with DB_SALVAGE, and
// DB_AGGRESSIVE when asked) on records.db, without an environment: it reads
// the file page by page and prints every key/data pair it can find in the
// db_dump text format (header lines, then one item per line: a space and
// the bytes in hex, or escaped with DB_PRINTABLE; "DATA=END" after the
// items).  SalvageTextParser reads that text as it is produced and
// SalvagePairer turns the items back into (oid, record) pairs, checking each
// record (engine/record.h ValidateRecord).  meta.db is salvaged the same way
// for next_oid; the other tables are derived and migrate recomputes them.
// Salvage skips what it cannot read without a word, so a plain Db::verify
// of records.db follows: its "Page N: ..." messages name the damaged pages.
// Nothing is ever written into HOME (no environment, no region files, the
// lock file opened read-only), so it works on a read-only mount.
//
// What wins when an oid is found more than once: the first version found.
// The ordinary pass (live items of the tree's pages) runs first; with
// `aggressive` a second pass adds only oids the first did not find (items
// from pages outside the tree and stale slots of a page may be older
// versions; they are counted in aggressive_only and duplicates).
//
// Page checksums (DB_CHKSUM): Berkeley DB panics its environment on a page
// whose checksum fails, which ends that salvage run.  The failing page
// number is taken from its message; the run is repeated on a temporary copy
// of records.db (in options.temp_dir, never HOME) with the failed pages
// zeroed (a zero page is a hole to Berkeley DB: skipped, not checked).  A
// failed meta page, or more than kMaxChecksumRetries failed pages, turns
// checksum checking off in the copy (structural checks only).
//
// Threading: one call at a time per thread (Berkeley DB's messages are
// collected through a thread_local).  Errors: Status; damage found is not
// an error, it is in the report.  The record callback's first error stops
// the salvage and is returned.
#ifndef DURUS_BDB_BDB_SALVAGE_H_
#define DURUS_BDB_BDB_SALVAGE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/oid.h"
#include "engine/status.h"

namespace durus {

struct SalvageOptions {
  // Also DB_AGGRESSIVE: items past a page's entry count, deleted items and
  // pages outside the tree.  May bring back stale versions and collected
  // objects (as unreferenced objects, which the collector frees again).
  bool aggressive = false;
  // Salvage even when another process holds the home (its files are live:
  // the result may mix states).  Refused (Busy) otherwise.
  bool force = false;
  // Where a copy of records.db goes when checksum failures need one
  // (default: the current directory).  Must not be inside HOME.
  std::string temp_dir;
  // Problems kept as samples in the report (all are counted).
  uint64_t max_samples = 20;
  // Berkeley DB cache for the private verification environment.
  uint32_t cache_mb = 32;
  // When the home was not closed cleanly, replay its log into a copy first
  // (bdb/salvage_replay.h), so that the commits since its last checkpoint
  // are salvaged too.  Needs room for a copy of records.db and the log in
  // temp_dir.
  bool replay_log = true;
  // Called about once per 10,000 records with the records and bytes so far.
  std::function<void(uint64_t records, uint64_t bytes)> progress;
};

struct SalvageReport {
  std::string home;
  uint64_t file_bytes = 0;  // size of records.db
  uint32_t page_size = 0;   // from its meta page (0: unreadable)
  uint64_t records = 0;     // handed to the callback (each oid once)
  uint64_t record_bytes = 0;
  uint64_t keyless = 0;                      // of which the key was lost: recognised by
                                             // the oid the record embeds
  uint64_t aggressive_only = 0;              // of which only the aggressive pass found
  uint64_t duplicates = 0;                   // further versions of an oid, dropped
  uint64_t malformed = 0;                    // items failing record validation
  uint64_t unreadable_items = 0;             // placeholders ("UNKNOWN") and lines that
                                             // are not valid hex/escapes
  uint64_t lost_keys = 0;                    // keys whose record was not readable
  uint64_t bad_lines = 0;                    // lines of the salvage text not understood
  uint64_t aggressive_unusable = 0;          // items of the aggressive pass that are
                                             // not records (not counted above)
  std::vector<std::string> problem_samples;  // "oid 17: ...", one line each
  // Pages Berkeley DB named in its messages (sorted, distinct), and those
  // whose checksum failed (a subset).
  std::vector<uint64_t> damaged_pages;
  std::vector<uint64_t> checksum_failed_pages;
  uint64_t db_messages = 0;
  std::vector<std::string> db_message_samples;
  bool db_clean = true;          // Berkeley DB's verdict on records.db
  int passes = 0;                // Berkeley DB runs over records.db: the
                                 // salvage passes (and their repeats) and
                                 // the closing plain verification
  bool structural_only = false;  // checksum checking had to be turned off
  // References from salvaged records to oids that were not salvaged
  // (distinct targets): what `migrate --allow-dangling` will drop.
  uint64_t dangling = 0;
  std::vector<Oid> dangling_samples;
  // Salvaged records (root excluded) that no salvaged record references:
  // a migrated home queues them as garbage, the collector frees them.
  uint64_t orphans = 0;
  std::vector<Oid> orphan_samples;
  bool root_found = false;     // oid 0
  uint64_t next_oid = 0;       // > every oid salvaged or referenced
  bool meta_next_oid = false;  // meta.db's next_oid was readable (and used)
  std::string meta_problem;    // why not, when it was not
  bool forced_live = false;    // the home was held by `holder`
  std::string holder;
  // The last holder did not close the home (its lock file still names it):
  // the commits since the last checkpoint are only in the log.  Salvage
  // replays the log into a copy and reads that (log_replayed); when the log
  // is damaged, only up to the damage (log_damage: the commits after it are
  // lost); when the replay fails (replay_problem), it reads records.db as
  // it is and those commits are missing.
  bool not_closed_cleanly = false;
  std::string last_holder;
  bool log_replayed = false;
  std::string log_damage;      // "log.0000000001 at offset 561863"
  std::string replay_problem;  // why the log was not replayed
  double seconds = 0;

  // Nothing was lost: Berkeley DB found no damage and every item read back
  // as a record, every reference resolves.
  bool Complete() const {
    return db_clean && malformed == 0 && unreadable_items == 0 && lost_keys == 0 &&
           bad_lines == 0 && dangling == 0 && damaged_pages.empty() &&
           (!not_closed_cleanly || (log_replayed && log_damage.empty()));
  }
};

// Receives each salvaged record once (the record validated against `oid`).
using SalvageRecordFn = std::function<Status(Oid oid, std::string_view record)>;

// Salvage `home`.  Errors: NotFound (no such path), InvalidArgument (not a
// directory / not a durus-bdb home), Corruption (records.db missing or
// unusable as a Berkeley DB file), Busy (held by another process, without
// force), IOError, or the callback's error.
Status SalvageHome(const std::string& home, const SalvageOptions& options,
                   const SalvageRecordFn& on_record, SalvageReport* report);

// --- The pieces, public for the tests and the fuzz target. ---

// Incremental parser of Berkeley DB's salvage text (db_dump format).  Feed
// it the text in pieces of any size; it calls `item` for each item line
// (the decoded bytes, and whether the line decoded cleanly) and
// `section_end` at every header start and "DATA=END" (items of different
// sections are never paired).  Never fails: lines it does not understand
// are counted.  Memory: one item (at most kMaxItem bytes; longer lines are
// reported as bad items).
class SalvageTextParser {
 public:
  static constexpr size_t kMaxItem = (size_t{1} << 31) - 8;
  using ItemFn = std::function<void(std::string_view bytes, bool ok)>;
  using SectionEndFn = std::function<void()>;

  SalvageTextParser(ItemFn item, SectionEndFn section_end)
      : item_(std::move(item)), section_end_(std::move(section_end)) {}

  void Feed(std::string_view text);
  void Finish();  // end of the text: a last line without '\n' still counts

  uint64_t bad_lines() const { return bad_lines_; }
  uint64_t items() const { return items_; }
  uint64_t sections() const { return sections_; }

 private:
  void EndLine();
  void TextLineDone();

  ItemFn item_;
  SectionEndFn section_end_;
  enum class Line { kStart, kItem, kText } line_ = Line::kStart;
  bool printable_ = false;  // "format=print": escapes instead of hex
  std::string text_;        // a header/footer line (capped)
  std::string bytes_;       // the item decoded so far
  int nibble_ = -1;         // hex: pending high nibble
  int escape_ = 0;          // printable: 0 none, 1 after '\', 2 one hex digit read
  int escape_hi_ = 0;
  bool item_ok_ = true;
  uint64_t bad_lines_ = 0;
  uint64_t items_ = 0;
  uint64_t sections_ = 0;
};

// Turns the parser's items back into records: a key (8 bytes) followed by
// its record, checked with ValidateRecord.  A record whose key was lost
// (an "UNKNOWN" placeholder or a skipped item) is recognised by the oid it
// embeds.  Everything else is a problem, counted and described.
class SalvagePairer {
 public:
  enum class Problem {
    kMalformed,   // a record failing validation (wrong oid, bad lengths)
    kLostKey,     // a key whose record is unreadable or missing
    kUnreadable,  // a placeholder or an undecodable line
  };
  using RecordFn = std::function<void(Oid oid, std::string_view record, bool keyless)>;
  using ProblemFn = std::function<void(Problem problem, const std::string& what)>;

  SalvagePairer(RecordFn record, ProblemFn problem)
      : record_(std::move(record)), problem_(std::move(problem)) {}

  void Item(std::string_view bytes, bool ok);
  void SectionEnd();

 private:
  void Unpaired(std::string_view bytes);

  RecordFn record_;
  ProblemFn problem_;
  bool have_key_ = false;
  Oid key_;
};

}  // namespace durus

#endif  // DURUS_BDB_BDB_SALVAGE_H_
