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

LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;" LUA_CPATH="$root/$build/lua/?.so;;" \
  $pin luajit spec/bench/schema_bench.lua > "$tmp/crater"
NODE_PATH="$cache/node_modules" $pin node spec/bench/schema_bench.js > "$tmp/ajv"

echo "validations/s, best of ${ROUNDS:-3} rounds of ${SECONDS_PER_CASE:-1} s (higher is better)"
echo
echo "| case | crater.schema (all errors) | ajv (first error) | ajv allErrors | crater / ajv | crater / ajv allErrors |"
echo "|---|---|---|---|---|---|"
while IFS="$(printf '\t')" read -r name rate errs; do
  a=$(awk -F'\t' -v n="$name" '$1=="ajv" && $2==n {print $3}' "$tmp/ajv")
  aa=$(awk -F'\t' -v n="$name" '$1=="ajv-all" && $2==n {print $3}' "$tmp/ajv")
  aerr=$(awk -F'\t' -v n="$name" '$1=="ajv-all" && $2==n {print $4}' "$tmp/ajv")
  awk -v n="$name" -v c="$rate" -v a="$a" -v aa="$aa" -v e="$errs" -v ae="$aerr" 'BEGIN {
    printf "| %s (%d / %d errors) | %d | %d | %d | %.2fx | %.2fx |\n", n, e, ae, c, a, aa, c / a, c / aa }'
done < "$tmp/crater"
