"""Shared helpers for the end-to-end specs: start the real `crater` binary on
a free port, talk to it with raw sockets, http.client and curl, and check its
log and exit status (including sanitizer reports under crater-asan).

Each spec file is a unittest module run by ctest as
`python3 spec/e2e/test_NAME.py`, with CRATER_BIN naming the binary."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CRATER_BIN", os.path.join(ROOT, "build", "crater"))
ASAN = os.environ.get("CRATER_ASAN") == "1"
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def example(*parts):
    return os.path.join(ROOT, "examples", *parts)


class Server:
    """A running `crater` process. Use as a context manager or call stop()."""

    def __init__(self, app, *args, port=0, wait=True, env=None):
        self.app = app
        self.log_file = tempfile.NamedTemporaryFile(prefix="crater-e2e-", suffix=".log", delete=False)
        cmd = [BIN, "--port", str(port), *args, app]
        self.proc = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     cwd=ROOT, env={**os.environ, **(env or {})})
        self.log_file.close()
        self.port = None
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(r"on http://[^:]+:(\d+)", self.log())
            if m and int(m.group(1)) != 0:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                raise AssertionError("crater exited at startup (%s):\n%s" % (self.proc.returncode, self.log()))
            time.sleep(0.02)
        raise AssertionError("crater did not start:\n" + self.log())

    def log(self):
        with open(self.log_file.name, "r", errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("crater did not stop within %ss:\n%s" % (timeout, self.log()))
        self.check_sanitizers()
        return self.proc.returncode

    def check_sanitizers(self):
        text = self.log()
        for mark in SANITIZER_MARKS:
            if mark in text:
                raise AssertionError("sanitizer report in the server log:\n" + text)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        os.unlink(self.log_file.name)

    # --- clients ----------------------------------------------------------

    def connect(self, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def request(self, method, path, body=None, headers=None, timeout=10):
        """One request on a fresh connection with http.client; returns
        (status, headers dict with lowercase names, body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                headers = {"Content-Type": "application/json", **(headers or {})}
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            hdrs = {}
            for k, v in r.getheaders():
                k = k.lower()
                hdrs[k] = hdrs[k] + "\n" + v if k in hdrs else v
            return r.status, hdrs, data
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def raw(self, data, timeout=5, read_until_close=True):
        """Sends raw bytes on a new connection and returns all bytes received
        until the server closes (or timeout)."""
        s = self.connect(timeout=timeout)
        try:
            s.sendall(data)
            return recv_all(s, timeout)
        finally:
            s.close()

    def curl(self, *args):
        out = subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True, cwd=ROOT)
        return out.returncode, out.stdout, out.stderr

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)


def needs(ok, why):
    """A tool .ci/setup.sh installs: when it is missing the test FAILS, so a
    broken setup cannot pass as green. CRATER_ALLOW_SKIP=1 makes it a skip
    (a machine without npm or chromium, on purpose)."""
    if ok or os.environ.get("CRATER_ALLOW_SKIP") == "1":
        return unittest.skipUnless(ok, why)

    def failing(f):
        def test(self):
            self.fail("%s: run .ci/setup.sh (or set CRATER_ALLOW_SKIP=1)" % why)
        test.__name__ = f.__name__
        return test
    return failing


def recv_all(s, timeout=5):
    s.settimeout(timeout)
    chunks = []
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    except socket.timeout:
        pass
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def free_port():
    """A port nobody listens on now (for servers that must be told one:
    --workers, PostgreSQL, redis-server, nginx)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def children(parent):
    """The pids of parent's child processes, sorted."""
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True)
    return sorted(int(p) for p in out.stdout.split())


def wait_for(pred, timeout=20):
    """Polls pred() every 20 ms until it returns something true (returned) or
    timeout seconds have passed (then pred()'s last value). 20 s by default:
    ASan builds on a loaded machine are slow."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    return pred()


def connection_refused(port):
    """True when a connection to 127.0.0.1:port is refused: the server has
    stopped listening. One that reached the backlog as the listener closed is
    reset instead: not yet, ask again (poll it with wait_for)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionResetError:
        return False
    except ConnectionRefusedError:
        return True


class HandlerNotes:
    """For a TestCase (with cls.srv) whose app keeps what each handler tagged
    ?tag= went through, as GET /seen/<tag> -> {"seen": "..."}: the tests of
    clients that go away while a stream's or an SSE handler waits."""

    def seen(self, tag):
        return json.loads(self.srv.get("/seen/" + tag)[2])

    def until_seen(self, tag, last, timeout=10):
        """What the handler tagged `tag` noted, once it noted `last`."""
        v = wait_for(lambda: (self.seen(tag)["seen"] or "").endswith(last) and self.seen(tag), timeout)
        self.assertTrue(v, "handler %s did not get to %r: %r\n%s" % (tag, last, self.seen(tag), self.srv.log()))
        return v

    def open(self, path, marker, headers=b"", rcvbuf=None):
        """A GET of path on a socket of its own, read until marker came:
        (the socket, the bytes read)."""
        s = socket.socket()
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(10)
        s.connect(("127.0.0.1", self.srv.port))
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path.encode(), headers))
        data = b""
        while marker not in data:
            chunk = s.recv(65536)
            self.assertTrue(chunk, data)
            data += chunk
        return s, data


def read_response(f):
    """Reads one HTTP/1.1 response from a socket file object; returns
    (status, headers dict lowercase, body bytes). Handles Content-Length and
    chunked bodies."""
    line = f.readline()
    if not line:
        raise AssertionError("connection closed before a response")
    parts = line.decode().split(" ", 2)
    status = int(parts[1])
    headers = {}
    while True:
        h = f.readline().decode()
        if h in ("\r\n", "\n", ""):
            break
        k, v = h.split(":", 1)
        k = k.strip().lower()
        headers[k] = headers[k] + "\n" + v.strip() if k in headers else v.strip()
    body = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int(f.readline().split(b";")[0], 16)
            if size == 0:
                f.readline()
                break
            body += f.read(size)
            f.readline()
    elif "content-length" in headers:
        body = f.read(int(headers["content-length"]))
    return status, headers, body


def parse_responses(data):
    """Splits raw bytes holding several responses (no HEAD responses)."""
    import io
    f = io.BufferedReader(io.BytesIO(data))
    out = []
    while f.peek(1):
        out.append(read_response(f))
    return out


def run():
    unittest.main(verbosity=2)
