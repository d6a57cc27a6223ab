#!/usr/bin/env bash
# spec/bench/proxy_bench.sh - outbound HTTP: a route that fetches a small file
# from a local upstream (nginx, static, on CPU 1) with keep-alive and answers
# with it, on Crater (crater.http.get), nginx (proxy_pass, upstream keepalive 32)
# and Node (global fetch), in one run: req/s and the server's CPU per request.
#
#   spec/bench/proxy_bench.sh                  # build release, 3 rounds of 5 s each
#   ROUNDS=1 DURATION=3s spec/bench/proxy_bench.sh
#   PEERS= spec/bench/proxy_bench.sh           # Crater alone
#   spec/bench/proxy_bench.sh --no-build       # use build-release/crater as it is
#   POOL=64 spec/bench/proxy_bench.sh          # keep 64 idle upstream connections, not 32
#   CRATER_BIN=/path/to/crater spec/bench/proxy_bench.sh --no-build   # another build of Crater
#
# The upstream nginx and wrk (-t1 -c64) share CPU 1; each server under test runs
# alone on CPU 0, one worker/process. CPU per request is the server process's
# utime + stime (/proc/PID/stat, all its threads) over the measured interval
# divided by the requests wrk counted. Rounds are interleaved (crater, nginx,
# node, crater, ...). Rows go to $RESULTS/rows.tsv; the summary (medians) is
# printed and saved as $RESULTS/summary.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5s}"
WARMUP="${WARMUP:-2s}"
CONNS="${CONNS:-64}"
POOL="${POOL:-32}"   # idle upstream connections kept: nginx's keepalive, crater.http's pool_size
PEERS="${PEERS-nginx node}"
CRATER_BIN="${CRATER_BIN:-build-release/crater}"
RESULTS="${RESULTS:-/tmp/crater-proxy-bench-$(date +%Y%m%d-%H%M%S)}"
. spec/bench/lib.sh
bench_args 19 "$@"
mkdir -p "$RESULTS"
bench_workdir
bench_build
TICK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }   # utime + stime
cpu_snap() { awk '/^cpu[01] /{t=0; for(i=2;i<=NF;i++) t+=$i; printf "%d %d ", t-$5-$6, t} END{print ""}' /proc/stat; }

# --- the upstream: nginx serving a small file, on CPU 1 -------------------------
UPORT=$(free_port)
mkdir -p "$WORK/www" "$WORK/upstream/logs"
printf 'Hello from the upstream: a small static file.\n' > "$WORK/www/small.txt"
EXPECT="$(cat "$WORK/www/small.txt")"
cat > "$WORK/upstream/nginx.conf" <<NGX
worker_processes 1;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$UPORT backlog=4096;
    location = /small.txt { root $WORK/www; }
    location = /status { stub_status; }
  }
}
NGX
taskset -c 1 nginx -p "$WORK/upstream" -c "$WORK/upstream/nginx.conf" \
  -g "daemon off; pid $WORK/upstream/nginx.pid; master_process off;" 2>>"$RESULTS/upstream.log" &
PIDS+=("$!")
wait_port "$UPORT" || { echo "proxy_bench.sh: the upstream did not start" >&2; exit 1; }
UPSTREAM="http://127.0.0.1:$UPORT/small.txt"
upstream_accepts() { curl -s "http://127.0.0.1:$UPORT/status" | awk 'NR==3{print $1}'; }

# --- the servers under test ----------------------------------------------------------
cat > "$WORK/app.lua" <<LUA
local crater = require "crater"
local get = crater.http.get
local app = crater.app { openapi = false }
local URL = "$UPSTREAM"
crater.http.defaults.pool_size = $POOL
app:get("/proxy", function()
  local res, err = get(URL)
  if not res then return 502, err end
  return res.status, res.body, { ["Content-Type"] = res.headers["content-type"] }
end)
return app
LUA
cat > "$WORK/server.js" <<'JS'
const http = require("http");
const [port, url] = [Number(process.argv[2]), process.argv[3]];
http.createServer(async (req, res) => {
  try {
    const r = await fetch(url);
    const body = await r.text();
    res.writeHead(r.status, { "Content-Type": r.headers.get("content-type") });
    res.end(body);
  } catch (e) {
    res.writeHead(502);
    res.end(String(e));
  }
}).listen(port, "127.0.0.1");
JS

start() { # name port -> sets SPID
  case "$1" in
    crater)
      taskset -c 0 "$CRATER_BIN" --port "$2" --log-level warn "$WORK/app.lua" \
        2>>"$RESULTS/crater.log" & SPID=$! ;;
    nginx)
      mkdir -p "$WORK/proxy/logs"
      cat > "$WORK/proxy/nginx.conf" <<NGX
worker_processes 1;
worker_rlimit_nofile 65536;
error_log stderr warn;
events { worker_connections 65536; use epoll; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream up { server 127.0.0.1:$UPORT; keepalive $POOL; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$2 backlog=4096;
    location = /proxy {
      proxy_pass http://up/small.txt;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGX
      taskset -c 0 nginx -p "$WORK/proxy" -c "$WORK/proxy/nginx.conf" \
        -g "daemon off; pid $WORK/proxy/nginx.pid; master_process off;" 2>>"$RESULTS/nginx.log" & SPID=$! ;;
    node)
      NODE_ENV=production taskset -c 0 node "$WORK/server.js" "$2" "$UPSTREAM" 2>>"$RESULTS/node.log" & SPID=$! ;;
  esac
  PIDS+=("$SPID")
}

{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ' (+ changes)')"
  echo "nginx: $(nginx -v 2>&1 | sed 's/.*\///')  node: $(node --version)  wrk: -t1 -c$CONNS -d$DURATION (warm-up $WARMUP)  pool: $POOL"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$RESULTS/env.txt"
cat "$RESULTS/env.txt"

printf 'server\tround\treq_s\trequests\tcpu_us_per_req\tp99_ms\terrors\tupstream_conns\tcpu0_busy_pct\tcpu1_busy_pct\n' > "$RESULTS/rows.tsv"
for round in $(seq "$ROUNDS"); do
  for name in crater $PEERS; do
    port=$(free_port)
    start "$name" "$port"
    wait_port "$port" || { echo "proxy_bench.sh: $name did not start" >&2; exit 1; }
    got="$(curl -s --max-time 5 "http://127.0.0.1:$port/proxy")"
    if [ "$got" != "$EXPECT" ]; then
      echo "proxy_bench.sh: $name answered '$got', not the upstream's file" >&2; exit 1
    fi
    taskset -c 1 wrk -t1 -c"$CONNS" -d"$WARMUP" "http://127.0.0.1:$port/proxy" >/dev/null
    a0=$(upstream_accepts); c0=$(cpu_ticks "$SPID"); read -r z0 y0 b0 t0 < <(cpu_snap)
    out="$(taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$port/proxy")"
    c1=$(cpu_ticks "$SPID"); read -r z1 y1 b1 t1 < <(cpu_snap); a1=$(upstream_accepts)
    kill "$SPID"; wait "$SPID" 2>/dev/null || true
    echo "$out" > "$RESULTS/wrk-$name-$round.txt"
    python3 - "$name" "$round" "$((c1 - c0))" "$TICK" "$((a1 - a0 - 1))" "$((z1 - z0))" "$((y1 - y0))" \
      "$((b1 - b0))" "$((t1 - t0))" \
      "$RESULTS/wrk-$name-$round.txt" >> "$RESULTS/rows.tsv" <<'PY'
import re, sys
name, rnd, ticks, tick, conns, busy0, total0, busy, total, f = sys.argv[1:]
out = open(f).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
reqs = int(re.search(r"(\d+) requests in", out).group(1))
def ms(v, unit): return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
errs = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
errs += int(non2xx.group(1)) if non2xx else 0
cpu_us = int(ticks) / int(tick) * 1e6 / reqs
print("\t".join([name, rnd, "%.0f" % rps, str(reqs), "%.2f" % cpu_us,
                 "%.2f" % ms(*p99.groups()) if p99 else "-", str(errs), conns,
                 "%.0f" % (100 * int(busy0) / max(int(total0), 1)),
                 "%.0f" % (100 * int(busy) / max(int(total), 1))]))
PY
    tail -n 1 "$RESULTS/rows.tsv" | awk -F'\t' '{printf "[%s round %s] %s req/s, %s µs CPU/req, p99 %s ms, errors %s, upstream connections %s, CPU 0 %s%% / CPU 1 %s%% busy\n", $1, $2, $3, $5, $6, $7, $8, $9, $10}'
  done
done

python3 - "$RESULTS/rows.tsv" <<'PY' | tee "$RESULTS/summary.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {}
for r in rows: by.setdefault(r["server"], []).append(r)
med = lambda rs, k: statistics.median(float(r[k]) for r in rs)
c = by["crater"]
crps, ccpu = med(c, "req_s"), med(c, "cpu_us_per_req")
print("## GET /proxy: fetch a small file from a local nginx with keep-alive (median of %d rounds)\n" % len(c))
print("| server | req/s | CPU µs/req | p99 ms | CPU 0 / CPU 1 busy | upstream connections opened (per round) | Crater's req/s ÷ its | its CPU/req ÷ Crater's |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for name, rs in by.items():
    rps, cpu = med(rs, "req_s"), med(rs, "cpu_us_per_req")
    print("| %s | %.0f | %.2f | %.2f | %.0f%% / %.0f%% | %s | %.2f× | %.2f× |" % (
        name, rps, cpu, med(rs, "p99_ms"), med(rs, "cpu0_busy_pct"), med(rs, "cpu1_busy_pct"),
        "/".join(r["upstream_conns"] for r in rs), crps / rps, cpu / ccpu))
goals = {"nginx": 0.9, "node": 2.0}
print()
for name, goal in goals.items():
    if name in by:
        rr = crps / med(by[name], "req_s")
        cr = med(by[name], "cpu_us_per_req") / ccpu
        print("- goal ≥ %.1f× %s: req/s %.2f×, CPU per request %.2f× — %s" % (
            goal, name, rr, cr, "met" if min(rr, cr) >= goal else
            ("met in CPU per request" if cr >= goal else "missed")))
errs = [r for r in rows if r["errors"] != "0"]
if errs:
    print("- errors: " + ", ".join("%s round %s: %s" % (r["server"], r["round"], r["errors"]) for r in errs))
PY
