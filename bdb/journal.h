// The replicated commit journal (doc/replication-plan.md 5.1): journal.db,
// one entry per commit on a replication group's master, written in the
// commit's own transaction, so a replica that sees a commit's records
// sees its entry.  A replica's server reads the entries it has not yet
// published and puts their oids into its clients' invalid sets (the
// invalidations Durus clients of a replica need).  Internal to bdb/.
//
//   key   : seq, u64 big-endian (1, 2, ...: last + 1 under write_mu_)
//   value : u8 kind (1 commit, 2 collected), u64 time (µs since the
//           epoch, master's clock), u32 n, n x oid (u64 big-endian)
//
// Kind 2: the oids a collector transaction (a queue step, a trace's sweep
// step, verify --repair) deleted, one entry per transaction, written in
// it (bdb/storage_gc.cc): a replica's clients are told as a master's are
// by Storage::Sync().  Seqs are dense: every entry takes last + 1.
//
// Trim (TrimJournal, the master's background thread): entries both
// outside the newest `keep_entries` and older than `keep_us` go, a
// bounded batch per transaction; the newest entry always stays, so the
// next seq survives a promotion.  The deletions replicate.  A replica
// whose reader is behind the first remaining entry has lost entries: its
// server drops the clients it had (doc/replication.md, "The journal").
#ifndef DURUS_BDB_BDB_JOURNAL_H_
#define DURUS_BDB_BDB_JOURNAL_H_

#include <db_cxx.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/commit_batch.h"
#include "engine/oid.h"
#include "engine/status.h"
#include "engine/storage.h"

namespace durus::bdb {

inline constexpr char kJournalFile[] = "journal.db";
inline constexpr uint8_t kJournalCommit = 1;
inline constexpr uint8_t kJournalCollected = 2;

struct JournalEntry {
  uint64_t seq = 0;
  uint8_t kind = 0;
  uint64_t time_us = 0;
  std::vector<Oid> oids;
};

// The value of an entry (pure; unit-testable).
std::string EncodeJournalValue(uint8_t kind, uint64_t time_us, const std::vector<Oid>& oids);
Status DecodeJournalValue(const void* data, size_t size, JournalEntry* out);

// Write entry `seq` for `batch` inside `txn` (Berkeley DB's return code,
// for the commit's deadlock retry).
int AppendJournal(Db* journal, DbTxn* txn, uint64_t seq, const CommitBatch& batch);

// Write entry `seq` of `kind` listing `oids` inside `txn`, stamped now
// (Berkeley DB's return code).  The collector's removals: kJournalCollected.
int AppendJournalOids(Db* journal, DbTxn* txn, uint64_t seq, uint8_t kind,
                      const std::vector<Oid>& oids);

// The lowest seq still in the journal (0 for an empty journal).
Status FirstJournalSeq(Db* journal, uint64_t* seq);

// What TrimJournal keeps: the newest `keep_entries` entries (at least 1,
// whatever is asked) and every entry stamped at or after `now_us -
// keep_us`.  An entry goes only when both let it.
struct JournalRetention {
  uint64_t keep_entries = 100000;
  uint64_t keep_us = 600ull * 1000 * 1000;
};

// The first seq TrimJournal would keep, given the last seq `last` (pure:
// the entries-bound; the time bound needs the entries' stamps).
uint64_t JournalEntriesFloor(uint64_t last, uint64_t keep_entries);

// One trim transaction: deletes, from the front, at most `max` entries
// that `keep` lets go (`last`: the journal's last seq; `now_us`: the
// master's clock), committed with `commit_flags`; *deleted: how many.
// Fewer than `max` deleted: nothing more to trim now.  Runs under the
// master's writer lock (no deadlock with commits appending at the end).
Status TrimJournal(DbEnv* env, Db* journal, uint64_t last, const JournalRetention& keep,
                   uint64_t now_us, size_t max, uint32_t commit_flags, size_t* deleted);

// Microseconds since the epoch on this machine's clock (the entries' stamp).
uint64_t JournalNowUs();

// The highest seq (0 for an empty journal).
Status LastJournalSeq(Db* journal, uint64_t* seq);

// Entries with after < seq <= upto, at most `max`, in order.
Status ReadJournal(Db* journal, uint64_t after, uint64_t upto, size_t max,
                   std::vector<JournalEntry>* out);

// For the info request R (engine/storage.h ReplicationInfo): the last
// entry's position in *last ({0, 0} for an empty journal) and, when
// `since` is given, the oids of the entries after it in *changed -- or
// *all (and *changed empty) when the journal cannot tell: `since` is past
// the end or names an entry of another history (its time differs: rolled
// back in a failover), the entries after it were trimmed, or they hold
// more than `max_oids` oids.  A read without a transaction.
Status JournalChangesSince(Db* journal, const JournalPosition* since, size_t max_oids,
                           JournalPosition* last, bool* all, std::vector<Oid>* changed);

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_JOURNAL_H_
