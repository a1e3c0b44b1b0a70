// ServerImpl: the server behind server/server.h, wiring its parts together
// (as LevelDB's DBImpl hands work to VersionSet, log::Writer, MemTable).
// (Internal to server/.)
//
//   Acceptor         accepts connections (its own thread)       acceptor.h
//   WorkerPool       epoll, claiming, parking, the stall monitor worker_pool.h
//   sessions         one handler per command byte               session.h,
//                    (session_commands.cc, session_commit.cc)   server_impl.h
//   CommitSequencer  the commit token and its grace             commit_sequencer.h
//   InvalidationTable invalid, unused and in-flight oids        invalidation_table.h
//   LeaseTable       hot objects' leases, parked loads          lease_table.h
//   RequestBudget    request memory                             request_budget.h
//
// ServerImpl is the pool's ConnectionHandler: Serve runs a claimed
// connection's requests through Dispatch to the command's handler;
// OnTick runs the server's periodic jobs (the commit grace, late commit
// data, the status file).
//
// Threads: the acceptor; `threads` workers; the pool's monitor (stalls,
// the running-worker cap, OnTick); the lease thread (hands parked loads
// back).  Storage::Commit and every socket wait run with no server lock
// held.  Lock order (every lock is a durus::util::Mutex; clang -Wthread-safety
// checks the annotations, -Wthread-safety-beta the order):
// InvalidationTable::mu_ -> inflight_mu_ -> Member::mu; every other lock
// (CommitSequencer::mu_, WorkerPool's, LeaseTable::mu_, RequestBudget::mu_,
// stop_mu_) is a leaf: nothing else is taken under it.  A session's own
// fields are guarded by its claim (an atomic state, WorkerPool), not by a
// lock: see session.h.
#ifndef DURUS_BDB_SERVER_SERVER_IMPL_H_
#define DURUS_BDB_SERVER_SERVER_IMPL_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "engine/status.h"
#include "engine/storage.h"
#include "server/acceptor.h"
#include "server/commit_sequencer.h"
#include "server/invalidation_table.h"
#include "server/lease_table.h"
#include "server/listener.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/request_budget.h"
#include "server/server.h"
#include "server/server_status.h"
#include "server/session.h"
#include "server/worker_pool.h"
#include "util/mutex.h"

namespace durus::server {

class ServerImpl : public ConnectionHandler {
 public:
  ServerImpl(Storage* storage, ServerOptions options, Logger* logger);
  ~ServerImpl() override;

  Status Start();
  void Wait();
  void RequestStop(const std::string& reason) EXCLUDES(stop_mu_);
  void SignalStop() { pool_.SignalStop(); }
  void CloseListener() { listener_.Close(); }
  const Listener& listener() const { return listener_; }
  std::string stop_reason() const EXCLUDES(stop_mu_);
  ServerFigures figures() const;
  const ServerMetrics& metrics() const { return metrics_; }
  bool stopping() const { return pool_.stopping(); }

  // ConnectionHandler: serve claimed `c` until its socket is drained.
  void Serve(Connection* c) override;
  void OnTick(Clock::time_point now) override;
  void OnFatal() override { RequestStop("internal error"); }

 private:
  // --- connections (server.cc) ---
  void AddClient(int fd, const PeerInfo& peer);
  void Drop(Client* c, LogLevel level, const std::string& why);
  bool Read(Client* c, std::string* out, size_t n, Deadline deadline, const char* what);
  bool Write(Client* c, const std::string& data, Deadline deadline, const char* what);
  // Drops `c` for a failed read or write of the current request.
  bool IoFailed(Client* c, IoResult r, const std::string& what);
  Deadline RequestDeadline(uint64_t payload_bytes) const;
  // The periodic jobs (OnTick).
  void ExpireCommitGrace(Clock::time_point now);
  void DropLateCommitters(Clock::time_point now);
  void PublishStatus(Clock::time_point now);

  // --- one handler per command (session_commands.cc) ---
  Outcome Dispatch(Client* c, uint8_t cmd);
  bool HandleVersion(Client* c);
  bool HandleNewOids(Client* c, int count);
  bool HandleLoad(Client* c);
  bool HandleBulkLoad(Client* c);
  bool HandleSync(Client* c);
  bool HandlePack(Client* c);
  bool HandleQuit(Client* c);
  bool HandleInfo(Client* c);
  // Before dispatching a load of `c` (its bytes buffered): if `c`
  // recently lost a commit and the oid is leased to another client, park
  // the connection in the lease table and return true (then `c` is the
  // lease thread's: not to be touched, nor released).
  bool MaybeParkLoad(Client* c);
  // The lease thread: hands released parked loads back to the workers.
  void LeaseLoop();
  // Before reading oids[0..n) for `c`: wait for the commits in flight on
  // them.  False: answer 'I' for all of them.
  bool SettleInflight(Client* c, const Oid* oids, size_t n);
  // Take `bytes` of the request budget for `c` (dropping it on failure).
  bool AcquireRequestBytes(Client* c, uint64_t bytes, const char* what);
  // Storage::Sync()'s removed oids to everyone, then `c`'s invalid set.
  std::vector<Oid> DrainInvalid(Client* c);
  // Replication, on a replica: publish the replicated commits not yet
  // published, after a read and before its invalid-set check.
  void CatchUpReplicated();
  // Replication, on a replica (session_commands.cc): the periodic
  // publication (OnTick), so that the journal's trim never passes entries
  // a running server has not published; and the check after a request's
  // catch-up: `c` joined before entries it may depend on were lost to the
  // trim (Storage::ReplicatedGaps): drop it (true).
  void FollowReplicated();
  bool DroppedForLostEntries(Client* c);

  // --- the commit, step by step (session_commit.cc) ---
  Outcome HandleCommit(Client* c);
  // Phase kList: send the rest of the list, then enter kData.
  bool ContinueListSend(Client* c);
  // Phase kData with bytes buffered: read the commit and finish it.
  bool ContinueCommit(Client* c);
  bool ReadCommitData(Client* c, uint32_t tlen, CommitBatch* batch);
  bool Abandoned(Client* c);
  // Holds the token again (optimistic after the grace): false if dropped.
  bool RetakeToken(Client* c);
  bool Apply(Client* c, const CommitBatch& batch, const std::vector<Oid>& oids, uint32_t tlen);
  bool Refuse(Client* c, const char* why);
  void EnterDataPhase(Client* c);
  void PrepareCommitList(Client* c);
  // If `holder` holds the token (for `grace_expired`: is still waiting for
  // its client), pass it on, and send the next in line its list.
  void ReleaseToken(Client* holder, bool grace_expired = false);
  void GrantToken(Client* next);

  Storage* const storage_;
  const ServerOptions options_;
  Logger* const log_;
  Listener listener_;
  Acceptor acceptor_;
  // Declared before the pool: clients leave the table as the pool closes
  // them.
  InvalidationTable table_;
  LeaseTable leases_;
  RequestBudget budget_;
  CommitSequencer sequencer_;
  WorkerPool pool_;
  std::thread lease_thread_;
  std::atomic<uint64_t> next_client_id_{1};
  mutable util::Mutex stop_mu_;
  std::string stop_reason_ GUARDED_BY(stop_mu_);
  Clock::time_point status_published_at_;  // the monitor thread's

  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> commit_conflicts_{0};  // abandoned by the client or refused
  std::atomic<uint64_t> commits_refused_{0};   // answered 'I'
  std::atomic<uint64_t> load_conflicts_{0};    // oids answered 'I' to L and B
  std::atomic<uint64_t> grace_expired_{0};
  std::atomic<uint64_t> dropped_{0};
  // Replication: publications of replicated changes under way (the storage
  // has moved its position, the oids may not be in the sets yet): a load
  // that finds nothing pending but one under way waits for it (table mu_).
  std::atomic<int> replicated_publishing_{0};
  // Replication: publications that put replicated oids into the sets.  A
  // commit validated (its list drained) before one of them may not have
  // seen a commit of another master (ContinueCommit).
  std::atomic<uint64_t> replicated_published_{0};
  // The storage is a site of a replication group (set by Start, before
  // any thread runs; read-only after).
  bool replicated_ = false;
  // Requests by command, bytes, latencies (for server/http/).
  ServerMetrics metrics_;
};

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_SERVER_IMPL_H_
