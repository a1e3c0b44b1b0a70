// The page-level half of `durus-bdb verify` (bdb/gc/gc.h): Berkeley DB's
// structural verification of each table file, and, when records.db is
// damaged, which records cannot be read.  Internal to bdb/.
//
// Everything here reads the files directly, each through its own Db handle
// outside the storage's environment (a private cache), never through the
// storage's handles: Berkeley DB panics an environment on a page checksum
// failure (every later call then returns DB_RUNRECOVERY), and a private
// environment confines that to the one handle, which is then thrown away.
// Db::verify takes no locks: the caller guarantees that nothing writes the
// files meanwhile and that they are current (verify holds the storage's
// writer lock and has flushed the cache, bdb/gc/verify.cc).
//
// Threading: plain functions, no shared state.  Errors: Status for what
// kept a file from being examined at all (it cannot be opened); damage is
// reported in the results, never as an error.
#ifndef DURUS_BDB_BDB_VERIFY_PAGES_H_
#define DURUS_BDB_BDB_VERIFY_PAGES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/status.h"

namespace durus::bdb {

// One damaged page (or, page_known false, damage Berkeley DB reported
// without a page number).
struct DamagedPage {
  std::string file;  // "records.db"
  bool page_known = false;
  uint64_t page = 0;
  std::string message;  // Berkeley DB's words, one line
  // records.db leaf pages: the oids whose keys are still legible on the
  // page (their records are unreadable through Berkeley DB).
  std::vector<uint64_t> oids;
};

// Db::verify of `dir`/`file` (a missing file is not examined: *examined
// false).  Appends what Berkeley DB reported to `out` (at most
// `max_pages` entries; the rest are counted in *more).  Berkeley DB stops
// at the first checksum failure of a file (it panics its environment), so
// a file with several damaged checksums shows the first.
Status VerifyTableFile(const std::string& dir, const char* file, size_t max_pages,
                       std::vector<DamagedPage>* out, uint64_t* more, bool* examined);

// A record of records.db that could not be read.
struct UnreadableRecord {
  uint64_t oid = 0;         // after_only: the last readable oid before the damage
  bool after_only = false;  // a damaged btree page: the records after `oid`
                            // (up to the next readable one) are unknown
  std::string message;
};

// Reads every record of `path` (records.db) outside any environment, and
// lists those whose read fails (at most `max`): a damaged overflow page
// names its record exactly; a damaged leaf or internal page ends the walk
// with an after_only entry (what lies beyond it is read by salvage).
Status FindUnreadableRecords(const std::string& path, size_t max,
                             std::vector<UnreadableRecord>* out);

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_VERIFY_PAGES_H_
