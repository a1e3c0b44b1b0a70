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
#include "tools/json.h"

namespace durus::tools {

namespace {

const char kUsage[] =
    "usage: durus-bdb salvage HOME DUMP [options]\n"
    "\n"
    "Read the records still held by the database files of the durus-bdb home\n"
    "HOME without opening it (for a home that no longer opens: a damaged log,\n"
    "a panicked environment, damaged pages) and write them to the new dump\n"
    "file DUMP; then `durus-bdb migrate DUMP NEWHOME` (with --allow-dangling\n"
    "when the report lists dangling references) makes a working home of them.\n"
    "Uses Berkeley DB's salvage (DB->verify with DB_SALVAGE).  Nothing is ever\n"
    "written into HOME; it may be on a read-only mount.  Reports how many\n"
    "records were salvaged, which pages Berkeley DB found damaged, records\n"
    "that fail validation, and references to records that were not found.\n"
    "\n"
    "  --aggressive      also DB_AGGRESSIVE: a second pass over every page,\n"
    "                    past entry counts and outside the tree; adds only oids\n"
    "                    the ordinary pass did not find (they may be stale\n"
    "                    versions or collected objects)\n"
    "  --force           salvage even while another process holds the home\n"
    "                    (the files are live: the result may mix states)\n"
    "  --temp-dir DIR    where temporary copies go: records.db with the log\n"
    "                    replayed (a home left by a crash), or with pages whose\n"
    "                    checksums failed zeroed (default: DUMP's directory)\n"
    "  --no-replay       of a home left by a crash, read records.db as it is:\n"
    "                    without replaying its log, the commits since its last\n"
    "                    checkpoint are missing (by default the log is replayed\n"
    "                    into a copy of records.db and the log in --temp-dir)\n"
    "  --level N         dump compression level 0-9 (default 1)\n"
    "  --max-problems N  list at most N problems of each kind (default 20)\n"
    "  --json            print the report as one JSON object\n"
    "  --quiet           no report unless something was lost\n"
    "\n"
    "Exit status: 0 everything salvaged, 3 the dump was written but something\n"
    "was lost (see the report), 1 error (no dump written), 2 usage error.\n";

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

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
    s = SalvageHome(home, options, [&](Oid oid, std::string_view record) {
      return dump.Add(oid, record);
    }, report);
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

template <typename T>
std::string JsonArray(const std::vector<T>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s += ",";
    if constexpr (std::is_same_v<T, std::string>) {
      s += JsonString(v[i]);
    } else if constexpr (std::is_same_v<T, Oid>) {
      s += std::to_string(v[i].value());
    } else {
      s += std::to_string(v[i]);
    }
  }
  return s + "]";
}

void PrintJson(const SalvageReport& r, const std::string& dump) {
  auto u = [](uint64_t v) { return std::to_string(v); };
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  std::string j = "{";
  j += "\"home\":" + JsonString(r.home) + ",\"dump\":" + JsonString(dump);
  j += ",\"complete\":" + b(r.Complete());
  j += ",\"not_closed_cleanly\":" + b(r.not_closed_cleanly);
  j += ",\"log_replayed\":" + b(r.log_replayed) + ",\"log_damage\":" + JsonString(r.log_damage);
  j += ",\"replay_problem\":" + JsonString(r.replay_problem);
  j += ",\"records\":" + u(r.records) + ",\"record_bytes\":" + u(r.record_bytes);
  j += ",\"keyless\":" + u(r.keyless) + ",\"aggressive_only\":" + u(r.aggressive_only);
  j += ",\"duplicates\":" + u(r.duplicates) + ",\"malformed\":" + u(r.malformed);
  j += ",\"lost_keys\":" + u(r.lost_keys) + ",\"unreadable_items\":" + u(r.unreadable_items);
  j += ",\"bad_lines\":" + u(r.bad_lines) + ",\"aggressive_unusable\":" + u(r.aggressive_unusable);
  j += ",\"problems\":" + JsonArray(r.problem_samples);
  j += ",\"damaged_pages\":" + JsonArray(r.damaged_pages);
  j += ",\"checksum_failed_pages\":" + JsonArray(r.checksum_failed_pages);
  j += ",\"structural_only\":" + b(r.structural_only);
  j += ",\"db_clean\":" + b(r.db_clean) + ",\"db_messages\":" + u(r.db_messages);
  j += ",\"db_message_samples\":" + JsonArray(r.db_message_samples);
  j += ",\"dangling\":" + u(r.dangling) + ",\"dangling_oids\":" + JsonArray(r.dangling_samples);
  j += ",\"orphans\":" + u(r.orphans) + ",\"orphan_oids\":" + JsonArray(r.orphan_samples);
  j += ",\"root_found\":" + b(r.root_found);
  j += ",\"next_oid\":" + u(r.next_oid) + ",\"next_oid_from_meta\":" + b(r.meta_next_oid);
  j += ",\"meta_problem\":" + JsonString(r.meta_problem);
  j += ",\"forced_live\":" + b(r.forced_live);
  j += ",\"file_bytes\":" + u(r.file_bytes) + ",\"page_size\":" + u(r.page_size);
  j += ",\"passes\":" + u(static_cast<uint64_t>(r.passes));
  char secs[32];
  snprintf(secs, sizeof secs, "%.3f", r.seconds);
  j += ",\"seconds\":" + std::string(secs) + "}";
  std::cout << j << std::endl;
}

void PrintText(const SalvageReport& r, const std::string& dump) {
  std::cout << "salvaged " << r.records << " records (" << HumanBytes(r.record_bytes) << ") from "
            << r.home << " into " << dump;
  char rate[96];
  snprintf(rate, sizeof rate, " in %.1f s (%.0f records/s)", r.seconds,
           r.seconds > 0 ? r.records / r.seconds : 0.0);
  std::cout << rate << "\n";
  if (r.forced_live) std::cout << "  warning: the home was in use by " << r.holder << " (--force)\n";
  if (r.keyless) std::cout << "  " << r.keyless << " recognised by their embedded oid (key lost)\n";
  if (r.aggressive_only) {
    std::cout << "  " << r.aggressive_only << " found only by the aggressive pass (may be stale)\n";
  }
  if (r.duplicates) std::cout << "  " << r.duplicates << " further versions dropped (first found kept)\n";
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
    } else if (a == "--aggressive") {
      o.aggressive = true;
    } else if (a == "--force") {
      o.force = true;
    } else if (a == "--no-replay") {
      o.replay_log = false;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--quiet" || a == "-q") {
      quiet = true;
    } else if (a == "--temp-dir") {
      if (!value(&o.temp_dir)) return Fail(cmd, "--temp-dir needs a directory", 2);
    } else if (a == "--level") {
      if (!value(&v) || v.size() != 1 || v[0] < '0' || v[0] > '9') {
        return Fail(cmd, "--level needs 0..9", 2);
      }
      level = v[0] - '0';
    } else if (a == "--max-problems") {
      char* end = nullptr;
      if (!value(&v) || (o.max_samples = strtoull(v.c_str(), &end, 10), *end != '\0')) {
        return Fail(cmd, "--max-problems needs a number", 2);
      }
    } else if (!a.empty() && a[0] == '-') {
      return Fail(cmd, "unknown option " + a + " (see --help)", 2);
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) return Fail(cmd, "expected HOME DUMP (see --help)", 2);
  const std::string home = positional[0], dump = positional[1];
  if (access(dump.c_str(), F_OK) == 0) {
    return Fail(cmd, dump + " already exists; salvage writes a new file");
  }
  if (o.temp_dir.empty()) o.temp_dir = DirOf(dump);
  if (Inside(DirOf(dump), home) || Inside(o.temp_dir, home)) {
    return Fail(cmd, "DUMP and --temp-dir must be outside " + home +
                         " (salvage never writes into the home it reads)", 2);
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

const CommandRegistration reg{"salvage", "read a damaged home's database files directly into a "
                                         "dump (for migrate)",
                              &RunSalvage};

}  // namespace
}  // namespace durus::tools
