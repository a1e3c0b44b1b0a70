// The Durus record codec (engine/record.h) against records built the way
// durus/serialize.py builds them.
#include "engine/record.h"

#include <gtest/gtest.h>

#include "engine/commit_batch.h"
#include "engine/storage.h"

namespace durus {
namespace {

TEST(RecordTest, PackUnpackRoundTrip) {
  std::string data =
      "\x80\x02"
      "cdurus.persistent_dict\nPersistentDict\nq\x00.x\x9c";
  std::string r = PackRecord(Oid(7), data, {Oid(1), Oid(300)});
  ASSERT_EQ(r.size(), 12 + data.size() + 16);
  EXPECT_EQ(r.substr(0, 8), std::string("\0\0\0\0\0\0\0\7", 8));
  RecordView v;
  ASSERT_TRUE(UnpackRecord(r, &v).ok());
  EXPECT_EQ(v.oid, Oid(7));
  EXPECT_EQ(v.data, data);
  EXPECT_EQ(NormalizedRefs(v.refs, v.oid), (std::vector<Oid>{Oid(1), Oid(300)}));
}

TEST(RecordTest, OidsAreBigEndianSoByteOrderIsNumericOrder) {
  EXPECT_LT(Oid(255).Bytes(), Oid(256).Bytes());
  EXPECT_EQ(Oid::FromBytes(Oid(0x0102030405060708ULL).Bytes().data()).value(),
            0x0102030405060708ULL);
}

TEST(RecordTest, RefsAreNormalisedWithoutSelf) {
  std::string refs = Oid(9).Bytes() + Oid(3).Bytes() + Oid(5).Bytes() + Oid(3).Bytes();
  EXPECT_EQ(NormalizedRefs(refs, Oid(5)), (std::vector<Oid>{Oid(3), Oid(9)}));
  EXPECT_TRUE(NormalizedRefs("", Oid(1)).empty());
}

TEST(RecordTest, ClassNameIsTheSecondLineOfData) {
  std::string r = PackRecord(Oid(1), "cmod\nKlass\nq.rest\nmore", {});
  EXPECT_EQ(ExtractClassName(r), "Klass");
  // As Python's data.split(b'\n', 2)[1] with one newline.
  EXPECT_EQ(ExtractClassName(PackRecord(Oid(1), "a\nb", {})), "b");
  EXPECT_EQ(ExtractClassName(PackRecord(Oid(1), "nonewline", {})), "?");
  EXPECT_EQ(ExtractClassName("short"), "?");
}

// The census's name: module and class, from the class pickle's GLOBAL.
TEST(RecordTest, CensusClassNameHasTheModule) {
  // The first bytes of a record Durus 4.3 wrote for models.Order.
  const char kOrder[] =
      "\x80\x02"
      "cmodels\nOrder\nq\x00.x\x9ck`";
  std::string durus(kOrder, sizeof(kOrder) - 1);
  EXPECT_EQ(CensusClassName(PackRecord(Oid(1), durus, {})), "models.Order");
  const char kDict[] =
      "\x80\x02"
      "cdurus.persistent_dict\nPersistentDict\nq\x00.x";
  std::string dict(kDict, sizeof(kDict) - 1);
  EXPECT_EQ(CensusClassName(PackRecord(Oid(1), dict, {})), "durus.persistent_dict.PersistentDict");
  EXPECT_EQ(CensusClassName(PackRecord(Oid(1), "cmod\nKlass\nq.rest", {})), "mod.Klass");
  // Not a GLOBAL: the bare name, as ExtractClassName.
  EXPECT_EQ(CensusClassName(PackRecord(Oid(1), "a\nb", {})), "b");
  EXPECT_EQ(CensusClassName(PackRecord(Oid(1), "c\nb\n", {})), "b");
  EXPECT_EQ(CensusClassName(PackRecord(Oid(1), "nonewline", {})), "?");
  EXPECT_EQ(CensusClassName("short"), "?");
}

TEST(RecordTest, MalformedRecordsAreRejected) {
  RecordView v;
  EXPECT_TRUE(UnpackRecord("", &v).IsInvalidArgument());
  EXPECT_TRUE(UnpackRecord(std::string(11, '\0'), &v).IsInvalidArgument());
  std::string r = PackRecord(Oid(1), "data", {Oid(2)});
  EXPECT_TRUE(UnpackRecord(r.substr(0, 14), &v).IsInvalidArgument());            // data cut
  EXPECT_TRUE(UnpackRecord(r.substr(0, r.size() - 3), &v).IsInvalidArgument());  // refs cut
  EXPECT_TRUE(ValidateRecord(Oid(2), r, &v).IsInvalidArgument());
  EXPECT_TRUE(ValidateRecord(Oid(1), r, &v).ok());
}

TEST(RecordTest, CommitBatchKeepsFirstPositionAndLastRecord) {
  CommitBatch b;
  ASSERT_TRUE(b.Add(Oid(1), PackRecord(Oid(1), "a", {})).ok());
  ASSERT_TRUE(b.Add(Oid(2), PackRecord(Oid(2), "b", {})).ok());
  ASSERT_TRUE(b.Add(Oid(1), PackRecord(Oid(1), "ccc", {})).ok());
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b.entries()[0].oid, Oid(1));
  EXPECT_EQ(b.entries()[0].record, PackRecord(Oid(1), "ccc", {}));
  EXPECT_EQ(b.bytes(), PackRecord(Oid(1), "ccc", {}).size() + PackRecord(Oid(2), "b", {}).size());
  Oid o;
  EXPECT_TRUE(ParseOid("1234567", &o).IsInvalidArgument());
  EXPECT_TRUE(ParseOid("12345678", &o).ok());
}

}  // namespace
}  // namespace durus
