// Reader for Durus's SqliteStorage (durus/sqlite_storage.py): one table
//   objects(id integer primary key, data blob, refs blob)
// with one row per oid (no versions), read in id order through a
// read-only connection.  The record is rebuilt as Durus's load() does:
// pack_record(int8(id), data, refs).
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
  explicit SqliteSource(std::string path) : path_(std::move(path)) {}
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
  Status Error(const std::string& what) {
    std::string msg = path_ + ": " + what + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory");
    int code = db_ ? sqlite3_errcode(db_) : SQLITE_NOMEM;
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return Status::Corruption(msg);
    return Status::IOError(msg);
  }

  const std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  uint64_t file_size_ = 0;
  uint64_t total_rows_ = 0;
  uint64_t rows_ = 0;
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
      return Status::InvalidArgument(path_ + ": not a Durus SqliteStorage (" +
                                     sqlite3_errmsg(db_) + ")");
    }
    return Error("cannot read the objects table");
  }
  rc = sqlite3_step(count);
  if (rc == SQLITE_ROW) total_rows_ = static_cast<uint64_t>(sqlite3_column_int64(count, 0));
  sqlite3_finalize(count);
  if (rc != SQLITE_ROW) return Error("cannot count the objects");
  rc = sqlite3_prepare_v2(db_, "SELECT id, data, refs FROM objects ORDER BY id", -1, &stmt_,
                          nullptr);
  if (rc != SQLITE_OK) return Error("cannot read the objects table");
  return Status::OK();
}

Status SqliteSource::Next(SourceItem* item, bool* done) {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_DONE) {
    *done = true;
    return Status::OK();
  }
  if (rc != SQLITE_ROW) return Error("cannot read row " + std::to_string(rows_ + 1));
  *done = false;
  // SQLite keeps integers signed; Durus's oids are u64.
  uint64_t id = static_cast<uint64_t>(sqlite3_column_int64(stmt_, 0));
  const void* data = sqlite3_column_blob(stmt_, 1);
  int dlen = sqlite3_column_bytes(stmt_, 1);
  const void* refs = sqlite3_column_blob(stmt_, 2);
  int rlen = sqlite3_column_bytes(stmt_, 2);
  if (rlen % 8 != 0) {
    return Status::Corruption(path_ + ": row id " + std::to_string(id) + ": refs length " +
                              std::to_string(rlen) + " is not a multiple of 8");
  }
  record_ = PackRecordRaw(Oid(id),
                          std::string_view(static_cast<const char*>(data), dlen > 0 ? dlen : 0),
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
  auto src = std::make_unique<SqliteSource>(path);
  DURUS_RETURN_IF_ERROR(src->Init());
  *out = std::move(src);
  return Status::OK();
}

#else  // !DURUS_HAVE_SQLITE

Status OpenSqliteSource(const std::string& path, const SourceOptions&,
                        std::unique_ptr<RecordSource>*) {
  return Status::NotSupported(path + ": this durus-bdb was built without SQLite "
                              "(install libsqlite3-dev and rebuild)");
}

#endif

}  // namespace durus::migrate
