"""Headless Chromium driven over the DevTools protocol, for the tests of
browser-facing features (forms and uploads, cookies and sessions,
redirects, static files, CORS): a real browser does what a user's would,
against the real `crater` binary.

Only the standard library: the DevTools endpoint is a WebSocket, and the
few frames a client needs (masked text out; text, close and ping in) are
written here. Chromium comes from Debian (.ci/setup.sh); `available()` says
whether it is there, for tests to skip on a machine without it.

    with Browser() as b:
        page = b.page()
        page.goto(srv.url("/login"))
        page.eval("document.querySelector('form').submit()")
        page.wait_for("location.pathname === '/home'")
"""
import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request


def _port_written(path):
    """Chromium writes its DevTools port, then a newline, to this file."""
    try:
        with open(path) as f:
            return f.read().count("\n") >= 1
    except OSError:
        return False


def available():
    return shutil.which("chromium") is not None


class BrowserError(Exception):
    pass


class _WebSocket:
    """A client WebSocket (RFC 6455) on a plain TCP socket: enough for CDP."""

    def __init__(self, url, timeout=30):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)", url)
        if not m:
            raise BrowserError("not a ws:// URL: " + url)
        host, port, path = m.group(1), int(m.group(2)), m.group(3)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise BrowserError("DevTools closed the connection during the handshake")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise BrowserError("DevTools refused the WebSocket: %r" % head[:200])

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise BrowserError("DevTools connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, text):
        data = text.encode()
        n = len(data)
        if n < 126:
            head = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + body)

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            if b1 & 0x80:
                mask = self._read(4)
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read(n)))
            else:
                payload = self._read(n)
            op = b0 & 0x0F
            if op == 0x8:
                raise BrowserError("DevTools closed the WebSocket")
            if op == 0x9:  # ping: answer pong with the same payload
                mask = os.urandom(4)
                self.sock.sendall(struct.pack("!BB", 0x8A, 0x80 | len(payload)) + mask +
                                  bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
                continue
            if op in (0x1, 0x2, 0x0):
                message += payload
                if b0 & 0x80:
                    return message.decode()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Page:
    """One tab: navigate, evaluate JavaScript, set files on inputs."""

    def __init__(self, browser, ws_url):
        self.browser = browser
        self.ws = _WebSocket(ws_url)
        self.next_id = 0
        self.events = []
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Network.enable")

    def call(self, method, timeout=30, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise BrowserError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)
        raise BrowserError("%s: no answer in %ss" % (method, timeout))

    def goto(self, url, timeout=30):
        """Navigates and waits for the page's load event."""
        self.events = [e for e in self.events if e["method"] != "Page.loadEventFired"]
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired", timeout)

    def wait_event(self, name, timeout=30):
        deadline = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["method"] == name:
                    del self.events[i]
                    return e.get("params", {})
            if time.time() > deadline:
                raise BrowserError("no %s in %ss" % (name, timeout))
            self.ws.sock.settimeout(max(0.1, deadline - time.time()))
            try:
                msg = json.loads(self.ws.recv())
            except socket.timeout:
                continue
            finally:
                self.ws.sock.settimeout(30)
            if "method" in msg:
                self.events.append(msg)

    def eval(self, js, timeout=30):
        """The value of a JavaScript expression (promises awaited)."""
        r = self.call("Runtime.evaluate", timeout=timeout, expression=js, awaitPromise=True,
                      returnByValue=True, userGesture=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise BrowserError("JavaScript failed: %s" % (d.get("exception", {}).get("description") or d.get("text")))
        return r["result"].get("value")

    def wait_for(self, js, timeout=20):
        """Waits until a JavaScript expression is truthy; returns its value."""
        deadline = time.time() + timeout
        while True:
            try:
                v = self.eval(js)
            except BrowserError:
                v = None  # the page is between documents
            if v:
                return v
            if time.time() > deadline:
                raise BrowserError("still false after %ss: %s" % (timeout, js))
            time.sleep(0.05)

    def set_files(self, selector, paths):
        """Chooses files for an <input type=file>, as a user would."""
        doc = self.call("DOM.getDocument")
        node = self.call("DOM.querySelector", nodeId=doc["root"]["nodeId"], selector=selector)
        if not node.get("nodeId"):
            raise BrowserError("no element matches " + selector)
        self.call("DOM.setFileInputFiles", nodeId=node["nodeId"], files=list(paths))

    def cookies(self):
        return self.call("Network.getAllCookies")["cookies"]

    def close(self):
        self.ws.close()


class Browser:
    """A headless Chromium with a throwaway profile, reaching only this
    machine. Stopped (and its profile removed) by close()."""

    def __init__(self, timeout=60):
        if not available():
            raise BrowserError("chromium is not installed (.ci/setup.sh installs it)")
        self.profile = tempfile.mkdtemp(prefix="crater-chromium-")
        self.proc = subprocess.Popen([
            "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--user-data-dir=" + self.profile,
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
            "--remote-debugging-port=0", "--remote-allow-origins=*", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + timeout
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        while not _port_written(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                err = self.proc.stderr.read().decode(errors="replace")[-2000:] if self.proc.poll() is not None else ""
                self.close()
                raise BrowserError("chromium did not start: " + err)
            time.sleep(0.05)
        with open(port_file) as f:
            self.port = int(f.read().split("\n")[0])
        self.pages = []

    def page(self):
        """A new tab."""
        req = urllib.request.Request("http://127.0.0.1:%d/json/new?about:blank" % self.port, method="PUT")
        with urllib.request.urlopen(req, timeout=30) as r:
            target = json.loads(r.read())
        p = Page(self, target["webSocketDebuggerUrl"])
        self.pages.append(p)
        return p

    def close(self):
        for p in getattr(self, "pages", []):
            p.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
