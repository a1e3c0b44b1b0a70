// The durus-bdb subcommand table.
//
// Each subcommand lives in its own tools/cmd_NAME.cc and registers itself
// with a file-scope `static const CommandRegistration reg{...}`; tools/
// CMakeLists.txt compiles every cmd_*.cc into the binary, so adding a
// subcommand touches no shared file.
//
// Conventions for every subcommand: exit 0 on success; on error print ONE
// line "durus-bdb NAME: <message>" to stderr and exit non-zero (2 for
// usage errors, 1 otherwise); `--help` prints usage to stdout, exit 0.
// Flags are parsed with CLI11 through tools/flags.h and util/flags.h,
// which keep those rules for usage errors.
#ifndef DURUS_BDB_TOOLS_COMMAND_H_
#define DURUS_BDB_TOOLS_COMMAND_H_

#include <string>
#include <vector>

#include "engine/status.h"

namespace durus::tools {

using CommandFn = int (*)(const std::vector<std::string>& args);

struct Command {
  std::string name;
  std::string summary;  // one line for `durus-bdb --help`
  CommandFn run;
};

void RegisterCommand(Command command);
const std::vector<Command>& Commands();

struct CommandRegistration {
  CommandRegistration(const char* name, const char* summary, CommandFn fn) {
    RegisterCommand(Command{name, summary, fn});
  }
};

// Print "durus-bdb CMD: message" on stderr; returns `code` for `return Fail(...)`.
int Fail(const std::string& cmd, const std::string& message, int code = 1);
int FailStatus(const std::string& cmd, const Status& status);

}  // namespace durus::tools

#endif  // DURUS_BDB_TOOLS_COMMAND_H_
