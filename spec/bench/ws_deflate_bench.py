#!/usr/bin/python3
"""permessage-deflate: what it costs and saves per WebSocket, against the
same server with it off, in one run.

    /usr/bin/python3 spec/bench/ws_deflate_bench.py [--conns 300] [--msgs 2000]

One crater (BIN, default build/crater) pinned to CPU 0, this client to CPU
1. Four routes of one app: deflate off, the default settings, zlib's own
defaults (level 6, memlevel 8, window 15) and the smallest
({ level = 1, memlevel = 1, max_window_bits = 9 }). For each:
- server memory per socket: --conns sockets each echo one 4 KiB JSON-like
  message (so both zlib streams exist) and stay open; RSS growth / conns;
- bytes on the wire for that message, server to client;
- echo round trips per second on one socket (--msgs messages, one at a
  time), as a ratio to deflate off.
The client offers `permessage-deflate; client_max_window_bits`, as browsers
do, and compresses with the window it is given. Standard library only.
"""
import argparse
import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CRATER_BIN", os.path.join(ROOT, "build", "crater"))

APP = """
local crater = require "crater"
local app = crater.app()
local function echo(ws)
  while true do
    local data, kind = ws:receive()
    if not data then return end
    ws:send(data, kind)
  end
end
app:websocket("/off", { deflate = false }, echo)
app:websocket("/default", echo)
app:websocket("/zlib", { deflate = { level = 6, memlevel = 8, max_window_bits = 15 } }, echo)
app:websocket("/small", { deflate = { level = 1, memlevel = 1, max_window_bits = 9 } }, echo)
return app
"""
ROUTES = ["/off", "/default", "/zlib", "/small"]

rng = random.Random(1)
MESSAGE = json.dumps([{"id": i, "name": "user%d" % rng.randrange(1000), "score": rng.random(),
                       "tags": ["a", "b", "crater"][: i % 3 + 1]} for i in range(60)]).encode()[:4096]


def frame(op, payload, rsv1=False):
    b0 = 0x80 | (0x40 if rsv1 else 0) | op
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    return head + b"\0\0\0\0" + payload  # a zero mask: the bytes stay as they are


class Conn:
    def __init__(self, port, path):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\n"
                        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
                        % path).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self.s.recv(4096)
        head, self.buf = buf.split(b"\r\n\r\n", 1)
        self.bits = None
        for line in head.decode().split("\r\n"):
            if line.lower().startswith("sec-websocket-extensions:"):
                self.bits = 15
                if "client_max_window_bits=" in line:
                    self.bits = int(line.split("client_max_window_bits=")[1].split(";")[0])
        if self.bits:
            self.tx = zlib.compressobj(6, zlib.DEFLATED, -self.bits)
            self.rx = zlib.decompressobj(-15)

    def need(self, n):
        while len(self.buf) < n:
            self.buf += self.s.recv(1 << 16)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def echo(self, msg):
        if self.bits:
            z = self.tx.compress(msg) + self.tx.flush(zlib.Z_SYNC_FLUSH)
            self.s.sendall(frame(2, z[:-4], True))
        else:
            self.s.sendall(frame(2, msg))
        b0, b1 = self.need(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.need(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.need(8))[0]
        payload = self.need(n)
        got = self.rx.decompress(payload + b"\0\0\xff\xff") if b0 & 0x40 else payload
        assert got == msg, "echo differs"
        return n


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, default=300)
    ap.add_argument("--msgs", type=int, default=2000)
    args = ap.parse_args()
    os.sched_setaffinity(0, {1})
    work = tempfile.mkdtemp(prefix="crater-wsdeflate-bench-")
    app = os.path.join(work, "app.lua")
    with open(app, "w") as f:
        f.write(APP)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    log = open(os.path.join(work, "server.log"), "w")
    srv = subprocess.Popen(["taskset", "-c", "0", BIN, "--port", str(port), "--workers", "1",
                            "--max-connections", str(args.conns * 5 + 100), "--log-level", "warn", app],
                           stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.1)
        rows = []
        for path in ROUTES:
            Conn(port, path).echo(MESSAGE)  # warm up the route
            before = rss_kib(srv.pid)
            conns = [Conn(port, path) for _ in range(args.conns)]
            wire = [c.echo(MESSAGE) for c in conns][0]
            time.sleep(0.2)
            per_conn = (rss_kib(srv.pid) - before) / args.conns
            one = conns[0]
            t0 = time.perf_counter()
            for _ in range(args.msgs):
                one.echo(MESSAGE)
            rate = args.msgs / (time.perf_counter() - t0)
            for c in conns:
                c.s.close()
            rows.append((path, per_conn, wire, rate))
            time.sleep(0.5)
        print("message: %d bytes of JSON; %d sockets per route; %d echoes on one socket\n"
              % (len(MESSAGE), args.conns, args.msgs))
        print("| route | RSS per socket (KiB) | bytes on the wire | echoes/s | echoes/s ÷ off |")
        print("|---|---|---|---|---|")
        off = rows[0][3]
        for path, per_conn, wire, rate in rows:
            print("| %s | %.1f | %d | %.0f | %.2f |" % (path, per_conn, wire, rate, rate / off))
    finally:
        srv.terminate()
        srv.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
