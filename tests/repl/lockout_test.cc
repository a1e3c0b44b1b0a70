// Replication lockouts (bdb/retry.h, "Replication lockouts"): a read or a
// transaction that finds a site's API locked out by Berkeley DB fails at
// once with DB_REP_LOCKOUT and waits in our retry, outside Berkeley DB --
// never Berkeley DB's own 5 s sleeps (the ~5 s failover tails of
// doc/replication.md) -- and a lockout longer than the wait becomes Busy.
//
// The lockout is real: a replication environment (Berkeley DB's base API,
// a transport that drops every message) is master, a cursor without a
// transaction is held open (an operation in progress), and another thread
// makes the site a client: rep_start sets REP_LOCKOUT_OP and waits for the
// held cursor to close.  Reads are made then, the way BdbStorage::Load
// makes them on a replication site (GetNoWait through ThroughLockouts).
//
// No timing assertions: without the fix a read sleeps inside Berkeley DB
// or waits for a lockout that cannot end while the test holds its cursor;
// the watchdog (kWatchdog, far beyond any wait of ours) turns that into a
// failure rather than a hang.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include "bdb/handles.h"
#include "bdb/retry.h"

namespace durus::bdb {
namespace {

using namespace std::chrono_literals;

constexpr auto kWatchdog = 30s;

int DropMessage(DbEnv*, const Dbt*, const Dbt*, const DbLsn*, int, u_int32_t) { return 0; }

class LockoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/durus-lockout-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    env_ = std::make_unique<DbEnv>(DB_CXX_NO_EXCEPTIONS);
    // As the storage's environments: Berkeley DB's messages ("Operation
    // locked out", on every refused call) are kept, not printed.
    env_->set_errcall(&DbErrorCallback);
    ASSERT_EQ(env_->rep_set_transport(1, &DropMessage), 0);
    // As every replication site is configured (bdb/replication.cc).
    ASSERT_EQ(FailFastOnLockouts(env_.get()), 0);
    ASSERT_EQ(env_->open(dir_.c_str(),
                         DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_INIT_TXN |
                             DB_INIT_REP | DB_THREAD | DB_RECOVER,
                         0),
              0);
    ASSERT_EQ(env_->rep_start(nullptr, DB_REP_MASTER), 0);
    db_ = std::make_unique<Db>(env_.get(), 0);
    ASSERT_EQ(
        db_->open(nullptr, "t.db", nullptr, DB_BTREE, DB_CREATE | DB_AUTO_COMMIT | DB_THREAD, 0),
        0);
    Dbt key = InDbt("k", 1), data = InDbt("value", 5);
    ASSERT_EQ(db_->put(nullptr, &key, &data, DB_AUTO_COMMIT), 0);
  }

  void TearDown() override {
    ReleaseAndJoin();
    if (db_ != nullptr) db_->close(0);
    db_.reset();
    if (env_ != nullptr) env_->close(0);
    env_.reset();
    std::string rm = "rm -rf '" + dir_ + "'";
    if (system(rm.c_str()) != 0) ADD_FAILURE() << "could not remove " << dir_;
  }

  // Holds an operation open and has another thread make the site a client;
  // returns once a new cursor is refused with DB_REP_LOCKOUT (false if the
  // watchdog ran out first: no lockout, or a cursor that waited in it).
  bool EnterLockout() {
    if (held_.Open(db_.get(), nullptr) != 0) return false;
    role_change_ =
        std::thread([this] { role_change_ret_ = env_->rep_start(nullptr, DB_REP_CLIENT); });
    std::atomic<bool> stop{false};
    auto probe = std::async(std::launch::async, [this, &stop] {
      while (!stop) {
        Cursor c;
        int ret = c.Open(db_.get(), nullptr);
        if (ret == DB_REP_LOCKOUT) return true;
        if (ret != 0) return false;
        c.Close();
        std::this_thread::sleep_for(1ms);
      }
      return false;
    });
    if (probe.wait_for(kWatchdog) != std::future_status::ready) {
      ADD_FAILURE() << "no DB_REP_LOCKOUT within " << kWatchdog.count()
                    << " s: a cursor opened during the lockout waited in Berkeley DB "
                       "(DB_REP_CONF_NOWAIT not set?)";
      stop = true;
      ReleaseAndJoin();  // ends the lockout, so the probe returns
      return false;
    }
    return probe.get();
  }

  // Ends the lockout (the held operation closes) and waits for the role
  // change.
  void ReleaseAndJoin() {
    held_.Close();
    if (role_change_.joinable()) role_change_.join();
  }

  // A load as BdbStorage::Load makes one on a replication site.
  Status Load(std::string* out, std::chrono::milliseconds budget) {
    return ThroughLockouts(
        [&] {
          Dbt key = InDbt("k", 1);
          int ret = GetNoWait(db_.get(), &key, out);
          return FromDb(ret, "loading k");
        },
        budget);
  }

  std::string dir_;
  std::unique_ptr<DbEnv> env_;
  std::unique_ptr<Db> db_;
  Cursor held_;
  std::thread role_change_;
  std::atomic<int> role_change_ret_{-1};
};

TEST_F(LockoutTest, ALoadLockedOutTooLongIsBusyAfterWaitingOutsideBerkeleyDb) {
  ASSERT_TRUE(EnterLockout());
  const uint64_t pauses = LockoutPauses();
  auto load = std::async(std::launch::async, [&] {
    std::string v;
    return Load(&v, 50ms);
  });
  if (load.wait_for(kWatchdog) != std::future_status::ready) {
    ADD_FAILURE() << "the load waited inside Berkeley DB for the lockout";
    ReleaseAndJoin();
    load.wait();
    return;
  }
  Status s = load.get();
  EXPECT_TRUE(s.IsBusy()) << s.ToString();
  EXPECT_TRUE(IsLockout(s)) << s.ToString();
  EXPECT_NE(s.message().find("retry"), std::string::npos) << s.ToString();
  EXPECT_GT(LockoutPauses(), pauses);
  ReleaseAndJoin();
  EXPECT_EQ(role_change_ret_.load(), 0);
}

TEST_F(LockoutTest, ALoadDuringALockoutReturnsTheValueWhenItEnds) {
  ASSERT_TRUE(EnterLockout());
  const uint64_t pauses = LockoutPauses();
  std::string value;
  auto load = std::async(std::launch::async, [&] { return Load(&value, 10min); });
  // The load is waiting in our retry (not in Berkeley DB) before the
  // lockout may end.
  const auto deadline = std::chrono::steady_clock::now() + kWatchdog;
  while (LockoutPauses() == pauses && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_GT(LockoutPauses(), pauses) << "the load never paused in ThroughLockouts";
  ReleaseAndJoin();
  EXPECT_EQ(role_change_ret_.load(), 0);
  ASSERT_EQ(load.wait_for(kWatchdog), std::future_status::ready);
  Status s = load.get();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(value, "value");
}

TEST_F(LockoutTest, ATransactionLockedOutIsRetriedThenBusy) {
  ASSERT_TRUE(EnterLockout());
  const uint64_t pauses = LockoutPauses();
  int attempts = 0;
  auto commit = std::async(std::launch::async, [&] {
    return RetryTxn([&](bool* retry) -> Status {
      ++attempts;
      Txn txn;
      int ret = txn.Begin(env_.get());
      if (ret != 0) return TxnFailure(ret, "beginning a commit", retry);
      return Status::OK();
    });
  });
  if (commit.wait_for(kWatchdog) != std::future_status::ready) {
    ADD_FAILURE() << "txn_begin waited inside Berkeley DB for the lockout";
    ReleaseAndJoin();
    commit.wait();
    return;
  }
  Status s = commit.get();
  EXPECT_TRUE(s.IsBusy()) << s.ToString();
  EXPECT_TRUE(IsLockout(s)) << s.ToString();
  EXPECT_GT(attempts, 1);
  EXPECT_GT(LockoutPauses(), pauses);
}

}  // namespace
}  // namespace durus::bdb
