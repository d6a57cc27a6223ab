#!/usr/bin/env bash
# spec/bench/template_bench.sh - the TechEmpower fortunes page over HTTP, from
# a crater.template file beside the same page built by hand with
# table.concat (examples/tfb/app.lua's builder), in one server, one run.
#
#   spec/bench/template_bench.sh               # build-release/crater, 3 rounds of 10 s per route
#   ROUNDS=5 DURATION=20s spec/bench/template_bench.sh
#   spec/bench/template_bench.sh --no-build    # reuse build-release/crater
#   INSTR=1 spec/bench/template_bench.sh       # instructions per request (callgrind)
#
# No database: each request copies TFB's 12 fortunes, adds the 13th and
# sorts them by message (the same work on both routes), then renders:
#   /fortunes/template  views:html("fortunes.html", { fortunes = rows })
#   /fortunes/concat    one `..` per row, one table.concat (the hand-written peer)
#   /fortunes/layout    the same page as a layout, a page and a row partial
# The server (one process) is pinned to CPU 0, wrk (-t1 -c64) to CPU 1; the
# routes alternate within each round. Prints req/s and the server's CPU time
# per request (utime + stime from /proc, less blurred than req/s on a busy
# machine) per route (median round), each with its ratio to /fortunes/concat.
# Also prints the pure-CPU comparison of spec/bench/template_bench.lua.
# INSTR=1 counts instead the server's instructions per request under
# valgrind --tool=callgrind (LuaJIT's seed fixed by fixed_seed.c): a server
# that answers INSTR_WARMUP (1000) requests, another INSTR_WARMUP +
# INSTR_COUNT (5000), on one keep-alive connection; the difference / COUNT.
# A count that a busy machine does not blur.
set -euo pipefail
cd "$(dirname "$0")/../.."
. spec/bench/lib.sh
bench_args 25 "$@"
bench_workdir
bench_build
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}

mkdir -p "$WORK/templates"
cat > "$WORK/templates/fortunes.html" <<'EOF'
<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>
{%- for _, f in ipairs(fortunes) do -%}
<tr><td>{{ f.id }}</td><td>{{ f.message }}</td></tr>
{%- end -%}
</table></body></html>
EOF
cat > "$WORK/templates/base.html" <<'EOF'
<!DOCTYPE html><html><head><title>{% block title %}{% endblock %}</title></head><body>{{{ content }}}</body></html>
{#- (no newline at the end) -#}
EOF
cat > "$WORK/templates/layout.html" <<'EOF'
{% layout "base.html" %}{% block title %}Fortunes{% endblock -%}
<table><tr><th>id</th><th>message</th></tr>{% for _, f in ipairs(fortunes) do %}{% include "row.html", f %}{% end %}</table>
{#- (no newline at the end) -#}
EOF
printf '%s' '<tr><td>{{ id }}</td><td>{{ message }}</td></tr>' > "$WORK/templates/row.html"
cat > "$WORK/app.lua" <<'EOF'
local crater = require "crater"
local app = crater.app()
local views = crater.template.new { root = "templates" }
local escape = crater.template.escape
local concat, sort = table.concat, table.sort

local FORTUNES = {
  { id = 1, message = "fortune: No such file or directory" },
  { id = 2, message = "A computer scientist is someone who fixes things that aren't broken." },
  { id = 3, message = "After enough decimal places, nobody gives a damn." },
  { id = 4, message = "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1" },
  { id = 5, message = "A computer program does what you tell it to do, not what you want it to do." },
  { id = 6, message = "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen" },
  { id = 7, message = "Any program that runs right is obsolete." },
  { id = 8, message = "A list is only as strong as its weakest link. — Donald Knuth" },
  { id = 9, message = "Feature: A bug with seniority." },
  { id = 10, message = "Computers make very fast, very accurate mistakes." },
  { id = 11, message = "<script>alert(\"This should not be displayed in a browser alert box.\");</script>" },
  { id = 12, message = "フレームワークのベンチマーク" },
}
local function by_message(a, b) return a.message < b.message end

local function rows()
  local t = {}
  for i = 1, #FORTUNES do t[i] = FORTUNES[i] end
  t[#t + 1] = { id = 0, message = "Additional fortune added at request time." }
  sort(t, by_message)
  return t
end

local HEAD = "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>" ..
  "<tr><th>id</th><th>message</th></tr>"

app:get("/fortunes/template", function() return views:html("fortunes.html", { fortunes = rows() }) end)
app:get("/fortunes/layout", function() return views:html("layout.html", { fortunes = rows() }) end)
app:get("/fortunes/concat", function()
  local rs = rows()
  local parts = { HEAD }
  for i = 1, #rs do
    local f = rs[i]
    parts[i + 1] = "<tr><td>" .. f.id .. "</td><td>" .. escape(f.message) .. "</td></tr>"
  end
  parts[#parts + 1] = "</table></body></html>"
  return 200, concat(parts), { ["Content-Type"] = "text/html; charset=utf-8" }
end)
return app
EOF

ROUTES="template concat layout"

# INSTR=1: instructions per request under callgrind instead of wrk (see the top).
if [ "${INSTR:-0}" = 1 ]; then
  W=${INSTR_WARMUP:-1000}
  N=${INSTR_COUNT:-5000}
  cc -shared -fPIC -O2 -o "$WORK/fixed_seed.so" spec/bench/fixed_seed.c -ldl
  cat > "$WORK/client.py" <<'EOF'
import socket, sys
port, path, n = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
for _ in range(n):
    s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert f.readline().startswith(b"HTTP/1.1 200"), path
    length = 0
    while True:
        h = f.readline()
        if h == b"\r\n":
            break
        if h.lower().startswith(b"content-length:"):
            length = int(h.split(b":")[1])
    f.read(length)
EOF
  total() { # ROUTE COUNT: the server's instructions over its life with COUNT requests
    local port pid out="$WORK/cg.$1.$2"
    port=$(free_port)
    CRATER_BENCH_SEED=1 LD_PRELOAD="$WORK/fixed_seed.so" valgrind --tool=callgrind \
      --callgrind-out-file="$out" build-release/crater --port "$port" "$WORK/app.lua" > "$out.log" 2>&1 &
    pid=$!
    for _ in $(seq 600); do grep -q "on http://" "$out.log" && break; sleep 0.1; done
    python3 "$WORK/client.py" "$port" "/fortunes/$1" "$2"
    kill -TERM "$pid"
    wait "$pid" || true
    sed -nE 's/^(summary|totals): *([0-9]+).*/\2/p' "$out" | head -1
  }
  for r in $ROUTES; do
    a=$(total "$r" "$W")
    b=$(total "$r" $((W + N)))
    echo "$r $(( (b - a) / N ))" >> "$WORK/instr"
    echo "/fortunes/$r: $(( (b - a) / N )) instructions per request" >&2
  done
  echo "fortunes page over HTTP, instructions per request of the server (callgrind, $W warm-up + $N requests)"
  awk 'NR == FNR { if ($1 == "concat") c = $2; next }
       { printf "%-20s %9d  %5.2fx concat\n", "/fortunes/" $1, $2, $2 / c }' "$WORK/instr" "$WORK/instr"
  exit 0
fi

port=$(free_port)
taskset -c 0 build-release/crater --port "$port" "$WORK/app.lua" > "$WORK/server.log" 2>&1 &
PIDS+=($!)
wait_port "$port" || { cat "$WORK/server.log"; exit 1; }

want=$(curl -s "http://127.0.0.1:$port/fortunes/concat")
for r in $ROUTES; do
  got=$(curl -s "http://127.0.0.1:$port/fortunes/$r")
  [ "$got" = "$want" ] || { echo "/fortunes/$r answers another page:"; echo "$got"; exit 1; }
done

for r in $ROUTES; do taskset -c 1 wrk -t1 -c64 -d2s "http://127.0.0.1:$port/fortunes/$r" > /dev/null; done
server=${PIDS[0]}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; } # utime + stime, in clock ticks
for round in $(seq "$ROUNDS"); do
  for r in $ROUTES; do
    t0=$(cpu_ticks)
    out=$(taskset -c 1 wrk -t1 -c64 -d"$DURATION" "http://127.0.0.1:$port/fortunes/$r")
    t1=$(cpu_ticks)
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    echo "$r $rps $n $((t1 - t0))" >> "$WORK/rows"
    echo "round $round /fortunes/$r: $rps req/s, $n requests, $((t1 - t0)) ticks of server CPU" >&2
  done
done

echo "fortunes page over HTTP (${#want} bytes), wrk -t1 -c64 -d$DURATION, median of $ROUNDS rounds"
python3 - "$WORK/rows" "$(getconf CLK_TCK)" $ROUTES <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
tick_us = 1e6 / int(sys.argv[2])
routes = sys.argv[3:]
rps = {r: statistics.median(float(x[1]) for x in rows if x[0] == r) for r in routes}
cpu = {r: statistics.median(int(x[3]) * tick_us / int(x[2]) for x in rows if x[0] == r) for r in routes}
print("%-20s %10s %8s %16s %8s" % ("route", "req/s", "ratio", "server CPU/req", "ratio"))
for r in routes:
    print("%-20s %10.0f %7.2fx %13.1f us %7.2fx" % ("/fortunes/" + r, rps[r], rps[r] / rps["concat"],
                                                   cpu[r], cpu[r] / cpu["concat"]))
EOF
echo
LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;" taskset -c 1 luajit spec/bench/template_bench.lua
