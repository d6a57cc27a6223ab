#!/usr/bin/env python3
"""Memory across hot reloads: does a reload really free the old generation?

Starts `crater` on a copy of an example app (127.0.0.1, a free port), then
reloads it N times with SIGHUP, waiting for each "reloaded" log line and
sending one request after each reload (so the old generation has served and
is retired, not just replaced). Prints the server's RSS after 10 reloads and
after N, and the ratio; exits 1 if RSS grew by more than 10%.

    python3 spec/bench/reload_bench.py                      # 1000 reloads of examples/todo-api
    python3 spec/bench/reload_bench.py --reloads 200 --app examples/hello/app.lua
    CRATER_BIN=build-release/crater python3 spec/bench/reload_bench.py

Runs ~10-30 s (each reload loads the whole app anew). Loopback only.
"""
import argparse
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def default_app():
    todo = os.path.join(ROOT, "examples", "todo-api", "app.lua")
    return todo if os.path.exists(todo) else os.path.join(ROOT, "examples", "hello", "app.lua")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Log:
    """Reads a growing log file incrementally."""

    def __init__(self, path):
        self.f = open(path, "r", errors="replace")
        self.text = ""

    def poll(self):
        self.text += self.f.read()
        return self.text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--app", default=default_app())
    ap.add_argument("--reloads", type=int, default=1000)
    ap.add_argument("--bin", default=os.environ.get("CRATER_BIN", os.path.join(ROOT, "build", "crater")))
    args = ap.parse_args()

    # A copy of the app's directory, so nothing in the repository is touched.
    work = tempfile.mkdtemp(prefix="crater-reload-bench-")
    src_dir = os.path.dirname(os.path.abspath(args.app))
    shutil.copytree(src_dir, os.path.join(work, "app"))
    app = os.path.join(work, "app", os.path.basename(args.app))
    log_path = os.path.join(work, "server.log")
    with open(log_path, "w") as log_f:
        proc = subprocess.Popen([args.bin, "--port", "0", app], stdout=log_f, stderr=subprocess.STDOUT)
    log = Log(log_path)
    try:
        deadline = time.time() + 20
        port = None
        while port is None and time.time() < deadline:
            m = re.search(r"on http://[^:]+:(\d+)", log.poll())
            if m:
                port = int(m.group(1))
            time.sleep(0.01)
        if port is None:
            sys.exit("crater did not start:\n" + log.poll())

        def get():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/")
            r = c.getresponse()
            r.read()
            c.close()
            return r.status

        samples = {}
        t0 = time.time()
        for i in range(1, args.reloads + 1):
            before = log.text.count("] reloaded ")
            proc.send_signal(signal.SIGHUP)
            while log.poll().count("] reloaded ") == before:
                if "reload failed" in log.text:
                    sys.exit("reload failed:\n" + log.text[-2000:])
                time.sleep(0.0005)
            get()
            if i in (10, 100, args.reloads):
                samples[i] = rss_kib(proc.pid)
        elapsed = time.time() - t0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)

    base = samples[10]
    print("app: %s" % os.path.relpath(args.app, ROOT))
    print("reloads: %d in %.1f s (%.2f ms each, incl. one request)" % (
        args.reloads, elapsed, elapsed * 1000 / args.reloads))
    for n in sorted(samples):
        print("RSS after %5d reloads: %7d KiB" % (n, samples[n]))
    ratio = samples[args.reloads] / base
    print("RSS ratio %d/10: %.3f (limit 1.10)" % (args.reloads, ratio))
    sys.exit(0 if ratio <= 1.10 else 1)


if __name__ == "__main__":
    main()
