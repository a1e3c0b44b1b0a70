// The commit journal of replicated homes (bdb/journal.h): the entry codec,
// append / first / last / read and the trim's bounds over a real Berkeley
// DB environment.
#include "bdb/journal.h"

#include <gtest/gtest.h>

#include "bdb/environment.h"
#include "bdb/handles.h"
#include "tests/core/test_util.h"

namespace durus::bdb {
namespace {

TEST(JournalCodec, RoundTrip) {
  const std::vector<Oid> oids{Oid(0), Oid(7), Oid(uint64_t{1} << 40)};
  const std::string v = EncodeJournalValue(kJournalCommit, 123456789, oids);
  EXPECT_EQ(v.size(), 13u + 8 * oids.size());
  JournalEntry e;
  ASSERT_TRUE(DecodeJournalValue(v.data(), v.size(), &e).ok());
  EXPECT_EQ(e.kind, kJournalCommit);
  EXPECT_EQ(e.time_us, 123456789u);
  EXPECT_EQ(e.oids, oids);
}

TEST(JournalCodec, RefusesMalformedEntries) {
  std::string v = EncodeJournalValue(kJournalCommit, 1, {Oid(1), Oid(2)});
  JournalEntry e;
  EXPECT_TRUE(DecodeJournalValue(v.data(), 12, &e).IsCorruption());            // short header
  EXPECT_TRUE(DecodeJournalValue(v.data(), v.size() - 1, &e).IsCorruption());  // cut oid
  v.push_back('x');
  EXPECT_TRUE(DecodeJournalValue(v.data(), v.size(), &e).IsCorruption());  // trailing byte
}

TEST(JournalCodec, CollectedEntryRoundTrip) {
  const std::vector<Oid> oids{Oid(5), Oid(6)};
  const std::string v = EncodeJournalValue(kJournalCollected, 42, oids);
  JournalEntry e;
  ASSERT_TRUE(DecodeJournalValue(v.data(), v.size(), &e).ok());
  EXPECT_EQ(e.kind, kJournalCollected);
  EXPECT_EQ(e.oids, oids);
}

TEST(JournalTrim, EntriesFloorKeepsTheNewestAlways) {
  EXPECT_EQ(JournalEntriesFloor(300, 100), 201u);  // 201..300 kept
  EXPECT_EQ(JournalEntriesFloor(100, 100), 1u);    // nothing to trim
  EXPECT_EQ(JournalEntriesFloor(50, 100), 1u);
  EXPECT_EQ(JournalEntriesFloor(300, 0), 300u);  // 0 means 1: the newest stays
  EXPECT_EQ(JournalEntriesFloor(0, 5), 1u);      // empty journal
}

// A journal of entries 1..n (entry k: oid k), stamped now.
class JournalTrimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BdbOptions options;
    options.durability = Durability::kNoSync;
    ASSERT_TRUE(OpenEnvironment(dir_.path(), options, &env_).ok());
    ASSERT_TRUE(OpenBtree(env_.get(), dir_.path(), kJournalFile, false, &journal_).ok());
  }
  void Fill(uint64_t n) {
    for (uint64_t k = 1; k <= n; ++k) {
      Txn txn;
      ASSERT_EQ(txn.Begin(env_.get()), 0);
      ASSERT_EQ(AppendJournalOids(journal_.get(), txn.get(), k,
                                  k % 2 ? kJournalCommit : kJournalCollected, {Oid(k)}),
                0);
      ASSERT_EQ(txn.Commit(0), 0);
    }
  }
  uint64_t First() {
    uint64_t f = 0;
    EXPECT_TRUE(FirstJournalSeq(journal_.get(), &f).ok());
    return f;
  }
  uint64_t Last() {
    uint64_t l = 0;
    EXPECT_TRUE(LastJournalSeq(journal_.get(), &l).ok());
    return l;
  }
  size_t Trim(uint64_t last, uint64_t keep_entries, uint64_t keep_us, uint64_t now_us, size_t max) {
    JournalRetention keep;
    keep.keep_entries = keep_entries;
    keep.keep_us = keep_us;
    size_t n = 0;
    EXPECT_TRUE(TrimJournal(env_.get(), journal_.get(), last, keep, now_us, max, 0, &n).ok());
    return n;
  }

  test::KeptOnFailureTempDir dir_;
  EnvPtr env_;
  DbPtr journal_;
};

TEST_F(JournalTrimTest, BothBoundsMustLetAnEntryGo) {
  Fill(300);
  const uint64_t now = JournalNowUs();
  const uint64_t minute = 60ull * 1000 * 1000;
  // Young entries stay, however many there are.
  EXPECT_EQ(Trim(300, 100, 10 * minute, now, 1000), 0u);
  EXPECT_EQ(First(), 1u);
  // Old enough (seen from an hour later), but the newest 100 stay; at most
  // `max` per transaction.
  EXPECT_EQ(Trim(300, 100, 10 * minute, now + 60 * minute, 150), 150u);
  EXPECT_EQ(First(), 151u);
  EXPECT_EQ(Trim(300, 100, 10 * minute, now + 60 * minute, 150), 50u);
  EXPECT_EQ(First(), 201u);
  EXPECT_EQ(Trim(300, 100, 10 * minute, now + 60 * minute, 150), 0u);
  EXPECT_EQ(First(), 201u);
  EXPECT_EQ(Last(), 300u);
  // What is left reads as before; a reader behind the first entry sees
  // the jump (the follower's gap, bdb/storage_repl.cc).
  std::vector<JournalEntry> got;
  ASSERT_TRUE(ReadJournal(journal_.get(), 10, UINT64_MAX, 5, &got).ok());
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got.front().seq, 201u);
  EXPECT_EQ(got.front().oids, std::vector<Oid>{Oid(201)});
  EXPECT_EQ(got.front().kind, kJournalCommit);
  EXPECT_EQ(got[1].kind, kJournalCollected);
}

TEST_F(JournalTrimTest, TheNewestEntryAlwaysStays) {
  Fill(20);
  const uint64_t later = JournalNowUs() + 3600ull * 1000 * 1000;
  // keep_entries 0 and keep_us 0: everything is "old", yet the last stays
  // (the next seq of a promoted master comes from it).
  EXPECT_EQ(Trim(20, 0, 0, later, 1000), 19u);
  EXPECT_EQ(First(), 20u);
  EXPECT_EQ(Last(), 20u);
  EXPECT_EQ(Trim(20, 0, 0, later, 1000), 0u);
  EXPECT_EQ(Last(), 20u);
}

TEST_F(JournalTrimTest, EmptyJournalTrimsNothing) {
  EXPECT_EQ(Trim(0, 1, 0, JournalNowUs(), 1000), 0u);
  EXPECT_EQ(First(), 0u);
  EXPECT_EQ(Last(), 0u);
}

TEST(Journal, AppendLastAndReadInOrder) {
  test::KeptOnFailureTempDir dir;
  EnvPtr env;
  BdbOptions options;
  options.durability = Durability::kNoSync;
  ASSERT_TRUE(OpenEnvironment(dir.path(), options, &env).ok());
  DbPtr journal;
  ASSERT_TRUE(OpenBtree(env.get(), dir.path(), kJournalFile, false, &journal).ok());
  uint64_t last = 99;
  ASSERT_TRUE(LastJournalSeq(journal.get(), &last).ok());
  EXPECT_EQ(last, 0u);  // empty
  // Entries 1..300, entry n holding oids n and n + 1000 (commits of 2).
  for (uint64_t n = 1; n <= 300; ++n) {
    CommitBatch batch;
    ASSERT_TRUE(batch.Add(Oid(n), test::Rec(n, {})).ok());
    ASSERT_TRUE(batch.Add(Oid(n + 1000), test::Rec(n + 1000, {})).ok());
    Txn txn;
    ASSERT_EQ(txn.Begin(env.get()), 0);
    ASSERT_EQ(AppendJournal(journal.get(), txn.get(), n, batch), 0);
    ASSERT_EQ(txn.Commit(0), 0);
  }
  ASSERT_TRUE(LastJournalSeq(journal.get(), &last).ok());
  EXPECT_EQ(last, 300u);
  std::vector<JournalEntry> got;
  // after < seq <= upto, at most max.
  ASSERT_TRUE(ReadJournal(journal.get(), 10, 20, 1000, &got).ok());
  ASSERT_EQ(got.size(), 10u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].seq, 11 + i);
    EXPECT_EQ(got[i].oids, (std::vector<Oid>{Oid(11 + i), Oid(1011 + i)}));
  }
  ASSERT_TRUE(ReadJournal(journal.get(), 250, UINT64_MAX, 7, &got).ok());
  ASSERT_EQ(got.size(), 7u);
  EXPECT_EQ(got.front().seq, 251u);
  ASSERT_TRUE(ReadJournal(journal.get(), 300, UINT64_MAX, 7, &got).ok());
  EXPECT_TRUE(got.empty());
  ASSERT_TRUE(ReadJournal(journal.get(), 5, 5, 7, &got).ok());
  EXPECT_TRUE(got.empty());
}

}  // namespace
}  // namespace durus::bdb
