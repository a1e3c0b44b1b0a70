#!/usr/bin/env bash
# Sanitizer CI (issue 7), run by `./dev.sh test` (and so by .ci/run) before
# the ordinary test run:
#   1. ASan + UBSan (-DDURUS_SANITIZE=address): the C++ unit tests (core, gc,
#      migrate), the server's C++ and Python tests (the server binary is
#      instrumented; the Durus clients are plain Python), the crash loop and
#      the fault tests;
#   2. TSan (-DDURUS_SANITIZE=thread): the concurrency tests of the storage
#      and of the server;
#   3. fuzz: a clang build with -DDURUS_FUZZ=ON (libFuzzer + ASan) running each
#      fuzz target for -runs=$FUZZ_RUNS (default 200000, 5-25 s a target;
#      needs the Debian packages clang and libclang-rt-14-dev).
# The Python extension module is not run under a sanitizer (it would need the
# runtime preloaded into the interpreter).  Any sanitizer report fails the
# test that produced it (halt_on_error / abort_on_error); a failed build or
# test fails the script.  Only the targets the selected tests need are built
# (no Python module, no benchmarks).
#
#   .ci/sanitizers.sh [asan|tsan|fuzz|all]     (default all)
# SAN_BUILD_PREFIX (default ./build) names the build directories:
# ${SAN_BUILD_PREFIX}-asan, -tsan, -fuzz.  JOBS (default 2) for the builds.
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
prefix=${SAN_BUILD_PREFIX:-${BUILD_ROOT:-.}/build}
jobs=${JOBS:-2}

# One line per step on stdout at the end of each stage, e.g.
#   sanitizers: asan build 1234 s, tests 456 s
now() { date +%s; }

# Ninja when it is there (dev.sh installs ninja-build) for a new tree: the
# Makefile generator's top-level Makefile is .NOTPARALLEL, so
# `cmake --build --target a b c ...` builds the targets one after another,
# each test target a single file: one core busy for most of a stage (the
# ASan build took 30+ minutes that way).  An existing tree keeps its
# generator (CMake refuses to switch).
generator_args() {  # dir
  if [[ ! -f $1/CMakeCache.txt ]] && command -v ninja >/dev/null; then
    echo "-G Ninja"
  fi
}

# The ASan and TSan trees compile at -O1 -g1 (RelWithDebInfo's -O2 -g
# otherwise): half the compile time (bdb/storage_commit.cc under
# ASan+UBSan: 7.0 s of CPU vs 15.8 s), still with line numbers in every
# report; -O1 is what the sanitizers' own documentation recommends.
san_opt=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG")

# Targets the selected tests need (a subset of `all`: no Python module).
targets=(durus-bdb)
for t in record_test contract_test refcount_test model_test crash_test durability_test \
         cli_test concurrency_test server_test access_test invalidation_table_test gc_collect_test gc_trace_test gc_verify_test \
         gc_crash_test gc_unit_test migrate_test migrate_corrupt_test check_home \
         durus_crash_loop durus_check_store fault_test durus_fault_server backup_join_test \
         salvage_test damage_test disk_test pitr_test gc_verify_damage_test \
         corruption_matrix_test util_test sd_notify_test home_options_test http_monitor_test \
         clean_open_test gc_footprint_test repl_journal_test repl_info_test repl_follower_test repl_ops_test repl_lockout_test; do
  targets+=("$t")
done
existing_targets() {  # dir -> the targets above that this tree defines
  local dir=$1
  if [[ -f $dir/build.ninja ]]; then
    ninja -C "$dir" -t targets all 2>/dev/null | sed -n 's/^\([^:/]*\): phony$/\1/p'
  else
    cmake --build "$dir" --target help 2>/dev/null | sed -n 's/^\.\.\. \([^ ]*\).*/\1/p'
  fi | grep -Fx -f <(printf '%s\n' "${targets[@]}") || true
}

if [[ $which == asan || $which == all ]]; then
  dir="$prefix-asan"
  t0=$(now)
  cmake -S . -B "$dir" $(generator_args "$dir") -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DDURUS_SANITIZE=address -DDURUS_BUILD_BENCH=OFF "${san_opt[@]}" ${DURUS_CMAKE_ARGS:-} >/dev/null
  mapfile -t have < <(existing_targets "$dir")
  cmake --build "$dir" -j"$jobs" --target "${have[@]}"
  t1=$(now)
  export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=0
  # Berkeley DB's own allocations left behind by a panicked environment
  # (.ci/lsan.supp says why).
  export LSAN_OPTIONS=suppressions=$PWD/.ci/lsan.supp
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # Everything but the Python-module tests (verify_python too), the memory
  # and contention figures of the server (ASan's allocator and speed are
  # not the product's), the corruption matrix (built, so that ctest finds
  # it, but 64 forked cases take minutes here), the fuzz replays (run in the
  # ordinary build), the stress tests and the kill loops (crash loops, the
  # core and gc crash tests, the interrupted migration, the fault soak):
  # those test durability, run in the ordinary build, and take 10x longer
  # here (about 600 s of the 1,260 s measured under ASan); the packaging
  # tests (pip, cpack, cmake --install: they check files, not memory).
  ctest --test-dir "$dir" -j2 --timeout 600 --output-on-failure \
       -E '^(packaging_|python_|gc_python|verify_python|migrate_durus|fuzz_|stress_|crash_loop_|crash_server|server_test_hostile_memory|server_test_contention)|GcCrash\.|CrashTest\.|MigrateInterrupted|RandomFaults\.|CorruptionMatrix\.'
  echo "sanitizers: asan build $((t1 - t0)) s, tests $(($(now) - t1)) s (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
fi

if [[ $which == tsan || $which == all ]]; then
  dir="$prefix-tsan"
  t0=$(now)
  cmake -S . -B "$dir" $(generator_args "$dir") -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DDURUS_SANITIZE=thread -DDURUS_BUILD_BENCH=OFF "${san_opt[@]}" ${DURUS_CMAKE_ARGS:-} >/dev/null
  cmake --build "$dir" -j"$jobs" --target concurrency_test server_test invalidation_table_test durus-bdb
  t1=$(now)
  tsan_base="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/.ci/tsan-suppressions.txt"
  export TSAN_OPTIONS="$tsan_base"
  # The storage's concurrency test, the in-process server tests (parallel
  # loads, commits, the collector) and the Python concurrency/isolation
  # test, with TSan's lock-order (deadlock) detector ...
  ctest --test-dir "$dir" -j2 --timeout 600 --output-on-failure \
       -R '^(Concurrency|Server|InvalidationTable|server_test_concurrency)'
  # ... and the replication group tests (repmgr's threads calling our
  # event callback, elections, failover) against the instrumented server
  # binary, without it: in a replication site the detector's graph of
  # Berkeley DB's region mutexes grows until one thread searches it for
  # seconds ("too long mutex cycle found") while every other thread spins
  # on its lock (gdb: __sanitizer::DD::MutexAfterLock); the kill loop's new
  # master then acknowledged nothing for 60 s (2 runs of 12, 2026-12-08).
  # Our own locks' order is checked by the tests above.
  TSAN_OPTIONS="$tsan_base:detect_deadlocks=0" \
  ctest --test-dir "$dir" -j2 --timeout 600 --output-on-failure -R '^repl_test_'
  echo "sanitizers: tsan build $((t1 - t0)) s, tests $(($(now) - t1)) s (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
fi

if [[ $which == fuzz || $which == all ]]; then
  dir="$prefix-fuzz"
  t0=$(now)
  CC=clang CXX=clang++ cmake -S . -B "$dir" $(generator_args "$dir") -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DDURUS_SANITIZE=address -DDURUS_FUZZ=ON -DDURUS_FUZZ_RUNS="${FUZZ_RUNS:-200000}" \
        -DDURUS_BUILD_BENCH=OFF ${DURUS_CMAKE_ARGS:-} >/dev/null
  cmake --build "$dir" -j"$jobs" --target fuzz_record fuzz_protocol fuzz_shelf fuzz_dfs20 fuzz_dump \
    fuzz_salvage fuzz_table_reader
  t1=$(now)
  export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
  export LSAN_OPTIONS=suppressions=$PWD/.ci/lsan.supp
  # Verbose, to a log: libFuzzer's closing line per target (executions) is
  # shown with ctest's results; everything when a target fails.
  log="$dir/fuzz-ctest.log"
  rc=0
  ctest --test-dir "$dir" -j2 --timeout 600 --output-on-failure -V -L fuzz >"$log" 2>&1 || rc=$?
  grep -E 'Done [0-9]+ runs|Test +#|tests passed|tests failed|Total Test' "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -n 300 "$log"
    echo "sanitizers: fuzz tests failed (log: $log)"
    exit "$rc"
  fi
  echo "sanitizers: fuzz build $((t1 - t0)) s, tests $(($(now) - t1)) s (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
fi
