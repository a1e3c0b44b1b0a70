// WorkerPool: the threads that serve connections, and nothing of Durus.
// (Internal to server/; the public surface is server/server.h.)
//
// A pool of worker threads waits on one epoll set.  Connections are
// registered edge-triggered and never re-armed: a worker that gets an
// event for a connection claims it (Connection::state: idle, busy, busy
// with an event pending) and hands it to the ConnectionHandler, which
// serves every request it finds until the socket is drained and then
// calls Release; an event that finds the connection busy marks it pending
// and Release reports that, so the handler looks again.  So exactly one
// worker serves a connection at a time, in order, idle connections hold
// no thread, and a request costs no epoll system call besides the wait.
// Events name connections by id (looked up under conns_mu_), so a stale
// event for a removed connection is ignored.  While its worker waits in
// poll for more of a request (the blocking hook, socket_stream.h) a
// connection is taken out of the epoll interest (Disarm) and put back by
// Release, so those bytes wake no other worker.
//
// Active workers: only `max_active` run at once outside blocking waits,
// and no more than the connections served in the last 100 ms window; the
// others park (MaybePark).  A worker about to block (GoOut, or the
// blocking hook) stops counting and wakes a parked one if fewer than
// limit - 1 are left running.  The pool's monitor thread presumes a
// worker blocked after `stall` in one request, adjusts the limit once per
// window, and calls the handler's OnTick (the server's own periodic jobs).
// A worker takes up to `batch` ready connections per wake-up; before
// anything that may block it hands the rest to other workers through the
// ready queue (HandOff).
//
// Code: worker_pool.cc (epoll, claiming, the ready queue),
// worker_pacing.cc (parking, the active-worker accounting, the monitor).
// Ownership: the pool owns the registered connections (Remove destroys
// one; Stop's caller destroys the rest with CloseAll).  Threading: every
// method is thread-safe; a connection is touched only by the worker that
// claimed it (or by whoever claimed it with TryClaim).
// Lock order: conns_mu_, ready_mu_, park_mu_ and monitor_mu_ are leaves:
// none is held while another lock is taken or a handler runs.
#ifndef DURUS_BDB_SERVER_WORKER_POOL_H_
#define DURUS_BDB_SERVER_WORKER_POOL_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/status.h"
#include "server/log.h"
#include "server/socket_stream.h"
#include "util/mutex.h"

namespace durus::server {

// A connection as the pool sees it; the handler's type derives from it.
struct Connection {
  Connection(uint64_t id_, int fd, int stop_fd) : id(id_), io(fd, stop_fd) {}
  virtual ~Connection() = default;

  const uint64_t id;  // never 0 (epoll tags)
  SocketStream io;    // used only by the worker that claimed the connection
  // kIdle, kBusy (claimed), kPending (claimed, and an event arrived since).
  // Claimed with acquire and released with release, so one owner's writes
  // are visible to the next.
  std::atomic<uint32_t> state{0};
  // Owner only: out of the epoll interest while the owner waits in poll.
  bool disarmed = false;
  uint64_t seen_window = 0;  // the monitor's last window this was served in
};

class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // Serve claimed `c` until its socket is drained, then WorkerPool::Release
  // it (or Remove it, or keep it claimed for someone else to release).
  virtual void Serve(Connection* c) = 0;
  // Called by the monitor thread every tick (WorkerPoolOptions::tick).
  virtual void OnTick(Clock::time_point now) = 0;
  // A worker failed for good (epoll_wait: already logged): stop.
  virtual void OnFatal() = 0;
};

struct WorkerPoolOptions {
  int threads = 16;
  int batch = 4;          // ready connections per wake-up (1..kMaxBatch)
  int max_active = 1;     // workers running at once outside blocking waits
  Clock::duration stall;  // one request this long: presumed blocked
  Clock::duration tick;   // the monitor's period
};

class WorkerPool {
 public:
  static constexpr int kMaxBatch = 8;
  static constexpr uint32_t kIdle = 0;
  static constexpr uint32_t kBusy = 1;
  static constexpr uint32_t kPending = 2;

  WorkerPool(ConnectionHandler* handler, Logger* log);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // The stop descriptor (an eventfd): readable once the pool is stopping.
  // Valid after Open; connections' streams watch it.
  Status Open();
  int stop_fd() const { return stop_fd_; }
  void StartThreads(const WorkerPoolOptions& options) EXCLUDES(park_mu_);
  // Async-signal-safe: makes the stop descriptor readable.
  void SignalStop();
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  const std::atomic<bool>& stop_flag() const { return stopping_; }
  // Joins the workers, then the monitor (after SignalStop).
  void Join() EXCLUDES(park_mu_, monitor_mu_);
  // Destroys every connection still registered; returns how many.
  size_t CloseAll() EXCLUDES(conns_mu_);
  size_t size() const EXCLUDES(conns_mu_);

  // Registers `c` (claimed by the caller: state kBusy) and adds it to the
  // epoll set; false on failure (then `c` is registered, still claimed:
  // Remove it).  Release it to let the workers serve it.
  bool Add(std::unique_ptr<Connection> c) EXCLUDES(conns_mu_);
  // Takes claimed `c` out of epoll and destroys it: after this no event
  // can claim it.  `before_destroy` runs once it is unregistered.
  template <typename Fn>
  void Remove(Connection* c, Fn before_destroy) EXCLUDES(conns_mu_);

  // Claims connection `id` (idle -> busy); if busy and `mark_pending`,
  // marks it pending.  Returns the claimed connection or nullptr.
  Connection* TryClaim(uint64_t id, bool mark_pending) EXCLUDES(conns_mu_);
  // The registered connection `id` without claiming it, or nullptr: for a
  // caller that holds its claim by other means (a parked connection).
  Connection* Find(uint64_t id) EXCLUDES(conns_mu_);
  enum class Released { kReleased, kPending, kError };
  // Back into epoll's interest if disarmed, then busy -> idle.  kPending:
  // an event came meanwhile, `c` stays claimed (look again); kError: it
  // could not be re-armed (errno; still claimed).  After kReleased `c` may
  // belong to another worker.
  Released Release(Connection* c);
  // Releases `c` (claimed, unserved: its bytes may be buffered already)
  // and hands it to a worker if `kick`, an event came, or it was disarmed.
  void ReleaseAndKick(Connection* c, bool kick);
  // Back into epoll's interest (claimed `c`); false on failure.
  bool Rearm(Connection* c);
  // Hand connection `id` (released) to a worker through the ready queue.
  void QueueReady(uint64_t id) EXCLUDES(ready_mu_);
  // The calling worker's not-yet-served ready connections go to others.
  void HandOff() EXCLUDES(ready_mu_);

  // Active-worker accounting.  A request runs between BeginRequest and
  // EndRequest; GoOut() says the calling worker is about to block and
  // stops counting it until EndRequest.  No-ops outside the workers.
  void BeginRequest();
  void EndRequest();
  void GoOut() EXCLUDES(park_mu_);

 private:
  struct Batch;
  // A worker's request state.  Written by its worker (BeginRequest,
  // EndRequest, GoOut) and by the monitor (presuming it blocked); whoever
  // sets the "out" flag does the accounting.
  struct alignas(64) Slot {
    std::atomic<uint64_t> word{0};  // (request sequence << 2) | flags
    uint64_t seq = 0;               // the worker's own copy of the sequence
    // Worker only: back from a request it was counted out of.  It may then
    // wait on epoll once more before parking (one over the cap): the next
    // request is often another commit that takes it out again, and
    // parking in between would cost two context switches.
    bool back = false;
  };

  void WorkerLoop(int index) EXCLUDES(park_mu_, ready_mu_);
  void OnEvent(uint64_t id);
  void BeforeBlocking(SocketStream* stream);
  void Disarm(Connection* c);
  void Unwatch(Connection* c);  // out of the epoll set for good
  // The monitor thread: its three jobs each tick.
  void MonitorLoop() EXCLUDES(monitor_mu_);
  void AdjustLimit(Clock::time_point now) EXCLUDES(park_mu_);
  void PresumeStalled(Clock::time_point now, std::vector<uint64_t>* last,
                      std::vector<Clock::time_point>* since) EXCLUDES(park_mu_);
  // One worker fewer counts as active: wake a parked one if below the cap.
  void LeaveActive() EXCLUDES(park_mu_);
  // At the top of the worker loop: park while more workers are active
  // than allowed.
  void MaybePark() EXCLUDES(park_mu_);
  void SetLimit(int limit) EXCLUDES(park_mu_);
  void WakeAllParked() EXCLUDES(park_mu_);

  static thread_local Batch* tls_batch;         // the calling worker's batch
  static thread_local Slot* tls_slot;           // the calling worker's slot
  static thread_local Connection* tls_serving;  // claimed by the calling worker

  ConnectionHandler* const handler_;
  Logger* const log_;
  WorkerPoolOptions options_;
  int epoll_fd_ = -1;
  int stop_fd_ = -1;   // eventfd: readable once the pool is stopping
  int ready_fd_ = -1;  // eventfd (semaphore): one count per handed-off id
  std::atomic<bool> stopping_{false};

  util::Mutex ready_mu_;
  std::deque<uint64_t> ready_ GUARDED_BY(ready_mu_);  // handed-off ids
  // id -> connection, for epoll events (which carry ids).  A connection is
  // erased before it is destroyed; a claim runs under the lock, so only
  // the claimer can remove the connection afterwards.
  mutable util::Mutex conns_mu_;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> conns_ GUARDED_BY(conns_mu_);

  std::vector<std::thread> workers_;
  std::thread monitor_;
  util::Mutex monitor_mu_;    // for monitor_cv_ only
  util::CondVar monitor_cv_;  // wakes the monitor to stop
  // The current cap: max_active, or fewer if fewer connections kept the
  // pool busy in the monitor's last window (AdjustLimit).
  std::atomic<int> limit_{1};
  std::atomic<uint64_t> window_{1};
  std::atomic<int> window_conns_{0};  // connections served in this window
  Clock::time_point window_start_;    // monitor thread only
  std::atomic<int> active_{0};        // workers neither parked nor counted out
  std::unique_ptr<Slot[]> slots_;
  util::Mutex park_mu_;
  util::CondVar park_cv_;
  int parked_ GUARDED_BY(park_mu_) = 0;  // parked and not yet granted
  int grants_ GUARDED_BY(park_mu_) = 0;  // wake-ups granted, not yet taken
};

template <typename Fn>
void WorkerPool::Remove(Connection* c, Fn before_destroy) {
  Unwatch(c);
  std::unique_ptr<Connection> owned;
  {
    // After this no event can claim `c`; a claim in progress has finished.
    util::MutexLock l(&conns_mu_);
    auto it = conns_.find(c->id);
    if (it != conns_.end()) {
      owned = std::move(it->second);
      conns_.erase(it);
    }
  }
  before_destroy();
  owned.reset();  // closes the socket
}

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_WORKER_POOL_H_
