// durus-bdb stat HOME [--json] [--census]
//
// Opens the home read-only and prints the counters kept in its metadata, so
// the cost does not depend on the size of the store; --census adds a class
// histogram (full names, module.Class: engine/storage.h), which reads every
// record.  A home held by another process (a running server) cannot be
// opened: stat then prints the figures that process publishes about once a
// second (bdb/status_file.h) — the collector's backlog and progress as they
// happen — and, for a home a `durus-bdb serve` is using, the server's own
// figures (server/server_status.h): clients, commits, conflicts at commit
// and 'I' answered to loads.  Disk use is measured from the home's files,
// by kind (bdb/disk_usage.h), as `du` would: for a home nobody holds,
// before stat opens it, since the open itself rebuilds the region files
// and recovery fills the rest of the current log file (issue 14).
#include <iostream>
#include <map>
#include <sstream>
#include <vector>

#include "bdb/bdb_storage.h"
#include "bdb/disk_usage.h"
#include "server/server_status.h"
#include "tools/command.h"
#include "tools/flags.h"
#include "tools/json.h"
#include "util/format.h"

namespace durus::tools {
namespace {

const char kDescription[] =
    "Print a durus-bdb home's statistics: object count, record bytes, pending\n"
    "garbage (the collector's backlog), durability mode, format version,\n"
    "bytes on disk by kind (records, counts, queue, meta, logs, regions,\n"
    "other: `durus-bdb gc --compact` reclaims space) and a cycle trace's\n"
    "progress.  On a home in use by another process (a running server) it\n"
    "shows the live figures that process publishes every second, including\n"
    "objects collected since it opened, and for a site of a replication group\n"
    "its role, the master, the peers (connected or not) and how far it is\n"
    "behind the master (log bytes, seconds: doc/replication.md).";
const char kFooter[] =
    "Exit status: 0 ok; 1 on error (missing home, not a durus-bdb home, home\n"
    "in use by a process that publishes no figures); 2 on a usage error.";

int RunStat(const std::vector<std::string>& args) {
  std::string home;
  bool json = false, census = false;
  CLI::App app{"", "durus-bdb stat"};
  SetUp(&app, kDescription, kFooter);
  app.add_option("HOME", home, "the home")->required();
  app.add_flag("--json", json, "print one JSON object");
  app.add_flag("--census", census,
               "add the number of objects per class, named\n"
               "module.Class (reads every record; not on a home in use)");
  if (auto rc = util::ParseArgs(&app, args)) return *rc;

  BdbOptions opts;
  opts.readonly = true;
  opts.create_if_missing = false;
  std::unique_ptr<Storage> storage;
  StorageStats st;
  std::map<std::string, uint64_t> classes;
  LiveStats live;
  bool is_live = false;
  server::ServerFigures srv;
  bool has_server = false;
  // The home as its last holder left it (see the top of the file).
  HomeDiskUsage disk = MeasureHomeDisk(home);
  Status s = OpenBdbStorage(home, opts, &storage);
  if (s.IsBusy()) {
    // A server holds the home: its published figures, if it publishes.
    Status ls = ReadLiveStats(home, &live);
    if (!ls.ok()) return FailStatus("stat", s);
    if (census) {
      return Fail("stat",
                  "--census reads every record and needs the home to itself; " + s.ToString(), 1);
    }
    st = live.stats;
    is_live = true;
    disk = MeasureHomeDisk(home);  // the holder's files, now
    int64_t srv_pid = 0;
    double srv_age = 0;
    // Only the holder's own figures: a file left by another process is stale.
    has_server =
        server::ReadServerStatus(home + "/" + server::kServerStatusFile, &srv, &srv_pid, &srv_age)
            .ok() &&
        srv_pid == live.pid;
  } else {
    if (!s.ok()) return FailStatus("stat", s);
    s = storage->GetStats(&st);
    if (!s.ok()) return FailStatus("stat", s);
    if (census) {
      s = Census(storage.get(), &classes);
      if (!s.ok()) return FailStatus("stat", s);
    }
    s = storage->Close();
    if (!s.ok()) return FailStatus("stat", s);
  }
  // disk_bytes is the kinds' total, so they add up to it (StorageStats
  // measured it with the home open).
  st.disk_bytes = disk.total.bytes;

  std::ostringstream out;
  if (json) {
    Json j = {{"home", home},
              {"format_version", st.format_version},
              {"page_checksums", st.format_version >= 2},
              {"durability", st.durability},
              {"object_count", st.object_count},
              {"record_bytes", st.record_bytes},
              {"pending_garbage", st.pending_garbage},
              {"next_oid", st.next_oid},
              {"disk_bytes", st.disk_bytes},
              {"collected_total", st.collected_total},
              {"trace_running", st.trace_running},
              {"trace_phase", st.trace_phase},
              {"trace_traced", st.trace_traced},
              {"trace_swept", st.trace_swept}};
    auto use = [](const DiskUse& u) {
      return Json{{"bytes", u.bytes}, {"apparent_bytes", u.apparent}, {"files", u.files}};
    };
    Json d = Json::object();
    for (auto& [kind, u] : disk.Kinds()) d[kind] = use(u);
    d["total"] = use(disk.total);
    j["disk"] = d;
    if (is_live) j["live"] = {{"pid", live.pid}, {"age_seconds", live.age_seconds}};
    const ReplicationFigures& r = st.replication;
    if (!r.role.empty()) {
      Json peers = Json::array();
      for (const auto& p : r.peers) peers.push_back({{"site", p.site}, {"connected", p.connected}});
      j["replication"] = {{"role", r.role},
                          {"site", r.local_site},
                          {"master_site", r.master_site},
                          {"master_durus", r.master_durus},
                          {"in_sync", r.in_sync},
                          {"peers", peers},
                          {"lag_known", r.lag_known},
                          {"lag_bytes", r.lag_bytes},
                          {"lag_seconds", r.lag_seconds},
                          {"perm_failed", r.perm_failed}};
    }
    if (has_server) {
      j["server"] = {{"clients", srv.clients},
                     {"commits", srv.commits},
                     {"commit_conflicts", srv.commit_conflicts},
                     {"commits_refused", srv.commits_refused},
                     {"load_conflicts", srv.load_conflicts},
                     {"load_waits", srv.load_waits},
                     {"grace_expired", srv.grace_expired},
                     {"dropped", srv.dropped},
                     {"request_bytes", srv.request_bytes}};
    }
    if (census) {
      Json c = Json::object();
      for (auto& [name, n] : classes) c[name] = n;
      j["census"] = c;
    }
    out << JsonLine(j) << "\n";
  } else {
    auto row = [&](const char* k, const std::string& v) {
      out << k << std::string(18 - std::string(k).size(), ' ') << v << "\n";
    };
    row("home", home);
    if (is_live) {
      std::ostringstream age;
      age.precision(1);
      age << std::fixed << live.age_seconds;
      row("in use by",
          "process " + std::to_string(live.pid) + " (live figures, " + age.str() + " s old)");
    }
    // Format 2 added Berkeley DB page checksums (bdb/schema.h).
    row("format version",
        std::to_string(st.format_version) +
            (st.format_version >= 2 ? " (page checksums on)"
                                    : " (no page checksums: `durus-bdb migrate HOME NEWHOME` "
                                      "copies it into a new home that has them)"));
    row("durability", st.durability);
    const ReplicationFigures& r = st.replication;
    if (!r.role.empty()) {
      // doc/replication.md, "stat".
      std::string role = r.role + " (site " + r.local_site + ")";
      if (r.role == "replica") role += r.in_sync ? ", in sync" : ", not yet in sync";
      row("replication", role);
      if (r.master_site.empty()) {
        row("  master", "none known");
      } else {
        row("  master",
            (r.master_durus.empty() ? "?" : r.master_durus) + " (site " + r.master_site + ")");
      }
      for (const auto& p : r.peers) {
        row("  peer", p.site + (p.connected ? " connected" : " not connected"));
      }
      if (!r.lag_known) {
        row("  lag", "unknown (the master did not answer the last question)");
      } else {
        std::ostringstream secs;
        secs.precision(1);
        secs << std::fixed << r.lag_seconds;
        row("  lag",
            std::to_string(r.lag_bytes) + " log bytes, " + secs.str() + " s behind the master");
      }
      row("  perm failed",
          std::to_string(r.perm_failed) + " commits not acknowledged in time since open");
    }
    row("objects", std::to_string(st.object_count));
    row("record bytes",
        std::to_string(st.record_bytes) + " (" + util::HumanBytes(st.record_bytes) + ")");
    row("pending garbage", std::to_string(st.pending_garbage) + " (collector backlog)");
    if (is_live)
      row("collected", std::to_string(st.collected_total) + " since the holder opened the home");
    if (st.trace_running) {
      row("cycle trace", st.trace_phase + " phase: " + std::to_string(st.trace_traced) +
                             " reachable marked, " + std::to_string(st.trace_swept) +
                             " unreachable deleted");
    } else {
      row("cycle trace", "not running");
    }
    if (has_server) {
      row("server", std::to_string(srv.clients) + " clients, " + std::to_string(srv.commits) +
                        " commits, " + std::to_string(srv.dropped) + " clients dropped");
      row("conflicts", std::to_string(srv.commit_conflicts) + " at commit (" +
                           std::to_string(srv.commits_refused) + " refused by the server), " +
                           std::to_string(srv.load_conflicts) + " loads answered I");
      row("load waits", std::to_string(srv.load_waits) + " loads waited for a commit in flight");
      row("commit grace",
          std::to_string(srv.grace_expired) + " times a slow client's token was released");
    }
    row("next oid", std::to_string(st.next_oid));
    row("disk", std::to_string(st.disk_bytes) + " (" + util::HumanBytes(st.disk_bytes) +
                    " allocated, " + util::HumanBytes(disk.total.apparent) + " apparent)");
    // What each kind is: doc/operations.md, "Disk use".
    const std::map<std::string, std::string> notes = {
        {"queue", "pending garbage"},
        {"meta", "meta.db, a trace's marks.db"},
        {"logs", "write-ahead log"},
        {"regions", "Berkeley DB cache, locks, log buffer; rebuilt at every open"},
        {"other", "durus-bdb.* files"}};
    for (auto& [kind, u] : disk.Kinds()) {
      // The apparent size too where it differs (a log file is as long as
      // log_file_mb from its creation, sparse until written).
      std::vector<std::string> parts;
      if (u.apparent != u.bytes) parts.push_back(util::HumanBytes(u.apparent) + " apparent");
      auto note = notes.find(kind);
      if (note != notes.end()) parts.push_back(note->second);
      std::string text = util::HumanBytes(u.bytes);
      for (size_t i = 0; i < parts.size(); ++i) text += (i == 0 ? " (" : "; ") + parts[i];
      row((std::string("  ") + kind).c_str(), text + (parts.empty() ? "" : ")"));
    }
    if (census) {
      out << "census:\n";
      // Largest classes first.
      std::multimap<uint64_t, std::string, std::greater<uint64_t>> by_count;
      for (auto& [name, n] : classes) by_count.emplace(n, name);
      for (auto& [n, name] : by_count) out << "  " << n << "\t" << name << "\n";
    }
  }
  std::cout << out.str();
  return 0;
}

const CommandRegistration kStat{"stat", "print a home's statistics (--json, --census)", &RunStat};

}  // namespace
}  // namespace durus::tools
