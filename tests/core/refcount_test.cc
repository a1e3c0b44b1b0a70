// Reference counting, the pending-garbage queue, dangling-reference refusal
// and resurrection: counts and queue checked exactly after each commit and
// after reopen.  The collector is switched off so the queue stays put.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/core/test_util.h"

namespace durus::test {
namespace {

class RefcountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    opts_.gc_background = false;
    Open();
  }
  void Open() {
    s_ = OpenBdb(dir_.Sub("home"), opts_);
    ASSERT_NE(s_, nullptr);
  }
  void Reopen() {
    ASSERT_TRUE(s_->Close().ok());
    s_.reset();
    Open();
  }
  // Counts and queue, exactly, and the same after a reopen.
  void Expect(const std::map<uint64_t, uint64_t>& counts, const std::vector<uint64_t>& pending) {
    for (int pass = 0; pass < 2; ++pass) {
      SCOPED_TRACE(pass == 0 ? "before reopen" : "after reopen");
      for (auto& [oid, c] : counts) EXPECT_EQ(CountOf(s_.get(), oid), c) << "oid " << oid;
      EXPECT_EQ(Pending(s_.get()), pending);
      EXPECT_EQ(CheckConsistency(s_.get()), std::vector<std::string>{});
      if (pass == 0) Reopen();
    }
  }
  TempDir dir_;
  BdbOptions opts_;
  std::unique_ptr<BdbHandle> s_;
};

TEST_F(RefcountTest, AddDropReplaceRefs) {
  Commit(s_.get(), {{0, Rec(0, {1, 2})}, {1, Rec(1, {})}, {2, Rec(2, {})}});
  Expect({{0, 0}, {1, 1}, {2, 1}}, {});
  // Replace: 0 now refers to 2 and 3 (new); 1 loses its only referrer.
  Commit(s_.get(), {{0, Rec(0, {2, 3})}, {3, Rec(3, {})}});
  Expect({{0, 0}, {1, 0}, {2, 1}, {3, 1}}, {1});
  // Add a second referrer of 2.
  Commit(s_.get(), {{3, Rec(3, {2})}});
  Expect({{2, 2}, {3, 1}}, {1});
  // Drop every ref from root: 2 keeps its referrer 3, 3 falls to 0.
  Commit(s_.get(), {{0, Rec(0, {})}});
  Expect({{2, 1}, {3, 0}}, {1, 3});
}

TEST_F(RefcountTest, SelfReferenceIsIgnored) {
  std::string self = PackRecordRaw(Oid(1), "d", Oid(1).Bytes() + Oid(2).Bytes());
  Commit(s_.get(), {{0, Rec(0, {1})}, {1, self}, {2, Rec(2, {})}});
  Expect({{0, 0}, {1, 1}, {2, 1}}, {});
  // A record that references only itself has count 0 once root drops it.
  Commit(s_.get(), {{0, Rec(0, {})}});
  Expect({{1, 0}, {2, 1}}, {1});
}

TEST_F(RefcountTest, DuplicateAndUnsortedRefsCountOnce) {
  std::string dup = PackRecordRaw(Oid(0), "d", Oid(2).Bytes() + Oid(1).Bytes() + Oid(2).Bytes());
  Commit(s_.get(), {{0, dup}, {1, Rec(1, {})}, {2, Rec(2, {})}});
  Expect({{1, 1}, {2, 1}}, {});
}

TEST_F(RefcountTest, SameObjectStoredTwiceInOneCommitLastWins) {
  Commit(s_.get(), {{0, Rec(0, {1, 2})}, {1, Rec(1, {})}, {2, Rec(2, {})}});
  CommitBatch batch;
  ASSERT_TRUE(batch.Add(Oid(0), Rec(0, {1})).ok());
  ASSERT_TRUE(batch.Add(Oid(0), Rec(0, {2}, "second")).ok());
  ASSERT_TRUE(s_->Commit(batch).ok());
  std::string got;
  ASSERT_TRUE(s_->Load(Oid(0), &got).ok());
  EXPECT_EQ(got, Rec(0, {2}, "second"));
  Expect({{1, 0}, {2, 1}}, {1});
}

TEST_F(RefcountTest, NewObjectNobodyReferencesIsQueuedButRootIsNot) {
  Commit(s_.get(), {{0, Rec(0, {})}, {7, Rec(7, {})}});
  Expect({{0, 0}, {7, 0}}, {7});
}

TEST_F(RefcountTest, DanglingReferenceIsRefusedAndWritesNothing) {
  Commit(s_.get(), {{0, Rec(0, {1})}, {1, Rec(1, {})}});
  StorageStats before;
  ASSERT_TRUE(s_->GetStats(&before).ok());
  Status st = TryCommit(s_.get(), {{1, Rec(1, {42})}, {2, Rec(2, {})}});
  EXPECT_TRUE(st.IsConflict()) << st.ToString();
  ASSERT_EQ(st.oids().size(), 1u);
  EXPECT_EQ(st.oids()[0], Oid(42));
  EXPECT_NE(st.message().find("42"), std::string::npos);
  std::string got;
  ASSERT_TRUE(s_->Load(Oid(1), &got).ok());
  EXPECT_EQ(got, Rec(1, {}));
  EXPECT_TRUE(s_->Load(Oid(2), &got).IsNotFound());
  StorageStats after;
  ASSERT_TRUE(s_->GetStats(&after).ok());
  EXPECT_EQ(after.object_count, before.object_count);
  EXPECT_EQ(after.record_bytes, before.record_bytes);
  Expect({{0, 0}, {1, 1}}, {});
}

TEST_F(RefcountTest, ReferencingAQueuedOidResurrectsIt) {
  Commit(s_.get(), {{0, Rec(0, {1})}, {1, Rec(1, {2})}, {2, Rec(2, {})}});
  Commit(s_.get(), {{0, Rec(0, {})}});
  Expect({{1, 0}, {2, 1}}, {1});
  Commit(s_.get(), {{0, Rec(0, {1})}});
  Expect({{1, 1}, {2, 1}}, {});
}

TEST_F(RefcountTest, CollectedOidCannotBeReferencedAgain) {
  Commit(s_.get(), {{0, Rec(0, {1})}, {1, Rec(1, {2})}, {2, Rec(2, {})}});
  Commit(s_.get(), {{0, Rec(0, {})}});
  CollectReport report;
  ASSERT_TRUE(s_->Collect(false, &report).ok());
  EXPECT_EQ(report.collected, 2u);  // 1, then 2 in cascade
  std::vector<Oid> invalid = s_->Sync();
  EXPECT_EQ(invalid.size(), 2u);
  Status st = TryCommit(s_.get(), {{0, Rec(0, {2})}});
  EXPECT_TRUE(st.IsConflict()) << st.ToString();
  Expect({{0, 0}}, {});
}

TEST_F(RefcountTest, MalformedRecordsAreRefusedWithClearErrors) {
  Commit(s_.get(), {{0, Rec(0, {})}});
  CommitBatch batch;
  // Embedded oid differs from the oid it is stored under.
  Status st = batch.Add(Oid(1), Rec(2, {}));
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_NE(st.message().find("embeds oid 2"), std::string::npos) << st.message();
  // Truncated: shorter than the header, and data length past the end.
  st = batch.Add(Oid(1), std::string("\0\0\0\0\0\0\0\1\0", 9));
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_NE(st.message().find("truncated"), std::string::npos) << st.message();
  std::string r = Rec(1, {});
  st = batch.Add(Oid(1), r.substr(0, 14));
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_NE(st.message().find("truncated"), std::string::npos) << st.message();
  // Refs not a multiple of 8.
  st = batch.Add(Oid(1), Rec(1, {}) + "abc");
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_NE(st.message().find("multiple of 8"), std::string::npos) << st.message();
  // An oid that is not 8 bytes.
  st = batch.AddRaw("1234567", Rec(1, {}));
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_NE(st.message().find("8 bytes"), std::string::npos) << st.message();
  EXPECT_TRUE(batch.empty());
  StorageStats stats;
  ASSERT_TRUE(s_->GetStats(&stats).ok());
  EXPECT_EQ(stats.object_count, 1u);
}

TEST_F(RefcountTest, LargeCommitOfOneHundredThousandRecords) {
  // The lock table must hold a commit of 100,000 records (issue 2).
  CommitBatch batch;
  std::vector<uint64_t> children;
  for (uint64_t i = 1; i <= 100000; ++i) {
    ASSERT_TRUE(batch.Add(Oid(i), Rec(i, {i == 100000 ? 0 : i + 1}, std::string(200, 'p'))).ok());
  }
  ASSERT_TRUE(batch.Add(Oid(0), Rec(0, {1})).ok());
  Status st = s_->Commit(batch);
  ASSERT_TRUE(st.ok()) << st.ToString();
  StorageStats stats;
  ASSERT_TRUE(s_->GetStats(&stats).ok());
  EXPECT_EQ(stats.object_count, 100001u);
  EXPECT_EQ(CountOf(s_.get(), 0), 1u);
  EXPECT_EQ(CountOf(s_.get(), 50000), 1u);
  EXPECT_TRUE(Pending(s_.get()).empty());
}

TEST_F(RefcountTest, SecondOpenerIsRefusedNamingTheHolder) {
  std::unique_ptr<Storage> second;
  Status st = OpenBdbStorage(dir_.Sub("home"), opts_, &second);
  EXPECT_TRUE(st.IsBusy()) << st.ToString();
  EXPECT_NE(st.message().find(std::to_string(getpid())), std::string::npos) << st.message();
  // A child process is refused too.
  pid_t pid = fork();
  if (pid == 0) {
    std::unique_ptr<Storage> s;
    _exit(OpenBdbStorage(dir_.Sub("home"), opts_, &s).IsBusy() ? 0 : 1);
  }
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
}

TEST_F(RefcountTest, NotAHomeAndMissingHomeAreClearErrors) {
  TempDir other;
  std::string junk = other.Sub("junk");
  ASSERT_EQ(system(("mkdir -p " + junk + " && echo hi > " + junk + "/file").c_str()), 0);
  std::unique_ptr<Storage> s;
  Status st = OpenBdbStorage(junk, opts_, &s);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_NE(st.message().find("not a durus-bdb home"), std::string::npos);
  BdbOptions no_create = opts_;
  no_create.create_if_missing = false;
  st = OpenBdbStorage(other.Sub("missing"), no_create, &s);
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
}

}  // namespace
}  // namespace durus::test
