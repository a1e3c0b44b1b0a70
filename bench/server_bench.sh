#!/bin/bash
# Server benchmark: durus-bdb serve vs Durus's own StorageServer on
# FileStorage, measured in the same run by the same C++ load generator
# (bench/server_loadgen.cc), with ratios.
#
#   bench/server_bench.sh [--csv FILE] [BUILD_DIR]        (default: build)
#   --csv FILE: also append the ratios to FILE (bench/README.md "Pictures";
#        bench/plot.py draws them)
#   env: SECONDS_PER_RUN (3), REPEAT (2: best of), OBJECTS (20000),
#        SETTLE (2.5: seconds to wait after populating), DURUS_SOURCE_DIR,
#        PYTHON, HOT_CLIENTS (3), HOT_SECONDS (3), ONLY=hot (just the
#        hot-object workload)
#
# Hot object: HOT_CLIENTS real Durus client processes
# (tests/server/counter_client.py) increment one shared counter for
# HOT_SECONDS, retrying on ConflictError as Durus applications do; printed:
# commits/s and conflicts per commit on each server.
#
# Both servers log at warning level (Durus's logs every commit at INFO).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CSV=
BUILD=$HERE/../build
while [ $# -gt 0 ]; do
  case $1 in
    --csv) [ $# -ge 2 ] || { echo "--csv needs a FILE" >&2; exit 2; }; CSV=$2; shift 2 ;;
    --csv=*) CSV=${1#--csv=}; shift ;;
    -*) echo "unknown option $1 (usage: $0 [--csv FILE] [BUILD_DIR])" >&2; exit 2 ;;
    *) BUILD=$1; shift ;;
  esac
done
# Resolved now: the file is written after the run, from another directory.
[ -z "$CSV" ] || CSV=$(realpath -m "$CSV")
LOADGEN=$BUILD/bench/server_loadgen
DURUS_BDB=$BUILD/tools/durus-bdb
DURUS_SOURCE_DIR=${DURUS_SOURCE_DIR:-$HERE/../../shared/durus}
PYTHON=${PYTHON:-/usr/bin/python3}
SECS=${SECONDS_PER_RUN:-3}
REPEAT=${REPEAT:-2}
OBJECTS=${OBJECTS:-20000}
SETTLE=${SETTLE:-2.5}
for f in $([ "${ONLY:-}" = hot ] || echo "$LOADGEN") "$DURUS_BDB"; do
  [ -x "$f" ] || { echo "missing $f (build the server_loadgen and durus-bdb targets)" >&2; exit 1; }
done
[ -d "$DURUS_SOURCE_DIR/durus" ] || { echo "Durus not found at $DURUS_SOURCE_DIR" >&2; exit 1; }

TMP=$(mktemp -d /tmp/durus-server-bench-XXXXXX)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
RESULTS=$TMP/results.txt
: > "$RESULTS"

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 200); do
    "$PYTHON" -c "import socket,sys; socket.create_connection(('127.0.0.1',$1)).close()" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2; exit 1
}
stop_server() {
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
}

# The hot-object workload runs on a store of its own (suffix "-hot"): Durus
# clients cannot unpickle the load generator's root (class bench.Root).
start_durus() {  # [suffix]
  PORT=$(free_port)
  PYTHONPATH=$DURUS_SOURCE_DIR "$PYTHON" -m durus -s --file "$TMP/durus${1:-}.fs" --port "$PORT" \
    --logginglevel 30 2>"$TMP/durus.log" &
  SERVER_PID=$!
  wait_port "$PORT"
}
start_ours() {  # $1 = durability [$2 = suffix]
  PORT=$(free_port)
  "$DURUS_BDB" serve --home "$TMP/home-$1${2:-}" --port "$PORT" --durability "$1" --log-level warn \
    2>"$TMP/ours-$1.log" &
  SERVER_PID=$!
  wait_port "$PORT"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }  # utime + stime
run() {  # label mode clients [extra...]: best rate of REPEAT runs, and the
         # server's CPU time per operation in that run
  local label=$1 mode=$2 clients=$3; shift 3
  local line r rate=0 us=0 t0 t1 ops
  local hz; hz=$(getconf CLK_TCK)
  for _ in $(seq "$REPEAT"); do
    t0=$(cpu_ticks)
    line=$("$LOADGEN" --port "$PORT" --mode "$mode" --clients "$clients" --seconds "$SECS" "$@" | grep '^RESULT')
    t1=$(cpu_ticks)
    r=${line##*rate=}
    ops=$(echo "$line" | sed 's/.*ops=\([0-9]*\).*/\1/')
    if "$PYTHON" -c "import sys; sys.exit(0 if $r > $rate else 1)"; then
      rate=$r
      us=$("$PYTHON" -c "print(round(($t1 - $t0) * 1e6 / $hz / max($ops, 1), 1))")
    fi
  done
  printf '%-8s %-7s %2s clients: %10.1f /s   server CPU %7.1f us/op\n' "$label" "$mode" "$clients" "$rate" "$us"
  echo "$label $mode $clients $rate $us" >> "$RESULTS"
}

populate() {
  "$LOADGEN" --port "$PORT" --mode populate --objects "$OBJECTS" > /dev/null
  # Let the storage's background work after the bulk populate (durus-bdb
  # checkpoints a second after commits, and once more a second later) end
  # before measuring, so that it is not charged to the first reads.
  sleep "$SETTLE"
}

suite() {  # label
  populate
  run "$1" load 1
  run "$1" load 8
  run "$1" bulk 1 --batch 100
  run "$1" bulk 8 --batch 100
  run "$1" commit 1
  run "$1" commit 4
  run "$1" commit 8
}

COUNTER=$HERE/../tests/server/counter_client.py
hot() {  # label: N clients on one hot object
  local n=${HOT_CLIENTS:-3} secs=${HOT_SECONDS:-3} start pids=() i
  PYTHONPATH=$DURUS_SOURCE_DIR "$PYTHON" "$COUNTER" setup "127.0.0.1:$PORT"
  start=$("$PYTHON" -c 'import time; print(time.time() + 1.5)')
  for i in $(seq "$n"); do
    PYTHONPATH=$DURUS_SOURCE_DIR "$PYTHON" "$COUNTER" run "127.0.0.1:$PORT" "-$secs" "$start" \
      > "$TMP/hot-$1-$i.json" &
    pids+=($!)
  done
  wait "${pids[@]}"
  cat "$TMP"/hot-"$1"-*.json | "$PYTHON" -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin if l.strip()]
commits = sum(r["commits"] for r in rs)
conflicts = sum(r["read_conflicts"] + r["write_conflicts"] for r in rs)
secs = max(r["seconds"] for r in rs)
print("%-8s hot     %2d clients: %10.1f commits/s   %.2f conflicts per commit (%d read, %d write), worst %d retries"
      % (sys.argv[1], len(rs), commits / secs, conflicts / max(commits, 1),
         sum(r["read_conflicts"] for r in rs), sum(r["write_conflicts"] for r in rs),
         max(r["worst"] for r in rs)))' "$1"
}

# The loopback round-trip floor (../shared/tools/echo_floor.cc: a
# thread-per-connection echo server answering 9-byte requests with 312
# bytes, no storage): the fastest any server can answer a load here.
ECHO_FLOOR_SRC=${ECHO_FLOOR_SRC:-$HERE/../../shared/tools/echo_floor.cc}
floor() {  # clients
  local line
  line=$("$TMP/echo_floor" "$1" "$SECS")
  echo "floor    load    $1 clients: ${line##*: }"
  echo "floor load $1 $(echo "$line" | sed 's/.*: \([0-9.]*\) round.*/\1/') 0" >> "$RESULTS"
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (other processes skew the figures)"
if [ "${ONLY:-}" = hot ]; then
  start_durus -hot; hot durus; stop_server
  start_ours write_nosync -hot; hot nosync; stop_server
  start_ours sync -hot; hot sync; stop_server
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi
if [ -f "$ECHO_FLOOR_SRC" ] && g++ -O2 -pthread "$ECHO_FLOOR_SRC" -o "$TMP/echo_floor"; then
  echo "== loopback round-trip floor (echo_floor.cc) =="
  floor 1
  floor 8
else
  echo "(no loopback floor: $ECHO_FLOOR_SRC missing or not compiled)"
fi
echo "== Durus StorageServer (FileStorage, no fsync) =="
start_durus; suite durus; stop_server
start_durus -hot; hot durus; stop_server
echo "== durus-bdb serve, write_nosync =="
start_ours write_nosync; suite nosync; stop_server
start_ours write_nosync -hot; hot nosync; stop_server
echo "== durus-bdb serve, sync (group commit) =="
start_ours sync
populate
run sync commit 1
run sync commit 4
run sync commit 8
stop_server
start_ours sync -hot; hot sync; stop_server
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PYTHON" - "$RESULTS" "$CSV" <<'PY'
import csv, datetime, os, sys
r = {}
cpu = {}
for line in open(sys.argv[1]):
    label, mode, clients, rate, us = line.split()
    r[(label, mode, int(clients))] = float(rate)
    cpu[(label, mode, int(clients))] = float(us)
def ratio(a, b):
    return r[a] / r[b] if r.get(b) else float('nan')
def cpu_ratio(a, b):  # peer's server CPU per op / ours
    return cpu[b] / cpu[a] if cpu.get(a) and cpu.get(b) else float('nan')
# (printed name, ours, peer, target, CSV workload, durability, unit)
rows = [
    ("random loads, 1 client", ('nosync', 'load', 1), ('durus', 'load', 1), 2,
     'load_1_client', 'write_nosync', 'loads/s'),
    ("random loads, 8 clients aggregate", ('nosync', 'load', 8), ('durus', 'load', 8), 5,
     'load_8_clients', 'write_nosync', 'loads/s'),
    ("bulk loads of 100, 1 client", ('nosync', 'bulk', 1), ('durus', 'bulk', 1), 3,
     'bulk100_1_client', 'write_nosync', 'bulks/s'),
    ("bulk loads of 100, 8 clients", ('nosync', 'bulk', 8), ('durus', 'bulk', 8), None,
     'bulk100_8_clients', 'write_nosync', 'bulks/s'),
    ("commits 10x300B, 4 clients, write_nosync", ('nosync', 'commit', 4), ('durus', 'commit', 4), 3,
     'commit_4_clients', 'write_nosync', 'commits/s'),
    ("commits 10x300B, 4 clients, sync", ('sync', 'commit', 4), ('durus', 'commit', 4), None,
     'commit_4_clients', 'sync', 'commits/s'),
    ("group commit: sync 8 clients vs sync 1", ('sync', 'commit', 8), ('sync', 'commit', 1), 3,
     'group_commit_8_vs_1', 'sync', 'commits/s'),
    # The physical floor: a load is one round trip, so ours / floor <= 1.
    ("loads vs loopback floor, 1 client", ('nosync', 'load', 1), ('floor', 'load', 1), None,
     'load_1_client', 'write_nosync', 'loads/s'),
    ("loads vs loopback floor, 8 clients", ('nosync', 'load', 8), ('floor', 'load', 8), None,
     'load_8_clients', 'write_nosync', 'loads/s'),
    ("Durus's loads vs loopback floor, 1 client", ('durus', 'load', 1), ('floor', 'load', 1), None,
     'durus_load_1_client', 'none', 'loads/s'),
    ("Durus's loads vs loopback floor, 8 clients", ('durus', 'load', 8), ('floor', 'load', 8), None,
     'durus_load_8_clients', 'none', 'loads/s'),
]
print()
print("%-45s %8s %8s      %s" % ("ratio (durus-bdb / peer)", "value", "target",
                                  "server CPU per op, peer/ours"))
for name, a, b, target, _, _, _ in rows:
    v = ratio(a, b)
    t = (">= %g" % target) if target else "report"
    ok = "" if target is None else ("  ok   " if v >= target else "  SHORT")
    if target is None:
        ok = "       "
    print("%-45s %8.2f %8s%s %8.2f" % (name, v, t, ok, cpu_ratio(a, b)))
if sys.argv[2]:
    # The schema of every bench/results/*.csv (bench/plot.py).
    new = not os.path.exists(sys.argv[2]) or os.path.getsize(sys.argv[2]) == 0
    with open(sys.argv[2], 'a', newline='') as f:
        w = csv.writer(f)
        if new:
            w.writerow(['date', 'source', 'workload', 'durability', 'unit', 'ours', 'peer',
                        'peer_name', 'ratio', 'cpu_ratio'])
        today = datetime.datetime.utcnow().strftime('%Y-%m-%d')
        for _, a, b, _, workload, durability, unit in rows:
            if a not in r or b not in r:
                continue
            peer_name = {'durus': 'durus_server', 'floor': 'loopback_floor'}.get(
                b[0], 'ours_sync_1_client')
            w.writerow([today, 'server_bench.sh', workload, durability, unit, r[a], r[b],
                        peer_name, round(ratio(a, b), 4), round(cpu_ratio(a, b), 4)])
    print("ratios appended to", sys.argv[2])
PY
