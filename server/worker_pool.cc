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

thread_local WorkerPool::Batch* WorkerPool::tls_batch = nullptr;
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
  if (stop_fd_ < 0 || epoll_fd_ < 0)
    return Status::IOError(std::string("epoll/eventfd: ") + strerror(errno));
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
  { util::MutexLock l(&monitor_mu_); }
  monitor_cv_.SignalAll();
  if (monitor_.joinable()) monitor_.join();
}

size_t WorkerPool::CloseAll() {
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> all;
  {
    util::MutexLock l(&conns_mu_);
    all.swap(conns_);
  }
  return all.size();  // closed as `all` goes
}

size_t WorkerPool::size() const {
  util::MutexLock l(&conns_mu_);
  return conns_.size();
}

bool WorkerPool::Add(std::unique_ptr<Connection> owned) {
  Connection* c = owned.get();
  {
    util::MutexLock l(&conns_mu_);
    conns_.emplace(c->id, std::move(owned));
  }
  epoll_event ev{};
  ev.events = kArmedEvents;
  ev.data.u64 = c->id;
  return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c->io.fd(), &ev) == 0;
}

void WorkerPool::Unwatch(Connection* c) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->io.fd(), nullptr);
}

Connection* WorkerPool::TryClaim(uint64_t id, bool mark_pending) {
  util::MutexLock l(&conns_mu_);
  auto it = conns_.find(id);
  if (it == conns_.end()) return nullptr;  // removed since the event was queued
  Connection* c = it->second.get();
  uint32_t s = c->state.load(std::memory_order_relaxed);
  while (true) {
    if (s == kIdle) {
      if (c->state.compare_exchange_weak(s, kBusy, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
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
  util::MutexLock l(&conns_mu_);
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
  if (c->state.compare_exchange_strong(expected, kIdle, std::memory_order_release,
                                       std::memory_order_relaxed)) {
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
    util::MutexLock l(&ready_mu_);
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
    util::MutexLock l(&ready_mu_);
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
  SetBlockingHook(
      [](void* p, SocketStream* stream) { static_cast<WorkerPool*>(p)->BeforeBlocking(stream); },
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
          util::MutexLock l(&ready_mu_);
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

}  // namespace durus::server
