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


BUSTED = """
local client = require("crater.test").client
local crater = require "crater"

describe("items", function()
  local app, c
  before_each(function()
    app = crater.app()
    app:post("/items", function(req) return 201, req:json() end)
    c = client(app)
  end)
  it("creates", function()
    assert.are.same({ name = "pen" }, c:post("/items", { json = { name = "pen" } }):json())
  end)
  it("rejects a bad body", function()
    local res = c:post("/items", { body = "{oops", headers = { ["Content-Type"] = "application/json" } })
    assert.are.equal(422, res.status) -- it is 400: this test fails on purpose
  end)
  it("answers 404 elsewhere", function()
    assert.are.equal(404, c:get("/nothing").status)
  end)
  pending("streams")
end)
"""


def spec_file(text):
    fd, path = tempfile.mkstemp(suffix="_spec.lua", prefix="crater-test-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class CraterTest(unittest.TestCase):
    def crater_test(self, *specs, env=None):
        out = subprocess.run([BIN, "test", *specs], capture_output=True, cwd=ROOT, timeout=60,
                             env={**os.environ, **(env or {})})
        return out.returncode, out.stdout.decode(), out.stderr.decode()

    def test_plain_scripts_without_busted(self):
        # LUA_PATH without ";;" replaces Lua's default path: busted is not found
        # and each path runs as a plain script, errors with a traceback.
        nobusted = {"LUA_PATH": "/nonexistent/?.lua"}
        good, bad, its = spec_file(PASSING), spec_file(FAILING), spec_file(BUSTED)
        try:
            rc, out, err = self.crater_test(good, bad, its, env=nobusted)
        finally:
            for p in (good, bad, its):
                os.unlink(p)
        self.assertEqual(rc, 1, out + err)
        self.assertNotIn("successes", out)
        self.assertIn("ok   " + good, out)
        self.assertIn("FAIL " + bad + "\n%s:5: wanted 200, got 404\nstack traceback:" % bad, out)
        self.assertIn("FAIL " + its + "\n%s:5: attempt to call global 'describe'" % its, out)
        self.assertIn("1 passed, 2 failed", out)

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

    def test_busted_specs(self):
        # describe/it, luassert, before_each, pending: busted runs inside
        # the VM, so crater.test's client works in every `it`.
        spec = spec_file(BUSTED)
        try:
            rc, out, err = self.crater_test(spec)
        finally:
            os.unlink(spec)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("2 successes / 1 failure / 0 errors / 1 pending", out)
        self.assertIn("items rejects a bad body", out)            # the failing test, by name
        self.assertIn("%s:17: Expected objects to be equal." % spec, out)
        self.assertIn("FAIL " + spec, out)
        self.assertIn("0 passed, 1 failed", out)

    def test_directory_of_specs(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "one_spec.lua"), "w") as f:
                f.write(PASSING)
            with open(os.path.join(d, "two_spec.lua"), "w") as f:
                f.write('describe("two", function() it("runs", function() assert.is_true(true) end) end)\n')
            with open(os.path.join(d, "helper.lua"), "w") as f:
                f.write('error("not a spec: never run")\n')
            rc, out, err = self.crater_test(d)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("1 success / 0 failures / 0 errors", out)  # two_spec's `it`; one_spec has none
        self.assertIn("ok   " + d, out)

    def test_missing_file(self):
        rc, out, _ = self.crater_test("/nonexistent/x_spec.lua")
        self.assertEqual(rc, 1)
        self.assertIn("cannot open /nonexistent/x_spec.lua", out)


if __name__ == "__main__":
    run()
