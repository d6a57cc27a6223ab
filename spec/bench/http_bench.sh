#!/usr/bin/env bash
# spec/bench/http_bench.sh - Crater beside its peers, one run, ratios at the end.
#
#   spec/bench/http_bench.sh              # build release, bench crater + peers, summarize
#   spec/bench/http_bench.sh --install    # first install the peers (../shared/bench/install.sh, root)
#   spec/bench/http_bench.sh --no-build   # use the existing build-release/crater
#   PEERS= spec/bench/http_bench.sh       # Crater alone
#   ROUNDS=1 DURATION=5s PEERS="nginx-lua go" spec/bench/http_bench.sh
#
# Every server runs pinned to CPU 0, wrk (-t1 -c64) pinned to CPU 1, all on 127.0.0.1
# (that is ../shared/bench/run.sh; this script only drives it). Two passes: the main
# pass (plaintext, json, users, items, items_invalid) and the pipelined pass
# (plaintext, HTTP/1.1 pipelining depth 16). Raw rows go to $RESULTS/raw_main.tsv and
# $RESULTS/raw_pipeline.tsv; the summary (markdown) is printed and saved as
# $RESULTS/summary.md.
#
# Env knobs:
#   ROUNDS    rounds per anchor (default 3; the summary takes the median)
#   DURATION  wrk duration per measurement (default 8s; WARMUP, default 2s, runs before it)
#   PEERS     peers from ../shared/bench to compare with
#             (default "nginx-lua go node-http fastify fastapi"; empty = Crater alone)
#   RESULTS   output directory (default /tmp/crater-bench-YYYYmmdd-HHMMSS; must not
#             already hold raw_*.tsv, since run.sh appends to them)
#   BENCH_DIR where the peers live (default ../shared/bench, relative to the repo root)
#   CONNS, WARMUP are passed through to run.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"

INSTALL=0
BUILD=1
for arg in "$@"; do
  case "$arg" in
    --install) INSTALL=1 ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "http_bench.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

BENCH_DIR="${BENCH_DIR:-../shared/bench}"
export ROUNDS="${ROUNDS:-3}"
export DURATION="${DURATION:-8s}"
PEERS="${PEERS-nginx-lua go node-http fastify fastapi}"
export RESULTS="${RESULTS:-/tmp/crater-bench-$(date +%Y%m%d-%H%M%S)}"
export CRATER_BIN="build-release/crater"
export CRATER_APP="examples/bench/app.lua"
export ANCHORS="crater${PEERS:+ $PEERS}"
ANCHORS="$(echo $ANCHORS)" # squeeze spaces

if [ ! -x "$BENCH_DIR/run.sh" ] && [ ! -f "$BENCH_DIR/run.sh" ]; then
  echo "http_bench.sh: no $BENCH_DIR/run.sh (set BENCH_DIR)" >&2; exit 1
fi
if ls "$RESULTS"/raw_*.tsv >/dev/null 2>&1; then
  echo "http_bench.sh: $RESULTS already holds raw_*.tsv; choose a fresh RESULTS directory" >&2
  exit 1
fi
mkdir -p "$RESULTS"

for tool in wrk taskset curl; do
  command -v "$tool" >/dev/null || { echo "http_bench.sh: '$tool' not found (try --install)" >&2; exit 1; }
done
if [ "$(nproc)" -lt 2 ]; then
  echo "http_bench.sh: needs 2 cores (server on CPU 0, wrk on CPU 1)" >&2; exit 1
fi

if [ "$INSTALL" = 1 ]; then
  echo "== installing peers ($BENCH_DIR/install.sh)"
  bash "$BENCH_DIR/install.sh"
fi

if [ "$BUILD" = 1 ]; then
  echo "== building $CRATER_BIN (Release)"
  cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DCRATER_ASAN=OFF >/dev/null
  cmake --build build-release -j2 --target crater
fi
[ -x "$CRATER_BIN" ] || { echo "http_bench.sh: $CRATER_BIN missing (drop --no-build)" >&2; exit 1; }

{
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty)')"
  echo "command: ROUNDS=$ROUNDS DURATION=$DURATION PEERS=\"$PEERS\" spec/bench/http_bench.sh"
  echo "anchors: $ANCHORS"
  echo "uncommitted: $(git status --short 2>/dev/null | tr '\n' ' ')"
  bash "$BENCH_DIR/versions.sh" 2>/dev/null || true
} > "$RESULTS/env.txt"
cat "$RESULTS/env.txt"

# Interference monitor: once a second, the CPU used by processes that are not this
# script's descendants (the servers, wrk, run.sh) and not kernel threads, plus steal
# time, to $RESULTS/foreign_cpu.tsv. The summarizer drops measurements taken while
# other work ran on the machine (on a shared 2-core box, a compile or test run next to
# the server changes req/s by 2-3x).
/usr/bin/python3 spec/bench/foreign_cpu.py "$$" "$RESULTS/foreign_cpu.tsv" &
MONITOR_PID=$!
trap 'kill "$MONITOR_PID" 2>/dev/null || true' EXIT

echo "== main pass: $ANCHORS (rounds=$ROUNDS, duration=$DURATION) -> $RESULTS"
bash "$BENCH_DIR/run.sh" main
echo "== pipelined pass: $ANCHORS"
bash "$BENCH_DIR/run.sh" pipeline

echo "== summary ($RESULTS/summary.md)"
/usr/bin/python3 spec/bench/summarize.py --results "$RESULTS" --duration "$DURATION" \
  --anchors "$ANCHORS" | tee "$RESULTS/summary.md"
