#!/usr/bin/env bash
# spec/bench/memory.sh - RSS of one Crater worker: idle, and holding N idle keep-alive
# connections (default 10,000).
#
#   spec/bench/memory.sh              # build release (incremental), measure
#   spec/bench/memory.sh --no-build   # use the existing build-release/crater
#   CONNS=20000 spec/bench/memory.sh
#
# Starts `build-release/crater --port 0 --max-connections ... examples/bench/app.lua`
# on 127.0.0.1, sends one GET /plaintext, prints VmRSS; then spec/bench/idle_conns.py
# opens CONNS connections that each send one GET /plaintext, read the response and stay
# open, and prints RSS with all of them held and RSS per connection. Stops the server
# at the end (and on any exit). Bounded: the whole run is under a timeout (120 s).
#
# Env knobs: CONNS (10000), CRATER_BIN (build-release/crater),
#            CRATER_APP (examples/bench/app.lua).
# Targets (from the issue): idle RSS < 8 MiB; 10,000 idle connections < 64 MiB RSS.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"

. spec/bench/lib.sh
bench_args 17 "$@"

CONNS="${CONNS:-10000}"
CRATER_BIN="${CRATER_BIN:-build-release/crater}"
CRATER_APP="${CRATER_APP:-examples/bench/app.lua}"
IDLE_TARGET_KIB=$((8 * 1024))
CONNS_TARGET_KIB=$((64 * 1024))

if [ "$BUILD" = 1 ] && [ "$CRATER_BIN" = build-release/crater ]; then
  echo "== building $CRATER_BIN (Release)"
  cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DCRATER_ASAN=OFF >/dev/null
  cmake --build build-release -j2 --target crater >/dev/null
fi
[ -x "$CRATER_BIN" ] || { echo "memory.sh: $CRATER_BIN missing" >&2; exit 1; }

# Each side (server, client) holds CONNS sockets: raise the descriptor limit, as far
# as the hard limit allows.
need=$((CONNS + 256))
ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  echo "memory.sh: open-files limit $(ulimit -n) < $need; lower CONNS or raise the hard limit" >&2
  exit 1
fi

LOG="$(mktemp /tmp/crater-memory.XXXXXX.log)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -f "$LOG"
}
trap cleanup EXIT INT TERM

"$CRATER_BIN" --host 127.0.0.1 --port 0 --max-connections $((CONNS * 2)) "$CRATER_APP" 2>"$LOG" &
SERVER_PID=$!

PORT=""
for _ in $(seq 1 100); do
  PORT="$(sed -nE 's/.*serving .* on http:\/\/127\.0\.0\.1:([0-9]+).*/\1/p' "$LOG" | head -1)"
  [ -n "$PORT" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "memory.sh: server exited:" >&2; cat "$LOG" >&2; exit 1; }
  sleep 0.1
done
[ -n "$PORT" ] || { echo "memory.sh: no 'serving ... on http://127.0.0.1:PORT' line in 10 s" >&2; cat "$LOG" >&2; exit 1; }

rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$SERVER_PID/status"; }
echo "server: $CRATER_BIN (pid $SERVER_PID) serving $CRATER_APP on 127.0.0.1:$PORT"
echo "RSS at start: $(awk -v k="$(rss_kib)" 'BEGIN{printf "%.1f", k/1024}') MiB"
body="$(curl -s --max-time 5 "http://127.0.0.1:$PORT/plaintext")"
[ "$body" = "Hello, World!" ] || { echo "memory.sh: unexpected /plaintext body: $body" >&2; exit 1; }
sleep 0.5
IDLE="$(rss_kib)"
echo "idle RSS after one request: $(awk -v k="$IDLE" 'BEGIN{printf "%.1f", k/1024}') MiB ($IDLE KiB)"

OUT="$(timeout 120 /usr/bin/python3 spec/bench/idle_conns.py --port "$PORT" --pid "$SERVER_PID" --conns "$CONNS")" || {
  echo "$OUT"; echo "memory.sh: idle_conns.py failed" >&2; exit 1; }
echo "$OUT" | grep -v '^RESULT'
HELD="$(echo "$OUT" | sed -nE 's/^RESULT .*rss_held_kib=([0-9]+).*/\1/p')"

verdict() { if [ "$1" -lt "$2" ]; then echo met; else echo missed; fi; }
echo
echo "target idle RSS < 8 MiB: $(verdict "$IDLE" "$IDLE_TARGET_KIB") ($(awk -v k="$IDLE" 'BEGIN{printf "%.1f", k/1024}') MiB)"
if [ "$CONNS" = 10000 ]; then
  echo "target 10,000 idle keep-alive connections < 64 MiB RSS: $(verdict "$HELD" "$CONNS_TARGET_KIB") ($(awk -v k="$HELD" 'BEGIN{printf "%.1f", k/1024}') MiB)"
fi
