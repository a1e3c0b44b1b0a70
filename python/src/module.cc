// durus_bdb._durus_bdb: the pybind11 extension.  Python users import
// durus_bdb (python/durus_bdb/), whose BerkeleyDBStorage subclasses
// StorageCore; this module is its engine room and not a public API.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bdb/bdb_storage.h"
#include "python/src/migration.h"
#include "python/src/options.h"
#include "python/src/status_error.h"
#include "python/src/storage_handle.h"

namespace py = pybind11;
using durus::python::StorageHandle;

PYBIND11_MODULE(_durus_bdb, m) {
  m.doc() = "C++ core of durus_bdb (Berkeley DB storage for Durus); use durus_bdb instead.";

  m.def(
      "_set_error_factory", &durus::python::SetErrorFactory, py::arg("factory"),
      "Install factory(code, message, oids) -> exception instance, used for every storage error.");
  m.def("option_names", &durus::python::OptionNames,
        "Keyword options accepted by BerkeleyDBStorage beyond the named parameters.");
  m.def("is_bdb_home", &durus::IsBdbHome, py::arg("path"),
        "True if path looks like a durus-bdb home.");

#ifdef DURUS_BDB_HAVE_MIGRATE
  // Positional, already checked by durus_bdb.migration (the public API).
  m.def("_migrate", &durus::python::MigrateBinding, py::arg("source"), py::arg("home"),
        py::arg("format"), py::arg("durability"), py::arg("verify"), py::arg("strict"),
        py::arg("allow_dangling"), py::arg("salvage"), py::arg("force"), py::arg("temp_dir"),
        py::arg("cache_mb"), py::arg("sort_mb"), py::arg("progress"));
  m.def("_export", &durus::python::ExportBinding, py::arg("home"), py::arg("dest"),
        py::arg("format"), py::arg("level"), py::arg("cache_mb"), py::arg("progress"));
  m.def("_detect_format", &durus::python::DetectFormatBinding, py::arg("path"));
#endif

  py::class_<StorageHandle>(m, "StorageCore")
      .def(py::init<const std::string&, bool, const py::object&, const py::object&, const py::dict&,
                    bool>(),
           py::arg("path"), py::arg("readonly"), py::arg("durability"), py::arg("cache_mb"),
           py::arg("options"), py::arg("memory_model") = false)
      .def("load", &StorageHandle::Load, py::arg("oid"),
           "load(oid) -> record bytes; KeyError (DurusKeyError) if absent.")
      .def("begin", &StorageHandle::Begin, "Start a commit (drops any pending records).")
      .def("store", &StorageHandle::Store, py::arg("oid"), py::arg("record"),
           "Add a record to the pending commit; ValueError for a malformed record.")
      .def("_commit", &StorageHandle::Commit)
      .def("_pending_count", &StorageHandle::PendingCount)
      .def("sync", &StorageHandle::Sync, "Oids removed by the collector since the last call.")
      .def("new_oid", &StorageHandle::NewOid, "An oid never handed out before.")
      .def("_bulk_load", &StorageHandle::BulkLoad, py::arg("oids"))
      .def("_scan", &StorageHandle::Scan, py::arg("start"), py::arg("max"))
      .def("_start_pack", &StorageHandle::StartPack)
      .def("collect", &StorageHandle::Collect, py::arg("cycles") = false,
           "Run the collector now (blocking); with cycles, also trace from the root. Returns a "
           "report dict.")
      .def("stat", &StorageHandle::Stats, "Storage counters as a dict.")
      .def("get_refcount", &StorageHandle::RefCount, py::arg("oid"),
           "Number of stored records referencing oid.")
      .def("_pending_garbage", &StorageHandle::Pending, py::arg("start") = 0, py::arg("max") = 1000)
      .def("flush", &StorageHandle::Flush, "Make every commit so far durable.")
      .def("close", &StorageHandle::Close, "Close the storage (idempotent).")
      .def_property_readonly("closed", &StorageHandle::closed)
      .def_property_readonly("durability", &StorageHandle::durability)
      .def_property_readonly("readonly", &StorageHandle::readonly)
      .def("get_filename", &StorageHandle::path, "The home directory path.")
      .def("describe", &StorageHandle::Describe);
}
