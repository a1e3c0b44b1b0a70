#!/usr/bin/env bash
# durus-bdb developer entry point (the README's quick start).
#
#   ./dev.sh serve [serve options]   install what is missing, build, run the
#                                    server on ./durus-data (127.0.0.1:2972)
#   ./dev.sh test                    install what is missing, build, run every test
#   ./dev.sh build                   install what is missing and build
#
# Packages come from Debian's archive only.  BUILD_DIR (default ./build)
# and BUILD_TYPE (default RelWithDebInfo) may be set in the environment.
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(g++ cmake make libdb5.3++-dev db5.3-util zlib1g-dev libgtest-dev
          libbenchmark-dev pybind11-dev python3-dev python3 libsqlite3-dev)
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

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  serve)
    build
    exec "$BUILD_DIR/tools/durus-bdb" serve "$@"
    ;;
  test)
    build
    # Tests are independent processes (temp homes, free ports): two at a time.
    exec ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 --timeout 600 "$@"
    ;;
  build)
    build
    ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
