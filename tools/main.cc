// durus-bdb: the command-line entry point.  Dispatches to the subcommands
// registered in tools/cmd_*.cc (see tools/command.h).
#include <iostream>
#include <string>
#include <vector>

#include "tools/command.h"

namespace {

void Usage(std::ostream& os) {
  os << "usage: durus-bdb COMMAND [ARGS...]\n\n"
        "A Berkeley DB storage for Durus.  Commands:\n";
  for (const auto& c : durus::tools::Commands()) {
    os << "  " << c.name << std::string(c.name.size() < 10 ? 10 - c.name.size() : 1, ' ')
       << c.summary << "\n";
  }
  os << "\nOptions:\n"
        "  --help    print this help and exit\n"
        "  --version print the version and exit\n"
        "\n'durus-bdb COMMAND --help' describes a command.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    Usage(std::cerr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    Usage(std::cout);
    return 0;
  }
  if (name == "--version") {
    std::cout << "durus-bdb " DURUS_BDB_VERSION "\n";
    return 0;
  }
  for (const auto& c : durus::tools::Commands()) {
    if (c.name == name) return c.run(std::vector<std::string>(argv + 2, argv + argc));
  }
  std::cerr << "durus-bdb: unknown command '" << name << "' (try durus-bdb --help)\n";
  return 2;
}
