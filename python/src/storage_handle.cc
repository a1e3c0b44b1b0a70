#include "python/src/storage_handle.h"

#include <mutex>
#include <utility>
#include <vector>

#include "engine/memory_storage.h"
#include "python/src/options.h"
#include "python/src/status_error.h"

namespace py = pybind11;

namespace durus {
namespace python {

namespace {

// The 8 raw bytes of an oid argument: TypeError unless bytes, ValueError
// (showing the value) unless exactly 8 of them.
Oid OidArg(py::handle value, const char* what) {
  PyObject* p = value.ptr();
  if (!PyBytes_Check(p)) {
    ThrowPython(PyExc_TypeError,
                std::string(what) + ": an oid must be bytes, not " + Py_TYPE(p)->tp_name);
  }
  if (PyBytes_GET_SIZE(p) != static_cast<Py_ssize_t>(Oid::kSize)) {
    ThrowPython(PyExc_ValueError, std::string(what) + ": oid " + std::string(py::repr(value)) +
                                      " is " + std::to_string(PyBytes_GET_SIZE(p)) +
                                      " bytes, an oid is 8");
  }
  return Oid::FromBytes(PyBytes_AS_STRING(p));
}

py::bytes OidBytes(Oid oid) {
  char b[Oid::kSize];
  oid.ToBytes(b);
  return py::bytes(b, Oid::kSize);
}

py::bytes ToBytes(const std::string& s) { return py::bytes(s.data(), s.size()); }

}  // namespace

StorageHandle::StorageHandle(const std::string& path, bool readonly, const py::object& durability,
                             const py::object& cache_mb, const py::dict& options, bool memory_model)
    : path_(path), durability_(memory_model ? "memory" : ""), readonly_(readonly) {
  BdbOptions opts;
  // None: not given, so the home's (an explicit value applies to this open).
  if (!durability.is_none()) {
    if (!PyUnicode_Check(durability.ptr())) {
      ThrowPython(PyExc_TypeError, "durability must be a str, not " +
                                       std::string(Py_TYPE(durability.ptr())->tp_name));
    }
    opts.durability = ParseDurabilityOrThrow(py::str(durability));
  }
  if (!cache_mb.is_none()) {
    py::dict one;
    one["cache_mb"] = cache_mb;
    ApplyOptions(one, &opts);
  }
  opts.readonly = readonly;
  ApplyOptions(options, &opts);
  if (path.empty()) ThrowPython(PyExc_ValueError, "BerkeleyDBStorage needs a directory path");
  if (memory_model) {
    storage_ = std::make_unique<MemoryStorage>();
    return;
  }
  Status s;
  {
    py::gil_scoped_release release;
    std::unique_ptr<BdbHandle> handle;
    s = OpenBdbStorage(path, opts, &handle);
    if (s.ok()) durability_ = DurabilityName(handle->options().durability);
    storage_ = std::move(handle);
  }
  if (!s.ok()) {
    // Name the path once: bdb's messages usually include it already.
    bool named = s.message().find(path) != std::string::npos;
    ThrowStatus(s, named ? "cannot open" : "cannot open " + path);
  }
}

StorageHandle::~StorageHandle() {
  // No caller can be inside the storage: each holds a reference to the
  // Python object.  The background threads never need the GIL, so closing
  // with it held cannot deadlock.
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (storage_) storage_->Close().IgnoreError();
}

template <typename Fn>
Status StorageHandle::Run(Fn&& fn) {
  py::gil_scoped_release release;
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (!storage_) return Status::Closed("storage is closed");
  return fn(storage_.get());
}

void StorageHandle::Throw(const Status& s) const {
  // Name the path once: bdb's messages often include it already.
  ThrowStatus(s, s.message().find(path_) == std::string::npos ? path_ : std::string());
}

py::bytes StorageHandle::Load(py::handle oid_arg) {
  Oid oid = OidArg(oid_arg, "load");
  std::string record;
  Status s = Run([&](Storage* st) { return st->Load(oid, &record); });
  if (!s.ok()) Throw(s);
  return ToBytes(record);
}

void StorageHandle::Begin() { batch_.Clear(); }

void StorageHandle::Store(py::handle oid_arg, py::handle record_arg) {
  Oid oid = OidArg(oid_arg, "store");
  PyObject* r = record_arg.ptr();
  if (!PyBytes_Check(r)) {
    ThrowPython(PyExc_TypeError, "store of oid " + OidToString(oid) +
                                     ": a record must be bytes, not " + Py_TYPE(r)->tp_name);
  }
  Status s = batch_.Add(oid, std::string(PyBytes_AS_STRING(r), PyBytes_GET_SIZE(r)));
  if (!s.ok()) ThrowStatus(s, path_ + ": store of oid " + OidToString(oid));
}

void StorageHandle::Commit() {
  if (batch_.empty()) return;
  CommitBatch batch = std::move(batch_);
  batch_.Clear();  // a moved-from batch is valid but unspecified
  Status s = Run([&](Storage* st) { return st->Commit(batch); });
  if (!s.ok()) Throw(s);
}

py::list StorageHandle::Sync() {
  std::vector<Oid> oids;
  Status s = Run([&](Storage* st) {
    oids = st->Sync();
    return Status::OK();
  });
  if (!s.ok()) Throw(s);
  py::list out;
  for (Oid oid : oids) out.append(OidBytes(oid));
  return out;
}

py::bytes StorageHandle::NewOid() {
  Oid oid;
  Status s = Run([&](Storage* st) { return st->NewOid(&oid); });
  if (!s.ok()) Throw(s);
  return OidBytes(oid);
}

py::list StorageHandle::BulkLoad(py::handle oids_arg) {
  std::vector<Oid> oids;
  for (py::handle item : oids_arg) oids.push_back(OidArg(item, "bulk_load"));
  std::vector<LoadResult> results;
  Status s = Run([&](Storage* st) { return st->BulkLoad(oids, &results); });
  if (!s.ok()) Throw(s);
  py::list out(results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    const LoadResult& r = results[i];
    if (r.status.ok()) {
      out[i] = ToBytes(r.record);
    } else if (r.status.IsNotFound()) {
      out[i] = py::none();
    } else {
      Throw(r.status);
    }
  }
  return out;
}

py::list StorageHandle::Scan(uint64_t start, size_t max) {
  std::vector<std::pair<Oid, std::string>> batch;
  Status s = Run([&](Storage* st) { return st->Scan(Oid(start), max, &batch); });
  if (!s.ok()) Throw(s);
  py::list out(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    out[i] = py::make_tuple(OidBytes(batch[i].first), ToBytes(batch[i].second));
  }
  return out;
}

bool StorageHandle::StartPack() {
  Status s = Run([&](Storage* st) { return st->StartPack(); });
  if (s.IsNotSupported()) return false;
  if (!s.ok()) Throw(s);
  return true;
}

py::dict StorageHandle::Collect(bool cycles) {
  CollectReport report;
  Status s = Run([&](Storage* st) { return st->Collect(cycles, &report); });
  if (!s.ok()) Throw(s);
  py::dict d;
  d["collected"] = report.collected;
  d["bytes_freed"] = report.bytes_freed;
  d["pending_after"] = report.pending_after;
  d["traced"] = report.traced;
  return d;
}

py::dict StorageHandle::Stats() {
  StorageStats st;
  Status s = Run([&](Storage* storage) { return storage->GetStats(&st); });
  if (!s.ok()) Throw(s);
  py::dict d;
  d["path"] = path_;
  d["object_count"] = st.object_count;
  d["record_bytes"] = st.record_bytes;
  d["pending_garbage"] = st.pending_garbage;
  d["next_oid"] = st.next_oid;
  d["format_version"] = st.format_version;
  d["durability"] = st.durability;
  d["disk_bytes"] = st.disk_bytes;
  d["collected_total"] = st.collected_total;
  d["trace_running"] = st.trace_running;
  d["trace_phase"] = st.trace_phase;
  d["trace_traced"] = st.trace_traced;
  d["trace_swept"] = st.trace_swept;
  return d;
}

uint64_t StorageHandle::RefCount(py::handle oid_arg) {
  Oid oid = OidArg(oid_arg, "refcount");
  uint64_t count = 0;
  Status s = Run([&](InspectableStorage* st) { return st->GetRefCount(oid, &count); });
  if (!s.ok()) Throw(s);
  return count;
}

py::list StorageHandle::Pending(uint64_t start, size_t max) {
  std::vector<Oid> oids;
  Status s = Run([&](InspectableStorage* st) { return st->ListPending(Oid(start), max, &oids); });
  if (!s.ok()) Throw(s);
  py::list out;
  for (Oid oid : oids) out.append(OidBytes(oid));
  return out;
}

void StorageHandle::Flush() {
  Status s = Run([&](Storage* st) { return st->Flush(); });
  if (!s.ok()) Throw(s);
}

void StorageHandle::Close() {
  batch_.Clear();
  Status s;
  {
    py::gil_scoped_release release;
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (!storage_) return;  // idempotent, like Durus's close()
    s = storage_->Close();
    storage_.reset();
  }
  if (!s.ok() && !s.IsClosed()) Throw(s);
}

bool StorageHandle::closed() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return storage_ == nullptr;
}

std::string StorageHandle::Describe() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return storage_ ? storage_->Describe() : "closed";
}

}  // namespace python
}  // namespace durus
