// BdbStorage as a site of a replication group (bdb/replication.h): the
// check before every write (refuse on a replica, reload after a
// promotion), the summary line for logs.  The machinery itself
// (configure, start, events) is bdb/replication.cc.
#include <cstring>

#include "bdb/environment.h"
#include "bdb/journal.h"
#include "bdb/schema.h"
#include "bdb/storage_impl.h"
#include "engine/record.h"

namespace durus::bdb {

namespace {

// The master's Durus address as it wrote it into meta.db ("" if unknown).
std::string MasterDurusAddress(Db* meta) {
  if (meta == nullptr) return "";
  Dbt key = InDbt(kMetaReplMasterDurus, strlen(kMetaReplMasterDurus));
  std::string value;
  return GetInto(meta, nullptr, &key, &value, 0) == 0 ? value : "";
}

Status ReadCounter(Db* meta, const char* name, uint64_t* out) {
  Dbt key = InDbt(name, strlen(name));
  std::string v;
  int ret = GetInto(meta, nullptr, &key, &v, 0);
  if (ret != 0) return FromDb(ret, std::string("reading meta ") + name);
  if (v.size() != 8) return Status::Corruption(std::string("meta ") + name + " is not 8 bytes");
  *out = GetU64(v.data());
  return Status::OK();
}

}  // namespace

Status BdbStorage::NotMaster(const std::string& what) {
  const std::string site = repl_->MasterSite(env_.get());
  if (site.empty()) {
    return Status::ReadOnly(what + " refused: " + options_.replication.listen.ToString() +
                            " is a site of a replication group with no master elected yet; "
                            "try again in a moment");
  }
  // The Durus address the master advertised (replicated in meta.db); on a
  // fresh promotion it may still name the previous master for a moment,
  // so the replication site is named too.
  const std::string durus = MasterDurusAddress(meta_.get());
  return Status::ReadOnly(what +
                          " refused: this server is a replica of a replication group; "
                          "the master is " +
                          (durus.empty() ? "?" : durus) + " (replication site " + site + ")");
}

Status BdbStorage::ReplicationBeforeWriteLocked() {
  if (!repl_->IsMaster()) return NotMaster("a write");
  const uint64_t generation = repl_->master_generation();
  if (generation == promoted_generation_.load()) return Status::OK();
  // Promoted (or opened as master): the in-memory counters may be as of
  // when this site was a replica; the replicated meta.db has the truth.
  uint64_t next = 0, objects = 0, bytes = 0, pending = 0;
  DURUS_RETURN_IF_ERROR(ReadCounter(meta_.get(), schema::kMetaNextOid, &next));
  DURUS_RETURN_IF_ERROR(ReadCounter(meta_.get(), schema::kMetaObjectCount, &objects));
  DURUS_RETURN_IF_ERROR(ReadCounter(meta_.get(), schema::kMetaRecordBytes, &bytes));
  DURUS_RETURN_IF_ERROR(ReadCounter(meta_.get(), schema::kMetaPendingCount, &pending));
  PublishCounters(next, objects, bytes, pending);
  if (journal_ != nullptr) {
    DURUS_RETURN_IF_ERROR(LastJournalSeq(journal_.get(), &journal_seq_));
    // Entries applied while a replica are still published to this
    // server's clients (ReplicatedChanges); later ones are its own.
    promoted_tail_ = journal_seq_;
  }
  promoted_generation_ = generation;
  // Tell the group where Durus clients find us: a replica names it when
  // it refuses a commit.  Best effort (a failure is retried at the next
  // promotion; the replication site is named anyway).
  const std::string& advertise = options_.replication.advertise;
  if (!advertise.empty() && MasterDurusAddress(meta_.get()) != advertise) {
    Txn txn;
    if (txn.Begin(env_.get()) == 0) {
      Dbt key = InDbt(kMetaReplMasterDurus, strlen(kMetaReplMasterDurus));
      Dbt data = InDbt(advertise.data(), advertise.size());
      if (meta_->put(txn.get(), &key, &data, 0) == 0) txn.Commit(CommitFlags());
    }
  }
  return Status::OK();
}

Status BdbStorage::OpenJournal() {
  // Created by a master (a DB_CREATE open is a replicated transaction); a
  // replica's arrives by replication.
  DURUS_RETURN_IF_ERROR(OpenBtree(env_.get(), home_, kJournalFile, /*readonly=*/false, &journal_,
                                  /*create=*/repl_->IsMaster(), options_.page_checksums));
  uint64_t last = 0;
  DURUS_RETURN_IF_ERROR(LastJournalSeq(journal_.get(), &last));
  // Clients connect after the open: their caches are empty, nothing
  // before the journal's end concerns them.
  std::lock_guard<std::mutex> l(journal_mu_);
  synced_seq_ = last;
  return Status::OK();
}

std::vector<Oid> BdbStorage::ReplicatedChanges() {
  std::vector<Oid> out;
  if (repl_ == nullptr) return out;
  std::shared_lock<std::shared_mutex> open(close_mu_);
  if (closed_ || journal_ == nullptr) return out;
  const uint64_t upto = repl_->IsMaster() ? promoted_tail_.load() : UINT64_MAX;
  std::lock_guard<std::mutex> l(journal_mu_);
  std::vector<JournalEntry> entries;
  for (;;) {
    // A failed read leaves synced_seq_ where it was: the next call retries.
    if (!ReadJournal(journal_.get(), synced_seq_, upto, 1024, &entries).ok()) break;
    if (entries.empty()) break;
    // Seqs are dense: a first entry past synced_seq_ + 1 means the master
    // trimmed entries this site never returned (bdb/journal.h).
    if (entries.front().seq != synced_seq_ + 1) replicated_gaps_.fetch_add(1);
    for (const JournalEntry& e : entries) out.insert(out.end(), e.oids.begin(), e.oids.end());
    synced_seq_ = entries.back().seq;
  }
  return out;
}

bool BdbStorage::ReplicatedChangesPending() {
  if (repl_ == nullptr) return false;
  std::shared_lock<std::shared_mutex> open(close_mu_);
  if (closed_ || journal_ == nullptr) return false;
  uint64_t last = 0;
  if (!LastJournalSeq(journal_.get(), &last).ok()) return true;  // let the reader retry
  const uint64_t upto = repl_->IsMaster() ? promoted_tail_.load() : UINT64_MAX;
  std::lock_guard<std::mutex> l(journal_mu_);
  return std::min(last, upto) > synced_seq_;
}

std::string BdbStorage::ReplicationSummary() {
  if (repl_ == nullptr) return "";
  std::shared_lock<std::shared_mutex> open(close_mu_);
  if (closed_) return "";
  switch (repl_->role()) {
    case ReplicationRole::kMaster: return "role master";
    case ReplicationRole::kReplica: {
      std::string site = repl_->MasterSite(env_.get());
      if (site.empty()) return "role replica, no master";
      std::string durus = MasterDurusAddress(meta_.get());
      return "role replica, master " + (durus.empty() ? site : durus + " (site " + site + ")");
    }
    case ReplicationRole::kNone: break;
  }
  return "role none (electing)";
}

}  // namespace durus::bdb
