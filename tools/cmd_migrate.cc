// durus-bdb migrate SOURCE HOME: a Durus storage into a new durus-bdb home
// (migrate/migrate.h, doc/migration.md).
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "migrate/migrate.h"
#include "tools/command.h"
#include "tools/json.h"

namespace durus::tools {

namespace {

const char kUsage[] =
    "usage: durus-bdb migrate SOURCE HOME [options]\n"
    "\n"
    "Copy the Durus storage SOURCE into the new durus-bdb home HOME (which must\n"
    "not exist or be empty), streaming: memory use does not grow with the\n"
    "number of objects.  SOURCE is a Durus FileStorage (Shelf) or FileStorage2\n"
    "file, a SqliteStorage file, a durus-bdb dump, or a durus-bdb home.\n"
    "\n"
    "  --format F        auto (default: by magic), shelf, filestorage2, sqlite,\n"
    "                    dump, bdb\n"
    "  --durability M    sync (default), write_nosync, nosync: recorded as the\n"
    "                    home's mode (the migration itself always ends fsynced)\n"
    "  --verify          re-read the source and check every record and every\n"
    "                    reference count before marking the home complete\n"
    "  --strict          fail on a torn last transaction instead of skipping it\n"
    "  --salvage         copy what can be read from a damaged source: skip the\n"
    "                    damaged ranges and report each of them and every object\n"
    "                    whose last version was lost (implies --allow-dangling)\n"
    "  --json            print the report as one JSON object on stdout\n"
    "  --allow-dangling  drop references to oids the source does not hold\n"
    "                    (default: report them and fail)\n"
    "  --temp-dir DIR    where the sort files go (default: HOME)\n"
    "  --cache-mb N      Berkeley DB cache while loading (default 128)\n"
    "  --sort-mb N       memory per external sort (default 32)\n"
    "  --quiet           no progress and no summary line\n"
    "\n"
    "A torn last transaction (a crash during a commit) is skipped with a warning;\n"
    "damage anywhere else fails naming the file and the byte offset, unless\n"
    "--salvage.  An interrupted or failed migration leaves no home durus-bdb\n"
    "would open; running the same command again starts it over.\n";

std::string Human(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof(buf), "%.1f %s", bytes, units[u]);
  return buf;
}

std::string Clock(double s) {
  if (s < 0 || s > 1e7) return "?";
  long t = static_cast<long>(s + 0.5);
  char buf[32];
  snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  return buf;
}

bool ParseUint(const std::string& s, uint32_t* out) {
  char* end = nullptr;
  unsigned long v = strtoul(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v == 0 || v > 1u << 20) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// The report as one JSON object (its warnings included).
std::string ReportJson(const migrate::MigrateReport& r, const migrate::MigrateOptions& o) {
  auto u = [](uint64_t v) { return std::to_string(v); };
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  std::string j = "{\"source\": " + JsonString(o.source) + ", \"home\": " + JsonString(o.home) +
                  ", \"format\": " + JsonString(migrate::SourceFormatName(r.format)) +
                  ", \"source_records\": " + u(r.source_records) +
                  ", \"source_bytes\": " + u(r.source_bytes) + ", \"objects\": " + u(r.objects) +
                  ", \"record_bytes\": " + u(r.record_bytes) +
                  ", \"references\": " + u(r.references) + ", \"pending\": " + u(r.pending) +
                  ", \"next_oid\": " + u(r.next_oid) + ", \"dangling\": " + u(r.dangling) +
                  ", \"verified\": " + b(r.verified) + ", \"restarted\": " + b(r.restarted) +
                  ", \"seconds\": " + std::to_string(r.seconds) + ", \"torn_tail\": ";
  if (r.torn_tail) {
    j += "{\"offset\": " + u(r.torn_offset) + ", \"bytes\": " + u(r.torn_bytes) +
         ", \"records\": " + u(r.torn_records) + "}";
  } else {
    j += "null";
  }
  j += ", \"salvage\": " + b(r.salvage) + ", \"skipped\": [";
  for (size_t i = 0; i < r.skipped.size(); ++i) {
    const migrate::SalvagedRange& k = r.skipped[i];
    j += std::string(i ? ", " : "") + "{\"offset\": " + u(k.offset) + ", \"length\": " +
         u(k.length) + ", \"unit\": " + JsonString(k.unit) + ", \"reason\": " +
         JsonString(k.reason) + "}";
  }
  j += "], \"lost\": [";
  for (size_t i = 0; i < r.lost.size(); ++i) {
    const migrate::LostObject& l = r.lost[i];
    j += std::string(i ? ", " : "") + "{\"oid\": " + u(l.oid) + ", \"offset\": " + u(l.offset) +
         ", \"older_version_kept\": " + b(l.older_kept) + "}";
  }
  j += "], \"lost_superseded\": " + u(r.lost_superseded) + ", \"warnings\": [";
  for (size_t i = 0; i < r.warnings.size(); ++i) {
    j += std::string(i ? ", " : "") + JsonString(r.warnings[i]);
  }
  return j + "]}";
}

}  // namespace

// The progress line on a terminal (stderr): phase, records, bytes, rate, ETA.
migrate::ProgressFn TerminalProgress() {
  return [](const migrate::Progress& p) {
    double rate = p.phase_seconds > 0 ? p.records / p.phase_seconds : 0;
    std::string line = std::string("\r") + p.phase + ": " + std::to_string(p.records) + " records";
    if (p.bytes > 0) {
      line += ", " + Human(static_cast<double>(p.bytes));
      if (p.total_bytes > 0) line += " of " + Human(static_cast<double>(p.total_bytes));
    }
    char r[48];
    snprintf(r, sizeof(r), ", %.0f records/s", rate);
    line += r;
    double eta = -1;
    if (p.total_bytes > 0 && p.bytes > 0 && p.bytes <= p.total_bytes) {
      eta = p.phase_seconds * (static_cast<double>(p.total_bytes) / p.bytes - 1);
    } else if (p.total_records > 0 && p.records > 0 && p.records <= p.total_records) {
      eta = p.phase_seconds * (static_cast<double>(p.total_records) / p.records - 1);
    }
    if (p.phase_done) {
      line += ", done in " + Clock(p.phase_seconds);
    } else if (eta >= 0) {
      line += ", ETA " + Clock(eta);
    }
    line += "\033[K";
    if (p.phase_done) line += "\n";
    std::cerr << line << std::flush;
  };
}

namespace {

int RunMigrate(const std::vector<std::string>& args) {
  const std::string cmd = "migrate";
  migrate::MigrateOptions o;
  bool quiet = false, json = false;
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
      Status s = migrate::ParseSourceFormat(v, &o.format);
      if (!s.ok()) return Fail(cmd, s.message(), 2);
    } else if (a == "--durability") {
      if (!value(&v)) return Fail(cmd, "--durability needs a value", 2);
      Status s = ParseDurability(v, &o.durability);
      if (!s.ok()) return Fail(cmd, s.message(), 2);
    } else if (a == "--verify") {
      o.verify = true;
    } else if (a == "--strict") {
      o.strict = true;
    } else if (a == "--allow-dangling") {
      o.allow_dangling = true;
    } else if (a == "--salvage") {
      o.salvage = true;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--quiet" || a == "-q") {
      quiet = true;
    } else if (a == "--temp-dir") {
      if (!value(&o.temp_dir)) return Fail(cmd, "--temp-dir needs a value", 2);
    } else if (a == "--cache-mb") {
      if (!value(&v) || !ParseUint(v, &o.cache_mb)) return Fail(cmd, "bad --cache-mb", 2);
    } else if (a == "--sort-mb") {
      if (!value(&v) || !ParseUint(v, &o.sort_memory_mb)) return Fail(cmd, "bad --sort-mb", 2);
    } else if (!a.empty() && a[0] == '-') {
      return Fail(cmd, "unknown option " + a + " (see --help)", 2);
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) return Fail(cmd, "expected SOURCE HOME (see --help)", 2);
  o.source = positional[0];
  o.home = positional[1];
  if (!quiet && !json && StderrIsTerminal()) o.progress = TerminalProgress();
  migrate::MigrateReport report;
  Status s = migrate::Migrate(o, &report);
  for (const std::string& w : report.warnings) std::cerr << "durus-bdb migrate: warning: " << w << "\n";
  if (!s.ok()) return FailStatus(cmd, s);
  if (json) {
    std::cout << ReportJson(report, o) << std::endl;
  } else if (!quiet) {
    std::cout << migrate::SummaryLine(report) << std::endl;
  }
  return 0;
}

const CommandRegistration reg{"migrate", "copy a Durus storage (FileStorage, FileStorage2, "
                                         "SqliteStorage, dump) into a new home",
                              &RunMigrate};

}  // namespace
}  // namespace durus::tools
