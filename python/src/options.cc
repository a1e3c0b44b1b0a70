#include "python/src/options.h"

#include <cstdint>
#include <functional>
#include <limits>

#include "python/src/status_error.h"

namespace py = pybind11;

namespace durus {
namespace python {

namespace {

uint32_t ToU32(const std::string& name, py::handle value) {
  if (!PyLong_Check(value.ptr())) {
    ThrowPython(PyExc_TypeError, "option " + name + " must be an int, not " +
                                     std::string(Py_TYPE(value.ptr())->tp_name));
  }
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
  if (overflow != 0 || v < 0 || v > static_cast<long long>(std::numeric_limits<uint32_t>::max())) {
    ThrowPython(PyExc_ValueError, "option " + name + " = " + std::string(py::str(value)) +
                                      " is out of range (0 .. 4294967295)");
  }
  return static_cast<uint32_t>(v);
}

bool ToBool(const std::string& name, py::handle value) {
  if (PyBool_Check(value.ptr())) return value.ptr() == Py_True;
  if (PyLong_Check(value.ptr())) {
    long v = PyLong_AsLong(value.ptr());
    if (v == 0 || v == 1) return v == 1;
  }
  ThrowPython(PyExc_TypeError,
              "option " + name + " must be True or False, not " + std::string(py::repr(value)));
}

struct Setter {
  const char* name;
  std::function<void(const std::string&, py::handle, BdbOptions*)> apply;
};

const std::vector<Setter>& Setters() {
  // Leaked on purpose: no static destructors in an extension module.
  static const auto* setters = new std::vector<Setter>{
      {"cache_mb",
       [](const std::string& n, py::handle v, BdbOptions* o) { o->cache_mb = ToU32(n, v); }},
      {"log_file_mb",
       [](const std::string& n, py::handle v, BdbOptions* o) { o->log_file_mb = ToU32(n, v); }},
      {"flush_interval_ms", [](const std::string& n, py::handle v,
                               BdbOptions* o) { o->flush_interval_ms = ToU32(n, v); }},
      {"checkpoint_interval_ms", [](const std::string& n, py::handle v,
                                    BdbOptions* o) { o->checkpoint_interval_ms = ToU32(n, v); }},
      {"max_commit_records", [](const std::string& n, py::handle v,
                                BdbOptions* o) { o->max_commit_records = ToU32(n, v); }},
      {"create_if_missing", [](const std::string& n, py::handle v,
                               BdbOptions* o) { o->create_if_missing = ToBool(n, v); }},
      {"gc_background",
       [](const std::string& n, py::handle v, BdbOptions* o) { o->gc_background = ToBool(n, v); }},
      {"gc_batch",
       [](const std::string& n, py::handle v, BdbOptions* o) { o->gc_batch = ToU32(n, v); }},
      {"gc_per_second",
       [](const std::string& n, py::handle v, BdbOptions* o) { o->gc_per_second = ToU32(n, v); }},
      {"gc_interval_ms",
       [](const std::string& n, py::handle v, BdbOptions* o) { o->gc_interval_ms = ToU32(n, v); }},
      // Log archiving for point-in-time restore (bdb/log_archive.h).
      {"log_archive",
       [](const std::string& n, py::handle v, BdbOptions* o) {
         if (!PyUnicode_Check(v.ptr())) {
           ThrowPython(PyExc_TypeError, "option " + n + " must be a str (a directory, or \"off\")");
         }
         o->log_archive = py::str(v);
       }},
      {"log_archive_max_age_s", [](const std::string& n, py::handle v,
                                   BdbOptions* o) { o->log_archive_max_age_s = ToU32(n, v); }},
      {"log_archive_max_mb",
       [](const std::string& n, py::handle v, BdbOptions* o) {
         o->log_archive_max_bytes = uint64_t{ToU32(n, v)} << 20;
       }},
  };
  return *setters;
}

}  // namespace

std::vector<std::string> OptionNames() {
  std::vector<std::string> names;
  for (const Setter& s : Setters()) names.push_back(s.name);
  return names;
}

void ApplyOptions(const py::dict& options, BdbOptions* out) {
  std::vector<std::string> unknown;
  for (auto item : options) {
    std::string name = py::str(item.first);
    bool found = false;
    for (const Setter& s : Setters()) {
      if (name == s.name) {
        // None: not given (a kept option then comes from the home).
        if (!item.second.is_none()) s.apply(name, item.second, out);
        found = true;
        break;
      }
    }
    if (!found) unknown.push_back(name);
  }
  if (unknown.empty()) return;
  std::string msg = "BerkeleyDBStorage() got unknown option";
  msg += unknown.size() > 1 ? "s: " : ": ";
  for (size_t i = 0; i < unknown.size(); ++i) msg += (i ? ", " : "") + unknown[i];
  msg += " (known: durability, readonly, repair";
  for (const std::string& n : OptionNames()) msg += ", " + n;
  msg += ")";
  ThrowPython(PyExc_TypeError, msg);
}

Durability ParseDurabilityOrThrow(const std::string& name) {
  Durability d;
  Status s = ParseDurability(name, &d);
  if (!s.ok()) {
    ThrowPython(
        PyExc_ValueError,
        "durability must be \"sync\", \"write_nosync\" or \"nosync\", not \"" + name + "\"");
  }
  return d;
}

}  // namespace python
}  // namespace durus
