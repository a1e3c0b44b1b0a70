// Command-line helpers shared by `durus-bdb serve` and `durus-bdb stop`
// (tools/cmd_serve.cc, tools/cmd_stop.cc): "--name value" / "--name=value"
// parsing and the address flags both accept.
//
// Threading: plain functions over values.
#ifndef DURUS_BDB_SERVER_FLAGS_H_
#define DURUS_BDB_SERVER_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/status.h"
#include "server/listener.h"

namespace durus::server {

// Walks argv-style arguments.  Next() yields the next flag name (without
// "--"), splitting "--name=value"; Value() consumes the flag's value.
class FlagReader {
 public:
  explicit FlagReader(const std::vector<std::string>& args) : args_(args) {}
  // False at the end.  A non-flag argument yields InvalidArgument in *st.
  bool Next(std::string* name, Status* st);
  Status Value(std::string* out);
  Status IntValue(int64_t min, int64_t max, int64_t* out);
  Status DoubleValue(double min, double* out);

 private:
  const std::vector<std::string>& args_;
  size_t i_ = 0;
  std::string name_;
  bool has_inline_ = false;
  std::string inline_;
};

// Handles --host, --port, --address, --socket-mode, --socket-group.
// Returns true if `name` was one of them (with *st set).
bool ParseAddressFlag(const std::string& name, FlagReader* flags, ListenOptions* options, Status* st);

extern const char kAddressFlagsHelp[];

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_FLAGS_H_
