"""Response compression (docs/compression.md): Accept-Encoding negotiation,
gzip and brotli of whole answers, gzip of streams flushed chunk by chunk,
what is never coded, Vary, the app's and route's options, and hostile
Accept-Encoding values -- all over real sockets against the crater binary.

Brotli is decoded with Debian's libbrotlidec (installed with
libbrotli-dev) through ctypes: no Python module needed."""
import ctypes
import ctypes.util
import os
import socket
import unittest
import zlib

from harness import ROOT, Server, read_response, run

APP = os.path.join(ROOT, "spec", "e2e", "apps", "compress.lua")
OPTIONS_APP = os.path.join(ROOT, "spec", "e2e", "apps", "compress_options.lua")
OFF_APP = os.path.join(ROOT, "spec", "e2e", "apps", "compress_off.lua")


def _brotli_decoder():
    name = ctypes.util.find_library("brotlidec") or "libbrotlidec.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.BrotliDecoderDecompress.argtypes = [ctypes.c_size_t, ctypes.c_char_p,
                                            ctypes.POINTER(ctypes.c_size_t), ctypes.c_char_p]
    lib.BrotliDecoderDecompress.restype = ctypes.c_int
    return lib


BROTLI = _brotli_decoder()


def unbrotli(data, limit=1 << 22):
    out = ctypes.create_string_buffer(limit)
    size = ctypes.c_size_t(limit)
    ok = BROTLI.BrotliDecoderDecompress(len(data), data, ctypes.byref(size), out)
    if ok != 1:
        raise AssertionError("not a brotli stream")
    return out.raw[:size.value]


def gunzip(data):
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data)
    if not d.eof:
        raise AssertionError("gzip stream not finished")
    return out


def get(srv, path, ae=None, method="GET", extra=""):
    """One request on a fresh connection; (status, headers, raw body)."""
    s = srv.connect()
    try:
        head = "%s %s HTTP/1.1\r\nHost: x\r\n%s%s\r\n" % (
            method, path, "Accept-Encoding: %s\r\n" % ae if ae is not None else "", extra)
        s.sendall(head.encode())
        f = s.makefile("rb")
        if method == "HEAD":
            line = f.readline()
            hs = {}
            while True:
                h = f.readline().decode()
                if h in ("\r\n", ""):
                    break
                k, v = h.split(":", 1)
                hs[k.strip().lower()] = v.strip()
            return int(line.split()[1]), hs, b""
        return read_response(f)
    finally:
        s.close()


class Compress(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0

    def plain(self, path):
        st, h, body = get(self.srv, path)
        self.assertEqual(st, 200)
        self.assertNotIn("content-encoding", h)
        return body

    # --- round trips ---------------------------------------------------

    def test_gzip_round_trip(self):
        want = self.plain("/json")
        self.assertGreater(len(want), 15000)
        st, h, body = get(self.srv, "/json", "gzip")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-encoding"], "gzip")
        self.assertEqual(h["vary"], "Accept-Encoding")
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(int(h["content-length"]), len(body))
        self.assertLess(len(body), len(want) // 3)
        self.assertEqual(gunzip(body), want)

    @unittest.skipIf(BROTLI is None, "libbrotlidec not found")
    def test_brotli_round_trip(self):
        want = self.plain("/json")
        st, h, body = get(self.srv, "/json", "br")
        self.assertEqual(h["content-encoding"], "br")
        self.assertEqual(int(h["content-length"]), len(body))
        self.assertEqual(unbrotli(body), want)
        st, h, body = get(self.srv, "/text", "gzip, deflate, br")  # what browsers send
        self.assertEqual(h["content-encoding"], "br")
        self.assertEqual(unbrotli(body), self.plain("/text"))

    def test_text_plain_gzip(self):
        st, h, body = get(self.srv, "/text", "gzip")
        self.assertEqual(h["content-encoding"], "gzip")
        self.assertEqual(gunzip(body), self.plain("/text"))

    def test_error_answers_are_coded_too(self):
        st, h, body = get(self.srv, "/missing", "gzip")
        self.assertEqual(st, 404)
        self.assertEqual(h["content-type"], "application/problem+json")
        self.assertEqual(h["content-encoding"], "gzip")
        self.assertIn(b"no such thing", gunzip(body))

    # --- negotiation -----------------------------------------------------

    def coding(self, ae, path="/text"):
        st, h, body = get(self.srv, path, ae)
        self.assertEqual(st, 200)
        return h.get("content-encoding", "identity")

    def test_negotiation(self):
        cases = [
            ("gzip", "gzip"),
            ("GZIP", "gzip"),
            ("x-gzip", "gzip"),
            ("br", "br"),
            ("gzip, br", "br"),                 # same q: brotli codes smaller
            ("br;q=0.5, gzip", "gzip"),
            ("gzip;q=0.9, br;q=1.0", "br"),
            ("gzip;q=0", "identity"),
            ("gzip; q=0.000", "identity"),
            ("br;q=0, gzip;q=0", "identity"),
            ("*", "br"),
            ("*;q=0", "identity"),
            ("gzip;q=0, *", "br"),
            ("br;q=0, *", "gzip"),
            ("identity", "identity"),
            ("identity;q=1, *;q=0", "identity"),
            ("identity;q=0", "identity"),       # nothing else offered: identity beats a 406
            ("deflate", "identity"),
            ("", "identity"),
            ("gzip ; q=0.5 ; foo=bar", "gzip"),
        ]
        for ae, want in cases:
            with self.subTest(ae=ae):
                self.assertEqual(self.coding(ae), want)

    def test_no_accept_encoding_is_identity(self):
        st, h, body = get(self.srv, "/text")
        self.assertNotIn("content-encoding", h)
        self.assertEqual(h["vary"], "Accept-Encoding")  # the answer still varies

    def test_repeated_fields_are_joined(self):
        st, h, body = get(self.srv, "/text", "br;q=0", extra="Accept-Encoding: gzip\r\n")
        self.assertEqual(h["content-encoding"], "gzip")

    def test_hostile_accept_encoding(self):
        hostile = [
            "gzip;q=2",            # not a qvalue: the member is ignored
            "gzip;q=1.5",
            "gzip;q=0.1234",
            "gzip;q=abc",
            "gzip;q",
            "gzip;;;q=1",
            ";;;,,,",
            "gzip\"junk\"",
            "\tgzip\t;\tq=1",      # OWS is tabs too: accepted
            "," * 3000,
            "br;q=0." + "9" * 4000,
            "gzip;" + "a=b;" * 1000,
        ]
        for ae in hostile:
            with self.subTest(ae=ae[:40]):
                st, h, body = get(self.srv, "/text", ae)
                self.assertEqual(st, 200)
                got = h.get("content-encoding", "identity")
                if got == "gzip":
                    self.assertEqual(gunzip(body), self.plain("/text"))
                else:
                    self.assertEqual(got, "identity")
        self.assertEqual(self.coding("gzip;q=2"), "identity")
        self.assertEqual(self.coding("\tgzip\t;\tq=1"), "gzip")
        self.assertEqual(self.coding("gzip\"junk\", br"), "br")
        # still serving
        self.assertEqual(self.coding("gzip"), "gzip")

    # --- what is not coded ---------------------------------------------

    def test_below_threshold(self):
        st, h, body = get(self.srv, "/small", "gzip, br")
        self.assertNotIn("content-encoding", h)
        self.assertNotIn("vary", h)
        self.assertEqual(body, b"a" * 1000)

    def test_empty_body(self):
        st, h, body = get(self.srv, "/empty", "gzip")  # min_size 0: still nothing to code
        self.assertEqual((st, body), (200, b""))
        self.assertNotIn("content-encoding", h)
        self.assertNotIn("vary", h)

    def test_type_not_compressible(self):
        st, h, body = get(self.srv, "/octets", "gzip, br")
        self.assertNotIn("content-encoding", h)
        self.assertNotIn("vary", h)
        self.assertEqual(len(body), 4400)

    def test_route_off(self):
        st, h, body = get(self.srv, "/off", "gzip, br")
        self.assertNotIn("content-encoding", h)
        self.assertNotIn("vary", h)
        self.assertEqual(len(body), 4400)

    def test_route_options(self):
        st, h, body = get(self.srv, "/level1", "br, gzip")  # br = false, min_size = 10
        self.assertEqual(h["content-encoding"], "gzip")
        self.assertEqual(gunzip(body), b"b" * 100)

    def test_handler_content_encoding_untouched(self):
        st, h, body = get(self.srv, "/own-encoding", "gzip, br")
        self.assertEqual(h["content-encoding"], "x-custom")
        self.assertNotIn("vary", h)
        self.assertEqual(len(body), 4400)

    def test_no_transform(self):
        st, h, body = get(self.srv, "/no-transform", "gzip")
        self.assertNotIn("content-encoding", h)
        self.assertEqual(len(body), 4400)

    def test_range_answer(self):
        st, h, body = get(self.srv, "/range", "gzip")
        self.assertEqual(st, 206)
        self.assertNotIn("content-encoding", h)
        self.assertEqual(len(body), 4400)

    def test_head(self):
        st, h, _ = get(self.srv, "/text", "gzip", method="HEAD")
        self.assertEqual(st, 200)
        self.assertNotIn("content-encoding", h)
        self.assertEqual(h["content-length"], "4400")
        self.assertEqual(h["vary"], "Accept-Encoding")  # as the GET's

    def test_bodyless_statuses(self):
        for status in (204, 304):
            with self.subTest(status=status):
                s = self.srv.connect()
                s.sendall(b"GET /status/%d HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n"
                          b"GET /text HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n" % status)
                f = s.makefile("rb")
                st, h, body = read_response(f)
                self.assertEqual((st, body), (status, b""))
                self.assertNotIn("content-encoding", h)
                st, h, body = read_response(f)  # the next answer follows right after
                self.assertEqual(h["content-encoding"], "gzip")
                s.close()

    def test_strong_etag_becomes_weak_when_coded(self):
        st, h, body = get(self.srv, "/etag", "gzip")
        self.assertEqual(h["content-encoding"], "gzip")
        self.assertEqual(h["etag"], 'W/"v1"')
        st, h, body = get(self.srv, "/etag")
        self.assertEqual(h["etag"], '"v1"')
        st, h, body = get(self.srv, "/weak-etag", "br")
        self.assertEqual(h["content-encoding"], "br")
        self.assertEqual(h["etag"], 'W/"v1"')

    # --- Vary -------------------------------------------------------------

    def test_vary_merged(self):
        st, h, body = get(self.srv, "/vary", "gzip")
        self.assertEqual(h["vary"], "Origin, Accept-Encoding")
        self.assertEqual(h["content-encoding"], "gzip")

    def test_vary_already_there(self):
        st, h, body = get(self.srv, "/vary-ae", "gzip")
        self.assertEqual(h["vary"], "accept-encoding")  # one field, as the handler wrote it
        self.assertEqual(h["content-encoding"], "gzip")

    # --- streams --------------------------------------------------------

    def test_stream_chunks_arrive_decodable(self):
        s = self.srv.connect()
        s.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br\r\n\r\n")
        f = s.makefile("rb")
        line = f.readline()
        self.assertIn(b" 200 ", line)
        hs = {}
        while True:
            h = f.readline().decode()
            if h == "\r\n":
                break
            k, v = h.split(":", 1)
            hs[k.strip().lower()] = v.strip()
        self.assertEqual(hs["content-encoding"], "gzip")  # streams: gzip, even when br is preferred
        self.assertEqual(hs["vary"], "Accept-Encoding")
        self.assertEqual(hs["transfer-encoding"], "chunked")
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        # The first chunk, before the handler may write the second: all of
        # its text decodes now (Z_SYNC_FLUSH).
        size = int(f.readline(), 16)
        first = d.decompress(f.read(size))
        f.readline()
        self.assertEqual(first, b"first chunk " * 50 + b"\n")
        self.assertEqual(get(self.srv, "/release")[2], b"ok")
        rest = b""
        while True:
            size = int(f.readline(), 16)
            if size == 0:
                f.readline()
                break
            rest += d.decompress(f.read(size))
            f.readline()
        self.assertEqual(rest, b"second chunk " * 50 + b"\n")
        self.assertTrue(d.eof)
        # keep-alive: the connection goes on
        s.sendall(b"GET /text HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
        st, h, body = read_response(f)
        self.assertEqual(gunzip(body), self.plain("/text"))
        s.close()

    def test_http10_stream_ends_with_close(self):
        raw = self.srv.raw(b"GET /stream-big HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n")
        head, body = raw.split(b"\r\n\r\n", 1)
        self.assertIn(b"Content-Encoding: gzip", head)
        self.assertNotIn(b"chunked", head.lower())
        self.assertEqual(gunzip(body).count(b"line"), 200 * 200)

    def test_big_stream(self):
        st, h, body = get(self.srv, "/stream-big", "gzip")
        self.assertEqual(h["content-encoding"], "gzip")
        want = b"".join(b"line %d " % i * 200 + b"\n" for i in range(1, 201))
        self.assertEqual(gunzip(body), want)

    def test_stream_not_coded(self):
        st, h, body = get(self.srv, "/stream-octets", "gzip")
        self.assertNotIn("content-encoding", h)
        self.assertEqual(len(body), 4400)
        st, h, body = get(self.srv, "/stream-big", "br")  # br only: streams are gzip or nothing
        self.assertNotIn("content-encoding", h)
        self.assertEqual(h["vary"], "Accept-Encoding")
        self.assertEqual(body.count(b"line"), 200 * 200)

    def test_stream_head(self):
        st, h, _ = get(self.srv, "/stream-big", "gzip", method="HEAD")
        self.assertEqual(st, 200)
        self.assertNotIn("content-encoding", h)

    # --- keep-alive -------------------------------------------------------

    def test_keep_alive_and_pipelining(self):
        s = self.srv.connect()
        req = b"GET %s HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n"
        s.sendall(req % b"/json" + req % b"/small" + req % b"/stream-big" + req % b"/text")
        f = s.makefile("rb")
        st, h, body = read_response(f)
        self.assertEqual(gunzip(body), self.plain("/json"))
        st, h, body = read_response(f)
        self.assertEqual(body, b"a" * 1000)
        st, h, body = read_response(f)
        self.assertEqual(h["content-encoding"], "gzip")
        gunzip(body)
        st, h, body = read_response(f)
        self.assertEqual(gunzip(body), self.plain("/text"))
        for _ in range(20):
            s.sendall(req % b"/json")
            st, h, body = read_response(f)
            self.assertEqual(h["content-encoding"], "gzip")
        s.close()

    def test_client_gone_midstream(self):
        s = self.srv.connect()
        s.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
        s.recv(100)
        s.close()
        self.assertEqual(get(self.srv, "/release")[2], b"ok")
        self.assertEqual(self.coding("gzip"), "gzip")


class Options(unittest.TestCase):
    def test_app_options(self):
        with Server(OPTIONS_APP) as srv:
            st, h, body = get(srv, "/octets", "br, gzip")
            self.assertEqual(h["content-encoding"], "gzip")
            self.assertEqual(gunzip(body), b"z" * 50)
            st, h, body = get(srv, "/text", "gzip")  # text/plain is not in its list
            self.assertNotIn("content-encoding", h)

    def test_app_off(self):
        with Server(OFF_APP) as srv:
            st, h, body = get(srv, "/text", "gzip, br")
            self.assertNotIn("content-encoding", h)
            self.assertNotIn("vary", h)
            self.assertEqual(body, b"t" * 5000)


if __name__ == "__main__":
    run()
