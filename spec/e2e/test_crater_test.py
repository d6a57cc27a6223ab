"""`crater test`: runs specs inside a Crater VM; reports each, exits 1 when
one fails, and names the failing line."""
import os
import subprocess
import tempfile
import unittest

from harness import BIN, ROOT, run

PASSING = """
local client = require("crater.test").client
local app = require("crater").app()
app:get("/x", function(req) return { q = req.query.a } end)
assert(client(app):get("/x", { query = { a = "b c" } }):json().q == "b c")
"""

FAILING = """
local client = require("crater.test").client
local app = require("crater").app()
local res = client(app):get("/missing")
assert(res.status == 200, "wanted 200, got " .. res.status)
"""


def spec_file(text):
    fd, path = tempfile.mkstemp(suffix="_spec.lua", prefix="crater-test-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class CraterTest(unittest.TestCase):
    def crater_test(self, *specs):
        out = subprocess.run([BIN, "test", *specs], capture_output=True, cwd=ROOT, timeout=60)
        return out.returncode, out.stdout.decode(), out.stderr.decode()

    def test_pass_and_fail(self):
        good, bad = spec_file(PASSING), spec_file(FAILING)
        try:
            rc, out, err = self.crater_test(good, bad)
        finally:
            os.unlink(good)
            os.unlink(bad)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("ok   " + good, out)
        self.assertIn("FAIL " + bad, out)
        self.assertIn("%s:5: wanted 200, got 404" % bad, out)
        self.assertIn("1 passed, 1 failed", out)
        self.assertNotIn("AddressSanitizer", err)

    def test_all_pass(self):
        good = spec_file(PASSING)
        try:
            rc, out, _ = self.crater_test(good)
        finally:
            os.unlink(good)
        self.assertEqual(rc, 0)
        self.assertIn("1 passed, 0 failed", out)

    def test_missing_file(self):
        rc, out, _ = self.crater_test("/nonexistent/x_spec.lua")
        self.assertEqual(rc, 1)
        self.assertIn("cannot open /nonexistent/x_spec.lua", out)


if __name__ == "__main__":
    run()
