#!/usr/bin/env python3
"""WebSocket echo and fan-out: Crater (app:websocket) beside Node's `ws`
(npm) in one run, driven by a C client (spec/bench/ws_client.c, libuv).

  echo:   CONNS sockets (1,000), each sends a 16-byte text message and the next
          one when its echo is back; messages/s and p50/p99 latency over SECONDS,
          and the server's CPU per message. Twice: one message in flight per
          socket (ping-pong), then DEPTH (10) in flight per socket (a client
          that pipelines: what one read brings is answered together).
  fanout: FANOUT sockets (10,000) open and idle: the server's RSS per socket
          ((RSS with them open - RSS before) / FANOUT); then ROUNDS times one
          socket sends "all:<n>", which the server sends to every socket: time
          until every socket received it (median, worst).

  python3 spec/bench/ws_bench.py                  # builds build-release, runs both peers
  python3 spec/bench/ws_bench.py --no-build       # reuse build-release/crater
  CONNS=200 FANOUT=2000 SECONDS=3 python3 spec/bench/ws_bench.py --no-build   # quick look
  PEERS= python3 spec/bench/ws_bench.py           # Crater alone

Servers run pinned to CPU 0 (taskset), the client to CPU 1, on 127.0.0.1,
one process each (Crater with one worker). Node's `ws` comes from
.ci/setup-npm.sh ($CRATER_TOOLS, default /usr/local/share/crater/tools).
"""
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CRATER_BIN", os.path.join(ROOT, "build-release", "crater"))
CONNS = int(os.environ.get("CONNS", "1000"))
FANOUT = int(os.environ.get("FANOUT", "10000"))
SECONDS = int(os.environ.get("SECONDS", "10"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
DEPTH = int(os.environ.get("DEPTH", "10"))
PEERS = os.environ.get("PEERS", "node").split()

# The sockets of /fanout are kept in a Lua table of the app (docs/websockets.md,
# "Rooms"): a handler may send to another socket (it queues, never waits).
APP = r'''
local crater = require "crater"
local app = crater.app { openapi = false }
app:websocket("/echo", {}, function(ws)
  while true do
    local data, kind = ws:receive()
    if not data then return end
    ws:send(data, kind)
  end
end)
local room = {}
app:websocket("/fanout", {}, function(ws)
  room[ws] = true
  while true do
    local data = ws:receive()
    if not data then break end
    if data:sub(1, 4) == "all:" then
      for peer in pairs(room) do peer:send(data) end
    end
  end
  room[ws] = nil
end)
return app
'''


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port):
    import socket
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not listen on %d" % port)


def start(name, work):
    port = free_port()
    log = open(os.path.join(work, name + ".log"), "w")
    if name == "crater":
        app = os.path.join(work, "app.lua")
        with open(app, "w") as f:
            f.write(APP)
        cmd = [BIN, "--port", str(port), "--workers", "1", "--max-connections", str(FANOUT + 100),
               "--log-level", "warn", app]
    else:
        cmd = ["node", os.path.join(ROOT, "spec", "bench", "ws_node.js"), str(port)]
    p = subprocess.Popen(["taskset", "-c", "0", *cmd], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    wait_port(port)
    time.sleep(0.3)
    return p, port


def kv(line):
    return {k: v for k, v in (w.split("=", 1) for w in line.split()[1:])}


def cpu_seconds(pid):
    # utime + stime of the process and its threads (fields 14 and 15 of /proc/PID/stat)
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client(client_bin, *args):
    out = subprocess.run(["taskset", "-c", "1", client_bin, *map(str, args)], check=True,
                         capture_output=True, text=True, timeout=600)
    return [kv(l) for l in out.stdout.splitlines() if l.strip()]


def main():
    if "--no-build" not in sys.argv[1:]:
        subprocess.run("cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DCRATER_ASAN=OFF >/dev/null"
                       " && cmake --build build-release -j2 --target crater >/dev/null", shell=True, check=True, cwd=ROOT)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    want = min(hard if hard != resource.RLIM_INFINITY else 65536, 65536)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # the servers and the client inherit it
    rows = {}
    with tempfile.TemporaryDirectory(prefix="crater-ws-bench-") as work:
        client_bin = os.path.join(work, "ws_client")
        subprocess.run(["cc", "-O2", "-o", client_bin, os.path.join(ROOT, "spec", "bench", "ws_client.c"), "-luv"],
                       check=True)
        for name in ["crater"] + PEERS:
            echoes = {}
            for depth in (1, DEPTH):
                p, port = start(name, work)
                try:
                    cpu0 = cpu_seconds(p.pid)
                    echo = client(client_bin, "echo", port, "/echo", CONNS, SECONDS, depth)[0]
                    # The server's CPU over warm-up + counted time: busy share of its core.
                    echo["busy"] = (cpu_seconds(p.pid) - cpu0) / (SECONDS + 1)
                    echoes[depth] = echo
                finally:
                    p.terminate()
                    p.wait()
            p, port = start(name, work)
            try:
                idle, fan = client(client_bin, "fanout", port, "/fanout", FANOUT, ROUNDS, p.pid)
            finally:
                p.terminate()
                p.wait()
            rows[name] = {"per_conn": float(idle["bytes_per_conn"]),
                          "fan_med": float(fan["median_ms"]), "fan_max": float(fan["max_ms"])}
            for depth, echo in echoes.items():
                rows[name][depth] = {"msgs": float(echo["msgs_per_s"]), "busy": echo["busy"],
                                     "p50": int(echo["p50_us"]) / 1000, "p99": int(echo["p99_us"]) / 1000}
    base = rows["crater"]
    print("WebSocket echo: %d connections, 16-byte text messages, %d s (server CPU 0, client CPU 1)" % (CONNS, SECONDS))
    print("| server | in flight per socket | messages/s | p50 ms | p99 ms | server CPU busy | server CPU µs per message | Crater's messages/s vs this | this one's CPU per message vs Crater's |")
    print("|---|---|---|---|---|---|---|---|---|")
    for depth in (1, DEPTH):
        for name, row in rows.items():
            r = row[depth]
            r["us"] = r["busy"] * 1e6 / r["msgs"]
        for name, row in rows.items():
            r, b = row[depth], base[depth]
            print("| %s | %d | %.0f | %.2f | %.2f | %.0f%% | %.2f | %.2fx | %.2fx |" % (
                name, depth, r["msgs"], r["p50"], r["p99"], r["busy"] * 100, r["us"], b["msgs"] / r["msgs"],
                r["us"] / b["us"]))
    print()
    print("WebSocket fan-out: one message to %d idle sockets, %d rounds" % (FANOUT, ROUNDS))
    print("| server | all received, median ms | worst ms | memory per idle socket | time vs Crater | memory vs Crater |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print("| %s | %.1f | %.1f | %.0f B | %.2fx | %.2fx |" % (name, r["fan_med"], r["fan_max"], r["per_conn"],
                                                                r["fan_med"] / base["fan_med"],
                                                                r["per_conn"] / base["per_conn"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
