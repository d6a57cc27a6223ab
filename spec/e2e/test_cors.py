"""CORS over a real socket (docs/cors.md): preflights allowed and refused,
the headers of actual answers (errors included), Vary, policies per group,
configurations refused at load; and headless Chromium making a credentialed
cross-origin fetch (a custom header, so a preflight; a cookie set by the
API and sent back) that succeeds, and one to a group that does not allow the
page's origin, which fails."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, ROOT, Server, needs, run

APP = os.path.join(ROOT, "spec", "e2e", "apps", "cors.lua")
A = "https://a.example"



def values(h, name):
    return h[name].split("\n") if name in h else []


class Cors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, "exit status %s" % rc

    def preflight(self, path, origin=A, method="POST", headers=None):
        h = {"Origin": origin, "Access-Control-Request-Method": method}
        if headers is not None:
            h["Access-Control-Request-Headers"] = headers
        return self.srv.request("OPTIONS", path, headers=h)

    def test_preflight_allowed(self):
        st, h, body = self.preflight("/items", headers="x-token, content-type")
        self.assertEqual((st, body), (204, b""))
        self.assertEqual(h["access-control-allow-origin"], A)
        self.assertEqual(h["access-control-allow-methods"], "GET, POST, DELETE")
        self.assertEqual(h["access-control-allow-headers"], "x-token, content-type")
        self.assertEqual(h["access-control-max-age"], "600")
        self.assertEqual(h["access-control-allow-credentials"], "true")
        self.assertEqual(h["vary"], "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
        self.assertNotIn("access-control-expose-headers", h)  # only on actual answers
        self.assertNotIn("content-type", h)

    def test_preflight_for_a_path_without_route_is_answered(self):
        # the browser then sends the request, and can read the 404
        st, h, _ = self.preflight("/nothing/here", method="GET")
        self.assertEqual((st, h["access-control-allow-origin"]), (204, A))

    def test_preflight_refused_origin(self):
        for origin in ("https://evil.example", "https://a.example.evil", "http://a.example",
                       "https://a.example/", "null", ""):
            st, h, body = self.preflight("/items", origin=origin)
            self.assertEqual(st, 403, origin)
            self.assertEqual(h["content-type"], "application/problem+json")
            self.assertFalse([k for k in h if k.startswith("access-control-")], (origin, h))
            self.assertIn("Origin", h["vary"])
            self.assertIn("is not allowed", json.loads(body)["detail"])

    def test_preflight_refused_method_and_header(self):
        st, h, body = self.preflight("/items", method="PUT")
        self.assertEqual(st, 403)
        self.assertIn("method PUT", json.loads(body)["detail"])
        self.assertNotIn("access-control-allow-origin", h)
        st, h, body = self.preflight("/items", headers="X-Token, X-Evil")
        self.assertEqual(st, 403)
        self.assertIn("request header X-Evil", json.loads(body)["detail"])
        self.assertNotIn("access-control-allow-origin", h)

    def test_plain_options_unchanged(self):
        st, h, _ = self.srv.request("OPTIONS", "/items")
        self.assertEqual(st, 204)
        self.assertEqual(h["allow"], "GET, HEAD, OPTIONS, POST")
        self.assertNotIn("access-control-allow-origin", h)
        # an Origin without Access-Control-Request-Method is no preflight
        st, h, _ = self.srv.request("OPTIONS", "/items", headers={"Origin": A})
        self.assertEqual(st, 204)
        self.assertIn("allow", h)
        self.assertEqual(h["access-control-allow-origin"], A)

    def test_actual_request_allowed(self):
        st, h, body = self.srv.get("/items", headers={"Origin": A})
        self.assertEqual((st, json.loads(body)), (200, [1, 2]))
        self.assertEqual(h["access-control-allow-origin"], A)
        self.assertEqual(h["access-control-allow-credentials"], "true")
        self.assertEqual(h["access-control-expose-headers"], "X-Total, X-Page")
        self.assertEqual(h["vary"], "Origin")
        self.assertNotIn("access-control-max-age", h)
        st, h, _ = self.srv.get("/items", headers={"Origin": "https://b.example"})
        self.assertEqual(h["access-control-allow-origin"], "https://b.example")

    def test_actual_request_other_origin_or_none(self):
        st, h, _ = self.srv.get("/items", headers={"Origin": "https://evil.example"})
        self.assertEqual(st, 200)  # CORS is the browser's to enforce: no headers, same answer
        self.assertFalse([k for k in h if k.startswith("access-control-")], h)
        self.assertEqual(h["vary"], "Origin")
        st, h, _ = self.srv.get("/items")
        self.assertFalse([k for k in h if k.startswith("access-control-")], h)
        self.assertEqual(h["vary"], "Origin")

    def test_error_answers_carry_cors(self):
        for method, path, body, status in (("GET", "/missing", None, 404), ("GET", "/boom", None, 500),
                                           ("GET", "/no/route", None, 404), ("PUT", "/items", None, 405),
                                           ("POST", "/items", {"name": 3}, 422),
                                           ("POST", "/items", "{", 400),
                                           ("GET", "/badheader", None, 500)):
            st, h, _ = self.srv.request(method, path, body=body,
                                        headers={"Origin": A, "Content-Type": "application/json"})
            self.assertEqual(st, status, path)
            self.assertEqual(h["access-control-allow-origin"], A, path)
            self.assertEqual(h["access-control-allow-credentials"], "true", path)
            self.assertEqual(h["vary"], "Origin", path)

    def test_vary_added_to_the_handlers_own(self):
        st, h, _ = self.srv.get("/vary", headers={"Origin": A})
        self.assertEqual(values(h, "vary"), ["Accept", "Origin"])

    def test_any_origin_group(self):
        st, h, _ = self.srv.get("/public/x", headers={"Origin": "https://z.example"})
        self.assertEqual(h["access-control-allow-origin"], "*")
        self.assertNotIn("access-control-allow-credentials", h)
        self.assertEqual(h["access-control-expose-headers"], "X-Total")
        # an inner group without a policy takes its outer group's
        st, h, _ = self.srv.get("/public/inner/y", headers={"Origin": "https://z.example"})
        self.assertEqual((st, h["access-control-allow-origin"]), (200, "*"))
        st, h, _ = self.preflight("/public/x", origin="https://z.example", method="GET")
        self.assertEqual((st, h["access-control-allow-origin"]), (204, "*"))
        # a 404 under the group's prefix gets the group's policy
        st, h, _ = self.srv.get("/public/none", headers={"Origin": "https://z.example"})
        self.assertEqual((st, h["access-control-allow-origin"]), (404, "*"))

    def test_function_policy(self):
        st, h, _ = self.srv.get("/api/me", headers={"Origin": "http://127.0.0.1:3000"})
        self.assertEqual(h["access-control-allow-origin"], "http://127.0.0.1:3000")
        st, h, _ = self.srv.get("/api/me", headers={"Origin": "http://127.0.0.2:3000"})
        self.assertNotIn("access-control-allow-origin", h)

    def test_hostile_preflights_keep_the_server_serving(self):
        for raw in (b"OPTIONS /items HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\n"
                    b"Access-Control-Request-Method: \r\nConnection: close\r\n\r\n",
                    b"OPTIONS /items HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\n"
                    b"Access-Control-Request-Method: P\xffST\r\nConnection: close\r\n\r\n",
                    b"OPTIONS /items HTTP/1.1\r\nHost: x\r\nOrigin: https://\xff.example\r\n"
                    b"Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n",
                    b"OPTIONS /items HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\n"
                    b"Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: x-\xff\r\n"
                    b"Connection: close\r\n\r\n",
                    b"OPTIONS /items HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\n"
                    b"Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: " + b"x," * 2000 +
                    b"\r\nConnection: close\r\n\r\n",
                    b"OPTIONS * HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\n"
                    b"Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n"):
            out = self.srv.raw(raw)
            status = int(out.split(b" ", 2)[1])
            self.assertIn(status, (200, 204, 400, 403, 404), out[:300])
            self.assertNotIn(b"500", out.split(b"\r\n", 1)[0])
        self.assertEqual(self.srv.get("/items")[0], 200)

    @needs(shutil.which("chromium"), "chromium not installed (.ci/setup.sh)")
    def test_browser_credentialed_cross_origin_fetch(self):
        # the page from this server, the API a second one: another origin
        with Server(APP) as api:
            with tempfile.TemporaryDirectory() as profile:
                out = subprocess.run([
                    "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--user-data-dir=" + profile,
                    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                    "--virtual-time-budget=15000", "--dump-dom",
                    self.srv.url("/page?api=%d" % api.port)], capture_output=True, timeout=90)
            dom = out.stdout.decode(errors="replace")
            m = re.search(r"RESULT(\{.*\})END", dom)
            self.assertIsNotNone(m, (dom[-2000:], out.stderr.decode(errors="replace")[-2000:]))
            got = json.loads(m.group(1).replace("&quot;", '"'))
            self.assertNotIn("error", got)
            self.assertEqual(got["login"], {"status": 200, "body": {"token_seen": "t1"}})
            # the cookie the API set (credentials: "include") came back
            self.assertEqual(got["me"], {"status": 200, "body": {"token": "t2", "cookie": "sid=s3cret"}})
            # a group that does not allow the page's origin: the browser refuses both
            self.assertIn("failed", got["closed"])
            self.assertIn("failed", got["closed_simple"])
            log = api.log()
        self.assertNotIn("error", log.lower().replace("error handler", ""))


class BadConfig(unittest.TestCase):
    def load(self, src):
        d = tempfile.mkdtemp(prefix="crater-e2e-cors-")
        app = os.path.join(d, "app.lua")
        with open(app, "w") as f:
            f.write(src)
        out = subprocess.run([os.path.abspath(BIN), "routes", app], capture_output=True, cwd=d, timeout=30)
        return out.returncode, (out.stdout + out.stderr).decode()

    def test_refused_configs_name_the_line(self):
        for opts, why in (('origins = "*", credentials = true', 'origins = "*" with credentials = true'),
                          ('origins = { "https://a.example/" }', "no trailing '/'"),
                          ('origins = { "a.example" }', "must be an origin"),
                          ('origins = 3', "origins must be"),
                          ('origins = "*", max_age = -1', "max_age"),
                          ('origins = "*", headers = { "bad header" }', "headers[1]"),
                          ('origins = "*", nope = 1', "unknown option nope")):
            rc, out = self.load('local app = require("crater").app()\n\napp:cors { %s }\nreturn app\n' % opts)
            self.assertNotEqual(rc, 0, opts)
            self.assertIn("app.lua:3:", out, opts)
            self.assertIn(why, out, opts)
        rc, out = self.load('local app = require("crater").app()\nlocal g = app:group("/g")\n'
                            'g:cors { origins = "*", credentials = true }\nreturn app\n')
        self.assertIn("app.lua:3:", out)


if __name__ == "__main__":
    run()
