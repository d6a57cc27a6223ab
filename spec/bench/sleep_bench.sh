#!/usr/bin/env bash
# spec/bench/sleep_bench.sh - 10,000 concurrent requests that each wait 1 s,
# on Crater (crater.sleep), nginx + Lua (ngx.sleep) and Node (setTimeout), in
# one run: all must be answered; prints seconds to answer them all and the
# server memory per waiting request ((RSS while all wait - idle RSS) / N).
#
#   spec/bench/sleep_bench.sh                 # build release, N=10000, 3 rounds each
#   N=2000 ROUNDS=1 spec/bench/sleep_bench.sh
#   PEERS= spec/bench/sleep_bench.sh          # Crater alone
#   spec/bench/sleep_bench.sh --no-build      # use build-release/crater as it is
#
# Each server runs pinned to CPU 0, the client (spec/bench/sleep_client.py,
# asyncio) to CPU 1; one worker/process each. Peers come from Debian: nginx
# with libnginx-mod-http-lua (../shared/bench/install.sh installs them) and
# node. Rows go to $RESULTS/rows.tsv; the summary (medians) is printed.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
N="${N:-10000}"
ROUNDS="${ROUNDS:-3}"
PEERS="${PEERS-nginx-lua node}"
RESULTS="${RESULTS:-/tmp/crater-sleep-bench-$(date +%Y%m%d-%H%M%S)}"
. spec/bench/lib.sh
bench_args 15 "$@"
mkdir -p "$RESULTS"
bench_workdir
bench_build

cat > "$WORK/app.lua" <<'LUA'
local crater = require "crater"
local app = crater.app { openapi = false }
app:get("/sleep", function() crater.sleep(1) return "ok" end)
return app
LUA
cat > "$WORK/server.js" <<'JS'
const http = require("http");
http.createServer((req, res) => {
  setTimeout(() => { res.writeHead(200, {"Content-Type": "text/plain"}); res.end("ok"); }, 1000);
}).listen(Number(process.argv[2]), "127.0.0.1");
JS

start() { # name port -> sets SPID
  case "$1" in
    crater)
      taskset -c 0 build-release/crater --port "$2" --max-connections 100000 --log-level warn "$WORK/app.lua" \
        2>>"$RESULTS/crater.log" & SPID=$! ;;
    nginx-lua)
      mkdir -p "$WORK/nginx/logs"
      cat > "$WORK/nginx/nginx.conf" <<NGX
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
worker_processes 1;
worker_rlimit_nofile 65536;
error_log stderr warn;
events { worker_connections 65536; use epoll; multi_accept on; }
http {
  access_log off;
  server { listen 127.0.0.1:$2 backlog=65535;
    location /sleep { content_by_lua_block { ngx.sleep(1) ngx.say("ok") } } }
}
NGX
      taskset -c 0 nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g "daemon off; pid $WORK/nginx/nginx.pid; master_process off;" \
        2>>"$RESULTS/nginx.log" & SPID=$! ;;
    node)
      taskset -c 0 node "$WORK/server.js" "$2" 2>>"$RESULTS/node.log" & SPID=$! ;;
  esac
  PIDS+=("$SPID")
}

printf 'server\tround\tanswered\tfailed\tseconds\trss_idle_kib\trss_waiting_kib\tper_request_bytes\n' > "$RESULTS/rows.tsv"
for round in $(seq "$ROUNDS"); do
  for name in crater $PEERS; do
    port=$(free_port)
    start "$name" "$port"
    wait_port "$port" || { echo "sleep_bench.sh: $name did not start" >&2; exit 1; }
    sleep 0.3
    out=$(taskset -c 1 python3 spec/bench/sleep_client.py "$port" "$N" /sleep "$SPID")
    kill "$SPID"; wait "$SPID" 2>/dev/null || true
    echo "[$name round $round] $out"
    python3 - "$name" "$round" "$out" >> "$RESULTS/rows.tsv" <<'PY'
import json, sys
r = json.loads(sys.argv[3])
print("\t".join([sys.argv[1], sys.argv[2]] + [str(r[k]) for k in
      ("answered", "failed", "seconds", "rss_idle_kib", "rss_waiting_kib", "per_request_bytes")]))
PY
  done
done

python3 - "$RESULTS/rows.tsv" "$N" <<'PY' | tee "$RESULTS/summary.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
n = int(sys.argv[2])
by = {}
for r in rows: by.setdefault(r["server"], []).append(r)
med = lambda xs: statistics.median(float(x) for x in xs)
print("## %d concurrent requests, each waiting 1 s (median of %d rounds)\n" % (n, len(by["crater"])))
print("| server | answered | seconds to answer all | memory per waiting request | vs Crater |")
print("|---|---:|---:|---:|---:|")
c = med(r["per_request_bytes"] for r in by["crater"])
for name, rs in by.items():
    m = med(r["per_request_bytes"] for r in rs)
    print("| %s | %s | %.2f | %.2f KiB | %.2f× |" % (name, "/".join(r["answered"] for r in rs),
          med(r["seconds"] for r in rs), m / 1024, m / c if c else 0))
PY
