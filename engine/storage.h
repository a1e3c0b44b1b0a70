// The Durus storage contract in C++ (durus/storage.py, ../shared/DESIGN.md §1).
//
// A Storage maps oids to records.  Writers commit a CommitBatch atomically;
// readers load records by oid.  Implementations: BdbStorage (bdb/, the
// product) and MemoryStorage (engine/memory_storage.h, the reference model
// used by tests).
//
// Threading: every method is safe to call from several threads at once.
// Commits are applied one at a time; loads run in parallel with each other
// and with a commit.  Callers that need Durus's begin/store/end protocol on
// top of Commit() use CommitBatch (engine/commit_batch.h).
//
// Errors: every method that can fail returns a Status (engine/status.h has
// the codes).  Two touch no file and cannot fail, so they return their
// value: Sync() hands over an in-memory list of the oids the collector
// removed (what it holds, even after Close()), Describe() formats a label
// fixed at open.  Nothing here throws.
//
// Beyond the contract: InspectableStorage (below) adds the reference-count
// introspection that tests and the Python module's refcount()/pending()
// use; RecordIterator and ForEachRecord read every record through Scan, in
// pages, so that loop is written once.
#ifndef DURUS_BDB_ENGINE_STORAGE_H_
#define DURUS_BDB_ENGINE_STORAGE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/commit_batch.h"
#include "engine/oid.h"
#include "engine/status.h"

namespace durus {

// A site of a replication group as it sees itself (bdb/replication.h fills
// it; `durus-bdb stat` shows it).  Empty role: not a site.
struct ReplicationFigures {
  std::string role;          // "master", "replica", "electing"; "" = not a site
  std::string local_site;    // this site's replication address, HOST:RPORT
  std::string master_site;   // the master's replication address ("" if none)
  std::string master_durus;  // the Durus address the master advertised
  struct Peer {
    std::string site;  // HOST:RPORT
    bool connected = false;
  };
  std::vector<Peer> peers;  // the other sites of the group's membership
  bool in_sync = false;     // master, or a replica past STARTUPDONE
  // How far a replica is behind its master (0 on the master): bytes of
  // the master's log not yet applied here, and seconds since the master
  // was last at the position applied here (doc/replication.md, "stat").
  // lag_known false: the master did not answer the last question.
  bool lag_known = false;
  uint64_t lag_bytes = 0;
  double lag_seconds = 0;
  uint64_t perm_failed = 0;  // commits not acknowledged in time, since open
};

// Counters a storage keeps in O(1) (bdb keeps them in its metadata table).
struct StorageStats {
  uint64_t object_count = 0;     // records stored
  uint64_t record_bytes = 0;     // sum of record sizes
  uint64_t pending_garbage = 0;  // oids on the pending-garbage queue
  uint64_t next_oid = 0;         // the next oid new_oid() will consider
  uint32_t format_version = 0;
  std::string durability;        // "sync", "write_nosync", "nosync", "memory"
  uint64_t disk_bytes = 0;       // bytes used by the home on disk
  uint64_t collected_total = 0;  // oids deleted by the collector since open
  bool trace_running = false;    // a cycle trace (pack) is in progress
  std::string trace_phase;       // "mark" or "sweep" while one runs, else ""
  uint64_t trace_traced = 0;     // the running trace: reachable objects marked
  uint64_t trace_swept = 0;      // the running trace: unreachable objects deleted
  // Since open (the server logs each finished pack from these).
  uint64_t traces_completed = 0;        // cycle traces (packs) finished
  uint64_t last_trace_traced = 0;       // the last finished one: reachable objects
  uint64_t last_trace_swept = 0;        //   unreachable objects deleted
  uint64_t last_trace_bytes_freed = 0;  //   their record bytes
  // The open: whether it found the home left by a crash (its log replayed
  // by recovery), and how long opening the environment took (recovery,
  // with the log check before it).
  bool recovered = false;
  double recovery_seconds = 0;
  ReplicationFigures replication;  // a site of a replication group
};

// One load result of a bulk load: found or not.
struct LoadResult {
  Status status;       // OK, NotFound, or an error
  std::string record;  // valid when status.ok()
};

// What one collector run did.
struct CollectReport {
  uint64_t collected = 0;      // records deleted
  uint64_t bytes_freed = 0;    // record bytes deleted
  uint64_t pending_after = 0;  // oids still queued
  uint64_t traced = 0;         // reachable objects marked by a trace
};

// A position in a replication group's commit journal (bdb/journal.h): an
// entry's seq and its time (µs, the master's clock).  The time tells two
// histories apart: after a failover, an entry the old master wrote but
// never got acknowledged is rolled back, and the new master may write
// another entry under the same seq.
struct JournalPosition {
  uint64_t seq = 0;
  uint64_t time_us = 0;
};

// What the server's info request R answers (doc/server.md "The info
// request R"; doc/replication.md "Clients that follow the master").
struct ReplicationInfo {
  // "master", "replica" (a site that is not master: a replica, or a site
  // while no master is elected) or "none" (not a site of a group).
  std::string role = "none";
  std::string master;       // the master's Durus address ("" unknown)
  std::string master_site;  // its replication address ("" unknown)
  std::string site;         // this site's replication address ("" none)
  uint64_t generation = 0;  // Berkeley DB's election generation (0 unknown)
  JournalPosition journal;  // the journal's last entry ({0, 0}: none)
  // Asked with a `since`: the oids of the journal entries after it, or
  // all_changed when the journal cannot tell (no journal, trimmed past
  // `since`, `since` not in this history, too many oids).
  bool all_changed = false;
  std::vector<Oid> changed;
};

class Storage {
 public:
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  virtual ~Storage() = default;

  // The record stored under `oid`.  NotFound if there is none.
  virtual Status Load(Oid oid, std::string* record) = 0;

  // Loads `oids` in order; one LoadResult each.  The call itself fails only
  // on errors other than NotFound.
  virtual Status BulkLoad(const std::vector<Oid>& oids, std::vector<LoadResult>* out);

  // Atomically store every record of `batch` (Durus's end()).  Refused with
  // Conflict, writing nothing, when a record references an oid that neither
  // exists nor is stored in the batch (or was collected).
  virtual Status Commit(const CommitBatch& batch) = 0;

  // Oids removed by the collector since the previous call (Durus's sync()).
  // Cannot fail (see Errors above): a list kept in memory.
  virtual std::vector<Oid> Sync() = 0;

  // An oid never handed out before and never stored.  On an empty storage
  // the first is the root, 0.
  virtual Status NewOid(Oid* oid) = 0;

  // Up to `max` (oid, record) pairs in oid order with oid >= `start`;
  // fewer than `max` only at the end.  Iterate by calling again with the
  // last oid + 1 -- or use RecordIterator / ForEachRecord (below).
  virtual Status Scan(Oid start, size_t max, std::vector<std::pair<Oid, std::string>>* out) = 0;

  virtual Status GetStats(StorageStats* stats) = 0;

  // Empty the pending-garbage queue now (blocking), and with `cycles` also
  // trace from the root and delete unreachable objects.
  virtual Status Collect(bool cycles, CollectReport* report);

  // Start an online cycle trace (Durus's pack / P); returns at once.
  virtual Status StartPack();

  // Replication (bdb/replication.h): "" when the storage is not a site of
  // a replication group, else one line for logs and status: "role master"
  // or "role replica, master HOST:PORT".
  virtual std::string ReplicationSummary() { return ""; }
  // Replication: OK on the master (and on a storage that is not a site),
  // else the ReadOnly status a write on this site gets ("... refused: this
  // server is a replica ...; the master is ...").  The server asks before
  // it validates a commit: a commit validated on a replica and applied
  // after that replica's promotion would overwrite what the previous
  // master committed meanwhile (doc/replication.md).
  virtual Status CheckWritable(const std::string& what) {
    (void)what;
    return Status::OK();
  }
  // Replication, on a replica: the oids of the commits applied here since
  // the last call (the master's commit journal, bdb/journal.h), for the
  // server to put into its clients' invalid sets; empty elsewhere.
  virtual std::vector<Oid> ReplicatedChanges() { return {}; }
  // Whether ReplicatedChanges would return something now (one read of the
  // journal's last key): the server checks it after each load on a
  // replica (doc/replication-plan.md 5.2, rule 3').
  virtual bool ReplicatedChangesPending() { return false; }
  // Replication, on a replica: how many times ReplicatedChanges found
  // that entries it had not returned were trimmed from the journal (this
  // site was cut off from the master for longer than the retention).  The
  // oids of those commits are lost: a client connected before the count
  // last moved may hold their old versions, and the server drops it at
  // its next request (doc/replication.md, "The journal").
  virtual uint64_t ReplicatedGaps() { return 0; }
  // The facts R answers; `since` (nullptr: not asked) asks for the oids
  // changed after that journal position.  Read-only.  The default: a
  // storage that is no site of a group (role none; with `since`,
  // all_changed: it keeps no journal).
  virtual Status GetReplicationInfo(const JournalPosition* since, ReplicationInfo* out);
  // Replication: why this site must stop serving ("" while it may serve),
  // e.g. it was removed from its group (DB_EVENT_REP_LOCAL_SITE_REMOVED).
  // `durus-bdb serve` checks it once a second and exits non-zero with it.
  virtual std::string ReplicationStopReason() { return ""; }

  // Make every commit so far durable (a log flush).
  virtual Status Flush() = 0;

  // Release everything.  Idempotent; later calls return Closed.
  virtual Status Close() = 0;

  // A one-line label for logs ("BerkeleyDBStorage(HOME, durability=sync)").
  // Cannot fail (see Errors above).
  virtual std::string Describe() const = 0;
};

// A storage whose reference counts can be inspected: the model
// (MemoryStorage) and the Berkeley DB storage (BdbHandle).  Not part of the
// contract the server and Durus need; tests compare the two through it,
// and the Python module's refcount() / pending() read it.
class InspectableStorage : public Storage {
 public:
  // The number of distinct stored records that reference `oid`; NotFound if
  // `oid` has no count entry (it does not exist).
  virtual Status GetRefCount(Oid oid, uint64_t* count) = 0;
  // Up to `max` oids on the pending-garbage queue with oid >= `start`, in
  // oid order.
  virtual Status ListPending(Oid start, size_t max, std::vector<Oid>* out) = 0;
};

// Every record of a storage with oid >= `start`, in oid order, read through
// Storage::Scan `batch` records at a time (LevelDB's Iterator shape):
//
//   RecordIterator it(storage);
//   for (; it.Valid(); it.Next()) Use(it.oid(), it.record());
//   DURUS_RETURN_IF_ERROR(it.status());
//
// Valid() is false at the end and after an error; status() tells which.
// A Scan that returns an oid below where it was asked to start gives
// Corruption (a damaged table going backwards would otherwise loop).  The
// storage must outlive the iterator.  Not thread-safe; the storage is.
// Records committed meanwhile may or may not be seen (each page is one
// Scan, consistent on its own).
class RecordIterator {
 public:
  explicit RecordIterator(Storage* storage, Oid start = Oid(0), size_t batch = 1000);

  bool Valid() const { return pos_ < page_.size(); }
  void Next();
  Oid oid() const { return page_[pos_].first; }
  const std::string& record() const { return page_[pos_].second; }
  // OK, or the error that ended the iteration.
  const Status& status() const { return status_; }
  // Where the next page will start: after an error, the first oid not read.
  Oid position() const { return next_; }

 private:
  void Fetch();

  Storage* storage_;
  size_t batch_;
  Oid next_;
  bool exhausted_ = false;
  std::vector<std::pair<Oid, std::string>> page_;
  size_t pos_ = 0;
  Status status_;
};

// fn(oid, record) for every record in oid order; stops at, and returns, the
// first error of the scan or the first non-OK status fn returns.
Status ForEachRecord(Storage* storage, const std::function<Status(Oid, const std::string&)>& fn,
                     size_t batch = 1000);

// Census: number of records per class, named with its module
// ("models.Order", see CensusClassName).  Durus's get_census keys by the bare
// name, which leaves two classes of one name in different modules (or an
// application's Order next to a library's) indistinguishable.
Status Census(Storage* storage, std::map<std::string, uint64_t>* census);

// The full name, module.Class, of the class a record's data starts with.
// Durus pickles the class with protocol 2, which writes the GLOBAL opcode:
// "\x80\x02" "c" module "\n" name "\n".  Data that does not start that way
// (no protocol header is accepted too) gives the bare name as
// ExtractClassName does, "?" when there is none.
std::string CensusClassName(std::string_view record);

}  // namespace durus

#endif  // DURUS_BDB_ENGINE_STORAGE_H_
