#include "server/http/http_server.h"

#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <utility>

#include "server/http/exposition.h"
#include "server/http/status_page.h"  // generated from status_page.html

namespace durus::server {

Status ParseHttpAddress(const std::string& spec, std::string* host, int* port) {
  std::string h = "127.0.0.1";
  std::string p = spec;
  const size_t colon = spec.rfind(':');
  if (colon != std::string::npos) {
    h = spec.substr(0, colon);
    p = spec.substr(colon + 1);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  }
  const bool digits = !p.empty() && p.size() <= 5 && p.find_first_not_of("0123456789") == p.npos;
  if (h.empty() || !digits || std::stoi(p) > 65535) {
    return Status::InvalidArgument(spec + ": expected PORT or HOST:PORT");
  }
  *host = h;
  *port = std::stoi(p);
  return Status::OK();
}

HttpServer::HttpServer(const Server* server, Storage* storage, EngineFiguresFn engine, Logger* log)
    : monitor_(server, storage, std::move(engine)), log_(log) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start(const std::string& host, int port) {
  http_ = std::make_unique<httplib::Server>();
  // Monitoring needs little: two request threads.  Short timeouts, since
  // Stop waits for the request threads: an idle keep-alive connection or a
  // client stalled mid-request delays the server's exit by at most about
  // a second (cpp-httplib's stop() only closes the listening socket).
  http_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  http_->set_keep_alive_timeout(1);
  http_->set_read_timeout(1);
  http_->set_write_timeout(2);
  http_->set_payload_max_length(1 << 16);

  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderExposition(monitor_.Take()), kExpositionContentType);
  });
  http_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    std::string why;
    if (monitor_.Healthy(&why)) {
      res.set_content("ok\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content(why + "\n", "text/plain");
    }
  });
  http_->Get("/api/series", [this](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(SeriesJson(), "application/json");
  });
  http_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kStatusPage, sizeof(kStatusPage) - 1, "text/html; charset=utf-8");
  });

  if (port == 0) {
    port_ = http_->bind_to_any_port(host);
  } else {
    port_ = http_->bind_to_port(host, port) ? port : -1;
  }
  if (port_ <= 0) {
    return Status::IOError("--http: cannot listen on " + host + ":" + std::to_string(port));
  }
  monitor_.Tick();  // the first snapshot: rates start from here
  sample_thread_ = std::thread([this] { SampleLoop(); });
  listen_thread_ = std::thread([this] { http_->listen_after_bind(); });
  // cpp-httplib's stop() does nothing before the accept loop runs: wait
  // for it, so that an early Stop cannot leave the listener running.
  for (int i = 0; i < 5000 && !http_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const bool v6 = host.find(':') != std::string::npos;
  log_->Log(LogLevel::kInfo, "http on %s%s%s:%d (/metrics, /healthz, /api/series, /)",
            v6 ? "[" : "", host.c_str(), v6 ? "]" : "", port_);
  return Status::OK();
}

void HttpServer::Stop() {
  {
    util::MutexLock l(&mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.SignalAll();
  if (sample_thread_.joinable()) sample_thread_.join();
  if (http_ != nullptr) {
    while (listen_thread_.joinable() && !http_->is_running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    http_->stop();
  }
  if (listen_thread_.joinable()) listen_thread_.join();
}

void HttpServer::SampleLoop() {
  auto next = std::chrono::steady_clock::now();
  while (true) {
    next += std::chrono::seconds(1);
    {
      util::MutexLock l(&mu_);
      while (!stop_ && cv_.WaitUntil(&mu_, next)) {
      }
      if (stop_) return;
    }
    monitor_.Tick();
  }
}

std::string HttpServer::SeriesJson() {
  using Json = nlohmann::ordered_json;
  const Snapshot s = monitor_.Take();
  const std::deque<Sample> series = monitor_.Series();
  std::string why;
  const bool healthy = monitor_.Healthy(&why);
  Json now;
  now["unix_ms"] = s.unix_ms;
  now["healthy"] = healthy;
  now["clients"] = s.server.clients;
  now["commits"] = s.server.commits;
  now["objects_loaded"] = s.objects_loaded;
  now["conflicts"] = s.server.commit_conflicts + s.server.load_conflicts;
  now["commit_conflicts"] = s.server.commit_conflicts;
  now["load_conflicts"] = s.server.load_conflicts;
  now["bytes_in"] = s.bytes_in;
  now["bytes_out"] = s.bytes_out;
  now["commit_p50_ms"] = series.empty() ? 0.0 : series.back().commit_p50_ms;
  now["commit_p99_ms"] = series.empty() ? 0.0 : series.back().commit_p99_ms;
  now["commits_per_s"] = series.empty() ? 0.0 : series.back().commits_per_s;
  now["loads_per_s"] = series.empty() ? 0.0 : series.back().loads_per_s;
  if (s.storage_status.ok()) {
    now["durability"] = s.storage.durability;
    now["objects"] = s.storage.object_count;
    now["backlog"] = s.storage.pending_garbage;
    now["collector_freed"] = s.storage.collected_total;
    now["trace"] = s.storage.trace_running ? s.storage.trace_phase : "idle";
    now["disk_bytes"] = s.storage.disk_bytes;
  }
  if (s.has_engine && s.engine_status.ok()) {
    const uint64_t lookups = s.engine.cache_hits + s.engine.cache_misses;
    now["cache_hit_ratio"] =
        lookups == 0 ? 1.0
                     : static_cast<double>(s.engine.cache_hits) / static_cast<double>(lookups);
    now["log_disk_bytes"] = s.engine.log_disk_bytes;
  }
  Json cols;
  Json t = Json::array(), commits = Json::array(), loads = Json::array(), conflicts = Json::array(),
       backlog = Json::array(), p50 = Json::array(), p99 = Json::array();
  for (const Sample& x : series) {
    t.push_back(x.unix_ms);
    commits.push_back(x.commits_per_s);
    loads.push_back(x.loads_per_s);
    conflicts.push_back(x.conflicts_per_s);
    backlog.push_back(x.backlog);
    p50.push_back(x.commit_p50_ms);
    p99.push_back(x.commit_p99_ms);
  }
  cols["unix_ms"] = std::move(t);
  cols["commits_per_s"] = std::move(commits);
  cols["loads_per_s"] = std::move(loads);
  cols["conflicts_per_s"] = std::move(conflicts);
  cols["backlog"] = std::move(backlog);
  cols["commit_p50_ms"] = std::move(p50);
  cols["commit_p99_ms"] = std::move(p99);
  Json out;
  out["interval_s"] = 1;
  out["now"] = std::move(now);
  out["series"] = std::move(cols);
  return out.dump(-1, ' ', true, Json::error_handler_t::replace);
}

}  // namespace durus::server
