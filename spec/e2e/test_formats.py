"""`format` in route schemas over real sockets: asserted by default (a value
that does not match is a 422 problem+json naming the field and the format,
the server goes on serving), an annotation with crater.app { assert_formats =
false }; hostile strings (broken UTF-8, NULs, huge names) get an answer too.
And `crater validate` asserts unless --annotate-formats."""
import json
import os
import subprocess
import tempfile
import unittest

from harness import BIN, ROOT, Server, run

APP = ROOT + "/spec/e2e/apps/formats.lua"


class Formats(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)
        cls.annotating = Server(APP, env={"FORMATS": "annotate"})

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0
        assert cls.annotating.stop() == 0

    def post(self, srv, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return srv.request("POST", "/contacts", body=data, headers={"Content-Type": "application/json"})

    def problem(self, resp):
        st, h, body = resp
        self.assertEqual(st, 422, body)
        self.assertEqual(h["content-type"], "application/problem+json")
        doc = json.loads(body)
        self.assertEqual(doc["status"], 422)
        return sorted((e["in"], e["pointer"], e["message"]) for e in doc["errors"])

    def test_valid_values_pass(self):
        body = {"email": '"joe bloggs"@[IPv6:2001:db8::1]', "host": "bücher.example",
                "site": "https://example.com/a?b=c#d"}
        st, _, out = self.post(self.srv, body)
        self.assertEqual(st, 201, out)
        self.assertEqual(json.loads(out), body)
        st, _, out = self.srv.get("/at/2024-02-29?every=P1W")
        self.assertEqual(st, 200, out)
        self.assertEqual(json.loads(out), {"day": "2024-02-29", "every": "P1W"})

    def test_invalid_values_are_422_naming_the_field(self):
        errors = self.problem(self.post(self.srv, {"email": "joe@-example.com", "host": "a\u05d0",
                                                   "site": "https://exa mple.com"}))
        self.assertEqual(errors, [("body", "/email", "must be a valid email"),
                                  ("body", "/host", "must be a valid idn-hostname"),
                                  ("body", "/site", "must be a valid uri")])
        errors = self.problem(self.srv.get("/at/2023-02-29?every=P1Y2D"))
        self.assertEqual(errors, [("params", "/day", "must be a valid date"),
                                  ("query", "/every", "must be a valid duration")])
        st, _, _ = self.srv.get("/at/2024-01-01")
        self.assertEqual(st, 200)

    def test_hostile_strings_are_answered(self):
        cases = [(b'{"email":"a@\\u0000b"}', 422), (b'{"email":"\\"\\\\', 400),
                 (('{"email":"a@%s"}' % ("b." * 3000)).encode(), 422),
                 ('{"email":"a@xn--%s"}'.encode() % (b"a" * 5000), 422),
                 (b'{"email":"a@\\u05d0.\\u0660"}', 422), (b'{"email":"a@b","host":"\xe3\x80\x82\xe3\x80\x82"}', 422),
                 (b'{"email":"\\udcff@b"}', 400), (b'{"email":"\xc3@b"}', 400)]
        for body, status in cases:
            st, h, out = self.post(self.srv, body)
            self.assertEqual(st, status, body[:40] + b" -> " + out)
            self.assertEqual(h["content-type"], "application/problem+json")
        # Bytes that are not UTF-8 never reach a format: 400 before the schema.
        for path, status in (("/at/%FF%FE", 400), ("/at/2024-02-29?every=%C3", 400), ("/at/" + "9" * 5000, 422)):
            st, _, out = self.srv.get(path)
            self.assertEqual(st, status, out)
        st, _, _ = self.srv.get("/at/2024-01-01")
        self.assertEqual(st, 200)

    def test_annotation_when_the_app_says_so(self):
        body = {"email": "not an address", "host": "-", "site": "exa mple"}
        st, _, out = self.post(self.annotating, body)
        self.assertEqual(st, 201, out)
        self.assertEqual(json.loads(out), body)
        # The other keywords still assert.
        st, _, out = self.post(self.annotating, {"email": 5})
        self.assertEqual(st, 422, out)

    def test_crater_validate_asserts_unless_told(self):
        with tempfile.TemporaryDirectory(prefix="crater-formats-") as tmp:
            schema = os.path.join(tmp, "s.json")
            data = os.path.join(tmp, "d.json")
            with open(schema, "w") as f:
                json.dump({"properties": {"host": {"format": "hostname"}}}, f)
            with open(data, "w") as f:
                json.dump({"host": "xn--X"}, f)
            out = subprocess.run([BIN, "validate", "--schema", schema, data], capture_output=True, timeout=60)
            self.assertEqual(out.returncode, 1, out.stderr)
            self.assertIn(b"/host: must be a valid hostname (format)", out.stdout)
            out = subprocess.run([BIN, "validate", "--annotate-formats", "--schema", schema, data],
                                 capture_output=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)


if __name__ == "__main__":
    run()
