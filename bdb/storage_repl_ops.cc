// BdbStorage as a site of a replication group, the operator's side
// (doc/replication.md, "stat", "Removing a site"): the figures stat shows,
// the lag sample and removal requests on the background thread, and why
// the server must stop.  The machinery is bdb/replication.cc; the commit
// path's side is bdb/storage_repl.cc.
#include <cstring>

#include "bdb/repl_admin.h"
#include "bdb/schema.h"
#include "bdb/storage_impl.h"
#include "engine/record.h"

namespace durus::bdb {

void BdbStorage::ReplicationFiguresLocked(ReplicationFigures* out) {
  repl_->Figures(env_.get(), out);
  // The Durus address the master advertised (replicated in meta.db).
  if (!out->master_site.empty()) out->master_durus = MasterDurusAddress(meta_.get());
}

void BdbStorage::ReplicaCountersLocked(StorageStats* stats) {
  // A replica applies the master's commits without touching our in-memory
  // counters (they are as of the open, or of the last time this site was
  // master): its meta.db, replicated, has the committed values.
  if (repl_->IsMaster() || meta_ == nullptr) return;
  const struct {
    const char* name;
    uint64_t* out;
  } counters[] = {{schema::kMetaObjectCount, &stats->object_count},
                  {schema::kMetaRecordBytes, &stats->record_bytes},
                  {schema::kMetaPendingCount, &stats->pending_garbage},
                  {schema::kMetaNextOid, &stats->next_oid}};
  for (const auto& c : counters) {
    // A failed read (the site syncing) leaves the in-memory figure.
    uint64_t v = 0;
    if (ReadCounter(meta_.get(), c.name, &v).ok()) *c.out = v;
  }
}

void BdbStorage::ReplicationOpsTick() {
  if (repl_ == nullptr) return;
  std::shared_lock<std::shared_mutex> open(close_mu_);
  if (closed_) return;
  repl_->SampleLag(env_.get());
  std::string verb, arg, id;
  if (!TakeReplRequest(home_, &verb, &arg, &id)) return;
  Status result;
  ReplicationAddress address;
  if (verb != "remove") {
    result = Status::InvalidArgument("unknown request '" + verb + "'");
  } else if ((result = ParseReplicationAddress(arg, &address)).ok()) {
    result = repl_->RemoveSite(env_.get(), address);
  }
  WriteReplReply(home_, id, result);
}

std::string BdbStorage::ReplicationStopReason() {
  return repl_ == nullptr ? "" : repl_->StopReason();
}

}  // namespace durus::bdb
