// BerkeleyDBStorage(..., **options) -> BdbOptions (bdb/bdb_storage.h).
//
// Every keyword maps to the BdbOptions field of the same name.  Unknown
// names raise TypeError listing all of them (and the known ones); values of
// the wrong type raise TypeError, out-of-range values ValueError, both
// naming the option.
//
// Threading: needs the GIL.
#ifndef DURUS_BDB_PYTHON_SRC_OPTIONS_H_
#define DURUS_BDB_PYTHON_SRC_OPTIONS_H_

#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "bdb/bdb_storage.h"

namespace durus {
namespace python {

// Apply `options` (a dict of keyword arguments) on top of `*out`.
// Throws a Python exception (TypeError / ValueError) on a bad option.
void ApplyOptions(const pybind11::dict& options, BdbOptions* out);

// The accepted keyword names, in a stable order (for messages and docs).
std::vector<std::string> OptionNames();

// Parse a durability name ("sync", "write_nosync", "nosync"); ValueError
// naming the accepted values otherwise.
Durability ParseDurabilityOrThrow(const std::string& name);

}  // namespace python
}  // namespace durus

#endif  // DURUS_BDB_PYTHON_SRC_OPTIONS_H_
