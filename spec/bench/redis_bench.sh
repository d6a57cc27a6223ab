#!/usr/bin/env bash
# spec/bench/redis_bench.sh - crater.redis: Redis round trips through a
# handler, beside redis-benchmark (Redis's own C client) on the same server.
#
#   spec/bench/redis_bench.sh                  # build release, 3 rounds of 5 s each
#   ROUNDS=1 DURATION=3s spec/bench/redis_bench.sh --no-build
#   CRATER_BIN=build/crater spec/bench/redis_bench.sh --no-build
#
# A throwaway redis-server (no persistence) and wrk (-t1 -cCONNS) share CPU 1;
# Crater runs alone on CPU 0, one worker, with one handle (pool_size CONNS).
# Routes: /get (one GET per request), /get10 (ten GETs one after the other),
# /pipe10 (ten GETs in one pipeline), /set (one SET). GET round trips per
# second are req/s times the GETs a request makes. CPU per request is
# Crater's utime + stime over the measured interval divided by the requests
# wrk counted. redis-benchmark runs on CPU 0 in Crater's place (-c CONNS,
# no pipelining) for the same commands. Rows go to $RESULTS/rows.tsv.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5s}"
CONNS="${CONNS:-32}"
CRATER_BIN="${CRATER_BIN:-build-release/crater}"
RESULTS="${RESULTS:-/tmp/crater-redis-bench-$(date +%Y%m%d-%H%M%S)}"
. spec/bench/lib.sh
bench_args 17 "$@"
mkdir -p "$RESULTS"
bench_workdir
bench_build
TICK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

RPORT=$(free_port)
taskset -c 1 redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" \
  --logfile "$WORK/redis.log" &
PIDS+=($!)
wait_port "$RPORT"
redis-cli -p "$RPORT" SET k "$(head -c 100 /dev/zero | tr '\0' x)" >/dev/null

cat > "$WORK/app.lua" <<'LUA'
local crater = require "crater"
local app = crater.app { openapi = false }
local r = assert(crater.redis.connect(os.getenv("REDIS_URL"), { pool_size = tonumber(os.getenv("POOL")) }))
app:get("/get", function() local v = assert(r:get("k")) return v end)
app:get("/set", function() assert(r:set("s", "value")) return "ok" end)
app:get("/get10", function()
  local v
  for _ = 1, 10 do v = assert(r:get("k")) end
  return v
end)
app:get("/pipe10", function()
  local res = assert(r:pipeline(function(p) for _ = 1, 10 do p:get("k") end end))
  return res[10]
end)
return app
LUA
CPORT=$(free_port)
REDIS_URL="redis://127.0.0.1:$RPORT" POOL="$CONNS" taskset -c 0 "$CRATER_BIN" --port "$CPORT" --workers 1 \
  "$WORK/app.lua" >"$WORK/crater.log" 2>&1 &
CPID=$!
PIDS+=($CPID)
wait_port "$CPORT"

printf 'round\twhat\treq_s\tget_s\tcpu_us_per_req\n' > "$RESULTS/rows.tsv"
for round in $(seq "$ROUNDS"); do
  for route in get get10 pipe10 set; do
    taskset -c 1 wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$CPORT/$route" >/dev/null  # warm up
    t0=$(cpu_ticks $CPID)
    out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$CPORT/$route")
    t1=$(cpu_ticks $CPID)
    if grep -q "Non-2xx" <<<"$out"; then echo "redis_bench: /$route answered errors:" >&2; echo "$out" >&2; exit 1; fi
    reqs=$(awk '/requests in/{print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    per=1; case $route in get10|pipe10) per=10 ;; esac
    cpu=$(awk -v a="$t0" -v b="$t1" -v n="$reqs" -v t="$TICK" 'BEGIN{printf "%.1f", (b-a)/t*1e6/n}')
    gets=$(awk -v r="$rps" -v p="$per" 'BEGIN{printf "%.0f", r*p}')
    printf '%s\tcrater /%s\t%s\t%s\t%s\n' "$round" "$route" "$rps" "$gets" "$cpu" | tee -a "$RESULTS/rows.tsv"
  done
  for t in get set; do
    rps=$(taskset -c 0 redis-benchmark -p "$RPORT" -t "$t" -c "$CONNS" -n 200000 -d 100 -q \
      | tr '\r' '\n' | awk -F'[: ]+' '/requests per second/{print $2}' | tail -1)
    printf '%s\tredis-benchmark %s\t%s\t%s\t-\n' "$round" "$t" "$rps" "$rps" | tee -a "$RESULTS/rows.tsv"
  done
done
echo "rows: $RESULTS/rows.tsv"
