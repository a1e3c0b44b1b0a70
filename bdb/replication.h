// Berkeley DB Replication Manager under a home (issue 13): configuring
// repmgr before DbEnv::open, starting it with elections, and the event
// callback's target.  Internal to bdb/; the options are public in
// bdb/replication_options.h.  Design: doc/replication-plan.md (sections 3,
// 4, 6, 11); user's page: doc/replication.md.
//
// Threading: ReplicationState's fields are atomics or guarded by its own
// mutex.  Berkeley DB calls OnEvent on its own threads (and, for the first
// role event, in the thread calling repmgr_start): the callback only
// stores atomics and signals, it never calls into Berkeley DB nor takes a
// lock that a caller of Start holds (gotcha 14) -- except TCP_NODELAY,
// which only touches sockets.
#ifndef DURUS_BDB_BDB_REPLICATION_H_
#define DURUS_BDB_BDB_REPLICATION_H_

#include <db_cxx.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

#include "bdb/bdb_storage.h"
#include "bdb/replication_options.h"

namespace durus::bdb {

// Whether `home` has been a site of a replication group: Berkeley DB's
// replication system database (__db.rep.system: the group's membership
// and LSN history) is there.  Its log is then the group's: a write to the
// home outside the group (an offline gc, the Python module) would fork
// the group's history, and resetting or removing its log
// (TrimClosedHome) would cut it off from the group.
bool IsReplicationSite(const std::string& home);

// The error for an opener that would write to such a home outside the
// group (InvalidArgument, naming the way to open it).
Status ReplicationSiteRefusal(const std::string& home);

class ReplicationState {
 public:
  ReplicationState(ReplicationOptions options, Durability durability);

  const ReplicationOptions& options() const { return options_; }

  // Everything repmgr needs before DbEnv::open: the event callback, the
  // priority, the ack policy, timeouts, the local site and the helpers,
  // and the flag replicas apply with (DB_TXN_NOSYNC unless `sync`:
  // plan 10.2, gotcha 11).  The caller adds DB_INIT_REP to open's flags.
  Status Configure(DbEnv* env);

  // After DbEnv::open: repmgr_start with elections (retried while no
  // helper can let this site join), then wait until the role is known:
  // master, or a replica in sync with a master (STARTUPDONE) -- at most
  // startup_wait_ms; a replica that found no master by then is served
  // stale (its tables must already exist).
  Status Start(DbEnv* env);

  ReplicationRole role() const { return static_cast<ReplicationRole>(role_.load()); }
  bool IsMaster() const { return role() == ReplicationRole::kMaster; }
  // Counts DB_EVENT_REP_MASTER events: a change tells the storage that it
  // was (re)promoted and must reload its in-memory counters.
  uint64_t master_generation() const { return master_generation_.load(); }
  bool startup_done() const { return startup_done_.load(); }
  // Counts the events after which table handles opened before may be
  // dead (DB_REP_HANDLE_DEAD): STARTUPDONE (a sync with a master, which
  // may have rolled back this site's log: a demoted master's unacknowledged
  // tail, a replica's records the new master lacks) and INIT_DONE
  // (internal init replaced the files).  The storage reopens its handles
  // when it changes (doc/replication-plan.md 7).
  uint64_t handles_epoch() const { return handles_epoch_.load(); }
  uint64_t perm_failed_total() const { return perm_failed_total_.load(); }

  // The master's replication address as this site knows it ("" if none);
  // EIDs are local to each site (gotcha 3).  Calls into Berkeley DB: not
  // from the event callback.
  std::string MasterSite(DbEnv* env) const;

  // PERM_FAILED of the calling thread's last commit: Berkeley DB raises
  // the event in the committing thread, inside DbTxn::commit (plan 4).
  static void ClearPermFailed();
  static bool PermFailed();

  // Berkeley DB's event callback (set_event_notify); the state is the
  // env's app_private.
  static void OnEvent(DbEnv* env, u_int32_t event, void* info);

 private:
  void Handle(u_int32_t event, void* info);

  const ReplicationOptions options_;
  const Durability durability_;
  std::atomic<int> role_{static_cast<int>(ReplicationRole::kNone)};
  std::atomic<int> master_eid_{-1};
  std::atomic<uint64_t> master_generation_{0};
  std::atomic<bool> startup_done_{false};
  std::atomic<uint64_t> handles_epoch_{0};
  std::atomic<uint64_t> perm_failed_total_{0};
  // Start() waits on it for the role.
  std::mutex mu_;
  std::condition_variable cv_;
};

// Set TCP_NODELAY on every TCP socket of the process: repmgr 5.3 leaves
// Nagle on, and each acknowledged commit then waits ~44 ms for the delayed
// ACK (gotcha 1).  Harmless on the server's own sockets (they have it).
void SetNoDelayOnTcpSockets();

// meta.db key holding the master's Durus address (replicated).
inline constexpr char kMetaReplMasterDurus[] = "repl_master_durus";

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_REPLICATION_H_
