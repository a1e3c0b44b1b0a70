// In-process tests of the server (server/server.h) over MemoryStorage and
// Berkeley DB, driven by a raw protocol-1 client on real sockets.  The
// Durus-client tests (test_*.py) cover the same server through the real
// durus-bdb binary; these pin down the concurrency rules deterministically
// with a storage that can hold a commit in flight.
#include "server/server.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "bdb/bdb_storage.h"
#include "engine/memory_storage.h"
#include "server/protocol.h"
#include "tests/server/server_test_util.h"
#include "util/file.h"

namespace durus::server {
namespace {

using test::GatedStorage;
using test::RawClient;
using test::Rec;
using test::TData;

bool Has(const std::vector<Oid>& v, uint64_t oid) {
  return std::find(v.begin(), v.end(), Oid(oid)) != v.end();
}

LogLevel TestLogLevel() {
  const char* e = getenv("DURUS_TEST_LOG");
  LogLevel l = LogLevel::kWarn;
  if (e != nullptr) ParseLogLevel(e, &l).IgnoreError();
  return l;
}

TEST(ProtocolTest, ParseCommitData) {
  CommitBatch batch;
  std::string good = TData({{0, Rec(0, {5})}, {5, Rec(5, {})}});
  ASSERT_TRUE(ParseCommitData(good, &batch).ok());
  EXPECT_EQ(batch.size(), 2u);
  EXPECT_TRUE(batch.Contains(Oid(5)));
  // Truncated: the last frame is cut short.
  EXPECT_TRUE(ParseCommitData(good.substr(0, good.size() - 1), &batch).IsInvalidArgument());
  // A frame length shorter than an oid.
  std::string tiny;
  PutU32(&tiny, 4);
  tiny += "abcd";
  EXPECT_TRUE(ParseCommitData(tiny, &batch).IsInvalidArgument());
  // Trailing bytes that do not make a frame length.
  EXPECT_TRUE(ParseCommitData(good + "xy", &batch).IsInvalidArgument());
  // A record stored under another oid than the one it carries.
  std::string wrong;
  std::string rec = Rec(7, {});
  PutU32(&wrong, static_cast<uint32_t>(8 + rec.size()));
  PutU64(&wrong, 8);
  wrong += rec;
  EXPECT_TRUE(ParseCommitData(wrong, &batch).IsInvalidArgument());
  // A record too short for its header.
  std::string junk;
  PutU32(&junk, 8 + 3);
  PutU64(&junk, 1);
  junk += "abc";
  EXPECT_TRUE(ParseCommitData(junk, &batch).IsInvalidArgument());
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(Storage* storage, ServerOptions options = {}, int threads = 6) {
    options.listen.host = "127.0.0.1";
    options.listen.port = 0;
    options.threads = threads;
    server_ = std::make_unique<Server>(storage, options, &log_);
    Status st = server_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override { StopServer(); }
  void StopServer() {
    if (server_) {
      server_->Shutdown();
      server_->Wait();
      server_.reset();
    }
  }
  std::unique_ptr<RawClient> Connect() {
    auto c = std::make_unique<RawClient>(server_->port());
    EXPECT_TRUE(c->ok());
    EXPECT_EQ(c->Version(), 1u);
    return c;
  }

  MemoryStorage mem_;
  Logger log_{TestLogLevel()};
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, VersionNewOidsAndMissingKey) {
  StartServer(&mem_);
  auto a = Connect();
  auto oids = a->NewOids(3);
  ASSERT_EQ(oids.size(), 3u);
  EXPECT_EQ(oids[0], Oid(0));
  EXPECT_EQ(oids[1], Oid(1));
  EXPECT_EQ(oids[2], Oid(2));
  a->Send("N");
  std::string n = a->Recv(8);
  ASSERT_EQ(n.size(), 8u);
  EXPECT_EQ(Oid::FromBytes(n.data()), Oid(3));
  EXPECT_EQ(a->Load(0), 'K');
  a->Send("P");
  EXPECT_EQ(a->Recv(1), "O");
}

TEST_F(ServerTest, ProtocolMismatchDropsClient) {
  StartServer(&mem_);
  RawClient c(server_->port());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.Version(2), 1u);  // the server states its own version ...
  EXPECT_TRUE(c.WaitClosed());  // ... and hangs up
  auto good = Connect();
  EXPECT_EQ(good->Load(0), 'K');
}

TEST_F(ServerTest, CommitInvalidatesOtherClientsUntilSync) {
  StartServer(&mem_);
  auto a = Connect();
  auto b = Connect();
  ASSERT_EQ(a->NewOids(2).size(), 2u);
  EXPECT_TRUE(a->BeginCommit().empty());
  ASSERT_EQ(a->SendCommitData(TData({{0, Rec(0, {1}, "v1")}, {1, Rec(1, {})}})), 'O');
  std::string rec;
  EXPECT_EQ(a->Load(0, &rec), 'O');  // the committer itself is not invalidated
  EXPECT_EQ(rec, Rec(0, {1}, "v1"));
  EXPECT_EQ(b->Load(0), 'I');
  EXPECT_EQ(b->Load(1), 'I');
  auto inv = b->Sync();
  EXPECT_TRUE(Has(inv, 0) && Has(inv, 1)) << inv.size();
  EXPECT_EQ(b->Load(0, &rec), 'O');
  EXPECT_EQ(rec, Rec(0, {1}, "v1"));
  EXPECT_TRUE(b->Sync().empty());
  // The invalidations also come with C: b learns of a's second commit when
  // it starts its own.
  ASSERT_EQ(a->Commit({{0, Rec(0, {1}, "v2")}}), 'O');
  auto at_commit = b->BeginCommit();
  EXPECT_TRUE(Has(at_commit, 0));
  EXPECT_EQ(b->SendCommitData(""), 0);  // b declines (as after a conflict)
  EXPECT_EQ(b->Load(0, &rec), 'O');
  EXPECT_EQ(rec, Rec(0, {1}, "v2"));
  // Bulk load: replies in order, K for a missing oid.
  std::string req = "B";
  PutU32(&req, 3);
  PutU64(&req, 0);
  PutU64(&req, 99);
  PutU64(&req, 1);
  b->Send(req);
  EXPECT_EQ(b->Recv(1), "O");
  std::string len = b->Recv(4);
  ASSERT_EQ(len.size(), 4u);
  EXPECT_EQ(b->Recv(GetU32(len.data())), Rec(0, {1}, "v2"));
  EXPECT_EQ(b->Recv(1), "K");
  EXPECT_EQ(b->Recv(1), "O");
}

TEST_F(ServerTest, CollectedOidsReachEveryClientAndStaleReferencesConflict) {
  StartServer(&mem_);
  auto a = Connect();
  auto b = Connect();
  a->NewOids(3);
  ASSERT_EQ(a->Commit({{0, Rec(0, {1})}, {1, Rec(1, {})}}), 'O');
  b->Sync();
  ASSERT_EQ(a->Commit({{0, Rec(0, {})}}), 'O');  // 1 is now garbage
  CollectReport report;
  ASSERT_TRUE(mem_.Collect(false, &report).ok());
  ASSERT_EQ(report.collected, 1u);
  // a's sync fetches the collected oids and hands them to every client.
  EXPECT_TRUE(Has(a->Sync(), 1));
  auto inv = b->Sync();
  EXPECT_TRUE(Has(inv, 1));
  EXPECT_TRUE(Has(inv, 0));
  // b still holds a reference to 1: storing it again is a conflict.
  ASSERT_EQ(b->Commit({{0, Rec(0, {1})}}), 'I');
  EXPECT_EQ(b->Load(1), 'K');
  std::string rec;
  EXPECT_EQ(b->Load(0, &rec), 'O');
  EXPECT_EQ(rec, Rec(0, {}));
}

TEST_F(ServerTest, CommittingAnotherClientsUnusedOidDropsTheCommitter) {
  StartServer(&mem_);
  auto a = Connect();
  auto b = Connect();
  auto mine = a->NewOids(2);  // 0, 1 handed to a
  ASSERT_EQ(mine.size(), 2u);
  b->BeginCommit();
  b->SendCommitData(TData({{0, Rec(0, {1})}, {1, Rec(1, {})}}));
  EXPECT_TRUE(b->WaitClosed());
  EXPECT_EQ(a->Load(0), 'K');  // nothing stored
  ASSERT_EQ(a->Commit({{0, Rec(0, {1})}, {1, Rec(1, {})}}), 'O');
}

// A commit published but not yet returned from Storage::Commit (here held
// between "applied" and "returned", as a commit waiting for its fsync in
// sync mode): a client that synced after the publication has it in its
// snapshot, so a load of its oids waits until the commit returns and then
// reads the new version — neither the old version (isolation) nor 'I'
// (issue 12: answering 'I' for the whole fsync made every retry of a hot
// object's reader a conflict).  A client that has not synced since the
// publication gets 'I' at once, without waiting.
TEST_F(ServerTest, LoadOfCommitInFlightWaitsForItInsteadOfConflicting) {
  GatedStorage gated(&mem_);
  StartServer(&gated);
  auto a = Connect();
  auto b = Connect();
  auto stale = Connect();
  a->NewOids(2);
  ASSERT_EQ(a->Commit({{0, Rec(0, {1}, "v1")}, {1, Rec(1, {}, "v1")}}), 'O');
  b->Sync();
  stale->Sync();
  gated.Hold();
  char status = 0;
  std::thread committer([&] {
    status = a->Commit({{0, Rec(0, {1}, "v2")}, {1, Rec(1, {}, "v2")}});
  });
  gated.WaitHeld();  // applied (visible in the storage), not acknowledged
  std::string rec;
  EXPECT_TRUE(mem_.Load(Oid(0), &rec).ok());
  EXPECT_EQ(rec, Rec(0, {1}, "v2"));
  // Not synced since the publication: 'I' at once.
  EXPECT_EQ(stale->Load(0), 'I');
  auto inv = b->Sync();
  EXPECT_TRUE(Has(inv, 0) && Has(inv, 1));
  auto c = Connect();  // connecting counts as a sync
  std::atomic<int> answered{0};
  char b_status = 0, c_status = 0;
  std::string b_rec, c_rec;
  std::thread b_load([&] {
    b_status = b->Load(0, &b_rec);
    answered.fetch_add(1);
  });
  std::thread c_load([&] {
    c_status = c->Load(1, &c_rec);
    answered.fetch_add(1);
  });
  // Neither may answer while the commit is in flight (an answer now would
  // be 'I' or, worse, the old version).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(answered.load(), 0);
  gated.Release();
  committer.join();
  b_load.join();
  c_load.join();
  EXPECT_EQ(status, 'O');
  EXPECT_EQ(b_status, 'O');
  EXPECT_EQ(b_rec, Rec(0, {1}, "v2"));
  EXPECT_EQ(c_status, 'O');
  EXPECT_EQ(c_rec, Rec(1, {}, "v2"));
  // Reported once, at the sync after the publication; not again.
  EXPECT_FALSE(Has(b->Sync(), 0));
  EXPECT_TRUE(Has(stale->Sync(), 0));
  EXPECT_EQ(stale->Load(0, &rec), 'O');
  EXPECT_EQ(rec, Rec(0, {1}, "v2"));
}

// Hot objects (issue 12): the client that committed an object last holds
// it in its cache and commits it again within a round trip; a client that
// lost a commit to it and loads the object again must not read it between
// two of those commits (it would lose again, conflict after conflict), but
// wait until the writer's run ends.  Before the leases, b's load below was
// answered at once (with v2, which a's next commit made stale).
TEST_F(ServerTest, LoserOfACommitWaitsForTheHotObjectsWriter) {
  ServerOptions o;
  o.lease_think_s = 60;  // a's lease lasts until a ends it (its sync)
  o.lease_max_wait_s = 60;
  StartServer(&mem_, o);
  auto a = Connect();
  auto b = Connect();
  auto reader = Connect();
  a->NewOids(1);
  ASSERT_EQ(a->Commit({{0, Rec(0, {}, "v1")}}), 'O');
  b->Sync();
  ASSERT_EQ(b->Load(0), 'O');
  ASSERT_EQ(a->Commit({{0, Rec(0, {}, "v2")}}), 'O');  // a's lease on 0 begins
  EXPECT_TRUE(Has(b->BeginCommit(), 0));               // b read v1: it lost
  b->SendCommitData("");                               // abandoned, as Durus's client does
  EXPECT_TRUE(b->Sync().empty());
  // A client that never lost a commit (a reader) is not held back.
  std::string rec;
  reader->Sync();
  EXPECT_EQ(reader->Load(0, &rec), 'O');
  EXPECT_EQ(rec, Rec(0, {}, "v2"));
  // b's load waits while a keeps committing the object.
  std::atomic<bool> answered{false};
  char status = 0;
  std::string b_rec;
  std::thread load([&] {
    status = b->Load(0, &b_rec);
    answered.store(true);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(answered.load());
  ASSERT_EQ(a->Commit({{0, Rec(0, {}, "v3")}}), 'O');
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(answered.load());
  // a's next transaction begins (a sync): its lease ends, b's load is
  // answered, with 'I' since v3 was published after b's last sync.
  a->Sync();
  load.join();
  EXPECT_EQ(status, 'I');
  EXPECT_TRUE(Has(b->Sync(), 0));
  EXPECT_EQ(b->Load(0, &b_rec), 'O');
  EXPECT_EQ(b_rec, Rec(0, {}, "v3"));
  EXPECT_EQ(b->Commit({{0, Rec(0, {}, "b")}}), 'O');  // no conflict this time
}

// Parked loads hold no worker thread: with more of them than workers the
// hot object's writer still commits; they end when the writer disconnects,
// or at lease_max_wait_s.
TEST_F(ServerTest, ParkedLoadsHoldNoWorkerAndEnd) {
  ServerOptions o;
  o.lease_think_s = 60;
  o.lease_max_wait_s = 60;
  StartServer(&mem_, o, /*threads=*/2);
  auto a = Connect();
  a->NewOids(1);
  ASSERT_EQ(a->Commit({{0, Rec(0, {}, "v1")}}), 'O');
  constexpr int kLosers = 5;
  std::vector<std::unique_ptr<RawClient>> losers;
  for (int i = 0; i < kLosers; ++i) {
    losers.push_back(Connect());
    losers.back()->Sync();
    ASSERT_EQ(losers.back()->Load(0), 'O');
  }
  ASSERT_EQ(a->Commit({{0, Rec(0, {}, "v2")}}), 'O');
  for (auto& l : losers) {
    EXPECT_TRUE(Has(l->BeginCommit(), 0));
    l->SendCommitData("");
  }
  std::atomic<int> answered{0};
  std::vector<char> statuses(kLosers, 0);
  std::vector<std::thread> loads;
  for (int i = 0; i < kLosers; ++i) {
    loads.emplace_back([&, i] {
      statuses[i] = losers[i]->Load(0);
      answered.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // Five parked loads, two workers: a's commits are still served.
  for (int v = 3; v < 6; ++v) {
    ASSERT_EQ(a->Commit({{0, Rec(0, {}, "v" + std::to_string(v))}}), 'O');
  }
  EXPECT_EQ(answered.load(), 0);
  a.reset();  // disconnects: its lease ends
  for (auto& t : loads) t.join();
  for (char s : statuses) EXPECT_EQ(s, 'I');  // v3-v5 came after their sync

  // The wait is bounded: a parked load is answered at its deadline even
  // if the writer keeps its lease.
  StopServer();
  MemoryStorage mem;
  o.lease_max_wait_s = 0.2;
  StartServer(&mem, o);
  auto w = Connect();
  auto l = Connect();
  w->NewOids(1);
  ASSERT_EQ(w->Commit({{0, Rec(0, {}, "v1")}}), 'O');
  l->Sync();
  ASSERT_EQ(w->Commit({{0, Rec(0, {}, "v2")}}), 'O');
  // l lost (it did not even read the object), and synced at its commit.
  EXPECT_TRUE(Has(l->BeginCommit(), 0));
  l->SendCommitData("");
  std::string rec;
  EXPECT_EQ(l->Load(0, &rec), 'O');
  EXPECT_EQ(rec, Rec(0, {}, "v2"));
  StopServer();
}

// A committer that stalls after receiving its invalidations holds the
// commit lock only for the grace period; if another commit lands
// meanwhile, the stalled one is refused with 'I' (its conflict check is
// stale), never applied over the newer state.
TEST_F(ServerTest, SlowCommitterIsRefusedIfInvalidatedMeanwhile) {
  ServerOptions o;
  o.commit_grace_s = 0.05;
  StartServer(&mem_, o);
  auto a = Connect();
  auto b = Connect();
  a->NewOids(1);
  ASSERT_EQ(a->Commit({{0, Rec(0, {}, "v1")}}), 'O');
  b->Sync();
  a->BeginCommit();  // a stalls here, holding the commit lock
  // b's commit waits for a's grace period, then goes through.
  ASSERT_EQ(b->Commit({{0, Rec(0, {}, "b")}}), 'O');
  EXPECT_EQ(a->SendCommitData(TData({{0, Rec(0, {}, "a")}})), 'I');
  EXPECT_TRUE(Has(a->Sync(), 0));
  std::string rec;
  EXPECT_EQ(a->Load(0, &rec), 'O');
  EXPECT_EQ(rec, Rec(0, {}, "b"));
  // A slow committer nobody interfered with commits normally.
  a->BeginCommit();
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  EXPECT_EQ(a->SendCommitData(TData({{0, Rec(0, {}, "a2")}})), 'O');
}

TEST_F(ServerTest, BadInputDropsOnlyThatClient) {
  ServerOptions o;
  o.max_commit_bytes = 4096;
  o.idle_timeout_s = 0.3;
  StartServer(&mem_, o);
  auto good = Connect();
  good->NewOids(1);
  ASSERT_EQ(good->Commit({{0, Rec(0, {})}}), 'O');
  auto check_good = [&] {
    std::string rec;
    EXPECT_EQ(good->Load(0, &rec), 'O');
    EXPECT_EQ(rec, Rec(0, {}));
  };
  {
    SCOPED_TRACE("unknown command");
    auto c = Connect();
    c->Send("Z");
    EXPECT_TRUE(c->WaitClosed());
    check_good();
  }
  {
    SCOPED_TRACE("commit length over the limit");
    auto c = Connect();
    c->BeginCommit();
    std::string len;
    PutU32(&len, 1u << 30);
    c->Send(len);
    EXPECT_TRUE(c->WaitClosed());
    check_good();
  }
  {
    SCOPED_TRACE("bulk load count over the limit");
    auto c = Connect();
    std::string req = "B";
    PutU32(&req, 0xffffffffu);
    c->Send(req);
    EXPECT_TRUE(c->WaitClosed());
    check_good();
  }
  {
    SCOPED_TRACE("malformed commit data");
    auto c = Connect();
    c->BeginCommit();
    std::string t = TData({{0, Rec(0, {}, "bad")}});
    t[3] = static_cast<char>(t[3] + 5);  // frame length runs past the end
    std::string req;
    PutU32(&req, static_cast<uint32_t>(t.size()));
    c->Send(req + t);
    EXPECT_TRUE(c->WaitClosed());
    check_good();
  }
  {
    SCOPED_TRACE("stalls mid-request");
    auto c = Connect();
    c->Send(std::string("L\0\0\0", 4));
    EXPECT_TRUE(c->WaitClosed());
    check_good();
  }
  {
    // Waiting for a commit's data holds no worker (server.cc): the
    // deadline is kept by the monitor, which drops the client.
    SCOPED_TRACE("stalls after its invalidation list");
    auto c = Connect();
    c->BeginCommit();
    EXPECT_TRUE(c->WaitClosed());
    check_good();
    EXPECT_EQ(good->Commit({{0, Rec(0, {})}}), 'O');  // the token is free again
  }
  {
    SCOPED_TRACE("leaves while waiting for the commit token");
    auto holder = Connect();
    holder->BeginCommit();  // holds the token
    {
      RawClient queued(server_->port());
      ASSERT_TRUE(queued.ok());
      EXPECT_EQ(queued.Version(), 1u);
      queued.Send("C");  // in line behind `holder`, then gone
    }
    EXPECT_EQ(holder->SendCommitData(TData({{0, Rec(0, {})}})), 'O');
    EXPECT_TRUE(Has(good->Sync(), 0));
    check_good();
    EXPECT_EQ(good->Commit({{0, Rec(0, {})}}), 'O');  // the token was not left with it
  }
  {
    SCOPED_TRACE("vanishes mid-commit");
    auto c = Connect();
    c->BeginCommit();
    std::string t = TData({{0, Rec(0, {}, "partial")}});
    std::string req;
    PutU32(&req, static_cast<uint32_t>(t.size()));
    c->Send(req + t.substr(0, t.size() / 2));
    c.reset();
    check_good();
  }
}

// Connections are edge-triggered (worker_pool.h): bytes that arrive while a
// worker serves the connection raise an event another worker sees as
// "pending", and the owner must look again before releasing; bytes
// announced by no new event (a request split over a poll wait, requests
// pipelined into one segment) must be served too.  A lost wake-up here
// leaves a request unanswered and Recv times out.
class SlowLoadStorage : public GatedStorage {
 public:
  using GatedStorage::GatedStorage;
  Status Load(Oid oid, std::string* record) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    return GatedStorage::Load(oid, record);
  }
  int delay_ms = 0;
};

TEST_F(ServerTest, RequestsArrivingWhileServedAreNotLost) {
  for (int threads : {1, 4}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    MemoryStorage mem;
    SlowLoadStorage slow(&mem);
    StartServer(&slow, ServerOptions(), threads);
    auto a = Connect();
    a->NewOids(1);
    ASSERT_EQ(a->Commit({{0, Rec(0, {}, "v")}}), 'O');
    std::string load = "L";
    PutU64(&load, 0);
    std::string reply = "O";
    PutU32(&reply, static_cast<uint32_t>(Rec(0, {}, "v").size()));
    reply += Rec(0, {}, "v");
    // A second request sent while the first is being served.
    slow.delay_ms = 150;
    for (int round = 0; round < 3; ++round) {
      a->Send(load);
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      a->Send(load);
      EXPECT_EQ(a->Recv(reply.size(), 5000), reply);
      EXPECT_EQ(a->Recv(reply.size(), 5000), reply);
    }
    slow.delay_ms = 0;
    // Fifty requests in one segment.
    std::string many;
    for (int i = 0; i < 50; ++i) many += load;
    a->Send(many);
    for (int i = 0; i < 50; ++i) ASSERT_EQ(a->Recv(reply.size(), 5000), reply) << i;
    // A request split across a wait (the owner polls for its rest), then
    // the next one (the connection must be back in the epoll set).
    a->Send(load.substr(0, 4));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    a->Send(load.substr(4));
    EXPECT_EQ(a->Recv(reply.size(), 5000), reply);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    a->Send(load);
    EXPECT_EQ(a->Recv(reply.size(), 5000), reply);
    // Other clients meanwhile.
    auto b = Connect();
    EXPECT_EQ(b->Load(0), 'O');
    StopServer();
  }
}

// Only ServerOptions::active_threads workers run at once; the rest park.
// A worker that blocks must let a parked one take its place, whether it
// says so (a commit waiting in the storage) or not (a load stuck in the
// storage, found by the stall monitor).  Otherwise the other client
// below is never answered.
class BlockingLoadStorage : public GatedStorage {
 public:
  using GatedStorage::GatedStorage;
  Status Load(Oid oid, std::string* record) override {
    if (oid == Oid(1)) {
      std::unique_lock<std::mutex> l(mu_);
      entered_ = true;
      cv_.notify_all();
      cv_.wait(l, [this] { return open_; });
    }
    return GatedStorage::Load(oid, record);
  }
  void WaitEntered() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return entered_; });
  }
  void Open() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool open_ = false;
};

TEST_F(ServerTest, BlockedWorkersAreReplacedByParkedOnes) {
  {
    SCOPED_TRACE("a load stuck in the storage (stall monitor)");
    MemoryStorage mem;
    BlockingLoadStorage storage(&mem);
    ServerOptions o;
    o.active_threads = 1;
    o.stall_s = 0.01;
    StartServer(&storage, o, 4);
    auto a = Connect();
    a->NewOids(2);
    ASSERT_EQ(a->Commit({{0, Rec(0, {1})}, {1, Rec(1, {})}}), 'O');
    auto b = Connect();
    std::string load1 = "L";
    PutU64(&load1, 1);
    a->Send(load1);
    storage.WaitEntered();
    for (int i = 0; i < 3; ++i) EXPECT_EQ(b->Load(0), 'O');
    storage.Open();
    EXPECT_EQ(a->Recv(1, 5000), "O");
    StopServer();
  }
  {
    SCOPED_TRACE("a commit waiting in the storage (no stall monitor)");
    MemoryStorage mem;
    GatedStorage gated(&mem);
    ServerOptions o;
    o.active_threads = 1;
    o.stall_s = 1e6;
    StartServer(&gated, o, 4);
    auto a = Connect();
    a->NewOids(1);
    ASSERT_EQ(a->Commit({{0, Rec(0, {})}}), 'O');
    auto b = Connect();
    gated.Hold();
    char status = 0;
    std::thread committer([&] { status = a->Commit({{0, Rec(0, {}, "v2")}}); });
    gated.WaitHeld();
    EXPECT_EQ(b->Load(0), 'I');  // published, in flight
    b->Sync();
    EXPECT_EQ(b->Load(0), 'I');
    gated.Release();
    committer.join();
    EXPECT_EQ(status, 'O');
    StopServer();
  }
}

TEST_F(ServerTest, ShutdownFinishesTheCommitInFlight) {
  GatedStorage gated(&mem_);
  StartServer(&gated);
  auto a = Connect();
  a->NewOids(1);
  gated.Hold();
  char status = 0;
  std::thread committer([&] { status = a->Commit({{0, Rec(0, {}, "last")}}); });
  gated.WaitHeld();
  server_->Shutdown();
  gated.Release();
  committer.join();
  EXPECT_EQ(status, 'O');
  StopServer();
  EXPECT_TRUE(a->WaitClosed());
  std::string rec;
  ASSERT_TRUE(mem_.Load(Oid(0), &rec).ok());
  EXPECT_EQ(rec, Rec(0, {}, "last"));
}

TEST_F(ServerTest, QuitStopsTheServer) {
  StartServer(&mem_);
  auto a = Connect();
  a->Send("Q");
  server_->Wait();  // returns: the workers are gone, connections closed
  EXPECT_TRUE(a->WaitClosed());
  EXPECT_NE(server_->stop_reason().find("quit"), std::string::npos);
  server_.reset();
}

// Many committers at once on Berkeley DB in sync mode (group commit
// path): every acknowledged commit is there, intact, after reopening.
TEST_F(ServerTest, ConcurrentCommittersOnBdb) {
  util::TempDir tmp("durus-server-test");
  ASSERT_FALSE(tmp.path().empty());
  std::string home = tmp.Sub("home");
  std::unique_ptr<Storage> bdb;
  {
    Status st = OpenBdbStorage(home, BdbOptions(), &bdb);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  // Disjoint write sets must all commit.  A client slower than the commit
  // grace period (a sanitizer build on a loaded machine) would get a
  // conservative 'I' (SlowCommitterIsRefusedIfInvalidatedMeanwhile tests
  // that path): not what this test is about.
  ServerOptions o;
  o.commit_grace_s = 30;
  StartServer(bdb.get(), o);
  constexpr int kClients = 8, kCommits = 15;
  // Root -> one container per client -> that client's objects: everything
  // stays reachable, and the clients' write sets are disjoint.
  std::vector<uint64_t> containers;
  {
    auto setup = Connect();
    setup->NewOids(1);  // the root
    std::vector<std::pair<uint64_t, std::string>> recs;
    for (Oid o : setup->NewOids(kClients)) {
      containers.push_back(o.value());
      recs.emplace_back(o.value(), Rec(o.value(), {}));
    }
    recs.emplace_back(0, Rec(0, containers));
    ASSERT_EQ(setup->Commit(recs), 'O');
  }
  std::vector<std::thread> threads;
  std::vector<std::vector<uint64_t>> acked(kClients);
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      auto c = Connect();
      std::vector<uint64_t> mine;
      for (int i = 0; i < kCommits; ++i) {
        auto oids = c->NewOids(1);
        if (oids.size() != 1) return;
        uint64_t x = oids[0].value();
        mine.push_back(x);
        char s = c->Commit(
            {{x, Rec(x, {}, "t" + std::to_string(t))}, {containers[t], Rec(containers[t], mine)}});
        if (s != 'O') return;
        acked[t].push_back(x);
      }
    });
  }
  for (auto& th : threads) th.join();
  StopServer();
  ASSERT_TRUE(bdb->Close().ok());
  bdb.reset();
  Status st = OpenBdbStorage(home, BdbOptions(), &bdb);
  ASSERT_TRUE(st.ok()) << st.ToString();
  for (int t = 0; t < kClients; ++t) {
    ASSERT_EQ(acked[t].size(), static_cast<size_t>(kCommits));
    std::string rec;
    ASSERT_TRUE(bdb->Load(Oid(containers[t]), &rec).ok());
    EXPECT_EQ(rec, Rec(containers[t], acked[t]));
    for (uint64_t x : acked[t]) {
      Status ls = bdb->Load(Oid(x), &rec);
      ASSERT_TRUE(ls.ok()) << ls.ToString();
      EXPECT_EQ(rec, Rec(x, {}, "t" + std::to_string(t)));
    }
  }
  ASSERT_TRUE(bdb->Close().ok());
}

}  // namespace
}  // namespace durus::server
