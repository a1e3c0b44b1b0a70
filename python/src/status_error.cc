#include "python/src/status_error.h"

namespace py = pybind11;

namespace durus {
namespace python {

namespace {
// Deliberately leaked: a static py::object would be destroyed after the
// interpreter is finalized.
PyObject* g_factory = nullptr;
}  // namespace

void SetErrorFactory(py::object factory) {
  PyObject* old = g_factory;
  g_factory = factory.release().ptr();
  Py_XDECREF(old);
}

const char* CodeKey(Status::Code code) {
  switch (code) {
    case Status::Code::kOk: return "OK";
    case Status::Code::kNotFound: return "NotFound";
    case Status::Code::kConflict: return "Conflict";
    case Status::Code::kReadConflict: return "ReadConflict";
    case Status::Code::kInvalidArgument: return "InvalidArgument";
    case Status::Code::kCorruption: return "Corruption";
    case Status::Code::kIOError: return "IOError";
    case Status::Code::kBusy: return "Busy";
    case Status::Code::kNotSupported: return "NotSupported";
    case Status::Code::kReadOnly: return "ReadOnly";
    case Status::Code::kClosed: return "Closed";
    case Status::Code::kNotReplicated: return "NotReplicated";
  }
  return "Unknown";
}

void ThrowStatus(const Status& status, const std::string& context) {
  std::string message = context.empty() ? status.message() : context + ": " + status.message();
  if (g_factory == nullptr) {
    ThrowPython(PyExc_RuntimeError, std::string(CodeName(status.code())) + ": " + message);
  }
  py::list oids;
  for (Oid oid : status.oids()) oids.append(py::bytes(oid.Bytes()));
  // The factory returns the exception instance; raising happens here so
  // the traceback starts at the storage method the caller invoked.
  py::object exc =
      py::reinterpret_borrow<py::object>(g_factory)(CodeKey(status.code()), message, oids);
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  throw py::error_already_set();
}

void ThrowPython(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

}  // namespace python
}  // namespace durus
