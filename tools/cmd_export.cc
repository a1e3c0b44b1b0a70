// durus-bdb export HOME DEST: a home out to a Durus Shelf file or a
// portable dump (migrate/migrate.h, doc/migration.md, doc/dump-format.md).
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "migrate/migrate.h"
#include "tools/command.h"

namespace durus::tools {

migrate::ProgressFn TerminalProgress();  // tools/cmd_migrate.cc

namespace {

const char kUsage[] =
    "usage: durus-bdb export HOME DEST [options]\n"
    "\n"
    "Write every object of the durus-bdb home HOME to the new file DEST,\n"
    "streaming in oid order.  HOME is opened read-only (stop the server first:\n"
    "one process at a time holds a home).\n"
    "\n"
    "  --format shelf    (default) a Durus FileStorage file, as a pack writes it:\n"
    "                    Durus's own FileStorage opens it\n"
    "  --format dump     a portable durus-bdb dump (zlib-compressed, checksummed,\n"
    "                    doc/dump-format.md); `durus-bdb migrate DUMP HOME` reads it\n"
    "  --level N         dump compression level 0-9 (default 1: Durus records\n"
    "                    are mostly compressed already)\n"
    "  --cache-mb N      Berkeley DB cache (default 64)\n"
    "  --quiet           no progress and no summary line\n";

int RunExport(const std::vector<std::string>& args) {
  const std::string cmd = "export";
  migrate::ExportOptions o;
  bool quiet = false;
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    std::string v;
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--format") {
      if (!value(&v)) return Fail(cmd, "--format needs a value", 2);
      Status s = migrate::ParseExportFormat(v, &o.format);
      if (!s.ok()) return Fail(cmd, s.message(), 2);
    } else if (a == "--level") {
      if (!value(&v) || v.size() != 1 || v[0] < '0' || v[0] > '9') {
        return Fail(cmd, "--level needs 0..9", 2);
      }
      o.compression_level = v[0] - '0';
    } else if (a == "--cache-mb") {
      if (!value(&v) || atoi(v.c_str()) <= 0) return Fail(cmd, "bad --cache-mb", 2);
      o.cache_mb = static_cast<uint32_t>(atoi(v.c_str()));
    } else if (a == "--quiet" || a == "-q") {
      quiet = true;
    } else if (!a.empty() && a[0] == '-') {
      return Fail(cmd, "unknown option " + a + " (see --help)", 2);
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) return Fail(cmd, "expected HOME DEST (see --help)", 2);
  o.home = positional[0];
  o.dest = positional[1];
  if (!quiet && StderrIsTerminal()) o.progress = TerminalProgress();
  migrate::ExportReport report;
  Status s = migrate::Export(o, &report);
  if (!s.ok()) return FailStatus(cmd, s);
  if (!quiet) std::cout << migrate::SummaryLine(report, o) << std::endl;
  return 0;
}

const CommandRegistration reg{"export", "write a home to a Durus FileStorage (Shelf) file or a "
                                        "portable dump",
                              &RunExport};

}  // namespace
}  // namespace durus::tools
