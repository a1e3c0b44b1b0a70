// durus-bdb gc HOME [--cycles] [--compact]: run garbage collection to
// completion offline and report what it freed.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "bdb/bdb_storage.h"
#include "bdb/gc/gc.h"
#include "gc/progress.h"
#include "tools/command.h"

namespace {

using durus::Status;

const char kUsage[] =
    "usage: durus-bdb gc HOME [OPTIONS]\n"
    "\n"
    "Collect garbage in a durus-bdb home now, to completion, and report what was\n"
    "freed: every object on the pending-garbage queue (reference count 0) and,\n"
    "transitively, what only it referenced.  Needs the home to itself (a running\n"
    "server collects in the background on its own; Durus's pack starts a trace).\n"
    "\n"
    "  --cycles            also trace from the root and delete every unreachable\n"
    "                      object (cycles, which counting never frees)\n"
    "  --compact           then return free pages to the file system\n"
    "                      (Berkeley DB compaction with DB_FREE_SPACE)\n"
    "  --cache-mb N        Berkeley DB cache for the run (default 64)\n"
    "\n"
    "A progress bar is drawn on stderr when it is a terminal.\n";

int Gc(const std::vector<std::string>& args) {
  std::string home;
  bool cycles = false, compact = false;
  uint32_t cache_mb = 64;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      fputs(kUsage, stdout);
      return 0;
    } else if (a == "--cycles") {
      cycles = true;
    } else if (a == "--compact") {
      compact = true;
    } else if (a == "--cache-mb") {
      char* end = nullptr;
      unsigned long v = i + 1 < args.size() ? strtoul(args[++i].c_str(), &end, 10) : 0;
      if (v == 0 || end == nullptr || *end != '\0') {
        return durus::tools::Fail("gc", "--cache-mb needs a number", 2);
      }
      cache_mb = static_cast<uint32_t>(v);
    } else if (!a.empty() && a[0] == '-') {
      return durus::tools::Fail("gc", "unknown option " + a + " (see --help)", 2);
    } else if (home.empty()) {
      home = a;
    } else {
      return durus::tools::Fail("gc", "one HOME only (see --help)", 2);
    }
  }
  if (home.empty()) return durus::tools::Fail("gc", "missing HOME (see --help)", 2);
  if (!durus::IsBdbHome(home)) return durus::tools::Fail("gc", home + " is not a durus-bdb home");

  durus::BdbOptions opts;
  opts.create_if_missing = false;
  opts.gc_background = false;
  opts.cache_mb = cache_mb;
  std::unique_ptr<durus::BdbHandle> storage;
  Status st = durus::OpenBdbStorage(home, opts, &storage);
  if (!st.ok()) return durus::tools::FailStatus("gc", st);
  durus::StorageStats before, after;
  st = storage->GetStats(&before);
  if (!st.ok()) return durus::tools::FailStatus("gc", st);

  durus::gc::ProgressBar bar(stderr, durus::tools::StderrIsTerminal());
  durus::MaintenanceProgressFn progress;
  if (bar.enabled()) {
    progress = [&](const char* phase, uint64_t done, uint64_t total) {
      bar.Update(std::string("gc: ") + phase, done, total);
    };
  }
  durus::CollectReport report;
  st = durus::CollectWithProgress(storage.get(), cycles, progress, &report);
  bar.Finish();
  if (!st.ok()) return durus::tools::FailStatus("gc", st);
  durus::CompactReport creport;
  if (compact) {
    st = durus::CompactStorage(storage.get(), &creport);
    if (!st.ok()) return durus::tools::FailStatus("gc", st);
  }
  st = storage->GetStats(&after);
  if (!st.ok()) return durus::tools::FailStatus("gc", st);
  st = storage->Close();
  if (!st.ok()) return durus::tools::FailStatus("gc", st);

  printf("gc %s\n", home.c_str());
  printf("  collected      %" PRIu64 " objects, %" PRIu64 " record bytes\n", report.collected,
         report.bytes_freed);
  if (cycles) printf("  traced         %" PRIu64 " reachable objects\n", report.traced);
  printf("  objects        %" PRIu64 " -> %" PRIu64 "\n", before.object_count, after.object_count);
  printf("  record bytes   %" PRIu64 " -> %" PRIu64 "\n", before.record_bytes, after.record_bytes);
  printf("  still queued   %" PRIu64 "\n", report.pending_after);
  if (compact) {
    printf("  compacted      table files %" PRIu64 " -> %" PRIu64 " bytes (%" PRIu64
           " pages returned to the file system)\n",
           creport.file_bytes_before, creport.file_bytes_after, creport.pages_freed);
  }
  return 0;
}

const durus::tools::CommandRegistration reg{
    "gc", "collect garbage now (--cycles: also unreachable cycles; --compact)", &Gc};

}  // namespace
