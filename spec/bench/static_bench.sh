#!/usr/bin/env bash
# spec/bench/static_bench.sh - static files: a 1 KiB and a 1 MiB file served by
# Crater (app:static) and by nginx (sendfile on), in one run: req/s, the
# server's CPU per request, and Crater's req/s as a ratio to nginx's.
#
#   spec/bench/static_bench.sh                 # build release, 3 rounds of 5 s each
#   ROUNDS=1 DURATION=3s spec/bench/static_bench.sh
#   spec/bench/static_bench.sh --no-build      # use build-release/crater as it is
#   CRATER_BIN=/path/to/crater spec/bench/static_bench.sh --no-build
#
# Both servers run on CPU 0, one worker/process each, started once; wrk
# (-t1 -c$CONNS, keep-alive) on CPU 1 loads one of them at a time. nginx:
# `sendfile on; tcp_nopush on;`, no access log, no open_file_cache (Crater has
# none either: both open and fstat the file per request). Measurements are
# interleaved as closely as possible (per round, per file: crater then nginx),
# so load from elsewhere hits both alike. Besides req/s, the server's CPU per
# request (utime + stime from /proc/PID/stat over the run ÷ requests): on a
# busy machine req/s moves with what else runs, CPU per request much less, and
# nginx's CPU/req ÷ Crater's is the req/s ratio both would reach when
# CPU-bound. Rows go to $RESULTS/rows.tsv; the summary (medians) is printed
# and saved as $RESULTS/summary.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5s}"
WARMUP="${WARMUP:-2s}"
CONNS="${CONNS:-64}"
CRATER_BIN="${CRATER_BIN:-build-release/crater}"
RESULTS="${RESULTS:-/tmp/crater-static-bench-$(date +%Y%m%d-%H%M%S)}"
. spec/bench/lib.sh
bench_args 21 "$@"
mkdir -p "$RESULTS"
bench_workdir
bench_build
TICK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }   # utime + stime

mkdir -p "$WORK/www" "$WORK/nginx/logs"
head -c 1024 /dev/urandom > "$WORK/www/1k.bin"
head -c 1048576 /dev/urandom > "$WORK/www/1m.bin"
cat > "$WORK/app.lua" <<LUA
local crater = require "crater"
local app = crater.app { openapi = false }
app:static("/", "$WORK/www")
return app
LUA

start() { # name port -> sets SPID
  case "$1" in
    crater)
      taskset -c 0 "$CRATER_BIN" --port "$2" --log-level warn "$WORK/app.lua" \
        2>>"$RESULTS/crater.log" & SPID=$! ;;
    nginx)
      cat > "$WORK/nginx/nginx.conf" <<NGX
worker_processes 1;
worker_rlimit_nofile 65536;
error_log stderr warn;
events { worker_connections 65536; use epoll; }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$2 backlog=4096;
    location / { root $WORK/www; }
  }
}
NGX
      taskset -c 0 nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" \
        -g "daemon off; pid $WORK/nginx/nginx.pid; master_process off;" 2>>"$RESULTS/nginx.log" & SPID=$! ;;
  esac
  PIDS+=("$SPID")
}

{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ' (+ changes)')"
  echo "nginx: $(nginx -v 2>&1 | sed 's/.*\///')  wrk: -t1 -c$CONNS -d$DURATION (warm-up $WARMUP)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$RESULTS/env.txt"
cat "$RESULTS/env.txt"

printf 'server\tfile\tround\treq_s\trequests\tcpu_us_per_req\tp99_ms\terrors\n' > "$RESULTS/rows.tsv"
declare -A PORT SRV
for name in crater nginx; do
  PORT[$name]=$(free_port)
  start "$name" "${PORT[$name]}"
  SRV[$name]=$SPID
  wait_port "${PORT[$name]}" || { echo "static_bench.sh: $name did not start" >&2; exit 1; }
  for file in 1k.bin 1m.bin; do
    if ! curl -s --max-time 5 "http://127.0.0.1:${PORT[$name]}/$file" | cmp -s - "$WORK/www/$file"; then
      echo "static_bench.sh: $name did not answer $file with the file" >&2; exit 1
    fi
  done
done
for round in $(seq "$ROUNDS"); do
  for file in 1k.bin 1m.bin; do
    for name in crater nginx; do
      url="http://127.0.0.1:${PORT[$name]}/$file"
      pid=${SRV[$name]}
      taskset -c 1 wrk -t1 -c"$CONNS" -d"$WARMUP" "$url" >/dev/null
      c0=$(cpu_ticks "$pid")
      out="$(taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$url")"
      c1=$(cpu_ticks "$pid")
      echo "$out" > "$RESULTS/wrk-$name-$file-$round.txt"
      python3 - "$name" "$file" "$round" "$((c1 - c0))" "$TICK" "$RESULTS/wrk-$name-$file-$round.txt" \
        >> "$RESULTS/rows.tsv" <<'PY'
import re, sys
name, file, rnd, ticks, tick, f = sys.argv[1:]
out = open(f).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
reqs = int(re.search(r"(\d+) requests in", out).group(1))
def ms(v, unit): return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
errs = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
errs += int(non2xx.group(1)) if non2xx else 0
cpu_us = int(ticks) / int(tick) * 1e6 / reqs
print("\t".join([name, file, rnd, "%.0f" % rps, str(reqs), "%.2f" % cpu_us,
                 "%.2f" % ms(*p99.groups()) if p99 else "-", str(errs)]))
PY
      tail -n 1 "$RESULTS/rows.tsv" | awk -F'\t' '{printf "[%s %s round %s] %s req/s, %s µs CPU/req, p99 %s ms, errors %s\n", $1, $2, $3, $4, $6, $7, $8}'
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RESULTS/env.txt"

python3 - "$RESULTS/rows.tsv" <<'PY' | tee "$RESULTS/summary.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {}
for r in rows: by.setdefault((r["file"], r["server"]), []).append(r)
med = lambda rs, k: statistics.median(float(r[k]) for r in rs)
n = len(by[("1k.bin", "crater")])
print("## Static files: GET of a 1 KiB and a 1 MiB file, keep-alive, -c64 (median of %d rounds)\n" % n)
print("| file | server | req/s | CPU µs/req | p99 ms | errors | Crater's req/s ÷ nginx's | nginx's CPU/req ÷ Crater's |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for file in ("1k.bin", "1m.bin"):
    c = med(by[(file, "crater")], "req_s")
    x = med(by[(file, "nginx")], "req_s")
    cc, xc = med(by[(file, "crater")], "cpu_us_per_req"), med(by[(file, "nginx")], "cpu_us_per_req")
    for name in ("crater", "nginx"):
        rs = by[(file, name)]
        crater = name == "crater"
        print("| %s | %s | %.0f | %.2f | %.2f | %d | %s | %s |" % (
            file, name, med(rs, "req_s"), med(rs, "cpu_us_per_req"), med(rs, "p99_ms"),
            sum(int(r["errors"]) for r in rs), "%.2f×" % (c / x) if crater else "",
            "%.2f×" % (xc / cc) if crater else ""))
print()
for file in ("1k.bin", "1m.bin"):
    r = med(by[(file, "crater")], "req_s") / med(by[(file, "nginx")], "req_s")
    cr = med(by[(file, "nginx")], "cpu_us_per_req") / med(by[(file, "crater")], "cpu_us_per_req")
    print("- goal ≥ 0.8× nginx, %s: req/s %.2f× (%s), CPU per request %.2f× (%s)" % (
        file, r, "met" if r >= 0.8 else "NOT met", cr, "met" if cr >= 0.8 else "NOT met"))
PY
