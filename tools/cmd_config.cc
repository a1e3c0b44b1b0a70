// durus-bdb config HOME [key=value ...]: show or set the options a home
// keeps (bdb/home_options.h, doc/options.md).
#include <algorithm>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "bdb/bdb_storage.h"
#include "bdb/home_options.h"
#include "tools/command.h"
#include "tools/flags.h"
#include "tools/json.h"

namespace durus::tools {
namespace {

const char kDescription[] =
    "Show the options HOME is opened with, each with where its value comes from\n"
    "(home: kept in HOME/durus-bdb.options; env: a DURUS_BDB_<KEY> variable of\n"
    "this shell; default), or keep new values in the home with key=value\n"
    "(key=default forgets one).";
const char kFooter[] =
    "Keys: durability, cache_mb, checkpoint_interval_ms, flush_interval_ms,\n"
    "log_file_mb, gc_background, gc_batch, gc_per_second, gc_interval_ms\n"
    "(doc/options.md).  An opener's explicit option, then DURUS_BDB_<KEY>, beat\n"
    "the home's value.  Setting needs the home not in use (stop its server).";

int RunConfig(const std::vector<std::string>& args) {
  const std::string cmd = "config";
  std::string home;
  std::vector<std::string> assignments;
  bool json = false;
  CLI::App app{"", "durus-bdb config"};
  SetUp(&app, kDescription, kFooter);
  app.add_option("HOME", home, "the home")->required();
  app.add_option("SETTINGS", assignments, "key=value ... to keep in the home")
      ->type_name("KEY=VALUE");
  app.add_flag("--json", json, "print one JSON object");
  if (auto rc = util::ParseArgs(&app, args)) return *rc;
  // Every setting checked before anything is written: usage errors.
  std::vector<std::pair<std::string, std::string>> settings;
  {
    for (const std::string& a : assignments) {
      size_t eq = a.find('=');
      if (eq == std::string::npos || eq == 0) {
        return Fail(cmd, "expected key=value, not '" + a + "'", 2);
      }
      std::string key = a.substr(0, eq), value = a.substr(eq + 1);
      bool known = false;
      for (const OptionInfo& info : HomeOptionInfos()) known = known || info.key == key;
      // "default" forgets a known key; anything else is checked as written.
      Status s = known && value == "default" ? Status::OK()
                                             : ValidateHomeOption(key, value, "durus-bdb config");
      if (!s.ok()) return Fail(cmd, s.message(), 2);
      settings.emplace_back(key, value);
    }
  }
  if (!IsBdbHome(home)) return Fail(cmd, home + " is not a durus-bdb home");
  if (!settings.empty()) {
    Status s = ConfigureHome(home, settings);
    if (!s.ok()) return FailStatus(cmd, s);
  }

  BdbOptions options;  // nothing explicit: what a plain open would use
  std::vector<ResolvedOption> rows;
  Status s = ResolveHomeOptions(home, &options, &rows);
  if (!s.ok()) return FailStatus(cmd, s);
  if (json) {
    Json j = {{"home", home}, {"options", Json::object()}};
    for (size_t i = 0; i < rows.size(); ++i) {
      j["options"][rows[i].key] = {{"value", rows[i].value},
                                   {"source", OptionSourceName(rows[i].source)},
                                   {"env", HomeOptionInfos()[i].env},
                                   {"default", HomeOptionInfos()[i].default_value}};
    }
    std::cout << JsonLine(j) << std::endl;
    return 0;
  }
  for (const ResolvedOption& r : rows) {
    std::string key = r.key;
    key.resize(std::max<size_t>(key.size() + 1, 24), ' ');
    std::string value = r.value;
    value.resize(std::max<size_t>(value.size() + 1, 14), ' ');
    std::cout << key << value << OptionSourceName(r.source) << "\n";
  }
  return 0;
}

const CommandRegistration reg{"config", "show or set the options a home keeps (doc/options.md)",
                              &RunConfig};

}  // namespace
}  // namespace durus::tools
