// TableReader: reads a whole Berkeley DB btree in key order, in bulk
// chunks (DB_MULTIPLE_KEY), with memory bounded by the largest entry rather
// than by the table.  Used by verify (bdb/gc/verify.cc) to scan records.db,
// refcounts.db, pending.db and its temporary tables.  Internal to bdb/.
//
// The cursor is closed after each chunk, so callers may write (in their own
// transactions) between Next() calls; the next chunk starts strictly after
// the last key returned, found again by DB_SET_RANGE (an entry written
// meanwhile after that key is seen, one before it is not).
//
// Every entry is returned exactly once, whatever its size: a chunk buffer
// too small for the next entry grows (up to the largest entry Berkeley DB
// can store), and an empty chunk never means the end of the table unless
// Berkeley DB says so (DB_NOTFOUND).  A reader never loops without
// progress: each chunk holds at least one new entry or ends the scan.
//
// Threading: one thread at a time.  Errors: Berkeley DB return codes
// (nothing is thrown; the table's handles are DB_CXX_NO_EXCEPTIONS).
#ifndef DURUS_BDB_BDB_TABLE_READER_H_
#define DURUS_BDB_BDB_TABLE_READER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bdb/handles.h"

namespace durus::bdb {

class TableReader {
 public:
  static constexpr size_t kDefaultChunkBytes = 1u << 20;

  // `db` must outlive the reader.  `chunk_bytes` is the initial buffer size
  // (rounded up to 1 KiB; the tests and the fuzz target use small ones).
  explicit TableReader(Db* db, size_t chunk_bytes = kDefaultChunkBytes);
  ~TableReader();
  TableReader(const TableReader&) = delete;
  TableReader& operator=(const TableReader&) = delete;

  // The next entry; *end at the end of the table.  key/value stay valid
  // until the next call.  Returns 0 or a Berkeley DB error code.
  int Next(std::string_view* key, std::string_view* value, bool* end);

  // The last key returned (empty before the first): where a failed read
  // was, for error messages ("after oid N").
  bool started() const { return started_; }
  const std::string& last_key() const { return last_key_; }
  size_t buffer_bytes() const { return buf_.size(); }

 private:
  int Fetch();
  int Position(Dbc* c, bool* found_next, size_t* found_size);

  Db* db_;
  std::vector<char> buf_;
  std::string kbuf_;
  std::unique_ptr<DbMultipleKeyDataIterator> it_;
  std::string last_key_;
  bool started_ = false;
  bool eof_ = false;
  bool fresh_ = false;  // it_ was just fetched: nothing read from it yet
};

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_TABLE_READER_H_
