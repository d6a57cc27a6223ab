"""Cookies over a real socket: req.cookies (RFC 6265 5.4, lenient),
res:set_cookie with every option, res:delete_cookie, and the 500 a cookie
the header cannot carry gets (docs/cookies-and-sessions.md)."""
import json
import os
import unittest

from harness import Server, ROOT, run

APP = os.path.join(ROOT, "spec", "e2e", "apps", "cookies.lua")


class Cookies(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, "exit status %s" % rc

    def cookies(self, *values):
        # http.client joins repeated headers: send raw for several Cookie fields
        head = "".join("Cookie: %s\r\n" % v for v in values)
        data = self.srv.raw(("GET /cookies HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n" % head)
                            .encode("latin-1"))
        status = int(data.split(b" ", 2)[1])
        self.assertEqual(status, 200, data)
        return json.loads(data.split(b"\r\n\r\n", 1)[1])

    def test_pairs(self):
        self.assertEqual(self.cookies("a=1; b=2"), {"a": "1", "b": "2"})

    def test_first_of_a_name_wins_across_fields(self):
        self.assertEqual(self.cookies("a=1; b=2", "a=3; c=4"), {"a": "1", "b": "2", "c": "4"})

    def test_quoted_values_unquoted_not_percent_decoded(self):
        self.assertEqual(self.cookies('q="x"; p=%41%20'), {"q": "x", "p": "%41%20"})

    def test_garbage_never_fails_the_request(self):
        for junk in (";;;", "=", "novalue", "a", "=x", " ; ; ok=1 ;", "\x80\xff=\x80; ok=1", '"; ok="',
                     "a" * 6000):
            st, _, body = self.srv.get("/cookie/ok", headers={"Cookie": junk})
            self.assertEqual(st, 200, junk)
            self.assertIn(json.loads(body)["value"], ("1", None, '"'), junk)
        self.assertEqual(self.cookies("=x; ok=1; broken"), {"ok": "1"})

    def test_no_cookie_header(self):
        st, _, body = self.srv.get("/cookie/sid")
        self.assertEqual((st, json.loads(body)), (200, {"value": None}))

    def test_one_cookie(self):
        st, _, body = self.srv.get("/cookie/sid", headers={"Cookie": "sid=abc; x=y"})
        self.assertEqual(json.loads(body), {"value": "abc"})

    def test_set_cookie_every_option(self):
        st, h, _ = self.srv.request("POST", "/login")
        self.assertEqual(st, 200)
        self.assertEqual(h["set-cookie"].split("\n"), [
            "sid=abc123; Path=/; Max-Age=3600; Expires=Sun, 06 Nov 1994 08:49:37 GMT; HttpOnly; SameSite=Lax",
            'theme="dark"; Path=/; Domain=example.com; Secure; SameSite=None; Partitioned; Priority=High',
        ])

    def test_delete_cookie(self):
        st, h, body = self.srv.request("POST", "/logout")
        self.assertEqual((st, body), (204, b""))
        self.assertEqual(h["set-cookie"], "sid=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT")

    def test_refused_cookies_are_500_and_named_in_the_log(self):
        for what, needle in (("space", "cookie sid: its value"), ("samesite", "needs secure"),
                             ("crlf", "cookie sid: path"), ("option", "unknown option")):
            st, h, body = self.srv.get("/bad/" + what)
            self.assertEqual(st, 500, what)
            self.assertEqual(h["content-type"], "application/problem+json")
            self.assertNotIn("set-cookie", h)
            self.assertIn(needle, self.srv.log())
        st, _, _ = self.srv.get("/cookie/sid")  # still serving
        self.assertEqual(st, 200)


if __name__ == "__main__":
    run()
