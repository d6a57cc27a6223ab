"""Redirects and URLs over a real socket (docs/routing.md, "Redirects, URLs
and the app's folder"): crater.redirect, route names and app:url_for,
204/304 without body or Content-Type, crater.abort's title from the one
status table (the C core's, host/src/http.h), app.root from another
working directory, and trailing_slash = "redirect"."""
import json
import os
import re
import socket
import unittest

from harness import BIN, ROOT, Server, run

APP = os.path.join(ROOT, "spec", "e2e", "apps", "redirects.lua")


def statuses():
    with open(os.path.join(ROOT, "host", "src", "http.h")) as f:
        return [(int(c), t) for c, t in re.findall(r'XX\((\d+), "([^"]*)"\)', f.read())]


class Redirects(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, "exit status %s" % rc

    def head_of(self, raw):
        data = self.srv.raw(raw.encode())
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        return lines[0], {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}, body

    def test_redirect_default_302(self):
        st, h, body = self.srv.get("/go")
        self.assertEqual((st, h["location"]), (302, "/about"))
        self.assertEqual(body, b"Redirecting to /about\n")

    def test_redirect_statuses(self):
        for s in (301, 302, 303, 307, 308):
            st, h, _ = self.srv.get("/go?to=https://example.com/x&status=%d" % s)
            self.assertEqual((st, h["location"]), (s, "https://example.com/x"))
        for s in (200, 300, 304, 404):
            st, h, body = self.srv.get("/go?status=%d" % s)
            self.assertEqual(st, 500, s)
            self.assertNotIn("location", h)
        self.assertIn("is not a redirect (301, 302, 303, 307 or 308)", self.srv.log())

    def test_redirect_refuses_header_injection(self):
        st, h, _ = self.srv.get("/bad-redirect")
        self.assertEqual(st, 500)
        self.assertNotIn("set-cookie", h)
        self.assertIn("crater.redirect: response header Location", self.srv.log())

    def url(self, q):
        st, _, body = self.srv.get("/url?" + q)
        self.assertEqual(st, 200)
        return json.loads(body)

    def test_url_for(self):
        self.assertEqual(self.url("name=user&id=42"), {"ok": True, "url": "/users/42"})
        self.assertEqual(self.url("name=user&id=a%2Fb%20c%3F"), {"ok": True, "url": "/users/a%2Fb%20c%3F"})
        self.assertEqual(self.url("name=file&path=a/b%20c/d.txt"), {"ok": True, "url": "/files/a/b%20c/d.txt"})
        self.assertEqual(self.url("name=user&id=7&tag=x%20y"), {"ok": True, "url": "/users/7?page=2&tag=x%20y"})

    def test_url_for_round_trips_through_the_router(self):
        url = self.url("name=user&id=%C3%A9%20%2F%3F%23")["url"]
        st, _, body = self.srv.get(url)
        self.assertEqual((st, json.loads(body)), (200, {"id": "é /?#"}))

    def test_url_for_errors_name_the_route(self):
        r = self.url("name=user")
        self.assertFalse(r["ok"])
        self.assertIn('route "user" (/users/{id}) needs param id', r["url"])
        r = self.url("name=user&extra=1")
        self.assertIn('route "user" (/users/{id}) has no param extra', r["url"])
        r = self.url("name=nope")
        self.assertIn('no route is named "nope"', r["url"])

    def test_204_and_304_have_no_body_and_no_content_type(self):
        for s in (204, 304):
            line, h, body = self.head_of("GET /status/%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % s)
            self.assertTrue(line.startswith("HTTP/1.1 %d " % s), line)
            self.assertNotIn("content-type", h)
            self.assertNotIn("content-length", h)
            self.assertEqual(body, b"")

    def test_204_keeps_the_connection(self):
        s = self.srv.connect()
        try:
            s.sendall(b"GET /status/204 HTTP/1.1\r\nHost: x\r\n\r\nGET /about HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"about" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 204 No Content\r\n"), data)
        self.assertEqual(data.count(b"HTTP/1.1 "), 2)
        self.assertTrue(data.endswith(b"\r\n\r\nabout"), data)

    def test_abort_title_is_the_status_line_phrase_for_every_status(self):
        seen = 0
        for code, reason in statuses():
            if code < 200 or code in (204, 304):
                continue
            st, h, body = self.srv.get("/status/%d?abort=1" % code)
            self.assertEqual(st, code)
            p = json.loads(body)
            self.assertEqual((p["status"], p["title"]), (code, reason), code)
            seen += 1
        self.assertGreater(seen, 30)
        line, _, _ = self.head_of("GET /status/418?abort=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(line, "HTTP/1.1 418 I'm a teapot")

    def test_root_when_the_app_file_tail_calls_crater_app(self):
        d = os.path.join(ROOT, "spec", "e2e", "apps")
        app = os.path.join(d, "redirects_tail.lua")
        with open(app, "w") as f:
            f.write('return require("crater").app()\n')
        try:
            import subprocess
            out = subprocess.run([os.path.abspath(BIN), "test", os.path.join(d, "redirects_root_spec.lua")], capture_output=True,
                                 timeout=60, cwd="/")
            self.assertEqual(out.returncode, 0, out.stdout.decode() + out.stderr.decode())
        finally:
            os.unlink(app)

    def test_root_is_the_app_folder_from_another_working_directory(self):
        # the server runs from the repository root; the app lives in spec/e2e/apps
        st, _, body = self.srv.get("/root")
        self.assertEqual(json.loads(body)["root"], os.path.realpath(os.path.dirname(APP)))
        st, _, body = self.srv.get("/data")
        self.assertEqual((st, body), (200, b"read from the app's own folder\n"))

    def test_trailing_slash_get_is_301_keeping_the_query(self):
        st, h, _ = self.srv.get("/about/?a=1&b=%20")
        self.assertEqual((st, h["location"]), (301, "/about?a=1&b=%20"))
        st, h, _ = self.srv.get("/guide")
        self.assertEqual((st, h["location"]), (301, "/guide/"))
        st, h, _ = self.srv.get("/users/42/")
        self.assertEqual((st, h["location"]), (301, "/users/42"))
        line, h, body = self.head_of("HEAD /about/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual((line, h["location"], body), ("HTTP/1.1 301 Moved Permanently", "/about", b""))

    def test_trailing_slash_other_methods_are_308(self):
        st, h, _ = self.srv.request("POST", "/form/", body="x")
        self.assertEqual((st, h["location"]), (308, "/form"))

    def test_trailing_slash_no_open_redirect_nor_loop(self):
        for path in ("//about/", "//example.com/", "/nothing/", "/nothing", "/about//"):
            st, h, _ = self.srv.get(path)
            self.assertEqual(st, 404, path)
            self.assertNotIn("location", h)
        st, _, _ = self.srv.get("/about")
        self.assertEqual(st, 200)


class NoPolicy(unittest.TestCase):
    def test_off_by_default(self):
        app = os.path.join(ROOT, "spec", "e2e", "apps", "redirects_off.lua")
        with open(app, "w") as f:
            f.write('local app = require("crater").app()\n'
                    'app:get("/about", function() return "about" end)\nreturn app\n')
        try:
            with Server(app) as srv:
                st, h, _ = srv.get("/about/")
                self.assertEqual(st, 404)
                self.assertNotIn("location", h)
        finally:
            os.unlink(app)

    def test_bad_policy_is_a_clear_error(self):
        import subprocess
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write('local app = require("crater").app { trailing_slash = "sideways" }\nreturn app\n')
        try:
            out = subprocess.run([BIN, "routes", f.name], capture_output=True, timeout=30)
        finally:
            os.unlink(f.name)
        self.assertNotEqual(out.returncode, 0)
        err = (out.stdout + out.stderr).decode()
        self.assertIn('trailing_slash must be "redirect"', err)
        self.assertIn(os.path.basename(f.name) + ":1", err)


if __name__ == "__main__":
    run()
