#include "server/worker_pool.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace durus::server {

namespace {

// epoll event tags (epoll_event::data.u64).  Connection ids start at 1.
constexpr uint64_t kHandedOffTag = 0;  // a batch slot passed to another worker
constexpr uint64_t kStopTag = ~uint64_t{0};
constexpr uint64_t kReadyTag = ~uint64_t{0} - 2;

// Edge-triggered read interest; EPOLLRDHUP also reports a half-close.
constexpr uint32_t kArmedEvents = EPOLLIN | EPOLLRDHUP | EPOLLET;

// Slot::word: (request sequence << 2) | flags.
constexpr uint64_t kInRequest = 1;
constexpr uint64_t kOut = 2;  // not counted as active until the request ends

}  // namespace

// The events one worker took from one epoll_wait.  Taking several at once
// saves a wake-up per request under load; but a request that may block
// (a commit, a slow client) first hands the rest to other workers through
// the ready queue (HandOff), so nobody waits behind it.
struct WorkerPool::Batch {
  epoll_event events[kMaxBatch];
  int n = 0;
  int next = 0;
};

// Written by its worker (BeginRequest, EndRequest, GoOut) and by the
// monitor (presuming it blocked); whoever sets kOut does the accounting.
struct alignas(64) WorkerPool::Slot {
  std::atomic<uint64_t> word{0};
  uint64_t seq = 0;  // the worker's own copy of the sequence
  // Worker only: back from a request it was counted out of.  It may then
  // wait on epoll once more before parking (one over the cap): the next
  // request is often another commit that takes it out again, and parking
  // in between would cost two context switches.
  bool back = false;
};

thread_local WorkerPool::Batch* WorkerPool::tls_batch = nullptr;
thread_local WorkerPool::Slot* WorkerPool::tls_slot = nullptr;
thread_local Connection* WorkerPool::tls_serving = nullptr;

WorkerPool::WorkerPool(ConnectionHandler* handler, Logger* log) : handler_(handler), log_(log) {}

WorkerPool::~WorkerPool() {
  if (!workers_.empty()) {
    SignalStop();
    Join();
  }
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (ready_fd_ >= 0) ::close(ready_fd_);
}

Status WorkerPool::Open() {
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
  ev.events = EPOLLIN;  // level-triggered: one read per handed-off id
  ev.data.u64 = kReadyTag;
  if (ready_fd_ < 0 || ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, ready_fd_, &ev) != 0) {
    return Status::IOError(std::string("ready eventfd: ") + strerror(errno));
  }
  return Status::OK();
}

void WorkerPool::StartThreads(const WorkerPoolOptions& options) {
  options_ = options;
  options_.batch = std::max(1, std::min(options.batch, kMaxBatch));
  limit_.store(1);  // until the monitor has seen more than one connection at work
  slots_ = std::make_unique<Slot[]>(static_cast<size_t>(options_.threads));
  active_.store(options_.threads);  // the surplus parks at its first loop
  for (int i = 0; i < options_.threads; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
  monitor_ = std::thread([this] { MonitorLoop(); });
}

void WorkerPool::SignalStop() {
  stopping_.store(true);
  if (stop_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t w = ::write(stop_fd_, &one, sizeof(one));
    (void)w;  // EAGAIN only if the counter is saturated: already signalled
  }
}

void WorkerPool::Join() {
  for (auto& t : workers_) t.join();
  workers_.clear();
  WakeAllParked();
  {
    MutexLock l(&monitor_mu_);
  }
  monitor_cv_.SignalAll();
  if (monitor_.joinable()) monitor_.join();
}

size_t WorkerPool::CloseAll() {
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> all;
  {
    MutexLock l(&conns_mu_);
    all.swap(conns_);
  }
  return all.size();  // closed as `all` goes
}

size_t WorkerPool::size() const {
  MutexLock l(&conns_mu_);
  return conns_.size();
}

bool WorkerPool::Add(std::unique_ptr<Connection> owned) {
  Connection* c = owned.get();
  {
    MutexLock l(&conns_mu_);
    conns_.emplace(c->id, std::move(owned));
  }
  epoll_event ev{};
  ev.events = kArmedEvents;
  ev.data.u64 = c->id;
  return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c->io.fd(), &ev) == 0;
}

void WorkerPool::Unwatch(Connection* c) { ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->io.fd(), nullptr); }

Connection* WorkerPool::TryClaim(uint64_t id, bool mark_pending) {
  MutexLock l(&conns_mu_);
  auto it = conns_.find(id);
  if (it == conns_.end()) return nullptr;  // removed since the event was queued
  Connection* c = it->second.get();
  uint32_t s = c->state.load(std::memory_order_relaxed);
  while (true) {
    if (s == kIdle) {
      if (c->state.compare_exchange_weak(s, kBusy, std::memory_order_acquire, std::memory_order_relaxed)) {
        return c;  // only the claimer may remove it now, so it outlives the lock
      }
    } else if (s == kBusy && mark_pending) {
      // Its owner will look again before releasing it.
      if (c->state.compare_exchange_weak(s, kPending, std::memory_order_relaxed)) return nullptr;
    } else {
      return nullptr;  // already pending, or not ours to mark
    }
  }
}

Connection* WorkerPool::Find(uint64_t id) {
  MutexLock l(&conns_mu_);
  auto it = conns_.find(id);
  return it == conns_.end() ? nullptr : it->second.get();
}

bool WorkerPool::Rearm(Connection* c) {
  epoll_event ev{};
  ev.events = kArmedEvents;
  ev.data.u64 = c->id;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->io.fd(), &ev) != 0) return false;
  c->disarmed = false;
  return true;
}

WorkerPool::Released WorkerPool::Release(Connection* c) {
  // Nothing buffered and the socket drained: any later byte raises an
  // event.  Back into epoll's interest if a wait took it out (an event for
  // bytes already there is raised at once and finds us busy).
  if (c->disarmed && !Rearm(c)) return Released::kError;
  uint32_t expected = kBusy;
  if (c->state.compare_exchange_strong(expected, kIdle, std::memory_order_release, std::memory_order_relaxed)) {
    return Released::kReleased;  // another worker may own `c` from here on
  }
  // An event arrived while we were serving: look again.
  c->state.store(kBusy, std::memory_order_relaxed);
  return Released::kPending;
}

void WorkerPool::ReleaseAndKick(Connection* c, bool kick) {
  if (c->disarmed) {
    // On failure it stays disarmed; the kick below serves it anyway.
    Rearm(c);
    kick = true;
  }
  const uint64_t id = c->id;  // `c` may be gone once released
  if (c->state.exchange(kIdle, std::memory_order_acq_rel) == kPending) kick = true;
  if (kick) QueueReady(id);
}

void WorkerPool::QueueReady(uint64_t id) {
  {
    MutexLock l(&ready_mu_);
    ready_.push_back(id);
  }
  uint64_t one = 1;
  ssize_t w = ::write(ready_fd_, &one, sizeof(one));
  (void)w;
}

void WorkerPool::HandOff() {
  Batch* b = tls_batch;
  if (b == nullptr || b->next >= b->n) return;
  uint64_t moved = 0;
  {
    MutexLock l(&ready_mu_);
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

void WorkerPool::BeforeBlocking(SocketStream* stream) {
  HandOff();
  GoOut();
  // The owner is about to wait in poll for bytes on its own connection:
  // take it out of epoll's interest meanwhile, so they wake nobody else.
  Connection* c = tls_serving;
  if (c != nullptr && &c->io == stream) Disarm(c);
}

void WorkerPool::Disarm(Connection* c) {
  if (c->disarmed) return;
  epoll_event ev{};
  ev.events = 0;
  ev.data.u64 = c->id;
  // On failure the connection stays armed: only extra wake-ups.
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->io.fd(), &ev) == 0) c->disarmed = true;
}

void WorkerPool::WorkerLoop(int index) {
  Batch batch;
  tls_batch = &batch;
  tls_slot = &slots_[index];
  SetBlockingHook([](void* p, SocketStream* stream) { static_cast<WorkerPool*>(p)->BeforeBlocking(stream); },
                  this);
  while (true) {
    MaybePark();
    int n = ::epoll_wait(epoll_fd_, batch.events, options_.batch, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log_->Log(LogLevel::kError, "epoll_wait: %s", strerror(errno));
      handler_->OnFatal();
      return;
    }
    batch.n = n;
    for (batch.next = 0; batch.next < batch.n;) {
      const uint64_t tag = batch.events[batch.next++].data.u64;
      if (tag == kHandedOffTag) continue;
      if (tag == kStopTag) {
        WakeAllParked();  // parked workers cannot see the stop descriptor
        return;
      }
      if (tag == kReadyTag) {
        uint64_t one;
        if (::read(ready_fd_, &one, sizeof(one)) != sizeof(one)) continue;  // taken by another
        uint64_t id;
        {
          MutexLock l(&ready_mu_);
          id = ready_.front();
          ready_.pop_front();
        }
        OnEvent(id);
        continue;
      }
      OnEvent(tag);
    }
  }
}

void WorkerPool::OnEvent(uint64_t id) {
  Connection* c = TryClaim(id, /*mark_pending=*/true);
  if (c == nullptr) return;
  if (const uint64_t w = window_.load(std::memory_order_relaxed); c->seen_window != w) {
    c->seen_window = w;
    window_conns_.fetch_add(1, std::memory_order_relaxed);
  }
  tls_serving = c;
  handler_->Serve(c);
  tls_serving = nullptr;
}

// --- active workers -------------------------------------------------------

void WorkerPool::BeginRequest() {
  Slot* s = tls_slot;
  if (s == nullptr) return;
  ++s->seq;
  // No flag is set between requests, so the monitor cannot race this.
  s->word.store((s->seq << 2) | kInRequest, std::memory_order_relaxed);
}

void WorkerPool::EndRequest() {
  Slot* s = tls_slot;
  if (s == nullptr) return;
  uint64_t old = s->word.exchange(s->seq << 2, std::memory_order_acq_rel);
  if (old & kOut) {
    active_.fetch_add(1, std::memory_order_acq_rel);
    s->back = true;
  }
}

void WorkerPool::GoOut() {
  Slot* s = tls_slot;
  if (s == nullptr) return;
  uint64_t w = s->word.load(std::memory_order_relaxed);
  while ((w & kInRequest) && !(w & kOut)) {
    if (s->word.compare_exchange_weak(w, w | kOut, std::memory_order_acq_rel)) {
      LeaveActive();
      return;
    }
  }
}

void WorkerPool::LeaveActive() {
  // Below the limit by one is left as it is (a worker back from blocking
  // soon fills the place); by two, or none left, a parked one is woken.
  const int min_active = std::max(1, limit_.load(std::memory_order_relaxed) - 1);
  if (active_.fetch_sub(1, std::memory_order_acq_rel) - 1 >= min_active) return;
  MutexLock l(&park_mu_);
  if (parked_ > 0 && active_.load(std::memory_order_acquire) < min_active) {
    --parked_;
    ++grants_;
    active_.fetch_add(1, std::memory_order_acq_rel);  // counted for the one woken
    park_cv_.Signal();
  }
}

void WorkerPool::MaybePark() {
  int limit = limit_.load(std::memory_order_relaxed);
  if (Slot* s = tls_slot; s != nullptr && s->back) {
    s->back = false;
    ++limit;
  }
  if (active_.load(std::memory_order_relaxed) <= limit) return;
  MutexLock l(&park_mu_);
  if (active_.load(std::memory_order_acquire) <= limit || stopping_.load()) return;
  active_.fetch_sub(1, std::memory_order_acq_rel);
  ++parked_;
  while (grants_ == 0 && !stopping_.load()) park_cv_.Wait(&park_mu_);
  if (grants_ > 0) {
    --grants_;  // the granter counted us active again
    return;
  }
  --parked_;  // stopping
  active_.fetch_add(1, std::memory_order_acq_rel);
}

void WorkerPool::SetLimit(int limit) {
  if (limit_.exchange(limit, std::memory_order_acq_rel) >= limit) return;  // surplus parks itself
  MutexLock l(&park_mu_);
  while (parked_ > 0 && active_.load(std::memory_order_acquire) < limit) {
    --parked_;
    ++grants_;
    active_.fetch_add(1, std::memory_order_acq_rel);
    park_cv_.Signal();
  }
}

void WorkerPool::WakeAllParked() {
  {
    MutexLock l(&park_mu_);
  }
  park_cv_.SignalAll();
}

// --- the monitor ----------------------------------------------------------

void WorkerPool::MonitorLoop() {
  std::vector<uint64_t> last(static_cast<size_t>(options_.threads), 0);
  std::vector<Clock::time_point> since(static_cast<size_t>(options_.threads), Clock::now());
  window_start_ = Clock::now();
  while (!stopping_.load()) {
    {
      MutexLock l(&monitor_mu_);
      if (!stopping_.load()) monitor_cv_.WaitFor(&monitor_mu_, options_.tick);
    }
    const auto now = Clock::now();
    AdjustLimit(now);
    PresumeStalled(now, &last, &since);
    handler_->OnTick(now);
  }
}

void WorkerPool::AdjustLimit(Clock::time_point now) {
  // How many workers may run: no more than the connections that kept the
  // pool busy lately.  With one client, a second running worker only takes
  // its next request while the first is on its way back to epoll (a
  // wake-up per request instead of none).
  if (now - window_start_ < std::chrono::milliseconds(100)) return;
  window_start_ = now;
  window_.fetch_add(1, std::memory_order_relaxed);
  const int conns = window_conns_.exchange(0, std::memory_order_relaxed);
  SetLimit(std::clamp(conns, 1, options_.max_active));
}

void WorkerPool::PresumeStalled(Clock::time_point now, std::vector<uint64_t>* last,
                                std::vector<Clock::time_point>* since) {
  // Workers stuck in one request without saying they block.
  for (int i = 0; i < options_.threads; ++i) {
    std::atomic<uint64_t>& word = slots_[i].word;
    uint64_t w = word.load(std::memory_order_acquire);
    if (w != (*last)[i]) {
      (*last)[i] = w;
      (*since)[i] = now;
      continue;
    }
    if ((w & kInRequest) && !(w & kOut) && now - (*since)[i] >= options_.stall &&
        word.compare_exchange_strong(w, w | kOut, std::memory_order_acq_rel)) {
      (*last)[i] = w | kOut;
      DURUS_LOG(*log_, kDebug, "worker %d busy in one request for %.0f ms: another takes its place", i,
                std::chrono::duration<double, std::milli>(options_.stall).count());
      LeaveActive();
    }
  }
}

}  // namespace durus::server
