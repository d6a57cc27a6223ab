"""Forms over real sockets: req.form for urlencoded and multipart bodies,
req.files (in memory or spooled to a temporary file that is gone when the
request ends, also when the client goes away), multipart parsed as it
streams in (bytes split at every edge, chunked uploads), malformed bodies
(400) and every limit (413) answered as problem+json while the server keeps
serving, form schemas (422, 415) and their OpenAPI document, and forms as
headless Chromium encodes and submits them."""
import html
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import ROOT, Server, parse_responses, read_response, recv_all, run, wait_for

APP = os.path.join(ROOT, "spec", "e2e", "apps", "forms.lua")
BOUNDARY = "----crater7MA4YWxkTrZu0gW"


def part(name, value, filename=None, ctype=None, disposition=None):
    if isinstance(value, str):
        value = value.encode()
    head = disposition or 'form-data; name="%s"' % name
    if filename is not None and disposition is None:
        head += '; filename="%s"' % filename
    lines = ["Content-Disposition: " + head]
    if ctype:
        lines.append("Content-Type: " + ctype)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + value


def multipart(parts, boundary=BOUNDARY, preamble=b"", epilogue=b""):
    b = boundary.encode()
    out = preamble
    for i, p in enumerate(parts):
        out += (b"\r\n" if i or preamble else b"") + b"--" + b + b"\r\n" + p
    return out + b"\r\n--" + b + b"--\r\n" + epilogue


def request_bytes(path, body, ctype="multipart/form-data; boundary=" + BOUNDARY, extra=b""):
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
            % (path.encode(), ctype.encode(), len(body), extra)) + body


def chunked(body, size=1000):
    out = b""
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


class Base(unittest.TestCase):
    ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="crater-e2e-uploads-")
        cls.srv = Server(APP, "--upload-dir", cls.dir, *cls.ARGS)

    @classmethod
    def tearDownClass(cls):
        try:
            assert cls.srv.stop() == 0
            # Shutting down leaves no temporary file behind either.
            assert os.listdir(cls.dir) == [], os.listdir(cls.dir)
        finally:
            shutil.rmtree(cls.dir, ignore_errors=True)

    def post(self, path, body, ctype="multipart/form-data; boundary=" + BOUNDARY):
        return self.srv.request("POST", path, body=body, headers={"Content-Type": ctype})

    def post_json(self, path, body, ctype="multipart/form-data; boundary=" + BOUNDARY, status=200):
        st, h, data = self.post(path, body, ctype)
        self.assertEqual(st, status, data)
        return json.loads(data)

    def problem(self, resp, status, detail_part=None):
        st, h, body = resp
        self.assertEqual(st, status, body)
        self.assertEqual(h["content-type"], "application/problem+json")
        doc = json.loads(body)
        self.assertEqual(doc["status"], status)
        if detail_part:
            self.assertIn(detail_part, doc["detail"])
        return doc

    def refused_raw(self, data, status, detail_part=None):
        raw = self.srv.raw(data)
        self.assertTrue(raw, "no answer at all")
        doc = self.problem(parse_responses(raw)[-1], status, detail_part)
        self.serving()
        return doc

    def serving(self):
        doc = self.post_json("/echo", b"a=1", "application/x-www-form-urlencoded")
        self.assertEqual(doc["form"], {"a": "1"})

    def uploads(self):
        return sorted(os.listdir(self.dir))


class Urlencoded(Base):
    def test_repeated_keys_plus_and_percent(self):
        doc = self.post_json("/echo", b"a=1&b=x+y&a=2&c=%41%2b%26%3D&d&a=3&e=",
                             "application/x-www-form-urlencoded")
        self.assertEqual(doc["form"], {"a": ["1", "2", "3"], "b": "x y", "c": "A+&=", "d": "", "e": ""})
        self.assertEqual(doc["files"], [])

    def test_charset_parameter_and_case(self):
        doc = self.post_json("/echo", b"k=v", "Application/X-WWW-Form-Urlencoded; charset=UTF-8")
        self.assertEqual(doc["form"], {"k": "v"})

    def test_empty_body_and_other_types_are_an_empty_form(self):
        self.assertEqual(self.post_json("/echo", b"", "application/x-www-form-urlencoded")["form"], {})
        self.assertEqual(self.post_json("/echo", b"a=1", "text/plain")["form"], {})
        self.assertEqual(self.post_json("/echo", b'{"a":1}', "application/json")["form"], {})
        st, _, body = self.srv.request("POST", "/echo", body=b"a=1")
        self.assertEqual((st, json.loads(body)["form"]), (200, {}))

    def test_a_urlencoded_body_keeps_the_max_body_limit(self):
        body = b"a=" + b"x" * (1024 * 1024)
        self.refused_raw(request_bytes("/echo", body, "application/x-www-form-urlencoded"), 413, "--max-body")


class NotText(Base):
    """A field or file name that is not UTF-8 text is the client's 400,
    never a 500 when the handler echoes it as JSON (docs/forms.md)."""

    def test_urlencoded_value_or_key_not_utf8_400(self):
        ctype = "application/x-www-form-urlencoded"
        self.problem(self.post("/echo", b"a=%FF", ctype), 400, 'form field "a" is not valid UTF-8')
        self.problem(self.post("/echo", b"a=caf\xe9", ctype), 400, 'form field "a"')
        self.problem(self.post("/echo", b"ok=1&%C3%28=2", ctype), 400, 'form field "\\xC3("')
        self.serving()

    def test_multipart_field_or_file_name_not_utf8_400(self):
        self.problem(self.post("/echo", multipart([part("a", b"caf\xe9")])), 400, 'form field "a"')
        raw_part = b'Content-Disposition: form-data; name="f"; filename="\xff.txt"\r\n\r\nx'
        self.problem(self.post("/echo", multipart([raw_part])), 400, 'file field "f"')
        # bytes inside a file are the file's business
        doc = self.post_json("/echo", multipart([part("f", b"\xff\xfe", filename="a.bin")]))
        self.assertEqual(doc["files"][0]["size"], 2)
        self.serving()


class Multipart(Base):
    def test_fields_and_files(self):
        blob = bytes(range(256)) * 4
        body = multipart([
            part("title", "hello"),
            part("tag", "a"),
            part("doc", b"plain text\r\n", filename="notes.txt", ctype="text/plain"),
            part("tag", "b"),
            part("blob", blob, filename="b.bin", ctype="application/octet-stream"),
            part("empty", b"", filename=""),
            part("note", "line1\r\nline2"),
        ], preamble=b"this preamble is ignored", epilogue=b"and so is this epilogue")
        doc = self.post_json("/echo", body)
        self.assertEqual(doc["form"], {"title": "hello", "tag": ["a", "b"], "note": "line1\r\nline2"})
        files = [(f["name"], f["filename"], f["content_type"], f["size"], f["read"], f["spooled"])
                 for f in doc["files"]]
        self.assertEqual(files, [
            ("doc", "notes.txt", "text/plain", 12, 12, False),
            ("blob", "b.bin", "application/octet-stream", 1024, 1024, False),
            ("empty", "", "", 0, 0, False),
        ])
        st, h, data = self.post("/file?i=2", body)
        self.assertEqual((st, data), (200, blob))

    def test_boundary_like_bytes_inside_a_file(self):
        b = BOUNDARY.encode()
        # Everything but CRLF "--" boundary: the boundary without its CRLF, with
        # only LF or CR, one byte short, and the file ending in the start of
        # the delimiter that follows it.
        tricky = (b"\r\n--" + b[:-1] + b"X\r\n" + b"x--" + b + b"--\r\n" + b"\n--" + b + b"\r--" + b
                  + b"\r\r\r\n-" + b + b"\r\n\r\n" + b"\r\n--" + b[:10])
        body = multipart([part("f", tricky, filename="t.bin"), part("g", b"\r\n", filename="crlf.bin")])
        st, _, data = self.post("/file?i=1", body)
        self.assertEqual((st, data), (200, tricky))
        st, _, data = self.post("/file?i=2", body)
        self.assertEqual((st, data), (200, b"\r\n"))

    def test_filenames_with_quotes_and_unicode(self):
        body = multipart([
            part("a", b"1", disposition='form-data; name="a"; filename="say \\"hi\\".txt"'),
            part("b", b"2", disposition="form-data; name=\"b\"; filename=\"x.txt\"; "
                                        "filename*=UTF-8''%E2%82%AC%20rates.txt"),
            part("c", b"3", disposition='form-data; name="c"; filename="%s"' % "d\u00e9j\u00e0.txt"),
            part("d", b"4", disposition="form-data; filename=\"semi;colon.txt\"; name=d"),
            part("\u00e9t\u00e9", "summer"),
        ])
        doc = self.post_json("/echo", body)
        self.assertEqual([f["filename"] for f in doc["files"]],
                         ['say "hi".txt', "\u20ac rates.txt", "d\u00e9j\u00e0.txt", "semi;colon.txt"])
        self.assertEqual(doc["form"], {"\u00e9t\u00e9": "summer"})

    def test_quoted_boundary_and_transport_padding(self):
        body = (b"--a b:c\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1"
                b"\r\n--a b:c  \t\r\nContent-Disposition: form-data; name=\"y\"\r\n\r\n2\r\n--a b:c--")
        doc = self.post_json("/echo", body, 'multipart/form-data; charset=utf-8; boundary="a b:c"')
        self.assertEqual(doc["form"], {"x": "1", "y": "2"})

    def test_split_at_every_edge_in_small_writes(self):
        rnd = random.Random(14)
        blob = bytes(rnd.randrange(256) for _ in range(6000)) + b"\r\n--" + BOUNDARY.encode()[:-2]
        body = multipart([part("a", "1"), part("f", blob, filename="f.bin"), part("b", "2")])
        data = request_bytes("/file?i=1", body)
        s = self.srv.connect()
        try:
            # Pieces of 1 to 7 bytes, each its own write; a pause now and then
            # so they arrive in separate reads.
            pos = 0
            while pos < len(data):
                n = rnd.randint(1, 7)
                s.sendall(data[pos:pos + n])
                pos += n
                if rnd.random() < 0.05:
                    time.sleep(0.001)
            st, _, got = read_response(s.makefile("rb"))
        finally:
            s.close()
        self.assertEqual((st, got), (200, blob))

    def test_each_boundary_straddling_two_reads(self):
        body = multipart([part("a", "1"), part("f", b"x" * 100, filename="f"), part("b", "2")])
        data = request_bytes("/echo", body)
        b = BOUNDARY.encode()
        cuts = []
        start = 0
        while True:
            i = data.find(b, start)
            if i < 0:
                break
            cuts.append(i + len(b) // 2)
            start = i + 1
        s = self.srv.connect()
        try:
            prev = 0
            for c in cuts + [len(data)]:
                s.sendall(data[prev:c])
                prev = c
                time.sleep(0.02)
            st, _, got = read_response(s.makefile("rb"))
        finally:
            s.close()
        self.assertEqual(st, 200, got)
        self.assertEqual(json.loads(got)["form"], {"a": "1", "b": "2"})

    def test_chunked_upload(self):
        blob = os.urandom(300 * 1024)
        body = multipart([part("a", "1"), part("f", blob, filename="big.bin")])
        head = (b"POST /file HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                b"Content-Type: multipart/form-data; boundary=" + BOUNDARY.encode() + b"\r\n\r\n")
        s = self.srv.connect()
        try:
            s.sendall(head + chunked(body, 777))
            st, _, got = read_response(s.makefile("rb"))
        finally:
            s.close()
        self.assertEqual((st, got), (200, blob))

    def test_keep_alive_after_an_upload(self):
        body = multipart([part("a", "1")])
        s = self.srv.connect()
        try:
            s.sendall(request_bytes("/echo", body) * 3)
            f = s.makefile("rb")
            for _ in range(3):
                st, _, got = read_response(f)
                self.assertEqual((st, json.loads(got)["form"]), (200, {"a": "1"}))
        finally:
            s.close()


class Malformed(Base):
    def test_missing_boundary_400_when_the_form_is_read(self):
        # Kept as an ordinary body: a route that wants JSON answers 415 as it would,
        # reading req.form or req.files is a 400.
        self.problem(self.post("/echo", b"x", "multipart/form-data"), 400,
                     "multipart/form-data without a boundary parameter")
        self.problem(self.post("/signup", b"x", "multipart/form-data"), 400, "boundary")
        self.serving()

    def test_bad_boundaries_400(self):
        for ctype in ("multipart/form-data; boundary=" + "a" * 71, "multipart/form-data; boundary=a@b",
                      "multipart/form-data; boundary=", 'multipart/form-data; boundary="abc',
                      'multipart/form-data; boundary="ends with space "'):
            with self.subTest(ctype=ctype):
                self.problem(self.post("/echo", b"--x--", ctype), 400, "multipart/form-data")
                self.problem(self.post("/file", b"--x--", ctype), 400, "multipart/form-data")

    def test_truncated_body_400(self):
        body = multipart([part("a", "1"), part("f", b"y" * 5000, filename="f")])
        self.refused_raw(request_bytes("/echo", body[:-30]), 400, "closing boundary")
        # No delimiter at all.
        self.refused_raw(request_bytes("/echo", b"just some bytes"), 400, "closing boundary")
        # An empty body is an empty form (nothing was sent to parse).
        self.assertEqual(self.post_json("/echo", b""), {"form": {}, "files": []})

    def test_bad_part_heads_400(self):
        cases = [
            (part("a", "1", disposition='form-data; filename="x"'), "no Content-Disposition"),
            (part("a", "1", disposition='attachment; name="a"'), "not form-data"),
            (part("a", "1", disposition='form-data; name="a'), "malformed parameters"),
            (b"NoColonHere\r\n\r\nv", "no colon"),
            (b"X: y\nContent-Disposition: form-data; name=a\r\n\r\nv", "LF without CR"),
            (b"Content-Disposition: form-data; name=a\r\n folded\r\n\r\nv", "obs-fold"),
            (b"X: " + b"h" * 9000 + b"\r\n\r\nv", "8 KiB"),
        ]
        for p, why in cases:
            with self.subTest(why=why):
                self.refused_raw(request_bytes("/echo", multipart([p])), 400, why)
        self.refused_raw(request_bytes("/echo", b"--" + BOUNDARY.encode() + b"junk\r\n"), 400,
                         "goes on after the boundary")

    def test_client_closing_mid_upload_is_harmless(self):
        body = multipart([part("f", b"z" * 200000, filename="f")])
        s = self.srv.connect()
        s.sendall(request_bytes("/echo", body)[:100000])
        s.close()
        self.serving()
        self.assertTrue(wait_for(lambda: self.uploads() == [], 10), self.uploads())


LIMITS = ("--max-upload", "64k", "--max-upload-file", "20k", "--max-upload-field", "1k",
          "--max-upload-parts", "4", "--upload-memory", "4k", "--max-body", "8k")


class Limits(Base):
    ARGS = LIMITS

    def test_content_length_over_max_upload_413_at_once(self):
        s = self.srv.connect()
        try:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                      b"Content-Length: 70000\r\n\r\n")
            st, h, body = read_response(s.makefile("rb"))
        finally:
            s.close()
        self.assertEqual(st, 413)
        self.assertIn("--max-upload", json.loads(body)["detail"])
        self.serving()

    def test_expect_continue_over_max_upload_413_without_the_body(self):
        s = self.srv.connect()
        try:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                      b"Expect: 100-continue\r\nContent-Length: 1000000\r\n\r\n")
            st, _, body = read_response(s.makefile("rb"))
        finally:
            s.close()
        self.assertEqual(st, 413)
        self.assertIn("--max-upload", json.loads(body)["detail"])

    def test_chunked_over_max_upload_413(self):
        parts = [part("f%d" % i, b"q" * 18000, filename="f") for i in range(4)]
        body = multipart(parts)
        head = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                b"Content-Type: multipart/form-data; boundary=" + BOUNDARY.encode() + b"\r\n\r\n")
        self.refused_raw(head + chunked(body, 4096), 413, "--max-upload)")

    def test_file_over_its_limit_413(self):
        self.refused_raw(request_bytes("/echo", multipart([part("f", b"w" * 21000, filename="f")])), 413,
                         "--max-upload-file")

    def test_field_over_its_limit_413(self):
        self.refused_raw(request_bytes("/echo", multipart([part("t", "v" * 1025)])), 413, "--max-upload-field")

    def test_fields_together_over_max_body_413(self):
        parts = [part("t%d" % i, "v" * 1000) for i in range(4)]
        self.assertEqual(self.post_json("/echo", multipart(parts))["form"]["t3"], "v" * 1000)
        with_big = [part("t%d" % i, "v" * 1000) for i in range(3)]
        # with --max-body 8k three fields of 1000 bytes fit, files in memory count too
        files = [part("f", b"m" * 4000, filename="f")]
        doc = self.post_json("/echo", multipart(with_big + files))
        self.assertEqual(doc["files"][0]["spooled"], False)

    def test_too_many_parts_413(self):
        self.refused_raw(request_bytes("/echo", multipart([part("p", "1")] * 5)), 413, "--max-upload-parts")
        self.assertEqual(self.post_json("/echo", multipart([part("p", "1")] * 4))["form"]["p"], ["1"] * 4)

    def test_at_the_limits_served(self):
        body = multipart([part("t", "v" * 1024), part("f", b"w" * 20480, filename="f")])
        doc = self.post_json("/echo", body)
        self.assertEqual(doc["files"][0]["size"], 20480)
        self.assertTrue(doc["files"][0]["spooled"])

    def test_limit_refusals_remove_temporary_files(self):
        body = multipart([part("f", b"w" * 15000, filename="f"), part("g", b"w" * 21000, filename="g")])
        self.refused_raw(request_bytes("/echo", body), 413, "--max-upload-file")
        self.assertTrue(wait_for(lambda: self.uploads() == [], 10), self.uploads())


class Spooling(Base):
    ARGS = ("--upload-memory", "4k")

    def slow_upload(self, body, ms):
        s = self.srv.connect()
        s.sendall(request_bytes("/slow?ms=%d" % ms, body))
        return s

    def test_a_large_file_is_in_a_temporary_file_while_the_handler_runs(self):
        blob = os.urandom(50000)
        body = multipart([part("small", b"s" * 100, filename="s"), part("big", blob, filename="b")])
        doc = self.post_json("/echo", body)
        self.assertEqual([f["spooled"] for f in doc["files"]], [False, True])
        st, _, data = self.post("/file?i=2", body)
        self.assertEqual((st, data), (200, blob))
        s = self.slow_upload(body, 1500)
        try:
            self.assertTrue(wait_for(lambda: len(self.uploads()) == 1, 10), self.uploads())
            name = self.uploads()[0]
            self.assertTrue(name.startswith("crater-upload-"), name)
            self.assertEqual(os.path.getsize(os.path.join(self.dir, name)), len(blob))
            st, _, got = read_response(s.makefile("rb"))
        finally:
            s.close()
        self.assertEqual(json.loads(got)["paths"], [os.path.join(self.dir, name)])
        self.assertTrue(wait_for(lambda: self.uploads() == [], 10), self.uploads())

    def test_gone_when_the_client_disconnects_mid_upload(self):
        body = multipart([part("big", b"d" * 200000, filename="b")])
        s = self.srv.connect()
        s.sendall(request_bytes("/echo", body)[:60000])
        self.assertTrue(wait_for(lambda: len(self.uploads()) == 1, 10), self.uploads())
        s.close()
        self.assertTrue(wait_for(lambda: self.uploads() == [], 10), self.uploads())
        self.serving()

    def test_gone_when_the_client_disconnects_while_the_handler_runs(self):
        body = multipart([part("big", b"d" * 20000, filename="b")])
        s = self.slow_upload(body, 3000)
        self.assertTrue(wait_for(lambda: len(self.uploads()) == 1, 10), self.uploads())
        s.close()
        self.assertTrue(wait_for(lambda: self.uploads() == [], 10), self.uploads())
        self.serving()

    def test_gone_when_the_body_times_out(self):
        srv = Server(APP, "--upload-dir", self.dir, "--upload-memory", "1k", "--body-timeout", "300ms")
        try:
            body = multipart([part("big", b"d" * 20000, filename="b")])
            s = srv.connect()
            s.sendall(request_bytes("/echo", body)[:10000])
            raw = recv_all(s, 10)
            s.close()
            self.assertIn(b" 408 ", raw.split(b"\r\n")[0])
            self.assertTrue(wait_for(lambda: self.uploads() == [], 10), self.uploads())
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_gone_after_a_reload_and_a_stop_while_the_handler_runs(self):
        srv = Server(APP, "--upload-dir", self.dir, "--upload-memory", "1k")
        try:
            body = multipart([part("big", b"d" * 20000, filename="b")])
            s = srv.connect()
            s.sendall(request_bytes("/slow?ms=1000", body))
            self.assertTrue(wait_for(lambda: len(self.uploads()) == 1, 10), self.uploads())
            srv.proc.send_signal(signal.SIGHUP)  # the request goes on in the old generation
            st, _, got = read_response(s.makefile("rb"))
            s.close()
            self.assertEqual(st, 200, got)
            self.assertTrue(wait_for(lambda: self.uploads() == [], 10), self.uploads())
            s = srv.connect()
            s.sendall(request_bytes("/slow?ms=1000", body))
            self.assertTrue(wait_for(lambda: len(self.uploads()) == 1, 10), self.uploads())
        finally:
            self.assertEqual(srv.stop(), 0)  # SIGTERM: the request in flight ends first
        s.close()
        self.assertEqual(self.uploads(), [])

    def test_save_moves_the_file_out_of_the_cleanup(self):
        dest = os.path.join(self.dir, "kept.bin")
        blob = os.urandom(30000)
        doc = self.post_json("/save?to=" + dest, multipart([part("f", blob, filename="f")]))
        self.assertEqual(doc["saved"], dest)
        self.assertEqual(self.uploads(), ["kept.bin"])
        with open(dest, "rb") as f:
            self.assertEqual(f.read(), blob)
        os.unlink(dest)
        # A file kept in memory is written there.
        self.post_json("/save?to=" + dest, multipart([part("f", b"small", filename="f")]))
        with open(dest, "rb") as f:
            self.assertEqual(f.read(), b"small")
        os.unlink(dest)


def chromium(url):
    """The DOM headless Chromium ends with after loading url (which may
    submit a form); it reaches nothing but this machine."""
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run([
            "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--user-data-dir=" + profile,
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=10000", "--dump-dom", url], capture_output=True, timeout=90)
        assert out.returncode == 0, out.stderr.decode(errors="replace")[-2000:]
        return out.stdout.decode(errors="replace")


def json_in_dom(dom):
    """Chromium shows a JSON answer in a <pre>."""
    m = re.search(r"<pre[^>]*>(.*?)</pre>", dom, re.S)
    assert m, dom[:2000]
    return json.loads(html.unescape(m.group(1)))


@unittest.skipIf(shutil.which("chromium") is None and os.environ.get("CRATER_ALLOW_SKIP") == "1",
                 "chromium not installed")
class Browser(Base):
    """Forms as a real browser encodes them."""

    def test_multipart_form_from_chromium(self):
        doc = json_in_dom(chromium(self.srv.url("/page/multipart")))
        self.assertEqual(doc["ctype"], "multipart/form-data")
        self.assertEqual(doc["form"], {"title": "caf\u00e9 & cr\u00e8me", "tag": ["a", "b+c=d&e"],
                                       "note": "line1\r\nline2"})
        self.assertEqual(len(doc["files"]), 1)
        f = doc["files"][0]
        self.assertEqual((f["name"], f["content_type"], f["hex"]),
                         ("doc", "application/octet-stream", "00010d0a2d2d0d0affc8"))
        # The HTML standard has browsers write '"' in a file name as %22.
        self.assertEqual(f["filename"], "r\u00e9sum\u00e9 %22v2%22.bin")

    def test_urlencoded_form_from_chromium(self):
        doc = json_in_dom(chromium(self.srv.url("/page/urlencoded")))
        self.assertEqual(doc["ctype"], "application/x-www-form-urlencoded")
        # A file input in a urlencoded form sends its file's name as a field.
        self.assertEqual(doc["form"], {"title": "caf\u00e9 & cr\u00e8me", "tag": ["a", "b+c=d&e"],
                                       "note": "line1\r\nline2", "doc": "r\u00e9sum\u00e9 \"v2\".bin"})
        self.assertEqual(doc["files"], [])


class Schemas(Base):
    def test_urlencoded_values_coerced(self):
        doc = self.post_json("/signup", b"name=bob&age=42&newsletter=true&tags=a",
                             "application/x-www-form-urlencoded")
        self.assertEqual(doc, {"name": "bob", "age": 42, "newsletter": True, "tags": ["a"]})

    def test_multipart_values_coerced(self):
        body = multipart([part("name", "al"), part("age", "7"), part("tags", "x"), part("tags", "y")])
        self.assertEqual(self.post_json("/signup", body), {"name": "al", "age": 7, "tags": ["x", "y"]})

    def test_invalid_422_with_pointers(self):
        doc = self.problem(self.post("/signup", b"name=&age=old&newsletter=maybe",
                                     "application/x-www-form-urlencoded"), 422)
        self.assertEqual(sorted((e["in"], e["pointer"]) for e in doc["errors"]),
                         [("form", "/age"), ("form", "/name"), ("form", "/newsletter")])
        doc = self.problem(self.post("/signup", b"", "application/x-www-form-urlencoded"), 422)
        self.assertEqual({e["in"] for e in doc["errors"]}, {"form"})

    def test_wrong_content_type_415(self):
        self.problem(self.post("/signup", b'{"name":"x","age":1}', "application/json"), 415, "got application/json")
        self.problem(self.srv.request("POST", "/signup", body=b"name=x&age=1"), 415, "no Content-Type")
        # A form with a file can only come as multipart.
        self.problem(self.post("/avatar", b"user=x", "application/x-www-form-urlencoded"), 415, "multipart")

    def test_declared_files(self):
        body = multipart([part("user", "ann"), part("avatar", b"\x89PNG", filename="a.png", ctype="image/png")])
        self.assertEqual(self.post_json("/avatar", body), {"user": "ann", "size": 4})
        doc = self.problem(self.post("/avatar", multipart([part("user", "ann")])), 422)
        self.assertEqual([(e["in"], e["pointer"]) for e in doc["errors"]], [("form", "/avatar")])

    def test_openapi_request_bodies(self):
        st, _, data = self.srv.get("/openapi.json")
        self.assertEqual(st, 200)
        doc = json.loads(data)
        signup = doc["paths"]["/signup"]["post"]
        self.assertEqual(sorted(signup["requestBody"]["content"]),
                         ["application/x-www-form-urlencoded", "multipart/form-data"])
        self.assertEqual(sorted(signup["requestBody"]["content"]["multipart/form-data"]["schema"]["required"]),
                         ["age", "name"])
        self.assertIn("415", signup["responses"])
        self.assertIn("422", signup["responses"])
        avatar = doc["paths"]["/avatar"]["post"]["requestBody"]["content"]
        self.assertEqual(list(avatar), ["multipart/form-data"])
        self.assertEqual(avatar["multipart/form-data"]["schema"]["properties"]["avatar"]["format"], "binary")
        import test_openapi
        if os.path.exists(test_openapi.REDOCLY):
            ok, text = test_openapi.lint(data.decode())
            self.assertTrue(ok, text)
        elif os.environ.get("CRATER_ALLOW_SKIP") != "1":
            self.fail("@redocly/cli not installed (.ci/setup-npm.sh)")


if __name__ == "__main__":
    run()
