#!/usr/bin/env bash
# durus-bdb developer entry point (the README's quick start).
#
#   ./dev.sh serve [serve options]   install what is missing, build, run the
#                                    server on ./durus-data (127.0.0.1:2972)
#   ./dev.sh test [ctest options]    install what is missing, build, run every test:
#                                    the sanitizer stages (ASan+UBSan, TSan,
#                                    libFuzzer: .ci/sanitizers.sh), then the
#                                    test suite; what CI runs (30-40 min)
#   ./dev.sh test-fast [ctest opts]  the test suite only (3-6 min)
#   ./dev.sh sanitize [asan|tsan|fuzz]  the sanitizer stages only
#   ./dev.sh lint                    clang-format and clang's thread-safety
#                                    analysis (.ci/lint.sh; CI runs it first)
#   ./dev.sh build                   install what is missing and build
#
# Packages come from Debian's archive only.  BUILD_DIR (default ./build)
# and BUILD_TYPE (default RelWithDebInfo) may be set in the environment;
# the sanitizer builds go to $BUILD_DIR-asan, -tsan and -fuzz.
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(g++ cmake make libdb5.3++-dev db5.3-util zlib1g-dev libgtest-dev
          libbenchmark-dev pybind11-dev python3-dev python3 libsqlite3-dev
          clang libclang-rt-14-dev clang-format libcli11-dev nlohmann-json3-dev
          python3-venv python3-pip dpkg-dev python3-matplotlib libcpp-httplib-dev chromium
          ninja-build)
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}

install_missing() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "dev.sh: installing ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

build() {
  install_missing
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >/dev/null
  cmake --build "$BUILD_DIR" -j"$(nproc)"
}

# Tests are independent processes (temp homes, free ports): two at a time.
suite() {
  ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 --timeout 600 "$@"
}

sanitizers() {  # asan|tsan|fuzz|all
  SAN_BUILD_PREFIX="$BUILD_DIR" .ci/sanitizers.sh "$@"
}

# `test`: every stage runs, even after one failed; each one's output also
# goes to $BUILD_DIR/dev-test-STAGE.log.  The recap names the stages that
# failed, and the exit status is non-zero if any did.
recap=()
failed=()
recap_line() {
  local out="" x
  for x in "${recap[@]}"; do out+="${out:+ | }$x"; done
  echo "$out"
}
stage() {  # name command...
  local name=$1 t0=$SECONDS rc=0
  shift
  local log="$BUILD_DIR/dev-test-$name.log"
  echo "==== dev.sh test: $name ($(date +%H:%M:%S), load average $(cut -d' ' -f1-3 /proc/loadavg))"
  "$@" 2>&1 | tee "$log" || rc=$?
  local count
  # (A stage without ctest, such as lint, has no such line: grep's status
  # must not end the script under `set -e -o pipefail`.)
  count=$( (grep -ho 'tests failed out of [0-9]*' "$log" || true) | awk '{n += $5} END {print n + 0}')
  recap+=("$name $((SECONDS - t0)) s ($count tests)$([ "$rc" -eq 0 ] || echo ' FAILED')")
  [ "$rc" -eq 0 ] || failed+=("$name")
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  serve)
    build
    exec "$BUILD_DIR/tools/durus-bdb" serve "$@"
    ;;
  test)
    t_start=$SECONDS
    build
    recap+=("build $((SECONDS - t_start)) s")
    mkdir -p "$BUILD_DIR"
    stage lint env BUILD_DIR="$BUILD_DIR" .ci/lint.sh
    for s in asan tsan fuzz; do
      stage "$s" sanitizers "$s"
    done
    echo "==== dev.sh test: sanitizer stages: $(recap_line)"
    # Packaging (pip into a venv, the .deb, cmake --install): a stage of its
    # own, as the first pip install compiles the module again (minutes).
    stage packaging suite -L packaging
    # The test suite last: its closing summary ends the output.
    stage suite suite -LE packaging "$@"
    echo "==== dev.sh test: $(recap_line) | total $((SECONDS - t_start)) s"
    if [ ${#failed[@]} -gt 0 ]; then
      echo "==== dev.sh test: FAILED: ${failed[*]}" >&2
      exit 1
    fi
    ;;
  test-fast)
    build
    suite "$@"
    ;;
  sanitize)
    install_missing
    sanitizers "${1:-all}"
    ;;
  build)
    build
    ;;
  lint)
    build
    BUILD_DIR="$BUILD_DIR" .ci/lint.sh
    ;;
  *)
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
