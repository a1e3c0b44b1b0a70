// BdbStorage::GetReplicationInfo: what the server's info request R answers
// (engine/storage.h ReplicationInfo; doc/server.md "The info request R").
// Read-only: the role and addresses from the replication state, the
// journal's end, and with a `since` the oids of the entries after it
// (doc/replication-plan.md 8).
#include <db_cxx.h>

#include <cstdlib>
#include <cstring>

#include "bdb/journal.h"
#include "bdb/storage_impl.h"

namespace durus::bdb {

namespace {

// More changed oids than this: answer "all" instead (the client then
// invalidates its whole cache, which is cheaper than a reply of megabytes).
constexpr size_t kMaxChangedOids = 100000;

// Attempts of the journal reads: a read without a transaction may lose a
// deadlock against a commit (bdb/retry.h); a Status does not say which
// failure it was, so any failure is tried again, a bounded number of times.
constexpr int kInfoReadAttempts = 20;

}  // namespace

Status BdbStorage::GetReplicationInfo(const JournalPosition* since, ReplicationInfo* out) {
  *out = ReplicationInfo();
  if (repl_ == nullptr) return Storage::GetReplicationInfo(since, out);
  std::shared_lock<std::shared_mutex> open(close_mu_);
  if (closed_) return Status::Closed("the storage is closed");
  out->site = options_.replication.listen.ToString();
  switch (repl_->role()) {
    case ReplicationRole::kMaster:
      out->role = "master";
      out->master = options_.replication.advertise;
      out->master_site = out->site;
      break;
    case ReplicationRole::kReplica:
    case ReplicationRole::kNone:  // electing: not a master either
      out->role = "replica";
      out->master_site = repl_->MasterSite(env_.get());
      // meta.db names the master that last wrote it: right after a
      // failover, until the new master's first write, the previous one.
      // The client asks that address R and goes on looking if it is not.
      if (!out->master_site.empty()) out->master = MasterDurusAddress(meta_.get());
      break;
  }
  DB_REP_STAT* rs = nullptr;
  if (env_->rep_stat(&rs, 0) == 0 && rs != nullptr) {
    out->generation = rs->st_gen;
    free(rs);
  }
  if (journal_ == nullptr) {
    out->all_changed = since != nullptr;
    return Status::OK();
  }
  Status st;
  for (int i = 0; i < kInfoReadAttempts; ++i) {
    st = JournalChangesSince(journal_.get(), since, kMaxChangedOids, &out->journal,
                             &out->all_changed, &out->changed);
    if (st.ok()) break;
  }
  return st;
}

}  // namespace durus::bdb
