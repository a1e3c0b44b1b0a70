// durus-bdb salvage HOME DUMP [--aggressive] [--json]: the records a home's
// database files still hold, read without opening the home (bdb/salvage.h),
// written as a dump (doc/dump-format.md) for `durus-bdb migrate DUMP
// NEWHOME`, with a report of what was and was not recoverable.
// Exit codes: 0 everything salvaged, 3 dump written but something was lost
// (the report says what), 1 error (no dump), 2 usage.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "bdb/salvage.h"
#include "engine/record.h"
#include "migrate/dump_format.h"
#include "migrate/file_io.h"
#include "tools/command.h"
#include "tools/flags.h"
#include "tools/json.h"
#include "util/file.h"
#include "util/format.h"

namespace durus::tools {

namespace {

const char kDescription[] =
    "Read the records still held by the database files of the durus-bdb home\n"
    "HOME without opening it (for a home that no longer opens: a damaged log,\n"
    "a panicked environment, damaged pages) and write them to the new dump\n"
    "file DUMP; then `durus-bdb migrate DUMP NEWHOME` (with --allow-dangling\n"
    "when the report lists dangling references) makes a working home of them.\n"
    "Uses Berkeley DB's salvage (DB->verify with DB_SALVAGE).  Nothing is ever\n"
    "written into HOME; it may be on a read-only mount.  Reports how many\n"
    "records were salvaged, which pages Berkeley DB found damaged, records\n"
    "that fail validation, and references to records that were not found.";
const char kFooter[] =
    "Exit status: 0 everything salvaged, 3 the dump was written but something\n"
    "was lost (see the report), 1 error (no dump written), 2 usage error.";

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) != nullptr ? std::string(buf) : std::string();
}

// DUMP (or the temporary directory) inside HOME would write into it.
bool Inside(const std::string& dir, const std::string& home) {
  std::string d = RealPath(dir), h = RealPath(home);
  if (d.empty() || h.empty()) return false;
  return d == h || (d.size() > h.size() && d.compare(0, h.size(), h) == 0 && d[h.size()] == '/');
}

// The header again, with the next_oid known only at the end (the same
// bytes DumpWriter::Start writes).
Status RewriteHeader(migrate::FileWriter* out, uint64_t next_oid) {
  std::string h(migrate::kDumpMagic, 8);
  PutU32(&h, migrate::kDumpVersion);
  PutU32(&h, 0);  // flags: not sorted
  PutU64(&h, next_oid);
  PutU32(&h, 0);
  PutU32(&h, migrate::Crc32(h));
  return out->WriteAt(0, h);
}

Status WriteDump(const std::string& home, const std::string& dest, int level,
                 const SalvageOptions& options, SalvageReport* report) {
  std::string tmp = dest + ".tmp-XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) return Status::IOError("cannot create a temporary file next to " + dest);
  mode_t mask = umask(0);
  umask(mask);
  fchmod(fd, 0666 & ~mask);
  migrate::FileWriter out;
  out.Adopt(fd, tmp);
  migrate::DumpWriter dump(&out, level);
  // Salvage order is page order, not oid order: no sorted flag.
  Status s = dump.Start(0, 0);
  if (s.ok()) {
    s = SalvageHome(
        home, options, [&](Oid oid, std::string_view record) { return dump.Add(oid, record); },
        report);
  }
  if (s.ok()) s = dump.Finish();
  if (s.ok()) s = RewriteHeader(&out, report->next_oid);
  if (s.ok()) s = out.Sync();
  if (s.ok()) s = out.Close();
  if (s.ok() && link(tmp.c_str(), dest.c_str()) != 0) {
    s = Status::IOError("cannot create " + dest);  // it appeared meanwhile
  }
  unlink(tmp.c_str());
  if (s.ok()) s = migrate::SyncParentDir(dest);
  return s;
}

std::string OidList(const std::vector<Oid>& oids, uint64_t total) {
  std::string s;
  for (Oid o : oids) s += (s.empty() ? "" : " ") + OidToString(o);
  if (total > oids.size()) s += " ...";
  return s;
}

Json OidArray(const std::vector<Oid>& oids) {
  Json a = Json::array();
  for (Oid o : oids) a.push_back(o.value());
  return a;
}

void PrintJson(const SalvageReport& r, const std::string& dump) {
  Json j = {{"home", r.home},
            {"dump", dump},
            {"complete", r.Complete()},
            {"not_closed_cleanly", r.not_closed_cleanly},
            {"log_replayed", r.log_replayed},
            {"log_damage", r.log_damage},
            {"replay_problem", r.replay_problem},
            {"records", r.records},
            {"record_bytes", r.record_bytes},
            {"keyless", r.keyless},
            {"aggressive_only", r.aggressive_only},
            {"duplicates", r.duplicates},
            {"malformed", r.malformed},
            {"lost_keys", r.lost_keys},
            {"unreadable_items", r.unreadable_items},
            {"bad_lines", r.bad_lines},
            {"aggressive_unusable", r.aggressive_unusable},
            {"problems", r.problem_samples},
            {"damaged_pages", r.damaged_pages},
            {"checksum_failed_pages", r.checksum_failed_pages},
            {"structural_only", r.structural_only},
            {"db_clean", r.db_clean},
            {"db_messages", r.db_messages},
            {"db_message_samples", r.db_message_samples},
            {"dangling", r.dangling},
            {"dangling_oids", OidArray(r.dangling_samples)},
            {"orphans", r.orphans},
            {"orphan_oids", OidArray(r.orphan_samples)},
            {"root_found", r.root_found},
            {"next_oid", r.next_oid},
            {"next_oid_from_meta", r.meta_next_oid},
            {"meta_problem", r.meta_problem},
            {"forced_live", r.forced_live},
            {"file_bytes", r.file_bytes},
            {"page_size", r.page_size},
            {"passes", static_cast<uint64_t>(r.passes)},
            {"seconds", static_cast<int64_t>(r.seconds * 1000 + 0.5) / 1000.0}};
  std::cout << JsonCompact(j) << std::endl;
}

void PrintText(const SalvageReport& r, const std::string& dump) {
  std::cout << "salvaged " << r.records << " records (" << util::HumanBytes(r.record_bytes)
            << ") from " << r.home << " into " << dump;
  char rate[96];
  snprintf(rate, sizeof rate, " in %.1f s (%.0f records/s)", r.seconds,
           r.seconds > 0 ? r.records / r.seconds : 0.0);
  std::cout << rate << "\n";
  if (r.forced_live)
    std::cout << "  warning: the home was in use by " << r.holder << " (--force)\n";
  if (r.keyless) std::cout << "  " << r.keyless << " recognised by their embedded oid (key lost)\n";
  if (r.aggressive_only) {
    std::cout << "  " << r.aggressive_only << " found only by the aggressive pass (may be stale)\n";
  }
  if (r.duplicates)
    std::cout << "  " << r.duplicates << " further versions dropped (first found kept)\n";
  if (!r.damaged_pages.empty()) {
    std::cout << "  pages Berkeley DB found damaged: " << r.damaged_pages.size() << " (";
    for (size_t i = 0; i < r.damaged_pages.size() && i < 20; ++i) {
      std::cout << (i ? " " : "") << r.damaged_pages[i];
    }
    std::cout << (r.damaged_pages.size() > 20 ? " ...)" : ")") << "\n";
  }
  if (!r.checksum_failed_pages.empty()) {
    std::cout << "  of which failed their checksum (skipped): " << r.checksum_failed_pages.size()
              << (r.structural_only ? "; checksum checking was then turned off" : "") << "\n";
  }
  if (r.malformed) std::cout << "  malformed records (not salvaged): " << r.malformed << "\n";
  if (r.lost_keys) std::cout << "  keys whose record was unreadable: " << r.lost_keys << "\n";
  if (r.unreadable_items) std::cout << "  unreadable items: " << r.unreadable_items << "\n";
  if (r.bad_lines) std::cout << "  salvage output lines not understood: " << r.bad_lines << "\n";
  for (const std::string& p : r.problem_samples) std::cout << "    " << p << "\n";
  if (r.dangling) {
    std::cout << "  missing records still referenced (dangling): " << r.dangling << ": "
              << OidList(r.dangling_samples, r.dangling) << "\n";
  }
  if (r.orphans) {
    std::cout << "  records nothing salvaged references (garbage after migrate): " << r.orphans
              << ": " << OidList(r.orphan_samples, r.orphans) << "\n";
  }
  if (!r.root_found) std::cout << "  the root object (oid 0) was not found\n";
  std::cout << "  next_oid " << r.next_oid
            << (r.meta_next_oid ? " (meta.db)" : " (max oid + 1: " + r.meta_problem + ")") << "\n";
  if (r.db_messages) {
    std::cout << "  Berkeley DB said (" << r.db_messages << " messages):\n";
    for (const std::string& m : r.db_message_samples) std::cout << "    " << m << "\n";
  }
  if (r.not_closed_cleanly) {
    std::cout << "  the home was not closed cleanly (last held by process " << r.last_holder
              << "): ";
    if (r.log_replayed && r.log_damage.empty()) {
      std::cout << "its log was replayed into a copy first, so the commits since its last "
                   "checkpoint are included\n";
    } else if (r.log_replayed) {
      std::cout << "its log is damaged (" << r.log_damage
                << ") and was replayed up to there: the commits after it are lost\n";
    } else {
      std::cout << "the commits since its last checkpoint are only in its log, which could not "
                   "be replayed ("
                << r.replay_problem
                << "), so they are missing here (where the home still opens, "
                   "`durus-bdb export HOME FILE --format dump` copies everything)\n";
    }
  }
  std::cout << (r.Complete() ? "nothing was lost" : "some records were lost (above)")
            << "; load it with: durus-bdb migrate " << dump << " NEWHOME"
            << (r.dangling ? " --allow-dangling" : "") << std::endl;
}

int RunSalvage(const std::vector<std::string>& args) {
  const std::string cmd = "salvage";
  SalvageOptions o;
  bool json = false, quiet = false;
  int level = 1;
  std::string home, dump;
  CLI::App app{"", "durus-bdb salvage"};
  SetUp(&app, kDescription, kFooter);
  app.add_option("HOME", home, "the damaged home (only read)")->required();
  app.add_option("DUMP", dump, "the new dump file")->required();
  app.add_flag("--aggressive", o.aggressive,
               "also DB_AGGRESSIVE: a second pass over every page,\n"
               "past entry counts and outside the tree; adds only oids\n"
               "the ordinary pass did not find (they may be stale\n"
               "versions or collected objects)");
  app.add_flag("--force", o.force,
               "salvage even while another process holds the home\n"
               "(the files are live: the result may mix states)");
  app.add_option("--temp-dir", o.temp_dir,
                 "where temporary copies go: records.db with the log\n"
                 "replayed (a home left by a crash), or with pages whose\n"
                 "checksums failed zeroed (default: DUMP's directory)")
      ->type_name("DIR");
  bool no_replay = false;
  app.add_flag("--no-replay", no_replay,
               "of a home left by a crash, read records.db as it is:\n"
               "without replaying its log, the commits since its last\n"
               "checkpoint are missing (by default the log is replayed\n"
               "into a copy of records.db and the log in --temp-dir)");
  app.add_option("--level", level, "dump compression level 0-9 (default 1)")
      ->check(util::InRange(0, 9));
  app.add_option("--max-problems", o.max_samples,
                 "list at most N problems of each kind (default 20)");
  app.add_flag("--json", json, "print the report as one JSON object");
  app.add_flag("-q,--quiet", quiet, "no report unless something was lost");
  if (auto rc = util::ParseArgs(&app, args)) return *rc;
  o.replay_log = !no_replay;
  if (util::PathExists(dump)) {
    return Fail(cmd, dump + " already exists; salvage writes a new file");
  }
  if (o.temp_dir.empty()) o.temp_dir = util::DirName(dump);
  if (Inside(util::DirName(dump), home) || Inside(o.temp_dir, home)) {
    return Fail(cmd,
                "DUMP and --temp-dir must be outside " + home +
                    " (salvage never writes into the home it reads)",
                2);
  }
  SalvageReport report;
  Status s = WriteDump(home, dump, level, o, &report);
  if (!s.ok()) return FailStatus(cmd, s);
  bool complete = report.Complete();
  if (json) {
    PrintJson(report, dump);
  } else if (!quiet || !complete) {
    PrintText(report, dump);
  }
  return complete ? 0 : 3;
}

const CommandRegistration reg{"salvage",
                              "read a damaged home's database files directly into a "
                              "dump (for migrate)",
                              &RunSalvage};

}  // namespace
}  // namespace durus::tools
