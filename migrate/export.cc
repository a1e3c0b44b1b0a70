// Export(): a home -> a Shelf file or a dump, streaming in oid order.
// The home is opened read-only (the collector does not run, nothing in the
// home changes); the output goes to a temporary name in the destination's
// directory and is fsynced and renamed into place only when complete.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "bdb/bdb_storage.h"
#include "migrate/dump_format.h"
#include "migrate/file_io.h"
#include "migrate/migrate.h"
#include "migrate/progress.h"
#include "migrate/shelf_writer.h"

namespace durus::migrate {

namespace {

constexpr size_t kScanBatch = 2048;

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Status ExportTo(const ExportOptions& o, Storage* storage, FileWriter* out, ExportReport* r) {
  StorageStats stats;
  DURUS_RETURN_IF_ERROR(storage->GetStats(&stats));
  ProgressTracker pt(&o.progress, "export", stats.record_bytes, stats.object_count);
  ShelfWriter shelf(out, DirOf(o.dest));
  DumpWriter dump(out, o.compression_level);
  if (o.format == ExportFormat::kShelf) {
    DURUS_RETURN_IF_ERROR(shelf.Start());
  } else {
    DURUS_RETURN_IF_ERROR(dump.Start(stats.next_oid, kDumpFlagSorted));
  }
  DURUS_RETURN_IF_ERROR(ForEachRecord(
      storage,
      [&](Oid oid, const std::string& record) {
        if (o.format == ExportFormat::kShelf) {
          DURUS_RETURN_IF_ERROR(shelf.Add(oid, record));
        } else {
          DURUS_RETURN_IF_ERROR(dump.Add(oid, record));
        }
        ++r->objects;
        r->record_bytes += record.size();
        pt.Update(r->objects, r->record_bytes);
        return Status::OK();
      },
      kScanBatch));
  if (o.format == ExportFormat::kShelf) {
    DURUS_RETURN_IF_ERROR(shelf.Finish());
  } else {
    DURUS_RETURN_IF_ERROR(dump.Finish());
  }
  DURUS_RETURN_IF_ERROR(out->Sync());
  r->bytes_written = out->pos();
  pt.Done(r->objects, r->record_bytes);
  return Status::OK();
}

}  // namespace

Status ParseExportFormat(const std::string& name, ExportFormat* out) {
  if (name == "shelf" || name == "filestorage") {
    *out = ExportFormat::kShelf;
  } else if (name == "dump") {
    *out = ExportFormat::kDump;
  } else {
    return Status::InvalidArgument("unknown export format '" + name + "' (expected shelf or dump)");
  }
  return Status::OK();
}

Status Export(const ExportOptions& o, ExportReport* report) {
  auto t0 = std::chrono::steady_clock::now();
  *report = ExportReport();
  if (o.dest.empty()) return Status::InvalidArgument("no destination given");
  if (access(o.dest.c_str(), F_OK) == 0) {
    return Status::InvalidArgument(o.dest + " already exists; export writes a new file");
  }
  if (o.compression_level < 0 || o.compression_level > 9) {
    return Status::InvalidArgument("compression level must be 0..9");
  }
  BdbOptions bo;
  bo.readonly = true;
  bo.create_if_missing = false;
  bo.gc_background = false;
  bo.cache_mb = o.cache_mb;
  std::unique_ptr<Storage> storage;
  DURUS_RETURN_IF_ERROR(OpenBdbStorage(o.home, bo, &storage));

  std::string tmp = o.dest + ".tmp-XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) return Status::IOError("cannot create a temporary file next to " + o.dest);
  // mkstemp makes 0600; give the result the mode open(2) would.
  mode_t mask = umask(0);
  umask(mask);
  fchmod(fd, 0666 & ~mask);
  FileWriter out;
  out.Adopt(fd, tmp);
  Status s = ExportTo(o, storage.get(), &out, report);
  if (s.ok()) s = out.Close();
  if (s.ok()) s = storage->Close();
  if (s.ok() && link(tmp.c_str(), o.dest.c_str()) != 0) {
    // link() rather than rename(): it fails if dest appeared meanwhile.
    s = Status::IOError("cannot create " + o.dest);
  }
  unlink(tmp.c_str());
  if (s.ok()) s = SyncParentDir(o.dest);
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

std::string SummaryLine(const ExportReport& r, const ExportOptions& o) {
  char buf[256];
  snprintf(buf, sizeof(buf),
           "exported %llu objects (%llu record bytes) to %s as %s: %llu bytes, "
           "%.1f s, %.0f records/s",
           static_cast<unsigned long long>(r.objects),
           static_cast<unsigned long long>(r.record_bytes), o.dest.c_str(),
           o.format == ExportFormat::kShelf ? "a Shelf file" : "a dump",
           static_cast<unsigned long long>(r.bytes_written), r.seconds,
           r.seconds > 0 ? r.objects / r.seconds : 0.0);
  return buf;
}

}  // namespace durus::migrate
