// durus-bdb stat HOME [--json] [--census]
//
// Opens the home read-only (it must not be held by another process: stop
// the server first) and prints the counters kept in its metadata, so the
// cost does not depend on the size of the store; --census adds a class
// histogram, which reads every record.
#include <iostream>
#include <map>
#include <sstream>

#include "bdb/bdb_storage.h"
#include "tools/command.h"
#include "tools/json.h"

namespace durus::tools {
namespace {

constexpr const char* kUsage =
    "usage: durus-bdb stat HOME [--json] [--census]\n"
    "\n"
    "Print a durus-bdb home's statistics: object count, record bytes, pending\n"
    "garbage (the collector's backlog), durability mode, format version and\n"
    "bytes on disk.  --census adds the number of objects per class (reads\n"
    "every record).  --json prints one JSON object.\n"
    "Exit status: 0 ok; 1 on error (missing home, not a durus-bdb home,\n"
    "home in use by another process); 2 on a usage error.\n";

int RunStat(const std::vector<std::string>& args) {
  std::string home;
  bool json = false, census = false;
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--census") {
      census = true;
    } else if (!a.empty() && a[0] == '-') {
      return Fail("stat", "unknown option " + a + " (see durus-bdb stat --help)", 2);
    } else if (home.empty()) {
      home = a;
    } else {
      return Fail("stat", "more than one HOME given (see durus-bdb stat --help)", 2);
    }
  }
  if (home.empty()) return Fail("stat", "missing HOME (see durus-bdb stat --help)", 2);

  BdbOptions opts;
  opts.readonly = true;
  opts.create_if_missing = false;
  std::unique_ptr<Storage> storage;
  Status s = OpenBdbStorage(home, opts, &storage);
  if (!s.ok()) return FailStatus("stat", s);
  StorageStats st;
  s = storage->GetStats(&st);
  if (!s.ok()) return FailStatus("stat", s);
  std::map<std::string, uint64_t> classes;
  if (census) {
    s = Census(storage.get(), &classes);
    if (!s.ok()) return FailStatus("stat", s);
  }
  s = storage->Close();
  if (!s.ok()) return FailStatus("stat", s);

  std::ostringstream out;
  if (json) {
    out << "{\"home\": " << JsonString(home) << ", \"format_version\": " << st.format_version
        << ", \"durability\": " << JsonString(st.durability)
        << ", \"object_count\": " << st.object_count << ", \"record_bytes\": " << st.record_bytes
        << ", \"pending_garbage\": " << st.pending_garbage << ", \"next_oid\": " << st.next_oid
        << ", \"disk_bytes\": " << st.disk_bytes
        << ", \"collected_total\": " << st.collected_total
        << ", \"trace_running\": " << (st.trace_running ? "true" : "false");
    if (census) {
      out << ", \"census\": {";
      bool first = true;
      for (auto& [name, n] : classes) {
        out << (first ? "" : ", ") << JsonString(name) << ": " << n;
        first = false;
      }
      out << "}";
    }
    out << "}\n";
  } else {
    auto row = [&](const char* k, const std::string& v) {
      out << k << std::string(18 - std::string(k).size(), ' ') << v << "\n";
    };
    row("home", home);
    row("format version", std::to_string(st.format_version));
    row("durability", st.durability);
    row("objects", std::to_string(st.object_count));
    row("record bytes", std::to_string(st.record_bytes) + " (" + HumanBytes(st.record_bytes) + ")");
    row("pending garbage", std::to_string(st.pending_garbage) + " (collector backlog)");
    row("next oid", std::to_string(st.next_oid));
    row("disk", std::to_string(st.disk_bytes) + " (" + HumanBytes(st.disk_bytes) + ")");
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
