"""Route groups (blueprints), over a real socket: hooks order, error
handlers, nesting, a group mounted from another module, deadlines, tags in
the OpenAPI document and groups in `crater routes` (docs/groups.md)."""
import json
import os
import subprocess
import tempfile
import unittest

from harness import BIN, ROOT, Server, run

APP = os.path.join(ROOT, "spec", "e2e", "apps", "groups", "app.lua")


class Groups(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, "exit status %s" % rc

    def get(self, path):
        st, h, body = self.srv.get(path)
        return st, h, json.loads(body) if body else None

    def test_before_hooks_app_then_outer_then_inner(self):
        st, h, doc = self.get("/v1/admin/stats")
        self.assertEqual((st, doc), (200, {"trail": "app>v1>admin>"}))
        # after hooks: inner group, outer group, then the app
        self.assertEqual(h["x-after"].split("\n"), ["admin", "v1", "app"])

    def test_group_route_and_prefix_itself(self):
        st, h, doc = self.get("/v1/items")
        self.assertEqual((st, doc), (200, {"trail": "app>v1>"}))
        self.assertEqual(h["x-after"].split("\n"), ["v1", "app"])
        self.assertEqual(self.get("/v1")[:3:2], (200, {"root": True}))
        self.assertEqual(self.get("/v1/")[0], 404)

    def test_route_outside_groups_runs_only_app_hooks(self):
        st, h, doc = self.get("/plain")
        self.assertEqual((st, doc, h["x-after"]), (200, {"trail": "app>"}, "app"))

    def test_group_before_hook_answers(self):
        st, h, doc = self.get("/v1/admin/stats?deny=1")
        self.assertEqual((st, doc), (403, {"denied": True}))
        self.assertEqual(h["x-after"].split("\n"), ["admin", "v1", "app"])

    def test_error_handler_innermost_group_first(self):
        self.assertEqual(self.get("/v1/missing")[::2], (404, {"v1_404": "no such item"}))
        # admin has no 404 handler: v1's answers
        self.assertEqual(self.get("/v1/admin/missing")[::2], (404, {"v1_404": "no stats"}))
        # no group handler for 500: the app's
        self.assertEqual(self.get("/v1/boom")[::2], (500, {"app_500": True}))
        # no route: the app's
        self.assertEqual(self.get("/v1/nothing")[::2], (404, {"app_404": "no route for /v1/nothing"}))

    def test_blueprint_from_another_module(self):
        self.assertEqual(self.get("/users")[::2], (200, {"users": ["ann"], "trail": "app>users>"}))
        self.assertEqual(self.get("/users/7")[::2], (200, {"id": "7", "trail": "app>users>"}))
        self.assertEqual(self.get("/users/0")[::2], (404, {"users_404": "no user 0"}))
        self.assertEqual(self.get("/users/admin/audit")[::2], (200, {"trail": "app>users>uadmin>"}))

    def test_group_deadline(self):
        st, _, _ = self.srv.get("/v1/admin/slow")
        self.assertEqual(st, 504)
        # the server keeps serving
        self.assertEqual(self.get("/plain")[0], 200)

    def test_openapi_tags(self):
        st, _, doc = self.get("/openapi.json")
        self.assertEqual(st, 200)
        paths = doc["paths"]
        self.assertEqual(paths["/v1/items"]["get"]["tags"], ["v1", "items"])
        self.assertEqual(paths["/v1/admin/stats"]["get"]["tags"], ["v1", "admin"])
        self.assertEqual(paths["/users/{id}"]["get"]["tags"], ["users"])
        self.assertNotIn("tags", paths["/plain"]["get"])
        self.assertIn({"name": "users", "description": "The people"}, doc["tags"])
        self.assertIn({"name": "v1"}, doc["tags"])

    def test_routes_command_shows_groups_and_module_lines(self):
        out = subprocess.run([BIN, "routes", APP], capture_output=True, cwd=ROOT, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.decode().splitlines()
        by_path = {l.split()[1]: l for l in lines}
        self.assertRegex(by_path["/v1/items"], r"apps/groups/app\.lua:\d+\)  \[/v1\]$")
        self.assertRegex(by_path["/v1/admin/stats"], r"\[/v1/admin\]$")
        # a blueprint's routes point at its own module's lines
        self.assertRegex(by_path["/users/{id}"], r"apps/groups/users\.lua:10\)  \[/users\]$")
        self.assertRegex(by_path["/plain"], r"apps/groups/app\.lua:\d+\)$")


class BadGroups(unittest.TestCase):
    def routes(self, src, module=None):
        d = tempfile.mkdtemp(prefix="crater-e2e-groups-")
        if module:
            with open(os.path.join(d, "bp.lua"), "w") as f:
                f.write(module)
        app = os.path.join(d, "app.lua")
        with open(app, "w") as f:
            f.write(src)
        out = subprocess.run([os.path.abspath(BIN), "routes", app], capture_output=True, cwd=d, timeout=30)
        return out.returncode, (out.stdout + out.stderr).decode()

    def test_prefix_with_trailing_slash_names_the_line(self):
        rc, out = self.routes('local app = require("crater").app()\n\napp:group("/v1/")\nreturn app\n')
        self.assertNotEqual(rc, 0)
        self.assertIn("app.lua:3:", out)
        self.assertIn("must start with '/' and not end with one", out)

    def test_bad_route_in_group_names_its_line(self):
        rc, out = self.routes('local app = require("crater").app()\nlocal g = app:group("/v1")\n'
                              'g:get("items", function() end)\nreturn app\n')
        self.assertNotEqual(rc, 0)
        self.assertIn("app.lua:3:", out)
        self.assertIn("must start with '/'", out)

    def test_bad_route_in_blueprint_names_the_module_line(self):
        rc, out = self.routes('local app = require("crater").app()\napp:mount("/b", require "bp")\nreturn app\n',
                              'local g = require("crater").group()\n\ng:get("/{a}/{a}", function() end)\nreturn g\n')
        self.assertNotEqual(rc, 0)
        self.assertIn("bp.lua:3", out)

    def test_unknown_option(self):
        rc, out = self.routes('local app = require("crater").app()\napp:group("/v1", { tagz = {} })\nreturn app\n')
        self.assertNotEqual(rc, 0)
        self.assertIn("app.lua:2: unknown group option tagz", out)

    def test_blueprint_mounted_twice_and_in_two_apps(self):
        rc, out = self.routes('local c = require("crater")\nlocal g = c.group()\ng:get("/x", function() end)\n'
                              'local other = c.app()\nother:mount("/o", g)\n'
                              'local app = c.app()\napp:mount("/a", g)\napp:mount("/b", g)\nreturn app\n')
        self.assertEqual(rc, 0, out)
        self.assertEqual([l.split()[1] for l in out.splitlines()], ["/a/x", "/b/x"])
        self.assertIn("app.lua:3)  [/a]", out)
        self.assertIn("app.lua:3)  [/b]", out)

    def test_routes_added_after_the_mount_are_refused(self):
        rc, out = self.routes('local c = require("crater")\nlocal app = c.app()\nlocal g = c.group()\n'
                              'app:mount("/a", g)\ng:get("/late", function() end)\nreturn app\n')
        self.assertNotEqual(rc, 0)
        self.assertIn("app.lua:5: add routes and groups to a group made by crater.group before mounting it", out)
        rc, out = self.routes('local c = require("crater")\nlocal app = c.app()\nlocal g = app:group("/g")\n'
                              'app:mount("/a", g)\nreturn app\n')
        self.assertNotEqual(rc, 0)
        self.assertIn("app.lua:4: app:mount: expects a group made by crater.group", out)

if __name__ == "__main__":
    run()
