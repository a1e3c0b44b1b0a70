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
// it -- unless `strict`, when it is a Corruption error.  A malformed
// transaction is a torn tail only if no valid transaction follows it:
// otherwise the file is damaged, and the reader fails with Corruption
// naming the offset (Durus itself refuses such a file).
//
// Salvage (`salvage`): damage is not an error.  The reader skips exactly
// the bytes it cannot read, resynchronising on the next valid item /
// record / transaction / block, describes each skipped range in
// skipped() and every object whose version there it could identify in
// lost(), and hands out everything intact.  A torn tail is still skipped
// whole (its transaction was never acknowledged).
//
// Ownership: views returned by Next() point into the reader's buffers and
// stay valid until the next call.  Threading: one thread.
#ifndef DURUS_BDB_MIGRATE_SOURCE_H_
#define DURUS_BDB_MIGRATE_SOURCE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/oid.h"
#include "engine/status.h"
#include "migrate/file_io.h"
#include "migrate/migrate.h"

namespace durus::migrate {

struct SourceItem {
  Oid oid;
  std::string_view record;
  uint64_t offset = 0;  // where the item starts in the source (for messages)
};

struct TornTail {
  bool present = false;
  uint64_t offset = 0;   // start of the torn transaction
  uint64_t bytes = 0;    // bytes ignored from there to the end of the file
  uint64_t records = 0;  // complete records in it (not loaded: never committed)
  std::string detail;
};

// A range of the source that salvage did not read: bytes; for SQLite a
// range of row ids; for a durus-bdb home a number of records the home
// counts but could not be read (offset 0).  `unit` says which.
struct SkippedRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  const char* unit = "bytes";  // "bytes", "row ids" or "records"
  std::string reason;
};

// An object whose version inside a skipped range was identified (Shelf:
// the oid written twice at an item's start; FileStorage2: the record's
// header).  Whether a later version replaced it is decided by the caller.
struct LostVersion {
  Oid oid;
  uint64_t offset = 0;  // where the lost version starts
};

struct SourceOptions {
  bool strict = false;
  bool salvage = false;
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
  // Salvage only; appended as reading goes on (a lost version is reported
  // before any item after it is handed out).
  const std::vector<SkippedRange>& skipped() const { return skipped_; }
  const std::vector<LostVersion>& lost() const { return lost_; }

 protected:
  // A torn last transaction at `offset` of the file `path` (`file_size`
  // bytes) holding `records` complete records: Corruption when `strict`,
  // else described in torn_ (the reader then stops at the end of the file).
  Status NoteTornTail(const std::string& path, bool strict, uint64_t offset, uint64_t file_size,
                      uint64_t records, const std::string& detail);

  TornTail torn_;
  std::vector<SkippedRange> skipped_;
  std::vector<LostVersion> lost_;
};

// A reader of a file of checked items read region by region (Shelf,
// FileStorage2): the file, the position, the region being read, and the one
// step both take (TakeItem).  Each reader says what a valid item is, where
// the next one starts, and how it names damage and skipped ranges.
class CheckedFileSource : public RecordSource {
 public:
  uint64_t bytes_read() const override { return file_.pos(); }
  uint64_t total_bytes() const override { return file_.size(); }

 protected:
  explicit CheckedFileSource(SourceOptions options) : options_(options) {}

  // Corruption naming `offset` of the file and `what`.
  virtual Status Corrupt(uint64_t offset, const std::string& what) = 0;
  // The item at `pos` if it is valid and ends at or before `limit` (*end:
  // just past it); otherwise *ok false and, if `why` is not null, why.
  virtual Status ValidItem(uint64_t pos, uint64_t limit, bool* ok, uint64_t* end,
                           std::string* why) = 0;
  // The first offset >= from (and < limit) where a valid item starts; the
  // limit if none.
  virtual Status NextItem(uint64_t from, uint64_t limit, uint64_t* r) = 0;
  // Salvage: record [from, to) as skipped, with the items identifiable in it.
  virtual Status Skip(uint64_t from, uint64_t to, const std::string& why) = 0;

  // At cur_ < region_end_: the item there into *item (*got), its body
  // [cur_ + header, end) the oid (8 bytes) and, from `record_from`, the
  // record.  An invalid item is Corruption naming its offset; salvaging,
  // the range up to the next valid item is skipped instead (*got false:
  // take again).
  Status TakeItem(size_t header, size_t record_from, SourceItem* item, bool* got);

  const SourceOptions options_;
  FileReader file_;
  uint64_t cur_ = 0;         // the next item
  uint64_t region_end_ = 0;  // end of the items being read
};

// The hint every damage error ends with.
inline constexpr char kSalvageHint[] = "use --salvage to copy what can be read";

// Open `path` as `format` (kAuto: detect).  Reads and checks the header.
Status OpenSource(const std::string& path, SourceFormat format, const SourceOptions& options,
                  std::unique_ptr<RecordSource>* out);

// The body of every per-format constructor: a T(path, options), its
// Init() (which reads and checks the header), handed out on success.
template <typename T>
Status InitSource(const std::string& path, const SourceOptions& options,
                  std::unique_ptr<RecordSource>* out) {
  auto src = std::make_unique<T>(path, options);
  DURUS_RETURN_IF_ERROR(src->Init());
  *out = std::move(src);
  return Status::OK();
}

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
