#!/usr/bin/python3
"""Open N keep-alive connections to a local server and measure the server's RSS.

    spec/bench/idle_conns.py --port PORT --pid PID [--conns 10000] [--path /plaintext]

Each connection sends one `GET PATH` (HTTP/1.1, keep-alive), reads the whole response
(Content-Length framed) and then stays open, idle. With all N open it prints the
server's RSS (VmRSS of /proc/PID/status), checks that the server closed none of them,
then closes them all and prints the RSS once more. 127.0.0.1 only. Exit status 1 if a
connection fails or is closed by the server. Python 3 standard library only.
"""
import argparse
import socket
import sys
import time


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def mem(pid):
    return {k: status_kib(pid, k) for k in ("VmRSS", "RssAnon", "RssFile", "VmHWM")}


def mib(kib):
    return kib / 1024.0


def read_response(sock):
    """Read one Content-Length-framed response; return (status, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("server closed before the response head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"transfer-encoding":
            raise ConnectionError("chunked response; expected Content-Length")
    while len(rest) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("server closed mid-body")
        rest += chunk
    if len(rest) != length:
        raise ConnectionError("more bytes than Content-Length (unexpected)")
    return status, rest


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="server PID (for /proc/PID/status)")
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--path", default="/plaintext")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to wait before measuring")
    args = ap.parse_args()

    request = (f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n"
               "Connection: keep-alive\r\n\r\n").encode()
    before = mem(args.pid)
    socks = []
    t0 = time.monotonic()
    try:
        for i in range(args.conns):
            s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
            s.sendall(request)
            status, _body = read_response(s)
            if status != 200:
                raise ConnectionError(f"connection {i}: status {status}")
            socks.append(s)
    except (OSError, ConnectionError) as e:
        print(f"idle_conns: failed after {len(socks)} connections: {e}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - t0
    time.sleep(args.settle)
    held = mem(args.pid)

    # The server must still hold every connection: a closed one reads EOF at once.
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1

    n = len(socks)
    per_conn = (held["VmRSS"] - before["VmRSS"]) * 1024.0 / n if n else 0.0
    print(f"connections opened: {n} (each: one GET {args.path}, response read, kept open) in {elapsed:.1f}s")
    print(f"RSS before connections: {mib(before['VmRSS']):.1f} MiB")
    print(f"RSS with {n} idle keep-alive connections: {mib(held['VmRSS']):.1f} MiB "
          f"(anon {mib(held['RssAnon']):.1f} MiB, file {mib(held['RssFile']):.1f} MiB)")
    print(f"RSS per connection: {per_conn / 1024.0:.2f} KiB ({per_conn:.0f} bytes)")
    print(f"connections closed by the server while idle: {closed}")

    for s in socks:
        s.close()
    time.sleep(args.settle)
    after = mem(args.pid)
    print(f"RSS after closing them: {mib(after['VmRSS']):.1f} MiB (peak VmHWM {mib(after['VmHWM']):.1f} MiB)")
    print(f"RESULT conns={n} rss_before_kib={before['VmRSS']} rss_held_kib={held['VmRSS']} "
          f"rss_after_kib={after['VmRSS']} per_conn_bytes={per_conn:.0f} closed={closed}")
    return 0 if closed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
