#include "server/http/monitor.h"

#include <chrono>
#include <utility>

namespace durus::server {

Monitor::Monitor(const Server* server, Storage* storage, EngineFiguresFn engine)
    : server_(server), storage_(storage), engine_(std::move(engine)) {}

Snapshot Monitor::Take() {
  Snapshot s;
  s.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  s.stopping = server_->stopping();
  s.server = server_->figures();
  const ServerMetrics& m = server_->metrics();
  for (size_t i = 0; i < s.requests.size(); ++i)
    s.requests[i] = m.requests(static_cast<uint8_t>(i));
  s.bytes_in = m.bytes_in.load(std::memory_order_relaxed);
  s.bytes_out = m.bytes_out.load(std::memory_order_relaxed);
  s.objects_loaded = m.objects_loaded.load(std::memory_order_relaxed);
  s.load_latency = m.load_latency.Take();
  s.commit_latency = m.commit_latency.Take();
  s.storage_status = storage_->GetStats(&s.storage);
  if (engine_) {
    s.has_engine = true;
    s.engine_status = engine_(&s.engine);
  }
  return s;
}

void Monitor::Tick() {
  Snapshot now = Take();
  util::MutexLock l(&mu_);
  if (have_last_) {
    const Snapshot& was = last_;
    const double secs = std::max<int64_t>(now.unix_ms - was.unix_ms, 1) / 1000.0;
    auto rate = [&](uint64_t a, uint64_t b) {
      return a >= b ? static_cast<double>(a - b) / secs : 0.0;
    };
    Sample x;
    x.unix_ms = now.unix_ms;
    x.commits_per_s = rate(now.server.commits, was.server.commits);
    x.loads_per_s = rate(now.objects_loaded, was.objects_loaded);
    x.conflicts_per_s = rate(now.server.commit_conflicts + now.server.load_conflicts,
                             was.server.commit_conflicts + was.server.load_conflicts);
    x.backlog = now.storage.pending_garbage;
    const LatencyHistogram::Snapshot d = now.commit_latency.Minus(was.commit_latency);
    x.commit_p50_ms = d.Quantile(0.5) * 1000;
    x.commit_p99_ms = d.Quantile(0.99) * 1000;
    x.clients = now.server.clients;
    samples_.push_back(x);
    while (samples_.size() > kSamples) samples_.pop_front();
  }
  last_ = std::move(now);
  have_last_ = true;
}

std::deque<Sample> Monitor::Series() const {
  util::MutexLock l(&mu_);
  return samples_;
}

bool Monitor::Healthy(std::string* why) const {
  if (server_->stopping()) {
    *why = "stopping";
    return false;
  }
  util::MutexLock l(&mu_);
  if (!have_last_) return true;
  if (!last_.storage_status.ok()) {
    *why = "storage: " + last_.storage_status.ToString();
    return false;
  }
  if (last_.has_engine && !last_.engine_status.ok()) {
    *why = "storage engine: " + last_.engine_status.ToString();
    return false;
  }
  return true;
}

}  // namespace durus::server
