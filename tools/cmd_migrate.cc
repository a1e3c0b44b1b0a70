// durus-bdb migrate SOURCE HOME: a Durus storage into a new durus-bdb home
// (migrate/migrate.h, doc/migration.md).
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "migrate/migrate.h"
#include "tools/command.h"
#include "tools/flags.h"
#include "tools/json.h"
#include "util/progress.h"

namespace durus::tools {

namespace {

const char kDescription[] =
    "Copy the Durus storage SOURCE into the new durus-bdb home HOME (which must\n"
    "not exist or be empty), streaming: memory use does not grow with the\n"
    "number of objects.  SOURCE is a Durus FileStorage (Shelf) or FileStorage2\n"
    "file, a SqliteStorage file, a durus-bdb dump, or a durus-bdb home.";
const char kFooter[] =
    "A torn last transaction (a crash during a commit) is skipped with a warning;\n"
    "damage anywhere else fails naming the file and the byte offset, unless\n"
    "--salvage.  An interrupted or failed migration leaves no home durus-bdb\n"
    "would open; running the same command again starts it over.  A FileStorage\n"
    "or FileStorage2 file that a running Durus process holds (its lock) is\n"
    "refused unless --force, and is kept locked against Durus writers while read.";

// The report as one JSON object (its warnings included).
std::string ReportJson(const migrate::MigrateReport& r, const migrate::MigrateOptions& o) {
  Json j = {{"source", o.source},
            {"home", o.home},
            {"format", migrate::SourceFormatName(r.format)},
            {"source_records", r.source_records},
            {"source_bytes", r.source_bytes},
            {"objects", r.objects},
            {"record_bytes", r.record_bytes},
            {"references", r.references},
            {"pending", r.pending},
            {"next_oid", r.next_oid},
            {"dangling", r.dangling},
            {"verified", r.verified},
            {"restarted", r.restarted},
            {"seconds", r.seconds}};
  j["torn_tail"] =
      r.torn_tail
          ? Json{{"offset", r.torn_offset}, {"bytes", r.torn_bytes}, {"records", r.torn_records}}
          : Json();
  j["salvage"] = r.salvage;
  j["skipped"] = Json::array();
  for (const migrate::SalvagedRange& k : r.skipped) {
    j["skipped"].push_back(
        {{"offset", k.offset}, {"length", k.length}, {"unit", k.unit}, {"reason", k.reason}});
  }
  j["lost"] = Json::array();
  for (const migrate::LostObject& l : r.lost) {
    j["lost"].push_back(
        {{"oid", l.oid}, {"offset", l.offset}, {"older_version_kept", l.older_kept}});
  }
  j["lost_superseded"] = r.lost_superseded;
  j["warnings"] = r.warnings;
  return JsonLine(j);
}

}  // namespace

namespace {

int RunMigrate(const std::vector<std::string>& args) {
  const std::string cmd = "migrate";
  migrate::MigrateOptions o;
  bool quiet = false, json = false;
  CLI::App app{"", "durus-bdb migrate"};
  SetUp(&app, kDescription, kFooter);
  app.add_option("SOURCE", o.source, "the Durus storage to copy")->required();
  app.add_option("HOME", o.home, "the new durus-bdb home")->required();
  AddParsed(&app, "--format", &o.format, &migrate::ParseSourceFormat,
            "auto (default: by magic), shelf, filestorage2, sqlite,\ndump, bdb")
      ->type_name("F");
  AddParsed(&app, "--durability", &o.durability, &ParseDurability,
            "sync (default), write_nosync, nosync: recorded as the\n"
            "home's mode (the migration itself always ends fsynced)")
      ->type_name("M");
  app.add_flag("--verify", o.verify,
               "re-read the source and check every record and every\n"
               "reference count before marking the home complete");
  app.add_flag("--strict", o.strict, "fail on a torn last transaction instead of skipping it");
  app.add_flag("--salvage", o.salvage,
               "copy what can be read from a damaged source: skip the\n"
               "damaged ranges and report each of them and every object\n"
               "whose last version was lost (implies --allow-dangling)");
  app.add_flag("--force", o.force,
               "copy a FileStorage file even while a Durus process holds\n"
               "it open (default: refuse; stop the server first)");
  app.add_flag("--json", json, "print the report as one JSON object on stdout");
  app.add_flag("--allow-dangling", o.allow_dangling,
               "drop references to oids the source does not hold\n"
               "(default: report them and fail)");
  app.add_option("--temp-dir", o.temp_dir, "where the sort files go (default: HOME)")
      ->type_name("DIR");
  app.add_option("--cache-mb", o.cache_mb, "Berkeley DB cache while loading (default 128)")
      ->check(util::InRange(1u, 1u << 20));
  app.add_option("--sort-mb", o.sort_memory_mb, "memory per external sort (default 32)")
      ->check(util::InRange(1u, 1u << 20));
  app.add_flag("-q,--quiet", quiet, "no progress and no summary line");
  if (auto rc = util::ParseArgs(&app, args)) return *rc;
  util::ProgressBar bar(stderr, util::ProgressBar::ModeFor(stderr, quiet || json));
  bar.set_unit("records");
  o.progress = bar.Callback();
  migrate::MigrateReport report;
  Status s = migrate::Migrate(o, &report);
  bar.Finish();
  for (const std::string& w : report.warnings)
    std::cerr << "durus-bdb migrate: warning: " << w << "\n";
  if (!s.ok()) return FailStatus(cmd, s);
  if (json) {
    std::cout << ReportJson(report, o) << std::endl;
  } else if (!quiet) {
    std::cout << migrate::SummaryLine(report) << std::endl;
  }
  return 0;
}

const CommandRegistration reg{"migrate",
                              "copy a Durus storage (FileStorage, FileStorage2, "
                              "SqliteStorage, dump) into a new home",
                              &RunMigrate};

}  // namespace
}  // namespace durus::tools
