#!/bin/sh
# Builds crater/_json.so and runs json_bench.lua against lua-cjson.
#   spec/bench/json_bench.sh
#   SECONDS_PER_CASE=2 ROUNDS=5 spec/bench/json_bench.sh
# BUILD_DIR (default build) is the CMake build directory to use.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-build}
cd "$root"
cmake -S . -B "$build" >/dev/null
cmake --build "$build" --target crater_json_module >/dev/null
LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;" \
LUA_CPATH="$root/$build/lua/?.so;;" \
  exec luajit spec/bench/json_bench.lua "$@"
