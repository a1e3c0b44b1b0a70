#include "python/src/migration.h"

#include <memory>
#include <utility>

#include "migrate/migrate.h"
#include "python/src/options.h"
#include "python/src/status_error.h"

namespace py = pybind11;

namespace durus {
namespace python {

namespace {

// Bridges migrate's ProgressFn to a Python callable.  Lives on the stack of
// the binding call, which outlives the C++ migration; the callable is only
// touched with the GIL re-acquired.
class ProgressBridge {
 public:
  explicit ProgressBridge(py::object callable) : callable_(std::move(callable)) {}

  // Empty when there is no callable: migrate then skips progress entirely.
  migrate::ProgressFn Fn() {
    if (callable_.is_none()) return {};
    return [this](const migrate::Progress& p) { Call(p); };
  }

  // Re-raise what the callable raised (GIL held).
  void RethrowIfFailed() {
    if (error_) {
      std::unique_ptr<py::error_already_set> e = std::move(error_);
      throw py::error_already_set(*e);
    }
  }

 private:
  void Call(const migrate::Progress& p) {
    py::gil_scoped_acquire gil;
    if (error_) return;  // failed once: stay quiet, re-raised at the end
    try {
      py::dict d;
      d["phase"] = p.phase;
      d["records"] = p.records;
      d["bytes"] = p.bytes;
      d["total_records"] = p.total_records;
      d["total_bytes"] = p.total_bytes;
      d["phase_seconds"] = p.phase_seconds;
      d["phase_done"] = p.phase_done;
      callable_(d);
    } catch (py::error_already_set& e) {
      error_ = std::make_unique<py::error_already_set>(std::move(e));
    }
  }

  py::object callable_;
  std::unique_ptr<py::error_already_set> error_;
};

// Runs `run(options, &report)` without the GIL, progress bridged to the
// Python callable; a failure raises (`what` names the operation).
template <typename Report, typename Options, typename Fn>
Report RunWithProgress(Options* o, py::object progress, Fn run, const std::string& what) {
  ProgressBridge bridge(std::move(progress));
  o->progress = bridge.Fn();
  Report r;
  Status s;
  {
    py::gil_scoped_release release;
    s = run(*o, &r);
  }
  bridge.RethrowIfFailed();
  if (!s.ok()) ThrowStatus(s, what);
  return r;
}

py::list Strings(const std::vector<std::string>& v) {
  py::list out;
  for (const std::string& s : v) out.append(s);
  return out;
}

}  // namespace

py::dict MigrateBinding(const std::string& source, const std::string& home,
                        const std::string& format, const std::string& durability, bool verify,
                        bool strict, bool allow_dangling, bool salvage, bool force,
                        const std::string& temp_dir, uint32_t cache_mb, uint32_t sort_mb,
                        py::object progress) {
  migrate::MigrateOptions o;
  o.source = source;
  o.home = home;
  if (!migrate::ParseSourceFormat(format, &o.format).ok()) {
    ThrowPython(PyExc_ValueError,
                "format must be \"auto\", \"shelf\", \"filestorage2\", \"sqlite\", \"dump\" or "
                "\"bdb\", not \"" +
                    format + "\"");
  }
  o.durability = ParseDurabilityOrThrow(durability);
  o.verify = verify;
  o.strict = strict;
  o.allow_dangling = allow_dangling;
  o.salvage = salvage;
  o.force = force;
  o.force_hint = "force=True";
  o.temp_dir = temp_dir;
  o.cache_mb = cache_mb;
  o.sort_memory_mb = sort_mb;
  migrate::MigrateReport r = RunWithProgress<migrate::MigrateReport>(
      &o, std::move(progress), migrate::Migrate, "migrate " + source + " -> " + home);

  py::dict d;
  d["format"] = migrate::SourceFormatName(r.format);
  d["source_records"] = r.source_records;
  d["source_bytes"] = r.source_bytes;
  d["objects"] = r.objects;
  d["record_bytes"] = r.record_bytes;
  d["references"] = r.references;
  d["pending"] = r.pending;
  d["next_oid"] = r.next_oid;
  d["dangling"] = r.dangling;
  d["torn_tail"] = r.torn_tail;
  d["torn_offset"] = r.torn_offset;
  d["torn_bytes"] = r.torn_bytes;
  d["torn_records"] = r.torn_records;
  d["salvage"] = r.salvage;
  py::list skipped;
  for (const migrate::SalvagedRange& k : r.skipped) {
    py::dict e;
    e["offset"] = k.offset;
    e["length"] = k.length;
    e["unit"] = k.unit;
    e["reason"] = k.reason;
    skipped.append(e);
  }
  d["skipped"] = skipped;
  py::list lost;
  for (const migrate::LostObject& l : r.lost) {
    py::dict e;
    e["oid"] = l.oid;
    e["offset"] = l.offset;
    e["older_version_kept"] = l.older_kept;
    lost.append(e);
  }
  d["lost"] = lost;
  d["lost_superseded"] = r.lost_superseded;
  d["restarted"] = r.restarted;
  d["verified"] = r.verified;
  d["home_data_bytes"] = r.home_data_bytes;
  d["seconds"] = r.seconds;
  d["warnings"] = Strings(r.warnings);
  d["summary"] = migrate::SummaryLine(r);
  return d;
}

py::dict ExportBinding(const std::string& home, const std::string& dest, const std::string& format,
                       int level, uint32_t cache_mb, py::object progress) {
  migrate::ExportOptions o;
  o.home = home;
  o.dest = dest;
  if (!migrate::ParseExportFormat(format, &o.format).ok()) {
    ThrowPython(PyExc_ValueError, "format must be \"shelf\" or \"dump\", not \"" + format + "\"");
  }
  if (level < 0 || level > 9) {
    ThrowPython(PyExc_ValueError, "level must be 0 .. 9, not " + std::to_string(level));
  }
  o.compression_level = level;
  o.cache_mb = cache_mb;
  migrate::ExportReport r = RunWithProgress<migrate::ExportReport>(
      &o, std::move(progress), migrate::Export, "export " + home + " -> " + dest);

  py::dict d;
  d["format"] = format;
  d["objects"] = r.objects;
  d["record_bytes"] = r.record_bytes;
  d["bytes_written"] = r.bytes_written;
  d["seconds"] = r.seconds;
  d["summary"] = migrate::SummaryLine(r, o);
  return d;
}

std::string DetectFormatBinding(const std::string& path) {
  migrate::SourceFormat f;
  Status s;
  {
    py::gil_scoped_release release;
    s = migrate::DetectFormat(path, &f);
  }
  if (!s.ok()) ThrowStatus(s, path);
  return migrate::SourceFormatName(f);
}

}  // namespace python
}  // namespace durus
