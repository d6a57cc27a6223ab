"""Signed-cookie sessions over a real socket (docs/cookies-and-sessions.md):
req.session written back only when it changed, tampered, expired and
unknown-key cookies read as empty sessions, key rotation, logging out, the
size limit, and the same app keeping its sessions in a throwaway Redis."""
import base64
import hashlib
import hmac
import json
import os
import time
import unittest

from harness import ROOT, Server, run
from redis_server import MISSING as REDIS_MISSING, RedisServer

APP = os.path.join(ROOT, "spec", "e2e", "apps", "sessions.lua")
NEW, OLD = "n" * 32, "o" * 32


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def forge(secret, data, issued=None, name="session"):
    payload = b64(json.dumps(data).encode())
    signed = "%s.%d" % (payload, issued or int(time.time()))
    sig = hmac.new(secret.encode(), ("%s=%s" % (name, signed)).encode(), hashlib.sha256).digest()
    return "%s.%s" % (signed, b64(sig))


class Sessions(unittest.TestCase):
    env = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP, env=cls.env)

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, "exit status %s" % rc

    def call(self, method, path, cookie=None):
        st, h, body = self.srv.request(method, path, headers={"Cookie": "session=" + cookie} if cookie else {})
        sc = h.get("set-cookie")
        value = sc.split(";", 1)[0].split("=", 1)[1] if sc else None
        return st, body, sc, value

    def login(self):
        st, _, sc, value = self.call("POST", "/login/ada")
        self.assertEqual(st, 200)
        self.assertIn("; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax", sc)
        return value

    def test_new_session_is_empty_and_writes_nothing(self):
        st, body, sc, _ = self.call("GET", "/me")
        self.assertEqual((st, json.loads(body), sc), (200, {}, None))
        st, body, sc, _ = self.call("GET", "/untouched")
        self.assertEqual(sc, None)

    def test_login_then_read_without_rewriting(self):
        c = self.login()
        st, body, sc, _ = self.call("GET", "/me", c)
        self.assertEqual(json.loads(body), {"user": "ada", "cart": ["apple"]})
        self.assertIsNone(sc, "an unchanged session is not written again")

    def test_nested_change_is_written(self):
        c = self.login()
        st, body, sc, c2 = self.call("POST", "/cart/pear", c)
        self.assertEqual(json.loads(body), ["apple", "pear"])
        self.assertIsNotNone(c2)
        st, body, _, _ = self.call("GET", "/me", c2)
        self.assertEqual(json.loads(body)["cart"], ["apple", "pear"])

    def test_tampered_cookies_are_empty_sessions(self):
        c = self.login()
        payload, issued, sig = c.split(".")
        bad = [
            c[:-2] + ("AA" if c[-2:] != "AA" else "BB"),            # signature
            "%s.%s.%s" % (payload[:-1] + ("A" if payload[-1] != "A" else "B"), issued, sig),  # payload
            "%s.%d.%s" % (payload, int(issued) + 1, sig),             # issued
            "garbage", "", "a.b.c", "..", "%s.%s" % (payload, sig), c + ".x",
            forge("x" * 32, {"user": "mallory"}),                       # unknown key
        ]
        for v in bad:
            st, body, sc, _ = self.call("GET", "/me", v)
            self.assertEqual((st, json.loads(body)), (200, {}), v)

    def test_forged_with_the_right_key_is_read(self):
        # the cookie format is what the docs say it is
        st, body, _, _ = self.call("GET", "/me", forge(NEW, {"user": "ok"}))
        self.assertEqual(json.loads(body), {"user": "ok"})

    def test_old_key_accepted_and_resigned_with_the_newest(self):
        old = forge(OLD, {"user": "rotated"})
        st, body, sc, c2 = self.call("GET", "/me", old)
        self.assertEqual(json.loads(body), {"user": "rotated"})
        self.assertIsNotNone(c2, "a cookie signed with an older secret is signed again")
        payload, issued, sig = c2.split(".")
        want = hmac.new(NEW.encode(), ("session=%s.%s" % (payload, issued)).encode(), hashlib.sha256).digest()
        self.assertEqual(sig, b64(want))

    def test_expired_is_empty(self):
        st, body, _, _ = self.call("GET", "/me", forge(NEW, {"user": "late"}, issued=int(time.time()) - 3601))
        self.assertEqual(json.loads(body), {})

    def test_logout_deletes_the_cookie(self):
        c = self.login()
        for path in ("/logout", "/clear"):
            st, _, sc, _ = self.call("POST", path, c)
            self.assertEqual(st, 204)
            self.assertTrue(sc.startswith("session=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970"), sc)
        st, _, sc, _ = self.call("POST", "/logout")  # no cookie: nothing to delete
        self.assertIsNone(sc)

    def test_replacing_the_table(self):
        st, _, sc, c = self.call("POST", "/replace")
        st, body, _, _ = self.call("GET", "/me", c)
        self.assertEqual(json.loads(body), {"user": "fresh"})

    def test_too_big_is_a_clear_error(self):
        st, _, sc, _ = self.call("POST", "/big")
        if self.env:  # in a store the cookie is only an id
            self.assertEqual((st, sc is not None), (200, True))
            return
        self.assertEqual(st, 500)
        self.assertIsNone(sc)
        self.assertIn("session cookie session would be", self.srv.log())
        self.assertIn("more than the 4093 a browser keeps", self.srv.log())


@unittest.skipIf(REDIS_MISSING, REDIS_MISSING or "")
class RedisSessions(Sessions):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer()
        cls.env = {"REDIS_URL": cls.redis.url()}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.redis.stop()

    def test_forged_with_the_right_key_is_read(self):
        # with a store the payload is an id: a signed id the store lacks is empty
        st, body, _, _ = self.call("GET", "/me", forge(NEW, {"user": "ok"}))
        self.assertEqual(json.loads(body), {})

    def test_old_key_accepted_and_resigned_with_the_newest(self):
        c = self.login()
        self.assertEqual(len(c.split(".")[0]), 32)  # 24 random bytes, base64url
        keys = self.redis.cli("KEYS", "session:*")
        self.assertIn("session:" + c.split(".")[0], keys)

    def test_assigning_a_new_table_gets_a_new_id(self):
        c = self.login()
        old_key = "session:" + c.split(".")[0]
        st, _, sc, c2 = self.call("POST", "/replace", c)
        self.assertNotEqual(c2.split(".")[0], c.split(".")[0])
        self.assertEqual(self.redis.cli("EXISTS", old_key).strip(), "0")
        st, body, _, _ = self.call("GET", "/me", c2)
        self.assertEqual(json.loads(body), {"user": "fresh"})

    def test_logout_removes_the_stored_session(self):
        c = self.login()
        key = "session:" + c.split(".")[0]
        self.assertIn("ada", self.redis.cli("GET", key))
        ttl = int(self.redis.cli("TTL", key).strip())
        self.assertTrue(0 < ttl <= 3600, ttl)
        self.call("POST", "/logout", c)
        self.assertEqual(self.redis.cli("EXISTS", key).strip(), "0")
        st, body, _, _ = self.call("GET", "/me", c)
        self.assertEqual(json.loads(body), {})


class BadConfig(unittest.TestCase):
    def test_short_secret_and_bad_options_are_clear_errors(self):
        import subprocess
        import tempfile
        from harness import BIN
        cases = [
            ('app:sessions { secret = "short" }', "secret 1 is 5 bytes; a secret is at least 32"),
            ('app:sessions { }', "a secret is needed"),
            ('app:sessions { secret = ("s"):rep(32), same_site = "None" }', "needs secure = true"),
            ('app:sessions { secret = ("s"):rep(32), colour = 1 }', "unknown option colour"),
            ('app:sessions { secret = ("s"):rep(32), store = { get = print } }', "store.set is a nil"),
        ]
        for code, want in cases:
            with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
                f.write('local app = require("crater").app()\n%s\nreturn app\n' % code)
            try:
                out = subprocess.run([os.path.abspath(BIN), "routes", f.name], capture_output=True, timeout=30)
            finally:
                os.unlink(f.name)
            err = (out.stdout + out.stderr).decode()
            self.assertNotEqual(out.returncode, 0, code)
            self.assertIn(want, err, code)
            self.assertIn(os.path.basename(f.name) + ":2:", err, code)


if __name__ == "__main__":
    run()
