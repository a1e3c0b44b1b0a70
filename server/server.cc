#include "server/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <condition_variable>
#include <cstring>
#include <unordered_set>

#include "engine/record.h"
#include "server/protocol.h"
#include "server/socket_stream.h"
#include "server/unused_oids.h"

namespace durus::server {

struct Server::Client {
  Client(uint64_t id_, std::string peer_, bool may_stop_, int fd, int stop_fd)
      : id(id_), peer(std::move(peer_)), may_stop(may_stop_), io(fd, stop_fd), connected_at(Clock::now()) {}

  const uint64_t id;
  const std::string peer;
  const bool may_stop;  // Q honoured (ServerOptions::access.allow_stop)
  SocketStream io;  // used only by the worker serving this client
  std::string reply;  // reply buffer, reused across requests
  uint64_t requests = 0;
  uint64_t commits = 0;
  const Clock::time_point connected_at;
  // Who serves the connection (see server.h): kIdle, kBusy (claimed by a
  // worker), kPending (claimed, and an event arrived since).  Claimed with
  // acquire and released with release, so one owner's writes to the
  // fields above are visible to the next.
  std::atomic<uint32_t> state{0};
  // Owner only: taken out of the epoll interest while the owner waits in
  // poll for more of a request.
  bool disarmed = false;
  // The commit in progress (see HandleCommit): touched by the owner, or
  // while kQueued by the token's granter.
  CommitPhase phase = CommitPhase::kNone;
  uint64_t seen_window = 0;  // the monitor's last window this client was served in
  Clock::time_point commit_t0;  // 'C' received
  size_t list_sent = 0;         // bytes of the invalidation list (reply) sent
  size_t n_invalid = 0;
  // Hot objects (LeaseTable): until when this client counts as one that
  // lost a commit (its loads of oids leased to others are parked), and a
  // pass for the load just released from parking (not parked again).  A
  // parked load that reached lease_max_wait_s ends the client's contender
  // time: its next attempt races the writer as without leases (so a
  // writer that never pauses cannot starve it: once it wins, the writer is
  // the one that lost), and its next conflict makes it a contender again.
  Clock::time_point contender_until{};
  bool lease_pass = false;

  // Touched by other clients' committers and syncs: guarded by mu.
  std::mutex mu;
  std::unordered_set<Oid> invalid;      // oids to report at the next S or C
  UnusedOids unused_oids;  // handed out by N/M, not yet committed
};

namespace {

// epoll event tags (epoll_event::data.u64).  Client ids start at 1.
constexpr uint64_t kHandedOffTag = 0;  // a batch slot passed to another worker
constexpr uint64_t kStopTag = ~uint64_t{0};
constexpr uint64_t kReadyTag = ~uint64_t{0} - 2;

constexpr uint32_t kIdle = 0;
constexpr uint32_t kBusy = 1;
constexpr uint32_t kPending = 2;

// Edge-triggered read interest; EPOLLRDHUP also reports a half-close.
constexpr uint32_t kArmedEvents = EPOLLIN | EPOLLRDHUP | EPOLLET;

// The connection the calling worker is serving (for the blocking hook).
thread_local void* tls_serving = nullptr;

// WorkerSlot::word: (request sequence << 2) | flags.
constexpr uint64_t kInRequest = 1;
constexpr uint64_t kOut = 2;  // not counted as active until the request ends

// How long a client that lost a commit (abandoned after its invalidation
// list, or refused) counts as a contender for hot objects: its loads of
// oids leased to others are parked (LeaseTable).  Its next successful
// commit ends it sooner.  Clients that never lose a commit (readers) are
// never parked.
constexpr auto kContenderMemory = std::chrono::seconds(1);

double MillisSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

Server::Server(Storage* storage, ServerOptions options, Logger* logger)
    : storage_(storage),
      options_(std::move(options)),
      log_(logger),
      acceptor_(logger),
      budget_(options_.max_request_memory) {}

Server::~Server() {
  if (!workers_.empty()) {
    Shutdown();
    Wait();
  }
  listener_.Close();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (ready_fd_ >= 0) ::close(ready_fd_);
}

Status Server::Start() {
  if (options_.threads < 1) return Status::InvalidArgument("--threads must be at least 1");
  DURUS_RETURN_IF_ERROR(listener_.Open(options_.listen));
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (stop_fd_ < 0 || epoll_fd_ < 0) return Status::IOError(std::string("epoll/eventfd: ") + strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: every worker sees it and exits
  ev.data.u64 = kStopTag;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev) != 0) {
    return Status::IOError(std::string("epoll_ctl: ") + strerror(errno));
  }
  ready_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE);
  ev.events = EPOLLIN;  // level-triggered: one read per handed-off client
  ev.data.u64 = kReadyTag;
  if (ready_fd_ < 0 || ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, ready_fd_, &ev) != 0) {
    return Status::IOError(std::string("ready eventfd: ") + strerror(errno));
  }
  batch_size_ = std::max(1, std::min(options_.batch, kMaxBatch));
  max_active_ = options_.active_threads > 0 ? options_.active_threads
                                            : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  limit_.store(1);  // until the monitor has seen more than one client at work
  slots_ = std::make_unique<WorkerSlot[]>(static_cast<size_t>(options_.threads));
  active_.store(options_.threads);  // the surplus parks at its first loop
  for (int i = 0; i < options_.threads; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
  monitor_ = std::thread([this] { MonitorLoop(); });
  lease_thread_ = std::thread([this] { LeaseLoop(); });
  std::string how;
  const size_t max_clients = ClientBudget(options_.max_clients, options_.fd_reserve, &how);
  DURUS_RETURN_IF_ERROR(acceptor_.Start(listener_.fd(), listener_.is_unix(), listener_.description(), stop_fd_,
                                        &options_.access, max_clients,
                                        [this](int fd, const PeerInfo& peer) { AddClient(fd, peer); }));
  const std::string exposure = ExposureWarning(options_.access, listener_.fd(), listener_.description());
  if (!exposure.empty()) log_->Log(LogLevel::kWarn, "%s", exposure.c_str());
  log_->Log(LogLevel::kInfo, "serving up to %zu clients (%s); quit (Q) honoured from %s", max_clients,
            how.c_str(),
            options_.access.allow_stop == StopPolicy::kLocal ? "this machine only"
            : options_.access.allow_stop == StopPolicy::kAny ? "any client"
                                                             : "no client");
  // Last: scripts and tests wait for this line.
  log_->Log(LogLevel::kInfo, "ready on %s (storage %s, %d threads%s)", listener_.description().c_str(),
            storage_->Describe().c_str(), options_.threads, options_.read_only ? ", read-only" : "");
  return Status::OK();
}

void Server::RequestStop(const std::string& reason) {
  {
    std::lock_guard<std::mutex> l(stop_mu_);
    if (stop_reason_.empty()) stop_reason_ = reason;
  }
  SignalStop();
}

void Server::Shutdown() { RequestStop("shutdown requested"); }

void Server::SignalStop() {
  stopping_.store(true);
  if (stop_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t w = ::write(stop_fd_, &one, sizeof(one));
    (void)w;  // EAGAIN only if the counter is saturated: already signalled
  }
}

ServerFigures Server::figures() const {
  ServerFigures f;
  {
    std::lock_guard<std::mutex> l(publish_mu_);
    f.clients = clients_.size();
  }
  f.commits = commits_.load();
  f.commit_conflicts = commit_conflicts_.load();
  f.commits_refused = commits_refused_.load();
  f.load_conflicts = load_conflicts_.load();
  f.load_waits = inflight_.waits();
  f.grace_expired = grace_expired_.load();
  f.dropped = dropped_.load();
  f.request_bytes = budget_.in_use();
  return f;
}

std::string Server::stop_reason() const {
  std::lock_guard<std::mutex> l(stop_mu_);
  return stop_reason_.empty() ? "signal" : stop_reason_;
}

void Server::Wait() {
  for (auto& t : workers_) t.join();
  workers_.clear();
  acceptor_.Join();  // adds no client after this
  {
    std::lock_guard<std::mutex> l(park_mu_);
  }
  park_cv_.notify_all();
  {
    std::lock_guard<std::mutex> l(monitor_mu_);
  }
  monitor_cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
  // Parked loads are not served any more: their connections are closed
  // below with the others.
  leases_.Stop();
  if (lease_thread_.joinable()) lease_thread_.join();
  size_t open;
  {
    std::unique_lock<std::shared_mutex> c(conns_mu_);
    conns_.clear();
  }
  {
    std::lock_guard<std::mutex> l(token_mu_);
    token_waiters_.clear();
    awaiting_.clear();
    token_holder_ = nullptr;
  }
  {
    std::lock_guard<std::mutex> l(publish_mu_);
    open = clients_.size();
    clients_.clear();  // closes the sockets
  }
  if (!options_.status_path.empty()) RemoveServerStatus(options_.status_path);
  log_->Log(LogLevel::kInfo,
            "stopped (%s): closed %zu client connections; %" PRIu64 " commits, %" PRIu64
            " commit conflicts (%" PRIu64 " refused by the server), %" PRIu64
            " loads answered I (%" PRIu64 " waited for a commit in flight, %" PRIu64
            " for a hot object's writer), %" PRIu64 " clients dropped",
            stop_reason().c_str(), open, commits_.load(), commit_conflicts_.load(),
            commits_refused_.load(), load_conflicts_.load(), inflight_.waits(), leases_.parked(),
            dropped_.load());
}

// The events one worker took from one epoll_wait.  Taking several at once
// saves a wake-up per request under load; but a request that may block
// (a commit, a slow client) first hands the rest to other workers through
// the ready queue (HandOffBatch), so nobody waits behind it.
struct Server::WorkerBatch {
  Server* server;
  epoll_event events[kMaxBatch];
  int n = 0;
  int next = 0;
};

thread_local Server::WorkerBatch* Server::tls_batch = nullptr;

// Written by its worker (BeginRequest, EndRequest, GoOut) and by the
// monitor (presuming it blocked); whoever sets kOut does the accounting.
struct alignas(64) Server::WorkerSlot {
  std::atomic<uint64_t> word{0};
  uint64_t seq = 0;  // the worker's own copy of the sequence
  // Worker only: back from a request it was counted out of.  It may then
  // wait on epoll once more before parking (one over the cap): the next
  // request is often another commit that takes it out again, and parking
  // in between would cost two context switches.
  bool back = false;
};

thread_local Server::WorkerSlot* Server::tls_slot = nullptr;

void Server::BeginRequest() {
  WorkerSlot* s = tls_slot;
  if (s == nullptr) return;
  ++s->seq;
  // No flag is set between requests, so the monitor cannot race this.
  s->word.store((s->seq << 2) | kInRequest, std::memory_order_relaxed);
}

void Server::EndRequest() {
  WorkerSlot* s = tls_slot;
  if (s == nullptr) return;
  uint64_t old = s->word.exchange(s->seq << 2, std::memory_order_acq_rel);
  if (old & kOut) {
    active_.fetch_add(1, std::memory_order_acq_rel);
    s->back = true;
  }
}

void Server::GoOut() {
  WorkerSlot* s = tls_slot;
  if (s == nullptr) return;
  uint64_t w = s->word.load(std::memory_order_relaxed);
  while ((w & kInRequest) && !(w & kOut)) {
    if (s->word.compare_exchange_weak(w, w | kOut, std::memory_order_acq_rel)) {
      LeaveActive();
      return;
    }
  }
}

void Server::LeaveActive() {
  // Below the limit by one is left as it is (a worker back from blocking
  // soon fills the place); by two, or none left, a parked one is woken.
  const int min_active = std::max(1, limit_.load(std::memory_order_relaxed) - 1);
  if (active_.fetch_sub(1, std::memory_order_acq_rel) - 1 >= min_active) return;
  std::lock_guard<std::mutex> l(park_mu_);
  if (parked_ > 0 && active_.load(std::memory_order_acquire) < min_active) {
    --parked_;
    ++grants_;
    active_.fetch_add(1, std::memory_order_acq_rel);  // counted for the one woken
    park_cv_.notify_one();
  }
}

void Server::MaybePark() {
  int limit = limit_.load(std::memory_order_relaxed);
  if (WorkerSlot* s = tls_slot; s != nullptr && s->back) {
    s->back = false;
    ++limit;
  }
  if (active_.load(std::memory_order_relaxed) <= limit) return;
  std::unique_lock<std::mutex> l(park_mu_);
  if (active_.load(std::memory_order_acquire) <= limit || stopping_.load()) return;
  active_.fetch_sub(1, std::memory_order_acq_rel);
  ++parked_;
  park_cv_.wait(l, [this] { return grants_ > 0 || stopping_.load(); });
  if (grants_ > 0) {
    --grants_;  // the granter counted us active again
    return;
  }
  --parked_;  // stopping
  active_.fetch_add(1, std::memory_order_acq_rel);
}

void Server::SetLimit(int limit) {
  if (limit_.exchange(limit, std::memory_order_acq_rel) >= limit) return;  // surplus parks itself
  std::lock_guard<std::mutex> l(park_mu_);
  while (parked_ > 0 && active_.load(std::memory_order_acquire) < limit) {
    --parked_;
    ++grants_;
    active_.fetch_add(1, std::memory_order_acq_rel);
    park_cv_.notify_one();
  }
}

void Server::MonitorLoop() {
  const int n = options_.threads;
  std::vector<uint64_t> last(static_cast<size_t>(n), 0);
  std::vector<Clock::time_point> since(static_cast<size_t>(n), Clock::now());
  auto dur = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  const auto stall = dur(std::max(0.001, options_.stall_s));
  const auto grace = dur(std::max(0.0, options_.commit_grace_s));
  const auto period = std::clamp(std::min(stall, grace / 5), dur(0.001), dur(0.1));
  std::vector<uint64_t> expired;
  const auto window = dur(0.1);
  auto window_start = Clock::now();
  auto published_at = Clock::time_point();
  while (!stopping_.load()) {
    {
      std::unique_lock<std::mutex> l(monitor_mu_);
      monitor_cv_.wait_for(l, period, [this] { return stopping_.load(); });
    }
    const auto now = Clock::now();
    // How many workers may run: no more than the clients that kept the
    // server busy lately.  With one client, a second running worker only
    // takes its next request while the first is on its way back to epoll
    // (a wake-up per request instead of none).
    if (now - window_start >= window) {
      window_start = now;
      window_.fetch_add(1, std::memory_order_relaxed);
      int clients = window_clients_.exchange(0, std::memory_order_relaxed);
      SetLimit(std::clamp(clients, 1, max_active_));
    }
    // Live figures for `durus-bdb stat` (informational: errors ignored).
    if (!options_.status_path.empty() && now - published_at >= dur(1.0)) {
      published_at = now;
      WriteServerStatus(options_.status_path, figures()).IgnoreError();
    }
    // Workers stuck in one request without saying they block.
    for (int i = 0; i < n; ++i) {
      std::atomic<uint64_t>& word = slots_[i].word;
      uint64_t w = word.load(std::memory_order_acquire);
      if (w != last[i]) {
        last[i] = w;
        since[i] = now;
        continue;
      }
      if ((w & kInRequest) && !(w & kOut) && now - since[i] >= stall &&
          word.compare_exchange_strong(w, w | kOut, std::memory_order_acq_rel)) {
        last[i] = w | kOut;
        DURUS_LOG(*log_, kDebug, "worker %d busy in one request for %.0f ms: another takes its place", i,
                  options_.stall_s * 1000);
        LeaveActive();
      }
    }
    // A committer's client slow to answer its invalidation list.
    Client* slow = nullptr;
    {
      std::lock_guard<std::mutex> l(token_mu_);
      if (token_holder_ != nullptr && token_graceable_ && now - token_granted_at_ >= grace) {
        slow = token_holder_;
      }
    }
    if (slow != nullptr) ReleaseToken(slow, /*grace_expired=*/true);
    // A committer's client that did not answer within the deadline.
    expired.clear();
    {
      std::lock_guard<std::mutex> l(token_mu_);
      for (const auto& [c, d] : awaiting_) {
        if (now >= d) expired.push_back(c->id);
      }
    }
    for (uint64_t id : expired) {
      Client* c = TryClaim(id, /*mark_pending=*/false);
      if (c == nullptr) continue;  // being served: its worker keeps the deadline
      bool still;
      {
        std::lock_guard<std::mutex> l(token_mu_);
        auto it = awaiting_.find(c);
        still = it != awaiting_.end() && now >= it->second;
      }
      if (still) {
        Drop(c, LogLevel::kWarn, "timed out while reading the commit length (nothing stored)");
      } else if (c->state.exchange(kIdle, std::memory_order_acq_rel) == kPending) {
        QueueReady(id);
      }
    }
  }
}

void Server::HandOffBatch() {
  WorkerBatch* b = tls_batch;
  if (b == nullptr || b->next >= b->n) return;
  uint64_t moved = 0;
  {
    std::lock_guard<std::mutex> l(ready_mu_);
    for (int i = b->next; i < b->n; ++i) {
      uint64_t tag = b->events[i].data.u64;
      if (tag == kStopTag || tag == kReadyTag || tag == kHandedOffTag) continue;
      ready_.push_back(tag);
      b->events[i].data.u64 = kHandedOffTag;
      ++moved;
    }
  }
  if (moved > 0) {
    ssize_t w = ::write(ready_fd_, &moved, sizeof(moved));
    (void)w;  // an eventfd counter cannot overflow at these counts
  }
}

void Server::BeforeBlocking(SocketStream* stream) {
  HandOffBatch();
  GoOut();
  // The owner is about to wait in poll for bytes on its own connection:
  // take it out of epoll's interest meanwhile, so they wake nobody else.
  auto* c = static_cast<Client*>(tls_serving);
  if (c != nullptr && &c->io == stream) Disarm(c);
}

void Server::Disarm(Client* c) {
  if (c->disarmed) return;
  epoll_event ev{};
  ev.events = 0;
  ev.data.u64 = c->id;
  // On failure the connection stays armed: only extra wake-ups.
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->io.fd(), &ev) == 0) c->disarmed = true;
}

void Server::WorkerLoop(int index) {
  WorkerBatch batch;
  batch.server = this;
  tls_batch = &batch;
  tls_slot = &slots_[index];
  SetBlockingHook([](void* s, SocketStream* stream) { static_cast<Server*>(s)->BeforeBlocking(stream); },
                  this);
  while (true) {
    MaybePark();
    int n = ::epoll_wait(epoll_fd_, batch.events, batch_size_, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log_->Log(LogLevel::kError, "epoll_wait: %s", strerror(errno));
      RequestStop("internal error");
      return;
    }
    batch.n = n;
    for (batch.next = 0; batch.next < batch.n;) {
      const uint64_t tag = batch.events[batch.next++].data.u64;
      if (tag == kHandedOffTag) continue;
      if (tag == kStopTag) {
        // Parked workers cannot see the stop descriptor: wake them.
        {
          std::lock_guard<std::mutex> l(park_mu_);
        }
        park_cv_.notify_all();
        return;
      }
      if (tag == kReadyTag) {
        uint64_t one;
        if (::read(ready_fd_, &one, sizeof(one)) != sizeof(one)) continue;  // taken by another
        uint64_t id;
        {
          std::lock_guard<std::mutex> l(ready_mu_);
          id = ready_.front();
          ready_.pop_front();
        }
        OnClientEvent(id);
        continue;
      }
      OnClientEvent(tag);
    }
  }
}

Server::Client* Server::TryClaim(uint64_t id, bool mark_pending) {
  std::shared_lock<std::shared_mutex> l(conns_mu_);
  auto it = conns_.find(id);
  if (it == conns_.end()) return nullptr;  // dropped since the event was queued
  Client* c = it->second;
  uint32_t s = c->state.load(std::memory_order_relaxed);
  while (true) {
    if (s == kIdle) {
      if (c->state.compare_exchange_weak(s, kBusy, std::memory_order_acquire, std::memory_order_relaxed)) {
        return c;  // only the claimer may drop it now, so it outlives the lock
      }
    } else if (s == kBusy && mark_pending) {
      // Its owner will look again before releasing it.
      if (c->state.compare_exchange_weak(s, kPending, std::memory_order_relaxed)) return nullptr;
    } else {
      return nullptr;  // already pending, or not ours to mark
    }
  }
}

void Server::OnClientEvent(uint64_t id) {
  if (Client* c = TryClaim(id, /*mark_pending=*/true)) Serve(c);
}

void Server::AddClient(int fd, const PeerInfo& peer) {
  const bool may_stop = MayStop(options_.access, peer, static_cast<int64_t>(::geteuid()));
  Client* c;
  {
    // Registered under publish_mu_: connecting counts as a sync, and a
    // commit published before it is in this client's snapshot (its loads
    // wait for it while it is in flight: InflightTable).
    std::lock_guard<std::mutex> l(publish_mu_);
    uint64_t id = next_client_id_++;
    auto owned = std::make_unique<Client>(id, peer.name, may_stop, fd, stop_fd_);
    c = owned.get();
    clients_.emplace(id, std::move(owned));
  }
  DURUS_LOG(*log_, kInfo, "client %" PRIu64 " connected from %s", c->id, c->peer.c_str());
  // Claimed by us until registered in epoll, so that a failure can drop it.
  c->state.store(kBusy, std::memory_order_relaxed);
  {
    std::unique_lock<std::shared_mutex> l(conns_mu_);
    conns_.emplace(c->id, c);
  }
  epoll_event ev{};
  ev.events = kArmedEvents;
  ev.data.u64 = c->id;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    Drop(c, LogLevel::kError, std::string("epoll_ctl: ") + strerror(errno));
    return;
  }
  // Bytes that came before the registration raised an event at ADD; if
  // a worker got it meanwhile and marked the connection pending, pass
  // the connection on (not served here: accepting must not block).
  const uint64_t id = c->id;  // `c` may be gone once released
  if (c->state.exchange(kIdle, std::memory_order_acq_rel) == kPending) QueueReady(id);
}

void Server::Serve(Client* c) {
  tls_serving = c;
  if (const uint64_t w = window_.load(std::memory_order_relaxed); c->seen_window != w) {
    c->seen_window = w;
    window_clients_.fetch_add(1, std::memory_order_relaxed);
  }
  struct Clear {
    ~Clear() { tls_serving = nullptr; }
  } clear;
  bool fill = true;  // an event came: bytes (or EOF) may be waiting
  while (!stopping_.load(std::memory_order_relaxed)) {
    if (c->io.buffered() == 0 && (fill || !c->io.drained())) {
      fill = false;
      IoResult r = c->io.FillNow();
      if (r == IoResult::kClosed) {
        Drop(c, LogLevel::kInfo, "disconnected");
        return;
      }
      if (r == IoResult::kError) {
        Drop(c, LogLevel::kWarn, std::string("socket error: ") + strerror(c->io.error()));
        return;
      }
    }
    if (c->phase == CommitPhase::kList) {
      // Granted with its list not fully sent: finish sending it.
      BeginRequest();
      const bool kept = ContinueListSend(c);
      EndRequest();
      if (!kept) return;  // dropped
      continue;
    }
    if (c->io.buffered() > 0) {
      // Parked: the lease thread hands the connection back (nothing of
      // the request was consumed).
      if (c->phase == CommitPhase::kNone && MaybeParkLoad(c)) return;
      Outcome outcome;
      BeginRequest();
      if (c->phase == CommitPhase::kData) {
        outcome = ContinueCommit(c) ? Outcome::kKept : Outcome::kDropped;
      } else {
        uint8_t cmd = c->io.TakeByte();
        ++c->requests;
        outcome = Dispatch(c, cmd);
      }
      EndRequest();
      // Dropped, or queued for the commit token (then `c` is the token
      // queue's: not to be touched, nor released).
      if (outcome != Outcome::kKept) return;
      // The reply buffer is reused across requests; one large reply (a
      // big record) must not stay allocated for the connection's life.
      if (c->reply.capacity() > (1u << 20)) std::string().swap(c->reply);
      continue;
    }
    // Nothing buffered and the socket drained: any later byte raises an
    // event.  Back into epoll's interest if a wait took it out (an event
    // for bytes already there is raised at once and finds us busy).
    if (c->disarmed) {
      epoll_event ev{};
      ev.events = kArmedEvents;
      ev.data.u64 = c->id;
      if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->io.fd(), &ev) != 0) {
        Drop(c, LogLevel::kError, std::string("epoll_ctl: ") + strerror(errno));
        return;
      }
      c->disarmed = false;
    }
    uint32_t expected = kBusy;
    if (c->state.compare_exchange_strong(expected, kIdle, std::memory_order_release,
                                         std::memory_order_relaxed)) {
      return;  // another worker may own `c` from here on
    }
    // An event arrived while we were serving: look again.
    c->state.store(kBusy, std::memory_order_relaxed);
    fill = true;
  }
  // Stopping: leave the connection to Wait(), which closes it.
}

Server::Outcome Server::Dispatch(Client* c, uint8_t cmd) {
  auto kept = [](bool k) { return k ? Outcome::kKept : Outcome::kDropped; };
  if (options_.read_only) {
    if (const char* what = RefusedWhenReadOnly(cmd)) {
      Drop(c, LogLevel::kWarn, std::string(what) + " refused: the server is read-only (--read-only)");
      return Outcome::kDropped;
    }
  }
  switch (cmd) {
    case kCmdLoad: return kept(HandleLoad(c));
    case kCmdBulkLoad: return kept(HandleBulkLoad(c));
    case kCmdCommit: return HandleCommit(c);
    case kCmdSync: return kept(HandleSync(c));
    case kCmdNewOid: return kept(HandleNewOids(c, 1));
    case kCmdNewOids: {
      std::string n;
      if (!Read(c, &n, 1, RequestDeadline(1), "oid count")) return Outcome::kDropped;
      return kept(HandleNewOids(c, static_cast<uint8_t>(n[0])));
    }
    case kCmdVersion: return kept(HandleVersion(c));
    case kCmdPack: return kept(HandlePack(c));
    case kCmdQuit:
      if (!c->may_stop) {
        Drop(c, LogLevel::kWarn, StopRefusal(options_.access.allow_stop));
        return Outcome::kDropped;
      }
      log_->Log(LogLevel::kInfo, "client %" PRIu64 " asked the server to quit", c->id);
      RequestStop("quit requested by client " + std::to_string(c->id));
      return Outcome::kKept;
    case kCmdHangUp:
      Drop(c, LogLevel::kInfo, "hung up");
      return Outcome::kDropped;
    default: {
      char msg[64];
      snprintf(msg, sizeof(msg), "unknown command byte 0x%02x", cmd);
      Drop(c, LogLevel::kWarn, msg);
      return Outcome::kDropped;
    }
  }
}

Deadline Server::RequestDeadline(uint64_t payload_bytes) const {
  if (options_.idle_timeout_s <= 0) return Deadline::max();
  double s = options_.idle_timeout_s + static_cast<double>(payload_bytes) / (1 << 20);
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

bool Server::Read(Client* c, std::string* out, size_t n, Deadline deadline, const char* what) {
  out->clear();
  IoResult r = c->io.ReadUntil(out, n, deadline);
  if (r == IoResult::kOk) return true;
  std::string why = std::string(IoResultName(r)) + " while reading " + what;
  if (r == IoResult::kError) why += std::string(": ") + strerror(c->io.error());
  Drop(c, r == IoResult::kStopped ? LogLevel::kInfo : LogLevel::kWarn, why);
  return false;
}

bool Server::Write(Client* c, const std::string& data, Deadline deadline, const char* what) {
  IoResult r = c->io.WriteAll(data, deadline);
  if (r == IoResult::kOk) return true;
  std::string why = std::string(IoResultName(r)) + " while sending " + what;
  if (r == IoResult::kError) why += std::string(": ") + strerror(c->io.error());
  Drop(c, LogLevel::kWarn, why);
  return false;
}

void Server::Drop(Client* c, LogLevel level, const std::string& why) {
  if (level != LogLevel::kInfo) dropped_.fetch_add(1);
  DURUS_LOG(*log_, kDebug, "client %" PRIu64 ": %" PRIu64 " requests, %" PRIu64 " commits, %.1f s",
            c->id, c->requests, c->commits,
            std::chrono::duration<double>(Clock::now() - c->connected_at).count());
  if (log_->Enabled(level)) {
    log_->Log(level, "client %" PRIu64 " (%s) %s%s", c->id, c->peer.c_str(),
              level == LogLevel::kInfo ? "" : "dropped: ", why.c_str());
  }
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->io.fd(), nullptr);
  bool holder;
  {
    std::lock_guard<std::mutex> l(token_mu_);
    awaiting_.erase(c);
    holder = token_holder_ == c;
  }
  if (holder) ReleaseToken(c);  // nothing of its commit was published
  leases_.Forget(c->id);
  {
    // After this no event can claim `c`; a claim in progress has finished.
    std::unique_lock<std::shared_mutex> l(conns_mu_);
    conns_.erase(c->id);
  }
  {
    std::lock_guard<std::mutex> l(publish_mu_);
    clients_.erase(c->id);  // closes the socket
  }
  acceptor_.Released();
}

void Server::PublishCollectedLocked() {
  std::vector<Oid> gone = storage_->Sync();
  if (gone.empty()) return;
  DURUS_LOG(*log_, kDebug, "%zu oids removed by the collector: invalidating them for every client",
            gone.size());
  for (auto& [id, client] : clients_) {
    std::lock_guard<std::mutex> l(client->mu);
    client->invalid.insert(gone.begin(), gone.end());
  }
}

std::vector<Oid> Server::DrainInvalidLocked(Client* c) {
  // A commit published before this drain but still in Storage::Commit is
  // part of the client's snapshot from now on: its oids are in the list
  // returned here, and a load of one of them waits until the commit has
  // returned (SettleInflight) instead of reading the older version.
  std::lock_guard<std::mutex> l(c->mu);
  std::vector<Oid> out(c->invalid.begin(), c->invalid.end());
  std::unordered_set<Oid>().swap(c->invalid);  // gives a large set's memory back
  return out;
}

bool Server::MaybeParkLoad(Client* c) {
  if (c->lease_pass) {
    c->lease_pass = false;
    return false;
  }
  if (options_.lease_think_s <= 0 || c->io.buffered() < 1 + Oid::kSize ||
      c->io.peek()[0] != kCmdLoad) {
    return false;
  }
  const auto now = Clock::now();
  if (now >= c->contender_until) return false;
  // Re-armed first if a wait took it out of epoll's interest, so that a
  // byte (or EOF) arriving while parked marks it pending.
  if (c->disarmed) {
    epoll_event ev{};
    ev.events = kArmedEvents;
    ev.data.u64 = c->id;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->io.fd(), &ev) != 0) return false;
    c->disarmed = false;
  }
  const auto max_wait = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options_.lease_max_wait_s));
  return leases_.Park(c->id, Oid::FromBytes(c->io.peek() + 1), now + max_wait);
}

void Server::LeaseLoop() {
  while (true) {
    std::vector<LeaseTable::Release> released = leases_.AwaitReleases();
    if (released.empty()) return;  // stopping
    for (const LeaseTable::Release& r : released) {
      const uint64_t id = r.client;
      Client* c;
      {
        std::shared_lock<std::shared_mutex> l(conns_mu_);
        auto it = conns_.find(id);
        if (it == conns_.end()) continue;
        c = it->second;  // claimed while parked: nobody else drops it
      }
      c->lease_pass = true;
      if (r.timed_out) c->contender_until = Clock::time_point();
      // Its request is buffered: no epoll event will announce it.
      c->state.store(kIdle, std::memory_order_release);
      QueueReady(id);
    }
  }
}

bool Server::SettleInflight(Client* c, const Oid* oids, size_t n) {
  auto invalid = [c](Oid oid) {
    std::lock_guard<std::mutex> l(c->mu);
    return c->invalid.count(oid) != 0;
  };
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(options_.inflight_wait_s * 1000));
  InflightTable::Wait w = inflight_.WaitUntilSettled(oids, n, invalid, timeout, [this] { GoOut(); });
  if (w == InflightTable::Wait::kTimedOut) {
    log_->Log(LogLevel::kWarn,
              "client %" PRIu64 ": a commit in flight on the oids it loads did not return within "
              "%.1f s: answered I",
              c->id, options_.inflight_wait_s);
  }
  return w != InflightTable::Wait::kTimedOut;
}

bool Server::AcquireRequestBytes(Client* c, uint64_t bytes, const char* what) {
  auto before_wait = [&] {
    GoOut();
    log_->Log(LogLevel::kInfo,
              "client %" PRIu64 ": %s of %" PRIu64 " bytes waits for request memory (%" PRIu64
              " of --max-request-memory %" PRIu64 " in use)",
              c->id, what, bytes, budget_.in_use(), budget_.limit());
    // A committer must not hold the commit token while it waits: those
    // holding the memory may need the token to finish.  Its commit then
    // goes ahead only if nothing changed meanwhile (as after the grace).
    ReleaseToken(c, /*grace_expired=*/false);
  };
  if (budget_.Acquire(bytes, RequestDeadline(bytes), before_wait)) return true;
  Drop(c, LogLevel::kWarn,
       std::string(what) + " of " + std::to_string(bytes) + " bytes: --max-request-memory " +
           std::to_string(budget_.limit()) + " stayed in use by other requests until the deadline "
           "(nothing stored)");
  return false;
}

bool Server::HandleVersion(Client* c) {
  std::string buf;
  if (!Read(c, &buf, 4, RequestDeadline(4), "protocol version")) return false;
  uint32_t theirs = GetU32(buf.data());
  c->reply.clear();
  PutU32(&c->reply, kProtocolVersion);
  if (!Write(c, c->reply, RequestDeadline(4), "protocol version")) return false;
  if (theirs != kProtocolVersion) {
    Drop(c, LogLevel::kWarn, "protocol " + std::to_string(theirs) + " not supported");
    return false;
  }
  return true;
}

bool Server::HandleNewOids(Client* c, int count) {
  std::vector<Oid> oids(count);
  for (int i = 0; i < count; ++i) {
    Status st = storage_->NewOid(&oids[i]);
    if (!st.ok()) {
      Drop(c, LogLevel::kError, "new_oid failed: " + st.ToString());
      return false;
    }
  }
  uint64_t unused;
  size_t ranges;
  {
    std::lock_guard<std::mutex> l(c->mu);
    for (const Oid& o : oids) c->unused_oids.Insert(o);
    unused = c->unused_oids.size();
    ranges = c->unused_oids.ranges();
  }
  if (unused > options_.max_unused_oids || ranges > options_.max_unused_oids / 10) {
    Drop(c, LogLevel::kWarn,
         "holds " + std::to_string(unused) + " oids from N/M it has not stored (" +
             std::to_string(ranges) + " runs), over --max-unused-oids " +
             std::to_string(options_.max_unused_oids));
    return false;
  }
  c->reply.resize(oids.size() * Oid::kSize);
  for (size_t i = 0; i < oids.size(); ++i) oids[i].ToBytes(&c->reply[i * Oid::kSize]);
  return Write(c, c->reply, RequestDeadline(c->reply.size()), "new oids");
}

bool Server::HandleLoad(Client* c) {
  std::string oid_bytes;
  if (!Read(c, &oid_bytes, Oid::kSize, RequestDeadline(Oid::kSize), "oid to load")) return false;
  Oid oid = Oid::FromBytes(oid_bytes.data());
  // A commit in flight on the oid since before our last sync: wait until
  // it has returned, so that we read its version, not the one before.
  bool invalid = !SettleInflight(c, &oid, 1);
  // Read first, check the invalid set after: if the record we read came
  // from a commit newer than this client's last sync, that commit had
  // already published the oid here (it does so before becoming visible).
  std::string record;
  Status st = invalid ? Status::OK() : storage_->Load(oid, &record);
  if (!invalid) {
    std::lock_guard<std::mutex> l(c->mu);
    invalid = c->invalid.count(oid) != 0;
  }
  c->reply.clear();
  if (invalid || st.IsReadConflict()) {
    load_conflicts_.fetch_add(1, std::memory_order_relaxed);
    c->reply.push_back(kStatusInvalid);
  } else if (st.ok()) {
    AppendLoadOkay(record, &c->reply);
  } else if (st.IsNotFound()) {
    c->reply.push_back(kStatusKeyError);
  } else {
    Drop(c, LogLevel::kError, "load of oid " + OidToString(oid) + " failed: " + st.ToString());
    return false;
  }
  DURUS_LOG(*log_, kDebug, "client %" PRIu64 " load %s -> %c", c->id, OidToString(oid).c_str(),
            c->reply[0]);
  return Write(c, c->reply, RequestDeadline(c->reply.size()), "a load reply");
}

bool Server::HandleBulkLoad(Client* c) {
  std::string n_bytes;
  if (!Read(c, &n_bytes, 4, RequestDeadline(4), "bulk load count")) return false;
  uint64_t n = GetU32(n_bytes.data());
  if (n * Oid::kSize > options_.max_commit_bytes) {
    Drop(c, LogLevel::kWarn,
         "bulk load of " + std::to_string(n) + " oids exceeds --max-commit-bytes");
    return false;
  }
  // The oid list is request memory; the replies are streamed in pieces
  // of about kReplyPiece bytes, so that a small request naming a large
  // object many times cannot make the server build a reply of gigabytes
  // (issue 12: 12 KB naming a 1 MiB object 1,500 times).
  const uint64_t list_bytes = n * Oid::kSize;
  if (!AcquireRequestBytes(c, list_bytes, "bulk load oid list")) return false;
  RequestBudget::Lease held(&budget_, list_bytes);
  std::string oid_bytes;
  if (!Read(c, &oid_bytes, list_bytes, RequestDeadline(list_bytes), "bulk load oids")) return false;
  constexpr size_t kReplyPiece = 1 << 20;
  constexpr size_t kMaxChunk = 256;
  size_t chunk = 1;  // oids per storage call; adapts to the record sizes
  std::vector<Oid> oids;
  std::vector<LoadResult> results;
  std::vector<char> invalid;
  c->reply.clear();
  for (size_t done = 0; done < n;) {
    const size_t k = std::min<size_t>(chunk, n - done);
    oids.resize(k);
    for (size_t i = 0; i < k; ++i) oids[i] = Oid::FromBytes(&oid_bytes[(done + i) * Oid::kSize]);
    const bool settled = SettleInflight(c, oids.data(), k);
    results.clear();
    size_t bytes = 0;
    if (settled) {
      Status st = storage_->BulkLoad(oids, &results);
      if (!st.ok()) {
        Drop(c, LogLevel::kError, "bulk load failed: " + st.ToString());
        return false;
      }
      invalid.assign(k, 0);
      std::lock_guard<std::mutex> l(c->mu);
      if (!c->invalid.empty()) {
        for (size_t i = 0; i < k; ++i) invalid[i] = c->invalid.count(oids[i]) != 0;
      }
    } else {
      invalid.assign(k, 1);
    }
    for (size_t i = 0; i < k; ++i) {
      if (invalid[i] || results[i].status.IsReadConflict()) {
        load_conflicts_.fetch_add(1, std::memory_order_relaxed);
        c->reply.push_back(kStatusInvalid);
        continue;
      }
      const LoadResult& r = results[i];
      if (r.status.ok()) {
        bytes += r.record.size();
        AppendLoadOkay(r.record, &c->reply);
      } else if (r.status.IsNotFound()) {
        c->reply.push_back(kStatusKeyError);
      } else {
        Drop(c, LogLevel::kError, "load of oid " + OidToString(oids[i]) + " failed: " + r.status.ToString());
        return false;
      }
    }
    done += k;
    // Next chunk: about a piece's worth of records of the sizes just seen.
    chunk = std::clamp<size_t>(kReplyPiece / std::max<size_t>(bytes / k, 1), 1, kMaxChunk);
    if (c->reply.size() >= kReplyPiece || done == n) {
      if (!Write(c, c->reply, RequestDeadline(c->reply.size()), "bulk load replies")) return false;
      c->reply.clear();
    }
  }
  DURUS_LOG(*log_, kDebug, "client %" PRIu64 " bulk load of %" PRIu64 " oids", c->id, n);
  return true;
}

// The commit token serialises committers from "invalidations sent" to
// "oids published" (server.h).  No thread waits for it or for the client
// while a commit is validated:
//  - 'C' with the token free: take it, send the client its invalidation
//    list, and leave the connection in phase kData: the worker moves on,
//    and the client's answer (commit length and data) raises an epoll
//    event like any request, which continues the commit (ContinueCommit).
//  - 'C' with the token taken: the connection joins the token queue in
//    phase kQueued and stays claimed (busy) but unserved.  The holder, on
//    releasing the token, grants it to the first in line: it prepares and
//    sends that client's list itself (so the next round trip starts at
//    once), puts the connection in phase kData and releases it to epoll.
//  - A client slow to answer holds the token for at most commit_grace_s:
//    the monitor releases it on the holder's behalf; the commit then goes
//    ahead only if no invalidation reached that client meanwhile.
//  - A client that does not answer within the request deadline is dropped
//    by the monitor (nothing stored).
// Only the rare second acquisition of a commit whose token was released
// by the grace period waits in a thread (AcquireTokenSync, on a futex).
struct Server::CommitWaiter {
  Client* c = nullptr;
  // kWaiting -> kSleeping (the waiter, before the futex wait) -> kGranted
  // (the granter).
  std::atomic<uint32_t> grant{0};
};

namespace {
constexpr uint32_t kWaiting = 0;
constexpr uint32_t kSleeping = 1;
constexpr uint32_t kGranted = 2;

// std::atomic<uint32_t> is a plain 32-bit word here (always lock-free).
uint32_t* FutexWord(std::atomic<uint32_t>* a) { return reinterpret_cast<uint32_t*>(a); }
}  // namespace

void Server::QueueReady(uint64_t id) {
  {
    std::lock_guard<std::mutex> l(ready_mu_);
    ready_.push_back(id);
  }
  uint64_t one = 1;
  ssize_t w = ::write(ready_fd_, &one, sizeof(one));
  (void)w;
}

bool Server::AcquireTokenSync(CommitWaiter* w) {
  {
    std::lock_guard<std::mutex> l(token_mu_);
    if (token_holder_ == nullptr) {
      token_holder_ = w->c;
      token_graceable_ = false;
      return true;
    }
    token_waiters_.push_back(TokenWaiter{w->c, w});
  }
  GoOut();  // waits for the committers ahead
  bool leave = false;
  while (true) {
    uint32_t v = w->grant.load(std::memory_order_acquire);
    if (v == kGranted) return true;
    if (v == kWaiting) {
      w->grant.compare_exchange_strong(v, kSleeping, std::memory_order_acq_rel);
      continue;
    }
    if (!leave && stopping_.load()) {
      // A holder suspended in the token queue is not served any more.
      // Leave the line, unless a granter has taken us off it already (it
      // then sets the word without blocking in between).
      std::lock_guard<std::mutex> l(token_mu_);
      for (auto it = token_waiters_.begin(); it != token_waiters_.end(); ++it) {
        if (it->sync == w) {
          token_waiters_.erase(it);
          return false;
        }
      }
      leave = true;
      continue;
    }
    // Returns at once if the word is no longer kSleeping (spurious
    // wake-ups just loop); looks at stopping_ every 100 ms.
    struct timespec ts = {0, 100 * 1000 * 1000};
    ::syscall(SYS_futex, FutexWord(&w->grant), FUTEX_WAIT_PRIVATE, kSleeping, &ts, nullptr, 0);
  }
}

void Server::ReleaseToken(Client* holder, bool grace_expired) {
  TokenWaiter next;
  {
    std::lock_guard<std::mutex> l(token_mu_);
    if (token_holder_ != holder) return;  // released already (grace, drop)
    // The holder may have read its data meanwhile and be publishing.
    if (grace_expired && !token_graceable_) return;
    if (grace_expired) {
      leases_.Unpin(holder->id, Clock::time_point());  // nobody waits for a slow client
      grace_expired_.fetch_add(1);
      log_->Log(LogLevel::kWarn,
                "client %" PRIu64 " (%s) has not sent its commit data %.2f s after its invalidations: "
                "released the commit token (--commit-grace); its commit goes ahead only if nothing "
                "it may have read changes meanwhile",
                holder->id, holder->peer.c_str(), options_.commit_grace_s);
    }
    if (token_waiters_.empty()) {
      token_holder_ = nullptr;
      return;
    }
    next = token_waiters_.front();
    token_waiters_.pop_front();
    token_holder_ = next.c;
    // A queued committer's client still has to answer its list.
    token_graceable_ = next.sync == nullptr;
    token_granted_at_ = Clock::now();
  }
  if (next.sync != nullptr) {
    // `sync` lives on its worker's stack and may be gone as soon as the
    // grant is visible; a wake-up aimed at a dead frame is harmless (futex
    // waiters tolerate spurious wake-ups, and the stack stays mapped).
    if (next.sync->grant.exchange(kGranted, std::memory_order_acq_rel) == kSleeping) {
      ::syscall(SYS_futex, FutexWord(&next.sync->grant), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    }
    return;
  }
  // `n` is claimed but unserved (kQueued): ours until released below.
  Client* n = next.c;
  PrepareCommitList(n, &n->n_invalid);
  n->list_sent = 0;
  // One non-blocking attempt; a worker finishes a partial send.
  IoResult r = n->io.WriteAll(n->reply.data(), n->reply.size(), &n->list_sent, Clock::now());
  bool kick = r != IoResult::kOk;
  if (r == IoResult::kOk) {
    EnterDataPhase(n);
  } else {
    n->phase = CommitPhase::kList;
  }
  if (n->disarmed) {
    epoll_event ev{};
    ev.events = kArmedEvents;
    ev.data.u64 = n->id;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, n->io.fd(), &ev) == 0) n->disarmed = false;
    kick = true;
  }
  const uint64_t id = n->id;  // `n` may be gone once released
  if (n->state.exchange(kIdle, std::memory_order_acq_rel) == kPending) kick = true;
  if (kick) QueueReady(id);
}

void Server::EnterDataPhase(Client* c) {
  c->phase = CommitPhase::kData;
  Deadline d = RequestDeadline(4);
  std::lock_guard<std::mutex> l(token_mu_);
  awaiting_[c] = d;
}

void Server::PrepareCommitList(Client* c, size_t* n_invalid) {
  // Validating its next commit, which may write the same oids again.
  leases_.Pin(c->id);
  std::vector<Oid> invalid;
  {
    std::lock_guard<std::mutex> p(publish_mu_);
    PublishCollectedLocked();
    invalid = DrainInvalidLocked(c);
  }
  *n_invalid = invalid.size();
  c->reply.clear();
  AppendOidList(invalid, &c->reply);
}

Server::Outcome Server::HandleCommit(Client* c) {
  c->commit_t0 = Clock::now();
  {
    std::lock_guard<std::mutex> l(token_mu_);
    if (token_holder_ != nullptr) {
      // In line: the holder's release sends our list and hands the
      // connection back to epoll.  Nothing of `c` may be touched now.
      c->phase = CommitPhase::kQueued;
      token_waiters_.push_back(TokenWaiter{c, nullptr});
      return Outcome::kSuspended;
    }
    token_holder_ = c;
    token_graceable_ = true;
    token_granted_at_ = Clock::now();
  }
  PrepareCommitList(c, &c->n_invalid);
  c->list_sent = 0;
  c->phase = CommitPhase::kList;
  return ContinueListSend(c) ? Outcome::kKept : Outcome::kDropped;
}

bool Server::ContinueListSend(Client* c) {
  IoResult r = c->io.WriteAll(c->reply.data(), c->reply.size(), &c->list_sent,
                              RequestDeadline(c->reply.size()));
  if (r != IoResult::kOk) {
    std::string why = std::string(IoResultName(r)) + " while sending commit invalidations (nothing stored)";
    if (r == IoResult::kError) why += std::string(": ") + strerror(c->io.error());
    Drop(c, LogLevel::kWarn, why);
    return false;
  }
  // The client's answer continues the commit (Serve, ContinueCommit).
  EnterDataPhase(c);
  return true;
}

bool Server::ContinueCommit(Client* c) {
  {
    std::lock_guard<std::mutex> l(token_mu_);
    awaiting_.erase(c);
  }
  c->phase = CommitPhase::kNone;
  const size_t n_invalid = c->n_invalid;
  auto io_fail = [&](IoResult r, const char* what) {
    std::string why = std::string(IoResultName(r)) + " " + what + " (nothing stored)";
    if (r == IoResult::kError) why += std::string(": ") + strerror(c->io.error());
    Drop(c, r == IoResult::kStopped ? LogLevel::kInfo : LogLevel::kWarn, why);  // releases the token
    return false;
  };
  std::string len_bytes;
  IoResult r = c->io.ReadUntil(&len_bytes, 4, RequestDeadline(4));
  if (r != IoResult::kOk) return io_fail(r, "while reading the commit length");
  uint32_t tlen = GetU32(len_bytes.data());
  if (tlen == 0) {
    // The client found a conflict in the invalidations (Durus's client
    // sends an empty commit only then): no reply expected.
    commit_conflicts_.fetch_add(1, std::memory_order_relaxed);
    c->contender_until = Clock::now() + kContenderMemory;
    leases_.Unpin(c->id, Clock::time_point());
    ReleaseToken(c);
    DURUS_LOG(*log_, kDebug, "client %" PRIu64 " abandoned its commit (%zu invalidations)", c->id,
              n_invalid);
    return true;
  }
  if (tlen > options_.max_commit_bytes) {
    Drop(c, LogLevel::kWarn,
         "commit of " + std::to_string(tlen) + " bytes exceeds --max-commit-bytes " +
             std::to_string(options_.max_commit_bytes) + " (nothing stored)");
    return false;
  }
  // The data, then the parsed batch, stay in memory until the commit is
  // answered: request memory, bounded across clients.
  if (!AcquireRequestBytes(c, tlen, "commit data")) return false;
  RequestBudget::Lease held(&budget_, tlen);
  std::string tdata;
  tdata.reserve(std::min<size_t>(tlen, 1 << 20));
  r = c->io.ReadUntil(&tdata, tlen, RequestDeadline(tlen));
  if (r != IoResult::kOk) return io_fail(r, "while reading commit data");
  HandOffBatch();  // Storage::Commit may wait for the disk

  CommitBatch batch;
  Status st = ParseCommitData(tdata, &batch);
  if (!st.ok()) {
    Drop(c, LogLevel::kWarn, "malformed commit (nothing stored): " + st.ToString());
    return false;
  }
  tdata.clear();
  tdata.shrink_to_fit();

  // Still the holder?  From here on the grace period cannot take it.
  bool optimistic;
  {
    std::lock_guard<std::mutex> l(token_mu_);
    optimistic = token_holder_ != c;
    if (!optimistic) token_graceable_ = false;
  }
  if (optimistic) {
    DURUS_LOG(*log_, kDebug, "client %" PRIu64 " was slow to send its commit: the commit token was released",
              c->id);
    // Back in line, keeping our invalid set as it is (no list this time).
    CommitWaiter again;
    again.c = c;
    if (!AcquireTokenSync(&again)) {
      Drop(c, LogLevel::kInfo, "server stopping while waiting to commit (nothing stored)");
      return false;
    }
  }
  bool raced = false;
  bool stolen = false;
  Oid stolen_oid;
  std::vector<Oid> oids;  // published, hence in flight until Commit returns
  {
    std::lock_guard<std::mutex> p(publish_mu_);
    if (optimistic) {
      std::lock_guard<std::mutex> l(c->mu);
      raced = !c->invalid.empty();
    }
    if (!raced) {
      // Durus's check: a commit may not store an oid handed out to another
      // client and not yet used by it.
      for (auto& [id, other] : clients_) {
        if (other.get() == c) continue;
        std::lock_guard<std::mutex> l(other->mu);
        if (other->unused_oids.empty()) continue;
        for (const auto& e : batch.entries()) {
          if (other->unused_oids.Contains(e.oid)) {
            stolen = true;
            stolen_oid = e.oid;
            break;
          }
        }
        if (stolen) break;
      }
    }
    if (!raced && !stolen) {
      // Publish before the commit can become visible (see server.h).  If
      // the commit then fails, the extra invalidations are harmless.
      for (auto& [id, other] : clients_) {
        if (other.get() == c) continue;
        std::lock_guard<std::mutex> l(other->mu);
        for (const auto& e : batch.entries()) other->invalid.insert(e.oid);
      }
      oids.reserve(batch.size());
      for (const auto& e : batch.entries()) oids.push_back(e.oid);
      inflight_.Add(oids);
      leases_.Hold(c->id, oids);
    }
  }
  // Later committers may validate now: they have seen our oids.
  ReleaseToken(c);

  if (stolen) {
    Drop(c, LogLevel::kWarn,
         "commit stores oid " + OidToString(stolen_oid) +
             ", handed out to another client and not yet used by it (nothing stored)");
    return false;
  }
  c->reply.clear();
  if (raced) {
    c->contender_until = Clock::now() + kContenderMemory;
    leases_.Unpin(c->id, Clock::time_point());
    commit_conflicts_.fetch_add(1);
    commits_refused_.fetch_add(1);
    DURUS_LOG(*log_, kInfo,
              "client %" PRIu64 " commit refused (conflict): objects changed while it was slow to "
              "send its commit data",
              c->id);
    c->reply.push_back(kStatusInvalid);
    return Write(c, c->reply, RequestDeadline(1), "the commit status");
  }

  // Applied one at a time by the storage; returns once durable (in sync
  // mode concurrent calls share the fsync).
  const auto t_apply = Clock::now();
  GoOut();  // the storage may wait for its write lock and the disk
  st = storage_->Commit(batch);
  const double apply_ms = MillisSince(t_apply);
  inflight_.Remove(oids);
  // Its client may commit the same oids again within its think time.
  leases_.Unpin(c->id, st.ok() ? Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                    std::chrono::duration<double>(options_.lease_think_s))
                               : Clock::time_point());
  if (st.IsConflict()) {
    c->contender_until = Clock::now() + kContenderMemory;
    commit_conflicts_.fetch_add(1);
    commits_refused_.fetch_add(1);
    DURUS_LOG(*log_, kInfo, "client %" PRIu64 " commit refused (conflict): %s", c->id,
              st.ToString().c_str());
    c->reply.push_back(kStatusInvalid);
  } else if (!st.ok()) {
    // Commit is atomic: nothing of it is stored (or, for a failed flush,
    // it is not acknowledged as durable).
    Drop(c, LogLevel::kError, "commit failed: " + st.ToString());
    return false;
  } else {
    {
      std::lock_guard<std::mutex> l(c->mu);
      for (const auto& e : batch.entries()) c->unused_oids.Erase(e.oid);
    }
    ++c->commits;
    c->contender_until = Clock::time_point();
    commits_.fetch_add(1);
    DURUS_LOG(*log_, kInfo,
              "client %" PRIu64 " committed %zu objects, %" PRIu64 " bytes in %.2f ms (storage %.2f ms)",
              c->id, batch.size(), static_cast<uint64_t>(tlen), MillisSince(c->commit_t0), apply_ms);
    c->reply.push_back(kStatusOkay);
  }
  return Write(c, c->reply, RequestDeadline(1), "the commit status");
}

bool Server::HandleSync(Client* c) {
  leases_.Unpin(c->id, Clock::time_point());  // a new transaction
  std::vector<Oid> invalid;
  {
    std::lock_guard<std::mutex> p(publish_mu_);
    PublishCollectedLocked();
    invalid = DrainInvalidLocked(c);
  }
  c->reply.clear();
  AppendOidList(invalid, &c->reply);
  DURUS_LOG(*log_, kDebug, "client %" PRIu64 " sync: %zu invalidations", c->id, invalid.size());
  return Write(c, c->reply, RequestDeadline(c->reply.size()), "sync invalidations");
}

bool Server::HandlePack(Client* c) {
  Status st = storage_->StartPack();
  if (st.ok()) {
    log_->Log(LogLevel::kInfo, "client %" PRIu64 " started a pack (collection)", c->id);
  } else {
    // Durus answers 'O' whatever the storage does with a pack.
    log_->Log(LogLevel::kWarn, "client %" PRIu64 " asked for a pack: %s", c->id, st.ToString().c_str());
  }
  c->reply.assign(1, kStatusOkay);
  return Write(c, c->reply, RequestDeadline(1), "the pack status");
}

}  // namespace durus::server
