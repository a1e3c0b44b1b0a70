// A Berkeley DB btree written without an environment, with or without page
// checksums: salvage_test's records.db of either home format.  Test-only;
// the one place of these tests that needs Berkeley DB itself.
#include <db_cxx.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>

namespace durus::test {

void WriteRecordsFile(const std::string& home, const std::map<uint64_t, std::string>& records,
                      bool checksums) {
  Db db(nullptr, DB_CXX_NO_EXCEPTIONS);
  if (checksums) {
    ASSERT_EQ(db.set_flags(DB_CHKSUM), 0);
  }
  std::string path = home + "/records.db";
  ASSERT_EQ(db.open(nullptr, path.c_str(), nullptr, DB_BTREE, DB_CREATE, 0644), 0);
  for (const auto& [oid, rec] : records) {
    unsigned char k[8];
    for (int i = 0; i < 8; ++i) k[i] = static_cast<unsigned char>(oid >> (56 - 8 * i));
    Dbt key(k, 8), data(const_cast<char*>(rec.data()), static_cast<u_int32_t>(rec.size()));
    ASSERT_EQ(db.put(nullptr, &key, &data, 0), 0);
  }
  ASSERT_EQ(db.close(0), 0);
}

}  // namespace durus::test
