#!/usr/bin/env python3
"""Server-Sent Events clients that go away: N clients connected to an SSE
route waiting on a channel all reset their connections at once; the time
until every handler has run its cleanup (unsubscribed and counted itself),
on Crater (crater.sse: the wait returns nil, "closed", docs/sse.md) and Node
(http: the request's "close" event) in one run; and the server's open file
descriptors and memory once they are all gone.

  python3 spec/bench/sse_gone_bench.py             # N=1000, 3 rounds, build/crater
  N=2000 ROUNDS=5 CRATER_BIN=build-release/crater python3 spec/bench/sse_gone_bench.py
  PEERS= python3 spec/bench/sse_gone_bench.py       # Crater alone

The servers run pinned to CPU 0, this client to CPU 1 (taskset), one
process each, on 127.0.0.1. A round: N clients connect and wait for the
first event; then all close with a reset (SO_LINGER 0) one after the other,
and /left is asked every 2 ms until it counts N more cleanups (the time
from the first close).
"""
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CRATER_BIN", os.path.join(ROOT, "build", "crater"))
N = int(os.environ.get("N", "1000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
PEERS = os.environ.get("PEERS", "node").split()

APP = r'''
local crater = require "crater"
local app = crater.app { openapi = false }
local ch = crater.channel()
local left = 0
app:get("/events", function()
  return crater.sse(function(send)
    local sub = ch:subscribe()
    send { event = "ready" }
    while true do
      local msg = sub:receive()  -- nil, "closed" once the client left
      if not msg or not send(msg) then break end
    end
    sub:close()
    left = left + 1
  end)
end)
app:get("/left", function() return { left = left, subscribers = ch:count() } end)
return app
'''

NODE = r'''
const http = require("http");
const clients = new Set();
let left = 0;
http.createServer((req, res) => {
  if (req.url === "/events") {
    res.writeHead(200, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"});
    res.write("event: ready\ndata: \n\n");
    clients.add(res);
    req.on("close", () => { clients.delete(res); left++; });
  } else {
    res.writeHead(200, {"Content-Type": "application/json"});
    res.end(JSON.stringify({left: left, subscribers: clients.size}));
  }
}).listen(Number(process.argv[2]), "127.0.0.1", () => console.log("on http://127.0.0.1:" + process.argv[2]));
'''

RESET = struct.pack("ii", 1, 0)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(name, work):
    port = free_port()
    log = open(os.path.join(work, name + ".log"), "w")
    if name == "crater":
        app = os.path.join(work, "app.lua")
        with open(app, "w") as f:
            f.write(APP)
        cmd = [BIN, "--port", str(port), "--max-connections", str(N + 100), "--log-level", "warn", app]
    else:
        js = os.path.join(work, "server.js")
        with open(js, "w") as f:
            f.write(NODE)
        cmd = ["node", js, str(port)]
    p = subprocess.Popen(["taskset", "-c", "0", *cmd], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    time.sleep(0.5)
    return p, port


def left(port):
    """/left's count, over a fresh connection."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /left HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return int(re.search(rb'"left":(\d+)', data).group(1))


def one_round(port):
    socks = []
    for _ in range(N):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        socks.append(s)
    for s in socks:
        buf = b""
        while b"event: ready" not in buf:
            buf += s.recv(4096)
    before = left(port)
    t0 = time.perf_counter()
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
        s.close()
    while left(port) < before + N:
        time.sleep(0.002)
    return (time.perf_counter() - t0) * 1000


def measure(name, port, pid):
    left(port)
    time.sleep(0.2)  # that connection closed
    fd0, rss0 = fds(pid), rss_kib(pid)
    times = [one_round(port) for _ in range(ROUNDS)]
    time.sleep(0.3)
    return {"name": name, "ms_median": statistics.median(times), "ms_max": max(times),
            "fds": fds(pid) - fd0, "rss_kib": rss_kib(pid) - rss0}


def main():
    os.sched_setaffinity(0, {1})
    rows = []
    with tempfile.TemporaryDirectory(prefix="crater-sse-gone-bench-") as work:
        for name in ["crater"] + PEERS:
            p, port = start(name, work)
            try:
                rows.append(measure(name, port, p.pid))
            finally:
                p.terminate()
                p.wait()
    base = rows[0]
    print("SSE clients going away: %d clients reset at once, %d rounds (server CPU 0, client CPU 1)" % (N, ROUNDS))
    print("| server | all cleaned up, median ms | worst ms | fds left after | RSS growth after all rounds | time vs Crater |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %.1f | %.1f | %d | %d KiB | %.2fx |" % (r["name"], r["ms_median"], r["ms_max"], r["fds"],
                                                         r["rss_kib"], r["ms_median"] / base["ms_median"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
