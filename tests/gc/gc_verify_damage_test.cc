// verify on damaged files (issue 11): Berkeley DB's structural verification
// of every page names the damaged file, page and records; verify never
// reports clean over damage, never crashes or hangs on it, and --repair
// refuses to change anything on the strength of a partial reading.
#include <unistd.h>

#include <cstdio>

#include "bdb/schema.h"
#include "tests/gc/gc_test_util.h"

namespace durus::gctest {
namespace {

using gc::ProblemKind;

// A closed home of a root referencing `n` small records ("payload-<oid>").
class DamagedHome : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = dir_.Sub("home");
    auto s = test::OpenBdb(home_, ManualGc());
    ASSERT_NE(s, nullptr);
    Graph g(s.get());
    g.New();
    for (int i = 0; i < 2000; ++i) oids_.push_back(g.New());
    for (uint64_t o : oids_) g.Set(o, {});
    g.Set(0, oids_);
    ASSERT_TRUE(g.Flush().ok());
    ASSERT_TRUE(Verify(s.get()).clean());
    ASSERT_TRUE(s->Close().ok());
    records_ = home_ + "/" + schema::kRecordsFile;
  }

  // The page size of a Berkeley DB file (its meta page, offset 20).
  uint32_t PageSize(const std::string& path) {
    std::string meta = ReadFile(path).substr(0, 64);
    uint32_t v = 0;
    memcpy(&v, meta.data() + 20, 4);
    return v;
  }

  // verify and verify --repair through the command: damage is reported,
  // repair refused, the table files left exactly as they were.
  void ExpectReportedAndRepairRefused(const std::string& expect_in_report) {
    std::string records = ReadFile(records_);
    std::string counts = ReadFile(home_ + "/" + schema::kRefcountsFile);
    CommandResult r = RunCommand("verify " + home_);
    EXPECT_EQ(r.code, 1) << r.out << r.err;
    EXPECT_EQ(r.out.find("no problems found"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(expect_in_report), std::string::npos) << r.out << r.err;
    EXPECT_NE(r.err.find("needs salvage or a backup"), std::string::npos) << r.err;
    r = RunCommand("verify " + home_ + " --repair --json");
    EXPECT_EQ(r.code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("\"clean\": false"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("not repairing"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("nothing was changed"), std::string::npos) << r.err;
    EXPECT_TRUE(ReadFile(records_) == records) << "records.db changed";
    EXPECT_TRUE(ReadFile(home_ + "/" + schema::kRefcountsFile) == counts)
        << "refcounts.db changed";
  }

  TempDir dir_;
  std::string home_, records_;
  std::vector<uint64_t> oids_;
};

TEST_F(DamagedHome, AGarbledPageHeaderIsNamedAndRepairRefused) {
  // Page 2 of records.db: its entry count and type bytes.
  uint32_t ps = PageSize(records_);
  ASSERT_GE(ps, 512u);
  WriteAt(records_, 2 * uint64_t{ps} + 20, std::string(6, '\xff'));
  {
    auto s = test::OpenBdb(home_, ManualGc());
    ASSERT_NE(s, nullptr);
    gc::VerifyReport r = Verify(s.get());
    EXPECT_FALSE(r.clean()) << Describe(r);
    EXPECT_TRUE(r.damaged);
    EXPECT_FALSE(r.complete);
    EXPECT_GE(r.count(ProblemKind::kDamagedPage), 1u) << Describe(r);
    EXPECT_NE(Describe(r).find("records.db page 2"), std::string::npos) << Describe(r);
    gc::VerifyReport fixed = Verify(s.get(), /*repair=*/true);
    EXPECT_NE(fixed.repair_refused.find("damaged"), std::string::npos) << Describe(fixed);
    EXPECT_EQ(fixed.repaired.refs_dropped + fixed.repaired.counts_removed, 0u);
    (void)s->Close();
  }
  ExpectReportedAndRepairRefused("records.db page 2");
}

TEST_F(DamagedHome, ATruncatedRecordsFileIsNeverReportedClean) {
  std::string all = ReadFile(records_);
  ASSERT_EQ(truncate(records_.c_str(), static_cast<off_t>(all.size() / 2)), 0);
  CommandResult r = RunCommand("verify " + home_);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(r.out.find("no problems found"), std::string::npos) << r.out;
  std::string truncated = ReadFile(records_);
  r = RunCommand("verify " + home_ + " --repair");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(r.out.find("repaired:"), std::string::npos) << r.out;
  EXPECT_TRUE(ReadFile(records_) == truncated) << "records.db changed";
}

}  // namespace
}  // namespace durus::gctest
