"""permessage-deflate (RFC 7692, docs/websockets.md) over real sockets
against the real binary: the negotiation (parameters accepted, declined,
malformed offers declined without failing the handshake), round trips with
the Debian python3-websockets client (which offers the extension) with and
without context takeover, raw frames compressed by hand with zlib (RSV1
without negotiation, corrupt data, a zip bomb past max_message, fragmented
compressed messages, RSV1 on control and continuation frames), and
headless Chromium. The app is spec/e2e/apps/websocket_deflate.lua."""
import asyncio
import os
import random
import struct
import subprocess
import tempfile
import unittest
import zlib

import browser
from harness import BIN, ROOT, Server, run
from test_websocket import Raw, frame

APP = os.path.join(ROOT, "spec", "e2e", "apps", "websocket_deflate.lua")

try:
    import websockets
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
except ImportError:  # the tests run with /usr/bin/python3, which has it
    websockets = None


def ext_of(head):
    for line in head.split(b"\r\n"):
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"sec-websocket-extensions":
            return v.strip().decode()
    return None


class Deflater:
    """The client's side of the extension, by hand."""

    def __init__(self, takeover=True):
        self.takeover = takeover
        self.z = zlib.compressobj(6, zlib.DEFLATED, -15)

    def __call__(self, data):
        out = self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        if not self.takeover:
            self.z = zlib.compressobj(6, zlib.DEFLATED, -15)
        return out[:-4]


class Inflater:
    def __init__(self):
        self.z = zlib.decompressobj(-15)

    def __call__(self, data):
        return self.z.decompress(data + b"\x00\x00\xff\xff")


class DeflateTest(unittest.TestCase):
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

    def raw(self, path="/ws", offer=b"permessage-deflate"):
        extra = b"Sec-WebSocket-Extensions: " + offer + b"\r\n" if offer is not None else b""
        r = Raw(self.srv.port, path, extra=extra)
        self.addCleanup(r.close)
        return r

    # ------------------------------------------------------------ negotiation

    def test_negotiation(self):
        cases = [
            (b"permessage-deflate", "permessage-deflate"),
            (b"permessage-deflate; client_max_window_bits", "permessage-deflate; client_max_window_bits=12"),
            (b"permessage-deflate; client_max_window_bits=10", "permessage-deflate; client_max_window_bits=10"),
            (b"permessage-deflate; server_max_window_bits=10; server_no_context_takeover",
             "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"),
            (b"permessage-deflate; server_max_window_bits=\"15\"", "permessage-deflate; server_max_window_bits=12"),
            (b"Permessage-Deflate ;  client_no_context_takeover ", "permessage-deflate; client_no_context_takeover"),
            # the first acceptable offer wins; bad ones are declined
            (b"x-foo, permessage-deflate; bogus=1, permessage-deflate; server_no_context_takeover",
             "permessage-deflate; server_no_context_takeover"),
            # declined: malformed or unknown parameters, duplicates, bad values, a window we cannot keep to
            (b"permessage-deflate; bogus", None),
            (b"permessage-deflate; server_no_context_takeover; server_no_context_takeover", None),
            (b"permessage-deflate; server_no_context_takeover=1", None),
            (b"permessage-deflate; server_max_window_bits", None),
            (b"permessage-deflate; server_max_window_bits=16", None),
            (b"permessage-deflate; server_max_window_bits=08", None),
            (b"permessage-deflate; server_max_window_bits=8", None),
            (b"permessage-deflate; client_max_window_bits=7", None),
            (b"permessage-deflate; client_max_window_bits=\"1\"5", None),
            (b"permessage-deflate; client_max_window_bits; client_max_window_bits", None),
            (b"x-webkit-deflate-frame", None),
            (b";;;,,,\"", None),
        ]
        for offer, want in cases:
            with self.subTest(offer=offer):
                r = self.raw(offer=offer)
                self.assertIn(b" 101 ", r.head)
                self.assertEqual(ext_of(r.head), want)
                r.send(frame(1, b"still works"))
                op, _, data = r.recv_frame()
                self.assertEqual(Inflater()(data) if want else data, b"still works")
                r.close()

    def test_off_by_route_or_client(self):
        r = self.raw("/ws/plain")
        self.assertIsNone(ext_of(r.head))
        r.send(frame(1, b"x", rsv=4))
        r.expect_close(1002)
        r = self.raw(offer=None)
        self.assertIsNone(ext_of(r.head))
        r.send(frame(1, Deflater()(b"hello"), rsv=4))
        r.expect_close(1002)

    # ------------------------------------------------------------ raw frames

    def test_raw_round_trip_with_context(self):
        r = self.raw()
        d, i = Deflater(), Inflater()
        for n in range(3):
            msg = ("message %d " % n).encode() * 200
            r.send(frame(1, d(msg), rsv=4))
            op, fin, data = r.recv_frame()
            self.assertEqual((op, fin), (1, True))
            self.assertEqual(i(data), msg)
            self.assertLess(len(data), len(msg) // 10)
        # an uncompressed message is fine too: compression is per message
        r.send(frame(2, b"\x00\xff"))
        self.assertEqual(i(r.recv_frame()[2]), b"\x00\xff")

    def test_rsv1_is_set_on_compressed_frames(self):
        r = self.raw()
        r.send(frame(1, b"big 5000"))
        b0 = r._need(1)[0]
        r.buf = bytes([b0]) + r.buf
        self.assertEqual(b0 & 0x70, 0x40)
        op, fin, data = r.recv_frame()
        self.assertEqual(Inflater()(data), (b"crater " * 715)[:5000])
        # empty messages go uncompressed
        r.send(frame(1, b""))
        b0 = r._need(1)[0]
        r.buf = bytes([b0]) + r.buf
        self.assertEqual(b0 & 0x70, 0)
        self.assertEqual(r.recv_frame()[2], b"")

    def test_fragmented_compressed(self):
        r = self.raw()
        d = Deflater()
        msg = "fragments with ü and € split everywhere ".encode() * 50
        z = d(msg)
        parts = [z[:1], z[1:7], z[7:100], z[100:]]
        r.send(frame(1, parts[0], fin=False, rsv=4))
        r.send(frame(9, b"between"))  # a ping between fragments
        self.assertEqual(r.recv_frame()[:3:2], (0xA, b"between"))
        r.send(frame(0, parts[1], fin=False))
        r.send(frame(0, parts[2], fin=False))
        r.send(frame(0, parts[3], fin=True))
        self.assertEqual(Inflater()(r.recv_frame()[2]), msg)

    def test_rsv1_on_continuation_or_control(self):
        r = self.raw()
        r.send(frame(1, Deflater()(b"ab"), fin=False, rsv=4))
        r.send(frame(0, b"", fin=True, rsv=4))
        r.expect_close(1002)
        r = self.raw()
        r.send(frame(9, b"p", rsv=4))
        r.expect_close(1002)
        r = self.raw()
        r.send(frame(1, b"x", rsv=2))  # RSV2: no extension uses it
        r.expect_close(1002)

    def test_corrupt_data(self):
        r = self.raw()
        r.send(frame(1, b"\xff\xff\xff\xff garbage", rsv=4))
        r.expect_close(1007)
        # a compressed text message that inflates to bytes that are not UTF-8
        r = self.raw()
        r.send(frame(1, Deflater()(b"ok \xc3\x28"), rsv=4))
        r.expect_close(1007)

    def test_zip_bomb(self):
        # 100 MiB of zeros: about 100 KiB compressed, well under the frame
        # limit; the server stops inflating at max_message (256 KiB).
        bomb = Deflater()(b"\x00" * (100 << 20))
        self.assertLess(len(bomb), 256 * 1024)
        r = self.raw()
        r.send(frame(2, bomb, rsv=4))
        r.expect_close(1009)
        # exactly the limit passes, one byte more does not
        r = self.raw()
        r.send(frame(2, Deflater()(b"a" * (256 * 1024)), rsv=4))
        self.assertEqual(len(Inflater()(r.recv_frame()[2])), 256 * 1024)
        r.send(frame(2, Deflater()(b"a" * (256 * 1024 + 1)), rsv=4))
        r.expect_close(1009)
        # the bomb in small fragments
        r = self.raw()
        r.send(frame(2, bomb[:1000], fin=False, rsv=4))
        for at in range(1000, len(bomb), 1000):
            try:
                r.send(frame(0, bomb[at:at + 1000], fin=at + 1000 >= len(bomb)))
            except (BrokenPipeError, ConnectionResetError):
                break
        r.expect_close(1009)

    def test_no_context_takeover_raw(self):
        r = self.raw(offer=b"permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        d = Deflater(takeover=False)
        msg = b"the same message again and again " * 20
        for _ in range(3):
            r.send(frame(1, d(msg), rsv=4))
            # each answer inflates on its own, without what came before
            self.assertEqual(zlib.decompressobj(-15).decompress(r.recv_frame()[2] + b"\x00\x00\xff\xff"), msg)

    def test_small_window_route(self):
        r = self.raw("/ws/small", b"permessage-deflate; client_max_window_bits")
        self.assertEqual(ext_of(r.head), "permessage-deflate; client_max_window_bits=9")
        i = Inflater()
        z = zlib.compressobj(6, zlib.DEFLATED, -9)
        for n in range(3):
            msg = bytes(random.Random(n).choice(b"abcdef") for _ in range(5000))
            c = z.compress(msg) + z.flush(zlib.Z_SYNC_FLUSH)
            r.send(frame(2, c[:-4], rsv=4))
            self.assertEqual(i(r.recv_frame()[2]), msg)

    def test_client_window_8(self):
        # zlib (as Python's) cannot deflate a 256-byte window: it uses 512
        # bytes; the server inflates such data all the same.
        r = self.raw(offer=b"permessage-deflate; client_max_window_bits=8")
        self.assertEqual(ext_of(r.head), "permessage-deflate; client_max_window_bits=8")
        z = zlib.compressobj(6, zlib.DEFLATED, -9)  # what zlib makes of 8
        msg = bytes(random.Random(3).choice(b"abcdefgh") for _ in range(3000))
        i = Inflater()
        for _ in range(2):
            c = z.compress(msg) + z.flush(zlib.Z_SYNC_FLUSH)
            r.send(frame(2, c[:-4], rsv=4))
            self.assertEqual(i(r.recv_frame()[2]), msg)

    # ------------------------------------------------------------ python3-websockets

    @unittest.skipUnless(websockets, "python3-websockets not installed")
    def test_websockets_client(self):
        url = "ws://127.0.0.1:%d/ws" % self.srv.port
        compressible = ("crater " * 30000).encode()
        incompressible = random.Random(7).randbytes(200000)

        async def go(extensions, want_ext):
            kw = {"compression": None, "extensions": extensions} if extensions is not None else {}
            async with websockets.connect(url, max_size=None, **kw) as ws:
                self.assertEqual(ws.response_headers.get("Sec-WebSocket-Extensions"), want_ext)
                for msg in (compressible, incompressible, b"", b"x"):
                    await ws.send(msg)
                    self.assertEqual(await ws.recv(), msg)
                await ws.send("text ü " * 1000)
                self.assertEqual(await ws.recv(), "text ü " * 1000)
                await ws.send("big 200000")
                self.assertEqual(await ws.recv(), ("crater " * 28572)[:200000])

        asyncio.run(go(None, "permessage-deflate; client_max_window_bits=12"))
        asyncio.run(go([ClientPerMessageDeflateFactory(
            server_no_context_takeover=True, client_no_context_takeover=True,
            server_max_window_bits=10, client_max_window_bits=11)],
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits=11"))
        asyncio.run(go([], None))


class OptionsTest(unittest.TestCase):
    def test_bad_deflate_options_name_the_line(self):
        cases = {
            '"yes"': "deflate must be false, true or",
            "{ level = 10 }": "deflate.level must be a whole number from 1 to 9",
            "{ memlevel = 0 }": "deflate.memlevel must be a whole number from 1 to 9",
            "{ max_window_bits = 8 }": "deflate.max_window_bits must be a whole number from 9 to 15",
            "{ window = 9 }": "deflate: unknown option window",
        }
        with tempfile.TemporaryDirectory() as tmp:
            for value, want in cases.items():
                with self.subTest(value=value):
                    app = os.path.join(tmp, "bad.lua")
                    with open(app, "w") as f:
                        f.write('local app = require("crater").app()\n'
                                'app:websocket("/x", { deflate = %s }, function() end)\nreturn app\n' % value)
                    out = subprocess.run([BIN, "--port", "0", app], capture_output=True, text=True, timeout=30)
                    self.assertNotEqual(out.returncode, 0)
                    self.assertIn("bad.lua:2: app:websocket /x: " + want, out.stderr)


@unittest.skipUnless(browser.available(), "chromium not installed (.ci/setup.sh)")
class BrowserDeflateTest(unittest.TestCase):
    def test_chromium_round_trip(self):
        srv = Server(APP)
        self.addCleanup(srv.stop)
        with browser.Browser() as b:
            p = b.page()
            p.goto(srv.url("/page"))
            p.wait_for("window.result !== null")
            res = p.eval("window.result")
            self.assertTrue(res["same"])
            self.assertTrue(res["ext"].startswith("permessage-deflate"), res)
        srv.stop()
        srv.check_sanitizers()


if __name__ == "__main__":
    run()
