// Replication operations without a group: the lag a replica reports
// (bdb/replication.h LagSampler) and the replication lines of the status
// file `durus-bdb stat` reads (bdb/status_file.h).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "bdb/call_deadline.h"
#include "bdb/replication.h"
#include "bdb/status_file.h"

namespace durus::bdb {
namespace {

TEST(LagSampler, ZeroWhenCaughtUp) {
  LagSampler lag;
  lag.Add(10.0, 1000, 1000);
  EXPECT_EQ(lag.bytes(), 0u);
  EXPECT_EQ(lag.seconds(), 0.0);
  lag.Add(11.0, 900, 1000);  // this site read its end after the master's answer
  EXPECT_EQ(lag.bytes(), 0u);
  EXPECT_EQ(lag.seconds(), 0.0);
}

TEST(LagSampler, SecondsSinceTheMasterWasWhereThisSiteIs) {
  LagSampler lag;
  lag.Add(10.0, 1000, 1000);  // caught up at t=10
  lag.Add(11.0, 2000, 1000);  // master moved on, nothing applied here
  EXPECT_EQ(lag.bytes(), 1000u);
  EXPECT_DOUBLE_EQ(lag.seconds(), 1.0);
  lag.Add(12.0, 3000, 1000);
  EXPECT_DOUBLE_EQ(lag.seconds(), 2.0);
  // Applied up to where the master was at t=11: behind since then.
  lag.Add(13.0, 4000, 2000);
  EXPECT_EQ(lag.bytes(), 2000u);
  EXPECT_DOUBLE_EQ(lag.seconds(), 2.0);
  lag.Add(14.0, 4000, 4000);
  EXPECT_EQ(lag.bytes(), 0u);
  EXPECT_EQ(lag.seconds(), 0.0);
}

TEST(LagSampler, BehindFromTheFirstSample) {
  LagSampler lag;
  lag.Add(5.0, 500, 100);
  EXPECT_EQ(lag.bytes(), 400u);
  EXPECT_EQ(lag.seconds(), 0.0);  // no earlier sample: behind for < 1 period
  lag.Add(6.5, 600, 100);
  EXPECT_DOUBLE_EQ(lag.seconds(), 1.5);
}

TEST(LsnBytes, OrdersAcrossLogFiles) {
  EXPECT_LT(LsnBytes(1, 9000, 10000), LsnBytes(2, 0, 10000));
  EXPECT_EQ(LsnBytes(2, 28, 10000) - LsnBytes(1, 9000, 10000), 1028u);
}

TEST(StatusFile, ReplicationLinesRoundTrip) {
  StorageStats st;
  st.durability = "write_nosync";
  ReplicationFigures& r = st.replication;
  r.role = "replica";
  r.local_site = "127.0.0.1:7002";
  r.master_site = "127.0.0.1:7001";
  r.master_durus = "127.0.0.1:2972";
  r.in_sync = true;
  r.peers = {{"127.0.0.1:7001", true}, {"127.0.0.1:7003", false}};
  r.lag_known = true;
  r.lag_bytes = 4096;
  r.lag_seconds = 1.25;
  r.perm_failed = 3;
  char dir[] = "/tmp/durus-ops-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  ASSERT_TRUE(WriteStatusFile(dir, st).ok());
  LiveStats live;
  ASSERT_TRUE(ReadLiveStats(dir, &live).ok());
  const ReplicationFigures& g = live.stats.replication;
  EXPECT_EQ(g.role, "replica");
  EXPECT_EQ(g.local_site, r.local_site);
  EXPECT_EQ(g.master_site, r.master_site);
  EXPECT_EQ(g.master_durus, r.master_durus);
  EXPECT_TRUE(g.in_sync);
  ASSERT_EQ(g.peers.size(), 2u);
  EXPECT_EQ(g.peers[0].site, "127.0.0.1:7001");
  EXPECT_TRUE(g.peers[0].connected);
  EXPECT_EQ(g.peers[1].site, "127.0.0.1:7003");
  EXPECT_FALSE(g.peers[1].connected);
  EXPECT_TRUE(g.lag_known);
  EXPECT_EQ(g.lag_bytes, 4096u);
  EXPECT_DOUBLE_EQ(g.lag_seconds, 1.25);
  EXPECT_EQ(g.perm_failed, 3u);
  // Not a site: no replication lines, an empty role.
  ASSERT_TRUE(WriteStatusFile(dir, StorageStats()).ok());
  ASSERT_TRUE(ReadLiveStats(dir, &live).ok());
  EXPECT_TRUE(live.stats.replication.role.empty());
  RemoveStatusFile(dir);
  rmdir(dir);
}

}  // namespace
}  // namespace durus::bdb

// The lag sampler's guard (bdb/call_deadline.h): a read that would block
// for ever (a peer that never answers, as a stopped master does) fails
// with EINTR at the deadline.  Without the deadline, or with the handler
// installed with SA_RESTART, the read returns only when the watchdog
// writes a byte after 20 s, and the test fails.
TEST(CallDeadline, InterruptsABlockedRead) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> l(mu);
    if (!cv.wait_for(l, std::chrono::seconds(20), [&] { return done; })) {
      char c = 'x';
      (void)!send(fds[1], &c, 1, MSG_NOSIGNAL);  // unblocks a read the deadline missed
    }
  });
  auto t0 = std::chrono::steady_clock::now();
  ssize_t n = 0;
  int err = 0;
  {
    durus::bdb::CallDeadline deadline(200);
    ASSERT_TRUE(deadline.armed());
    char c;
    n = read(fds[0], &c, 1);
    err = errno;
  }
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  {
    std::lock_guard<std::mutex> l(mu);
    done = true;
  }
  cv.notify_all();
  watchdog.join();
  EXPECT_EQ(n, -1);
  EXPECT_EQ(err, EINTR);
  EXPECT_LT(waited, 19.0);  // interrupted, not unblocked by the watchdog
  close(fds[0]);
  close(fds[1]);
}
