"""Security schemes over a real socket (docs/security.md): API keys in a
header, the query and a cookie, HTTP bearer and basic, OAuth2, applied per
app, group and route; 401 problem+json with WWW-Authenticate; req.auth; the
OpenAPI document (components.securitySchemes, security) passing a default
`redocly lint`, and the Authorize button of /docs in headless Chromium."""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, ROOT, Server, needs, run

APP = os.path.join(ROOT, "spec", "e2e", "apps", "security.lua")
TOOLS = os.environ.get("CRATER_TOOLS", "/usr/local/share/crater/tools")
ASSETS = os.environ.get("CRATER_ASSETS", "/usr/local/share/crater/assets")
REDOCLY = os.path.join(TOOLS, "node_modules", ".bin", "redocly")
SWAGGER_DIR = os.path.join(ASSETS, "node_modules", "swagger-ui-dist")



def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


class Security(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, "exit status %s" % rc

    def get(self, path, method="GET", **headers):
        st, h, body = self.srv.request(method, path, headers=headers)
        return st, h, json.loads(body) if body and body[:1] in b"{[" else body

    def assert_401(self, st, h, doc, challenges, detail=None):
        self.assertEqual(st, 401)
        self.assertEqual(h["content-type"], "application/problem+json")
        self.assertEqual(doc["status"], 401)
        self.assertEqual(h["www-authenticate"].split("\n"), challenges)
        if detail:
            self.assertEqual(doc["detail"], detail)

    APP_CHALLENGES = ['ApiKey realm="Secure", in="header", name="X-API-Key"',
                      'ApiKey realm="Secure", in="query", name="key"',
                      'ApiKey realm="Secure", in="cookie", name="sid"']

    def test_app_level_api_key_missing(self):
        st, h, doc = self.get("/me")
        self.assert_401(st, h, doc, self.APP_CHALLENGES,
                        "credentials are required: the X-API-Key header or the key query parameter"
                        " or the sid cookie")

    def test_app_level_api_key_in_header_query_cookie(self):
        want = {"auth": {"user": "ann"}, "seen": {"user": "ann"}}  # before hooks see req.auth
        self.assertEqual(self.get("/me", **{"X-API-Key": "k1"})[::2], (200, want))
        self.assertEqual(self.get("/me?key=k1")[::2], (200, want))
        self.assertEqual(self.get("/me", Cookie="a=1; sid=k1; b=2")[::2], (200, want))

    def test_app_level_api_key_invalid(self):
        for kw in ({"X-API-Key": "nope"}, {"Cookie": "sid=nope"}):
            st, h, doc = self.get("/me", **kw)
            self.assert_401(st, h, doc, self.APP_CHALLENGES, "the credentials are not valid")
        st, h, doc = self.get("/me?key=nope&key=k1")  # the first value counts
        self.assertEqual(st, 401)

    def test_route_without_security(self):
        self.assertEqual(self.get("/health")[::2], (200, {"ok": True}))

    def test_documented_only_scheme_is_not_checked(self):
        st, _, body = self.get("/proxy")
        self.assertEqual((st, body), (200, b"through"))

    def test_group_bearer_or_basic(self):
        st, h, doc = self.get("/admin/stats")
        self.assert_401(st, h, doc, ['Bearer realm="Secure"', 'Basic realm="Secure", charset="UTF-8"'])
        st, _, doc = self.get("/admin/stats", Authorization="Bearer t1")
        self.assertEqual((st, doc["auth"]["user"]), (200, "bob"))
        st, _, doc = self.get("/admin/stats", Authorization="bearer   t1")
        self.assertEqual(st, 200)
        st, _, doc = self.get("/admin/stats", Authorization=basic("dee", "pa:ss"))
        self.assertEqual((st, doc), (200, {"auth": {"user": "dee"}}))
        # the app's API key does not open the group
        self.assertEqual(self.get("/admin/stats", **{"X-API-Key": "k1"})[0], 401)

    def test_invalid_bearer_and_basic(self):
        st, h, doc = self.get("/admin/stats", Authorization="Bearer nope")
        self.assert_401(st, h, doc, ['Bearer realm="Secure", error="invalid_token"',
                                     'Basic realm="Secure", charset="UTF-8"'], "the credentials are not valid")
        for bad in (basic("dee", "wrong"), "Basic !!!notbase64", "Basic", "Basic " + base64.b64encode(b"nocolon").decode(),
                    "Bearer", "Digest x", "Bearer " + "a" * 5000):
            st, _, _ = self.get("/admin/stats", Authorization=bad)
            self.assertEqual(st, 401, bad)

    def test_route_scopes_and_check_raising_403(self):
        st, _, doc = self.get("/admin/stats", "DELETE", Authorization="Bearer t2")
        self.assertEqual((st, doc), (200, {"reset": True, "by": "cy"}))
        st, _, doc = self.get("/admin/stats", "DELETE", Authorization="Bearer t1")
        self.assertEqual((st, doc["detail"]), (403, "the token lacks scope write"))
        # basic was the group's, not this route's
        self.assertEqual(self.get("/admin/stats", "DELETE", Authorization=basic("dee", "pa:ss"))[0], 401)

    def test_all_schemes_of_a_requirement(self):
        st, _, doc = self.get("/admin/both", Authorization="Bearer t1", **{"X-API-Key": "k1"})
        self.assertEqual((st, doc), (200, {"key": "ann", "token": "bob"}))
        self.assertEqual(self.get("/admin/both", Authorization="Bearer t1")[0], 401)
        self.assertEqual(self.get("/admin/both", **{"X-API-Key": "k1"})[0], 401)

    def test_oauth2_token(self):
        self.assertEqual(self.get("/admin/oauth", Authorization="Bearer t1")[::2], (200, {"user": "bob"}))
        st, h, doc = self.get("/admin/oauth")
        self.assert_401(st, h, doc, ['Bearer realm="Secure"'])

    def test_hostile_credentials_keep_the_server_serving(self):
        for raw in (b"GET /admin/stats HTTP/1.1\r\nHost: x\r\nAuthorization: Basic \xff\xfe\r\nConnection: close\r\n\r\n",
                    b"GET /admin/stats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\r\nConnection: close\r\n\r\n",
                    b"GET /me HTTP/1.1\r\nHost: x\r\nX-API-Key: \xff\r\nConnection: close\r\n\r\n",
                    b"GET /me HTTP/1.1\r\nHost: x\r\nCookie: ;;;=;sid\r\nConnection: close\r\n\r\n"):
            out = self.srv.raw(raw)
            self.assertEqual(out.split(b" ", 2)[1], b"401", out[:300])
        # a query that is not UTF-8 once decoded is malformed before it is a credential
        out = self.srv.raw(b"GET /me?key=%ff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(out.split(b" ", 2)[1], b"400", out[:300])
        self.assertIn(b'query parameter \\"key\\"', out)
        self.assertEqual(self.get("/health")[0], 200)

    def test_document(self):
        st, _, doc = self.get("/openapi.json")
        self.assertEqual(st, 200)
        schemes = doc["components"]["securitySchemes"]
        self.assertEqual(schemes["api_key"], {"type": "apiKey", "in": "header", "name": "X-API-Key"})
        self.assertEqual(schemes["bearer"], {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
        self.assertEqual(schemes["oauth"]["flows"]["clientCredentials"]["scopes"], {"read": "Read", "write": "Write"})
        self.assertEqual(doc["security"], [{"api_key": []}, {"query_key": []}, {"cookie_key": []}])
        paths = doc["paths"]
        self.assertNotIn("security", paths["/me"]["get"])          # the document's applies
        self.assertIn("401", paths["/me"]["get"]["responses"])
        self.assertEqual(paths["/health"]["get"]["security"], [])
        self.assertNotIn("401", paths["/health"]["get"]["responses"])
        self.assertEqual(paths["/proxy"]["get"]["security"], [{"mtls": []}])
        self.assertEqual(paths["/admin/stats"]["get"]["security"], [{"bearer": ["read"]}, {"basic": []}])
        self.assertEqual(paths["/admin/stats"]["delete"]["security"], [{"bearer": ["write"]}])
        self.assertEqual(paths["/admin/both"]["get"]["security"], [{"api_key": [], "bearer": []}])

    @needs(os.path.exists(REDOCLY), "@redocly/cli not installed (.ci/setup-npm.sh)")
    def test_default_redocly_lint_passes(self):
        st, _, body = self.srv.get("/openapi.json")
        with tempfile.TemporaryDirectory() as d:
            # redocly's defaults: no redocly.yaml, the `recommended` ruleset
            with open(os.path.join(d, "openapi.json"), "wb") as f:
                f.write(body)
            out = subprocess.run([REDOCLY, "lint", "openapi.json"], cwd=d, capture_output=True, timeout=120)
        text = (out.stdout + out.stderr).decode(errors="replace")
        self.assertEqual(out.returncode, 0, text)
        self.assertNotIn("security-defined", text)

    @needs(shutil.which("chromium") and os.path.isdir(SWAGGER_DIR),
           "chromium or swagger-ui-dist not installed (.ci/setup.sh)")
    def test_swagger_ui_shows_authorize(self):
        with tempfile.TemporaryDirectory() as profile:
            out = subprocess.run([
                "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--user-data-dir=" + profile,
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=15000", "--dump-dom", self.srv.url("/docs")],
                capture_output=True, timeout=90)
        dom = out.stdout.decode(errors="replace")
        self.assertIn("btn authorize", dom, dom[:3000])
        self.assertIn("Authorize", dom)
        self.assertIn("authorization__btn", dom)  # the padlocks of the secured operations


class BadSecurity(unittest.TestCase):
    def load(self, src):
        d = tempfile.mkdtemp(prefix="crater-e2e-security-")
        app = os.path.join(d, "app.lua")
        with open(app, "w") as f:
            f.write(src)
        out = subprocess.run([os.path.abspath(BIN), "routes", app], capture_output=True, cwd=d, timeout=30)
        return out.returncode, (out.stdout + out.stderr).decode()

    def test_refused_declarations_name_the_line(self):
        head = 'local app = require("crater").app()\n\n'
        for call, why in (('app:security_scheme("k", { type = "apiKey", name = "X" }, print)', 'needs ["in"]'),
                          ('app:security_scheme("k", { type = "magic" }, print)', "type must be"),
                          ('app:security_scheme("k", { type = "http" }, print)', "http needs a scheme"),
                          ('app:security_scheme("k", { type = "oauth2" }, print)', "oauth2 needs flows"),
                          ('app:security_scheme("k", { type = "http", scheme = "bearer" })', "give a check function"),
                          ('app:security_scheme("k", { type = "mutualTLS" }, print)', "cannot check mutualTLS"),
                          ('app:security_scheme("a b", { type = "http", scheme = "bearer" }, print)', "name must be"),
                          ('app:security("k")', "security must be a list")):
            rc, out = self.load(head + call + "\nreturn app\n")
            self.assertNotEqual(rc, 0, call)
            self.assertIn("app.lua:3:", out, call)
            self.assertIn(why, out, call)

    def test_undeclared_scheme_names_the_route(self):
        rc, out = self.load('local app = require("crater").app()\napp:get("/x", { security = { "nope" } },'
                            ' function() end)\nreturn app\n')
        self.assertNotEqual(rc, 0)
        self.assertIn('route GET /x (', out)
        self.assertIn('app.lua:2): security scheme "nope" is not declared', out)


if __name__ == "__main__":
    run()
