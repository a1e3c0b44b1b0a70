// server/http/ in process: the latency histogram's quantiles, the
// monitor's health (a failing engine, a stopping server) and the same
// through a real HTTP request to /healthz, /metrics and /api/series.
#include "server/http/monitor.h"

#include <httplib.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "engine/memory_storage.h"
#include "gtest/gtest.h"
#include "server/http/exposition.h"
#include "server/http/http_server.h"
#include "server/metrics.h"
#include "server/server.h"

namespace durus::server {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(LatencyHistogramTest, CountsSumAndQuantiles) {
  LatencyHistogram h;
  for (int i = 0; i < 98; ++i) h.Observe(microseconds(700));  // (0.5, 1] ms
  h.Observe(milliseconds(30));                                // (25, 50] ms
  h.Observe(milliseconds(20000));                             // past 10 s
  LatencyHistogram::Snapshot s = h.Take();
  EXPECT_EQ(s.count, 100u);
  EXPECT_NEAR(s.sum_seconds, 98 * 0.0007 + 0.03 + 20, 1e-6);
  EXPECT_GT(s.Quantile(0.5), 0.0005);
  EXPECT_LE(s.Quantile(0.5), 0.001);
  EXPECT_GT(s.Quantile(0.99), 0.025);
  EXPECT_LE(s.Quantile(0.99), 0.05);
  EXPECT_EQ(s.Quantile(1.0), 10);  // no upper edge past the last bound
  LatencyHistogram::Snapshot later = s;
  h.Observe(microseconds(10));
  EXPECT_EQ(h.Take().Minus(later).count, 1u);
  EXPECT_LE(h.Take().Minus(later).Quantile(0.99), 0.00005);
  EXPECT_EQ(LatencyHistogram::Snapshot().Quantile(0.5), 0);
}

class MonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.listen.port = 0;
    o.threads = 2;
    server_ = std::make_unique<Server>(&storage_, o, &log_);
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override {
    server_->Shutdown();
    server_->Wait();
  }
  EngineFiguresFn Engine() {
    return [this](EngineFigures* f) {
      f->cache_hits = 3;
      f->cache_misses = 1;
      return engine_fails_.load() ? Status::Corruption("environment panicked") : Status::OK();
    };
  }

  MemoryStorage storage_;
  Logger log_{LogLevel::kError};
  std::unique_ptr<Server> server_;
  std::atomic<bool> engine_fails_{false};
};

TEST_F(MonitorTest, HealthFollowsTheEngineAndTheServer) {
  Monitor m(server_.get(), &storage_, Engine());
  std::string why;
  m.Tick();
  EXPECT_TRUE(m.Healthy(&why));
  engine_fails_ = true;
  m.Tick();
  EXPECT_FALSE(m.Healthy(&why));
  EXPECT_NE(why.find("environment panicked"), std::string::npos) << why;
  std::string text = RenderExposition(m.Take());
  EXPECT_NE(text.find("durus_bdb_storage_healthy 0\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("durus_bdb_cache_hit_ratio"), std::string::npos);
  engine_fails_ = false;
  m.Tick();
  EXPECT_TRUE(m.Healthy(&why));
  text = RenderExposition(m.Take());
  EXPECT_NE(text.find("durus_bdb_cache_hit_ratio 0.75\n"), std::string::npos) << text;
  server_->Shutdown();
  EXPECT_FALSE(m.Healthy(&why));
  EXPECT_EQ(why, "stopping");
}

TEST_F(MonitorTest, HttpEndpoints) {
  HttpServer http(server_.get(), &storage_, Engine(), &log_);
  ASSERT_TRUE(http.Start("127.0.0.1", 0).ok());
  httplib::Client client("127.0.0.1", http.port());
  auto res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ok\n");
  res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("# TYPE durus_bdb_commits_total counter\ndurus_bdb_commits_total 0\n"),
            std::string::npos);
  res = client.Get("/api/series");
  ASSERT_TRUE(res);
  nlohmann::json j = nlohmann::json::parse(res->body);
  EXPECT_EQ(j["now"]["commits"], 0);
  EXPECT_TRUE(j["series"]["commits_per_s"].is_array());
  res = client.Get("/");
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find("<canvas id=\"chart-commits\">"), std::string::npos);
  // A requested stop: 503 while the server drains.
  server_->Shutdown();
  res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->body, "stopping\n");
  http.Stop();
  http.Stop();  // idempotent
}

}  // namespace
}  // namespace durus::server
