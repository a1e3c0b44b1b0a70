// Turning a durus::Status into a Python exception: the one place where the
// engine's error values become exceptions (engine/status.h).
//
// The exception classes themselves live in Python (durus_bdb/errors.py):
// at import the package registers a factory, `make_error(code, message,
// oids)`, that picks Durus's own classes when `durus` is importable and
// plain KeyError/ValueError/RuntimeError subclasses otherwise.  Keeping the
// choice in Python means the extension never imports durus.
//
// Threading: everything here needs the GIL.
#ifndef DURUS_BDB_PYTHON_SRC_STATUS_ERROR_H_
#define DURUS_BDB_PYTHON_SRC_STATUS_ERROR_H_

#include <pybind11/pybind11.h>

#include <string>

#include "engine/status.h"

namespace durus {
namespace python {

// Install the Python callable used by ThrowStatus (module function
// `_set_error_factory`).  The reference is kept for the process lifetime.
void SetErrorFactory(pybind11::object factory);

// The short code name handed to the factory: "NotFound", "Conflict",
// "ReadConflict", "InvalidArgument", "Corruption", "IOError", "Busy",
// "NotSupported", "ReadOnly", "Closed".
const char* CodeKey(Status::Code code);

// Raise `status` (not OK) as a Python exception.  `context` (say, the home
// path) prefixes the message: "<context>: <status message>".  Without a
// registered factory the exception is a RuntimeError.
[[noreturn]] void ThrowStatus(const Status& status, const std::string& context);

// Raise a Python exception of class `type` (e.g. PyExc_ValueError) with `message`.
[[noreturn]] void ThrowPython(PyObject* type, const std::string& message);

}  // namespace python
}  // namespace durus

#endif  // DURUS_BDB_PYTHON_SRC_STATUS_ERROR_H_
