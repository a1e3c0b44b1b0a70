#include "engine/status.h"

namespace durus {

const char* CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk: return "OK";
    case Status::Code::kNotFound: return "Not found";
    case Status::Code::kConflict: return "Conflict";
    case Status::Code::kReadConflict: return "Read conflict";
    case Status::Code::kInvalidArgument: return "Invalid argument";
    case Status::Code::kCorruption: return "Corruption";
    case Status::Code::kIOError: return "I/O error";
    case Status::Code::kBusy: return "Busy";
    case Status::Code::kNotSupported: return "Not supported";
    case Status::Code::kReadOnly: return "Read-only";
    case Status::Code::kClosed: return "Closed";
    case Status::Code::kNotReplicated: return "Not replicated";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s = CodeName(code_);
  s += ": ";
  s += message_;
  return s;
}

}  // namespace durus
