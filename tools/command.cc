#include "tools/command.h"

#include <algorithm>
#include <iostream>

namespace durus::tools {

namespace {
std::vector<Command>& Table() {
  static std::vector<Command> table;
  return table;
}
}  // namespace

void RegisterCommand(Command command) { Table().push_back(std::move(command)); }

const std::vector<Command>& Commands() {
  std::sort(Table().begin(), Table().end(),
            [](const Command& a, const Command& b) { return a.name < b.name; });
  return Table();
}

int Fail(const std::string& cmd, const std::string& message, int code) {
  std::cerr << "durus-bdb " << cmd << ": " << message << std::endl;
  return code;
}

int FailStatus(const std::string& cmd, const Status& status) {
  return Fail(cmd, status.message(), 1);
}

}  // namespace durus::tools
