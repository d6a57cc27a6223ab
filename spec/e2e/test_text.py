"""Percent-decoded text that is not UTF-8 is the client's error, and
non-ASCII literal routes match what clients send (docs/routing.md "Text in
paths, queries and headers"), over a real socket against spec/e2e/apps/text.lua."""
import json
import subprocess
import unittest

import os

from harness import BIN, ROOT, Server, run

APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps", "text.lua")


class Text(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, "exit status %s" % rc
        cls.srv.check_sanitizers()

    def problem(self, path, status, headers=None):
        st, h, body = self.srv.get(path, headers=headers)
        self.assertEqual(st, status, body)
        self.assertEqual(h["content-type"], "application/problem+json")
        return json.loads(body)

    def test_path_parameter_not_utf8_is_400_naming_it(self):
        for bad in ("%FF", "%C3", "%C3%28", "%ED%A0%80", "%F8%88%80%80%80", "ok%C0%AF"):
            p = self.problem("/echo/" + bad, 400)
            self.assertIn('path parameter "name" is not valid UTF-8', p["detail"])
        p = self.problem("/files/a/%FE/b", 400)
        self.assertIn('path parameter "path"', p["detail"])

    def test_valid_utf8_parameters_pass(self):
        st, _, body = self.srv.get("/echo/%C3%A9t%C3%A9%20%F0%9F%8D%95")
        self.assertEqual((st, json.loads(body)), (200, {"name": "été 🍕"}))

    def test_query_value_or_key_not_utf8_is_400(self):
        p = self.problem("/q?q=%FF", 400)
        self.assertIn('query parameter "q" is not valid UTF-8', p["detail"])
        p = self.problem("/q?%FFkey=1", 400)
        self.assertIn('query parameter "\\xFFkey"', p["detail"])
        p = self.problem("/typed?q=a%E9b", 400)   # latin-1 é
        self.assertIn('query parameter "q"', p["detail"])
        st, _, body = self.srv.get("/q?q=%C3%A9")
        self.assertEqual(json.loads(body), {"q": "é"})
        # the raw query is still there for an app that decodes it itself
        st, _, body = self.srv.get("/raw?q=%E9")
        self.assertEqual(json.loads(body), {"raw": "q=%E9"})

    def test_declared_string_header_not_utf8_is_422(self):
        for path, hdr in (("/hdr", "X-Name"), ("/hdr-list", "X-Tags")):
            raw = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + hdr.encode() + \
                b": ok, \xff\xfe\r\nConnection: close\r\n\r\n"
            out = self.srv.raw(raw)
            self.assertTrue(out.startswith(b"HTTP/1.1 422 "), out[:200])
            doc = json.loads(out.split(b"\r\n\r\n", 1)[1])
            self.assertEqual(doc["errors"][0]["in"], "headers")
            self.assertEqual(doc["errors"][0]["pointer"], "/" + hdr)
            self.assertIn("not valid UTF-8", doc["errors"][0]["message"])
        out = self.srv.raw("GET /hdr HTTP/1.1\r\nHost: x\r\nX-Name: été\r\nConnection: close\r\n\r\n".encode())
        self.assertIn('{"name":"été"}'.encode(), out)

    def test_non_ascii_literal_routes_match_either_case(self):
        for p in ("/caf%C3%A9", "/caf%c3%a9", "/caf%c3%A9"):
            st, _, body = self.srv.get(p)
            self.assertEqual((st, body), (200, "café".encode()), p)
        st, _, body = self.srv.get("/%c3%bcn%c3%af/%C3%A9")
        self.assertEqual(json.loads(body), {"id": "é"})
        for p in ("/a~b", "/a%7Eb", "/a%7eb"):
            st, _, body = self.srv.get(p)
            self.assertEqual((st, body), (200, b"tilde"), p)
        # unencoded bytes are not a valid request-target (RFC 9112 3.2)
        out = self.srv.raw("GET /café HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out[:100])
        st, h, _ = self.srv.request("POST", "/caf%c3%a9")
        self.assertEqual((st, h["allow"]), (405, "GET, HEAD, OPTIONS"))

    def test_server_keeps_serving(self):
        self.problem("/echo/%FF", 400)
        st, _, _ = self.srv.get("/q?q=ok")
        self.assertEqual(st, 200)


class RoutesListing(unittest.TestCase):
    def test_columns_align_by_characters(self):
        out = subprocess.run([BIN, "routes", APP], capture_output=True, cwd=ROOT, check=True).stdout.decode()
        lines = [l for l in out.splitlines() if l]
        self.assertIn("/café", out)
        # the "(file:line)" column starts at the same character in every line
        self.assertEqual(len({l.index("  (") for l in lines}), 1, out)


if __name__ == "__main__":
    run()
