#include "util/flags.h"

#include <algorithm>
#include <iostream>

namespace durus::util {

void UseConventions(CLI::App* app) {
  app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app->option_defaults()->disable_flag_override();  // "--json=1" is a usage error
  app->set_help_flag("-h,--help", "print this help and exit");
  app->get_formatter()->column_width(26);
}

int UsageError(const CLI::App& app, const std::string& message) {
  std::string line = message;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::cerr << app.get_name() << ": " << line << " (see " << app.get_name() << " --help)"
            << std::endl;
  return 2;
}

std::optional<int> ParseArgs(CLI::App* app, const std::vector<std::string>& args) {
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 pops from the back
  try {
    app->parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::cout << app->help();
    return 0;
  } catch (const CLI::ParseError& e) {
    return UsageError(*app, e.what());
  }
  return std::nullopt;
}

}  // namespace durus::util
