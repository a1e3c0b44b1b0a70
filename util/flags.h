// util/flags.h: command-line parsing on CLI11 (Debian's libcli11-dev) with
// durus-bdb's conventions, for the tools and the test and bench drivers.
//
//   CLI::App app{"what it does", "durus-bdb stop"};
//   util::UseConventions(&app);
//   app.add_option("--wait", wait_s, "...");
//   if (auto rc = util::ParseArgs(&app, args)) return *rc;
//
// Conventions: "--name value" and "--name=value"; a flag given twice keeps
// the last value; a flag takes no value ("--json=1" is an error);
// -h/--help prints the generated usage on stdout (exit 0); every usage
// error (unknown flag, missing or extra argument, missing or
// bad value) is ONE line "NAME: message (see NAME --help)" on stderr and
// exit status 2.
//
// Threading: an App has one owner.  Errors: as above; nothing throws out
// of ParseArgs.
#ifndef DURUS_UTIL_FLAGS_H_
#define DURUS_UTIL_FLAGS_H_

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace durus::util {

void UseConventions(CLI::App* app);

// Parses `args` (without the program and command names).  nullopt: go on;
// otherwise the exit status to return at once (0 after --help, 2 after a
// usage error, its line printed).
std::optional<int> ParseArgs(CLI::App* app, const std::vector<std::string>& args);

// Checks whose bounds the help text states itself (CLI11 would append
// "INT in [a - b]" to the value's name in --help); the error still names
// the bounds.
template <typename T>
CLI::Validator InRange(T min, T max) {
  return CLI::Range(min, max).description("");
}
inline CLI::Validator NonNegative() {
  return CLI::Validator(CLI::NonNegativeNumber).description("");
}

// A usage error found after parsing (e.g. two flags that exclude each
// other): prints the line as ParseArgs does and returns 2.
int UsageError(const CLI::App& app, const std::string& message);

}  // namespace durus::util

#endif  // DURUS_UTIL_FLAGS_H_
