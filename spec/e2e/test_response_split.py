"""Nothing an app returns can split a response (issue 12, section 2).

RFC 9110 5.1 (a field name is a token) and 5.5 (a field value is visible
ASCII, obs-text, SP and HTAB): whatever way a handler returns its headers --
a headers table, an array of values, a response object, a redirect's
Location, a cookie, a stream's head, an error handler's answer -- a header
that breaks the rule is the handler's error: 500 through the app's error
handler, logged with the route's file:line, and the bytes on the wire hold
nothing of it. RFC 9112 6: framing (Content-Length, Transfer-Encoding) is
the core's; Connection may only be "close". RFC 9110 15.2: a 1xx is never a
final answer. The C core enforces the same rule on what a dispatcher that
goes around the framework returns (the `raw` app below). Every check is
over a raw socket, and the server keeps serving after each."""
import os
import re
import tempfile
import unittest

from harness import Server, parse_responses, read_response, run

# Each route is one line, so a log line's file:line names it.
APP_LINES = [
    'local crater = require "crater"',                                                       # 1
    'local app = crater.app()',                                                              # 2
    'local function v(req) return req.query.v end',                                         # 3
    'app:get("/ct", function(req) return 200, "hi", { ["Content-Type"] = v(req) } end)',     # 4
    'app:get("/plain", function(req) return 200, "hi", { ["X-Echo"] = v(req) } end)',        # 5
    'app:get("/array", function(req) return 200, "hi", { ["X-Many"] = { "ok", v(req) } } end)',  # 6
    'app:get("/name", function(req) return 200, "hi", { [req.query.n] = "v" } end)',         # 7
    'app:get("/object", function(req) return crater.response("hi"):header("X-Echo", v(req)) end)',  # 8
    'app:get("/object_ct", function(req) local r = crater.response("hi"); r.content_type = v(req); return r end)',  # 9
    'app:get("/new", function(req) return crater.response("hi", 200, { ["X-Echo"] = v(req) }) end)',  # 10
    'app:get("/redirect", function(req) return 302, "", { Location = req.query.to } end)',   # 11
    'app:get("/cookie", function(req) return crater.response("hi"):set_cookie(req.query.name or "sid", req.query.value or "1", req.query.opt and { [req.query.opt] = v(req) } or nil) end)',  # 12
    'app:get("/stream", function(req) return crater.stream(function(w) w("a"); w("b") end, 200, { ["X-Echo"] = v(req) }) end)',  # 13
    'app:get("/stream_ct", function(req) local s = crater.stream(function(w) w("a") end); s.content_type = v(req); return s end)',  # 14
    'app:get("/status", function(req) return tonumber(req.query.s), "x" end)',               # 15
    'app:get("/framing", function(req) return 200, "hi", { [req.query.n] = v(req) } end)',  # 16
    'app:get("/close", function() return 200, "bye", { Connection = "close" } end)',          # 17
    'app:get("/ok", function() return "ok" end)',                                           # 18
    'app:get("/number", function() return 200, "hi", { ["X-N"] = 42, ["X-L"] = { 1, "b" } } end)',  # 19
    'app:get("/abort", function(req) crater.abort(409, "no", { ["X-Echo"] = v(req) }) end)',  # 20
    'app:get("/stream_close", function() return crater.stream(function(w) w("b"); w("ye") end, 200, { Connection = "close" }) end)',  # 21
    # 22: bytes decoded from the raw query (req.query refuses text that is not UTF-8)
    'app:get("/raw", function(req) local s = req.raw_query:match("^v=(.*)$"); return 200, "hi", { ["X-Echo"] = (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)) } end)',
    'return app',
]

# Error handlers and after hooks: the app's error handler answers a bad
# header; an error handler's own bad header gets the default problem.
HOOKS_APP = '''local crater = require "crater"
local app = crater.app()
app:error(500, function(req, err) return 500, "custom: " .. err.detail end)
app:error(404, function(req) return 404, "none", { ["X-Echo"] = req.query.v } end)
app:after(function(req, res) if req.query.a then res:header("X-After", req.query.a) end end)
app:get("/plain", function(req) return 200, "hi", { ["X-Echo"] = req.query.v } end)
app:get("/ok", function() return "ok" end)
return app
'''

# A dispatcher that goes around crater.response: what it returns reaches
# the C core unchecked by Lua, so the core's own check is what answers.
RAW_APP = r'''local crater = require "crater"
local answers = {
  ["/crlf"] = { 200, "x", "text/plain", { "X-A", "a\r\nX-Injected: yes" } },
  ["/colon"] = { 200, "x", "text/plain", { "X-Injected:", "yes" } },
  ["/ctype"] = { 200, "x", "text/plain\r\nX-Injected: yes", nil },
  ["/vt"] = { 200, "x", "text/plain", { "X-A", "a\vb" } },
  ["/nul"] = { 200, "x", "text/plain", { "X-A", "a\0X-Injected" } },
  ["/cl"] = { 200, "x", "text/plain", { "Content-Length", "0" } },
  ["/te"] = { 200, "x", "text/plain", { "Transfer-Encoding", "chunked" } },
  ["/keep"] = { 200, "x", "text/plain", { "Connection", "keep-alive" } },
  ["/close"] = { 200, "bye", "text/plain", { "connection", "Close" } },
  ["/s101"] = { 101, "", nil, { "Upgrade", "websocket" } },
  ["/s100"] = { 100, "", nil, nil },
  ["/odd"] = { 200, "x", "text/plain", { "X-A" } },
  ["/ok"] = { 200, "fine", "text/plain", { "X-Fine", "caf\195\169 \t!" } },
}
require("crater.dispatch").new = function()
  return function(method, p)
    if p == "/stream" then
      coroutine.yield(200, false, "text/plain", { "X-A", "a\nX-Injected: yes" })
      coroutine.yield("evil")
      return
    end
    local a = answers[p] or { 404, "", nil, nil }
    return a[1], a[2], a[3], a[4]
  end
end
return crater.app()
'''

INJECTED = (b"x-injected", b"evil")


def app_file(text):
    fd, path = tempfile.mkstemp(suffix=".lua", prefix="split-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def ask(srv, target):
    """One request (Connection: close); returns (status, headers, body, raw bytes)."""
    raw = srv.raw(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answers = parse_responses(raw)
    if len(answers) != 1:
        raise AssertionError("%d answers to %s: %r" % (len(answers), target, raw[:400]))
    st, h, body = answers[0]
    return st, h, body, raw


class Split(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.path = app_file("\n".join(APP_LINES) + "\n")
        cls.name = os.path.basename(cls.path)
        cls.srv = Server(cls.path)

    @classmethod
    def tearDownClass(cls):
        try:
            assert cls.srv.stop() == 0
        finally:
            os.unlink(cls.path)

    def refused(self, target, line, why=None):
        """target is answered 500, nothing injected goes out, the log names
        the route's file:line (and why), and the server serves on."""
        st, h, body, raw = ask(self.srv, target)
        self.assertEqual(st, 500, raw[:400])
        self.assertEqual(h["content-type"], "application/problem+json")
        for bad in INJECTED:
            self.assertNotIn(bad, raw.lower(), target)
        log = self.srv.log()
        # the handler's file:line, or its route's when the error was raised past a tail call
        self.assertRegex(log, r"%s:%d(: |\) failed: )" % (re.escape(self.name), line))
        if why:
            self.assertIn(why, log)
        self.assertEqual(ask(self.srv, "/ok")[:3:2], (200, b"ok"))
        return log

    # RFC 9110 5.5: CR, LF, NUL, and every other control but HTAB, and DEL.
    def test_content_type_from_query_with_crlf_is_500_and_not_split(self):
        self.refused("/ct?v=text/html%0d%0aX-Injected:%20yes%0d%0a%0d%0aevil", 4,
                     'response header Content-Type: CR at byte 10 of its value "text/html\\x0D\\x0AX-Injected: yes')

    def test_every_control_byte_in_a_plain_headers_table(self):
        for b in list(range(0, 9)) + list(range(10, 32)) + [127]:
            self.refused("/plain?v=a%%%02Xevil" % b, 5, "response header X-Echo: ")
        self.assertIn("VT at byte 2", self.srv.log())
        self.assertIn("DEL at byte 2", self.srv.log())
        self.assertIn("NUL at byte 2", self.srv.log())

    def test_visible_ascii_obs_text_space_and_tab_go_out(self):
        raw = self.srv.raw(b"GET /raw?v=a%09b%20c~%C3%A9%FF HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(raw.startswith(b"HTTP/1.1 200 OK\r\n"), raw[:200])
        self.assertIn(b"\r\nX-Echo: a\tb c~\xc3\xa9\xff\r\n", raw)

    def test_array_valued_header(self):
        self.refused("/array?v=x%0aX-Injected:%20yes", 6, "response header X-Many: LF at byte 2")

    def test_numbers_are_values(self):
        st, h, body, raw = ask(self.srv, "/number")
        self.assertEqual(st, 200)
        self.assertIn(b"\r\nX-N: 42\r\n", raw)
        self.assertIn(b"\r\nX-L: 1\r\nX-L: b\r\n", raw)

    # RFC 9110 5.1: a field name is a token.
    def test_header_names_must_be_tokens(self):
        for n in ("X-Injected:%20yes%0d%0aX", "X-Injected:", "X%20A", "X-%C3%A9", "", "X(A)", "X%0bA"):
            self.refused("/name?n=" + n, 7, "is not a token")

    def test_response_object_header_raises_where_it_is_set(self):
        self.refused("/object?v=a%0d%0aX-Injected:%20yes", 8, "response header X-Echo: CR")
        self.refused("/object_ct?v=text/html%0d%0aX-Injected:%20yes", 9, "response header Content-Type: CR")
        self.refused("/new?v=a%0bX-Injected", 10, "response header X-Echo: VT")

    def test_redirect_location(self):
        self.refused("/redirect?to=/x%0d%0aX-Injected:%20yes", 11, "response header Location: CR")
        st, h, body, raw = ask(self.srv, "/redirect?to=/x%3Fa%3D1")
        self.assertEqual((st, h["location"]), (302, "/x?a=1"))

    # RFC 6265 4.1.1: attributes are separated by ';'.
    def test_cookie_attributes_names_and_values(self):
        for opt in ("path", "domain", "same_site", "expires"):
            self.refused("/cookie?opt=%s&v=x;%%20Domain=evil.example" % opt, 12, "cookie sid: ")
            self.refused("/cookie?opt=%s&v=x%%0d%%0aX-Injected:%%20yes" % opt, 12, "cookie sid: ")
        self.assertIn("cookie sid: path \"x; Domain=evil.example\" holds ';'", self.srv.log())
        self.refused("/cookie?name=a;b", 12, "invalid cookie name \"a;b\"")
        self.refused("/cookie?value=1;%20Domain=evil", 12, "cookie sid: its value")
        st, h, body, raw = ask(self.srv, "/cookie?opt=same_site&v=lax")
        self.assertEqual((st, h["set-cookie"]), (200, "sid=1; SameSite=Lax"))

    def test_abort_headers(self):
        self.refused("/abort?v=a%0d%0aX-Injected:%20yes", 20, "response header X-Echo: CR")
        st, h, body, raw = ask(self.srv, "/abort?v=fine")
        self.assertEqual((st, h["x-echo"]), (409, "fine"))

    def test_stream_head(self):
        self.refused("/stream?v=a%0d%0aX-Injected:%20yes", 13, "response header X-Echo: CR")
        log = self.refused("/stream_ct?v=text/html%0d%0aX-Injected:%20yes", 14,
                           "response header Content-Type: CR")
        self.assertNotIn("dispatcher failed", log)
        st, h, body, raw = ask(self.srv, "/stream?v=fine")
        self.assertEqual((st, h["x-echo"], h["transfer-encoding"], body), (200, "fine", "chunked", b"ab"))

    # RFC 9110 15.2: a 1xx is interim; the handler's answer is final.
    def test_1xx_status_is_refused(self):
        for s in (100, 101, 103, 199):
            self.refused("/status?s=%d" % s, 15, "a handler answered with status %d (a final status is an "
                         "integer from 200 to 999; 1xx are interim answers)" % s)
        self.assertEqual(ask(self.srv, "/status?s=200")[0], 200)

    # RFC 9112 6: the core frames every answer; Connection is the core's.
    def test_framing_headers_are_refused(self):
        for n, v in (("Content-Length", "0"), ("content-length", "2"), ("Transfer-Encoding", "chunked"),
                     ("Connection", "keep-alive"), ("Connection", "upgrade")):
            self.refused("/framing?n=%s&v=%s" % (n, v), 16, "response header %s" % n)

    def test_connection_close_is_honoured(self):
        for path in ("/close", "/stream_close"):
            s = self.srv.connect()
            try:
                s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
                f = s.makefile("rb")
                st, h, body = read_response(f)
                self.assertEqual((st, h["connection"], body), (200, "close", b"bye"), path)
                self.assertEqual(f.read(), b"", "the connection was closed after the answer")
            finally:
                s.close()
            raw = ask(self.srv, path)[3]
            self.assertEqual(raw.lower().count(b"\r\nconnection:"), 1, raw)

    def test_same_connection_serves_on_after_a_refusal(self):
        s = self.srv.connect()
        try:
            s.sendall(b"GET /plain?v=a%0d%0aX-Injected:%20yes HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            f = s.makefile("rb")
            self.assertEqual(read_response(f)[0], 500)
            self.assertEqual(read_response(f)[::2], (200, b"ok"))
        finally:
            s.close()


class ErrorHandlers(unittest.TestCase):
    def test_error_handler_answers_a_bad_header_and_its_own_bad_header_gets_the_default(self):
        path = app_file(HOOKS_APP)
        try:
            with Server(path) as srv:
                # the handler's bad header: the app's 500 handler answers
                st, h, body, raw = ask(srv, "/plain?v=a%0d%0aX-Injected:%20yes")
                self.assertEqual((st, body), (500, b"custom: the server failed to answer this request"))
                self.assertNotIn(b"x-injected", raw.lower())
                # an after hook's bad header, the same
                st, h, body, raw = ask(srv, "/ok?a=a%0bX-Injected")
                self.assertEqual((st, body), (500, b"custom: the server failed to answer this request"))
                self.assertIn("response header X-After: VT", srv.log())
                # ... on an answer no route made too
                st, h, body, raw = ask(srv, "/nowhere?a=a%0d%0aX-Injected:%20yes")
                self.assertEqual((st, body), (500, b"custom: the server failed to answer this request"))
                self.assertNotIn(b"x-injected", raw.lower())
                self.assertNotIn("dispatcher failed", srv.log())
                # the 404 handler's own bad header: the default problem, logged
                st, h, body, raw = ask(srv, "/nowhere?v=a%0d%0aX-Injected:%20yes")
                self.assertEqual((st, h["content-type"]), (500, "application/problem+json"))
                self.assertIn(b"the error handler's answer could not be sent", body)
                self.assertNotIn(b"x-injected", raw.lower())
                self.assertRegex(srv.log(), r"error handler at [^ ]*%s:4 for GET /nowhere answered what "
                                 r"cannot be sent: response header X-Echo: CR" % os.path.basename(path))
                self.assertEqual(ask(srv, "/nowhere?v=fine")[:3:2], (404, b"none"))
                self.assertEqual(ask(srv, "/ok")[:3:2], (200, b"ok"))
        finally:
            os.unlink(path)


class CoreCheck(unittest.TestCase):
    """What a dispatcher returns around crater.response: the C core's check."""

    @classmethod
    def setUpClass(cls):
        cls.path = app_file(RAW_APP)
        cls.srv = Server(cls.path)

    @classmethod
    def tearDownClass(cls):
        try:
            assert cls.srv.stop() == 0
        finally:
            os.unlink(cls.path)

    def test_core_refuses_what_went_around_the_framework(self):
        for target, why in (("/crlf", 'header 1 "X-A": byte 0x0D at 1'),
                            ("/colon", 'header 1: the name "X-Injected:" is not a token'),
                            ("/ctype", 'header 0 "Content-Type": byte 0x0D at 10'),
                            ("/vt", 'byte 0x0B at 1'),
                            ("/nul", 'byte 0x00 at 1'),
                            ("/cl", '"Content-Length": framing is the core\'s'),
                            ("/te", '"Transfer-Encoding": framing is the core\'s'),
                            ("/keep", 'the value "keep-alive" is not "close"'),
                            ("/s101", "status 101 is not a final status"),
                            ("/s100", "status 100 is not a final status"),
                            ("/odd", "the header list holds 1 items"),
                            ("/stream", 'header 1 "X-A": byte 0x0A at 1')):
            st, h, body, raw = ask(self.srv, target)
            self.assertEqual((st, h["content-type"]), (500, "application/problem+json"), target)
            for bad in INJECTED + (b"websocket",):
                self.assertNotIn(bad, raw.lower(), target)
            log = self.srv.log()
            self.assertIn("GET %s from " % target, log)
            self.assertIn("the core refused the application's answer (", log)
            self.assertIn(why, log)
            self.assertEqual(ask(self.srv, "/ok")[:3:2], (200, b"fine"))
        st, h, body, raw = ask(self.srv, "/ok")
        self.assertIn(b"\r\nX-Fine: caf\xc3\xa9 \t!\r\n", raw)

    def test_core_honours_connection_close(self):
        s = self.srv.connect()
        try:
            s.sendall(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            f = s.makefile("rb")
            st, h, body = read_response(f)
            self.assertEqual((st, h["connection"], body), (200, "close", b"bye"))
            self.assertEqual(f.read(), b"")
        finally:
            s.close()


if __name__ == "__main__":
    run()
