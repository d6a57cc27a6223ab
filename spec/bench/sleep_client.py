#!/usr/bin/env python3
"""sleep_client.py - N concurrent requests that each wait on the server.

  sleep_client.py PORT N PATH PID [RAMP_S]

Opens N connections to 127.0.0.1:PORT, sends one `GET PATH` on each (all
within RAMP_S, default 0.3 s), samples the server's RSS (/proc/PID/status)
while every request is waiting, reads every answer, and prints one line of
JSON: answered (status 200), failed, seconds (from the first send to the
last answer), rss_idle_kib (before the first connection), rss_waiting_kib
(the peak while waiting), per_request_bytes ((waiting - idle) / N).
"""
import asyncio
import json
import resource
import sys
import time


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def one(port, path, started, results):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        results["failed"] += 1
        return
    writer.write(("GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n" % path).encode())
    await writer.drain()
    started.append(1)
    try:
        data = await asyncio.wait_for(reader.read(), timeout=60)
    except (OSError, asyncio.TimeoutError):
        data = b""
    if data.startswith(b"HTTP/1.1 200") or data.startswith(b"HTTP/1.0 200"):
        results["answered"] += 1
    else:
        results["failed"] += 1
    writer.close()


async def main():
    port, n, path, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    ramp = float(sys.argv[5]) if len(sys.argv) > 5 else 0.3
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, n + 1024)), hard))
    idle = rss_kib(pid)
    results = {"answered": 0, "failed": 0}
    started = []
    t0 = time.monotonic()
    tasks = []
    batch = max(1, n // 30)
    for i in range(n):
        tasks.append(asyncio.ensure_future(one(port, path, started, results)))
        if i % batch == batch - 1:
            await asyncio.sleep(ramp / 30)
    peak = 0
    # every request has been sent, none answered yet (they wait ~1 s): sample
    while len(started) < n and time.monotonic() - t0 < 10:
        await asyncio.sleep(0.01)
    for _ in range(10):
        peak = max(peak, rss_kib(pid))
        await asyncio.sleep(0.02)
    await asyncio.gather(*tasks)
    secs = time.monotonic() - t0
    print(json.dumps({"answered": results["answered"], "failed": results["failed"],
                      "seconds": round(secs, 3), "rss_idle_kib": idle, "rss_waiting_kib": peak,
                      "per_request_bytes": round((peak - idle) * 1024 / n)}))


asyncio.run(main())
