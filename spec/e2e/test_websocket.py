"""WebSockets (RFC 6455, docs/websockets.md) over real sockets against the
real binary: the upgrade and its refusals, a raw-socket suite for framing
(fragmentation, pings between fragments, masks, opcodes, reserved bits,
UTF-8 split across fragments, limits, close codes, abrupt closes), the
Debian python3-websockets client for round trips and many clients at once,
backpressure, reload (an open socket stays on its generation) and SIGTERM
(1001). The app is spec/e2e/apps/websocket.lua, the example of the doc."""
import asyncio
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

import browser
from harness import BIN, ROOT, Server, run, wait_for

APP = os.path.join(ROOT, "spec", "e2e", "apps", "websocket.lua")
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEY = base64.b64encode(b"0123456789abcdef").decode()

try:
    import websockets
except ImportError:  # the tests run with /usr/bin/python3, which has it
    websockets = None


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """A client frame; `length` lies about the payload's length."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload) if length is None else length
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return head + payload
    key = b"\x11\x22\x33\x44"
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


class Raw:
    """A WebSocket by hand: the upgrade, then frames."""

    def __init__(self, port, path="/ws/echo/lobby", extra=b"", after=b""):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                       b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                       b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\n" + extra + b"\r\n" + after)
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise AssertionError("closed during the handshake: %r" % self.buf)
            self.buf += chunk
        self.head, self.buf = self.buf.split(b"\r\n\r\n", 1)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self):
        b0, b1 = self._need(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._need(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._need(8))[0]
        assert not (b1 & 0x80), "server frames are not masked"
        return b0 & 0x0F, bool(b0 & 0x80), self._need(n)

    def send(self, data):
        self.s.sendall(data)

    def expect_close(self, code):
        """Frames until a close; asserts its code; then the server ends the TCP connection."""
        while True:
            op, _, payload = self.recv_frame()
            if op == 8:
                break
        got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        assert got == code, "close code %r, wanted %r (%r)" % (got, code, payload)
        self.s.settimeout(10)
        try:
            while self.s.recv(65536):
                pass
        except ConnectionResetError:
            pass
        return payload[2:]

    def close(self):
        self.s.close()


class WebSocketTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.check_sanitizers()

    def tearDown(self):
        # Whatever a test sent, the server goes on serving.
        self.assertEqual(self.srv.get("/")[2], b"plain")

    def raw(self, *a, **kw):
        r = Raw(self.srv.port, *a, **kw)
        self.addCleanup(r.close)
        return r

    def hello(self, r):
        op, fin, data = r.recv_frame()
        self.assertEqual((op, fin), (1, True))
        return data

    def last_close(self):
        return self.srv.get("/last-close")[2].decode()

    # ------------------------------------------------------------------ upgrade

    def test_handshake(self):
        r = self.raw()
        self.assertIn(b"HTTP/1.1 101 Switching Protocols", r.head)
        accept = base64.b64encode(hashlib.sha1((KEY + GUID).encode()).digest())
        self.assertIn(b"Sec-WebSocket-Accept: " + accept, r.head)
        self.assertIn(b"Upgrade: websocket", r.head)
        self.assertNotIn(b"Sec-WebSocket-Protocol", r.head)
        self.assertEqual(self.hello(r), b"hello lobby")

    def test_subprotocol_in_server_order(self):
        r = self.raw(extra=b"Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n")
        self.assertIn(b"Sec-WebSocket-Protocol: chat.v2", r.head)
        self.assertEqual(self.hello(r), b"hello lobby chat.v2")

    def upgrade_status(self, path="/ws/echo/lobby", drop=(), extra=b""):
        fields = {b"Upgrade": b"websocket", b"Connection": b"Upgrade", b"Sec-WebSocket-Version": b"13",
                  b"Sec-WebSocket-Key": KEY.encode()}
        lines = b"".join(k + b": " + v + b"\r\n" for k, v in fields.items() if k not in drop)
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + lines + extra + b"\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return int(data.split(b" ")[1]), data

    def test_refusals(self):
        status, data = self.upgrade_status(drop=(b"Upgrade", b"Connection"))
        self.assertEqual(status, 426)
        self.assertIn(b"application/problem+json", data)
        self.assertIn(b"Sec-WebSocket-Version: 13", data)
        self.assertEqual(self.upgrade_status(drop=(b"Connection",))[0], 400)
        status, data = self.upgrade_status(drop=(b"Sec-WebSocket-Version",),
                                           extra=b"Sec-WebSocket-Version: 8\r\n")
        self.assertEqual(status, 426)
        self.assertIn(b"Sec-WebSocket-Version: 13", data)
        for key in (b"", b"short", b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", b"!!!!!!!!!!!!!!!!!!!!!A==",
                    base64.b64encode(b"0123456789abcde")):
            status, data = self.upgrade_status(drop=(b"Sec-WebSocket-Key",),
                                               extra=b"Sec-WebSocket-Key: " + key + b"\r\n")
            self.assertEqual(status, 400, key)
            self.assertIn(b"application/problem+json", data)
        self.assertEqual(self.upgrade_status(extra=b"Origin: http://evil.example\r\n")[0], 403)
        self.assertEqual(self.upgrade_status(extra=b"Origin: http://allowed.example\r\n")[0], 101)
        self.assertEqual(self.upgrade_status("/ws/private/x")[0], 401)  # before-hooks run
        self.assertEqual(self.upgrade_status("/ws/private/x", extra=b"Authorization: Bearer ok\r\n")[0], 101)
        self.assertIn(self.upgrade_status("/ws/echo/NOT-LOWER")[0], (400, 422))  # params schema

    def test_plain_get_is_426(self):
        status, headers, body = self.srv.get("/ws/echo/lobby")
        self.assertEqual(status, 426)
        self.assertEqual(headers.get("sec-websocket-version"), "13")
        self.assertEqual(json.loads(body)["status"], 426)

    # ------------------------------------------------------------------ framing

    def test_fragments_with_pings_between(self):
        r = self.raw()
        self.hello(r)
        r.send(frame(1, b"he", fin=False) + frame(9, b"p1") + frame(0, b"ll", fin=False)
               + frame(9, b"p2") + frame(0, b"o"))
        self.assertEqual(r.recv_frame(), (10, True, b"p1"))
        self.assertEqual(r.recv_frame(), (10, True, b"p2"))
        self.assertEqual(r.recv_frame(), (1, True, b"hello"))
        r.send(frame(2, b"\x00\xff", fin=False) + frame(10, b"unasked pong") + frame(0, b"\x01"))
        self.assertEqual(r.recv_frame(), (2, True, b"\x00\xff\x01"))

    def test_frames_behind_the_upgrade_request(self):
        r = self.raw(after=frame(1, b"early") + frame(9, b"x"))
        self.hello(r)
        got = {r.recv_frame(), r.recv_frame()}
        self.assertEqual(got, {(10, True, b"x"), (1, True, b"early")})

    def test_pipelined_messages_answered_in_order(self):
        # The answers to one read's messages leave together (conn.c corks
        # while the input is handled): all of them, in order, pongs too;
        # big ones pass the cork's high water and wait for the client.
        r = self.raw()
        self.hello(r)
        burst = b"".join(frame(1, b"m%d" % i) + (frame(9, b"p%d" % i) if i % 50 == 0 else b"")
                         for i in range(200))
        r.send(burst)
        got = [r.recv_frame() for _ in range(204)]
        self.assertEqual([p for op, _, p in got if op == 1], [b"m%d" % i for i in range(200)])
        self.assertEqual([p for op, _, p in got if op == 10], [b"p%d" % i for i in range(0, 200, 50)])
        big = [bytes([65 + i % 26]) * 60000 for i in range(40)]
        r.send(b"".join(frame(2, b) for b in big))
        for b in big:
            self.assertEqual(r.recv_frame(), (2, True, b))
        r.send(frame(1, b"after"))
        self.assertEqual(r.recv_frame(), (1, True, b"after"))

    def test_byte_by_byte(self):
        r = self.raw()
        self.hello(r)
        for b in frame(1, "déjà".encode(), fin=False) + frame(0, b"!"):
            r.send(bytes([b]))
        self.assertEqual(r.recv_frame(), (1, True, "déjà!".encode()))

    def test_utf8_split_inside_a_character(self):
        r = self.raw()
        self.hello(r)
        text = "€𝄞".encode()
        r.send(frame(1, text[:1], fin=False) + frame(0, text[1:5], fin=False) + frame(0, text[5:]))
        self.assertEqual(r.recv_frame(), (1, True, text))

    def test_bad_frames_close_1002(self):
        cases = {
            "unmasked": frame(1, b"x", mask=False),
            "reserved bit": frame(1, b"x", rsv=4),
            "opcode 3": frame(3, b"x"),
            "opcode 11": frame(11, b""),
            "long ping": frame(9, b"x" * 126),
            "fragmented ping": frame(9, b"x", fin=False),
            "continuation first": frame(0, b"x"),
            "text inside a message": frame(1, b"a", fin=False) + frame(1, b"b"),
            "one-byte close": frame(8, b"\x03"),
            "close code 999": frame(8, struct.pack("!H", 999)),
            "close code 1005": frame(8, struct.pack("!H", 1005)),
        }
        for name, data in cases.items():
            with self.subTest(name):
                r = self.raw()
                self.hello(r)
                r.send(data)
                r.expect_close(1002)
                r.close()

    def test_invalid_utf8_1007(self):
        for name, data in {
            "one frame": frame(1, b"\xff"),
            "split across fragments": frame(1, b"ok \xe2\x82", fin=False) + frame(0, b"\x28"),
            "surrogate": frame(1, b"\xed\xa0\x80"),
            "overlong": frame(1, b"\xc0\xaf"),
            "unfinished at the end": frame(1, b"a\xe2\x82", fin=False) + frame(0, b""),
            "close reason": frame(8, struct.pack("!H", 1000) + b"\xff"),
        }.items():
            with self.subTest(name):
                r = self.raw()
                self.hello(r)
                r.send(data)
                r.expect_close(1007)
                r.close()

    def test_fail_fast_before_the_message_ends(self):
        r = self.raw()
        self.hello(r)
        r.send(frame(1, b"\xff", fin=False))  # no final frame ever comes
        r.expect_close(1007)

    def test_limits_1009(self):
        r = self.raw()
        self.hello(r)
        # Only the head of a 100 kB frame: refused from its length alone.
        r.send(frame(2, b"", length=100000)[:14])
        r.expect_close(1009)
        r = self.raw()
        self.hello(r)
        piece = b"x" * 40000
        r.send(frame(2, piece, fin=False) + frame(0, piece))
        r.expect_close(1009)
        r = self.raw()
        self.hello(r)
        r.send(frame(2, b"y" * 65536))  # exactly the limit
        self.assertEqual(r.recv_frame(), (2, True, b"y" * 65536))

    # ------------------------------------------------------------------ close

    def test_client_close_is_echoed(self):
        r = self.raw()
        self.hello(r)
        r.send(frame(8, struct.pack("!H", 1000) + b"done"))
        self.assertEqual(r.expect_close(1000), b"")
        self.assertTrue(wait_for(lambda: self.last_close() == "closed 1000 done"), self.last_close())

    def test_close_without_code_is_1005(self):
        r = self.raw()
        self.hello(r)
        r.send(frame(8))
        op, _, payload = r.recv_frame()
        self.assertEqual((op, payload), (8, b""))
        self.assertTrue(wait_for(lambda: self.last_close() == "closed 1005 "), self.last_close())

    def test_abrupt_close_is_1006(self):
        r = self.raw()
        self.hello(r)
        r.send(frame(1, b"half", fin=False))
        r.s.close()
        self.assertTrue(wait_for(lambda: self.last_close() == "closed 1006 "), self.last_close())

    def test_server_close_code(self):
        r = self.raw()
        self.hello(r)
        r.send(frame(1, b"close 4001"))
        self.assertEqual(r.expect_close(4001), b"bye")

    def test_close_from_another_thread_wakes_receive(self):
        r = self.raw("/ws/closer")
        self.assertEqual(r.expect_close(4002), b"from a thread")
        self.assertTrue(wait_for(lambda: self.last_close() == "closed 4002 from a thread"), self.last_close())

    def test_room_on_a_channel(self):
        a, b = self.raw("/ws/news"), self.raw("/ws/news")
        self.assertEqual(self.hello(a), b"subscribed")
        self.assertEqual(self.hello(b), b"subscribed")
        a.send(frame(1, b"from a"))  # a's handler publishes; both pumps wake
        self.assertEqual(a.recv_frame(), (1, True, b"from a"))
        self.assertEqual(b.recv_frame(), (1, True, b"from a"))
        st, h, body = self.srv.request("POST", "/news", body="from http")
        self.assertEqual(body, b'{"delivered":2}')
        self.assertEqual(b.recv_frame(), (1, True, b"from http"))
        b.send(frame(8, struct.pack("!H", 1000)))
        b.expect_close(1000)
        self.assertEqual(a.recv_frame(), (1, True, b"from http"))
        self.assertTrue(wait_for(lambda: self.srv.request("POST", "/news", body="x")[2] == b'{"delivered":1}'))

    def test_ping_interval(self):
        r = self.raw("/ws/heartbeat")
        for _ in range(3):  # answered pongs keep it open
            self.assertEqual(r.recv_frame(), (9, True, b""))
            r.send(frame(10))
        self.assertEqual(r.recv_frame(), (9, True, b""))
        self.assertEqual(r.expect_close(1001), b"no answer to ping")  # this one goes unanswered
        self.assertTrue(wait_for(lambda: self.last_close() == "closed 1006 no answer to ping"), self.last_close())

    def test_server_ping_and_receive_timeout(self):
        r = self.raw()
        self.hello(r)
        r.send(frame(1, b"ping"))
        self.assertEqual(r.recv_frame(), (9, True, b"p"))
        self.assertEqual(r.recv_frame(), (1, True, b"ping"))
        r.send(frame(1, b"timeout"))
        self.assertEqual(r.recv_frame(), (1, True, b"nil timeout"))

    def test_backpressure(self):
        r = self.raw("/ws/flood")
        total = 0
        while True:
            op, _, data = r.recv_frame()
            if op == 1:
                break
            total += len(data)
            if total < 1 << 20:
                time.sleep(0.001)  # a slow reader at first
        self.assertEqual((total, data), (200 * 65536, b"done"))

    # ------------------------------------------------------------------ client library

    @unittest.skipIf(websockets is None, "python3-websockets is not installed")
    def test_client_library_round_trips(self):
        async def go():
            url = "ws://127.0.0.1:%d/ws/echo/lib" % self.srv.port
            async with websockets.connect(url, subprotocols=["chat.v1"], max_size=None) as ws:
                self.assertEqual(ws.subprotocol, "chat.v1")
                self.assertEqual(await ws.recv(), "hello lib chat.v1")
                for msg in ("hi", "ünïcødé", b"\x00\x01\x02", "x" * 65536, bytes(range(256)) * 200):
                    await ws.send(msg)
                    self.assertEqual(await ws.recv(), msg)
                pong = await ws.ping(b"abc")
                await asyncio.wait_for(pong, 10)
            self.assertEqual(ws.close_code, 1000)
        asyncio.run(go())

    @unittest.skipIf(websockets is None, "python3-websockets is not installed")
    def test_many_clients(self):
        async def one(i):
            url = "ws://127.0.0.1:%d/ws/echo/many" % self.srv.port
            async with websockets.connect(url) as ws:
                await ws.recv()
                for j in range(20):
                    await ws.send("%d-%d" % (i, j))
                    self.assertEqual(await ws.recv(), "%d-%d" % (i, j))
            return i

        async def go():
            done = await asyncio.gather(*(one(i) for i in range(100)))
            self.assertEqual(sorted(done), list(range(100)))
        asyncio.run(go())


@unittest.skipUnless(browser.available(), "chromium not installed (.ci/setup.sh)")
class HookHeadersTest(unittest.TestCase):
    """The 101 carries the headers the route's hooks set: a session a
    before hook wrote (its Set-Cookie), an after hook's own header and
    cookie; never one that contradicts the upgrade."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(os.path.join(ROOT, "spec", "e2e", "apps", "websocket_hooks.lua"))

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.check_sanitizers()

    def test_101_has_the_hooks_headers(self):
        r = Raw(self.srv.port, "/ws/hooked")
        self.addCleanup(r.close)
        lines = r.head.decode().split("\r\n")
        self.assertEqual(lines[0], "HTTP/1.1 101 Switching Protocols")
        fields = [tuple(l.split(": ", 1)) for l in lines[1:]]
        names = [k.lower() for k, _ in fields]
        self.assertIn(("X-Hooked", "yes"), fields)
        self.assertIn("theme=dark; Path=/", [v for k, v in fields if k == "Set-Cookie"])
        session = [v for k, v in fields if k == "Set-Cookie" and v.startswith("session=")]
        self.assertEqual(len(session), 1, fields)
        # The upgrade's own fields, once each; nothing about a body.
        self.assertEqual(names.count("connection"), 1)
        self.assertEqual(names.count("upgrade"), 1)
        self.assertIn(("Upgrade", "websocket"), fields)
        self.assertIn(("Connection", "Upgrade"), fields)
        for name in ("content-type", "content-length", "transfer-encoding"):
            self.assertNotIn(name, names)
        op, _, data = r.recv_frame()
        self.assertEqual((op, data), (1, b"hello ada"))
        # The session the hook wrote is the browser's now: a later request has it.
        cookie = session[0].split(";", 1)[0]
        status, _, body = self.srv.get("/whoami", headers={"Cookie": cookie})
        self.assertEqual((status, json.loads(body)), (200, {"user": "ada"}))
        # and the socket works as any
        r.send(frame(1, b"echo me"))
        self.assertEqual(r.recv_frame()[2], b"echo me")

    def test_client_library_sees_the_cookie(self):
        async def go():
            async with websockets.connect("ws://127.0.0.1:%d/ws/hooked" % self.srv.port) as ws:
                headers = ws.response.headers if hasattr(ws, "response") else ws.response_headers
                self.assertEqual(headers["X-Hooked"], "yes")
                self.assertTrue(any(v.startswith("session=") for v in headers.get_all("Set-Cookie")))
                self.assertEqual(await ws.recv(), "hello ada")
        if websockets is None:
            self.skipTest("python3-websockets")
        asyncio.run(go())

    def test_a_hook_that_replaces_the_answer_stops_the_upgrade(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"GET /ws/refused HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + KEY.encode() + b"\r\n\r\n")
        data = b""
        while b"not now" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 403 "), data)
        self.assertIn(b'{"error":"not now"}', data)
        self.assertNotIn(b"101", data.split(b"\r\n", 1)[0])
        # the hooks ran once (not again on the replacement: it has none of
        # their headers), and the connection serves HTTP on
        self.assertNotIn(b"X-Hooked", data)
        s.sendall(b"GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b'{"user":null}' not in data and b'{}' not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data)


class BrowserChatTest(unittest.TestCase):
    def test_two_tabs_chat(self):
        srv = Server(APP)
        self.addCleanup(srv.stop)
        with browser.Browser() as b:
            ann, bob = b.page(), b.page()
            ann.goto(srv.url("/chat?name=ann"))
            ann.wait_for("window.ready")
            bob.goto(srv.url("/chat?name=bob"))
            bob.wait_for("window.ready")
            ann.wait_for("window.log.includes('bob joined')")
            ann.eval("say('hello bob')")
            bob.wait_for("window.log.includes('ann: hello bob')")
            bob.eval("say('hi ann')")
            ann.wait_for("window.log.includes('bob: hi ann')")
            self.assertIn("bob: hi ann", bob.eval("document.getElementById('log').textContent"))
            bob.eval("ws.close(1000, 'bye')")
            ann.wait_for("window.log.includes('bob left')")
        srv.stop()
        srv.check_sanitizers()


class LifecycleTest(unittest.TestCase):
    def test_ws_max_message_flag(self):
        srv = Server(APP, "--ws-max-message", "100")
        self.addCleanup(srv.stop)
        r = Raw(srv.port, "/ws/version")  # no max_message of its own
        r.recv_frame()
        r.send(frame(1, b"x" * 100))
        self.assertEqual(r.recv_frame()[2], b"one " + b"x" * 100)
        r.send(frame(1, b"x" * 101))
        r.expect_close(1009)
        r.close()
        r = Raw(srv.port)  # max_message = 64 KiB on the route wins
        r.recv_frame()
        r.send(frame(1, b"y" * 1000))
        self.assertEqual(r.recv_frame()[2], b"y" * 1000)
        r.close()
        srv.stop()
        srv.check_sanitizers()
        bad = subprocess.run([BIN, "--ws-max-message", "lots", APP], capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("--ws-max-message", bad.stderr)

    def test_reload_keeps_open_sockets_on_their_generation(self):
        d = tempfile.mkdtemp(prefix="crater-e2e-ws-")
        self.addCleanup(shutil.rmtree, d, True)
        app = os.path.join(d, "app.lua")
        src = open(APP).read().replace("\nreturn app", "\napp:on_stop(function(info) io.stderr:write('on_stop ', info.generation, '\\n') end)\nreturn app")
        with open(app, "w") as f:
            f.write(src)
        srv = Server(app)
        self.addCleanup(srv.stop)
        old = Raw(srv.port, "/ws/version")
        self.assertEqual(old.recv_frame()[2], b"one")
        with open(app + ".tmp", "w") as f:
            f.write(src.replace('local VERSION = "one"', 'local VERSION = "two"'))
        os.rename(app + ".tmp", app)
        srv.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reloaded" in srv.log()), srv.log())
        new = Raw(srv.port, "/ws/version")
        self.assertEqual(new.recv_frame()[2], b"two")
        old.send(frame(1, b"still"))
        self.assertEqual(old.recv_frame()[2], b"one still")
        new.send(frame(1, b"new"))
        self.assertEqual(new.recv_frame()[2], b"two new")
        self.assertNotIn("on_stop 1", srv.log())  # the open socket keeps generation 1
        old.send(frame(8, struct.pack("!H", 1000)))
        old.expect_close(1000)
        self.assertTrue(wait_for(lambda: "on_stop 1" in srv.log()), srv.log())
        new.close()
        old.close()
        srv.stop()
        srv.check_sanitizers()

    def test_sigterm_closes_with_1001(self):
        srv = Server(APP)
        self.addCleanup(srv.stop)
        r = Raw(srv.port)
        r.recv_frame()
        srv.proc.send_signal(signal.SIGTERM)
        self.assertEqual(r.expect_close(1001), b"the server is shutting down")
        r.close()
        self.assertEqual(srv.proc.wait(30), 0)
        srv.check_sanitizers()


if __name__ == "__main__":
    run()
