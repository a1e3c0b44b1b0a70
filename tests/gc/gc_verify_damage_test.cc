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
    EXPECT_TRUE(ReadFile(home_ + "/" + schema::kRefcountsFile) == counts) << "refcounts.db changed";
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

// --- Page checksums (format 2 homes): a few bytes flipped inside a stored
// record.  Before: verify said "no problems found" (the bytes are opaque to
// Berkeley DB's structure checks) and Durus got an UnpicklingError.

// Flips 4 bytes of `path` in the middle of the first occurrence of `needle`.
void FlipInside(const std::string& path, const std::string& needle) {
  std::string all = ReadFile(path);
  size_t at = all.find(needle);
  ASSERT_NE(at, std::string::npos) << needle;
  ASSERT_EQ(all.find(needle, at + 1), std::string::npos) << "not unique: " << needle;
  std::string bytes = all.substr(at + needle.size() / 2, 4);
  for (char& c : bytes) c = static_cast<char>(~c);
  WriteAt(path, at + needle.size() / 2, bytes);
}

bool NamesOid(const gc::VerifyReport& r, ProblemKind kind, uint64_t oid) {
  for (const gc::Problem& p : r.samples) {
    if (p.kind == kind && p.oid == oid) return true;
  }
  return false;
}

TEST_F(DamagedHome, FlippedBytesInsideASmallRecordNameItsOidAndPage) {
  const uint64_t victim = oids_[1499];
  ASSERT_EQ(std::to_string(victim).size(), 4u);  // "payload-NNNN" is unique
  FlipInside(records_, "q.payload-" + std::to_string(victim));
  {
    auto s = test::OpenBdb(home_, ManualGc());
    ASSERT_NE(s, nullptr);
    gc::VerifyReport r = Verify(s.get());
    EXPECT_FALSE(r.clean()) << Describe(r);
    EXPECT_TRUE(r.damaged);
    EXPECT_TRUE(NamesOid(r, ProblemKind::kUnreadableRecord, victim)) << Describe(r);
    EXPECT_NE(Describe(r).find("checksum"), std::string::npos) << Describe(r);
    // The storage itself is still usable: verify read the file on its own.
    std::string rec;
    EXPECT_TRUE(s->Load(Oid(oids_[0]), &rec).ok());
    (void)s->Close();
  }
  ExpectReportedAndRepairRefused("unreadable_record: oid " + std::to_string(victim));
}

TEST_F(DamagedHome, FlippedBytesInsideALargeRecordNameItsOid) {
  // A record on overflow pages of its own: the damaged page holds no key;
  // reading every record finds whose it is.
  uint64_t big = 0;
  {
    auto s = test::OpenBdb(home_, ManualGc());
    ASSERT_NE(s, nullptr);
    Oid o;
    ASSERT_TRUE(s->NewOid(&o).ok());
    big = o.value();
    std::string data;
    for (int i = 0; data.size() < 200000; ++i) data += "block-" + std::to_string(i) + ";";
    std::vector<uint64_t> refs = oids_;
    refs.push_back(big);
    CommitBatch batch;
    ASSERT_TRUE(batch.Add(Oid(big), PackRecord(Oid(big), data, {})).ok());
    ASSERT_TRUE(batch.Add(Oid(0), Rec(0, refs)).ok());
    ASSERT_TRUE(s->Commit(batch).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  FlipInside(records_, "block-9000;");
  auto s = test::OpenBdb(home_, ManualGc());
  ASSERT_NE(s, nullptr);
  gc::VerifyReport r = Verify(s.get());
  EXPECT_FALSE(r.clean()) << Describe(r);
  EXPECT_TRUE(NamesOid(r, ProblemKind::kUnreadableRecord, big)) << Describe(r);
  EXPECT_EQ(r.count(ProblemKind::kUnreadableRecord), 1u) << Describe(r);
  (void)s->Close();
}

TEST_F(DamagedHome, AStorageStoppedByAChecksumFailureStillGetsAUsefulReport) {
  // A load met the damaged page first: Berkeley DB panicked the storage's
  // environment, every later call fails.  verify still names the record.
  const uint64_t victim = oids_[1499];
  FlipInside(records_, "q.payload-" + std::to_string(victim));
  auto s = test::OpenBdb(home_, ManualGc());
  ASSERT_NE(s, nullptr);
  std::string rec;
  Status st = s->Load(Oid(victim), &rec);
  ASSERT_TRUE(st.IsCorruption()) << st.ToString();
  gc::VerifyReport r;
  VerifyOptions o;
  st = VerifyStorage(s.get(), o, &r);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(r.clean()) << Describe(r);
  EXPECT_TRUE(r.damaged);
  EXPECT_TRUE(NamesOid(r, ProblemKind::kUnreadableRecord, victim)) << Describe(r);
  (void)s->Close();
}

}  // namespace
}  // namespace durus::gctest
