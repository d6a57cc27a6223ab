"""Static files (app:static): Content-Type, validators and 304, Range and
416, HEAD, 405, precompressed siblings, directory index, hostile paths
(raw requests: nothing normalises them on the way), large files with flat
memory, clients that leave mid-file, keep-alive and pipelining, hooks,
reload, `crater routes`, OpenAPI and the injected path (`crater test`)."""
import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import BIN, Server, parse_responses, read_response, recv_all, run, wait_for

TXT = b"hello world\n"

APP = """
local crater = require "crater"
local app = crater.app { title = "Static" }
app:before(function(req)
  if req.path:sub(1, 9) == "/private/" and req:header("x-key") ~= "let-me-in" then
    return 401, { error = "no key" }
  end
end)
app:get("/hello", function() return "hi" end)
app:static("/s", "pub", { index = "index.html", max_age = 60,
                         types = { custom = "application/x-custom", txt = "text/plain" } })
app:static("/n", "pub", { precompressed = false })
app:static("/f", "pub", { follow_symlinks = true })
app:static("/private", "pub")
return app
"""


def mtime_of(path):
    return int(os.stat(path).st_mtime)


def http_date(t):
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t))


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Static(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="crater-static-")
        d = cls.dir
        pub = os.path.join(d, "pub")
        os.makedirs(os.path.join(pub, "sub"))
        os.makedirs(os.path.join(pub, "noindex"))
        os.makedirs(os.path.join(d, "outside"))
        cls.files = {}

        def put(rel, data):
            with open(os.path.join(pub, rel), "wb") as f:
                f.write(data)
            cls.files[rel] = data

        put("a.txt", TXT)
        put("a.txt.gz", gzip.compress(TXT))
        put("a.txt.br", b"BROTLI-BYTES")
        put("only.css", b"body{}")
        put("wide.css", b"p { color: red; }\n" * 400)  # 7 KiB, no sibling
        put("only.css.gz", gzip.compress(b"body{}"))
        put("app.js", b"let x = 1;\n")
        put("page.html", b"<p>x</p>")
        put("img.png", b"\x89PNG....")
        put("PIC.PNG", b"\x89PNG....")
        put("x.custom", b"custom")
        put("data.unknownext", b"\x00\x01")
        put("sub/index.html", b"<h1>index</h1>")
        put("noindex/file.txt", b"x")
        put("empty.txt", b"")
        cls.big = os.urandom(1 << 20) * 20  # 20 MiB
        put("big.bin", cls.big)
        with open(os.path.join(d, "secret.txt"), "wb") as f:
            f.write(b"TOP-SECRET")
        with open(os.path.join(d, "outside", "x.txt"), "wb") as f:
            f.write(b"TOP-SECRET")
        os.symlink("../secret.txt", os.path.join(pub, "out.txt"))
        os.symlink(os.path.join(d, "secret.txt"), os.path.join(pub, "abs.txt"))
        os.symlink("../outside", os.path.join(pub, "outdir"))
        os.symlink("a.txt", os.path.join(pub, "in.txt"))
        os.mkfifo(os.path.join(pub, "fifo"))
        cls.app = os.path.join(d, "app.lua")
        with open(cls.app, "w") as f:
            f.write(APP)
        cls.srv = Server(cls.app)

    @classmethod
    def tearDownClass(cls):
        try:
            assert cls.srv.stop() == 0
        finally:
            shutil.rmtree(cls.dir)

    def get(self, path, headers=None, method="GET"):
        return self.srv.request(method, path, headers=headers)

    def raw1(self, target, extra=b""):
        """One raw request (the target exactly as given) on a fresh connection."""
        s = self.srv.connect()
        try:
            s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n")
            return read_response(s.makefile("rb"))
        finally:
            s.close()

    def assert_serving(self):
        st, _, body = self.get("/s/a.txt")
        self.assertEqual((st, body), (200, TXT))

    # --- Content-Type -------------------------------------------------------

    def test_content_type_by_extension(self):
        cases = {
            "/s/a.txt": "text/plain; charset=utf-8",
            "/s/only.css": "text/css; charset=utf-8",
            "/s/app.js": "text/javascript; charset=utf-8",
            "/s/page.html": "text/html; charset=utf-8",
            "/s/img.png": "image/png",
            "/s/PIC.PNG": "image/png",
            "/s/x.custom": "application/x-custom",
            "/s/data.unknownext": "application/octet-stream",
        }
        for path, ctype in cases.items():
            st, h, body = self.get(path)
            self.assertEqual(st, 200, path)
            self.assertEqual(h["content-type"], ctype, path)
            self.assertEqual(body, self.files[path[3:]], path)

    def test_empty_file(self):
        st, h, body = self.get("/s/empty.txt")
        self.assertEqual((st, h["content-length"], body), (200, "0", b""))

    # --- validators, 304, Cache-Control -----------------------------------------

    def test_etag_last_modified_cache_control(self):
        st, h, _ = self.get("/s/a.txt")
        self.assertRegex(h["etag"], r'^"[0-9a-f.\-]+"$')
        self.assertEqual(h["last-modified"], http_date(mtime_of(os.path.join(self.dir, "pub", "a.txt"))))
        self.assertEqual(h["cache-control"], "public, max-age=60")
        self.assertEqual(h["accept-ranges"], "bytes")
        _, h2, _ = self.get("/n/a.txt")
        self.assertNotIn("cache-control", h2)

    def test_if_none_match_304(self):
        _, h, _ = self.get("/s/a.txt")
        etag = h["etag"]
        for inm in (etag, "W/" + etag, '"other", ' + etag, "*"):
            st, h2, body = self.get("/s/a.txt", headers={"If-None-Match": inm})
            self.assertEqual((st, body), (304, b""), inm)
            self.assertEqual(h2["etag"], etag)
            self.assertNotIn("content-length", h2)
        st, _, body = self.get("/s/a.txt", headers={"If-None-Match": '"other"'})
        self.assertEqual((st, body), (200, TXT))

    def test_if_modified_since(self):
        t = mtime_of(os.path.join(self.dir, "pub", "a.txt"))
        st, _, body = self.get("/s/a.txt", headers={"If-Modified-Since": http_date(t)})
        self.assertEqual((st, body), (304, b""))
        st, _, _ = self.get("/s/a.txt", headers={"If-Modified-Since": http_date(t + 3600)})
        self.assertEqual(st, 304)
        st, _, body = self.get("/s/a.txt", headers={"If-Modified-Since": http_date(t - 3600)})
        self.assertEqual((st, body), (200, TXT))
        st, _, _ = self.get("/s/a.txt", headers={"If-Modified-Since": "not a date"})
        self.assertEqual(st, 200)

    def test_if_none_match_wins_over_if_modified_since(self):
        t = mtime_of(os.path.join(self.dir, "pub", "a.txt"))
        st, _, body = self.get("/s/a.txt", headers={"If-None-Match": '"stale"',
                                                     "If-Modified-Since": http_date(t + 3600)})
        self.assertEqual((st, body), (200, TXT))

    # --- Range ---------------------------------------------------------------------

    def test_single_range(self):
        for rng, part, cr in (("bytes=2-4", b"llo", "bytes 2-4/12"), ("bytes=-3", b"ld\n", "bytes 9-11/12"),
                              ("bytes=6-", b"world\n", "bytes 6-11/12"), ("bytes=10-99", b"d\n", "bytes 10-11/12")):
            st, h, body = self.get("/n/a.txt", headers={"Range": rng})
            self.assertEqual((st, body, h["content-range"], h["content-length"]), (206, part, cr, str(len(part))), rng)

    def test_unsatisfiable_range_416(self):
        for rng in ("bytes=12-", "bytes=100-200", "bytes=-0"):
            st, h, _ = self.get("/n/a.txt", headers={"Range": rng})
            self.assertEqual((st, h["content-range"]), (416, "bytes */12"), rng)
        self.assert_serving()

    def test_multiple_or_malformed_ranges_give_the_whole_file(self):
        for rng in ("bytes=0-1,4-5", "bytes=5-2", "items=0-1", "bytes=x-y"):
            st, h, body = self.get("/n/a.txt", headers={"Range": rng})
            self.assertEqual((st, body), (200, TXT), rng)
            self.assertNotIn("content-range", h)

    def test_if_range(self):
        _, h, _ = self.get("/n/a.txt")
        st, _, body = self.get("/n/a.txt", headers={"Range": "bytes=0-4", "If-Range": h["etag"]})
        self.assertEqual((st, body), (206, b"hello"))
        st, _, body = self.get("/n/a.txt", headers={"Range": "bytes=0-4", "If-Range": '"old"'})
        self.assertEqual((st, body), (200, TXT))
        st, _, body = self.get("/n/a.txt", headers={"Range": "bytes=0-4", "If-Range": h["last-modified"]})
        self.assertEqual((st, body), (206, b"hello"))
        st, _, body = self.get("/n/a.txt", headers={"Range": "bytes=0-4",
                                                    "If-Range": "Mon, 01 Jan 2001 00:00:00 GMT"})
        self.assertEqual((st, body), (200, TXT))

    def test_range_of_a_large_file(self):
        st, h, body = self.get("/n/big.bin", headers={"Range": "bytes=1000000-3000000"})
        self.assertEqual(st, 206)
        self.assertEqual(body, self.big[1000000:3000001])

    # --- HEAD, methods ----------------------------------------------------------------

    def test_head_same_headers_no_body(self):
        s = self.srv.connect()
        s.sendall(b"HEAD /s/big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /s/a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        f = s.makefile("rb")
        line = f.readline()
        self.assertIn(b" 200 ", line)
        head = {}
        while True:
            l = f.readline()
            if l == b"\r\n":
                break
            k, v = l.decode().split(":", 1)
            head[k.lower()] = v.strip()
        self.assertEqual(head["content-length"], str(len(self.big)))
        self.assertIn("etag", head)
        st, _, body = read_response(f)  # the next answer follows at once: no body was sent
        self.assertEqual((st, body), (200, TXT))
        s.close()
        _, g, _ = self.get("/s/big.bin", method="HEAD")
        self.assertEqual(g["etag"], head["etag"])

    def test_other_methods_405_with_allow(self):
        for m in ("POST", "PUT", "DELETE"):
            st, h, body = self.get("/s/a.txt", method=m)
            self.assertEqual(st, 405, m)
            self.assertIn("GET", h["allow"])
            self.assertIn("HEAD", h["allow"])
            self.assertEqual(h["content-type"], "application/problem+json")

    # --- precompressed siblings ---------------------------------------------------------

    def test_precompressed_gzip(self):
        st, h, body = self.get("/s/a.txt", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(st, 200)
        self.assertEqual(h["content-encoding"], "gzip")
        self.assertEqual(h["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(h["vary"], "Accept-Encoding")
        self.assertEqual(gzip.decompress(body), TXT)
        _, plain, _ = self.get("/s/a.txt")
        self.assertNotEqual(h["etag"], plain["etag"])

    def test_precompressed_brotli_preferred(self):
        st, h, body = self.get("/s/a.txt", headers={"Accept-Encoding": "gzip, deflate, br"})
        self.assertEqual((st, h["content-encoding"], body), (200, "br", b"BROTLI-BYTES"))
        st, h, body = self.get("/s/only.css", headers={"Accept-Encoding": "gzip, br"})
        self.assertEqual((st, h["content-encoding"]), (200, "gzip"))  # no .br beside it

    def test_precompressed_refused_or_off(self):
        st, h, body = self.get("/s/a.txt", headers={"Accept-Encoding": "br;q=0, gzip;q=0"})
        self.assertEqual((st, body), (200, TXT))
        self.assertNotIn("content-encoding", h)
        st, h, body = self.get("/s/a.txt", headers={"Accept-Encoding": "x-gzip, brotli"})
        self.assertEqual((st, body), (200, TXT))
        self.assertNotIn("content-encoding", h)
        st, h, body = self.get("/s/a.txt", headers={"Accept-Encoding": "identity;q=1, gzip ; q=0.5"})
        self.assertEqual(h.get("content-encoding"), "gzip")
        st, h, body = self.get("/n/a.txt", headers={"Accept-Encoding": "gzip, br"})
        self.assertEqual((st, body), (200, TXT))
        self.assertNotIn("content-encoding", h)
        self.assertNotIn("vary", h)

    def test_never_coded_on_the_fly(self):
        # a compressible type well over compression's min_size, no sibling:
        # the file goes out as it is, by sendfile (docs/compression.md)
        st, h, body = self.get("/s/wide.css", headers={"Accept-Encoding": "gzip, br"})
        self.assertEqual((st, body), (200, self.files["wide.css"]))
        self.assertNotIn("content-encoding", h)
        self.assertEqual(h["content-length"], str(len(self.files["wide.css"])))
        self.assert_serving()

    # --- directories -------------------------------------------------------------------

    def test_directory_index(self):
        st, h, body = self.get("/s/sub/")
        self.assertEqual((st, body, h["content-type"]), (200, b"<h1>index</h1>", "text/html; charset=utf-8"))
        st, h, _ = self.get("/s/sub?x=1")
        self.assertEqual((st, h["location"]), (301, "/s/sub/?x=1"))
        st, _, _ = self.get("/s/noindex/")  # index on, but no index.html there
        self.assertEqual(st, 404)

    def test_directory_without_index_is_404(self):
        for path in ("/n/sub/", "/n/sub", "/n/", "/n/noindex"):
            st, h, _ = self.get(path)
            self.assertEqual(st, 404, path)
            self.assertEqual(h["content-type"], "application/problem+json")

    # --- no way out of the folder --------------------------------------------------------------

    def test_hostile_paths(self):
        cases = [
            (b"/s/../secret.txt", (400, 404)),  # a client would normalise this; strict.c may refuse it
            (b"/s/sub/../../secret.txt", (400, 404)),
            (b"/s/%2e%2e/secret.txt", 404),
            (b"/s/%2E%2E/secret.txt", 404),
            (b"/s/sub/%2e%2e/%2e%2e/secret.txt", 404),
            (b"/s/.%2e/secret.txt", 404),
            (b"/s/..%2fsecret.txt", 404),
            (b"/s/..%2Fsecret.txt", 404),
            (b"/s/%2fetc/passwd", 404),
            (b"/s//etc/passwd", 404),
            (b"/s/%2e%2e%5csecret.txt", 404),
            (b"/s/..\\secret.txt", (400, 404)),
            (b"/s/sub%5c..%5c..%5csecret.txt", 404),
            (b"/s/a.txt%00.png", 400),
            (b"/s/%00", 400),
            (b"/s/%zz", 400),
            (b"/s/%2", 400),
            (b"/s/./a.txt", 404),
            (b"/s/out.txt", 404),   # a symlink out of the folder
            (b"/s/abs.txt", 404),   # an absolute symlink
            (b"/s/outdir/x.txt", 404),
            (b"/s/fifo", 404),
            (b"/s/a.txt/", 404),
        ]
        for target, want in cases:
            st, h, body = self.raw1(target)
            if isinstance(want, tuple):
                self.assertIn(st, want, target)
            else:
                self.assertEqual(st, want, target)
            self.assertNotIn(b"TOP-SECRET", body, target)
            self.assert_serving()
        self.assertEqual(self.srv.proc.poll(), None)

    def test_symlinks(self):
        st, _, body = self.get("/s/in.txt")  # inside the folder: followed
        self.assertEqual((st, body), (200, TXT))
        st, _, body = self.get("/f/out.txt")  # follow_symlinks = true
        self.assertEqual((st, body), (200, b"TOP-SECRET"))
        st, _, body = self.get("/f/outdir/x.txt")
        self.assertEqual((st, body), (200, b"TOP-SECRET"))
        st, _, _ = self.get("/f/%2e%2e/secret.txt")  # '..' still refused
        self.assertEqual(st, 404)

    # --- large files, disconnects, keep-alive, pipelining ---------------------------------------

    def test_large_file_flat_memory(self):
        pid = self.srv.proc.pid
        self.get("/s/a.txt")
        before = rss_kib(pid)
        s = self.srv.connect()
        s.sendall(b"GET /s/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        f = s.makefile("rb")
        st, h, body = read_response(f)
        s.close()
        self.assertEqual(st, 200)
        self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(self.big).digest())
        grown = rss_kib(pid) - before
        self.assertLess(grown, 4 * 1024, "RSS grew by %d KiB serving 20 MiB" % grown)

    def test_slow_reader_gets_everything(self):
        # 20 MiB is more than the socket buffers hold: sendfile(2) meets a full
        # socket, and the rest waits for the client
        s = self.srv.connect()
        s.sendall(b"GET /s/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(0.5)
        data = recv_all(s, timeout=30)
        s.close()
        head, body = data.split(b"\r\n\r\n", 1)
        self.assertEqual(len(body), len(self.big))
        self.assertEqual(body, self.big)

    def test_disconnect_mid_file_leaks_no_fd(self):
        pid = self.srv.proc.pid
        self.get("/s/a.txt")
        base = fd_count(pid)
        for _ in range(5):
            s = self.srv.connect()
            s.sendall(b"GET /s/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            got = 0
            while got < 200000:
                b = s.recv(65536)
                if not b:
                    break
                got += len(b)
            s.close()
        self.assertTrue(wait_for(lambda: fd_count(pid) <= base, timeout=10),
                        "fds: %d before, %d after" % (base, fd_count(pid)))
        self.assert_serving()

    def test_keep_alive_and_pipelining(self):
        s = self.srv.connect()
        reqs = b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p
                        for p in (b"/s/a.txt", b"/s/big.bin", b"/hello", b"/s/only.css", b"/s/missing"))
        s.sendall(reqs)
        f = s.makefile("rb")
        got = [read_response(f) for _ in range(5)]
        self.assertEqual([g[0] for g in got], [200, 200, 200, 200, 404])
        self.assertEqual(got[0][2], TXT)
        self.assertEqual(got[1][2], self.big)
        self.assertEqual(got[2][2], b"hi")
        self.assertEqual(got[3][2], b"body{}")
        s.sendall(b"GET /s/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(read_response(f)[2], TXT)
        s.close()

    def test_http10(self):
        raw = self.srv.raw(b"GET /s/a.txt HTTP/1.0\r\n\r\n")
        head, body = raw.split(b"\r\n\r\n", 1)
        self.assertIn(b"Content-Length: 12", head)
        self.assertEqual(body, TXT)

    # --- the rest of the app ----------------------------------------------------------------------

    def test_before_hooks_apply(self):
        st, _, body = self.get("/private/a.txt")
        self.assertEqual(st, 401)
        self.assertNotIn(b"hello", body)
        st, _, body = self.get("/private/a.txt", headers={"X-Key": "let-me-in"})
        self.assertEqual((st, body), (200, TXT))

    def test_routes_lists_static(self):
        out = subprocess.run([BIN, "routes", self.app], capture_output=True, timeout=60)
        text = out.stdout.decode()
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(text, r"GET\s+/s/\{path\.\.\.\}\s+\(.*app\.lua:10\)")
        self.assertIn("/private/{path...}", text)

    def test_openapi_leaves_static_out(self):
        st, _, body = self.get("/openapi.json")
        self.assertEqual(st, 200)
        doc = json.loads(body)
        self.assertIn("/hello", doc["paths"])
        self.assertFalse([p for p in doc["paths"] if p.startswith(("/s/", "/n/", "/f/", "/private/"))])

    def test_injected_requests_read_the_file(self):
        spec = os.path.join(self.dir, "static_spec.lua")
        with open(spec, "w") as f:
            f.write("""
local client = require("crater.test").client
local crater = require "crater"
local app = crater.app()
app:static("/s", "pub", { precompressed = false })
local c = client(app)
local r = c:get("/s/big.bin")
assert(r.status == 200, "status " .. r.status)
assert(#r.body == %d, "length " .. #r.body)
local want = io.open("%s", "rb"):read("*a")
assert(r.body == want, "body differs")
assert(c:get("/s/a.txt", { headers = { Range = "bytes=0-4" } }).body == "hello")
assert(c:get("/s/%%2e%%2e/secret.txt").status == 404)
local h = c:head("/s/big.bin")
assert(h.status == 200 and h.body == "", "HEAD: " .. h.status .. " " .. #h.body)
print("INJECT-OK")
""" % (len(self.big), os.path.join(self.dir, "pub", "big.bin")))
        out = subprocess.run([os.path.abspath(BIN), "test", spec], capture_output=True, timeout=120, cwd=self.dir)
        self.assertEqual(out.returncode, 0, out.stdout.decode() + out.stderr.decode())
        self.assertIn(b"INJECT-OK", out.stdout + out.stderr)


class StaticReload(unittest.TestCase):
    def test_reload_changes_the_mount(self):
        d = tempfile.mkdtemp(prefix="crater-static-")
        try:
            os.makedirs(os.path.join(d, "one"))
            os.makedirs(os.path.join(d, "two"))
            with open(os.path.join(d, "one", "f.txt"), "w") as f:
                f.write("one")
            with open(os.path.join(d, "two", "f.txt"), "w") as f:
                f.write("two")
            app = os.path.join(d, "app.lua")
            src = 'local app = require("crater").app()\napp:static("/files", "%s")\nreturn app\n'
            with open(app, "w") as f:
                f.write(src % "one")
            with Server(app) as srv:
                self.assertEqual(srv.get("/files/f.txt")[2], b"one")
                with open(app, "w") as f:
                    f.write(src % "two")
                srv.proc.send_signal(signal.SIGHUP)
                self.assertTrue(wait_for(lambda: srv.get("/files/f.txt")[2] == b"two"))
        finally:
            shutil.rmtree(d)

    def test_missing_folder_is_a_load_error(self):
        d = tempfile.mkdtemp(prefix="crater-static-")
        try:
            app = os.path.join(d, "app.lua")
            with open(app, "w") as f:
                f.write('local app = require("crater").app()\n\napp:static("/x", "nope")\nreturn app\n')
            out = subprocess.run([BIN, "routes", app], capture_output=True, timeout=60)
            self.assertNotEqual(out.returncode, 0)
            err = out.stderr.decode()
            self.assertIn("app.lua:3", err)
            self.assertIn("cannot open the folder", err)
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    run()
