"""examples/todo-api over real sockets: create, list (filters, paging),
read, replace, patch, delete; validation answers, 404 and 409 problems,
and the table's internal field never leaving the server; its SQLite file
(DATABASE_URL, else todo.db beside the app) kept across restarts."""
import json
import os
import shutil
import tempfile
import unittest

from harness import Server, example, run
from pg_server import MISSING as PG_MISSING, PgServer

JSON = {"Content-Type": "application/json"}


class TodoApi(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="crater-todo-")
        self.env = {"DATABASE_URL": "sqlite:" + os.path.join(self.dir, "todo.db")}
        self.srv = Server(example("todo-api", "app.lua"), env=self.env)

    def tearDown(self):
        self.assertEqual(self.srv.stop(), 0)
        shutil.rmtree(self.dir)

    def test_todos_outlive_the_server(self):
        a = self.create(title="milk", tags=["shop"])
        self.assertEqual(self.srv.stop(), 0)
        self.assertTrue(os.path.exists(os.path.join(self.dir, "todo.db")))
        self.srv = Server(example("todo-api", "app.lua"), env=self.env)
        st, _, doc = self.call("GET", "/todos/%d" % a["id"])
        self.assertEqual((st, doc), (200, a))

    def test_default_database_is_beside_the_app(self):
        app = os.path.join(self.dir, "app.lua")
        shutil.copy(example("todo-api", "app.lua"), app)
        with Server(app, env={"DATABASE_URL": ""}) as srv:  # empty: as if unset
            st, _, _ = srv.request("POST", "/todos", body={"title": "here"})
            self.assertEqual(st, 201)
        self.assertTrue(os.path.exists(os.path.join(self.dir, "todo.db")))

    def call(self, method, path, body=None, headers=None):
        h = dict(JSON) if body is not None else {}
        h.update(headers or {})
        st, hdrs, data = self.srv.request(method, path, body=None if body is None else json.dumps(body), headers=h)
        return st, hdrs, (json.loads(data) if data else None)

    def create(self, **todo):
        st, h, doc = self.call("POST", "/todos", todo)
        self.assertEqual(st, 201, doc)
        self.assertEqual(h["location"], "/todos/%d" % doc["id"])
        return doc

    def problem(self, result, status):
        st, h, doc = result
        self.assertEqual(st, status, doc)
        self.assertEqual(h["content-type"], "application/problem+json")
        self.assertEqual(doc["status"], status)
        return doc

    def test_crud_round_trip(self):
        a = self.create(title="milk")
        self.assertEqual({k: a[k] for k in ("id", "title", "done", "tags")},
                         {"id": 1, "title": "milk", "done": False, "tags": []})
        self.assertIsInstance(a["created"], int)
        self.assertNotIn("owner_token", a)
        b = self.create(title="bread", done=True, tags=["shop", "food"])
        self.assertEqual(b["id"], 2)

        st, _, doc = self.call("GET", "/todos/2")
        self.assertEqual((st, doc), (200, b))

        st, _, doc = self.call("PUT", "/todos/1", {"title": "oat milk", "tags": ["shop"]})
        self.assertEqual(st, 200)
        self.assertEqual((doc["title"], doc["done"], doc["tags"]), ("oat milk", False, ["shop"]))

        st, _, doc = self.call("PATCH", "/todos/1", {"done": True})
        self.assertEqual((st, doc["title"], doc["done"]), (200, "oat milk", True))

        st, _, doc = self.call("DELETE", "/todos/1")
        self.assertEqual((st, doc), (204, None))
        self.problem(self.call("GET", "/todos/1"), 404)
        self.problem(self.call("DELETE", "/todos/1"), 404)

        st, _, doc = self.call("GET", "/todos")
        self.assertEqual((st, doc["total"], [t["id"] for t in doc["items"]]), (200, 1, [2]))
        self.assertNotIn("owner_token", json.dumps(doc))

    def test_list_filters_and_paging(self):
        for i in range(5):
            self.create(title="t%d" % i, done=(i % 2 == 0), tags=["even"] if i % 2 == 0 else ["odd", "x"])
        st, _, doc = self.call("GET", "/todos")
        self.assertEqual((doc["total"], len(doc["items"])), (5, 5))
        st, _, doc = self.call("GET", "/todos?done=true")
        self.assertEqual([t["title"] for t in doc["items"]], ["t0", "t2", "t4"])
        st, _, doc = self.call("GET", "/todos?tag=odd&tag=x")
        self.assertEqual([t["title"] for t in doc["items"]], ["t1", "t3"])
        st, _, doc = self.call("GET", "/todos?limit=2&offset=1")
        self.assertEqual((doc["total"], [t["title"] for t in doc["items"]]), (5, ["t1", "t2"]))
        st, _, doc = self.call("GET", "/todos?offset=10")
        self.assertEqual((doc["total"], doc["items"]), (5, []))

    def test_empty_list_is_an_array(self):
        st, _, body = self.srv.get("/todos")
        self.assertEqual((st, json.loads(body)), (200, {"items": [], "total": 0}))
        self.assertIn(b'"items":[]', body)

    def test_conflicts_409(self):
        self.create(title="milk")
        other = self.create(title="eggs")
        doc = self.problem(self.call("POST", "/todos", {"title": "milk"}), 409)
        self.assertIn("milk", doc["detail"])
        self.problem(self.call("PUT", "/todos/%d" % other["id"], {"title": "milk"}), 409)
        self.problem(self.call("PATCH", "/todos/%d" % other["id"], {"title": "milk"}), 409)
        # renaming to its own title is not a conflict
        st, _, _ = self.call("PATCH", "/todos/%d" % other["id"], {"title": "eggs"})
        self.assertEqual(st, 200)

    def test_validation_422(self):
        doc = self.problem(self.call("POST", "/todos", {"title": "", "done": "yes", "tags": ["a", "a"], "x": 1}), 422)
        self.assertEqual(sorted((e["in"], e["pointer"]) for e in doc["errors"]),
                         [("body", "/done"), ("body", "/tags"), ("body", "/title")])
        doc = self.problem(self.call("GET", "/todos/0"), 422)
        self.assertEqual([(e["in"], e["pointer"]) for e in doc["errors"]], [("params", "/id")])
        doc = self.problem(self.call("GET", "/todos?limit=1000&done=perhaps"), 422)
        self.assertEqual(sorted((e["in"], e["pointer"]) for e in doc["errors"]),
                         [("query", "/done"), ("query", "/limit")])
        doc = self.problem(self.call("PATCH", "/todos/1", {}), 422)  # minProperties
        self.assertEqual([(e["in"], e["pointer"]) for e in doc["errors"]], [("body", "")])
        self.problem(self.call("POST", "/todos", {"title": "a"}, {"X-Dry-Run": "maybe"}), 422)

    def test_dry_run_header(self):
        st, h, doc = self.call("POST", "/todos", {"title": "try"}, {"X-Dry-Run": "true"})
        self.assertEqual((st, doc["title"]), (201, "try"))
        self.assertNotIn("location", h)
        self.assertEqual(self.call("GET", "/todos")[2]["total"], 0)

    def test_bad_bodies(self):
        st, h, body = self.srv.request("POST", "/todos", body='{"title":', headers=JSON)
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(body)["offset"], 10)
        st, h, body = self.srv.request("POST", "/todos", body="title=milk",
                                       headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(st, 415)

    def test_unknown_routes_and_methods(self):
        self.problem(self.call("GET", "/nope"), 404)
        st, h, _ = self.call("POST", "/todos/1", {"title": "x"})
        self.assertEqual(st, 405)
        self.assertIn("GET", h["allow"])


@unittest.skipIf(PG_MISSING, PG_MISSING)
class TodoApiOnPostgres(TodoApi):
    """The same suite with DATABASE_URL naming a throwaway PostgreSQL: the app
    switches databases by its URL alone (docs/database.md)."""

    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()

    @classmethod
    def tearDownClass(cls):
        cls.pg.close()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="crater-todo-")
        self.pg.psql("DROP TABLE IF EXISTS todos")  # each test starts empty, as on SQLite
        self.env = {"DATABASE_URL": self.pg.url}
        self.srv = Server(example("todo-api", "app.lua"), env=self.env)

    def test_table_is_postgres(self):
        self.create(title="milk", tags=["shop"])
        self.assertEqual(self.pg.psql("SELECT title FROM todos"), "milk")

    # SQLite files: nothing of PostgreSQL's.
    test_todos_outlive_the_server = None
    test_default_database_is_beside_the_app = None


if __name__ == "__main__":
    run()
