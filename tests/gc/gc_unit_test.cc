// gc/: the pacing policy and the report formats (the progress line is
// util/progress.h, tested in tests/util).
#include <gtest/gtest.h>

#include "bdb/gc/pacer.h"
#include "bdb/gc/report.h"

namespace durus::gc {
namespace {

using Clock = Pacer::Clock;
using std::chrono::milliseconds;

TEST(Pacer, TokenBucketAllowsPerSecondInBatches) {
  Pacer p(1000, 100);
  Clock::time_point t0 = Clock::now();
  EXPECT_EQ(p.Allowance(t0), 0u);  // starts empty
  EXPECT_GT(p.Wait(t0), Clock::duration::zero());
  // 50 ms: 50 records.
  EXPECT_EQ(p.Allowance(t0 + milliseconds(50)), 50u);
  p.Spent(50, milliseconds(1), t0 + milliseconds(50));
  EXPECT_EQ(p.Allowance(t0 + milliseconds(50)), 0u);
  // A long idle period fills the bucket to one batch only.
  EXPECT_EQ(p.Allowance(t0 + milliseconds(10000)), 100u);
  // Over 10 simulated seconds the total stays at ~1000/s.
  uint64_t total = 0;
  Clock::time_point t = t0 + milliseconds(10000);
  p.Spent(100, milliseconds(0), t);
  for (int i = 0; i < 10000; ++i) {
    t += milliseconds(1);
    uint32_t a = p.Allowance(t);
    total += a;
    p.Spent(a, milliseconds(0), t);
  }
  EXPECT_NEAR(static_cast<double>(total), 10000.0, 200.0);
}

TEST(Pacer, UnlimitedKeepsADutyCycle) {
  Pacer p(0, 256, 0.5);
  Clock::time_point t0 = Clock::now();
  EXPECT_EQ(p.Allowance(t0), 256u);
  p.Spent(256, milliseconds(20), t0);
  EXPECT_EQ(p.Allowance(t0 + milliseconds(10)), 0u);
  EXPECT_EQ(p.Wait(t0 + milliseconds(10)), milliseconds(10));
  EXPECT_EQ(p.Allowance(t0 + milliseconds(20)), 256u);
}

TEST(VerifyReport, TextAndJson) {
  VerifyReport r;
  r.records = 10;
  r.max_samples = 1;
  EXPECT_TRUE(r.clean());
  EXPECT_NE(FormatVerifyText(r).find("no problems found"), std::string::npos);
  r.Add(Problem{ProblemKind::kCountMismatch, 7, 3, 1, 0, ""});
  r.Add(Problem{ProblemKind::kMetaMismatch, 0, 5, 4, 0, "object_count"});
  EXPECT_EQ(r.total_problems(), 2u);
  EXPECT_EQ(r.samples.size(), 1u);
  std::string text = FormatVerifyText(r);
  EXPECT_NE(text.find("count_mismatch: oid 7 count 3, referrers 1"), std::string::npos) << text;
  EXPECT_NE(text.find("(1 more not listed)"), std::string::npos) << text;
  std::string json = FormatVerifyJson(r);
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
  EXPECT_NE(json.find("\"clean\": false"), std::string::npos);
  EXPECT_NE(json.find("\"meta_mismatch\": 1"), std::string::npos);
  EXPECT_NE(json.find("\"kind\": \"count_mismatch\", \"oid\": 7"), std::string::npos) << json;
}

}  // namespace
}  // namespace durus::gc
