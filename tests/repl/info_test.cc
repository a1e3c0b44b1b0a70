// The info request R (server/info_request.h): its JSON both ways, and what
// the journal answers for a `since` (bdb/journal.h JournalChangesSince):
// the oids after it, or "all" when the journal cannot tell.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bdb/environment.h"
#include "bdb/handles.h"
#include "bdb/journal.h"
#include "server/info_request.h"
#include "tests/core/test_util.h"

namespace durus {
namespace {

using bdb::JournalEntry;

TEST(InfoRequest, ParsesSince) {
  std::optional<JournalPosition> since;
  ASSERT_TRUE(server::ParseInfoRequest(R"({"since": null})", &since).ok());
  EXPECT_FALSE(since.has_value());
  ASSERT_TRUE(server::ParseInfoRequest("{}", &since).ok());
  EXPECT_FALSE(since.has_value());
  ASSERT_TRUE(
      server::ParseInfoRequest(R"({"since": 18446744073709551615, "since_time": 7})", &since).ok());
  ASSERT_TRUE(since.has_value());
  EXPECT_EQ(since->seq, UINT64_MAX);
  EXPECT_EQ(since->time_us, 7u);
  for (const char* bad : {"", "[]", "{", R"({"since": -1})", R"({"since": "3"})",
                          R"({"since": 1.5})", R"({"since": 1, "since_time": "x"})"}) {
    EXPECT_TRUE(server::ParseInfoRequest(bad, &since).IsInvalidArgument()) << bad;
  }
}

TEST(InfoRequest, EncodesTheReply) {
  ReplicationInfo info;
  info.role = "replica";
  info.master = "10.0.0.1:2972";
  info.site = "10.0.0.2:7001";
  info.generation = 3;
  info.journal = {42, 1234};
  info.changed = {Oid(1), Oid(uint64_t{1} << 60)};
  auto j = nlohmann::json::parse(server::EncodeInfoReply(info, true, {Oid(9)}));
  EXPECT_EQ(j["role"], "replica");
  EXPECT_EQ(j["master"], "10.0.0.1:2972");
  EXPECT_TRUE(j["master_site"].is_null());  // unknown: null, not ""
  EXPECT_EQ(j["site"], "10.0.0.2:7001");
  EXPECT_EQ(j["generation"], 3);
  EXPECT_EQ(j["journal_seq"], 42);
  EXPECT_EQ(j["journal_time"], 1234);
  EXPECT_EQ(j["in_flight"], nlohmann::json::array({9}));
  EXPECT_EQ(j["changed_since"], nlohmann::json::array({1, uint64_t{1} << 60}));
  info.all_changed = true;
  j = nlohmann::json::parse(server::EncodeInfoReply(info, true, {}));
  EXPECT_EQ(j["changed_since"], "all");
  j = nlohmann::json::parse(server::EncodeInfoReply(ReplicationInfo(), false, {}));
  EXPECT_EQ(j["role"], "none");
  EXPECT_TRUE(j["master"].is_null());
  EXPECT_FALSE(j.contains("changed_since"));  // not asked
}

class JournalSinceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BdbOptions options;
    options.durability = Durability::kNoSync;
    ASSERT_TRUE(bdb::OpenEnvironment(dir_.path(), options, &env_).ok());
    ASSERT_TRUE(bdb::OpenBtree(env_.get(), dir_.path(), bdb::kJournalFile, false, &journal_).ok());
  }
  // Entry n holds oids n and n + 1000.
  void Append(uint64_t from, uint64_t to) {
    for (uint64_t n = from; n <= to; ++n) {
      CommitBatch batch;
      ASSERT_TRUE(batch.Add(Oid(n), test::Rec(n, {})).ok());
      ASSERT_TRUE(batch.Add(Oid(n + 1000), test::Rec(n + 1000, {})).ok());
      bdb::Txn txn;
      ASSERT_EQ(txn.Begin(env_.get()), 0);
      ASSERT_EQ(bdb::AppendJournal(journal_.get(), txn.get(), n, batch), 0);
      ASSERT_EQ(txn.Commit(0), 0);
    }
  }
  JournalPosition At(uint64_t seq) {
    std::vector<JournalEntry> e;
    EXPECT_TRUE(bdb::ReadJournal(journal_.get(), seq - 1, seq, 1, &e).ok());
    EXPECT_EQ(e.size(), 1u);
    return {seq, e.empty() ? 0 : e[0].time_us};
  }
  void Since(const JournalPosition* since, bool* all, std::vector<Oid>* changed,
             size_t max = 100000) {
    JournalPosition last;
    ASSERT_TRUE(bdb::JournalChangesSince(journal_.get(), since, max, &last, all, changed).ok());
    last_ = last;
  }

  test::KeptOnFailureTempDir dir_;
  bdb::EnvPtr env_;
  bdb::DbPtr journal_;
  JournalPosition last_;
};

TEST_F(JournalSinceTest, TheOidsAfterSinceOrAllWhenItCannotTell) {
  bool all = true;
  std::vector<Oid> changed{Oid(5)};
  const JournalPosition zero;
  Since(&zero, &all, &changed);  // empty journal, from its start
  EXPECT_FALSE(all);
  EXPECT_TRUE(changed.empty());
  EXPECT_EQ(last_.seq, 0u);

  Append(1, 10);
  Since(nullptr, &all, &changed);
  EXPECT_EQ(last_.seq, 10u);
  EXPECT_EQ(last_.time_us, At(10).time_us);
  EXPECT_TRUE(changed.empty());

  const JournalPosition at7 = At(7);
  Since(&at7, &all, &changed);
  EXPECT_FALSE(all);
  EXPECT_EQ(changed, (std::vector<Oid>{Oid(8), Oid(1008), Oid(9), Oid(1009), Oid(10), Oid(1010)}));
  const JournalPosition at10 = At(10);
  Since(&at10, &all, &changed);  // up to date
  EXPECT_FALSE(all);
  EXPECT_TRUE(changed.empty());
  Since(&zero, &all, &changed);  // from the start: every entry
  EXPECT_FALSE(all);
  EXPECT_EQ(changed.size(), 20u);

  // Another history's entry 7 (its time differs), or an entry this
  // journal never had: all.
  JournalPosition other = at7;
  other.time_us += 1;
  Since(&other, &all, &changed);
  EXPECT_TRUE(all);
  EXPECT_TRUE(changed.empty());
  const JournalPosition beyond{11, at10.time_us};
  Since(&beyond, &all, &changed);
  EXPECT_TRUE(all);
  // Too many oids for one answer: all.
  Since(&at7, &all, &changed, /*max=*/5);
  EXPECT_TRUE(all);

  // Entries 1..5 trimmed: from 7 still answerable, from 3 or 0 not.
  const JournalPosition at3 = At(3);
  for (uint64_t n = 1; n <= 5; ++n) {
    char kb[8];
    Oid(n).ToBytes(kb);
    Dbt key = bdb::InDbt(kb, 8);
    ASSERT_EQ(journal_->del(nullptr, &key, 0), 0);
  }
  Since(&at7, &all, &changed);
  EXPECT_FALSE(all);
  EXPECT_EQ(changed.size(), 6u);
  Since(&at3, &all, &changed);
  EXPECT_TRUE(all);
  Since(&zero, &all, &changed);
  EXPECT_TRUE(all);
}

}  // namespace
}  // namespace durus
