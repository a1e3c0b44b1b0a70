// Reader for Durus's SqliteStorage (durus/sqlite_storage.py): one table
//   objects(id integer primary key, data blob, refs blob)
// with one row per oid (no versions), read in id order through a
// read-only connection.  The record is rebuilt as Durus's load() does:
// pack_record(int8(id), data, refs).
//
// A row SQLite cannot read (a damaged page) is an error naming the row and
// the last id read.  Salvage instead skips forward: it restarts the scan
// at ids after the last one read, further and further away (doubling),
// until a restart reads a row, then narrows the gap by bisection; the ids
// between the last row read and the next are reported as one skipped range
// (in row ids: SQLite's pages have no meaning to a Durus user).
#include <cstdint>

#include "migrate/file_io.h"
#include "migrate/source.h"

#ifdef DURUS_HAVE_SQLITE
#include <sqlite3.h>
#endif

#include "engine/record.h"

namespace durus::migrate {

#ifdef DURUS_HAVE_SQLITE

namespace {

class SqliteSource : public RecordSource {
 public:
  SqliteSource(std::string path, SourceOptions options)
      : path_(std::move(path)), options_(options) {}
  ~SqliteSource() override {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    if (db_ != nullptr) sqlite3_close(db_);
  }

  Status Init();
  Status Next(SourceItem* item, bool* done) override;
  uint64_t bytes_read() const override {
    // Rows do not map to file offsets; scale rows read to the file size.
    return total_rows_ == 0 ? 0 : file_size_ * rows_ / total_rows_;
  }
  uint64_t total_bytes() const override { return file_size_; }
  uint64_t total_records() const override { return total_rows_; }

 private:
  // `hint`: the damage is one --salvage can skip.
  Status Error(const std::string& what, bool hint = false) {
    std::string msg = path_ + ": " + what + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory");
    if (hint) msg += std::string("; ") + kSalvageHint;
    int code = db_ ? sqlite3_errcode(db_) : SQLITE_NOMEM;
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return Status::Corruption(msg);
    return Status::IOError(msg);
  }

  // Salvage: restart the scan at the first readable row after the last
  // one read; *done if there is none.
  Status SkipDamage(const std::string& why, bool* done);
  // Restart at ids >= start and step once: the result code.
  int StepFrom(int64_t start);

  const std::string path_;
  const SourceOptions options_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  uint64_t file_size_ = 0;
  uint64_t total_rows_ = 0;
  uint64_t rows_ = 0;
  bool any_row_ = false;
  int64_t last_id_ = 0;
  std::string record_;
};

Status SqliteSource::Init() {
  DURUS_RETURN_IF_ERROR(GetFileSize(path_, &file_size_));
  int rc = sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr);
  if (rc != SQLITE_OK) return Error("cannot open");
  sqlite3_stmt* count = nullptr;
  rc = sqlite3_prepare_v2(db_, "SELECT count(*) FROM objects", -1, &count, nullptr);
  if (rc != SQLITE_OK) {
    if (rc == SQLITE_ERROR) {
      return Status::InvalidArgument(path_ + ": not a Durus SqliteStorage (" + sqlite3_errmsg(db_) +
                                     ")");
    }
    return Error("cannot read the objects table");
  }
  rc = sqlite3_step(count);
  if (rc == SQLITE_ROW) total_rows_ = static_cast<uint64_t>(sqlite3_column_int64(count, 0));
  sqlite3_finalize(count);
  // Counting reads every page: a damaged one is left to the scan, which
  // names the row where it is (it only costs the progress estimate).
  rc = sqlite3_prepare_v2(db_, "SELECT id, data, refs FROM objects WHERE id >= ? ORDER BY id", -1,
                          &stmt_, nullptr);
  if (rc != SQLITE_OK) return Error("cannot read the objects table");
  sqlite3_bind_int64(stmt_, 1, INT64_MIN);
  return Status::OK();
}

int SqliteSource::StepFrom(int64_t start) {
  sqlite3_reset(stmt_);
  sqlite3_bind_int64(stmt_, 1, start);
  return sqlite3_step(stmt_);
}

Status SqliteSource::SkipDamage(const std::string& why, bool* done) {
  const int64_t first = any_row_ ? last_id_ + 1 : INT64_MIN;
  if (any_row_ && last_id_ == INT64_MAX) {
    *done = true;
    return Status::OK();
  }
  // Gallop: the first start that reads a row (or finds the end).
  int64_t bad = first, good = first;
  int rc = SQLITE_ERROR;
  for (uint64_t step = 1;; step *= 2) {
    good = static_cast<uint64_t>(INT64_MAX) - static_cast<uint64_t>(first) < step
               ? INT64_MAX
               : static_cast<int64_t>(static_cast<uint64_t>(first) + step);
    rc = StepFrom(good);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE || good == INT64_MAX) break;
    bad = good;
  }
  // Bisect (bad fails, good reads or ends): the smallest start that reads.
  while (static_cast<uint64_t>(good) - static_cast<uint64_t>(bad) > 1 &&
         (rc == SQLITE_ROW || rc == SQLITE_DONE)) {
    int64_t mid =
        static_cast<int64_t>(static_cast<uint64_t>(bad) +
                             (static_cast<uint64_t>(good) - static_cast<uint64_t>(bad)) / 2);
    int r = StepFrom(mid);
    if (r == SQLITE_ROW || r == SQLITE_DONE) {
      good = mid;
    } else {
      bad = mid;
    }
  }
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) rc = StepFrom(good);
  int64_t next = rc == SQLITE_ROW ? sqlite3_column_int64(stmt_, 0) : INT64_MAX;
  uint64_t span = static_cast<uint64_t>(next) - static_cast<uint64_t>(first);
  if (rc != SQLITE_ROW) span += 1;  // up to and including INT64_MAX
  skipped_.push_back(SkippedRange{static_cast<uint64_t>(first), span, "row ids",
                                  why + (rc == SQLITE_ROW ? "" : "; no readable row after it")});
  if (rc != SQLITE_ROW) {
    *done = true;
    return Status::OK();
  }
  return Status::OK();
}

Status SqliteSource::Next(SourceItem* item, bool* done) {
  *done = false;
  int rc = sqlite3_step(stmt_);
  for (;;) {
    if (rc == SQLITE_DONE) {
      *done = true;
      return Status::OK();
    }
    if (rc == SQLITE_ROW) break;
    std::string where =
        "cannot read row " + std::to_string(rows_ + 1) +
        (any_row_ ? " (after id " + std::to_string(last_id_) + ")" : " (the first)");
    if (!options_.salvage) return Error(where, true);
    DURUS_RETURN_IF_ERROR(SkipDamage(where + ": " + sqlite3_errmsg(db_), done));
    if (*done) return Status::OK();
    rc = SQLITE_ROW;  // SkipDamage left the statement on the next row
  }
  // SQLite keeps integers signed; Durus's oids are u64.
  uint64_t id = static_cast<uint64_t>(sqlite3_column_int64(stmt_, 0));
  const void* data = sqlite3_column_blob(stmt_, 1);
  int dlen = sqlite3_column_bytes(stmt_, 1);
  const void* refs = sqlite3_column_blob(stmt_, 2);
  int rlen = sqlite3_column_bytes(stmt_, 2);
  any_row_ = true;
  last_id_ = static_cast<int64_t>(id);
  if (rlen % 8 != 0) {
    std::string why = "row id " + std::to_string(id) + ": refs length " + std::to_string(rlen) +
                      " is not a multiple of 8";
    if (!options_.salvage) return Status::Corruption(path_ + ": " + why + "; " + kSalvageHint);
    skipped_.push_back(SkippedRange{id, 1, "row ids", why});
    lost_.push_back(LostVersion{Oid(id), id});
    return Next(item, done);
  }
  record_ =
      PackRecordRaw(Oid(id), std::string_view(static_cast<const char*>(data), dlen > 0 ? dlen : 0),
                    std::string_view(static_cast<const char*>(refs), rlen > 0 ? rlen : 0));
  ++rows_;
  item->oid = Oid(id);
  item->record = record_;
  item->offset = rows_;  // rows have no byte offset; messages say "row"
  return Status::OK();
}

}  // namespace

Status OpenSqliteSource(const std::string& path, const SourceOptions& options,
                        std::unique_ptr<RecordSource>* out) {
  return InitSource<SqliteSource>(path, options, out);
}

#else  // !DURUS_HAVE_SQLITE

Status OpenSqliteSource(const std::string& path, const SourceOptions&,
                        std::unique_ptr<RecordSource>*) {
  return Status::NotSupported(path +
                              ": this durus-bdb was built without SQLite "
                              "(install libsqlite3-dev and rebuild)");
}

#endif

}  // namespace durus::migrate
