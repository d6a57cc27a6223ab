"""The sections of the Autobahn WebSocket test suite, as our own cases.

The Autobahn suite (autobahntestsuite) is in neither Debian nor npm (it is a
Python 2 program on PyPI), so its case list cannot be run here. These cases
cover its sections over a raw socket against the real binary, beside the
framing tests of test_websocket.py and the compression ones of
test_websocket_deflate.py (docs/websockets.md, "Conformance" maps each
section to its tests):

  1 framing: text and binary messages at the length boundaries
  2 pings and pongs: payloads up to 125 bytes, many pings, unsolicited pongs
  3 reserved bits, 4 opcodes: every reserved bit and opcode fails with 1002
  5 fragmentation: empty fragments, control frames between them, bad orders
  6 UTF-8: valid and invalid sequences at the edges, whole and split
  7 close: the close frame's payloads and every code, valid or not
  9 limits: large messages in many fragments
"""
import struct
import unittest

from harness import Server
from test_websocket import APP, Raw, frame


class AutobahnSections(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.check_sanitizers()

    def tearDown(self):
        self.assertEqual(self.srv.get("/")[2], b"plain")

    def open(self):
        r = Raw(self.srv.port)
        self.addCleanup(r.close)
        op, _, _ = r.recv_frame()  # the app's hello
        self.assertEqual(op, 1)
        return r

    def echo(self, r, op, payload):
        r.send(frame(op, payload))
        self.assertEqual(r.recv_frame(), (op, True, payload))

    # 1: framing
    def test_1_lengths(self):
        r = self.open()
        for n in (0, 1, 125, 126, 127, 128, 65535, 65536):
            with self.subTest(n=n):
                self.echo(r, 1, b"*" * n)
                self.echo(r, 2, bytes(i & 0xFF for i in range(n)))

    def test_1_chopped_frames(self):
        r = self.open()
        data = frame(2, b"\xfe" * 65535)
        for i in range(0, len(data), 997):
            r.send(data[i:i + 997])
        self.assertEqual(r.recv_frame(), (2, True, b"\xfe" * 65535))

    # 2: pings and pongs
    def test_2_pings(self):
        r = self.open()
        for payload in (b"", b"Hello, world!", bytes(range(125)), b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"):
            r.send(frame(9, payload))
            self.assertEqual(r.recv_frame(), (10, True, payload))
        r.send(b"".join(frame(9, b"%d" % i) for i in range(10)))
        self.assertEqual([r.recv_frame() for _ in range(10)], [(10, True, b"%d" % i) for i in range(10)])
        r.send(frame(10, b"unsolicited") + frame(10, b""))
        self.echo(r, 1, b"after pongs")

    def test_2_ping_over_125_bytes(self):
        r = self.open()
        r.send(frame(9, b"x" * 126))
        r.expect_close(1002)

    # 3 and 4: reserved bits, opcodes
    def test_3_reserved_bits(self):
        for rsv in range(1, 8):
            for op in (1, 2, 9):
                with self.subTest(rsv=rsv, op=op):
                    r = self.open()
                    r.send(frame(op, b"x", rsv=rsv))
                    r.expect_close(1002)

    def test_4_reserved_opcodes(self):
        for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
            with self.subTest(op=op):
                r = self.open()
                r.send(frame(op, b"") + frame(op, b"payload"))
                r.expect_close(1002)

    # 5: fragmentation
    def test_5_fragments(self):
        r = self.open()
        r.send(frame(1, b"", fin=False) + frame(0, b"", fin=False) + frame(0, b""))
        self.assertEqual(r.recv_frame(), (1, True, b""))
        r.send(frame(1, b"frag", fin=False) + frame(10, b"pong") + frame(9, b"ping") + frame(0, b"ment"))
        self.assertEqual(r.recv_frame(), (10, True, b"ping"))
        self.assertEqual(r.recv_frame(), (1, True, b"fragment"))
        r.send(b"".join(frame(0 if i else 2, b"%02d" % i, fin=i == 99) for i in range(100)))
        self.assertEqual(r.recv_frame(), (2, True, b"".join(b"%02d" % i for i in range(100))))

    def test_5_bad_orders(self):
        for name, data in {
            "continuation alone": frame(0, b"x"),
            "continuation final alone": frame(0, b"x", fin=True),
            "continuation not final first": frame(0, b"x", fin=False),
            "binary inside text": frame(1, b"a", fin=False) + frame(2, b"b"),
            "fragmented pong": frame(10, b"x", fin=False) + frame(0, b"y"),
            "fragmented close": frame(8, b"", fin=False),
        }.items():
            with self.subTest(name):
                r = self.open()
                r.send(data)
                r.expect_close(1002)

    # 6: UTF-8
    VALID = ["κόσμε", "\u0080", "\u07ff", "\u0800", "\uffff", "\U00010000", "\U0010ffff", "\ud7ff",
             "\ue000", "\ufffd", "Hello-µ@ßöäüàá-UTF-8!!"]
    INVALID = [b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",
               b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xfe", b"\xff", b"\xed\xa0\x80", b"\xed\xbf\xbf",
               b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
               b"\xc2", b"\xe2\x82", b"\xf0\x9f\x98"]

    def test_6_valid_utf8_whole_and_split(self):
        r = self.open()
        for text in self.VALID:
            data = text.encode()
            with self.subTest(text=text):
                self.echo(r, 1, data)
                # one byte per fragment: every split inside a character
                r.send(b"".join(frame(0 if i else 1, data[i:i + 1], fin=i == len(data) - 1)
                                for i in range(len(data))))
                self.assertEqual(r.recv_frame(), (1, True, data))

    def test_6_invalid_utf8(self):
        for data in self.INVALID:
            for split in (False, True):
                with self.subTest(data=data, split=split):
                    r = self.open()
                    if split:
                        r.send(b"".join(frame(0 if i else 1, data[i:i + 1], fin=i == len(data) - 1)
                                        for i in range(len(data))))
                    else:
                        r.send(frame(1, data))
                    r.expect_close(1007)

    # 7: close
    def test_7_close_codes(self):
        for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000,
                     4999):
            with self.subTest(code=code):
                r = self.open()
                r.send(frame(8, struct.pack("!H", code) + b"reason"))
                op, _, payload = r.recv_frame()
                self.assertEqual(op, 8)
                self.assertIn(struct.unpack("!H", payload[:2])[0], (code, 1000))
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
            with self.subTest(code=code):
                r = self.open()
                r.send(frame(8, struct.pack("!H", code)))
                r.expect_close(1002)

    def test_7_close_payloads(self):
        r = self.open()
        r.send(frame(8, struct.pack("!H", 1000) + b"x" * 123))  # the longest a control frame allows
        r.expect_close(1000)
        r = self.open()
        r.send(frame(8, b"\x03"))  # one byte: no room for a code
        r.expect_close(1002)
        r = self.open()
        # a close ends the conversation: what follows it is not answered
        r.send(frame(8, struct.pack("!H", 1000)) + frame(1, b"late") + frame(9, b"late"))
        self.assertEqual(r.expect_close(1000), b"")

    # 9: limits
    def test_9_large_message_in_fragments(self):
        r = self.open()
        piece = b"L" * 4096
        r.send(b"".join(frame(0 if i else 2, piece, fin=i == 15) for i in range(16)))
        self.assertEqual(r.recv_frame(), (2, True, piece * 16))  # 64 KiB, the app's max_message
        r.send(b"".join(frame(0 if i else 2, piece, fin=i == 16) for i in range(17)))
        r.expect_close(1009)


if __name__ == "__main__":
    unittest.main()
