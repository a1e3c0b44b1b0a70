// Acceptor: the thread that accepts client connections.
//
// Accepting has a thread of its own, so it never waits behind a client: a
// worker may wait up to --idle-timeout for the rest of a slow client's
// request, and when the listening socket was an epoll event like the
// clients' ones, a worker that took it in the same batch as such a client
// accepted nobody meanwhile (issue 12).
//
// It also guards the descriptors.  A client costs one; Berkeley DB needs
// more as it runs (a new log file, the trace's marks database), and when
// it cannot get one it fails for good (DB_RUNRECOVERY).  So the server
// serves at most `max_clients` connections: by default what RLIMIT_NOFILE
// leaves after the descriptors open at start and a reserve for the
// storage (ClientBudget).  Past that, a new connection is accepted and
// closed at once (the client sees the connection closed; a Durus client
// raises an error instead of hanging), with one log line when the limit is
// reached and one when a tenth of the room is free again (clients coming
// and going at the limit make one episode, not two lines per departure).  Should accept()
// still fail for want of descriptors (EMFILE, ENFILE, ...), the acceptor
// logs it once, stops accepting and tries again when a client leaves (or
// after a second).  Connected clients are served throughout.
//
// A TCP peer outside the --allow-from ranges is closed at accept, before a
// byte is read (server/access.h), with a log line (at most one a second;
// the others counted in the next).
//
// Ownership: borrows the listening and stop descriptors and the logger;
// owns its thread and an eventfd.
// Threading: Start/Join from the server's thread; Released() from any.
#ifndef DURUS_BDB_SERVER_ACCEPTOR_H_
#define DURUS_BDB_SERVER_ACCEPTOR_H_

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>
#include <thread>

#include "engine/status.h"
#include "server/access.h"
#include "server/log.h"
#include "server/socket_stream.h"

namespace durus::server {

// How many client connections the descriptor limit allows: the soft
// RLIMIT_NOFILE, minus the descriptors open now, minus `reserve`; at
// least 1.  `requested` (> 0) caps it.  *how says where the figure comes
// from, for the log.
size_t ClientBudget(size_t requested, size_t reserve, std::string* how);

// Raises the soft RLIMIT_NOFILE to the hard limit (for `durus-bdb serve`;
// the server uses poll and epoll, never select).  Returns the new soft
// limit, or 0 if unchanged.
size_t RaiseDescriptorLimit();

class Acceptor {
 public:
  // Registers an accepted connection (the server's clients); owns `fd`
  // from then on and calls Released() once it is closed.
  using AddFn = std::function<void(int fd, const PeerInfo& peer)>;

  explicit Acceptor(Logger* log) : log_(log) {}
  ~Acceptor() { Join(); }
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // Starts accepting on `listen_fd` until `stop_fd` becomes readable.
  Status Start(int listen_fd, bool is_unix, std::string listen_desc, int stop_fd,
               const AccessPolicy* policy, size_t max_clients, AddFn add);
  void Join();

  // A connection handed to AddFn has been closed.
  void Released();

  size_t max_clients() const { return max_clients_; }

 private:
  void Loop();
  // Accepts until the backlog is empty; false: out of descriptors (pause).
  bool AcceptReady();

  Logger* const log_;
  int listen_fd_ = -1;
  bool is_unix_ = false;
  std::string listen_desc_;
  int stop_fd_ = -1;
  int released_fd_ = -1;  // eventfd: a client left while paused
  const AccessPolicy* policy_ = nullptr;
  size_t max_clients_ = 0;
  AddFn add_;
  std::thread thread_;

  std::atomic<size_t> open_{0};      // connections handed to add_, not yet released
  std::atomic<bool> paused_{false};  // accept() failed for want of descriptors
  // Acceptor thread only.
  bool at_limit_ = false;  // refusing: max_clients_ connections open
  uint64_t refused_ = 0;   // connections refused in the current episode
  Clock::time_point last_denied_log_{};
  uint64_t denied_unlogged_ = 0;
};

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_ACCEPTOR_H_
