#!/usr/bin/env python3
"""Server-Sent Events fan-out: one message to N connected EventSource-like
clients, on Crater (crater.sse + crater.channel) and Node (http, the
responses kept in an array) in one run.

For each server: N clients connect to /events and wait for its first event;
then, ROUNDS times, one POST /publish and the time until every client has
received that message (median and worst round); and the server's memory per
connected client ((RSS with N connected - RSS before) / N).

  python3 spec/bench/sse_bench.py                 # N=1000, 5 rounds, build/crater
  N=5000 ROUNDS=10 CRATER_BIN=build-release/crater python3 spec/bench/sse_bench.py
  PEERS= python3 spec/bench/sse_bench.py           # Crater alone

The servers run pinned to CPU 0, this client to CPU 1 (taskset), one
process each, on 127.0.0.1. Crater's channel wakes its waiting subscribers
from the loop when a message is published (docs/sse.md#channels).
"""
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CRATER_BIN", os.path.join(ROOT, "build", "crater"))
N = int(os.environ.get("N", "1000"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
PEERS = os.environ.get("PEERS", "node").split()

APP = r'''
local crater = require "crater"
local app = crater.app { openapi = false }
local ch = crater.channel()
app:get("/events", function()
  return crater.sse(function(send)
    local sub = ch:subscribe()
    send { event = "ready" }
    while true do
      local msg = sub:receive()
      if msg then send(msg) end
    end
  end)
end)
app:post("/publish", function(req) return { delivered = ch:publish(req.body) } end)
return app
'''

NODE = r'''
const http = require("http");
const clients = [];
http.createServer((req, res) => {
  if (req.url === "/events") {
    res.writeHead(200, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"});
    res.write("event: ready\ndata: \n\n");
    clients.push(res);
    req.on("close", () => { const i = clients.indexOf(res); if (i >= 0) clients.splice(i, 1); });
  } else {
    let body = "";
    req.on("data", (c) => body += c);
    req.on("end", () => {
      const text = "data: " + body + "\n\n";
      for (const c of clients) c.write(text);
      res.writeHead(200, {"Content-Type": "application/json"});
      res.end(JSON.stringify({delivered: clients.length}));
    });
  }
}).listen(Number(process.argv[2]), "127.0.0.1", () => console.log("on http://127.0.0.1:" + process.argv[2]));
'''


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def free_port():
    import socket
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


async def client(port, ready, inbox):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
    await w.drain()
    buf = b""
    while b"event: ready" not in buf:
        buf += await r.read(4096)
    ready.release()
    buf = b""
    while True:
        data = await r.read(65536)
        if not data:
            return
        buf += data
        end = buf.rfind(b"\n\n")
        if end < 0:
            continue
        for m in re.findall(rb"data: (round \d+)", buf[:end]):
            inbox.put_nowait((m, time.perf_counter()))
        buf = buf[end + 2:]


async def publish(port, text):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    body = text.encode()
    w.write(b"POST /publish HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body))
    await w.drain()
    out = await r.read()
    w.close()
    return out


async def measure(name, port, pid):
    before = rss_kib(pid)
    ready = asyncio.Semaphore(0)
    inbox = asyncio.Queue()
    tasks = []
    for _ in range(N):
        tasks.append(asyncio.create_task(client(port, ready, inbox)))
        if len(tasks) % 200 == 0:
            await asyncio.sleep(0.01)
    for _ in range(N):
        await ready.acquire()
    await asyncio.sleep(0.5)
    per_conn = (rss_kib(pid) - before) * 1024 / N
    times = []
    for i in range(ROUNDS):
        t0 = time.perf_counter()
        out = await publish(port, "round %d" % i)
        assert b'"delivered":%d' % N in out, out
        last = t0
        for _ in range(N):
            m, t = await inbox.get()
            assert m == b"round %d" % i, m
            last = max(last, t)
        times.append((last - t0) * 1000)
        await asyncio.sleep(0.2)
    for t in tasks:
        t.cancel()
    return {"name": name, "ms_median": statistics.median(times), "ms_max": max(times), "bytes_per_conn": per_conn}


def main():
    os.sched_setaffinity(0, {1})
    rows = []
    with tempfile.TemporaryDirectory(prefix="crater-sse-bench-") as work:
        for name in ["crater"] + PEERS:
            p, port = start(name, work)
            try:
                rows.append(asyncio.run(measure(name, port, p.pid)))
            finally:
                p.terminate()
                p.wait()
    base = rows[0]
    print("SSE fan-out: one message to %d clients, %d rounds (server CPU 0, client CPU 1)" % (N, ROUNDS))
    print("| server | all received, median ms | worst ms | server memory per client | time vs Crater |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| %s | %.1f | %.1f | %.0f B | %.2fx |" % (r["name"], r["ms_median"], r["ms_max"],
                                                    r["bytes_per_conn"], r["ms_median"] / base["ms_median"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
