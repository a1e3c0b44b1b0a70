// Server: a Durus protocol-1 storage server over any durus::Storage.
//
// Unmodified Durus clients (durus.client_storage.ClientStorage) talk to it
// exactly as to Durus's own StorageServer (../shared/DESIGN.md §2); the
// difference is that requests from different clients run in parallel:
//
//  - A pool of worker threads waits on one epoll set.  Connections are
//    registered edge-triggered and never re-armed: a worker that gets an
//    event for a connection claims it (an atomic state: idle, busy, busy
//    with an event pending), serves every request it finds until the
//    socket is drained, and releases it; an event that finds the
//    connection busy marks it pending and the owner looks again before
//    releasing.  So exactly one worker serves a connection at a time, in
//    order, idle connections hold no thread, and a request costs no epoll
//    system call besides the wait.  Events name connections by id (looked
//    up under a shared lock), so a stale event for a dropped connection is
//    ignored.  While its worker waits in poll for more of a request, a
//    connection is taken out of the epoll set's interest (and put back
//    before release), so those bytes wake no other worker.
//  - Only `active_threads` workers (one per CPU) run at once outside
//    blocking waits, and no more than the clients that kept the server
//    busy in the last 100 ms; the others park.  With more, every request
//    arriving while the running workers are busy would wake a thread of
//    its own (with a single client, a second running worker takes each
//    next request while the first is on its way back to epoll); with the
//    cap a worker finishing a request finds the next ones ready in epoll
//    without sleeping.  A worker about to block (Storage::Commit,
//    polling a slow client) stops counting, waking a
//    parked one if the running ones fall below active_threads - 1; a
//    monitor presumes a worker blocked after `stall_s` in one request (a
//    load waiting for the disk).
//    A worker takes up to `batch` ready connections per wake-up; before
//    anything that may block (a commit, a slow client) it hands the ones
//    it has not served yet to other workers.  Loads and bulk loads of
//    different clients run concurrently on the (thread-safe) Storage.
//  - Commits are validated one at a time.  The committer holds the commit
//    token from sending the client its invalidations until it has
//    published its oids to the other clients, as Durus's single-threaded
//    server implicitly does, so a client's conflict check covers every
//    commit ordered before its own.  No thread waits for the token or for
//    the client's answer: a committer in line is parked in the token
//    queue, and once its list is sent the client's commit data arrives as
//    an epoll event like any request.  The holder hands the token directly
//    to the next committer and sends it its invalidations on the way.  A
//    client slow to send its commit data holds the token for at most
//    `commit_grace_s` (the monitor releases it); after that the commit
//    goes ahead only if no invalidation reached that client meanwhile
//    (otherwise it gets 'I', a conflict the client handles as any other).
//  - Storage::Commit runs outside the server's locks: the storage applies
//    commits one at a time and, in sync mode, lets concurrent committers
//    share one log fsync (group commit); Commit returns only once the
//    commit is durable, and only then is 'O' sent.
//  - Degree-3 isolation with parallel loads: a commit's oids are added to
//    the other clients' invalid sets *before* the commit can become
//    visible, and stay registered as "in flight" until Commit returns
//    (InflightTable).  A load of an in-flight oid not in the client's
//    invalid set waits until the commit has returned (one fsync at most),
//    then reads the record, then checks the invalid set.  So a client
//    never receives a record committed after its last sync without
//    getting 'I', nor one older than its last sync (doc/server.md).
//  - Accepting runs in a thread of its own (server/acceptor.h), which
//    also keeps descriptors in reserve for the storage and applies
//    --allow-from; Q is honoured per --allow-stop and a --read-only server
//    refuses N, M, C and P (server/access.h, doc/security.md).
//  - Hot objects: the oids of a client's last commit are leased to it
//    while it is likely to commit them again (LeaseTable); a load of one
//    of them by a client that recently lost a commit is parked (no
//    worker waits) until the lease ends or lease_max_wait_s, so losers
//    read a hot object after its writer's run instead of losing to each
//    of its next commits.
//  - Robustness: a malformed frame, an unknown command, an oversized
//    length, a client vanishing or stalling mid-request drops that client
//    (log line); nothing of an incomplete commit is stored.
//
// Ownership: the server borrows `storage` (the caller closes it after
// Wait() returns) and owns its sockets and threads.
// Threading: Start/Wait from one thread; Shutdown from any thread;
// SignalStop from a signal handler.
#ifndef DURUS_BDB_SERVER_SERVER_H_
#define DURUS_BDB_SERVER_SERVER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/status.h"
#include "engine/storage.h"
#include "server/inflight_table.h"
#include "server/access.h"
#include "server/acceptor.h"
#include "server/lease_table.h"
#include "server/listener.h"
#include "server/log.h"
#include "server/request_budget.h"
#include "server/server_status.h"
#include "server/socket_stream.h"

namespace durus::server {

struct ServerOptions {
  ListenOptions listen;
  // Worker threads serving requests.  A committer waiting for a group
  // flush occupies one, so keep this above the expected concurrent
  // committers.
  int threads = 16;
  // Ready connections a worker takes from one epoll_wait (1..8).  More
  // saves wake-ups under load; a request that may block hands the rest on.
  int batch = 4;
  // Largest commit data (and bulk-load oid list) accepted, in bytes; a
  // client announcing more is dropped.
  uint64_t max_commit_bytes = 256ull << 20;
  // A request must complete (all its bytes received, its reply sent)
  // within this many seconds, plus one second per MiB it carries; a
  // slower client is dropped.  Clients idle *between* requests are kept,
  // as with Durus (a Durus client may sit idle for hours).
  double idle_timeout_s = 10;
  // How long a committer may hold the commit token waiting for its commit
  // data before continuing optimistically (see above); then a log line.  A
  // healthy client answers in a round trip, far below the default.
  double commit_grace_s = 2.0;
  // Oids handed out to one client by N/M and not yet stored by it; past
  // this (or past a tenth as many separate runs of consecutive oids, each
  // costing a map node) the client is dropped (an `M` flood).
  uint64_t max_unused_oids = 8u << 20;
  // Server-wide bound on request bytes held at once (commit data, bulk-load
  // oid lists): a request that does not fit waits for others, until its
  // deadline, then its client is dropped (server/request_budget.h).
  uint64_t max_request_memory = 512ull << 20;
  // Where to publish the live figures for `durus-bdb stat` about once a
  // second (server/server_status.h); empty: nowhere.
  std::string status_path;
  // A load that meets a commit in flight (published, Storage::Commit not
  // returned) waits for it this long at most, then answers 'I'.
  double inflight_wait_s = 5.0;
  // Hot objects (LeaseTable): how long after its acknowledgement a
  // commit's oids stay leased to its client (its think time before its
  // next commit: a Durus client on this machine takes ~0.1-0.3 ms), and
  // how long a parked load waits at most.  0 think time: no leases.
  double lease_think_s = 0.001;
  double lease_max_wait_s = 0.1;
  // Workers running at once outside blocking waits (0: one per CPU).  The
  // other workers park, so events are not spread over more threads than
  // can run: a busy worker finds the next requests already waiting
  // instead of each request waking a thread of its own.  A worker about
  // to block (the commit token, Storage::Commit, a slow client) stops
  // counting and a parked one takes its place.
  int active_threads = 0;
  // A worker in one request this long without saying it blocks (a disk
  // read, a lock wait in the storage) is presumed blocked and a parked
  // worker takes its place.
  double stall_s = 0.01;
  // Who may connect (TCP) and who may stop the server with Q.
  AccessPolicy access;
  // Refuse every request that writes (N, M, C, P): the client is dropped
  // with a log line.
  bool read_only = false;
  // Most client connections served at once (0: what RLIMIT_NOFILE allows
  // after fd_reserve; see acceptor.h).  Past it new connections are closed.
  size_t max_clients = 0;
  // Descriptors kept free for the storage (log files, databases).
  size_t fd_reserve = 32;
};

class Server {
 public:
  Server(Storage* storage, ServerOptions options, Logger* logger);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Bind, listen and start the workers; logs "ready on ADDRESS".
  Status Start();

  // Block until the server stops (a client's Q, Shutdown(), SignalStop()).
  // On return the workers are joined and every client connection closed;
  // a commit in progress was finished (applied, made durable, answered)
  // first.  The listening socket stays open (connections queue, unserved)
  // until CloseListener() or destruction, so `durus-bdb stop` can tell
  // when the storage is really closed.
  void Wait();

  void Shutdown();
  // Async-signal-safe form of Shutdown().
  void SignalStop();

  void CloseListener() { listener_.Close(); }

  // "127.0.0.1:2972" or the socket path; valid after Start().
  const std::string& address() const { return listener_.description(); }
  int port() const { return listener_.port(); }
  // Why the server stopped ("quit by client 3", "signal", ...).
  std::string stop_reason() const;
  // The counters (as published in the status file).
  ServerFigures figures() const;

 private:
  struct Client;
  struct CommitWaiter;
  // Where a connection is in a commit (see HandleCommit in server.cc).
  enum class CommitPhase : uint8_t {
    kNone,    // between requests, or serving one
    kQueued,  // waiting for the commit token, claimed but unserved
    kList,    // holds the token; its invalidation list not fully sent
    kData,    // holds the token (or had it); waiting for the client's data
  };
  // What a request left the connection as.
  enum class Outcome { kKept, kDropped, kSuspended /* in the token queue */ };
  struct TokenWaiter {
    Client* c = nullptr;
    CommitWaiter* sync = nullptr;  // a worker waiting in AcquireTokenSync
  };
  struct WorkerBatch;
  struct WorkerSlot;
  static constexpr int kMaxBatch = 8;
  static thread_local WorkerBatch* tls_batch;  // the calling worker's batch
  static thread_local WorkerSlot* tls_slot;    // the calling worker's slot

  void WorkerLoop(int index);
  // Active-worker accounting (ServerOptions::active_threads).  A request
  // runs between BeginRequest and EndRequest; GoOut() says the calling
  // worker is about to block and stops counting it until EndRequest.
  void BeginRequest();
  void EndRequest();
  void GoOut();
  // One worker fewer counts as active: wake a parked one if below the cap.
  void LeaveActive();
  // At the top of the worker loop: park while more workers are active
  // than allowed.
  void MaybePark();
  // Presumes workers stuck in one request for stall_s blocked, keeps the
  // commit grace period and data deadline, and sets limit_.
  void MonitorLoop();
  // Change the cap on active workers, waking parked ones if it rose.
  void SetLimit(int limit);
  // Pass this worker's not-yet-served ready connections to other workers.
  void HandOffBatch();
  // The blocking hook: about to wait on `stream` (see SocketStream).
  void BeforeBlocking(SocketStream* stream);
  // Take claimed `c` out of epoll's interest until Serve releases it:
  // bytes expected within the current request then wake no other worker.
  void Disarm(Client* c);
  // Register a connection the acceptor accepted (its thread).
  void AddClient(int fd, const PeerInfo& peer);
  // An event for connection `id`: claim it and serve it, or mark it
  // pending if another worker is serving it (which then looks again).
  void OnClientEvent(uint64_t id);
  // Claim connection `id` (idle -> busy); if busy and `mark_pending`,
  // mark it pending.  Returns the claimed connection or nullptr.
  Client* TryClaim(uint64_t id, bool mark_pending);
  // Hand connection `id` (released) to a worker through the ready queue.
  void QueueReady(uint64_t id);
  // Serve requests from claimed `c` until its socket is drained; then
  // release it, or drop it.
  void Serve(Client* c);
  // One request; kDropped: the client was dropped (already logged).
  Outcome Dispatch(Client* c, uint8_t cmd);
  bool HandleVersion(Client* c);
  bool HandleNewOids(Client* c, int count);
  bool HandleLoad(Client* c);
  bool HandleBulkLoad(Client* c);
  // Before dispatching a load of `c` (its bytes buffered): if `c`
  // recently lost a commit and the oid is leased to another client, park
  // the connection in the lease table and return true (then `c` is the
  // lease thread's: not to be touched, nor released).
  bool MaybeParkLoad(Client* c);
  // The lease thread: hands released parked loads back to the workers.
  void LeaseLoop();
  // Before reading oids[0..n) for `c`: wait for the commits in flight on
  // them (InflightTable).  False: answer 'I' for all of them.
  bool SettleInflight(Client* c, const Oid* oids, size_t n);
  // Take `bytes` of the request budget for `c` (dropping it on failure).
  bool AcquireRequestBytes(Client* c, uint64_t bytes, const char* what);
  Outcome HandleCommit(Client* c);
  // Phase kList: send the rest of the list, then enter kData.
  bool ContinueListSend(Client* c);
  // Phase kData with bytes buffered: read the commit and finish it.
  bool ContinueCommit(Client* c);
  void EnterDataPhase(Client* c);
  bool HandleSync(Client* c);
  bool HandlePack(Client* c);
  // The token for a commit whose grace period passed (false: stopping).
  bool AcquireTokenSync(CommitWaiter* w);
  // If `holder` holds the token (and, for `grace_expired`, is still
  // waiting for its client), pass it to the next in line.
  void ReleaseToken(Client* holder, bool grace_expired = false);
  // Drain c's invalid set into c->reply as an int4-counted oid list.
  void PrepareCommitList(Client* c, size_t* n_invalid);

  // Storage::Sync() results into every client's invalid set.  Requires
  // publish_mu_.
  void PublishCollectedLocked();
  // Move `c`'s invalid set out, leaving the in-flight oids in it.
  // Requires publish_mu_.
  std::vector<Oid> DrainInvalidLocked(Client* c);

  bool Read(Client* c, std::string* out, size_t n, Deadline deadline, const char* what);
  bool Write(Client* c, const std::string& data, Deadline deadline, const char* what);
  Deadline RequestDeadline(uint64_t payload_bytes) const;
  void Drop(Client* c, LogLevel level, const std::string& why);
  void RequestStop(const std::string& reason);

  Storage* const storage_;
  const ServerOptions options_;
  Logger* const log_;
  Listener listener_;
  Acceptor acceptor_;
  int epoll_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: readable once the server is stopping
  int ready_fd_ = -1;  // eventfd (semaphore): one count per handed-off client
  int batch_size_ = 1;
  std::mutex ready_mu_;
  std::deque<uint64_t> ready_;  // ids of handed-off ready connections
  // id -> connection, for epoll events (which carry ids).  A connection is
  // erased (exclusive lock) before it is destroyed; an event's claim runs
  // under the shared lock.  Only the worker that has claimed a connection
  // drops it.
  std::shared_mutex conns_mu_;
  std::unordered_map<uint64_t, Client*> conns_;
  std::vector<std::thread> workers_;
  std::thread monitor_;
  std::thread lease_thread_;
  std::mutex monitor_mu_;  // for monitor_cv_ only
  std::condition_variable monitor_cv_;  // wakes the monitor to stop
  int max_active_ = 1;  // active_threads (or the CPUs)
  // The current cap: max_active_, or fewer if fewer clients kept the
  // server busy in the monitor's last window (MonitorLoop).
  std::atomic<int> limit_{1};
  std::atomic<uint64_t> window_{1};
  std::atomic<int> window_clients_{0};  // clients served in this window
  std::atomic<int> active_{0};  // workers neither parked nor counted out
  std::unique_ptr<WorkerSlot[]> slots_;
  std::mutex park_mu_;
  std::condition_variable park_cv_;
  int parked_ = 0;  // parked and not yet granted (guarded by park_mu_)
  int grants_ = 0;  // wake-ups granted, not yet taken (guarded by park_mu_)
  std::atomic<bool> stopping_{false};
  mutable std::mutex stop_mu_;
  std::string stop_reason_;

  // The commit token (see HandleCommit): held from sending a committer its
  // invalidations until its oids are published.  token_mu_ guards the
  // fields below; it is never held across I/O.
  // Lock order: token_mu_ -> publish_mu_ -> Client::mu.
  std::mutex token_mu_;
  Client* token_holder_ = nullptr;
  // The holder is waiting for its client: the grace period applies.
  bool token_graceable_ = false;
  Clock::time_point token_granted_at_;
  std::deque<TokenWaiter> token_waiters_;
  // Connections in phase kData and their deadline for the commit data.
  std::unordered_map<Client*, Deadline> awaiting_;
  // Lock order: conns_mu_ and publish_mu_ are never held together.
  // Guards clients_ membership, inflight_, and every publication into or
  // drain of an invalid set.
  mutable std::mutex publish_mu_;
  std::unordered_map<uint64_t, std::unique_ptr<Client>> clients_;
  uint64_t next_client_id_ = 1;
  // Oids of commits published but not yet returned from Storage::Commit;
  // added under publish_mu_ (see DrainInvalidLocked).
  InflightTable inflight_;
  // Leases of hot objects and the loads parked on them (see above).
  LeaseTable leases_;
  RequestBudget budget_;

  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> commit_conflicts_{0};  // abandoned by the client or refused
  std::atomic<uint64_t> commits_refused_{0};   // answered 'I'
  std::atomic<uint64_t> load_conflicts_{0};    // oids answered 'I' to L and B
  std::atomic<uint64_t> grace_expired_{0};
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_SERVER_H_
