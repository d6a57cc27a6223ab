"""examples/website in headless Chromium: what a visitor does with a small
Flask-style site -- pages from templates, a stylesheet from app:static, a
sign-in form kept in a signed session cookie, a multipart form with a file
chosen in a file input, redirects after each POST, compressed HTML -- and
the same bytes over plain sockets. Skipped without chromium (.ci/setup.sh
installs it)."""
import gzip
import json
import os
import tempfile
import unittest

import browser
from harness import Server, example, run


@unittest.skipUnless(browser.available(), "chromium is not installed (.ci/setup.sh)")
class Website(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(example("website", "app.lua"), env={"SESSION_SECRET": "s" * 40})
        cls.browser = browser.Browser()
        cls.page = cls.browser.page()
        cls.dir = tempfile.mkdtemp(prefix="crater-e2e-website-")

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        rc = cls.srv.stop()
        assert rc == 0, "exit status %s" % rc
        cls.srv.check_sanitizers()

    def text(self, selector):
        return self.page.eval("(document.querySelector(%s) || {}).textContent || null" % json.dumps(selector))

    def submit(self, form_selector):
        self.page.eval("document.querySelector(%s).requestSubmit()" % json.dumps(form_selector))

    def test_a_visit(self):
        p = self.page
        p.goto(self.srv.url("/"))
        # the stylesheet came from app:static and applies
        self.assertEqual(p.eval("getComputedStyle(document.body).backgroundColor"), "rgb(250, 248, 240)")
        self.assertEqual(p.eval("document.title"), "Guestbook")
        self.assertIsNone(self.text("#who"))

        # sign in: a urlencoded form, a 303 to the home page, a session cookie
        p.eval("document.querySelector('#login input[name=name]').value = 'Zoë <b>'")
        self.submit("#login")
        p.wait_for("!!document.querySelector('#who')")
        self.assertEqual(self.text("#who"), "Signed in as Zoë <b>")   # escaped, shown as text
        self.assertEqual(self.text("#flash"), "Welcome, Zoë <b>")
        self.assertEqual(p.eval("location.pathname"), "/")
        session = [c for c in p.cookies() if c["name"] == "session"]
        self.assertEqual(len(session), 1)
        self.assertTrue(session[0]["httpOnly"])
        self.assertEqual(session[0]["sameSite"], "Lax")
        self.assertEqual(p.eval("document.cookie"), "")          # HttpOnly: no script sees it

        # sign the book with a file chosen in the file input (multipart)
        data = bytes(range(256)) * 40 + b"\r\n--boundary-like--\r\n"
        path = os.path.join(self.dir, "notes.bin")
        with open(path, "wb") as f:
            f.write(data)
        p.eval("document.querySelector('#sign textarea').value = '<script>alert(1)</script> hello'")
        p.set_files("#sign input[type=file]", [path])
        self.submit("#sign")
        p.wait_for("document.querySelectorAll('#entries li').length === 1")
        self.assertEqual(self.text("#entries .message"), "<script>alert(1)</script> hello")
        self.assertEqual(p.eval("document.querySelectorAll('#entries script').length"), 0)
        self.assertIn("notes.bin (%d bytes)" % len(data), self.text("#entries li"))
        # the attachment comes back byte for byte
        got = p.eval("""fetch(document.querySelector('#entries a').href)
                        .then(r => r.arrayBuffer()).then(b => Array.from(new Uint8Array(b)))""")
        self.assertEqual(bytes(got), data)

        # a second entry without a file
        p.eval("document.querySelector('#sign textarea').value = 'second'")
        self.submit("#sign")
        p.wait_for("document.querySelectorAll('#entries li').length === 2")

        # sign out: the cookie is deleted, the sign-in form is back
        self.submit("#logout")
        p.wait_for("!!document.querySelector('#login')")
        self.assertEqual([c for c in p.cookies() if c["name"] == "session"], [])
        self.assertEqual(p.eval("document.querySelectorAll('#entries li').length"), 2)

    def test_the_same_site_over_a_socket(self):
        st, h, body = self.srv.get("/", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        if h.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        self.assertIn(b'<link rel="stylesheet" href="/static/style.css">', body)
        st, h, css = self.srv.get("/static/style.css")
        self.assertEqual((st, h["content-type"]), (200, "text/css; charset=utf-8"))
        self.assertIn("etag", h)
        st, _, _ = self.srv.get("/static/style.css", headers={"If-None-Match": h["etag"]})
        self.assertEqual(st, 304)
        # posting without a session: back home with a message, nothing stored
        st, h, _ = self.srv.request("POST", "/entries", body="message=x",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(st, 415)  # the form declares a file: multipart only
        st, h, _ = self.srv.request("POST", "/login", body="name=",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(st, 422)
        st, h, _ = self.srv.request("POST", "/login", body="name=ann",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((st, h["location"]), (303, "/?flash=Welcome%2C%20ann"))
        self.assertTrue(h["set-cookie"].startswith("session="))
        self.assertEqual(self.srv.get("/entries/99/attachment")[0], 404)
        self.assertEqual(self.srv.get("/static/../app.lua")[0], 404)


if __name__ == "__main__":
    run()
