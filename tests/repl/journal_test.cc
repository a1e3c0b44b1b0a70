// The commit journal of replicated homes (bdb/journal.h): the entry codec,
// and append / last / read over a real Berkeley DB environment.
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
