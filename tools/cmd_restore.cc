// durus-bdb restore BACKUP DEST [--logs DIR]... [--to TIME] [--no-verify]
//
// Point-in-time restore (bdb/restore.h): a backup made by `durus-bdb
// backup` (its restore-base/) rolled forward with the home's archived log
// files (`serve --log-archive DIR`) up to TIME.
#include <cstdio>
#include <iostream>

#include "bdb/restore.h"
#include "tools/command.h"
#include "tools/flags.h"

namespace durus::tools {
namespace {

const char kDescription[] =
    "Build in DEST (a new or empty directory) the home BACKUP was taken of, as\n"
    "it was at TIME: BACKUP (made by `durus-bdb backup`) rolled forward with\n"
    "the home's log files -- its log archive (`serve --log-archive DIR`) and,\n"
    "for the latest minutes, the home directory itself -- by Berkeley DB's\n"
    "catastrophic recovery.  Every transaction committed at or before TIME is\n"
    "applied, none after it (commit times are whole seconds).";
const char kFooter[] =
    "DEST is then a home of its own (a new branch: it does not archive; give\n"
    "it a new --log-archive directory and take a new backup).  TIME before the\n"
    "backup was taken is refused (use an older backup), and so is a gap in\n"
    "the log files (the missing file is named).\n"
    "Exit status: 0 ok; 1 on error or when verify found problems; 2 on a\n"
    "usage error.";

Status ParseTime(const std::string& text, RestoreOptions* options) {
  DURUS_RETURN_IF_ERROR(ParseRestoreTime(text, &options->to_time));
  options->has_time = true;
  return Status::OK();
}

int RunRestore(const std::vector<std::string>& args) {
  std::vector<std::string> pos(2);
  RestoreOptions options;
  bool no_verify = false;
  CLI::App app{"", "durus-bdb restore"};
  SetUp(&app, kDescription, kFooter);
  app.add_option("BACKUP", pos[0], "a backup made by `durus-bdb backup`")->required();
  app.add_option("DEST", pos[1], "a new or empty directory")->required();
  app.add_option("--logs", options.log_dirs, "a directory of the home's log files (repeatable)")
      ->type_name("DIR")
      ->allow_extra_args(false);
  AddParsed(&app, "--to", &options, &ParseTime,
            "2024-05-01T12:30:00 or '2024-05-01 12:30:00' (local time),\n"
            "2024-05-01T10:30:00Z / +02:00, or a Unix timestamp;\n"
            "default: as far as the logs go")
      ->type_name("TIME");
  app.add_flag("--no-verify", no_verify, "skip `durus-bdb verify` of DEST at the end");
  if (auto rc = util::ParseArgs(&app, args)) return *rc;
  options.verify = !no_verify;
  RestoreReport r;
  Status s = RestoreBackup(pos[0], pos[1], options, &r);
  if (!s.ok()) return FailStatus("restore", s);
  char logs[64];
  snprintf(logs, sizeof(logs), "log.%010u .. log.%010u", r.first_log, r.last_log);
  printf(
      "restored %s (backup of %s taken %s) into %s: replayed %s; last commit applied %s; "
      "%llu objects, %llu record bytes; %s in %.1f s\n",
      pos[0].c_str(), r.home.c_str(), FormatTime(r.backup_started).c_str(), pos[1].c_str(), logs,
      r.last_commit != 0 ? FormatTime(r.last_commit).c_str() : "(none in the logs)",
      static_cast<unsigned long long>(r.objects), static_cast<unsigned long long>(r.record_bytes),
      !r.verified ? "not verified" : (r.problems == 0 ? "verify clean" : "VERIFY FOUND PROBLEMS"),
      r.seconds);
  if (r.verified && r.problems != 0) {
    return Fail("restore", std::to_string(r.problems) + " problems in " + pos[1] +
                               ": run durus-bdb verify " + pos[1] + " for the details");
  }
  return 0;
}

const CommandRegistration kReg{
    "restore", "point-in-time restore: a backup rolled forward with archived logs", &RunRestore};

}  // namespace
}  // namespace durus::tools
