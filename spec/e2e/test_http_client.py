"""crater.http, the outbound HTTP/1.1 client: every option of request, the
get and post helpers, the response object, errors, keep-alive pools,
redirects, streaming, TLS, spawned threads, streams and clients that go
away, against upstream servers this file starts on free ports (a plain
HTTP/1.1 one in Python with a route per case, the same behind TLS with a
certificate from a CA made at test time)."""
import json
import os
import shutil
import socket
import ssl
import struct
import tempfile
import time
import unittest
import urllib.parse

from harness import ROOT, Server, free_port, read_response, run
from test_socket import Fixture, make_ca

APP = os.path.join(ROOT, "spec", "e2e", "apps", "http_client.lua")


# --- the upstream -------------------------------------------------------------------

class Upstream(Fixture):
    """An HTTP/1.1 server on a free loopback port, a thread per connection,
    optionally behind TLS (test_socket's Fixture: it counts the connections
    accepted and ended, so keep-alive reuse is observable); each answer of
    /conn names its connection ("c3") and the request's number on it ("r2")."""

    def __init__(self, tls=None):
        self.tls = tls
        super().__init__(Upstream.serve_http)

    def url(self, path, host="127.0.0.1"):
        return "%s://%s:%d%s" % ("https" if self.tls else "http", host, self.port, path)

    def serve_http(self, conn, n):
        try:
            if self.tls:
                conn = self.tls.wrap_socket(conn, server_side=True)
            f = conn.makefile("rb")
            number = 0
            stale = False
            while True:
                line = f.readline()
                if not line:
                    return
                method, target, _ = line.decode().split(" ", 2)
                fields = []
                while True:
                    h = f.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, v = h.decode().split(":", 1)
                    fields.append([k.strip(), v.strip()])
                low = {k.lower(): v for k, v in fields}
                body = b""
                if "content-length" in low:
                    body = f.read(int(low["content-length"]))
                number += 1
                if stale:
                    return  # the request after /stale: closed unanswered
                path, _, query = target.partition("?")
                q = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
                keep = self.route(conn, n, number, method, target, path, q, fields, body)
                if keep == "stale":
                    stale = True
                elif not keep:
                    return
        except ValueError:  # not HTTP (a TLS hello, say)
            pass
        finally:
            conn.close()

    @staticmethod
    def send(conn, status, body=b"", fields=(), reason="OK", length=True):
        if isinstance(body, str):
            body = body.encode()
        head = "HTTP/1.1 %d %s\r\n" % (status, reason)
        for k, v in fields:
            head += "%s: %s\r\n" % (k, v)
        if length:
            head += "Content-Length: %d\r\n" % len(body)
        conn.sendall(head.encode() + b"\r\n" + body)

    def route(self, conn, n, number, method, target, path, q, fields, body):
        send = self.send
        if path == "/conn":
            send(conn, 200, "c%dr%d" % (n, number))
        elif path == "/json":
            send(conn, 200, json.dumps({"name": "crater", "n": [1, 2, 3]}),
                 [("Content-Type", "application/json")])
        elif path == "/echo":
            send(conn, 200, json.dumps({"method": method, "target": target, "fields": fields,
                                        "body": body.decode()}),
                 [("Content-Type", "application/json")])
        elif path == "/repeat":
            send(conn, 200, "repeated", [("X-Multi", "a"), ("Content-TYPE", "text/plain"),
                                         ("x-multi", "b"), ("Set-Cookie", "a=1"),
                                         ("Set-Cookie", "b=2")])
        elif path == "/chunked":
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
            time.sleep(0.02)
            conn.sendall(b"4\r\ndefg\r\n")
            time.sleep(0.02)
            conn.sendall(b"0\r\n\r\n")
        elif path == "/head":
            # HEAD: the length of the body a GET would get, no body
            head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Method: %s\r\n\r\n" % method.encode()
            conn.sendall(head if method == "HEAD" else head + b"0123456789")
        elif path == "/204":
            send(conn, 204, length=False, reason="No Content", fields=[("X-Empty", "yes")])
        elif path.startswith("/redirect/"):
            k = int(path.rsplit("/", 1)[1])
            if k == 0:
                send(conn, 200, "landed %s %s" % (method, body.decode()))
            else:
                send(conn, 302, "", [("Location", "/redirect/%d" % (k - 1))], reason="Found")
        elif path == "/rel/a/b":
            send(conn, 302, "", [("Location", "c?x=1")], reason="Found")
        elif path.startswith("/rel/"):
            send(conn, 200, "rel " + target)
        elif path in ("/301", "/303", "/307", "/308"):
            send(conn, int(path[1:]), "moved", [("Location", q.get("to", "/echo"))], reason="Moved")
        elif path == "/cross":
            send(conn, 302, "", [("Location", "http://localhost:%d/echo" % self.port)], reason="Found")
        elif path == "/slow":
            time.sleep(int(q.get("ms", "300")) / 1000)
            send(conn, 200, "slow")
        elif path == "/midbody":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            time.sleep(0.05)
            return False
        elif path == "/never":
            while conn.recv(65536):  # answers nothing, until the client goes
                pass
            return False
        elif path == "/big":
            send(conn, 200, b"x" * int(q["n"]))
        elif path == "/http10":
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold style body")
            return False
        elif path == "/continue":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            time.sleep(0.05)
            send(conn, 200, "after continue")
        elif path == "/malformed":
            conn.sendall(b"HTTP/1.1 2x0 Oops\r\n\r\n")
            return False
        elif path == "/close":
            send(conn, 200, "closing", [("Connection", "close")])
            return False
        elif path == "/bighead":
            send(conn, 200, "x", [("X-Big", "y" * 70000)])
        elif path == "/stale":
            send(conn, 200, "stale next")
            return "stale"
        elif path == "/stream":
            count, size = int(q.get("n", "5")), int(q.get("size", "10"))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/x-pieces\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            for i in range(count):
                piece = (b"%d" % (i % 10)) * size
                try:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                except OSError:
                    return False
                time.sleep(0.01)
            conn.sendall(b"0\r\n\r\n")
        else:
            send(conn, 404, "no route " + path)
        return True


class HttpClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="crater-httpc-")
        cls.ca, cert, key = make_ca(cls.dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        cls.up = Upstream()
        cls.tls = Upstream(tls=ctx)
        cls.extra = []
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0
        for u in [cls.up, cls.tls] + cls.extra:
            u.close()
        shutil.rmtree(cls.dir)

    def fresh(self, tls=None):
        """An upstream of its own: nothing pooled, connections counted from 0."""
        u = Upstream(tls=tls)
        self.extra.append(u)
        return u

    def call(self, url, opts=None, as_="request", body=None):
        req = {"url": url, "as": as_}
        if opts is not None:
            req["opts"] = opts
        if body is not None:
            req["body"] = body
        st, h, data = self.srv.request("POST", "/call", body=req, timeout=20)
        self.assertEqual(st, 200, data)
        return json.loads(data)

    def ok(self, url, opts=None, **kw):
        r = self.call(url, opts, **kw)
        self.assertTrue(r["ok"], r)
        return r

    def err(self, url, opts=None, **kw):
        r = self.call(url, opts, **kw)
        self.assertFalse(r["ok"], r)
        return r["err"]

    def text(self, route, **query):
        st, h, body = self.srv.get(route + "?" + urllib.parse.urlencode(query), timeout=20)
        self.assertEqual(st, 200, body)
        return body.decode()

    # --- requests and responses ---------------------------------------------------------

    def test_get_json(self):
        r = self.ok(self.up.url("/json"))
        self.assertEqual(r["status"], 200)
        self.assertEqual(r["json"], {"name": "crater", "n": [1, 2, 3]})
        self.assertEqual(r["content_type"], "application/json")
        self.assertEqual(r["headers"]["content-length"], str(len(r["body"])))
        r = self.ok(self.up.url("/json"), as_="get")
        self.assertEqual(r["json"]["name"], "crater")
        r = self.ok(self.up.url("/conn"))  # not JSON: res:json() says so
        self.assertNotIn("json", r)
        self.assertIn("at byte", r["json_err"])

    def test_request_head_as_the_upstream_sees_it(self):
        e = self.ok(self.up.url("/echo?a=1&b=2#frag"))["json"]
        self.assertEqual(e["method"], "GET")
        self.assertEqual(e["target"], "/echo?a=1&b=2")
        self.assertEqual(e["fields"], [["Host", "127.0.0.1:%d" % self.up.port],
                                       ["User-Agent", "crater"]])
        self.assertEqual(e["body"], "")
        # the path defaults to "/", a query without one too
        self.assertEqual(self.ok(self.up.url("?x=1"))["body"], "no route /")

    def test_headers_option(self):
        e = self.ok(self.up.url("/echo"), {"headers": {
            "X-One": "1", "X-Many": ["a", "b"], "Host": "example.test", "User-Agent": "mine/1"}})["json"]
        f = e["fields"]
        self.assertIn(["X-One", "1"], f)
        self.assertEqual([v for k, v in f if k == "X-Many"], ["a", "b"])  # a line each
        self.assertEqual([v for k, v in f if k.lower() == "host"], ["example.test"])
        self.assertEqual([v for k, v in f if k.lower() == "user-agent"], ["mine/1"])

    def test_methods_and_bodies(self):
        e = self.ok(self.up.url("/echo"), {"method": "put", "body": "raw bytes"})["json"]
        self.assertEqual((e["method"], e["body"]), ("PUT", "raw bytes"))
        self.assertIn(["Content-Length", "9"], e["fields"])
        e = self.ok(self.up.url("/echo"), {"method": "DELETE"})["json"]
        self.assertEqual(e["method"], "DELETE")
        self.assertNotIn("Content-Length", [k for k, v in e["fields"]])
        e = self.ok(self.up.url("/echo"), {"method": "POST"})["json"]  # no body: length 0
        self.assertIn(["Content-Length", "0"], e["fields"])
        e = self.ok(self.up.url("/echo"), {"method": "PATCH", "json": {"a": [1, 2]}})["json"]
        self.assertEqual((e["method"], json.loads(e["body"])), ("PATCH", {"a": [1, 2]}))
        self.assertIn(["Content-Type", "application/json"], e["fields"])
        e = self.ok(self.up.url("/echo"), {"method": "POST", "json": {"a": 1},
                                           "headers": {"content-type": "application/x+json"}})["json"]
        self.assertEqual([v for k, v in e["fields"] if k.lower() == "content-type"],
                         ["application/x+json"])

    def test_post_helper(self):
        e = self.ok(self.up.url("/echo"), as_="post", body={"name": "x"})["json"]
        self.assertEqual((e["method"], json.loads(e["body"])), ("POST", {"name": "x"}))
        self.assertIn(["Content-Type", "application/json"], e["fields"])
        e = self.ok(self.up.url("/echo"), {"headers": {"Content-Type": "text/plain"}},
                    as_="post", body="plain text")["json"]
        self.assertEqual((e["method"], e["body"]), ("POST", "plain text"))
        self.assertIn(["Content-Type", "text/plain"], e["fields"])
        # get forces GET
        e = self.ok(self.up.url("/echo"), {"method": "POST"}, as_="get")["json"]
        self.assertEqual(e["method"], "GET")

    def test_response_headers_ignore_case_and_join_repeats(self):
        r = self.ok(self.up.url("/repeat"))
        self.assertEqual(r["headers"]["x-multi"], "a, b")
        self.assertEqual(r["headers"]["set-cookie"], "a=1, b=2")
        self.assertEqual(r["content_type"], "text/plain")  # res.headers["Content-TYPE"]

    def test_chunked_head_204_http10_continue(self):
        self.assertEqual(self.ok(self.up.url("/chunked"))["body"], "abcdefg")
        r = self.ok(self.up.url("/head"), {"method": "HEAD"})
        self.assertEqual((r["status"], r["body"], r["headers"]["content-length"]), (200, "", "10"))
        self.assertEqual(r["headers"]["x-method"], "HEAD")
        r = self.ok(self.up.url("/204"))
        self.assertEqual((r["status"], r["body"], r["headers"]["x-empty"]), (204, "", "yes"))
        r = self.ok(self.up.url("/http10"))
        self.assertEqual((r["status"], r["body"]), (200, "old style body"))
        r = self.ok(self.up.url("/continue"))
        self.assertEqual((r["status"], r["body"]), (200, "after continue"))

    def test_head_and_204_keep_the_connection(self):
        up = self.fresh()
        self.ok(up.url("/head"), {"method": "HEAD"})
        self.ok(up.url("/204"))
        self.assertEqual(self.ok(up.url("/conn"))["body"], "c1r3")

    def test_big_body_within_the_limit(self):
        n = 3 * 1024 * 1024
        r = self.ok(self.up.url("/big?n=%d" % n))
        self.assertEqual(len(r["body"]), n)

    # --- errors ---------------------------------------------------------------------------

    def test_connection_refused(self):
        self.assertEqual(self.err("http://127.0.0.1:%d/" % free_port()), "connection refused")

    def test_timeout(self):
        t0 = time.time()
        self.assertEqual(self.err(self.up.url("/slow?ms=2000"), {"timeout": 0.2}), "timeout")
        self.assertEqual(self.err(self.up.url("/never"), {"timeout": 0.2}), "timeout")
        self.assertLess(time.time() - t0, 1.5)
        # the timeout is per read: a slow answer within it is fine
        self.assertEqual(self.ok(self.up.url("/slow?ms=100"), {"timeout": 1})["body"], "slow")

    def test_closed_mid_body(self):
        self.assertEqual(self.err(self.up.url("/midbody")), "closed before the response was complete")

    def test_body_too_large(self):
        self.assertEqual(self.err(self.up.url("/big?n=5000"), {"max_body": 1000}), "body too large")
        self.assertEqual(len(self.ok(self.up.url("/big?n=1000"), {"max_body": 1000})["body"]), 1000)
        self.assertEqual(len(self.ok(self.up.url("/big?n=5000"), {"max_body": 0})["body"]), 5000)
        self.assertEqual(self.err(self.up.url("/bighead")), "response head too large")

    def test_malformed_response(self):
        self.assertTrue(self.err(self.up.url("/malformed")).startswith("malformed response: "))

    def test_bad_urls(self):
        for url in ("ftp://127.0.0.1/", "/relative", "http://", "http://127.0.0.1:99999/",
                    "http://127.0.0.1/a b", "nope"):
            e = self.err(url)
            self.assertTrue(e.startswith("bad url: "), (url, e))
        self.assertEqual(self.err("gopher://x/"), "bad url: unsupported scheme: gopher://x/")

    def test_name_resolution(self):
        self.assertEqual(self.ok(self.up.url("/json", host="localhost"))["status"], 200)
        self.assertTrue(self.err("http://no-such-host.invalid/").startswith("no resolver answer"))

    def test_argument_errors_raise(self):
        lines = self.text("/bad-args", url=self.up.url("/echo")).split("\n")
        self.assertEqual(len(lines), 7)
        for l in lines:
            self.assertTrue(l.startswith("false|"), l)
        self.assertIn("options must be a table", lines[0])
        self.assertIn("method must be a token", lines[1])
        self.assertIn("invalid header name Bad Name", lines[2])
        self.assertIn("holds CR, LF or NUL", lines[3])
        self.assertIn("body must be a string", lines[4])
        self.assertIn("headers must be a table", lines[5])
        self.assertIn("crater.http.get: options must be a table", lines[6])
        self.assertIn("apps/http_client.lua:", lines[0])  # the caller's line

    # --- keep-alive and pools -------------------------------------------------------------

    def test_sequential_requests_reuse_one_connection(self):
        up = self.fresh()
        body = self.text("/sequential", url=up.url("/conn"), n=5)
        self.assertEqual(body, "c1r1,c1r2,c1r3,c1r4,c1r5")
        self.assertEqual(up.accepted, 1)

    def test_pool_is_shared_by_requests_of_the_server(self):
        up = self.fresh()
        self.assertEqual(self.ok(up.url("/conn"))["body"], "c1r1")
        self.assertEqual(self.ok(up.url("/conn"), as_="get")["body"], "c1r2")
        self.assertEqual(self.text("/sequential", url=up.url("/conn"), n=2), "c1r3,c1r4")
        self.assertEqual(up.accepted, 1)
        self.assertEqual(up.ended, 0)

    def test_keepalive_false_closes(self):
        up = self.fresh()
        body = self.text("/sequential", url=up.url("/conn"), n=3, keepalive="0")
        self.assertEqual(body, "c1r1,c2r1,c3r1")
        self.assertTrue(up.wait_ended(3))
        e = self.ok(up.url("/echo"), {"keepalive": False})["json"]
        self.assertIn(["Connection", "close"], e["fields"])

    def test_connections_the_upstream_ends_are_not_pooled(self):
        up = self.fresh()
        self.ok(up.url("/close"))      # Connection: close
        self.ok(up.url("/http10"))     # a body that ends at close
        self.err(up.url("/midbody"))
        self.assertEqual(self.ok(up.url("/conn"))["body"], "c4r1")

    def test_stale_pooled_connection_is_retried(self):
        # The upstream closes the pooled connection when the next request
        # comes: a GET goes again on a new connection; a POST does not.
        up = self.fresh()
        self.assertEqual(self.ok(up.url("/stale"))["body"], "stale next")
        self.assertEqual(self.ok(up.url("/conn"))["body"], "c2r1")
        self.assertEqual(self.ok(up.url("/stale"))["body"], "stale next")  # c2r2
        self.assertEqual(self.err(up.url("/conn"), {"method": "POST"}),
                         "closed before the response was complete")
        self.assertEqual(up.accepted, 2)

    def test_parallel_requests_from_spawned_threads(self):
        up = self.fresh()
        res, took = self.text("/parallel", url=up.url("/slow?ms=300"), n=4).split("\n")
        self.assertEqual(res, ",".join(["200:slow"] * 4))
        self.assertLess(float(took), 1.0)  # 0.3 s each, at once
        self.assertEqual(up.accepted, 4)
        # all four went back to the pool
        res, took = self.text("/parallel", url=up.url("/conn"), n=4).split("\n")
        self.assertEqual(sorted(res.split(",")), ["200:c%dr2" % i for i in range(1, 5)])
        self.assertEqual(up.accepted, 4)

    def test_pool_size_and_idle_time(self):
        up = self.fresh()
        res, took = self.text("/parallel", url=up.url("/slow?ms=100"), n=4, pool_size=2).split("\n")
        self.assertEqual(res, ",".join(["200:slow"] * 4))
        self.assertTrue(up.wait_ended(2))  # two were put back beyond the pool's size
        time.sleep(0.1)
        self.assertEqual(up.ended, 2)
        up = self.fresh()
        self.ok(up.url("/conn"), {"keepalive_idle": 0.1})
        self.assertTrue(up.wait_ended(1))  # closed after 0.1 s idle
        self.assertEqual(self.ok(up.url("/conn"))["body"], "c2r1")

    # --- redirects ------------------------------------------------------------------------

    def test_redirects_off_by_default(self):
        r = self.ok(self.up.url("/redirect/2"))
        self.assertEqual((r["status"], r["headers"]["location"]), (302, "/redirect/1"))

    def test_redirects_followed(self):
        r = self.ok(self.up.url("/redirect/3"), {"redirects": 5})
        self.assertEqual((r["status"], r["body"]), (200, "landed GET "))
        r = self.ok(self.up.url("/redirect/3"), {"redirects": 2})  # at most 2: the third answer
        self.assertEqual((r["status"], r["headers"]["location"]), (302, "/redirect/0"))
        r = self.ok(self.up.url("/rel/a/b"), {"redirects": 1})
        self.assertEqual(r["body"], "rel /rel/a/c?x=1")

    def test_redirect_methods(self):
        # 303 (and 301/302 after a POST) turn into a GET without the body ...
        for code in ("303", "301"):
            e = self.ok(self.up.url("/%s" % code), {"method": "POST", "body": "data", "redirects": 1,
                                                   "headers": {"Content-Type": "text/plain"}})["json"]
            self.assertEqual((e["method"], e["body"]), ("GET", ""), code)
            self.assertNotIn("Content-Type", [k for k, v in e["fields"]])
        # ... 307 and 308 send the same request again
        for code in ("307", "308"):
            e = self.ok(self.up.url("/%s" % code), {"method": "PUT", "body": "data", "redirects": 1})["json"]
            self.assertEqual((e["method"], e["body"]), ("PUT", "data"), code)

    def test_redirect_to_another_origin_drops_credentials(self):
        e = self.ok(self.up.url("/cross"), {"redirects": 1, "headers": {
            "Authorization": "Bearer secret", "Cookie": "a=1", "X-Kept": "yes"}})["json"]
        names = [k for k, v in e["fields"]]
        self.assertNotIn("Authorization", names)
        self.assertNotIn("Cookie", names)
        self.assertIn(["X-Kept", "yes"], e["fields"])
        self.assertIn(["Host", "localhost:%d" % self.up.port], e["fields"])
        # the same origin keeps them
        e = self.ok(self.up.url("/307?to=/echo"), {"redirects": 1, "headers": {
            "Authorization": "Bearer secret"}})["json"]
        self.assertIn(["Authorization", "Bearer secret"], e["fields"])

    # --- streaming --------------------------------------------------------------------------

    def test_stream_read_to_the_end(self):
        up = self.fresh()
        body = self.text("/stream-some", url=up.url("/stream?n=5&size=4"), pieces=0)
        data, n, after, resbody, jerr = body.split("|")
        self.assertEqual(data, "00001111222233334444")
        self.assertGreaterEqual(int(n), 1)
        self.assertEqual((after, resbody, jerr), ("nil", "nil", "no body: the response is streamed"))
        self.assertEqual(self.ok(up.url("/conn"))["body"], "c1r2")  # read to its end: pooled

    def test_stream_closed_early(self):
        up = self.fresh()
        body = self.text("/stream-some", url=up.url("/stream?n=200&size=1000"), pieces=1)
        data, n, after = body.split("|")[:3]
        self.assertEqual((data, n, after), ("0" * 1000, "1", "nil"))
        self.assertTrue(up.wait_ended(1))  # res:close() closed it

    def test_stream_has_no_default_limit(self):
        # http.defaults.max_body is 1000 during the call: not for a stream
        body = self.text("/stream-some", url=self.up.url("/big?n=3000000"), pieces=0, small_default=1)
        self.assertEqual(len(body.split("|")[0]), 3000000)
        body = self.text("/stream-some", url=self.up.url("/big?n=3000000"), pieces=0, max_body=1000)
        # at request (the head and the body came in one read) or at a read
        self.assertTrue(body == "nil|body too large" or
                        body.split("|")[0].endswith("error: body too large"), body[-100:])

    def test_relay_into_a_crater_stream(self):
        s = self.srv.connect()
        q = urllib.parse.urlencode({"url": self.up.url("/stream?n=6&size=3")})
        s.sendall(b"GET /relay?%s HTTP/1.1\r\nHost: x\r\n\r\n" % q.encode())
        st, h, body = read_response(s.makefile("rb"))
        s.close()
        self.assertEqual((st, h["content-type"]), (200, "text/x-pieces"))
        data, pieces = body.decode().split("\npieces: ")
        self.assertEqual(data, "000111222333444555")

    def test_request_inside_a_stream(self):
        s = self.srv.connect()
        q = urllib.parse.urlencode({"url": self.up.url("/json")})
        s.sendall(b"GET /inside-stream?%s HTTP/1.1\r\nHost: x\r\n\r\n" % q.encode())
        st, h, body = read_response(s.makefile("rb"))
        s.close()
        lines = body.decode().split("\n")
        self.assertEqual((lines[0], json.loads(lines[1])["name"], lines[2]), ("before", "crater", "after"))

    # --- the client goes away ---------------------------------------------------------------

    def test_client_resets_while_the_handler_waits(self):
        up = self.fresh()
        for i in range(3):
            s = self.srv.connect()
            q = urllib.parse.urlencode({"url": up.url("/never")})
            s.sendall(b"GET /wait?%s HTTP/1.1\r\nHost: x\r\n\r\n" % q.encode())
            deadline = time.time() + 5
            while up.accepted < i + 1 and time.time() < deadline:
                time.sleep(0.01)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # a reset: the request is aborted
        self.assertTrue(up.wait_ended(3))  # each upstream connection was closed
        self.assertEqual(self.text("/hello"), "hello from crater")
        self.assertEqual(self.ok(self.up.url("/json"))["status"], 200)

    # --- TLS --------------------------------------------------------------------------------

    def test_https_with_a_ca_file(self):
        up = self.fresh(tls=self.tls.tls)
        for host in ("localhost", "127.0.0.1"):
            r = self.ok(up.url("/json", host=host), {"cafile": self.ca})
            self.assertEqual((r["status"], r["json"]["name"]), (200, "crater"))
        e = self.ok(up.url("/echo", host="localhost"), {"cafile": self.ca})["json"]
        self.assertIn(["Host", "localhost:%d" % up.port], e["fields"])
        # the connections were pooled: TLS already, no handshake
        self.assertEqual(self.text("/sequential", url=up.url("/conn"), n=2, cafile=self.ca),
                         "c2r2,c2r3")

    def test_https_verify(self):
        err = self.err(self.tls.url("/json"))  # the system's CA store does not know the test CA
        self.assertTrue(err.startswith("certificate verify failed: "), err)
        self.assertEqual(self.ok(self.tls.url("/json"), {"verify": False})["status"], 200)
        # the unverified connection in the pool is not taken by a verifying request
        err = self.err(self.tls.url("/json"))
        self.assertTrue(err.startswith("certificate verify failed: "), err)
        self.assertEqual(self.ok(self.tls.url("/json"), {"cafile": self.ca})["status"], 200)

    def test_https_errors(self):
        err = self.err("https://127.0.0.1:%d/" % self.up.port, {"cafile": self.ca})
        self.assertTrue(err.startswith("handshake failed: "), err)
        big = self.ok(self.tls.url("/big?n=2000000"), {"cafile": self.ca})
        self.assertEqual(len(big["body"]), 2000000)


if __name__ == "__main__":
    run()
