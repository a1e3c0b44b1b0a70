// libFuzzer target: the migration readers (migrate/source.h) of Durus's
// Shelf and FileStorage2 files and of durus-bdb dumps, chosen at build time
// by FUZZ_SOURCE_FORMAT (0 Shelf, 1 DFS20, 2 dump).  The input is written to
// a temporary file (the readers stream from a path) and read to the end.
// The low bit of the input's last byte selects salvage mode (the byte is
// still part of the file), so resynchronisation is fuzzed too.
// Invariants: no crash, no out-of-bounds access (ASan), no unbounded
// allocation (libFuzzer's -rss_limit_mb / -malloc_limit_mb), termination;
// every item returned is a record valid under its oid; every skipped range
// and lost version lies inside the file, in order, and the skipped ranges
// do not overlap.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "engine/record.h"
#include "migrate/source.h"

namespace {

std::string TempPath() {
  static std::string path;
  if (path.empty()) {
    const char* base = getenv("TMPDIR");
    path = std::string(base ? base : "/tmp") + "/durus-fuzz-source-" + std::to_string(getpid());
  }
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = TempPath();
  FILE* f = fopen(path.c_str(), "wb");
  if (f == nullptr) abort();
  if (size > 0 && fwrite(data, 1, size, f) != size) abort();
  fclose(f);
  durus::migrate::SourceOptions options;
  options.strict = (size % 2) == 1;  // both modes
  options.salvage = size > 0 && (data[size - 1] & 1) != 0;
  std::unique_ptr<durus::migrate::RecordSource> src;
  durus::Status st;
#if FUZZ_SOURCE_FORMAT == 0
  st = durus::migrate::OpenShelfSource(path, options, &src);
#elif FUZZ_SOURCE_FORMAT == 1
  st = durus::migrate::OpenDfs20Source(path, options, &src);
#else
  st = durus::migrate::OpenDumpSource(path, options, &src);
#endif
  if (st.ok()) {
    for (size_t n = 0; n < 1000000; ++n) {
      durus::migrate::SourceItem item;
      bool done = false;
      st = src->Next(&item, &done);
      if (!st.ok() || done) break;
      durus::RecordView v;
      if (!durus::ValidateRecord(item.oid, item.record, &v).ok()) abort();
      if (item.offset > size) abort();
    }
    uint64_t end = 0;
    for (const durus::migrate::SkippedRange& k : src->skipped()) {
      if (!options.salvage) abort();  // only salvage skips
      if (k.offset < end || k.offset + k.length > size) abort();
      end = k.offset + k.length;
    }
    for (const durus::migrate::LostVersion& l : src->lost()) {
      if (l.offset >= size) abort();
    }
  }
  unlink(path.c_str());
  return 0;
}
