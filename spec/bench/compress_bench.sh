#!/usr/bin/env bash
# spec/bench/compress_bench.sh - the CPU cost of response compression: a
# 20 KiB JSON answer from a Lua handler, sent plain, gzip'd (level 6, the
# default, and level 1) and brotli'd (quality 4, the default), with nginx
# gzip'ing the same bytes (gzip on, level 6 and 1) as the peer. Prints, per
# case, req/s, the server's CPU microseconds per request (utime + stime from
# /proc/PID/stat, before and after the wrk run) and the bytes of a body;
# the summary is the median of ROUNDS, with ratios to the same server's
# plain answer, measured in the same run.
#
#   spec/bench/compress_bench.sh                  # build release, 3 rounds of 5 s each
#   ROUNDS=1 DURATION=3 spec/bench/compress_bench.sh
#   PEERS= spec/bench/compress_bench.sh           # Crater alone
#   spec/bench/compress_bench.sh --no-build       # use build-release/crater as it is
#
# The server runs pinned to CPU 0, wrk (1 thread, CONNS connections) to
# CPU 1. Rows go to $RESULTS/rows.tsv, other work's CPU share to
# $RESULTS/foreign_cpu.tsv (spec/bench/foreign_cpu.py): on a shared box,
# read the numbers with it.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5}"
CONNS="${CONNS:-32}"
PEERS="${PEERS-nginx}"
RESULTS="${RESULTS:-/tmp/crater-compress-bench-$(date +%Y%m%d-%H%M%S)}"
. spec/bench/lib.sh
bench_args 18 "$@"
mkdir -p "$RESULTS"
bench_workdir
bench_build
/usr/bin/python3 spec/bench/foreign_cpu.py "$$" "$RESULTS/foreign_cpu.tsv" &

cat > "$WORK/app.lua" <<'LUA'
local crater = require "crater"
local app = crater.app { openapi = false }
-- 20 KiB of JSON, the same bytes for every request
local items = {}
for i = 1, 294 do
  items[i] = string.format('{"id":%d,"name":"item %d","price":%d.%02d,"tags":["a","b"],"ok":%s}',
    i, i, i * 7 % 100, i % 100, i % 3 == 0 and "true" or "false")
end
local BODY = "[" .. table.concat(items, ",") .. "]"
local H = { ["Content-Type"] = "application/json" }
app:get("/json", function() return crater.response(BODY, 200, H) end)
app:get("/json1", { compress = { level = 1 } }, function() return crater.response(BODY, 200, H) end)
return app
LUA

start() { # name port -> sets SPID
  case "$1" in
    crater)
      taskset -c 0 build-release/crater --port "$2" --log-level warn "$WORK/app.lua" \
        2>>"$RESULTS/crater.log" & SPID=$! ;;
    nginx)
      mkdir -p "$WORK/nginx/logs" "$WORK/www"
      cat > "$WORK/nginx/nginx.conf" <<NGX
worker_processes 1;
error_log stderr warn;
events { worker_connections 4096; use epoll; }
http {
  access_log off;
  gzip_types application/json;
  gzip_min_length 1024;
  gzip_vary on;
  server { listen 127.0.0.1:$2;
    location = /json  { default_type application/json; gzip on; gzip_comp_level 6; alias $WORK/www/data.json; }
    location = /json1 { default_type application/json; gzip on; gzip_comp_level 1; alias $WORK/www/data.json; }
  }
}
NGX
      taskset -c 0 nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g "daemon off; pid $WORK/nginx/nginx.pid; master_process off;" \
        2>>"$RESULTS/nginx.log" & SPID=$! ;;
  esac
  PIDS+=("$SPID")
}

cpu_ticks() { awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }

# Cases: server, path, Accept-Encoding ("" for none), label.
cases() {
  echo "crater /json - plain"
  echo "crater /json gzip gzip-6"
  echo "crater /json1 gzip gzip-1"
  echo "crater /json br br-4"
  case " $PEERS " in *" nginx "*)
    echo "nginx /json - plain"
    echo "nginx /json gzip gzip-6"
    echo "nginx /json1 gzip gzip-1" ;;
  esac
}

HZ=$(getconf CLK_TCK)
printf 'server\tcase\tround\treq_per_s\trequests\tcpu_us_per_req\tbody_bytes\n' > "$RESULTS/rows.tsv"
for round in $(seq "$ROUNDS"); do
  for name in crater $PEERS; do
    port=$(free_port)
    start "$name" "$port"
    wait_port "$port" || { echo "compress_bench.sh: $name did not start" >&2; exit 1; }
    if [ "$name" = crater ]; then # nginx serves the same bytes
      mkdir -p "$WORK/www"
      curl -s "http://127.0.0.1:$port/json" > "$WORK/www/data.json"
    fi
    while read -r server path ae label; do
      [ "$server" = "$name" ] || continue
      hdr=(); [ "$ae" = - ] || hdr=(-H "Accept-Encoding: $ae")
      bytes=$(curl -s "${hdr[@]}" "http://127.0.0.1:$port$path" | wc -c)
      taskset -c 1 wrk -t1 -c"$CONNS" -d1s "${hdr[@]}" "http://127.0.0.1:$port$path" >/dev/null # warm up
      before=$(cpu_ticks "$SPID")
      out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" "${hdr[@]}" "http://127.0.0.1:$port$path")
      after=$(cpu_ticks "$SPID")
      rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
      reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
      us=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$label" "$round" "$rps" "$reqs" "$us" "$bytes" >> "$RESULTS/rows.tsv"
      echo "[$name $label round $round] $rps req/s, $us us CPU/request, $bytes bytes"
    done < <(cases)
    kill "$SPID"; wait "$SPID" 2>/dev/null || true
  done
done

python3 - "$RESULTS/rows.tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
med = {}
for r in rows:
    med.setdefault((r["server"], r["case"]), []).append(r)
print("\nmedians of %d round(s):" % max(int(r["round"]) for r in rows))
print("%-8s %-8s %10s %8s %12s %8s %8s" % ("server", "case", "req/s", "x plain", "CPU us/req", "x plain", "bytes"))
for (server, case), rs in med.items():
    rps = statistics.median(float(r["req_per_s"]) for r in rs)
    us = statistics.median(float(r["cpu_us_per_req"]) for r in rs)
    base = med[(server, "plain")]
    brps = statistics.median(float(r["req_per_s"]) for r in base)
    bus = statistics.median(float(r["cpu_us_per_req"]) for r in base)
    print("%-8s %-8s %10.0f %8.2f %12.1f %8.2f %8s" % (server, case, rps, rps / brps, us, us / bus, rs[0]["body_bytes"]))
PY
echo "rows: $RESULTS/rows.tsv"
