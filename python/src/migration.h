// durus_bdb.migrate() / durus_bdb.export(): bindings of migrate/migrate.h
// (durus::migrate::Migrate and Export) for the Python package
// (python/durus_bdb/migration.py holds the public, keyword-checked API).
//
// Threading: entered with the GIL held; the GIL is released for the whole
// migration and re-acquired only to call the Python progress callable
// (which runs on the calling thread, as migrate.h promises).
//
// Errors: a failing Status is raised through the status->exception
// factory (status_error.h); a bad format or durability name is a
// ValueError.  migrate.h forbids a progress callback from throwing, so an
// exception raised by the Python callable is kept, the callable is not
// called again, and the exception is re-raised once the C++ call has
// returned (the migration itself is not interrupted).
#ifndef DURUS_BDB_PYTHON_SRC_MIGRATION_H_
#define DURUS_BDB_PYTHON_SRC_MIGRATION_H_

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

namespace durus {
namespace python {

// -> dict of MigrateReport's fields (+ "summary", SummaryLine's text).
pybind11::dict MigrateBinding(const std::string& source, const std::string& home,
                              const std::string& format, const std::string& durability, bool verify,
                              bool strict, bool allow_dangling, bool salvage, bool force,
                              const std::string& temp_dir, uint32_t cache_mb, uint32_t sort_mb,
                              pybind11::object progress);

// -> dict of ExportReport's fields (+ "summary").
pybind11::dict ExportBinding(const std::string& home, const std::string& dest,
                             const std::string& format, int level, uint32_t cache_mb,
                             pybind11::object progress);

// The source format of `path` by its magic ("shelf", "filestorage2", ...).
std::string DetectFormatBinding(const std::string& path);

}  // namespace python
}  // namespace durus

#endif  // DURUS_BDB_PYTHON_SRC_MIGRATION_H_
