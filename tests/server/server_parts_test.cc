// Unit tests of the server's small parts: UnusedOids (ranges of oids
// handed out), RequestBudget (server-wide request memory), InflightTable
// (loads waiting for commits in flight).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "server/inflight_table.h"
#include "server/request_budget.h"
#include "server/unused_oids.h"

namespace durus::server {
namespace {

using std::chrono::milliseconds;

TEST(UnusedOidsTest, KeepsRunsAsRanges) {
  UnusedOids u;
  for (uint64_t i = 100; i < 100 + 1000; ++i) u.Insert(Oid(i));
  EXPECT_EQ(u.size(), 1000u);
  EXPECT_EQ(u.ranges(), 1u);
  u.Insert(Oid(99));    // joins at the front
  u.Insert(Oid(1100));  // and at the back
  u.Insert(Oid(500));   // held already
  EXPECT_EQ(u.size(), 1002u);
  EXPECT_EQ(u.ranges(), 1u);
  u.Erase(Oid(500));  // splits
  EXPECT_FALSE(u.Contains(Oid(500)));
  EXPECT_TRUE(u.Contains(Oid(499)) && u.Contains(Oid(501)) && u.Contains(Oid(99)));
  EXPECT_EQ(u.ranges(), 2u);
  u.Insert(Oid(500));  // bridges them again
  EXPECT_EQ(u.ranges(), 1u);
  u.Insert(Oid(2000));
  u.Insert(Oid(1999));
  EXPECT_EQ(u.ranges(), 2u);
  EXPECT_FALSE(u.Contains(Oid(1500)));
  u.Erase(Oid(1500));  // absent: no change
  for (uint64_t i = 99; i <= 1100; ++i) u.Erase(Oid(i));
  u.Erase(Oid(1999));
  u.Erase(Oid(2000));
  EXPECT_TRUE(u.empty());
  EXPECT_EQ(u.ranges(), 0u);
}

TEST(RequestBudgetTest, WaitsForReleasedBytesAndTimesOut) {
  RequestBudget b(100);
  auto soon = [] { return std::chrono::steady_clock::now() + milliseconds(50); };
  int waits = 0;
  auto count = [&] { ++waits; };
  ASSERT_TRUE(b.Acquire(60, soon(), count));
  EXPECT_FALSE(b.Acquire(60, soon(), count));  // does not fit, nobody releases
  EXPECT_EQ(waits, 1);
  std::thread releaser([&] {
    std::this_thread::sleep_for(milliseconds(30));
    b.Release(60);
  });
  EXPECT_TRUE(b.Acquire(60, std::chrono::steady_clock::now() + std::chrono::seconds(30), count));
  releaser.join();
  EXPECT_EQ(b.in_use(), 60u);
  b.Release(60);
  // Larger than the whole budget: admitted alone.
  EXPECT_TRUE(b.Acquire(500, soon(), count));
  EXPECT_FALSE(b.Acquire(1, soon(), count));
  b.Release(500);
  { RequestBudget::Lease l(&b, 0); }
  EXPECT_EQ(b.in_use(), 0u);
}

TEST(InflightTableTest, LoadWaitsUntilTheCommitReturns) {
  InflightTable t;
  std::atomic<bool> invalid{false};
  auto is_invalid = [&](Oid) { return invalid.load(); };
  int before = 0;
  auto count = [&] { ++before; };
  const Oid x(7), y(8);
  // Nothing in flight: no wait.
  EXPECT_EQ(t.WaitUntilSettled(&x, 1, is_invalid, milliseconds(10), count), InflightTable::Wait::kClear);
  t.Add({x});
  // Another oid: no wait.
  EXPECT_EQ(t.WaitUntilSettled(&y, 1, is_invalid, milliseconds(10), count), InflightTable::Wait::kClear);
  EXPECT_EQ(before, 0);
  // The oid in flight: waits, and gives up at the timeout.
  EXPECT_EQ(t.WaitUntilSettled(&x, 1, is_invalid, milliseconds(20), count), InflightTable::Wait::kTimedOut);
  EXPECT_EQ(before, 1);
  std::thread remover([&] {
    std::this_thread::sleep_for(milliseconds(30));
    t.Remove({x});
  });
  EXPECT_EQ(t.WaitUntilSettled(&x, 1, is_invalid, std::chrono::seconds(30), count), InflightTable::Wait::kClear);
  remover.join();
  EXPECT_TRUE(t.empty());
  // Published to the waiter meanwhile (a second commit on x): it stops
  // waiting and answers 'I'.
  t.Add({x});
  std::thread second([&] {
    std::this_thread::sleep_for(milliseconds(30));
    invalid.store(true);
    t.Add({x});
  });
  EXPECT_EQ(t.WaitUntilSettled(&x, 1, is_invalid, std::chrono::seconds(30), count), InflightTable::Wait::kInvalid);
  second.join();
  EXPECT_EQ(t.waits(), 3u);
}

}  // namespace
}  // namespace durus::server
