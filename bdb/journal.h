// The replicated commit journal (doc/replication-plan.md 5.1): journal.db,
// one entry per commit on a replication group's master, written in the
// commit's own transaction, so a replica that sees a commit's records
// sees its entry.  A replica's server reads the entries it has not yet
// published and puts their oids into its clients' invalid sets (the
// invalidations Durus clients of a replica need).  Internal to bdb/.
//
//   key   : seq, u64 big-endian (1, 2, ...: last + 1 under write_mu_)
//   value : u8 kind (1 commit), u64 time (µs since the epoch, master's
//           clock), u32 n, n x oid (u64 big-endian)
//
// Not yet: entries for the collector's removals (kind 2), the trim of old
// entries (the journal grows by 21 + 8n bytes per commit until then).
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
