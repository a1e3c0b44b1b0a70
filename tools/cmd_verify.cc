// durus-bdb verify HOME [--repair] [--json]: recompute every reference count
// from the records, check the pending-garbage queue, the counters and
// reachability from the root (bdb/gc/gc.h), report what is wrong, and with
// --repair fix it.  Exit codes: 0 clean, 1 problems found (or an error),
// 2 usage, 3 problems found and repaired (a second verify is clean).
#include <cstdio>
#include <iostream>

#include "bdb/bdb_storage.h"
#include "bdb/gc/gc.h"
#include "bdb/gc/report.h"
#include "tools/command.h"
#include "tools/flags.h"
#include "util/progress.h"

namespace {

using durus::Status;

const char kDescription[] =
    "Check a durus-bdb home: Berkeley DB's verification of every page of its\n"
    "files (and page checksums), every reference count against a recount from\n"
    "the records, dangling references, the pending-garbage queue (entries with\n"
    "referrers, missing entries), the counters, and reachability from the root\n"
    "(unreachable objects that reference counting will never free: leaked\n"
    "cycles).  Damaged pages are reported with the file, the page and the\n"
    "records they make unreadable.  Needs the home to itself (stop the server\n"
    "first).  Memory use does not grow with the store.";
const char kFooter[] =
    "Exit status: 0 clean, 1 problems found (or an error), 2 usage error,\n"
    "3 problems found and repaired (verified clean afterwards).\n"
    "Progress is drawn on stderr: a bar on a terminal, a line every 10 s\n"
    "otherwise.";

int Verify(const std::vector<std::string>& args) {
  std::string home;
  bool repair = false, json = false, reach = true;
  uint64_t max_problems = 100;
  uint32_t cache_mb = 64;
  CLI::App app{"", "durus-bdb verify"};
  durus::tools::SetUp(&app, kDescription, kFooter);
  app.add_option("HOME", home, "the home")->required();
  app.add_flag("--repair", repair,
               "fix what was found: counts, queue, counters; drop\n"
               "dangling oids from ref lists; delete unreachable\n"
               "objects when cycles leaked.  Then verify again.\n"
               "Refused (nothing changed, exit 1) when verify could\n"
               "not read everything, pages are damaged or records\n"
               "do not parse.");
  app.add_flag("--json", json, "print the report as one JSON object");
  bool no_reach = false;
  app.add_flag("--no-reachability", no_reach,
               "skip the reachability trace (counts and queue only)");
  app.add_option("--max-problems", max_problems,
                 "list at most N problems (default 100; all are counted)");
  app.add_option("--cache-mb", cache_mb, "Berkeley DB cache for the run (default: the home's)")
      ->check(durus::util::InRange(1u, 1u << 20));
  if (auto rc = durus::util::ParseArgs(&app, args)) return *rc;
  reach = !no_reach;
  if (!durus::IsBdbHome(home)) {
    return durus::tools::Fail("verify", home + " is not a durus-bdb home");
  }

  durus::BdbOptions opts;
  opts.create_if_missing = false;
  opts.readonly = !repair;
  opts.gc_background = false;                             // nothing may change what we are checking
  if (app.count("--cache-mb")) opts.cache_mb = cache_mb;  // else the home's
  std::unique_ptr<durus::BdbHandle> storage;
  Status st = durus::OpenBdbStorage(home, opts, &storage);
  if (!st.ok()) return durus::tools::FailStatus("verify", st);

  durus::util::ProgressBar bar(stderr, durus::util::ProgressBar::ModeFor(stderr, false));
  durus::VerifyOptions vo;
  vo.repair = repair;
  vo.check_reachability = reach;
  vo.max_samples = max_problems;
  vo.progress = bar.CountCallback("verify");
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
    durus::tools::Fail(
        "verify", "not repairing " + home + ": " + report.repair_refused + "; nothing was changed");
  } else if (report.damaged) {
    durus::tools::Fail("verify", home + " is damaged: it needs salvage or a backup");
  }
  if (!closed.ok()) return durus::tools::FailStatus("verify", closed);
  return code;
}

const durus::tools::CommandRegistration reg{
    "verify", "check (and --repair) reference counts, garbage queue and reachability", &Verify};

}  // namespace
