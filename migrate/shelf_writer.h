// ShelfWriter: writes a Durus Shelf file (durus/shelf.py) that Durus's own
// FileStorage opens, from records given in increasing oid order, without
// holding them in memory.
//
// The file is what a Durus pack produces: every record in the initial
// transaction, then the offset map (one word per oid up to the largest
// plus one; holes stitched into Durus's free list exactly as
// OffsetMap.gen_stitch does), and no further transactions.  The offsets of
// the items are spooled to a nameless temporary file while the items are
// written, and read back to write the map.
//
// Threading: one thread.  Errors: Status.
#ifndef DURUS_BDB_MIGRATE_SHELF_WRITER_H_
#define DURUS_BDB_MIGRATE_SHELF_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/oid.h"
#include "engine/status.h"
#include "migrate/file_io.h"

namespace durus::migrate {

class ShelfWriter {
 public:
  // `out`: an empty file; `temp_dir`: where the offsets spool goes.
  ShelfWriter(FileWriter* out, std::string temp_dir) : out_(out), temp_dir_(std::move(temp_dir)) {}

  Status Start();
  // Oids must be strictly increasing.
  Status Add(Oid oid, std::string_view record);
  // The transaction length and the offset map (no fsync).
  Status Finish();

  uint64_t records() const { return records_; }

 private:
  FileWriter* out_;
  const std::string temp_dir_;
  TempFile offsets_;  // (oid, offset) pairs, u64 native order
  bool have_last_ = false;
  uint64_t last_oid_ = 0;
  uint64_t records_ = 0;
};

}  // namespace durus::migrate

#endif  // DURUS_BDB_MIGRATE_SHELF_WRITER_H_
