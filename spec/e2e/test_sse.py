"""Server-Sent Events (crater.sse) and crater.channel over real sockets:
event framing, Last-Event-ID, heartbeats while the handler sleeps, clients
that go away, many clients on one channel, curl, and an EventSource in
headless Chromium reconnecting with Last-Event-ID."""
import json
import os
import socket
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import browser
from harness import ROOT, HandlerNotes, Server, read_response, run, wait_for

APP = os.path.join(ROOT, "spec", "e2e", "apps", "sse_app.lua")


def read_until(s, marker, timeout=10):
    """Bytes from s until marker was received (the head and chunk framing included)."""
    s.settimeout(timeout)
    data = b""
    while marker not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class SSE(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0

    def stats(self):
        return json.loads(self.srv.get("/stats")[2])

    def test_head_and_framing(self):
        s = self.srv.connect()
        s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br\r\n\r\n")
        st, h, body = read_response(s.makefile("rb"))
        s.close()
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "text/event-stream; charset=utf-8")
        self.assertEqual(h["cache-control"], "no-cache, no-transform")
        self.assertEqual(h["transfer-encoding"], "chunked")
        self.assertNotIn("content-encoding", h)  # never compressed: events must stay prompt
        self.assertEqual(body, (
            b"data: hello\n\n"
            b"event: multi\nid: 7\ndata: a\ndata: b\ndata: c\ndata: d\n\n"  # CRLF, CR and LF all split
            b"retry: 2500\n\n"
            b"data: \n\n"
            b": note\n: second\n\n"
            b"event: n\nid: 8\ndata: 42\n\n"))

    def test_curl(self):
        rc, out, err = self.srv.curl("-N", self.srv.url("/events"))
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith(b"data: hello\n\nevent: multi\n"), out)

    def test_bad_id_is_an_error_naming_the_line(self):
        rc, out, err = self.srv.curl("-N", self.srv.url("/bad-id"))
        self.assertNotEqual(rc, 0)  # broken off: no last chunk
        self.assertEqual(out, b"data: before\n\n")
        wait_for(lambda: "id must not contain CR, LF or NUL" in self.srv.log())
        self.assertIn("sse_app.lua:23: crater.sse send: id must not contain CR, LF or NUL", self.srv.log())
        self.assertEqual(self.srv.get("/plain")[2], b"plain")

    def test_bad_options_and_fields(self):
        st, h, body = self.srv.get("/bad-opts")
        self.assertEqual(st, 500)
        self.assertEqual(h["content-type"], "application/problem+json")
        wait_for(lambda: "crater.sse: heartbeat must be a number of seconds > 0, or false" in self.srv.log())
        rc, out, err = self.srv.curl("-N", self.srv.url("/bad-retry"))
        self.assertEqual(out, b"")
        wait_for(lambda: "sse_app.lua:" in self.srv.log() and "retry must be an integer" in self.srv.log())
        self.assertEqual(self.srv.get("/plain")[2], b"plain")

    def test_refused_and_odd_requests(self):
        st, h, body = self.srv.request("POST", "/events", body="x")
        self.assertEqual(st, 405)
        self.assertEqual(h["content-type"], "application/problem+json")
        # HEAD: the head only, even of a stream that never ends
        raw = self.srv.raw(b"HEAD /news HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertIn(b"Content-Type: text/event-stream", raw)
        self.assertTrue(raw.endswith(b"\r\n\r\n"), raw)
        self.assertNotIn(b"data:", raw)
        # HTTP/1.0: no chunks, the end of the stream is the close
        raw = self.srv.raw(b"GET /events HTTP/1.0\r\n\r\n")
        self.assertTrue(raw.endswith(b"event: n\nid: 8\ndata: 42\n\n"), raw)
        # a pipelined request behind a finite stream is answered after it
        raw = self.srv.raw(b"GET /last HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1\r\n\r\n"
                           b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertIn(b"data: 1|1\n\n", raw)
        self.assertTrue(raw.endswith(b"plain"), raw)
        # a control byte in Last-Event-ID: the core refuses the request
        st, h, body = self.srv.get("/last", headers={"Last-Event-ID": "x\x7fy"})
        self.assertEqual(st, 400)
        self.assertEqual(h["content-type"], "application/problem+json")
        self.assertEqual(self.srv.get("/plain")[2], b"plain")

    def test_last_event_id(self):
        st, h, body = self.srv.get("/last", headers={"Last-Event-ID": "41"})
        self.assertEqual(body, b"event: last\ndata: 41|41\n\n")
        st, h, body = self.srv.get("/last")
        self.assertEqual(body, b"event: last\ndata: nil|nil\n\n")

    def test_heartbeats_while_the_handler_sleeps(self):
        st, h, body = self.srv.get("/slow")
        self.assertEqual(st, 200)
        self.assertTrue(body.startswith(b"data: start\n\n:\n\n"), body)
        self.assertTrue(body.endswith(b":\n\ndata: end\n\n"), body)
        self.assertGreaterEqual(body.count(b":\n\n"), 2)  # 0.5 s asleep, a heartbeat each 0.1 s

    def test_resume_from_last_event_id(self):
        st, h, body = self.srv.get("/count", headers={"Last-Event-ID": "6"})
        self.assertEqual(body, b"retry: 100\n\nid: 7\ndata: n7\n\nid: 8\ndata: n8\n\nid: 9\ndata: n9\n\n")

    def test_long_stream_memory_stays_bounded(self):
        st, h, body = self.srv.get("/many", timeout=60)
        events = body.split(b"\n\n")
        self.assertEqual(events[1999], b"data: 2000")
        grew = int(body.rsplit(b"data: ", 1)[1])
        # about 650 bytes per event when each parked thread was kept until the request ended
        self.assertLess(grew, 200, "KiB of Lua memory left after 2000 events")

    def test_channel_many_clients_and_disconnects(self):
        n = 40
        base = self.stats()  # the counters are the app's: other tests' streams count too
        want = lambda ended, subscribers: {"ended": base["ended"] + ended, "subscribers": base["subscribers"] + subscribers}
        socks = []
        for _ in range(n):
            s = self.srv.connect()
            s.sendall(b"GET /news HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        for s in socks:
            read_until(s, b"event: ready")
        self.assertEqual(self.srv.get("/plain")[2], b"plain")  # others are still served
        st, h, body = self.srv.request("POST", "/news", body="line 1\nline 2")
        self.assertEqual(body, b'{"delivered":%d}' % n)
        for s in socks:
            self.assertIn(b"data: line 1\ndata: line 2\n\n", read_until(s, b"data: line 2\n\n"))
        # half the clients go away, some with a reset
        for i, s in enumerate(socks[: n // 2]):
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        # their receive returns nil, "closed": they unsubscribe and end
        # (a FIN is noticed when a heartbeat cannot be written)
        self.assertTrue(wait_for(lambda: self.stats() == want(n // 2, n // 2), timeout=10), (base, self.stats()))
        self.assertIn("went away before its answer was complete", self.srv.log())
        # the rest end when told
        st, h, body = self.srv.request("POST", "/news", body="bye")
        self.assertEqual(body, b'{"delivered":%d}' % (n // 2))
        for s in socks[n // 2:]:
            read_until(s, b"0\r\n\r\n")
            s.close()
        self.assertTrue(wait_for(lambda: self.stats() == want(n, 0), timeout=10), (base, self.stats()))

    def test_burst_past_the_high_water_then_return(self):
        for _ in range(3):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", self.srv.port))
            s.sendall(b"GET /burst HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            time.sleep(0.2)  # the handler fills the socket and waits in send
            data = read_until(s, b"0\r\n\r\n")
            s.close()
            self.assertEqual(data.count(b"y" * 8192), 40)
        self.assertEqual(self.srv.get("/plain")[2], b"plain")

    def test_curl_disconnect_midstream(self):
        # curl gives up after 0.5 s, while the handler waits on the channel
        p = subprocess.run(["curl", "-sN", "--max-time", "0.5", self.srv.url("/news")], capture_output=True)
        self.assertEqual(p.returncode, 28)
        self.assertTrue(p.stdout.startswith(b"event: ready\n\n"), p.stdout)
        self.assertEqual(self.srv.get("/plain")[2], b"plain")

    @unittest.skipUnless(browser.available(), "chromium not installed (.ci/setup.sh)")
    def test_eventsource_in_chromium_reconnects_with_last_event_id(self):
        with browser.Browser() as b:
            p = b.page()
            p.goto(self.srv.url("/page"))
            got = p.wait_for("window.got.length >= 9 && window.got", timeout=60)
        # /count sends 3 events then ends; the browser reconnects with the
        # last id it saw and the handler goes on from there
        self.assertEqual(got, ["%d:n%d" % (i, i) for i in range(1, 10)])



def leave(s, reset):
    """Closes s: with a FIN, or with a reset (SO_LINGER 0)."""
    if reset:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Gone(HandlerNotes, unittest.TestCase):
    """A client that goes away while its handler waits: the wait in progress
    returns nil, "closed", so does every later send, and the code after it --
    the handler's cleanup -- runs (docs/sse.md, "When the client goes away")."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0

    def test_sleep_returns_closed_and_later_sends_too(self):
        for reset in (False, True):
            tag = "sleep%d" % reset
            leave(self.open("/gone/sleep?tag=" + tag, b"data: started")[0], reset)
            v = self.until_seen(tag, "done")
            self.assertEqual(v["seen"], "sleep:nil,closed send:nil,closed comment:nil,closed done")
        self.assertEqual(self.srv.get("/plain")[2], b"plain")

    def test_channel_receive_returns_closed_and_the_handler_unsubscribes(self):
        for reset in (False, True):
            tag = "chan%d" % reset
            s, _ = self.open("/gone/channel?tag=" + tag, b"event: ready")
            self.assertEqual(self.seen(tag)["subscribers"], 1)
            leave(s, reset)
            if not reset:  # a FIN alone is noticed when a write fails: publish one
                wait_for(lambda: self.srv.request("POST", "/news", body="ping")[2] and
                         (self.seen(tag)["seen"] or "").endswith("unsubscribed"), timeout=10)
            v = self.until_seen(tag, "unsubscribed")
            self.assertEqual(v, {"seen": "receive:closed unsubscribed", "subscribers": 0})

    def test_blocked_in_send_by_backpressure(self):
        for reset in (False, True):
            tag = "bp%d" % reset
            s, _ = self.open("/gone/backpressure?tag=" + tag, b"data: xxxx", rcvbuf=4096)
            time.sleep(0.3)  # the handler fills the socket and waits in send
            leave(s, reset)
            v = self.until_seen(tag, "sent>4")
            self.assertEqual(v["seen"], "send:nil,closed sent>4")

    def test_a_handler_that_ignores_it_is_stopped_after_its_grace(self):
        s, _ = self.open("/gone/ignore?tag=ign", b"data: started")
        leave(s, True)
        self.until_seen("ign", "first:nil,closed")
        wait_for(lambda: "still running 5 s after its client went away: stopped" in self.srv.log(), timeout=15)
        self.assertIn("GET /gone/ignore?tag=ign from 127.0.0.1", self.srv.log())
        self.assertEqual(self.seen("ign")["seen"], "first:nil,closed")
        self.assertEqual(self.srv.get("/plain")[2], b"plain")

    @unittest.skipUnless(browser.available(), "chromium not installed (.ci/setup.sh)")
    def test_eventsource_closed_in_chromium(self):
        with browser.Browser() as b:
            p = b.page()
            p.goto(self.srv.url("/gone/page"))
            self.assertEqual(p.wait_for("window.got.length >= 1 && window.got", timeout=60), ["started"])
            v = self.until_seen("browser", "done")
        self.assertEqual(v["seen"], "sleep:nil,closed send:nil,closed comment:nil,closed done")

    def test_nothing_left_behind(self):
        pid = self.srv.proc.pid
        self.srv.get("/plain")
        before = fds(pid)
        for i in range(20):
            tag = "many%d" % i
            leave(self.open("/gone/sleep?tag=" + tag, b"data: started")[0], i % 2 == 1)
        for i in range(20):
            self.until_seen("many%d" % i, "done")
        self.assertTrue(wait_for(lambda: fds(pid) <= before, timeout=10), (fds(pid), before))
        self.assertEqual(self.srv.get("/plain")[2], b"plain")


class GoneAndStop(unittest.TestCase):
    """SIGTERM and a reload while a handler whose client left still cleans up."""

    def setUp(self):
        fd, self.notes = tempfile.mkstemp(prefix="crater-e2e-gone-", suffix=".txt")
        os.close(fd)

    def tearDown(self):
        os.unlink(self.notes)

    def noted(self):
        with open(self.notes) as f:
            return f.read()

    def test_sigterm_waits_for_the_cleanup(self):
        srv = Server(APP, env={"GONE_NOTES": self.notes})
        try:
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"GET /gone/slow-cleanup?tag=t HTTP/1.1\r\nHost: x\r\n\r\n")
            read_until(s, b"data: started")
            leave(s, True)
            time.sleep(0.1)
            t0 = time.time()
            self.assertEqual(srv.stop(), 0)
            self.assertLess(time.time() - t0, 8)  # not the 10 s grace: the cleanup ended it
            self.assertEqual(self.noted(), "t sleep:nil,closed\nt cleaned\n")
        finally:
            srv.stop()

    def test_reload_while_a_gone_handler_cleans_up(self):
        d = tempfile.mkdtemp(prefix="crater-e2e-gone-")
        app = os.path.join(d, "app.lua")
        shutil.copy(APP, app)
        srv = Server(app, env={"GONE_NOTES": self.notes})
        try:
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"GET /gone/slow-cleanup?tag=r HTTP/1.1\r\nHost: x\r\n\r\n")
            read_until(s, b"data: started")
            leave(s, True)
            srv.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: "reload" in srv.log().lower()), srv.log())
            self.assertEqual(srv.get("/plain")[2], b"plain")
            # the old generation's handler finishes its cleanup
            self.assertTrue(wait_for(lambda: self.noted() == "r sleep:nil,closed\nr cleaned\n"), self.noted())
            self.assertNotIn("still running", srv.log())
            self.assertEqual(srv.get("/plain")[2], b"plain")
        finally:
            self.assertEqual(srv.stop(), 0)
            shutil.rmtree(d)


if __name__ == "__main__":
    run()
