"""Routing and the request/response objects, over a real socket, against
examples/hello/app.lua."""
import json
import os
import tempfile
import unittest

from harness import Server, example, run


class HelloApp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(example("hello", "app.lua"))

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, "exit status %s" % rc

    def test_plain_text(self):
        st, h, body = self.srv.get("/")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(body, b"Hello from Crater!\n")
        self.assertEqual(h["server"], "crater")
        self.assertIn("GMT", h["date"])
        self.assertEqual(h["content-length"], str(len(body)))

    def test_path_param(self):
        st, _, body = self.srv.get("/hello/world")
        self.assertEqual((st, body), (200, b"Hello, world!\n"))

    def test_path_param_percent_decoded(self):
        st, _, body = self.srv.get("/hello/a%20b")
        self.assertEqual((st, body), (200, b"Hello, a b!\n"))

    def test_query_repeated_keys(self):
        st, h, body = self.srv.get("/search?q=lua&tag=a&tag=b")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(json.loads(body), {"q": "lua", "tags": ["a", "b"]})

    def test_query_empty_array(self):
        st, _, body = self.srv.get("/search")
        self.assertEqual(json.loads(body), {"q": "", "tags": []})

    def test_headers_case_insensitive_and_remote(self):
        st, _, body = self.srv.get("/whoami", headers={"USER-AGENT": "spec/1"})
        doc = json.loads(body)
        self.assertEqual(doc["agent"], "spec/1")
        self.assertTrue(doc["remote"].startswith("127.0.0.1:"))

    def test_json_in_custom_status_and_header(self):
        st, h, body = self.srv.request("POST", "/notes", body={"text": "hi"})
        self.assertEqual(st, 201)
        note = json.loads(body)
        self.assertEqual(note["text"], "hi")
        self.assertEqual(h["location"], "/notes/%d" % note["id"])
        st, _, body = self.srv.get("/notes/%d" % note["id"])
        self.assertEqual((st, json.loads(body)), (200, note))

    def test_malformed_json_is_400_problem(self):
        st, h, body = self.srv.request("POST", "/notes", body="{nope",
                                       headers={"Content-Type": "application/json"})
        self.assertEqual(st, 400)
        self.assertEqual(h["content-type"], "application/problem+json")
        self.assertEqual(json.loads(body)["status"], 400)

    def test_invalid_utf8_json_is_400(self):
        st, h, body = self.srv.request("POST", "/notes", body=b'{"text":"\xff\xfe"}',
                                       headers={"Content-Type": "application/json"})
        self.assertEqual(st, 400)
        self.assertIn("UTF-8", json.loads(body)["detail"])

    def test_json_round_trip_exact(self):
        text = 'caf\u00e9 / \U0001F600 "q" \\ \n'
        st, h, body = self.srv.request("POST", "/notes", body={"text": text})
        self.assertEqual(st, 201)
        self.assertNotIn(b"\\/", body)  # '/' is not escaped
        self.assertEqual(json.loads(body)["text"], text)

    def test_abort_422(self):
        st, h, body = self.srv.request("POST", "/notes", body={"text": 5})
        self.assertEqual(st, 422)
        self.assertEqual(h["content-type"], "application/problem+json")

    def test_cookies_multi_valued_and_after_hook(self):
        st, h, body = self.srv.get("/cookie")
        self.assertEqual(st, 200)
        self.assertEqual(h["set-cookie"].split("\n"), ["a=1; Path=/; HttpOnly", "b=2"])
        self.assertEqual(h["x-powered-by"], "crater")

    def test_catch_all(self):
        st, _, body = self.srv.get("/files/css/site.css")
        self.assertEqual((st, body), (200, b"you asked for css/site.css\n"))

    def test_custom_404_handler(self):
        st, h, body = self.srv.get("/nope")
        self.assertEqual(st, 404)
        self.assertEqual(json.loads(body)["path"], "/nope")

    def test_405_with_allow(self):
        st, h, body = self.srv.request("DELETE", "/notes")
        self.assertEqual(st, 405)
        self.assertEqual(h["allow"], "OPTIONS, POST")
        self.assertEqual(h["content-type"], "application/problem+json")

    def test_options_automatic(self):
        st, h, body = self.srv.request("OPTIONS", "/hello/x")
        self.assertEqual(st, 204)
        self.assertEqual(h["allow"], "GET, HEAD, OPTIONS")
        self.assertEqual(body, b"")

    def test_head_automatic_for_get(self):
        st, h, body = self.srv.request("HEAD", "/")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-length"], str(len(b"Hello from Crater!\n")))
        self.assertEqual(body, b"")

    def test_handler_error_500_then_same_connection_serves(self):
        s = self.srv.connect()
        f = s.makefile("rb")
        s.sendall(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
        from harness import read_response
        st, h, body = read_response(f)
        self.assertEqual(st, 500)
        self.assertEqual(h["content-type"], "application/problem+json")
        doc = json.loads(body)
        self.assertNotIn("traceback", doc)
        self.assertNotIn("something broke", body.decode())
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        st, _, body = read_response(f)
        self.assertEqual((st, body), (200, b"Hello from Crater!\n"))
        s.close()
        self.assertRegex(self.srv.log(), r"app\.lua:\d+: something broke")
        self.assertIn("stack traceback", self.srv.log())


class BadAnswers(unittest.TestCase):
    """A handler that answers with something the core cannot send gets a 500
    naming the route's file:line in the log; the server goes on serving."""

    def test_status_out_of_range_or_fractional(self):
        src = (
            'local crater = require "crater"\n'
            'local app = crater.app()\n'
            'app:get("/big", function() return 1000, "x" end)\n'
            'app:get("/small", function() return 42, "x" end)\n'
            'app:get("/frac", function() return 200.5, "x" end)\n'
            'app:get("/obj", function() return crater.response("x", 7) end)\n'
            'app:get("/odd", function() return 299, "fine" end)\n'
            'return app\n')
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(src)
        try:
            with Server(f.name) as srv:
                for path, status in (("/big", 1000), ("/small", 42), ("/frac", 200.5), ("/obj", 7)):
                    st, h, body = srv.get(path)
                    self.assertEqual((st, h["content-type"]), (500, "application/problem+json"), path)
                    self.assertIn("a handler answered with status %s (a final status is an integer "
                                  "from 200 to 999)" % status, srv.log())
                self.assertRegex(srv.log(), r"\.lua:3: a handler answered with status 1000")
                self.assertRegex(srv.log(), r"\.lua:6: a handler answered with status 7 ")
                self.assertNotIn("dispatcher failed", srv.log())
                self.assertEqual(srv.get("/odd")[:3:2], (299, b"fine"))
        finally:
            os.unlink(f.name)


class DevMode(unittest.TestCase):
    def test_traceback_in_body_only_with_dev(self):
        with Server(example("hello", "app.lua"), "--dev") as srv:
            st, _, body = srv.get("/boom")
            self.assertEqual(st, 500)
            doc = json.loads(body)
            self.assertIn("something broke", doc["detail"])
            self.assertIn("stack traceback", doc["traceback"])


if __name__ == "__main__":
    run()
