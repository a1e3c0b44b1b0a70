// durus-bdb gc HOME [--cycles] [--compact]: run garbage collection to
// completion offline and report what it freed.
#include <cinttypes>
#include <cstdio>

#include "bdb/bdb_storage.h"
#include "bdb/gc/gc.h"
#include "tools/command.h"
#include "tools/flags.h"
#include "util/progress.h"

namespace {

using durus::Status;

const char kDescription[] =
    "Collect garbage in a durus-bdb home now, to completion, and report what was\n"
    "freed: every object on the pending-garbage queue (reference count 0) and,\n"
    "transitively, what only it referenced.  Needs the home to itself (a running\n"
    "server collects in the background on its own; Durus's pack starts a trace).";
const char kFooter[] =
    "Progress is drawn on stderr: a bar on a terminal, a line every 10 s\n"
    "otherwise.";

int Gc(const std::vector<std::string>& args) {
  std::string home;
  bool cycles = false, compact = false;
  uint32_t cache_mb = 64;
  CLI::App app{"", "durus-bdb gc"};
  durus::tools::SetUp(&app, kDescription, kFooter);
  app.add_option("HOME", home, "the home")->required();
  app.add_flag("--cycles", cycles,
               "also trace from the root and delete every unreachable\n"
               "object (cycles, which counting never frees)");
  app.add_flag("--compact", compact,
               "then return free pages to the file system\n"
               "(Berkeley DB compaction with DB_FREE_SPACE)");
  app.add_option("--cache-mb", cache_mb, "Berkeley DB cache for the run (default: the home's)")
      ->check(durus::util::InRange(1u, 1u << 20));
  if (auto rc = durus::util::ParseArgs(&app, args)) return *rc;
  if (!durus::IsBdbHome(home)) return durus::tools::Fail("gc", home + " is not a durus-bdb home");

  durus::BdbOptions opts;
  opts.create_if_missing = false;
  opts.gc_background = false;
  if (app.count("--cache-mb")) opts.cache_mb = cache_mb;  // else the home's
  std::unique_ptr<durus::BdbHandle> storage;
  Status st = durus::OpenBdbStorage(home, opts, &storage);
  if (!st.ok()) return durus::tools::FailStatus("gc", st);
  durus::StorageStats before, after;
  st = storage->GetStats(&before);
  if (!st.ok()) return durus::tools::FailStatus("gc", st);

  durus::util::ProgressBar bar(stderr, durus::util::ProgressBar::ModeFor(stderr, false));
  durus::MaintenanceProgressFn progress = bar.CountCallback("gc");
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
