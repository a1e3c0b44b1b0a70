// ServerMetrics: the server's hot-path counters for monitoring (the
// Prometheus endpoint and status page of server/http/): requests by
// command byte, bytes in and out, and latency histograms of the storage's
// loads and commits.  The figures the status file already publishes
// (commits, conflicts, clients: ServerFigures) stay where they are.
//
// Cheap on the hot path: every counter is a relaxed atomic increment; a
// histogram is a fixed array of atomic bucket counts plus a sum, so an
// observation is a few relaxed increments and no lock.  Readers take a
// Snapshot, which is not atomic across buckets (a concurrent observation
// may be in the count and not yet in the sum): fine for monitoring.
//
// Ownership: ServerImpl owns one for the server's life; readers get a
// const reference through Server::metrics().  Threading: any thread.
#ifndef DURUS_BDB_SERVER_METRICS_H_
#define DURUS_BDB_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace durus::server {

class LatencyHistogram {
 public:
  // Upper bounds in seconds (Prometheus `le`), then +Inf.  From 50 us (a
  // cached load) to 10 s (a commit stuck behind a slow disk).
  static constexpr size_t kBounds = 16;
  static constexpr std::array<double, kBounds> kUpperBounds = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   10};

  struct Snapshot {
    // Per bucket, not cumulative; counts[kBounds] is above the last bound.
    std::array<uint64_t, kBounds + 1> counts{};
    uint64_t count = 0;
    double sum_seconds = 0;
    // this - earlier (what was observed in between).
    Snapshot Minus(const Snapshot& earlier) const;
    // The q-quantile (0..1) in seconds, interpolated within its bucket as
    // Prometheus's histogram_quantile does; 0 when empty.
    double Quantile(double q) const;
  };

  void Observe(std::chrono::steady_clock::duration d) {
    const double s = std::chrono::duration<double>(d).count();
    size_t i = 0;
    while (i < kBounds && s > kUpperBounds[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()),
        std::memory_order_relaxed);
  }
  Snapshot Take() const;

 private:
  std::array<std::atomic<uint64_t>, kBounds + 1> counts_{};
  std::atomic<uint64_t> sum_ns_{0};
};

class ServerMetrics {
 public:
  void CountRequest(uint8_t cmd) { requests_[cmd].fetch_add(1, std::memory_order_relaxed); }
  uint64_t requests(uint8_t cmd) const { return requests_[cmd].load(std::memory_order_relaxed); }

  // Bytes received from and sent to clients (SocketStream counts them).
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  // Objects read for clients: one per L, one per oid of a B.
  std::atomic<uint64_t> objects_loaded{0};
  // Storage::Load per L request (the B requests are not in it).
  LatencyHistogram load_latency;
  // Storage::Commit per commit that reached the storage (includes the log
  // flush of the durability mode: the fsync in sync mode).
  LatencyHistogram commit_latency;

 private:
  std::array<std::atomic<uint64_t>, 256> requests_{};
};

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_METRICS_H_
