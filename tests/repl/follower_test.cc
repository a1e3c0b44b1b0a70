// The replica's side of the server (server/session_commands.cc: the
// publication of replicated changes, rule 3', the periodic publication and
// the drop after a trim gap), deterministically, over a storage that plays
// a replica: "replicated commits" are applied into a MemoryStorage behind
// the server's back and announced through ReplicatedChanges, as
// bdb/storage_repl.cc does from the journal.  doc/replication.md,
// "Isolation on a replica".
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/commit_batch.h"
#include "engine/memory_storage.h"
#include "server/server.h"
#include "tests/server/server_test_util.h"

namespace durus::server {
namespace {

using test::RawClient;
using test::Rec;

// MemoryStorage as a replica: Apply() is a commit of the master arriving
// by replication (visible at once, announced by its "journal entry").
class ReplicaStorage : public Storage {
 public:
  // A replicated commit writing `oid`: its record and its entry are
  // visible together (one transaction on a real replica).
  void Apply(uint64_t oid, const std::string& payload) {
    CommitBatch batch;
    ASSERT_TRUE(batch.Add(Oid(oid), Rec(oid, {}, payload)).ok());
    std::lock_guard<std::mutex> l(mu_);
    ASSERT_TRUE(mem_.Commit(batch).ok());
    journal_.push_back(Oid(oid));
  }
  // The next Load of `oid` first applies a replicated commit of it (the
  // record the load reads is newer than the reader's snapshot).
  void ApplyAtLoad(uint64_t oid, const std::string& payload) {
    std::lock_guard<std::mutex> l(mu_);
    at_load_oid_ = oid;
    at_load_payload_ = payload;
  }
  // The next ReplicatedChanges finds that entries it never returned were
  // trimmed (the master's retention passed this site's position).
  void LoseEntries() {
    std::lock_guard<std::mutex> l(mu_);
    lose_ = true;
  }
  // The next ReplicatedChanges that returns something stops after taking
  // the entries (the position moved, the oids not yet in the sets) until
  // ReleaseChanges().
  void HoldChanges() {
    std::lock_guard<std::mutex> l(mu_);
    hold_ = true;
  }
  void WaitChangesHeld() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return holding_; });
  }
  void ReleaseChanges() {
    std::lock_guard<std::mutex> l(mu_);
    hold_ = holding_ = false;
    cv_.notify_all();
  }
  bool Unpublished() {
    std::lock_guard<std::mutex> l(mu_);
    return !journal_.empty();
  }

  Status Load(Oid oid, std::string* record) override {
    std::string payload;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (at_load_oid_ == oid.value()) {
        at_load_oid_ = UINT64_MAX;
        payload = at_load_payload_;
      }
    }
    if (!payload.empty()) Apply(oid.value(), payload);
    return mem_.Load(oid, record);
  }
  Status Commit(const CommitBatch& batch) override { return mem_.Commit(batch); }
  std::vector<Oid> Sync() override { return mem_.Sync(); }
  Status NewOid(Oid* oid) override { return mem_.NewOid(oid); }
  Status Scan(Oid start, size_t max, std::vector<std::pair<Oid, std::string>>* out) override {
    return mem_.Scan(start, max, out);
  }
  Status GetStats(StorageStats* stats) override { return mem_.GetStats(stats); }
  Status Flush() override { return Status::OK(); }
  Status Close() override { return mem_.Close(); }
  std::string Describe() const override { return "ReplicaStorage"; }
  std::string ReplicationSummary() override { return "role replica, master (test)"; }

  std::vector<Oid> ReplicatedChanges() override {
    std::lock_guard<std::mutex> l(mu_);
    if (lose_ && !journal_.empty()) {
      lose_ = false;
      ++gaps_;
    }
    std::vector<Oid> out;
    out.swap(journal_);
    if (hold_ && !out.empty()) {
      holding_ = true;
      cv_.notify_all();
      std::unique_lock<std::mutex> wait(mu_, std::adopt_lock);
      cv_.wait(wait, [this] { return !holding_; });
      wait.release();  // the caller's lock_guard unlocks
    }
    return out;
  }
  bool ReplicatedChangesPending() override { return Unpublished(); }
  uint64_t ReplicatedGaps() override {
    std::lock_guard<std::mutex> l(mu_);
    return gaps_;
  }

 private:
  MemoryStorage mem_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  bool holding_ = false;
  std::vector<Oid> journal_;  // oids announced, not yet returned
  uint64_t at_load_oid_ = UINT64_MAX;
  std::string at_load_payload_;
  bool lose_ = false;
  uint64_t gaps_ = 0;
};

bool Has(const std::vector<Oid>& v, uint64_t oid) {
  return std::find(v.begin(), v.end(), Oid(oid)) != v.end();
}

class FollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.listen.host = "127.0.0.1";
    options.listen.port = 0;
    options.threads = 4;
    server_ = std::make_unique<Server>(&storage_, options, &log_);
    Status st = server_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override {
    server_->Shutdown();
    server_->Wait();
  }
  std::unique_ptr<RawClient> Connect() {
    auto c = std::make_unique<RawClient>(server_->port());
    EXPECT_TRUE(c->ok());
    EXPECT_EQ(c->Version(), 1u);
    return c;
  }
  // The server's monitor publishes on its own; no request needed.
  bool WaitPublished() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (storage_.Unpublished()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  ReplicaStorage storage_;
  Logger log_{LogLevel::kError};
  std::unique_ptr<Server> server_;
};

// Rule 3': a record read from a replicated commit newer than the
// reader's snapshot is answered 'I', though nothing published the commit
// before the read.  (Fails without the catch-up after the read.)
TEST_F(FollowerTest, LoadOfACommitAfterTheSnapshotAnswersI) {
  storage_.Apply(0, "v1");
  ASSERT_TRUE(WaitPublished());
  auto r = Connect();
  r->Sync();
  std::string rec;
  ASSERT_EQ(r->Load(0, &rec), 'O');
  EXPECT_EQ(rec, Rec(0, {}, "v1"));
  storage_.ApplyAtLoad(0, "v2");
  EXPECT_EQ(r->Load(0, &rec), 'I');
  EXPECT_TRUE(Has(r->Sync(), 0));
  ASSERT_EQ(r->Load(0, &rec), 'O');
  EXPECT_EQ(rec, Rec(0, {}, "v2"));
}

// A publication under way (here the monitor's: the storage has handed
// over the entries, the oids are not in the sets yet) and a load that
// reads the record of that commit: the load finds nothing pending, yet
// must not check its set before the publication is done.  (Fails, seen,
// without the wait on a publication under way in CatchUpReplicated: 'O'
// with the new record.)
TEST_F(FollowerTest, LoadDuringAPublicationWaitsForIt) {
  storage_.Apply(9, "v1");
  ASSERT_TRUE(WaitPublished());
  auto r = Connect();
  r->Sync();
  std::string rec;
  ASSERT_EQ(r->Load(9, &rec), 'O');
  storage_.HoldChanges();
  storage_.Apply(9, "v2");     // visible at once, as on a replica
  storage_.WaitChangesHeld();  // the monitor is publishing it
  std::thread release([this] {
    // Any delay: the load's answer must not depend on it.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    storage_.ReleaseChanges();
  });
  EXPECT_EQ(r->Load(9, &rec), 'I');
  release.join();
  EXPECT_TRUE(Has(r->Sync(), 9));
  ASSERT_EQ(r->Load(9, &rec), 'O');
  EXPECT_EQ(rec, Rec(9, {}, "v2"));
}

// An idle client's invalid set is filled by the periodic publication, so
// the journal's trim never passes entries a running server has not
// published.  (Fails without ServerImpl::FollowReplicated.)
TEST_F(FollowerTest, IdleClientsAreToldWithoutAnyRequest) {
  auto idle = Connect();
  storage_.Apply(5, "v1");
  EXPECT_TRUE(WaitPublished());
  EXPECT_TRUE(Has(idle->Sync(), 5));
}

// Entries lost to the trim: every client connected before is dropped at
// its next request (it may hold versions they replaced); a client that
// connects afterwards is served.  (Fails without DroppedForLostEntries.)
TEST_F(FollowerTest, LostEntriesDropTheClientsConnectedBefore) {
  auto before = Connect();
  auto loader = Connect();
  storage_.Apply(3, "v1");
  ASSERT_TRUE(WaitPublished());
  before->Sync();
  storage_.LoseEntries();
  storage_.ApplyAtLoad(3, "v2");  // a load that finds the gap itself
  std::string rec;
  EXPECT_EQ(loader->Load(3, &rec), 0);  // dropped, not answered
  EXPECT_TRUE(loader->WaitClosed());
  EXPECT_EQ(before->Load(3, &rec), 0);
  EXPECT_TRUE(before->WaitClosed());
  auto after = Connect();
  after->Sync();
  ASSERT_EQ(after->Load(3, &rec), 'O');
  EXPECT_EQ(rec, Rec(3, {}, "v2"));
}

}  // namespace
}  // namespace durus::server
