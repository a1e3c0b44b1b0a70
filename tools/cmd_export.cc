// durus-bdb export HOME DEST: a home out to a Durus Shelf file or a
// portable dump (migrate/migrate.h, doc/migration.md, doc/dump-format.md).
#include <iostream>
#include <string>
#include <vector>

#include "migrate/migrate.h"
#include "tools/command.h"
#include "tools/flags.h"
#include "util/progress.h"

namespace durus::tools {

namespace {

const char kDescription[] =
    "Write every object of the durus-bdb home HOME to the new file DEST,\n"
    "streaming in oid order.  HOME is opened read-only (stop the server first:\n"
    "one process at a time holds a home).";

int RunExport(const std::vector<std::string>& args) {
  const std::string cmd = "export";
  migrate::ExportOptions o;
  bool quiet = false;
  CLI::App app{"", "durus-bdb export"};
  SetUp(&app, kDescription);
  app.add_option("HOME", o.home, "the durus-bdb home")->required();
  app.add_option("DEST", o.dest, "the new file")->required();
  AddParsed(&app, "--format", &o.format, &migrate::ParseExportFormat,
            "shelf (default): a Durus FileStorage file, as a pack\n"
            "writes it: Durus's own FileStorage opens it;\n"
            "dump: a portable durus-bdb dump (zlib-compressed,\n"
            "checksummed, doc/dump-format.md); `durus-bdb migrate\n"
            "DUMP HOME` reads it")
      ->type_name("F");
  app.add_option("--level", o.compression_level,
                 "dump compression level 0-9 (default 1: Durus records\n"
                 "are mostly compressed already)")
      ->check(util::InRange(0, 9));
  app.add_option("--cache-mb", o.cache_mb, "Berkeley DB cache (default 64)")
      ->check(util::InRange(1u, 1u << 20));
  app.add_flag("-q,--quiet", quiet, "no progress and no summary line");
  if (auto rc = util::ParseArgs(&app, args)) return *rc;
  util::ProgressBar bar(stderr, util::ProgressBar::ModeFor(stderr, quiet));
  bar.set_unit("records");
  o.progress = bar.Callback();
  migrate::ExportReport report;
  Status s = migrate::Export(o, &report);
  bar.Finish();
  if (!s.ok()) return FailStatus(cmd, s);
  if (!quiet) std::cout << migrate::SummaryLine(report, o) << std::endl;
  return 0;
}

const CommandRegistration reg{"export",
                              "write a home to a Durus FileStorage (Shelf) file or a "
                              "portable dump",
                              &RunExport};

}  // namespace
}  // namespace durus::tools
