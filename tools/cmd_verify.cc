// durus-bdb verify HOME [--repair] [--json]: recompute every reference count
// from the records, check the pending-garbage queue, the counters and
// reachability from the root (bdb/gc/gc.h), report what is wrong, and with
// --repair fix it.  Exit codes: 0 clean, 1 problems found (or an error),
// 2 usage, 3 problems found and repaired (a second verify is clean).
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "bdb/bdb_storage.h"
#include "bdb/gc/gc.h"
#include "gc/progress.h"
#include "bdb/gc/report.h"
#include "tools/command.h"

namespace {

using durus::Status;

const char kUsage[] =
    "usage: durus-bdb verify HOME [OPTIONS]\n"
    "\n"
    "Check a durus-bdb home: Berkeley DB's verification of every page of its\n"
    "files (and page checksums), every reference count against a recount from\n"
    "the records, dangling references, the pending-garbage queue (entries with\n"
    "referrers, missing entries), the counters, and reachability from the root\n"
    "(unreachable objects that reference counting will never free: leaked\n"
    "cycles).  Damaged pages are reported with the file, the page and the\n"
    "records they make unreadable.  Needs the home to itself (stop the server\n"
    "first).  Memory use does not grow with the store.\n"
    "\n"
    "  --repair            fix what was found: counts, queue, counters; drop\n"
    "                      dangling oids from ref lists; delete unreachable\n"
    "                      objects when cycles leaked.  Then verify again.\n"
    "                      Refused (nothing changed, exit 1) when verify could\n"
    "                      not read everything, pages are damaged or records\n"
    "                      do not parse.\n"
    "  --json              print the report as one JSON object\n"
    "  --no-reachability   skip the reachability trace (counts and queue only)\n"
    "  --max-problems N    list at most N problems (default 100; all are counted)\n"
    "  --cache-mb N        Berkeley DB cache for the run (default 64)\n"
    "\n"
    "Exit status: 0 clean, 1 problems found (or an error), 2 usage error,\n"
    "3 problems found and repaired (verified clean afterwards).\n"
    "A progress bar is drawn on stderr when it is a terminal.\n";

int Verify(const std::vector<std::string>& args) {
  std::string home;
  bool repair = false, json = false, reach = true;
  uint64_t max_problems = 100;
  uint32_t cache_mb = 64;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](uint64_t* out) {
      if (i + 1 >= args.size()) return false;
      char* end = nullptr;
      *out = strtoull(args[++i].c_str(), &end, 10);
      return end != nullptr && *end == '\0';
    };
    uint64_t v = 0;
    if (a == "--help" || a == "-h") {
      fputs(kUsage, stdout);
      return 0;
    } else if (a == "--repair") {
      repair = true;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--no-reachability") {
      reach = false;
    } else if (a == "--max-problems") {
      if (!value(&max_problems)) return durus::tools::Fail("verify", "--max-problems needs a number", 2);
    } else if (a == "--cache-mb") {
      if (!value(&v) || v == 0) return durus::tools::Fail("verify", "--cache-mb needs a number", 2);
      cache_mb = static_cast<uint32_t>(v);
    } else if (!a.empty() && a[0] == '-') {
      return durus::tools::Fail("verify", "unknown option " + a + " (see --help)", 2);
    } else if (home.empty()) {
      home = a;
    } else {
      return durus::tools::Fail("verify", "one HOME only (see --help)", 2);
    }
  }
  if (home.empty()) return durus::tools::Fail("verify", "missing HOME (see --help)", 2);
  if (!durus::IsBdbHome(home)) {
    return durus::tools::Fail("verify", home + " is not a durus-bdb home");
  }

  durus::BdbOptions opts;
  opts.create_if_missing = false;
  opts.readonly = !repair;
  opts.gc_background = false;  // nothing may change what we are checking
  opts.cache_mb = cache_mb;
  std::unique_ptr<durus::BdbHandle> storage;
  Status st = durus::OpenBdbStorage(home, opts, &storage);
  if (!st.ok()) return durus::tools::FailStatus("verify", st);

  durus::gc::ProgressBar bar(stderr, durus::tools::StderrIsTerminal());
  durus::VerifyOptions vo;
  vo.repair = repair;
  vo.check_reachability = reach;
  vo.max_samples = max_problems;
  if (bar.enabled()) {
    vo.progress = [&](const char* phase, uint64_t done, uint64_t total) {
      bar.Update(std::string("verify: ") + phase, done, total);
    };
  }
  durus::gc::VerifyReport report;
  st = durus::VerifyStorage(storage.get(), vo, &report);
  if (!st.ok()) {
    bar.Finish();
    return durus::tools::FailStatus("verify", st);
  }
  durus::gc::VerifyReport after;
  bool repaired = false;
  if (repair && !report.clean() && report.repair_refused.empty()) {
    durus::VerifyOptions again = vo;
    again.repair = false;
    st = durus::VerifyStorage(storage.get(), again, &after);
    if (!st.ok()) {
      bar.Finish();
      return durus::tools::FailStatus("verify", st);
    }
    repaired = true;
  }
  bar.Finish();
  // A damaged home may have panicked the environment (a checksum failure):
  // closing it then fails, which must not hide the report.
  Status closed = storage->Close();

  int code = report.clean() ? 0 : (repaired && after.clean() ? 3 : 1);
  if (json) {
    std::string out = durus::gc::FormatVerifyJson(report);
    out.pop_back();  // the closing brace
    out += ", \"home\": \"" + home + "\"";
    if (repaired) out += ", \"after_repair\": " + durus::gc::FormatVerifyJson(after);
    out += ", \"exit_code\": " + std::to_string(closed.ok() ? code : 1) + "}";
    std::cout << out << std::endl;
  } else {
    std::cout << "verify " << home << "\n" << durus::gc::FormatVerifyText(report);
    if (repaired) {
      std::cout << "after repair: "
                << (after.clean() ? std::string("clean")
                                  : std::to_string(after.total_problems()) + " problem(s) remain")
                << "\n";
      if (!after.clean()) std::cout << durus::gc::FormatVerifyText(after);
    }
  }
  if (!report.repair_refused.empty()) {
    durus::tools::Fail("verify", "not repairing " + home + ": " + report.repair_refused +
                                     "; nothing was changed");
  } else if (report.damaged) {
    durus::tools::Fail("verify", home + " is damaged: it needs salvage or a backup");
  }
  if (!closed.ok()) return durus::tools::FailStatus("verify", closed);
  return code;
}

const durus::tools::CommandRegistration reg{
    "verify", "check (and --repair) reference counts, garbage queue and reachability", &Verify};

}  // namespace
