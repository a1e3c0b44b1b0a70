// durus-bdb gc HOME [--cycles] [--compact]: run garbage collection to
// completion offline and report what it freed; with --compact, return the
// space to the file system and print the home's disk use by kind before
// and after (issue 14).
#include <cinttypes>
#include <cstdio>
#include <string>

#include "bdb/bdb_storage.h"
#include "bdb/disk_usage.h"
#include "bdb/gc/gc.h"
#include "bdb/home_trim.h"
#include "tools/command.h"
#include "tools/flags.h"
#include "util/format.h"
#include "util/progress.h"

namespace {

using durus::Status;

const char kDescription[] =
    "Collect garbage in a durus-bdb home now, to completion, and report what was\n"
    "freed: every object on the pending-garbage queue (reference count 0) and,\n"
    "transitively, what only it referenced.  Needs the home to itself (a running\n"
    "server collects in the background on its own; Durus's pack starts a trace).";
const char kFooter[] =
    "--compact reclaims the space: every table is compacted (free pages\n"
    "returned to the file system), then, the home closed, its log files and\n"
    "region files are removed (the next open starts a new log and rebuilds\n"
    "the regions) -- unless log archiving is on (they stay for point-in-time\n"
    "restore) or a hot backup is joined.  It prints the disk use by kind\n"
    "before and after (as `durus-bdb stat` counts it).\n"
    "Progress is drawn on stderr: a bar on a terminal, a line every 10 s\n"
    "otherwise.";

// "    records      5.3 MiB -> 2.0 MiB" for each kind, then the total.
void PrintDiskUse(const durus::HomeDiskUsage& before, const durus::HomeDiskUsage& after) {
  printf("  disk           before -> after (allocated; `durus-bdb stat` has the kinds)\n");
  auto kinds_before = before.Kinds();
  auto kinds_after = after.Kinds();
  for (size_t i = 0; i < kinds_before.size(); ++i) {
    std::string name = kinds_before[i].first;
    printf("    %-12s %s -> %s\n", name.c_str(),
           durus::util::HumanBytes(kinds_before[i].second.bytes).c_str(),
           durus::util::HumanBytes(kinds_after[i].second.bytes).c_str());
  }
  printf("    %-12s %s -> %s\n", "total", durus::util::HumanBytes(before.total.bytes).c_str(),
         durus::util::HumanBytes(after.total.bytes).c_str());
}

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
               "(Berkeley DB compaction with DB_FREE_SPACE) and\n"
               "remove the log and region files (see below)");
  app.add_option("--cache-mb", cache_mb, "Berkeley DB cache for the run (default: the home's)")
      ->check(durus::util::InRange(1u, 1u << 20));
  if (auto rc = durus::util::ParseArgs(&app, args)) return *rc;
  if (!durus::IsBdbHome(home)) return durus::tools::Fail("gc", home + " is not a durus-bdb home");

  // As the user left it, before our open rebuilds the regions.
  const durus::HomeDiskUsage disk_before = durus::MeasureHomeDisk(home);
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
  // The log the deletion, the collection and the compaction wrote stays in
  // the current log file, which no checkpoint removes: without this the
  // home ended larger than before (bdb/home_trim.h).
  durus::TrimReport trim;
  if (compact) {
    st = durus::TrimClosedHome(home, opts, &trim);
    if (!st.ok()) return durus::tools::FailStatus("gc", st);
  }

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
    if (trim.trimmed) {
      printf(
          "  logs           %u log file%s and the region files removed (the next open\n"
          "                 starts a new log and rebuilds the regions)%s\n",
          trim.log_files_removed, trim.log_files_removed == 1 ? "" : "s",
          trim.marks_removed ? "; the empty marks.db too" : "");
    } else {
      printf("  logs           kept: %s\n", trim.kept_reason.c_str());
    }
    PrintDiskUse(disk_before, durus::MeasureHomeDisk(home));
  }
  return 0;
}

const durus::tools::CommandRegistration reg{
    "gc", "collect garbage now (--cycles: also unreachable cycles; --compact)", &Gc};

}  // namespace
