// RecordSource: one pass over the records of a Durus storage, in file
// order, every version of every oid (the caller keeps the last).
//
// Readers: Shelf (shelf_source.cc), FileStorage2 (dfs20_source.cc),
// SqliteStorage (sqlite_source.cc), durus-bdb dump (dump_source.cc), a
// durus-bdb home (bdb_source.cc).  Every reader checks the framing of
// every item and that the record's embedded oid is the item's oid, and
// reports a malformed item as Corruption naming its byte offset.
//
// Torn tails: a last transaction cut short by a crash (Shelf, FileStorage2)
// is skipped and described by torn() -- Durus's repair=True would truncate
// it -- unless `strict`, when it is a Corruption error.
//
// Ownership: views returned by Next() point into the reader's buffers and
// stay valid until the next call.  Threading: one thread.
#ifndef DURUS_BDB_MIGRATE_SOURCE_H_
#define DURUS_BDB_MIGRATE_SOURCE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engine/oid.h"
#include "engine/status.h"
#include "migrate/migrate.h"

namespace durus::migrate {

struct SourceItem {
  Oid oid;
  std::string_view record;
  uint64_t offset = 0;  // where the item starts in the source (for messages)
};

struct TornTail {
  bool present = false;
  uint64_t offset = 0;  // start of the torn transaction
  uint64_t bytes = 0;   // bytes ignored from there to the end of the file
  std::string detail;
};

struct SourceOptions {
  bool strict = false;
};

class RecordSource {
 public:
  virtual ~RecordSource() = default;

  // The next item, or *done at the end.
  virtual Status Next(SourceItem* item, bool* done) = 0;

  // Progress: bytes consumed so far and in total (0 if unknown).
  virtual uint64_t bytes_read() const = 0;
  virtual uint64_t total_bytes() const = 0;
  virtual uint64_t total_records() const { return 0; }
  // The source's own "next oid" if it has one (dump, bdb), else 0.
  virtual uint64_t next_oid_hint() const { return 0; }

  const TornTail& torn() const { return torn_; }

 protected:
  TornTail torn_;
};

// Open `path` as `format` (kAuto: detect).  Reads and checks the header.
Status OpenSource(const std::string& path, SourceFormat format, const SourceOptions& options,
                  std::unique_ptr<RecordSource>* out);

// Per-format constructors (OpenSource dispatches to these).
Status OpenShelfSource(const std::string& path, const SourceOptions& options,
                       std::unique_ptr<RecordSource>* out);
Status OpenDfs20Source(const std::string& path, const SourceOptions& options,
                       std::unique_ptr<RecordSource>* out);
Status OpenSqliteSource(const std::string& path, const SourceOptions& options,
                        std::unique_ptr<RecordSource>* out);
Status OpenDumpSource(const std::string& path, const SourceOptions& options,
                      std::unique_ptr<RecordSource>* out);
Status OpenBdbSource(const std::string& path, const SourceOptions& options,
                     std::unique_ptr<RecordSource>* out);

// Check a source item: framing (engine/record.h) and embedded oid.
Status CheckItem(const std::string& source, Oid oid, std::string_view record, uint64_t offset);

}  // namespace durus::migrate

#endif  // DURUS_BDB_MIGRATE_SOURCE_H_
