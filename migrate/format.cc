// Source formats: names and detection by magic.
#include <sys/stat.h>

#include <cstring>

#include "bdb/bdb_storage.h"
#include "engine/record.h"
#include "migrate/dump_format.h"
#include "migrate/file_io.h"
#include "migrate/migrate.h"
#include "migrate/source.h"

namespace durus::migrate {

Status ParseSourceFormat(const std::string& name, SourceFormat* out) {
  if (name == "auto") {
    *out = SourceFormat::kAuto;
  } else if (name == "shelf" || name == "filestorage") {
    *out = SourceFormat::kShelf;
  } else if (name == "filestorage2" || name == "dfs20" || name == "fs2") {
    *out = SourceFormat::kFileStorage2;
  } else if (name == "sqlite") {
    *out = SourceFormat::kSqlite;
  } else if (name == "dump") {
    *out = SourceFormat::kDump;
  } else if (name == "bdb") {
    *out = SourceFormat::kBdb;
  } else {
    return Status::InvalidArgument("unknown format '" + name +
                                   "' (expected auto, shelf, filestorage2, sqlite, dump or bdb)");
  }
  return Status::OK();
}

const char* SourceFormatName(SourceFormat format) {
  switch (format) {
    case SourceFormat::kAuto: return "auto";
    case SourceFormat::kShelf: return "shelf";
    case SourceFormat::kFileStorage2: return "filestorage2";
    case SourceFormat::kSqlite: return "sqlite";
    case SourceFormat::kDump: return "dump";
    case SourceFormat::kBdb: return "bdb";
  }
  return "?";
}

Status DetectFormat(const std::string& path, SourceFormat* out) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return Status::NotFound("no such file or directory: " + path);
  if (S_ISDIR(st.st_mode)) {
    if (IsBdbHome(path)) {
      *out = SourceFormat::kBdb;
      return Status::OK();
    }
    return Status::InvalidArgument(path + " is a directory but not a durus-bdb home");
  }
  FileReader r;
  DURUS_RETURN_IF_ERROR(r.Open(path));
  if (r.size() == 0) {
    return Status::InvalidArgument(path + " is empty: not a Durus storage file");
  }
  std::string_view head;
  DURUS_RETURN_IF_ERROR(r.Read(16, &head));
  auto starts = [&](const char* magic, size_t n) {
    return head.size() >= n && memcmp(head.data(), magic, n) == 0;
  };
  if (starts("SHELF-1\n", 8)) {
    *out = SourceFormat::kShelf;
  } else if (starts("DFS20\0", 6)) {
    *out = SourceFormat::kFileStorage2;
  } else if (starts("SQLite format 3\0", 16)) {
    *out = SourceFormat::kSqlite;
  } else if (starts(kDumpMagic, 8)) {
    *out = SourceFormat::kDump;
  } else {
    std::string shown;
    for (char c : head.substr(0, 8)) {
      shown += (c >= 32 && c < 127) ? std::string(1, c)
                                    : "\\x" + std::string(1, "0123456789abcdef"[(c >> 4) & 15]) +
                                          std::string(1, "0123456789abcdef"[c & 15]);
    }
    return Status::InvalidArgument(path + ": unknown format (magic \"" + shown +
                                   "\"; expected SHELF-1, DFS20, SQLite format 3 or a "
                                   "durus-bdb dump)");
  }
  return Status::OK();
}

Status CheckedFileSource::TakeItem(size_t header, size_t record_from, SourceItem* item, bool* got) {
  *got = false;
  bool ok = false;
  uint64_t end = 0;
  std::string why;
  DURUS_RETURN_IF_ERROR(ValidItem(cur_, region_end_, &ok, &end, &why));
  if (!ok) {
    // Only what a reader reads unchecked (a salvaged range) is not valid.
    if (!options_.salvage) return Corrupt(cur_, why);
    uint64_t r = region_end_;
    DURUS_RETURN_IF_ERROR(NextItem(cur_ + 1, region_end_, &r));
    DURUS_RETURN_IF_ERROR(Skip(cur_, r, why));
    cur_ = r;
    return Status::OK();
  }
  file_.Seek(cur_ + header);
  std::string_view body;
  DURUS_RETURN_IF_ERROR(file_.Read(static_cast<size_t>(end - cur_ - header), &body));
  item->oid = Oid::FromBytes(body.data());
  item->record = body.substr(record_from);
  item->offset = cur_;
  cur_ = end;
  *got = true;
  return Status::OK();
}

Status RecordSource::NoteTornTail(const std::string& path, bool strict, uint64_t offset,
                                  uint64_t file_size, uint64_t records, const std::string& detail) {
  uint64_t bytes = file_size - offset;
  if (strict) {
    return Status::Corruption(path + ": torn last transaction at byte offset " +
                              std::to_string(offset) + " (" + detail + "; " +
                              std::to_string(bytes) + " bytes to the end of the file)");
  }
  torn_.present = true;
  torn_.offset = offset;
  torn_.bytes = bytes;
  torn_.records = records;
  torn_.detail = detail;
  return Status::OK();
}

Status CheckItem(const std::string& source, Oid oid, std::string_view record, uint64_t offset) {
  RecordView view;
  Status s = ValidateRecord(oid, record, &view);
  if (!s.ok()) {
    return Status::Corruption(
        source + ": corrupt record at byte offset " + std::to_string(offset) + ": " + s.message(),
        {oid});
  }
  return Status::OK();
}

Status OpenSource(const std::string& path, SourceFormat format, const SourceOptions& options,
                  std::unique_ptr<RecordSource>* out) {
  if (format == SourceFormat::kAuto) DURUS_RETURN_IF_ERROR(DetectFormat(path, &format));
  switch (format) {
    case SourceFormat::kShelf: return OpenShelfSource(path, options, out);
    case SourceFormat::kFileStorage2: return OpenDfs20Source(path, options, out);
    case SourceFormat::kSqlite: return OpenSqliteSource(path, options, out);
    case SourceFormat::kDump: return OpenDumpSource(path, options, out);
    case SourceFormat::kBdb: return OpenBdbSource(path, options, out);
    case SourceFormat::kAuto: break;
  }
  return Status::InvalidArgument("no format");
}

}  // namespace durus::migrate
