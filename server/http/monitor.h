// Monitor: what `durus-bdb serve --http` reports, gathered in one place.
//
// A Snapshot is every figure at one moment: the server's counters
// (ServerFigures, ServerMetrics: requests, bytes, latency histograms), the
// storage's (Storage::GetStats: objects, collector backlog and freed
// objects, trace progress, disk bytes) and, when the caller supplies them,
// the engine's own (EngineFigures: for a Berkeley DB home the cache and the
// log, bdb/env_figures.h).  The server stays over any Storage: without an
// engine source those metrics are simply absent.
//
// The status page's charts read a ring of one Sample per second for the
// last 10 minutes (rates and latency quantiles computed from the
// differences between consecutive snapshots), filled by Tick().
//
// Ownership: borrows the server, the storage and the engine source, which
// must outlive it (HttpServer stops before the storage closes).
// Threading: Take() and Tick() from any thread; the ring and the last
// engine probe are guarded by mu_ (a leaf: no other lock is taken under
// it, and the storage is read before taking it).
#ifndef DURUS_BDB_SERVER_HTTP_MONITOR_H_
#define DURUS_BDB_SERVER_HTTP_MONITOR_H_

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "engine/status.h"
#include "engine/storage.h"
#include "server/metrics.h"
#include "server/server.h"
#include "server/server_status.h"
#include "util/mutex.h"

namespace durus::server {

// Figures only a particular engine has (all counters since open unless
// said otherwise).
struct EngineFigures {
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t cache_bytes = 0;        // configured cache size
  uint64_t log_written_bytes = 0;  // written to the log
  uint64_t log_flushes = 0;        // log fsyncs
  uint64_t log_disk_bytes = 0;     // log files on disk now
};
// Fills the figures; an error (e.g. a panicked environment) is reported
// as such and makes /healthz unhealthy.
using EngineFiguresFn = std::function<Status(EngineFigures*)>;

struct Snapshot {
  int64_t unix_ms = 0;
  bool stopping = false;
  ServerFigures server;
  std::array<uint64_t, 256> requests{};  // by command byte
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t objects_loaded = 0;
  LatencyHistogram::Snapshot load_latency;
  LatencyHistogram::Snapshot commit_latency;
  Status storage_status;  // of GetStats
  StorageStats storage;
  bool has_engine = false;
  Status engine_status;
  EngineFigures engine;
};

// One point of the charts (a second).
struct Sample {
  int64_t unix_ms = 0;
  double commits_per_s = 0;
  double loads_per_s = 0;      // objects loaded (L, and each oid of a B)
  double conflicts_per_s = 0;  // commit conflicts + load conflicts
  uint64_t backlog = 0;        // the collector's pending-garbage queue
  double commit_p50_ms = 0;    // Storage::Commit in that second
  double commit_p99_ms = 0;
  uint64_t clients = 0;
};

class Monitor {
 public:
  static constexpr size_t kSamples = 600;  // 10 minutes at one a second

  // `engine` may be empty (a storage without engine figures).
  Monitor(const Server* server, Storage* storage, EngineFiguresFn engine);

  Snapshot Take();
  // Takes a snapshot and appends the second's Sample (the sampler thread,
  // about once a second).
  void Tick() EXCLUDES(mu_);
  std::deque<Sample> Series() const EXCLUDES(mu_);
  // False with the reason while stopping, when the storage fails or the
  // engine reported an error at the last Tick.
  bool Healthy(std::string* why) const EXCLUDES(mu_);

 private:
  const Server* const server_;
  Storage* const storage_;
  const EngineFiguresFn engine_;

  mutable util::Mutex mu_;
  std::deque<Sample> samples_ GUARDED_BY(mu_);
  bool have_last_ GUARDED_BY(mu_) = false;
  Snapshot last_ GUARDED_BY(mu_);
};

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_HTTP_MONITOR_H_
