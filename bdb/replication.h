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
#include <deque>
#include <mutex>
#include <string>

#include "bdb/bdb_storage.h"
#include "bdb/replication_options.h"
#include "engine/storage.h"
#include "util/mutex.h"

namespace durus::bdb {

// Whether `home` has been a site of a replication group: Berkeley DB's
// replication system database (__db.rep.system: the group's membership
// and LSN history) is there.  Its log is then the group's: a write to the
// home outside the group (an offline gc, the Python module) would fork
// the group's history, and resetting or removing its log
// (TrimClosedHome) would cut it off from the group.
bool IsReplicationSite(const std::string& home);

// Removes Berkeley DB's replication files (__db.rep.*) from `dir`, a copy
// of a site's home made by a backup or a restore: the copy is a plain
// home, the group's data without its membership (doc/replication.md,
// "Backup from a site").  Not for a site's own home.
Status RemoveReplicationFiles(const std::string& dir);

// The error for an opener that would write to such a home outside the
// group (InvalidArgument, naming the way to open it).
Status ReplicationSiteRefusal(const std::string& home);

// A replica's lag from samples of the master's log end (pure; unit
// tested).  Each Add gives the master's log end as it answered (an LSN
// made one number: file * log file size + offset), this site's own applied
// end, and the local (monotonic) time of the answer.  Bytes: master minus
// here (0 when here is not behind).  Seconds: time since the oldest kept
// sample that still counts -- the last sample at which the master was not
// ahead of what this site has applied now (or, if none is kept, the first
// sample that saw it ahead).  So 0 when caught up; behind, it is how long
// ago the master was where this site is now, to the sampling period (1 s).
// Both clocks are this machine's: no skew between machines enters.
class LagSampler {
 public:
  void Add(double now_s, uint64_t master_end, uint64_t applied_end);
  uint64_t bytes() const { return bytes_; }
  double seconds() const { return seconds_; }

 private:
  struct Sample {
    double time;
    uint64_t master_end;
  };
  std::deque<Sample> samples_;  // oldest first; at most kMaxSamples
  static constexpr size_t kMaxSamples = 3600;
  uint64_t bytes_ = 0;
  double seconds_ = 0;
};

// An LSN as one number, to subtract: file * log file size + offset.
inline uint64_t LsnBytes(uint32_t file, uint32_t offset, uint32_t log_file_size) {
  return static_cast<uint64_t>(file) * log_file_size + offset;
}

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

  // --- Operations (stat, removal; doc/replication.md) ---

  // Set by DB_EVENT_REP_LOCAL_SITE_REMOVED: the operator removed this site
  // from the group; its server must stop (StopReason says why).
  bool local_site_removed() const { return local_site_removed_.load(); }
  std::string StopReason() const;

  // Role, master, peers (repmgr_site_list), PERM_FAILED count and the lag
  // SampleLag measured last.  Calls into Berkeley DB (cheap, local): not
  // from the event callback.  `master_durus` is left to the caller (it
  // lives in meta.db).
  void Figures(DbEnv* env, ReplicationFigures* out);

  // On a replica, about once a second (the storage's background thread
  // only): asks the master over a repmgr message channel for its log's end
  // (OnChannelMessage answers) and compares it with what this site has
  // applied; see LagSampler.  On the master: lag 0.  The question waits at
  // most kLagQuestionTimeoutMs.
  //
  // Making the channel opens a new connection to the master and reads its
  // handshake without a timeout (Berkeley DB's establish_connection),
  // which never returns while the master is stopped or cut off with the
  // connection up: it was made per sample, and every replica's background
  // thread hung there as soon as the master stopped (checkpoints, status,
  // handle refresh and, once promoted, the fence's heartbeat and the
  // journal trim with it).  Now it is made under a CallDeadline
  // (bdb/call_deadline.h: interrupted after kLagQuestionTimeoutMs), and
  // kept from one sample to the next, made again only after a NEWMASTER
  // event (one connection per master, not one a second).
  void SampleLag(DbEnv* env);
  static constexpr uint32_t kLagQuestionTimeoutMs = 500;
  // Closes SampleLag's channel: the background thread's last call, before
  // the environment closes.
  void CloseLagChannel();

  // DbSite::remove of `site` (HOST:RPORT) through this running site: on
  // the master directly, on a replica Berkeley DB forwards it to the
  // master.  Fails for the master itself (stop it first: the others elect
  // another, then remove it from one of them) and when the membership
  // change is not acknowledged per the ack policy.
  Status RemoveSite(DbEnv* env, const ReplicationAddress& site);

  // repmgr's message-channel callback (repmgr_msg_dispatch): the answer
  // to a replica's lag question (above).
  static void OnChannelMessage(DB_ENV* dbenv, DB_CHANNEL* channel, DBT* request, u_int32_t nrequest,
                               u_int32_t cb_flags);

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
  std::atomic<bool> local_site_removed_{false};
  // SampleLag's figures (read by Figures from any thread).
  util::Mutex lag_mu_;
  LagSampler lag_ GUARDED_BY(lag_mu_);
  bool lag_known_ GUARDED_BY(lag_mu_) = false;
  uint64_t lag_bytes_ GUARDED_BY(lag_mu_) = 0;
  double lag_seconds_ GUARDED_BY(lag_mu_) = 0;
  // SampleLag's channel to the master (the background thread's only), and
  // new_masters_ (NEWMASTER events so far) when it was made.
  DB_CHANNEL* lag_channel_ = nullptr;
  uint64_t lag_channel_masters_ = 0;
  std::atomic<uint64_t> new_masters_{0};
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
