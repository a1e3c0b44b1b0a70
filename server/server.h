// Server: a Durus protocol-1 storage server over any durus::Storage.
//
// Unmodified Durus clients (durus.client_storage.ClientStorage) talk to it
// exactly as to Durus's own StorageServer (../shared/DESIGN.md §2); the
// difference is that requests from different clients run in parallel.
// This header is the whole public surface: the options and the server's
// life (Start, Wait, Shutdown).  The parts behind it (server_impl.h lists
// them, doc/server.md explains them):
//  - a worker pool (worker_pool.h): epoll, connections claimed by one
//    worker at a time, the cap on running workers, the stall monitor;
//  - sessions (session.h): one handler per command byte;
//  - the commit sequencer (commit_sequencer.h): commits are validated one
//    at a time, under a token held from sending the client its
//    invalidations until its oids are published, with a grace period for
//    slow clients;
//  - the invalidation table (invalidation_table.h): per client its invalid
//    and unused oids, and the commits in flight (degree-3 isolation with
//    parallel loads);
//  - the lease table (hot objects), the request budget (memory), the
//    acceptor (its own thread; --allow-from, descriptors), access.h (Q per
//    --allow-stop, --read-only).
// Storage::Commit runs outside the server's locks: the storage applies
// commits one at a time and, in sync mode, lets concurrent committers
// share one log fsync (group commit); 'O' is sent once Commit returned.
// A malformed frame, an unknown command, an oversized length, a client
// vanishing or stalling mid-request drops that client (log line); nothing
// of an incomplete commit is stored.
//
// Ownership: the server borrows `storage` (the caller closes it after
// Wait() returns) and owns its sockets and threads.
// Threading: Start/Wait from one thread; Shutdown from any thread;
// SignalStop from a signal handler.
#ifndef DURUS_BDB_SERVER_SERVER_H_
#define DURUS_BDB_SERVER_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/status.h"
#include "engine/storage.h"
#include "server/acceptor.h"  // RaiseDescriptorLimit, for `serve`
#include "server/access.h"
#include "server/listener.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/server_status.h"

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
  // data before continuing optimistically (commit_sequencer.h); then a log line.  A
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

class ServerImpl;

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

  void CloseListener();

  // "127.0.0.1:2972" or the socket path; valid after Start().
  const std::string& address() const;
  int port() const;
  // Why the server stopped ("quit by client 3", "signal", ...).
  std::string stop_reason() const;
  // The counters (as published in the status file).
  ServerFigures figures() const;
  // Requests by command, bytes in and out, load and commit latencies
  // (server/metrics.h); for monitoring (server/http/).
  const ServerMetrics& metrics() const;
  // True from the moment a stop is requested (Q, Shutdown, a signal).
  bool stopping() const;

 private:
  std::unique_ptr<ServerImpl> impl_;
};

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_SERVER_H_
