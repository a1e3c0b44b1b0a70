// The benchmarks' command line (db_bench style): `--name=value` flags,
// `--keep` and `--help`, shared by core_bench and gc_bench.
#ifndef DURUS_BENCH_BENCH_FLAGS_H_
#define DURUS_BENCH_BENCH_FLAGS_H_

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

namespace durus::bench {

// Calls on_flag(name, value) for every `--name=value`; sets *keep for
// `--keep`; prints `usage` and exits 0 for --help.  An argument of another
// form, or on_flag returning false (after printing why), is a usage error:
// false, with the usage on stderr.
inline bool ParseBenchFlags(
    int argc, char** argv, const char* usage, bool* keep,
    const std::function<bool(const std::string& name, const std::string& value)>& on_flag) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      fputs(usage, stdout);
      exit(0);
    }
    if (a == "--keep") {
      *keep = true;
      continue;
    }
    size_t eq = a.find('=');
    if (a.rfind("--", 0) != 0 || eq == std::string::npos) {
      fprintf(stderr, "bad argument %s\n%s", a.c_str(), usage);
      return false;
    }
    if (!on_flag(a.substr(2, eq - 2), a.substr(eq + 1))) {
      fputs(usage, stderr);
      return false;
    }
  }
  return true;
}

}  // namespace durus::bench

#endif  // DURUS_BENCH_BENCH_FLAGS_H_
