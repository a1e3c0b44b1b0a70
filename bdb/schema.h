// The on-disk layout of a durus-bdb home.  doc/on-disk-format.md has the
// same tables with more prose.
//
// A home is a directory holding one Berkeley DB 5.3 transactional
// environment (region files __db.*, log files log.*) and these btrees,
// each in its own file:
//
//   file           key                     value
//   -------------  ----------------------  ------------------------------------
//   records.db     oid (8 bytes, u64 BE)   the Durus record, verbatim
//                                          (oid[8] u32-BE-len data refs[8*n])
//   refcounts.db   oid (8 bytes, u64 BE)   u64 BE: number of distinct stored
//                                          records whose refs contain the oid
//                                          (self-references excluded).  Every
//                                          stored oid has an entry, possibly 0.
//   pending.db     oid (8 bytes, u64 BE)   empty.  The pending-garbage queue:
//                                          exactly the non-root oids whose
//                                          count is 0 and that still exist.
//   meta.db        ASCII name              see the table below
//   marks.db       'M' + oid[8]            empty: marked (reachable, or
//                                          stored/referenced since the trace
//                                          began) by a cycle trace in progress
//                  'F' + oid[8]            empty: frontier (marked, refs not
//                                          yet followed)
//                  'S'                     the trace's state (bdb/gc/trace.h
//                                          TraceState); absent and the table
//                                          empty when no trace runs
//   journal.db     seq (8 bytes, u64 BE)   replicated homes only: the commit
//                                          journal (bdb/journal.h)
//   durus-bdb.lock (plain file)            pid and command of the process
//                                          holding the home (flock'ed)
//   durus-bdb.status (plain file)          the holder's live figures, text,
//                                          rewritten about once a second
//                                          (bdb/status_file.h); informational
//   durus-bdb.archive (plain file)         log archiving setting and the home's
//                                          log identity (bdb/log_archive.h);
//                                          only in a home that archives
//   durus-bdb.join (empty file)            flock'ed shared by a hot backup
//                                          joined to the live environment,
//                                          exclusively by an opener while it
//                                          runs recovery (bdb/backup.h)
//
// meta.db entries (integers u64 big-endian unless said):
//
//   name             value
//   ---------------  ------------------------------------------------------
//   format_version   u32 BE: 2 for homes created now (every database file
//                    has Berkeley DB page checksums, DB_CHKSUM); 1 for
//                    homes created before (no checksums; still read and
//                    written; `durus-bdb migrate OLD NEW` upgrades)
//   state            "complete" or "incomplete" (a migration in progress:
//                    such a home is refused by OpenBdbStorage)
//   next_oid         > every oid ever stored; NewOid() starts here
//   object_count     number of entries in records.db
//   record_bytes     sum of the sizes of the values in records.db
//   pending_count    number of entries in pending.db
//   durability       ASCII mode name of the last opener (informational)
//
// Invariants at every transaction boundary (checked by `durus-bdb verify`):
//   keys(records) == keys(refcounts); refcounts[x] == recount from records;
//   pending == { x in records : refcounts[x] == 0, x != 0 };
//   every ref of every record is a key of records.
#ifndef DURUS_BDB_BDB_SCHEMA_H_
#define DURUS_BDB_BDB_SCHEMA_H_

#include <cstdint>

namespace durus::schema {

// The version new homes get, and the oldest this code opens.  Version 2
// differs from 1 only in the page checksums, which Berkeley DB records in
// each file's meta page: the code paths are the same.
inline constexpr uint32_t kFormatVersion = 2;
inline constexpr uint32_t kMinFormatVersion = 1;

inline constexpr const char* kRecordsFile = "records.db";
inline constexpr const char* kRefcountsFile = "refcounts.db";
inline constexpr const char* kPendingFile = "pending.db";
inline constexpr const char* kMetaFile = "meta.db";
inline constexpr const char* kMarksFile = "marks.db";
inline constexpr const char* kLockFile = "durus-bdb.lock";
inline constexpr const char* kStatusFile = "durus-bdb.status";
inline constexpr const char* kJoinFile = "durus-bdb.join";

inline constexpr const char* kMetaFormatVersion = "format_version";
inline constexpr const char* kMetaState = "state";
inline constexpr const char* kMetaNextOid = "next_oid";
inline constexpr const char* kMetaObjectCount = "object_count";
inline constexpr const char* kMetaRecordBytes = "record_bytes";
inline constexpr const char* kMetaPendingCount = "pending_count";
inline constexpr const char* kMetaDurability = "durability";

inline constexpr const char* kStateComplete = "complete";
inline constexpr const char* kStateIncomplete = "incomplete";

}  // namespace durus::schema

#endif  // DURUS_BDB_BDB_SCHEMA_H_
