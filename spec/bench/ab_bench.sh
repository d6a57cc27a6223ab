#!/usr/bin/env bash
# spec/bench/ab_bench.sh - two builds of Crater, one run: CPU per request after / before.
#
#   spec/bench/ab_bench.sh BEFORE_REF              # BEFORE_REF against the working tree
#   spec/bench/ab_bench.sh BEFORE_REF AFTER_REF    # two commits
#   ROUNDS=2 DURATION=3s spec/bench/ab_bench.sh HEAD~1        # quick look
#   INSTR=1 spec/bench/ab_bench.sh main            # instructions per request (callgrind)
#   spec/bench/ab_bench.sh --keep main             # keep main's worktree + build for next time
#   spec/bench/ab_bench.sh --no-build main         # reuse them and build-release/crater
#
# Builds a Release crater (-DCMAKE_BUILD_TYPE=Release -DCRATER_ASAN=OFF, target crater)
# for each side: a git ref is checked out with `git worktree add --detach` under
# $AB_TREES (default /tmp/crater-ab-trees) and built there, in build-release/; without
# AFTER_REF the after side is this working tree, uncommitted changes included, built in
# build-release/ (as http_bench.sh). Each binary runs from its own tree, loads that
# tree's Lua files and serves that tree's $APP, both by the same relative paths
# (CRATER_LUA_PATH=lua, $APP; checked before measuring): the paths are strings the Lua
# side sees (chunk names), and with different ones the same code can run measurably
# differently (see spec/bench/README.md). A worktree this run makes is removed at the
# end unless --keep; one left by --keep is reused (and left) by later runs, which is
# what --no-build needs.
#
# Then, interleaved (round 1 before, round 1 after, round 2 after, round 2 before, ...:
# ORDER=abba, the default, so slow drift of the machine hits both sides equally and
# neither side always goes first; ORDER=ab alternates plainly), each side through
# ../shared/bench/run.sh's crater entry (server on CPU 0, wrk -t1 -c64 on CPU 1): the
# main pass (plaintext, json, users, items, items_invalid) and the pipelined pass
# (plaintext, depth 16), as http_bench.sh. The summary gives per endpoint the median
# req/s and server CPU per request of each side, the ratio after / before and a verdict
# (within THRESHOLD % or not); it is printed and saved as $RESULTS/summary.md.
#
# INSTR=1 measures instead instructions per request under valgrind --tool=callgrind
# (and syscalls per request under strace -c when strace is there): per endpoint and
# side, a fresh server gets INSTR_WARMUP requests, another one INSTR_WARMUP +
# INSTR_COUNT over one keep-alive connection (spec/bench/fixed_count.py); the
# difference of their totals divided by INSTR_COUNT is the steady-state cost of one
# request, startup, warm-up (JIT compilation) and shutdown cancelled out. LuaJIT's
# random seed is fixed (fixed_seed.c) to each of INSTR_SEEDS in turn, the same seeds
# for both sides, and the summary takes the mean over the seeds: with one seed the
# counts repeat to ~0.01% and noise on the machine does not change them, but which
# seed a run gets can move an endpoint by ~5% (see spec/bench/README.md).
#
# Env knobs:
#   ROUNDS     rounds per side (default 5)
#   DURATION   wrk -d per measurement (default 5s; WARMUP, default 2s, runs before it)
#   RESULTS    output directory (default /tmp/crater-ab-YYYYmmdd-HHMMSS; must be new or empty)
#   THRESHOLD  verdict threshold in % (default 3)
#   ORDER      abba (default) or ab
#   APP        the app each side serves, relative to its tree (default examples/bench/app.lua)
#   BENCH_DIR  where run.sh lives (default ../shared/bench, relative to the repo root)
#   AB_TREES   where ref worktrees go (default /tmp/crater-ab-trees)
#   SEED       a number: both sides' servers get LuaJIT seed SEED (fixed_seed.c) instead
#              of a random one per start (default: random, as in production)
#   INSTR      1: instructions per request instead of wrk (INSTR_WARMUP 2000,
#              INSTR_COUNT 20000, INSTR_SEEDS "1 2 3 4 5")
#   CONNS, WARMUP are passed through to run.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
HERE="$ROOT/spec/bench"

BUILD=1
KEEP=0
REFS=()
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    --keep) KEEP=1 ;;
    -h|--help) awk 'NR > 1 && /^set -euo/ {exit} NR > 1' "$0"; exit 0 ;;
    -*) echo "ab_bench.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    *) REFS+=("$arg") ;;
  esac
done
if [ "${#REFS[@]}" -lt 1 ] || [ "${#REFS[@]}" -gt 2 ]; then
  echo "usage: spec/bench/ab_bench.sh [--no-build] [--keep] BEFORE_REF [AFTER_REF]  (try --help)" >&2
  exit 2
fi

INSTR="${INSTR:-0}"
ROUNDS="${ROUNDS:-5}"
SEED="${SEED:-}"
INSTR_SEEDS="${INSTR_SEEDS:-1 2 3 4 5}"
export DURATION="${DURATION:-5s}"
export WARMUP="${WARMUP:-2s}"
export CONNS="${CONNS:-64}"
THRESHOLD="${THRESHOLD:-3}"
ORDER="${ORDER:-abba}"
APP="${APP:-examples/bench/app.lua}"
INSTR_WARMUP="${INSTR_WARMUP:-2000}"
INSTR_COUNT="${INSTR_COUNT:-20000}"
AB_TREES="${AB_TREES:-/tmp/crater-ab-trees}"
RESULTS="${RESULTS:-/tmp/crater-ab-$(date +%Y%m%d-%H%M%S)}"
BENCH_DIR="${BENCH_DIR:-../shared/bench}"
PY=/usr/bin/python3

die() { echo "ab_bench.sh: $*" >&2; exit 1; }

case "$ORDER" in abba|ab) ;; *) die "ORDER must be abba or ab" ;; esac
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
[ -z "$SEED" ] || [[ "$SEED" =~ ^[0-9]+$ ]] || die "SEED must be a number"
for x in $INSTR_SEEDS; do [[ "$x" =~ ^[0-9]+$ ]] || die "INSTR_SEEDS must be numbers"; done
if [ "$INSTR" = 1 ]; then
  for tool in valgrind cc; do command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install -y valgrind gcc)"; done
  if [ $((INSTR_WARMUP % 16)) != 0 ] || [ $((INSTR_COUNT % 16)) != 0 ]; then
    die "INSTR_WARMUP and INSTR_COUNT must be multiples of 16 (the pipelined endpoint)"
  fi
else
  [ -f "$BENCH_DIR/run.sh" ] || die "no $BENCH_DIR/run.sh (set BENCH_DIR)"
  BENCH_DIR="$(cd "$BENCH_DIR" && pwd)"
  for tool in wrk taskset curl; do
    command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install -y wrk util-linux curl)"
  done
  [ "$(nproc)" -ge 2 ] || die "needs 2 cores (server on CPU 0, wrk on CPU 1)"
fi
resolve() { git rev-parse --verify --quiet "$1^{commit}" || die "'$1' is not a commit here"; }
BEFORE_REF="${REFS[0]}"
BEFORE_SHA="$(resolve "$BEFORE_REF")"
AFTER_REF="${REFS[1]:-}"
[ -z "$AFTER_REF" ] || AFTER_SHA="$(resolve "$AFTER_REF")"
if [ -d "$RESULTS" ] && [ -n "$(ls -A "$RESULTS" 2>/dev/null)" ]; then
  die "$RESULTS is not empty; choose a fresh RESULTS directory"
fi
mkdir -p "$RESULTS"
RESULTS="$(cd "$RESULTS" && pwd)"

# --- the two sides ------------------------------------------------------------------
MADE_TREES=()   # worktrees this run made under $AB_TREES; removed at the end unless --keep
KEPT_TREES=()   # worktrees a run with --keep left; reused, and left in place
MONITOR_PID=""
cleanup() {
  [ -z "$MONITOR_PID" ] || kill "$MONITOR_PID" 2>/dev/null || true
  if [ "$KEEP" = 0 ]; then
    for t in "${MADE_TREES[@]}"; do
      git worktree remove --force "$t" 2>/dev/null || echo "ab_bench.sh: could not remove worktree $t" >&2
    done
  fi
  local kept=("${KEPT_TREES[@]}")
  [ "$KEEP" = 0 ] || kept+=("${MADE_TREES[@]}")
  [ "${#kept[@]}" = 0 ] || echo "worktrees kept: ${kept[*]} (remove with: git worktree remove --force DIR)" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# tree_for SIDE REF SHA: a worktree of SHA at $AB_TREES/SIDE-SHA12, made or reused.
tree_for() {
  local side="$1" ref="$2" sha="$3" dir="$AB_TREES/$1-${3:0:12}"
  if [ -d "$dir" ]; then
    [ "$(git -C "$dir" rev-parse HEAD 2>/dev/null)" = "$sha" ] \
      || die "$dir exists but is not a worktree at $ref ($sha); remove it (git worktree remove --force $dir)"
    echo "== $side: reusing worktree $dir ($ref), left from a run with --keep" >&2
    KEPT_TREES+=("$dir")
  else
    [ "$BUILD" = 1 ] || die "--no-build: no kept worktree $dir for $ref (run once with --keep)"
    mkdir -p "$AB_TREES"
    echo "== $side: git worktree add $dir ($ref)" >&2
    git worktree add --detach "$dir" "$sha" >&2
    MADE_TREES+=("$dir")
  fi
  TREE="$dir"
}

build_in() {  # build_in TREE: Release crater in TREE/build-release
  local t="$1"
  if [ "$BUILD" = 1 ]; then
    echo "== building $t/build-release/crater (Release)"
    cmake -S "$t" -B "$t/build-release" -DCMAKE_BUILD_TYPE=Release -DCRATER_ASAN=OFF >/dev/null
    cmake --build "$t/build-release" -j2 --target crater
  fi
  [ -x "$t/build-release/crater" ] || die "$t/build-release/crater missing (drop --no-build)"
}

tree_for before "$BEFORE_REF" "$BEFORE_SHA"; SRC_before="$TREE"
label() { if [[ "$2" == "$1"* ]]; then echo "${2:0:7}"; else echo "$1 (${2:0:7})"; fi; }
LABEL_before="$(label "$BEFORE_REF" "$BEFORE_SHA")"
if [ -n "$AFTER_REF" ]; then
  tree_for after "$AFTER_REF" "$AFTER_SHA"; SRC_after="$TREE"
  LABEL_after="$(label "$AFTER_REF" "$AFTER_SHA")"
else
  SRC_after="$ROOT"
  LABEL_after="working tree ($(git rev-parse --short=7 HEAD)$([ -z "$(git status --porcelain 2>/dev/null)" ] || echo ', with uncommitted changes'))"
fi
# Build one at a time: on 2 cores two builds side by side take as long and add noise.
build_in "$SRC_before"
build_in "$SRC_after"
BIN_before="$SRC_before/build-release/crater"
BIN_after="$SRC_after/build-release/crater"
for s in before after; do
  v="SRC_$s"; [ -f "${!v}/$APP" ] || die "$s: no ${!v}/$APP (set APP)"
done

# Each binary must load its own tree's lua/: crater test prints where crater.app came
# from, run as the servers will be (from the tree, CRATER_LUA_PATH=lua). A ref older
# than CRATER_LUA_PATH loads the directory built in, which must be its tree's too.
cat > "$RESULTS/luadir_probe.lua" <<'EOF'
print("CRATER_LUA_SOURCE " .. debug.getinfo(require("crater.app").describe, "S").source)
EOF
for s in before after; do
  src="SRC_$s"; bin="BIN_$s"
  got="$(cd "${!src}" && CRATER_LUA_PATH=lua "${!bin}" test "$RESULTS/luadir_probe.lua" 2>&1 \
         | sed -n 's/^CRATER_LUA_SOURCE @//p' | head -1)"
  case "$got" in
    lua/crater/app.lua) ;;
    "${!src}/lua/crater/app.lua") echo "== $s: this crater ignores CRATER_LUA_PATH; it loads ${!src}/lua" ;;
    *) die "$s: ${!bin} loads crater.app from '${got:-?}', not ${!src}/lua/crater/app.lua" ;;
  esac
  echo "== $s: ${!bin} in ${!src}: lua/, $APP"
done

{
  echo "before: $LABEL_before  tree $SRC_before"
  echo "after:  $LABEL_after  tree $SRC_after"
  if [ "$INSTR" = 1 ]; then
    echo "command: INSTR=1 INSTR_SEEDS=\"$INSTR_SEEDS\" INSTR_WARMUP=$INSTR_WARMUP INSTR_COUNT=$INSTR_COUNT spec/bench/ab_bench.sh ${REFS[*]}"
  else
    echo "command: ROUNDS=$ROUNDS DURATION=$DURATION ORDER=$ORDER${SEED:+ SEED=$SEED} spec/bench/ab_bench.sh ${REFS[*]}"
  fi
  echo "uncommitted (after tree): $(git -C "$SRC_after" status --short 2>/dev/null | tr '\n' ' ')"
  echo "date: $(date -u +%FT%TZ)"
  echo "machine: $(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p'), $(uname -sr)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "luajit lib: $(dpkg-query -W -f='${Package} ${Version} ' libluajit2-5.1-2 libluajit-5.1-2 2>/dev/null || true)"
  if [ "$INSTR" = 1 ]; then
    echo "valgrind: $(valgrind --version); LuaJIT seeds: $INSTR_SEEDS"
  else
    echo "wrk: $(wrk -v 2>&1 | head -1 | cut -c1-30)"
    echo "LuaJIT seed: ${SEED:-random (a new one per server start)}"
  fi
} > "$RESULTS/env.txt"
cat "$RESULTS/env.txt"

# order_of ROUND: the two sides in the order they run in that round
order_of() {
  if [ "$ORDER" = abba ] && [ $(($1 % 2)) = 0 ]; then echo "after before"; else echo "before after"; fi
}

# --- wrk mode -----------------------------------------------------------------------
run_side() {  # run_side SIDE ROUND: run.sh main + pipeline for one side, rows merged
  local side="$1" r="$2" src="SRC_$1" mode
  local sub="$RESULTS/runs/r$r-$side"
  mkdir -p "$sub"
  echo "== round $r: $side ($(eval echo "\$LABEL_$side"))"
  for mode in main pipeline; do
    (cd "${!src}" && RESULTS="$sub" ROUNDS=1 ANCHORS=crater CRATER_BIN="${SERVE_BIN[$side]}" \
       CRATER_APP="$APP" CRATER_LUA_PATH=lua bash "$BENCH_DIR/run.sh" "$mode") || true
    [ -f "$sub/raw_$mode.tsv" ] || continue
    [ -f "$RESULTS/raw_$mode.tsv" ] || head -1 "$sub/raw_$mode.tsv" > "$RESULTS/raw_$mode.tsv"
    tail -n +2 "$sub/raw_$mode.tsv" | awk -v r="$r" -v s="$side" 'BEGIN{FS=OFS="\t"} {$1=r; $2=s; print}' \
      >> "$RESULTS/raw_$mode.tsv"
    # run.sh's log lines name the anchor and round; the summary matches them with
    # foreign_cpu.tsv to find the disturbed rounds.
    sed -E "s/^(\[[0-9:]+\]) crater( +)/\1 $side\2/; s/ round 1:/ round $r:/" "$sub/run_$mode.log" \
      >> "$RESULTS/run_$mode.log"
  done
  if [ "$r" = 1 ] && [ -f "$sub/checks.log" ]; then
    sed "s/\tcrater\t/\t$side\t/" "$sub/checks.log" >> "$RESULTS/checks.log"
  fi
}

# --- INSTR mode ---------------------------------------------------------------------
SERVER_PID=""
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 600); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# wait_port LOG: the port from crater's "serving APP on http://HOST:PORT" line
wait_port() {
  local log="$1" i port
  for i in $(seq 1 600); do
    port="$(sed -nE 's|.*serving .* on http://[^ ]*:([0-9]+).*|\1|p' "$log" | head -1)"
    [ -n "$port" ] && { echo "$port"; return 0; }
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}

counted_fail() {  # counted_fail TRACER MESSAGE: stop what counted started, say why
  stop_server
  if [ -n "$1" ]; then kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi
  echo "ab_bench.sh: $2" >&2
}

# counted SIDE ENDPOINT N TOOL OUT [SEED]: serve, send N requests, stop; prints the
# total (callgrind: Ir; strace: syscalls) of the server's whole life.
counted() {
  local side="$1" ep="$2" n="$3" tool="$4" out="$5" seed="${6:-1}" src="SRC_$1" bin="BIN_$1" port
  local log="$out.log" tracer=""
  : > "$log"
  cd "${!src}"
  if [ "$tool" = callgrind ]; then
    CRATER_BENCH_SEED="$seed" LD_PRELOAD="$RESULTS/fixed_seed.so" CRATER_LUA_PATH=lua \
      valgrind --tool=callgrind --callgrind-out-file="$out" "${!bin}" --port 0 "$APP" >>"$log" 2>&1 &
    SERVER_PID=$!
  else
    CRATER_LUA_PATH=lua strace -f -c -o "$out" "${!bin}" --port 0 "$APP" >>"$log" 2>&1 &
    local i
    tracer=$!
    SERVER_PID=""
    # strace forks short-lived children of its own at start (probing ptrace): wait for
    # the one that has become crater
    for i in $(seq 1 200); do
      SERVER_PID="$(pgrep -x -P "$tracer" crater | head -1)"; [ -n "$SERVER_PID" ] && break; sleep 0.05
    done
    [ -n "$SERVER_PID" ] || { cd "$ROOT"; counted_fail "$tracer" "strace did not start crater (see $log)"; return 1; }
  fi
  cd "$ROOT"
  if ! port="$(wait_port "$log")"; then
    counted_fail "$tracer" "$side did not start under $tool (see $log)"; return 1
  fi
  if [ "$n" -gt 0 ] && ! "$PY" "$HERE/fixed_count.py" --port "$port" --endpoint "$ep" --count "$n" >/dev/null 2>>"$log"; then
    counted_fail "$tracer" "$side $ep: the client failed (see $log)"; return 1
  fi
  stop_server
  [ "$tool" = callgrind ] || wait "$tracer" 2>/dev/null || true
  if [ "$tool" = callgrind ]; then
    sed -nE 's/^(summary|totals): *([0-9]+).*/\2/p' "$out" | head -1
  else
    awk '$NF == "total" {print $4}' "$out"
  fi
}

# --- run ----------------------------------------------------------------------------
if [ "$INSTR" != 1 ]; then  # instruction counts do not care what else runs
  "$PY" "$HERE/foreign_cpu.py" "$$" "$RESULTS/foreign_cpu.tsv" &
  MONITOR_PID=$!
fi

if [ "$INSTR" = 1 ] || [ -n "$SEED" ]; then
  cc -shared -fPIC -O2 -o "$RESULTS/fixed_seed.so" "$HERE/fixed_seed.c" -ldl
fi
declare -A SERVE_BIN=([before]="$BIN_before" [after]="$BIN_after")
if [ -n "$SEED" ] && [ "$INSTR" != 1 ]; then
  for side in before after; do  # run.sh execs CRATER_BIN; this one execs crater with the shim
    bin="BIN_$side"
    printf '#!/bin/sh\nexport CRATER_BENCH_SEED=%s LD_PRELOAD=%s\nexec %s "$@"\n' \
      "$SEED" "$RESULTS/fixed_seed.so" "${!bin}" > "$RESULTS/crater-$side.sh"
    chmod +x "$RESULTS/crater-$side.sh"
    SERVE_BIN[$side]="$RESULTS/crater-$side.sh"
  done
fi

if [ "$INSTR" = 1 ]; then
  HAVE_STRACE=0; command -v strace >/dev/null && HAVE_STRACE=1
  [ "$HAVE_STRACE" = 1 ] || echo "== no strace: syscalls per request not measured (apt-get install -y strace)"
  printf 'seed\tside\tendpoint\twarmup\tcount\tir_warmup_run\tir_full_run\tir_per_req\tsyscalls_warmup_run\tsyscalls_full_run\tsyscalls_per_req\n' \
    > "$RESULTS/instr.tsv"
  mkdir -p "$RESULTS/instr"
  total=$((INSTR_WARMUP + INSTR_COUNT))
  first_seed="${INSTR_SEEDS%% *}"
  i=0
  for r in $INSTR_SEEDS; do
    i=$((i + 1))
    for ep in plaintext json users items items_invalid plaintext_pipe16; do
      for side in $(order_of "$i"); do
        base="$RESULTS/instr/seed$r-$side-$ep"
        ir0="$(counted "$side" "$ep" "$INSTR_WARMUP" callgrind "$base-warmup.callgrind" "$r")" || exit 1
        ir1="$(counted "$side" "$ep" "$total" callgrind "$base-full.callgrind" "$r")" || exit 1
        sc0=- sc1=- scn=-
        if [ "$HAVE_STRACE" = 1 ] && [ "$r" = "$first_seed" ]; then  # syscalls: once is enough
          sc0="$(counted "$side" "$ep" "$INSTR_WARMUP" strace "$base-warmup.strace")" || exit 1
          sc1="$(counted "$side" "$ep" "$total" strace "$base-full.strace")" || exit 1
          scn="$(awk -v a="$sc0" -v b="$sc1" -v n="$INSTR_COUNT" 'BEGIN{printf "%.3f", (b-a)/n}')"
        fi
        [[ "$ir0$ir1" =~ ^[0-9]+$ ]] || die "no callgrind total for $side $ep (see $base-*.callgrind.log)"
        irn="$(awk -v a="$ir0" -v b="$ir1" -v n="$INSTR_COUNT" 'BEGIN{printf "%.1f", (b-a)/n}')"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$side" "$ep" "$INSTR_WARMUP" "$INSTR_COUNT" \
          "$ir0" "$ir1" "$irn" "$sc0" "$sc1" "$scn" >> "$RESULTS/instr.tsv"
        printf '== seed %s %-6s %-16s %10s Ir/req  %6s syscalls/req\n' "$r" "$side" "$ep" "$irn" "$scn"
      done
    done
  done
else
  for r in $(seq 1 "$ROUNDS"); do
    for side in $(order_of "$r"); do run_side "$side" "$r"; done
  done
fi

echo "== summary ($RESULTS/summary.md)"
"$PY" "$HERE/ab_summarize.py" --results "$RESULTS" --duration "$DURATION" --threshold "$THRESHOLD" \
  --before-label "$LABEL_before" --after-label "$LABEL_after" | tee "$RESULTS/summary.md"
