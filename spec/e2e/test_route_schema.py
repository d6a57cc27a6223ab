"""Route schemas over real sockets: params/query/headers coerced from
strings with defaults filled, every invalid value answered in one 422
problem naming where it is, malformed JSON 400 with the byte offset, a body
that is not JSON 415, response shaping, and --dev's check of responses
(a 500 that says why, and what shaping dropped logged once)."""
import json
import re
import unittest

from harness import ROOT, Server, run

APP = ROOT + "/spec/e2e/apps/route_schema.lua"


def errors_of(doc):
    return sorted((e["in"], e["pointer"]) for e in doc["errors"])


class RouteSchema(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0

    def get_json(self, path, headers=None, status=200):
        st, h, body = self.srv.get(path, headers=headers)
        self.assertEqual(st, status, body)
        return json.loads(body), h

    def problem(self, resp, status):
        st, h, body = resp
        self.assertEqual(st, status, body)
        self.assertEqual(h["content-type"], "application/problem+json")
        doc = json.loads(body)
        self.assertEqual(doc["status"], status)
        self.assertEqual(doc["type"], "about:blank")
        return doc

    def post(self, path, body, ctype="application/json"):
        headers = {"Content-Type": ctype} if ctype else {}
        return self.srv.request("POST", path, body=body, headers=headers)

    # --- coercion and defaults ---------------------------------------------

    def test_coercion_types(self):
        doc, _ = self.get_json("/items/42?verbose=true&limit=5&ratio=0.25&tag=a&tag=b",
                               headers={"X-Count": "3"})
        self.assertEqual(doc["id"], 42)
        self.assertIs(doc["verbose"], True)
        self.assertEqual(doc["limit"], 5)
        self.assertEqual(doc["ratio"], 0.25)
        self.assertEqual(doc["tag"], ["a", "b"])
        self.assertEqual(doc["count"], 3)
        self.assertEqual(doc["count_again"], 3)
        self.assertEqual(doc["types"], {"id": "number", "verbose": "boolean", "limit": "number",
                                        "ratio": "number", "tag": "table", "count": "number"})

    def test_defaults_filled(self):
        doc, _ = self.get_json("/items/1")
        self.assertEqual((doc["verbose"], doc["limit"], doc["tag"]), (False, 10, []))
        self.assertNotIn("ratio", doc)
        self.assertNotIn("count", doc)

    def test_single_key_becomes_array(self):
        doc, _ = self.get_json("/items/1?tag=solo")
        self.assertEqual(doc["tag"], ["solo"])

    def test_undeclared_query_keys_pass_through(self):
        doc, _ = self.get_json("/items/1?extra=yes")
        self.assertEqual(doc["extra"], "yes")

    def test_array_header_splits_at_commas(self):
        doc, _ = self.get_json("/header-lists", headers={"X-Tags": "a, b,c ,  d", "X-Ids": "1,2",
                                                         "X-Note": "x, y"})
        self.assertEqual(doc["tags"], ["a", "b", "c", "d"])
        self.assertEqual(doc["ids"], [1, 2])
        self.assertEqual(doc["ids_type"], "number")
        self.assertEqual(doc["note"], "x, y")  # a string header keeps its commas
        doc, _ = self.get_json("/header-lists", headers={"X-Tags": "solo"})
        self.assertEqual(doc["tags"], ["solo"])
        self.assertNotIn("ids", doc)
        doc, _ = self.get_json("/header-lists")
        self.assertEqual(doc["tags"], [])  # the default
        doc, _ = self.get_json("/header-lists", headers={"X-Tags": " , a,, "})
        self.assertEqual(doc["tags"], ["a"])  # empty items dropped (RFC 9110 5.6.1)

    def test_array_header_repeated_is_one_list(self):
        out = self.srv.raw(b"GET /header-lists HTTP/1.1\r\nHost: x\r\nX-Tags: a, b\r\n"
                           b"X-Tags: c\r\nConnection: close\r\n\r\n")
        head, _, body = out.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), out)
        self.assertEqual(json.loads(body)["tags"], ["a", "b", "c"])

    def test_array_header_items_checked(self):
        doc = self.problem(self.srv.get("/header-lists", headers={"X-Ids": "1, x, 0"}), 422)
        self.assertEqual(errors_of(doc), [("headers", "/X-Ids/1"), ("headers", "/X-Ids/2")])
        doc = self.problem(self.srv.get("/header-lists", headers={"X-Ids": "1,2,3,4"}), 422)
        self.assertEqual(errors_of(doc), [("headers", "/X-Ids")])

    # --- 422 ---------------------------------------------------------------

    def test_422_lists_every_error_with_where(self):
        doc = self.problem(self.srv.get("/items/0?verbose=maybe&limit=500&ratio=x&tag=toolong",
                                        headers={"X-Count": "-1"}), 422)
        self.assertEqual(errors_of(doc), [
            ("headers", "/X-Count"),
            ("params", "/id"),
            ("query", "/limit"),
            ("query", "/ratio"),
            ("query", "/tag/0"),
            ("query", "/verbose"),
        ])
        for e in doc["errors"]:
            self.assertIsInstance(e["message"], str)
            self.assertTrue(e["message"])
        self.assertEqual(doc["detail"], "the request is invalid (6 errors)")

    def test_422_path_param_not_an_integer(self):
        for bad in ("abc", "1.5", "12a"):
            doc = self.problem(self.srv.get("/items/" + bad), 422)
            self.assertEqual(errors_of(doc), [("params", "/id")], bad)

    def test_422_body_and_query_together(self):
        st, h, body = self.post("/things?dry=perhaps",
                                json.dumps({"name": "", "size": 0, "color": "blue", "labels": [1, "a", "b"]}))
        doc = self.problem((st, h, body), 422)
        self.assertEqual(errors_of(doc), [
            ("body", "/color"), ("body", "/labels"), ("body", "/labels/0"),
            ("body", "/name"), ("body", "/size"), ("query", "/dry"),
        ])

    def test_422_missing_required_and_wrong_root(self):
        doc = self.problem(self.post("/things", "{}"), 422)
        self.assertEqual(errors_of(doc), [("body", "/color"), ("body", "/name"), ("body", "/size")])
        doc = self.problem(self.post("/things", "[1,2]"), 422)
        self.assertEqual(errors_of(doc), [("body", "")])
        doc = self.problem(self.post("/things", "null"), 422)
        self.assertEqual(errors_of(doc), [("body", "")])

    def test_valid_body_typed_defaults_and_shaped(self):
        st, h, body = self.post("/things", json.dumps({"name": "box", "size": 2, "color": "red"}))
        self.assertEqual(st, 201, body)
        self.assertEqual(json.loads(body), {"name": "box", "size": 2, "color": "red", "labels": []})
        self.assertNotIn(b"secret", body)

    def test_defaulted_body_field_is_optional_and_filled(self):
        # `labels` has a default, so s.object does not require it: a client
        # may leave it out, the route fills it in, and the document says so
        st, h, body = self.post("/things", json.dumps({"name": "cup", "size": 1, "color": "green"}))
        self.assertEqual(st, 201, body)
        self.assertEqual(json.loads(body)["labels"], [])
        doc, _ = self.get_json("/openapi.json")
        schema = doc["paths"]["/things"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        self.assertEqual(schema["required"], ["color", "name", "size"])
        self.assertEqual(schema["properties"]["labels"]["default"], [])

    # --- 400 and 415 -------------------------------------------------------

    def test_400_malformed_json_with_offset(self):
        doc = self.problem(self.post("/things", '{"name":"x",}'), 400)
        self.assertEqual(doc["offset"], 13)
        self.assertIn("at byte 13", doc["detail"])
        doc = self.problem(self.post("/things", ""), 400)
        self.assertEqual(doc["offset"], 1)

    def test_415_wrong_or_missing_content_type(self):
        for ctype in (None, "text/plain", "application/xml", "application/jsonx", "multipart/form-data"):
            doc = self.problem(self.post("/things", '{"name":"x","size":1,"color":"red"}', ctype), 415)
            if ctype:
                self.assertIn(ctype, doc["detail"])

    def test_json_content_types_accepted(self):
        for ctype in ("application/json", "application/json; charset=utf-8", "Application/JSON",
                      "application/merge-patch+json"):
            st, _, body = self.post("/things", '{"name":"x","size":1,"color":"green"}', ctype)
            self.assertEqual(st, 201, (ctype, body))

    def test_415_before_422(self):
        # a body that cannot be read is answered before the other parts are checked
        self.problem(self.post("/things?dry=perhaps", "{}", "text/plain"), 415)

    # --- shaping -------------------------------------------------------------

    def test_shaping_drops_undeclared_fields_at_every_depth(self):
        doc, _ = self.get_json("/user")
        self.assertEqual(doc, {"name": "ann", "friends": [{"name": "bob"}, {"name": "cy"}]})

    def test_shaping_response_object_and_empty_array(self):
        st, _, body = self.srv.get("/user-object")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body), {"name": "ann", "friends": []})
        self.assertIn(b'"friends":[]', body)

    def test_undeclared_status_not_shaped(self):
        st, _, body = self.srv.get("/undeclared-status")
        self.assertEqual((st, json.loads(body)), (202, {"anything": "goes"}))

    def test_violating_response_without_dev_is_sent(self):
        doc, _ = self.get_json("/bad-response")
        self.assertEqual(doc, {"count": "three"})

    def test_routes_without_schemas_unchanged(self):
        st, _, body = self.post("/raw", '{"a":[]}', None)
        self.assertEqual((st, json.loads(body)), (200, {"got": {"a": []}}))
        self.problem(self.post("/raw", "{"), 400)


class DevMode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP, "--dev")

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0

    def test_violating_response_is_500_saying_why(self):
        st, h, body = self.srv.get("/bad-response")
        self.assertEqual(st, 500, body)
        self.assertEqual(h["content-type"], "application/problem+json")
        doc = json.loads(body)
        self.assertIn("the response 200 does not match its schema", doc["detail"])
        self.assertIn("/count", doc["detail"])
        self.assertIn("does not match its schema", self.srv.log())

    def test_dropped_fields_logged_once_per_route_and_field(self):
        for _ in range(3):
            self.assertEqual(self.srv.get("/user")[0], 200)
        log = self.srv.log()
        self.assertEqual(len(re.findall(r"GET /user: response 200: dropped /password ", log)), 1, log)
        self.assertEqual(len(re.findall(r"GET /user: response 200: dropped /friends/\*/password ", log)), 1, log)
        self.assertEqual(len(re.findall(r"GET /user: response 200: dropped /friends/\*/token ", log)), 1, log)
        for _ in range(2):
            self.assertEqual(self.srv.get("/user-object")[0], 200)
        self.assertEqual(len(re.findall(r"GET /user-object: response 200: dropped /password ", self.srv.log())), 1)

    def test_valid_response_passes(self):
        st, _, body = self.srv.request("POST", "/things", body='{"name":"a","size":1,"color":"red"}',
                                       headers={"Content-Type": "application/json"})
        self.assertEqual(st, 201, body)


class NoDevNoDropLog(unittest.TestCase):
    def test_no_drop_log_without_dev(self):
        with Server(APP) as srv:
            self.assertEqual(srv.get("/user")[0], 200)
            self.assertNotIn("dropped", srv.log())


if __name__ == "__main__":
    run()
