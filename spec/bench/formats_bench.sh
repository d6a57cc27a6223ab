#!/bin/sh
# `format` checks: crater.schema (assert_formats = true) against ajv with
# ajv-formats, one string schema per format, on spec/bench/formats_samples.json.
#   spec/bench/formats_bench.sh
#   SECONDS_PER_CASE=1 ROUNDS=5 spec/bench/formats_bench.sh
# ajv and ajv-formats come from $CRATER_TOOLS (setup.sh's
# /usr/local/share/crater/tools) or are installed with npm into
# $CRATER_BENCH_CACHE (default ~/.cache/crater-bench), never into the
# repository. Both sides run pinned to one CPU (taskset), round by round in
# turn, and each keeps its best round: the machine may be shared.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-build}
tools=${CRATER_TOOLS:-/usr/local/share/crater/tools}
cache=${CRATER_BENCH_CACHE:-$HOME/.cache/crater-bench}
cd "$root"

if [ -d "$tools/node_modules/ajv" ] && [ -d "$tools/node_modules/ajv-formats" ]; then
  modules="$tools/node_modules"
else
  if [ ! -d "$cache/node_modules/ajv" ] || [ ! -d "$cache/node_modules/ajv-formats" ]; then
    mkdir -p "$cache"
    [ -f "$cache/package.json" ] || echo '{"private":true}' > "$cache/package.json"
    (cd "$cache" && npm install --no-audit --no-fund ajv@8 ajv-formats@3 >/dev/null)
  fi
  modules="$cache/node_modules"
fi
cmake -S . -B "$build" >/dev/null
cmake --build "$build" --target crater_json_module >/dev/null

pin=""
command -v taskset >/dev/null && pin="taskset -c 0"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rounds=${ROUNDS:-3}
r=0
while [ "$r" -lt "$rounds" ]; do
  ROUNDS=1 LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;" LUA_CPATH="$root/$build/lua/?.so;;" \
    $pin luajit spec/bench/formats_bench.lua >> "$tmp/crater.all"
  ROUNDS=1 NODE_PATH="$modules" $pin node spec/bench/formats_bench.js >> "$tmp/ajv.all"
  r=$((r + 1))
done
best() { awk -F'\t' '{ if (!($1 in m) || $2 > m[$1]) { m[$1] = $2; v[$1] = $3 } }
  END { for (k in m) print k "\t" m[k] "\t" v[k] }' "$1" | sort; }
best "$tmp/crater.all" > "$tmp/crater"
best "$tmp/ajv.all" > "$tmp/ajv"

echo "validations/s of one string against {format}, best of $rounds rounds of ${SECONDS_PER_CASE:-0.5} s (higher is better)"
echo
echo "| format | crater.schema | ajv + ajv-formats | ratio | valid samples (crater / ajv) |"
echo "|---|---|---|---|---|"
join -t "$(printf '\t')" "$tmp/crater" "$tmp/ajv" | awk -F'\t' '{
  printf "| %s | %d | %d | %.2fx | %d / %d of 4 |\n", $1, $2, $4, $2 / $4, $3, $5 }'
