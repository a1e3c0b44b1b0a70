// Unit tests of the server's small parts: UnusedOids (ranges of oids
// handed out), RequestBudget (server-wide request memory), LeaseTable (hot
// objects' leases), CommitSequencer (the commit token).  The invalidation table has its own file
// (invalidation_table_test.cc).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "server/commit_sequencer.h"
#include "server/lease_table.h"
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

TEST(LeaseTableTest, ParksLoadsOfOthersLeasesUntilTheyEnd) {
  using C = LeaseTable::Clock;
  LeaseTable t;
  const auto far = C::now() + std::chrono::hours(1);
  EXPECT_FALSE(t.Park(2, Oid(7), far));  // nothing leased
  t.Hold(1, {Oid(7), Oid(8)});
  EXPECT_EQ(t.leased(), 2u);
  EXPECT_FALSE(t.Park(1, Oid(7), far));  // its own lease
  EXPECT_FALSE(t.Park(2, Oid(9), far));  // not leased
  EXPECT_TRUE(t.Park(2, Oid(7), far));   // pinned until acknowledged
  t.Unpin(1, far);                       // think time: still held
  EXPECT_TRUE(t.Park(3, Oid(8), far));
  // Client 4's commit writes oid 8: the lease on it passes to 4; once 4's
  // ends (say its commit was refused), 3's load is released; 2's stays
  // parked (7 is still 1's).
  t.Hold(4, {Oid(8)});
  t.Unpin(4, C::now());
  auto r = t.AwaitReleases();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].client, 3u);
  EXPECT_FALSE(r[0].timed_out);
  // A new commit of client 1 replaces its lease: 7 is free.
  t.Hold(1, {Oid(10)});
  r = t.AwaitReleases();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].client, 2u);
  // The lease ends at its time, a parked load at its deadline.
  t.Unpin(1, C::now() + milliseconds(30));
  EXPECT_TRUE(t.Park(5, Oid(10), far));
  r = t.AwaitReleases();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].timed_out);
  t.Hold(1, {Oid(11)});
  EXPECT_TRUE(t.Park(5, Oid(11), C::now() + milliseconds(30)));
  r = t.AwaitReleases();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].timed_out);
  // Disconnection ends every lease; Stop releases the lease thread.
  EXPECT_TRUE(t.Park(6, Oid(11), far));
  t.Forget(1);
  EXPECT_EQ(t.AwaitReleases().size(), 1u);
  EXPECT_EQ(t.leased(), 0u);
  // Commits too large to be a hot object's lease none.
  std::vector<Oid> big;
  for (uint64_t i = 100; i < 100 + LeaseTable::kMaxLeasedOids + 1; ++i) big.push_back(Oid(i));
  t.Hold(1, big);
  EXPECT_FALSE(t.Park(2, Oid(100), far));
  std::thread stopper([&] { t.Stop(); });
  EXPECT_TRUE(t.AwaitReleases().empty());
  stopper.join();
}

TEST(CommitSequencerTest, OneHolderALineAndTheGrace) {
  // The sequencer never looks inside its committers: any distinct
  // addresses do.
  char slots[3];
  Client* a = reinterpret_cast<Client*>(&slots[0]);
  Client* b = reinterpret_cast<Client*>(&slots[1]);
  Client* c = reinterpret_cast<Client*>(&slots[2]);
  const auto hour = std::chrono::hours(1);
  const auto later = Clock::now() + 2 * hour;
  CommitSequencer s;
  ASSERT_TRUE(s.TryAcquire(a));
  EXPECT_FALSE(s.TryAcquire(b));  // in line
  EXPECT_FALSE(s.TryAcquire(c));
  EXPECT_EQ(s.GraceExpired(Clock::now(), hour), nullptr);
  EXPECT_EQ(s.GraceExpired(later, hour), a);   // its client has not answered
  EXPECT_FALSE(s.Release(b, false).released);  // not the holder
  // a's data arrived: the grace cannot take the token any more.
  EXPECT_TRUE(s.KeepToken(a));
  EXPECT_EQ(s.GraceExpired(later, hour), nullptr);
  EXPECT_FALSE(s.Release(a, /*grace_expired=*/true).released);
  CommitSequencer::Handover h = s.Release(a, false);
  EXPECT_TRUE(h.released);
  EXPECT_EQ(h.next, b);  // the caller sends b its list
  EXPECT_EQ(s.GraceExpired(later, hour), b);
  h = s.Release(b, /*grace_expired=*/true);
  EXPECT_TRUE(h.released);
  EXPECT_EQ(h.next, c);
  EXPECT_FALSE(s.KeepToken(b));  // b's commit is optimistic now
  // b waits in a thread for c to finish.
  std::atomic<bool> stopping{false};
  std::atomic<int> waits{0};
  CommitSequencer::SyncWaiter w;
  w.c = b;
  std::atomic<bool> got{false};
  std::thread t([&] { got = s.AcquireSync(&w, stopping, [&] { ++waits; }); });
  while (waits.load() == 0) std::this_thread::yield();
  h = s.Release(c, false);
  EXPECT_TRUE(h.released);
  EXPECT_EQ(h.next, nullptr);  // the waiting thread was woken instead
  t.join();
  EXPECT_TRUE(got.load());
  EXPECT_TRUE(s.KeepToken(b));
  // Stopping: a waiter leaves the line.
  CommitSequencer::SyncWaiter w2;
  w2.c = a;
  stopping = true;
  EXPECT_FALSE(s.AcquireSync(&w2, stopping, [] {}));
  EXPECT_EQ(s.Release(b, false).next, nullptr);
}

TEST(CommitSequencerTest, KeepsTheDeadlinesOfCommittersAwaitingData) {
  char slots[2];
  Client* a = reinterpret_cast<Client*>(&slots[0]);
  Client* b = reinterpret_cast<Client*>(&slots[1]);
  CommitSequencer s;
  const auto now = Clock::now();
  s.AwaitData(a, 1, now);
  s.AwaitData(b, 2, now + std::chrono::hours(1));
  EXPECT_EQ(s.Late(now), (std::vector<uint64_t>{1}));
  EXPECT_TRUE(s.StillLate(a, now));
  EXPECT_FALSE(s.StillLate(b, now));
  s.DataArrived(a);
  EXPECT_TRUE(s.Late(now).empty());
  ASSERT_TRUE(s.TryAcquire(b));
  EXPECT_TRUE(s.Forget(b));  // the holder: the caller releases the token
  EXPECT_FALSE(s.Forget(a));
  EXPECT_TRUE(s.Late(now + std::chrono::hours(2)).empty());
}

}  // namespace
}  // namespace durus::server
