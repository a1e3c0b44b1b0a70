#include "server/flags.h"

#include <cerrno>
#include <cstdlib>

namespace durus::server {

const char kAddressFlagsHelp[] =
    "  --host H            TCP host (default 127.0.0.1: loopback only)\n"
    "  --port P            TCP port (default 2972, Durus's; 0: any free port)\n"
    "  --address PATH      unix-domain socket instead of TCP; '@name' is an\n"
    "                      abstract socket (Linux)\n"
    "  --socket-mode OCTAL permissions of the socket file (default 0600)\n"
    "  --socket-group G    group of the socket file (name or gid)\n";

bool FlagReader::Next(std::string* name, Status* st) {
  *st = Status::OK();
  if (i_ >= args_.size()) return false;
  const std::string& a = args_[i_++];
  if (a.size() < 3 || a.compare(0, 2, "--") != 0) {
    *st = Status::InvalidArgument("unexpected argument '" + a + "'");
    return true;
  }
  size_t eq = a.find('=');
  has_inline_ = eq != std::string::npos;
  name_ = a.substr(2, has_inline_ ? eq - 2 : std::string::npos);
  inline_ = has_inline_ ? a.substr(eq + 1) : std::string();
  *name = name_;
  return true;
}

Status FlagReader::Value(std::string* out) {
  if (has_inline_) {
    has_inline_ = false;
    *out = inline_;
    return Status::OK();
  }
  if (i_ >= args_.size()) return Status::InvalidArgument("--" + name_ + " needs a value");
  *out = args_[i_++];
  return Status::OK();
}

Status FlagReader::IntValue(int64_t min, int64_t max, int64_t* out) {
  std::string v;
  DURUS_RETURN_IF_ERROR(Value(&v));
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v.c_str(), &end, 0);
  if (v.empty() || *end != '\0' || errno != 0 || n < min || n > max) {
    return Status::InvalidArgument("--" + name_ + ": '" + v + "' is not an integer in [" +
                                   std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  *out = n;
  return Status::OK();
}

Status FlagReader::DoubleValue(double min, double* out) {
  std::string v;
  DURUS_RETURN_IF_ERROR(Value(&v));
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !(d >= min)) {
    return Status::InvalidArgument("--" + name_ + ": '" + v + "' is not a number >= " +
                                   std::to_string(min));
  }
  *out = d;
  return Status::OK();
}

bool ParseAddressFlag(const std::string& name, FlagReader* flags, ListenOptions* options, Status* st) {
  int64_t n = 0;
  if (name == "host") {
    *st = flags->Value(&options->host);
  } else if (name == "port") {
    *st = flags->IntValue(0, 65535, &n);
    options->port = static_cast<int>(n);
  } else if (name == "address") {
    *st = flags->Value(&options->address);
    if (st->ok() && options->address.empty()) *st = Status::InvalidArgument("--address is empty");
  } else if (name == "socket-mode") {
    std::string v;
    *st = flags->Value(&v);
    if (st->ok()) {
      char* end = nullptr;
      unsigned long m = std::strtoul(v.c_str(), &end, 8);
      if (v.empty() || *end != '\0' || m > 0777) {
        *st = Status::InvalidArgument("--socket-mode: '" + v + "' is not an octal mode like 0660");
      } else {
        options->socket_mode = static_cast<unsigned>(m);
      }
    }
  } else if (name == "socket-group") {
    *st = flags->Value(&options->socket_group);
  } else {
    return false;
  }
  return true;
}

}  // namespace durus::server
