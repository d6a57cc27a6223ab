"""The four endpoints of examples/bench/app.lua, the ones every peer in
../shared/bench implements, including the answers to bad input."""
import json
import unittest

from harness import Server, example, run


class BenchApp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(example("bench", "app.lua"))

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, "exit status %s" % rc

    def post(self, body, ctype="application/json"):
        return self.srv.request("POST", "/items", body=body, headers={"Content-Type": ctype})

    def problem(self, resp, status):
        st, h, body = resp
        self.assertEqual(st, status, body)
        self.assertEqual(h["content-type"], "application/problem+json")
        doc = json.loads(body)
        self.assertEqual(doc["status"], status)
        return doc

    def test_plaintext(self):
        st, h, body = self.srv.get("/plaintext")
        self.assertEqual((st, body), (200, b"Hello, World!"))
        self.assertTrue(h["content-type"].startswith("text/plain"))

    def test_json(self):
        st, h, body = self.srv.get("/json")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(body, b'{"message":"Hello, World!"}')

    def test_users(self):
        for uid in ("1", "42", "123456789012345"):
            st, _, body = self.srv.get("/users/" + uid)
            self.assertEqual(st, 200)
            self.assertEqual(json.loads(body), {"id": int(uid), "name": "user" + uid})

    def test_users_not_an_integer_422(self):
        for uid in ("abc", "1.5", "12a", "1234567890123456"):
            doc = self.problem(self.srv.get("/users/" + uid), 422)
            self.assertEqual([(e["in"], e["pointer"]) for e in doc["errors"]], [("params", "/id")])

    def test_items_valid_201_echo(self):
        item = {"name": "lamp", "price": 12.5, "tags": ["home", "light"]}
        st, h, body = self.post(json.dumps(item))
        self.assertEqual(st, 201)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(json.loads(body), item)

    def test_items_tags_default_empty_array(self):
        st, _, body = self.post('{"name":"x","price":1}')
        self.assertEqual(st, 201)
        self.assertEqual(json.loads(body), {"name": "x", "price": 1, "tags": []})
        self.assertIn(b'"tags":[]', body)

    def test_items_invalid_422(self):
        cases = [
            ({"price": 1}, "/name"),
            ({"name": "", "price": 1}, "/name"),
            ({"name": "x" * 51, "price": 1}, "/name"),
            ({"name": "x", "price": 0}, "/price"),
            ({"name": "x", "price": "1"}, "/price"),
            ({"name": "x", "price": 1, "tags": "a"}, "/tags"),
            ({"name": "x", "price": 1, "tags": ["a"] * 11}, "/tags"),
            ({"name": "x", "price": 1, "tags": ["a", 2]}, "/tags/1"),
            ([1, 2], ""),
        ]
        for item, pointer in cases:
            doc = self.problem(self.post(json.dumps(item)), 422)
            self.assertEqual([(e["in"], e["pointer"]) for e in doc["errors"]], [("body", pointer)], item)

    def test_items_every_error_reported(self):
        doc = self.problem(self.post(json.dumps({"name": "", "price": -1, "tags": [1]})), 422)
        self.assertEqual(sorted(e["pointer"] for e in doc["errors"]), ["/name", "/price", "/tags/0"])

    def test_items_undeclared_fields_dropped(self):
        st, _, body = self.post(json.dumps({"name": "x", "price": 1, "secret": True}))
        self.assertEqual((st, json.loads(body)), (201, {"name": "x", "price": 1, "tags": []}))

    def test_items_wrong_content_type_415(self):
        self.problem(self.post('{"name":"x","price":1}', "text/plain"), 415)

    def test_items_name_counts_code_points(self):
        st, _, _ = self.post(json.dumps({"name": "é" * 50, "price": 1}, ensure_ascii=False).encode())
        self.assertEqual(st, 201)

    def test_items_malformed_json_400(self):
        doc = self.problem(self.post('{"name": "x", '), 400)
        self.assertIn("byte", doc["detail"])
        self.assertEqual(doc["offset"], 15)

    def test_still_serving_after_bad_input(self):
        self.post("{nope")
        self.assertEqual(self.srv.get("/plaintext")[0], 200)


if __name__ == "__main__":
    run()
