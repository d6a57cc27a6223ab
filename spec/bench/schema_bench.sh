#!/bin/sh
# crater.schema against ajv (Node) on the same schemas and data, in one run.
#   spec/bench/schema_bench.sh
#   SECONDS_PER_CASE=2 ROUNDS=5 spec/bench/schema_bench.sh
# ajv and ajv-formats are installed with npm into $CRATER_BENCH_CACHE
# (default ~/.cache/crater-bench), never into the repository. BUILD_DIR
# (default build) is the CMake build directory (for crater/_json.so).
# Each side runs pinned to one CPU (taskset, when there is one).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-build}
cache=${CRATER_BENCH_CACHE:-$HOME/.cache/crater-bench}
cd "$root"

if [ ! -d "$cache/node_modules/ajv" ] || [ ! -d "$cache/node_modules/ajv-formats" ]; then
  mkdir -p "$cache"
  [ -f "$cache/package.json" ] || echo '{"private":true}' > "$cache/package.json"
  (cd "$cache" && npm install --no-audit --no-fund ajv@8 ajv-formats@3 >/dev/null)
fi
cmake -S . -B "$build" >/dev/null
cmake --build "$build" --target crater_json_module >/dev/null

pin=""
command -v taskset >/dev/null && pin="taskset -c 0"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The machine may be shared: alternate the two sides round by round, so a
# busy moment hurts both, and keep each side's best round.
rounds=${ROUNDS:-3}
r=0
while [ "$r" -lt "$rounds" ]; do
  ROUNDS=1 LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;" LUA_CPATH="$root/$build/lua/?.so;;" \
    $pin luajit spec/bench/schema_bench.lua >> "$tmp/crater.all"
  ROUNDS=1 NODE_PATH="$cache/node_modules" $pin node spec/bench/schema_bench.js >> "$tmp/ajv.all"
  r=$((r + 1))
done
best() { awk -F'\t' '{ k = $1 FS $2; if (!(k in m) || $3 > m[k]) { m[k] = $3; e[k] = $4 } }
  END { for (k in m) print k FS m[k] FS e[k] }' "$1"; }
best "$tmp/crater.all" > "$tmp/crater"
best "$tmp/ajv.all" > "$tmp/ajv"

echo "validations/s, best of $rounds rounds of ${SECONDS_PER_CASE:-1} s (higher is better)"
echo
echo "| case | crater.schema | ajv allErrors | ratio | crater.schema all_errors=false | ajv (default: first error) | ratio |"
echo "|---|---|---|---|---|---|---|"
get() { awk -F'\t' -v m="$1" -v n="$2" -v f="$3" '$1==m && $2==n {print $f}' "$4"; }
for name in "item valid" "item invalid" "order valid" "order invalid" "tree valid" "tree invalid"; do
  c=$(get all "$name" 3 "$tmp/crater"); ce=$(get all "$name" 4 "$tmp/crater")
  cf=$(get first "$name" 3 "$tmp/crater")
  a=$(get ajv-all "$name" 3 "$tmp/ajv"); ae=$(get ajv-all "$name" 4 "$tmp/ajv")
  af=$(get ajv "$name" 3 "$tmp/ajv")
  awk -v n="$name" -v c="$c" -v ce="$ce" -v cf="$cf" -v a="$a" -v ae="$ae" -v af="$af" 'BEGIN {
    printf "| %s (errors: %d / %d) | %d | %d | %.2fx | %d | %d | %.2fx |\n", n, ce, ae, c, a, c / a, cf, af, cf / af }'
done
