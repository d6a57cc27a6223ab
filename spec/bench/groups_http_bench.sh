#!/usr/bin/env bash
# spec/bench/groups_http_bench.sh - what route groups, a CORS policy and an
# API key check cost over real sockets: one Crater server (pinned to CPU 0)
# serving the same tiny JSON handler as a plain route, in a nested group with
# a before and an after hook at each level, behind an app CORS policy (the
# request carries an allowed Origin: four headers added), and behind an API
# key check; wrk (pinned to CPU 1) on each in turn, ROUNDS times, interleaved.
# Prints req/s per case (median of the rounds) and its ratio to the plain
# route of the same run.
#
#   spec/bench/groups_http_bench.sh              # builds build-release/crater first
#   spec/bench/groups_http_bench.sh --no-build   # reuses it
#   ROUNDS=5 DURATION=10s CONNS=64 spec/bench/groups_http_bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. spec/bench/lib.sh
bench_args 14 "$@"
bench_workdir
bench_build
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-64}

cat > "$WORK/app.lua" <<'LUA'
local crater = require "crater"
local app = crater.app { openapi = false }
local function handler() return { ok = true } end
app:get("/plain", handler)
local noop_before, noop_after = function(req) end, function(req, res) end
local a = app:group("/a", { before = noop_before, after = noop_after })
a:group("/b", { before = noop_before, after = noop_after }):get("/x", handler)
local c = app:group("/cors")
c:cors { origins = { "https://a.example" }, credentials = true, expose = { "X-Total" } }
c:get("/x", handler)
app:security_scheme("key", { type = "apiKey", ["in"] = "header", name = "X-API-Key" },
  function(req, key) return key == "k1" and { user = "ann" } or nil end)
app:get("/key/x", { security = { "key" } }, handler)
return app
LUA

PORT=$(free_port)
taskset -c 0 build-release/crater --port "$PORT" "$WORK/app.lua" > "$WORK/server.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT"

CASES=("plain route|/plain|"
       "group in a group, 4 hooks|/a/b/x|"
       "CORS, allowed origin|/cors/x|Origin: https://a.example"
       "API key checked|/key/x|X-API-Key: k1")
for c in "${CASES[@]}"; do   # each answers 200, or the numbers mean nothing
  IFS='|' read -r name path hdr <<< "$c"
  code=$(curl -s -o /dev/null -w '%{http_code}' ${hdr:+-H "$hdr"} "http://127.0.0.1:$PORT$path")
  [ "$code" = 200 ] || { echo "$name: $path answered $code" >&2; exit 1; }
done

for round in $(seq "$ROUNDS"); do
  for c in "${CASES[@]}"; do
    IFS='|' read -r name path hdr <<< "$c"
    taskset -c 1 wrk -t1 -c"$CONNS" -d2s ${hdr:+-H "$hdr"} "http://127.0.0.1:$PORT$path" > /dev/null
    rps=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" ${hdr:+-H "$hdr"} "http://127.0.0.1:$PORT$path" |
          awk '/Requests\/sec/ { print $2 }')
    echo "$name|$rps" >> "$WORK/rows"
  done
done

python3 - "$WORK/rows" <<'PY'
import statistics, sys
rows = {}
order = []
for line in open(sys.argv[1]):
    name, rps = line.rstrip("\n").split("|")
    if name not in rows:
        rows[name] = []
        order.append(name)
    rows[name].append(float(rps))
base = statistics.median(rows[order[0]])
print("| case | req/s (median of %d) | ratio to the plain route |" % len(rows[order[0]]))
print("|---|---|---|")
for name in order:
    m = statistics.median(rows[name])
    print("| %s | %.0f | %.2f |" % (name, m, m / base))
PY
