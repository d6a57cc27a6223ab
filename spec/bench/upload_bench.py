#!/usr/bin/env python3
"""spec/bench/upload_bench.py - memory of one Crater worker while a 10 MiB file is
uploaded: as multipart/form-data (parsed as it streams in, the file spooled to a
temporary file) beside the same bytes as a plain body (application/octet-stream,
which the core keeps whole), each on a fresh server, in one run.

  spec/bench/upload_bench.py              # build release (incremental), measure
  spec/bench/upload_bench.py --no-build   # use the existing CRATER_BIN
  ROUNDS=5 SIZE_MIB=50 spec/bench/upload_bench.py

For each kind: a server pinned to CPU 0 (taskset), warmed with three small uploads;
then ROUNDS uploads of SIZE_MIB from this process, pinned to CPU 1, in 64 KiB writes
(a 1 ms pause every 16 writes, so the upload streams for a while). A thread samples
the server's VmRSS (/proc/PID/status) every 2 ms. Printed per kind: RSS before the
first upload, the highest RSS seen while uploads streamed, RSS after the last; the
growth (peak - before), the time per upload, and growth multipart / growth plain.

Env knobs: CRATER_BIN (build-release/crater), ROUNDS (3), SIZE_MIB (10).
Target (issue 14): RSS growth under 2 MiB while a 10 MiB multipart upload streams.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CRATER_BIN", os.path.join(ROOT, "build-release", "crater"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
SIZE = int(os.environ.get("SIZE_MIB", "10")) * 1024 * 1024
BOUNDARY = b"----craterbench0123456789"

APP = """
local crater = require "crater"
local app = crater.app()
app:post("/multipart", function(req)
  local f = req.files[1]
  return { size = f and f.size or 0, spooled = f and f.path ~= nil }
end)
app:post("/plain", function(req) return { size = #req.body } end)
return app
"""


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
    if m is None:
        raise SystemExit("the server (pid %d) is gone" % pid)
    return int(m.group(1))


def start(app, work, *args):
    log = open(os.path.join(work, "server.log"), "w+")
    p = subprocess.Popen(["taskset", "-c", "0", BIN, "--port", "0", "--upload-dir", work, *args, app],
                         stdout=log, stderr=subprocess.STDOUT)
    for _ in range(400):
        log.seek(0)
        m = re.search(r"on http://[^:]+:(\d+)", log.read())
        if m:
            return p, int(m.group(1))
        if p.poll() is not None:
            break
        time.sleep(0.025)
    log.seek(0)
    raise SystemExit("crater did not start:\n" + log.read())


def body_of(kind, payload):
    if kind == "plain":
        return "application/octet-stream", [payload]
    head = (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
            b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n")
    tail = b"\r\n--" + BOUNDARY + b"--\r\n"
    return "multipart/form-data; boundary=" + BOUNDARY.decode(), [head, payload, tail]


def upload(port, kind, payload):
    ctype, pieces = body_of(kind, payload)
    total = sum(len(p) for p in pieces)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /%s HTTP/1.1\r\nHost: bench\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
              b"Connection: close\r\n\r\n" % (kind.encode(), ctype.encode(), total))
    n = 0
    for p in pieces:
        view = memoryview(p)
        for i in range(0, len(view), 65536):
            s.sendall(view[i:i + 65536])
            n += 1
            if n % 16 == 0:
                time.sleep(0.001)
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    if not data.startswith(b"HTTP/1.1 200"):
        raise SystemExit("upload failed: %r" % data[:300])
    return data


def measure(kind, payload, work, app):
    limit = str(2 * SIZE + 65536)
    srv, port = start(app, work, "--max-body", limit, "--max-upload", limit, "--max-upload-file", limit)
    try:
        for _ in range(3):
            upload(port, kind, payload[:100000])
        time.sleep(0.2)
        before = rss_kib(srv.pid)
        peak = [before]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kib(srv.pid))
                time.sleep(0.002)

        t = threading.Thread(target=sample)
        t.start()
        times = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            upload(port, kind, payload)
            times.append(time.perf_counter() - t0)
        stop.set()
        t.join()
        time.sleep(0.2)
        after = rss_kib(srv.pid)
        left = [n for n in os.listdir(work) if n.startswith("crater-upload-")]
        return before, peak[0], after, sorted(times)[len(times) // 2], left
    finally:
        srv.terminate()
        srv.wait()


def main():
    if "-h" in sys.argv or "--help" in sys.argv:
        print(__doc__)
        return
    if "--no-build" not in sys.argv and BIN == os.path.join(ROOT, "build-release", "crater"):
        subprocess.run(["cmake", "-S", ROOT, "-B", os.path.join(ROOT, "build-release"),
                        "-DCMAKE_BUILD_TYPE=Release", "-DCRATER_ASAN=OFF"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", os.path.join(ROOT, "build-release"), "-j2", "--target", "crater"],
                       check=True, stdout=subprocess.DEVNULL)
    os.sched_setaffinity(0, {1})
    payload = os.urandom(SIZE)
    work = tempfile.mkdtemp(prefix="crater-upload-bench-")
    try:
        app = os.path.join(work, "app.lua")
        with open(app, "w") as f:
            f.write(APP)
        results = {}
        print("%d MiB, %d rounds, %s" % (SIZE >> 20, ROUNDS, BIN))
        print("| body | RSS before | peak while streaming | after | growth | time per upload |")
        print("|---|---:|---:|---:|---:|---:|")
        for kind in ("multipart", "plain"):
            before, peak, after, t, left = measure(kind, payload, work, app)
            results[kind] = peak - before
            print("| %s | %.1f MiB | %.1f MiB | %.1f MiB | %.2f MiB | %.0f ms |" % (
                kind, before / 1024, peak / 1024, after / 1024, (peak - before) / 1024, t * 1000))
            if left:
                print("temporary files left behind: %s" % left)
        ratio = results["multipart"] / results["plain"] if results["plain"] else float("nan")
        print("growth multipart / plain: %.3f" % ratio)
        ok = results["multipart"] < 2048
        print("target (multipart growth < 2 MiB): %s" % ("met" if ok else "MISSED"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
