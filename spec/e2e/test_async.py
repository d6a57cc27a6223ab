"""Handlers that wait (docs/async.md), against the real binary over real
sockets: crater.sleep while other requests are served, 1,000 requests
sleeping at once, spawned threads (results, errors, kill, orphans), waits
inside pcall, hooks, error handlers and streams, deadlines (app-wide, per
route, false, a stream broken off), background timers (every, at, cancel,
failures, the pending limit, premature runs on SIGTERM and on reload,
refused before the app serves and while it stops), a client that resets
while its handler waits, SIGTERM and reload while requests wait.

Timing: the tests assert the order things happen in, and generous bounds
only (a machine under load, or ASan, is slow)."""
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import struct
import tempfile
import time
import unittest

from harness import ROOT, Server, connection_refused, read_response, recv_all, run, wait_for

APP = os.path.join(ROOT, "spec", "e2e", "apps", "async.lua")
WAIT = 20  # seconds anything expected may take to show (ASan builds are slow)


def send(srv, path, close=True):
    """Sends GET path on a new connection; returns the socket (read it later
    with answer())."""
    s = srv.connect(timeout=WAIT)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path.encode(), b"Connection: close\r\n" if close else b""))
    return s


def answer(s):
    """The one response on s: (status, headers, body)."""
    try:
        return read_response(s.makefile("rb"))
    finally:
        s.close()


def reset(s):
    """Closes s with an RST (SO_LINGER 0) instead of a FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def nothing_yet(s):
    """True when nothing has arrived on s (it is not closed either)."""
    s.setblocking(False)
    try:
        s.recv(1, socket.MSG_PEEK)
        return False
    except BlockingIOError:
        return True
    finally:
        s.setblocking(True)


class Base(unittest.TestCase):
    env = None
    args = ()

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP, *cls.args, env=cls.env)

    @classmethod
    def tearDownClass(cls):
        code = cls.srv.stop()
        assert code == 0, cls.srv.log()
        os.unlink(cls.srv.log_file.name)

    def get_json(self, path):
        st, h, body = self.srv.get(path, timeout=WAIT)
        self.assertEqual(st, 200, body)
        return json.loads(body)

    def state(self):
        return self.get_json("/state")

    def marks(self):
        return self.state()["marks"]

    def wait_log(self, pattern):
        self.assertTrue(wait_for(lambda: re.search(pattern, self.srv.log())),
                        "%r never logged:\n%s" % (pattern, self.srv.log()))


class Sleep(Base):
    def test_sleep_answers_later_while_others_are_served(self):
        slow = send(self.srv, "/gate/g1")
        self.assertTrue(wait_for(lambda: "g1.started" in self.marks()), self.srv.log())
        # Other clients, meanwhile: answered while the first one waits.
        for _ in range(3):
            self.assertEqual(self.srv.get("/fast")[::2], (200, b"fast"))
        self.assertTrue(nothing_yet(slow), "the waiting request answered before the others")
        self.assertEqual(self.srv.get("/open/g1")[2], b"opened")
        st, _, body = answer(slow)
        self.assertEqual((st, body), (200, b"done g1"))
        self.assertEqual(answer(send(self.srv, "/sleep/50"))[::2], (200, b"slept 50"))

    def test_sleep_on_a_keepalive_connection_keeps_answers_in_order(self):
        s = self.srv.connect(timeout=WAIT)
        s.sendall(b"GET /sleep/200 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /sleep/0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        f = s.makefile("rb")
        bodies = [read_response(f)[2] for _ in range(3)]
        s.close()
        self.assertEqual(bodies, [b"slept 200", b"fast", b"slept 0"])

    def test_thousand_concurrent_sleeps(self):
        n, ms = 1000, 500

        async def one(i):
            r, w = await asyncio.open_connection("127.0.0.1", self.srv.port)
            w.write(b"GET /sleep/%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % ms)
            await w.drain()
            data = await r.read()
            w.close()
            return data

        async def all_of_them():
            return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), 120)

        t0 = time.time()
        answers = asyncio.run(all_of_them())
        took = time.time() - t0
        ok = [a for a in answers if a.startswith(b"HTTP/1.1 200 ") and a.endswith(b"slept %d" % ms)]
        self.assertEqual(len(ok), n, [a[:80] for a in answers if a not in ok][:3])
        # One after the other would take n * 0.5 s = 500 s.
        self.assertLess(took, 60, "1,000 sleeping requests took %.1f s" % took)
        self.assertEqual(self.srv.get("/fast")[2], b"fast")

    def test_sleep_inside_pcall(self):
        self.assertEqual(self.srv.get("/pcall")[2], b"false failed after a sleep")

    def test_sleep_inside_a_coroutine_of_the_app_is_refused(self):
        self.assertRegex(self.srv.get("/in-coroutine")[2].decode(),
                         r"^false .*async\.lua:\d+: crater\.sleep: cannot wait inside a coroutine the app created "
                         r"\(use crater\.spawn\)$")

    def test_hooks_wait(self):
        st, h, body = self.srv.get("/hooked")
        self.assertEqual((st, body, h["x-after"]), (200, b"hooked before", "napped"))

    def test_error_handler_waits(self):
        st, h, body = self.srv.get("/conflict")
        self.assertEqual(st, 409)
        self.assertEqual(json.loads(body), {"conflict": "taken", "napped": True})

    def test_stream_sleeps_between_chunks(self):
        s = send(self.srv, "/stream/4/150")
        f = s.makefile("rb")
        self.assertTrue(f.readline().startswith(b"HTTP/1.1 200"))
        while f.readline() != b"\r\n":
            pass
        self.assertEqual(f.readline(), b"8\r\n")
        self.assertEqual(f.readline(), b"chunk 1\n")
        # The stream sleeps: another request is answered before it goes on.
        self.assertEqual(self.srv.get("/fast")[2], b"fast")
        rest = f.read()  # until the server closes (Connection: close)
        s.close()
        self.assertEqual(rest, b"\r\n8\r\nchunk 2\n\r\n8\r\nchunk 3\n\r\n8\r\nchunk 4\n\r\n0\r\n\r\n")


# Bugs found and fixed (each class has a server of its own: the bug brought it down).
class YieldAcrossC(Base):
    def test_wait_where_lua_cannot_yield(self):
        self.assertRegex(self.srv.get("/yield-across-c")[2].decode(),
                         r"^false .*(attempt to yield across C-call boundary|cannot wait)")
        time.sleep(0.2)  # past the sleep it asked for
        self.assertEqual(self.srv.get("/fast")[2], b"fast")
class KillWakesJoiner(Base):
    def test_watchdog_kills_the_work_the_handler_waits_for(self):
        self.assertEqual(self.get_json("/spawn/watchdog"), {"err": "killed", "killed_watchdog": True})
        time.sleep(0.2)
        self.assertNotIn("watchdog went on", self.marks())
        self.assertEqual(self.srv.get("/fast")[2], b"fast")


class Threads(Base):
    def test_spawn_and_wait(self):
        self.assertEqual(self.get_json("/spawn"), {"a": 42, "b": "b", "c": "c"})
        self.assertEqual(self.srv.get("/spawn/one")[2], b"one,two,three")

    def test_errors_come_back_as_nil_and_a_message(self):
        got = self.get_json("/spawn/error")
        self.assertNotIn("v", got)
        self.assertNotIn("v2", got)
        self.assertRegex(got["err"], r"async\.lua:\d+: thread failed$")
        self.assertTrue(got["traceback"])
        self.assertRegex(got["err2"], r"async\.lua:\d+: second failed$")

    def test_kill(self):
        got = self.get_json("/spawn/kill")
        self.assertEqual(got, {"ok1": True, "err2": "already done", "err": "killed", "err3": "already done"})
        self.assertNotIn("killed thread woke", self.marks())

    def test_kill_then_wait_for_the_waiter(self):
        # crater.wait(b) is woken from inside the resume that began it: in a
        # request (pipeline.c) and in a timer's run (timer.c)
        self.assertEqual(self.srv.get("/spawn/kill-then-wait")[2], b"nil,killed")
        self.assertEqual(self.srv.get("/timers/kill-then-wait")[2], b"made")
        self.assertTrue(wait_for(lambda: "timer nil,killed" in self.marks()), self.marks())

    def test_misuse(self):
        self.assertEqual(self.get_json("/spawn/misuse"), {
            "wait_none": "crater.wait: give it one or more threads",
            "wait_twice": "crater.wait: this thread was waited for already",
            "yield": "a spawned thread may yield only by waiting (crater.sleep, a socket, ...): "
                     "it cannot write a streamed body or yield a coroutine",
        })
    def test_wait_errors_point_at_the_caller(self):
        got = self.get_json("/spawn/misuse-raw")
        self.assertRegex(got["wait_twice"], r"apps/async\.lua:\d+: crater\.wait: this thread was waited for")
        self.assertNotIn("h_join", got["wait_number"])
        self.assertRegex(got["wait_number"], r"apps/async\.lua:\d+: .*crater\.thread expected, got number")
    def test_spawn_in_a_coroutine_of_the_app_is_refused_in_words_that_say_so(self):
        msg = self.get_json("/spawn/misuse-raw")["spawn_in_coroutine"]
        self.assertNotIn("not inside a coroutine", msg)
        self.assertRegex(msg, r"^crater\.spawn: .*inside a coroutine the app created")

    def test_threads_nobody_waited_for_are_killed(self):
        self.assertEqual(self.srv.get("/spawn/orphans")[2], b"left two behind")
        self.wait_log(r"\[info\] GET /spawn/orphans from 127\.0\.0\.1:\d+ ended with 2 spawned threads "
                      r"still waiting: killed\n")
        time.sleep(0.4)  # past their sleep: they must not wake
        self.assertNotIn("orphan woke", self.marks())

    def test_failure_nobody_collected_is_logged(self):
        self.assertEqual(self.srv.get("/spawn/orphan-failed")[2], b"left a failure behind")
        self.wait_log(r"\[error\] GET /spawn/orphan-failed from 127\.0\.0\.1:\d+: a spawned thread failed "
                      r"and nobody waited for it: .*async\.lua:\d+: nobody listens\n")


class ClientGone(Base):
    def test_reset_while_the_handler_waits(self):
        for i in range(5):
            name = "rst%d" % i
            s = send(self.srv, "/gate/" + name, close=False)
            self.assertTrue(wait_for(lambda: name + ".started" in self.marks()), self.srv.log())
            reset(s)
        gone = re.compile(r"client 127\.0\.0\.1:\d+ went away before its answer was complete\n")
        self.assertTrue(wait_for(lambda: len(gone.findall(self.srv.log())) >= 5), self.srv.log())
        # the handler's own spawned thread is killed with it
        self.wait_log(r"GET /gate/rst4 from 127\.0\.0\.1:\d+ ended with 1 spawned thread still waiting: killed")
        for i in range(5):
            self.srv.get("/open/rst%d" % i)
        time.sleep(0.3)  # neither the handlers nor their threads run again
        marks = self.marks()
        for i in range(5):
            self.assertNotIn("rst%d.done" % i, marks)
            self.assertNotIn("rst%d.thread" % i, marks)
        self.assertEqual(self.srv.get("/fast")[2], b"fast")
        self.srv.get("/open/after")
        self.assertEqual(self.srv.get("/gate/after")[2], b"done after")
        # (the ASan build: tearDownClass's stop checks the log for leaks and errors)


class RouteDeadline(Base):
    def test_route_deadline_answers_504_and_stops_the_handler(self):
        st, h, body = self.srv.get("/deadline/short")
        self.assertEqual(st, 504)
        self.assertEqual(h["content-type"], "application/problem+json")
        self.assertEqual(json.loads(body), {
            "type": "about:blank", "title": "Gateway Timeout", "status": 504,
            "detail": "the handler did not answer within its deadline (0.1 s)"})
        self.wait_log(r"\[warn\] GET /deadline/short from 127\.0\.0\.1:\d+: no answer within the route's "
                      r"deadline \(0\.1 s\): 504\n")
        time.sleep(0.4)
        marks = self.marks()
        self.assertNotIn("deadline handler woke", marks)
        self.assertNotIn("deadline thread woke", marks)
        self.assertEqual(self.srv.get("/deadline/long")[2], b"within a long deadline")


class AppDeadline(Base):
    env = {"ASYNC_DEADLINE": "0.3"}

    def test_app_deadline(self):
        st, h, body = self.srv.get("/sleep/3000")
        self.assertEqual((st, h["content-type"]), (504, "application/problem+json"))
        self.assertEqual(json.loads(body)["detail"], "the handler did not answer within its deadline (0.3 s)")
        self.assertEqual(self.srv.get("/sleep/10")[2], b"slept 10")

    def test_route_deadline_wins(self):
        self.assertEqual(self.srv.get("/deadline/short")[0], 504)
        self.assertEqual(self.srv.get("/deadline/long")[2], b"within a long deadline")
        self.assertEqual(self.srv.get("/deadline/off")[2], b"no deadline")

    def test_stream_is_broken_off(self):
        raw = self.srv.raw(b"GET /stream/10/100 HTTP/1.1\r\nHost: x\r\n\r\n", timeout=WAIT)
        self.assertTrue(raw.startswith(b"HTTP/1.1 200 "), raw)
        self.assertIn(b"chunk 1\n", raw)
        self.assertNotIn(b"chunk 10\n", raw)
        self.assertFalse(raw.endswith(b"0\r\n\r\n"), raw)  # no last chunk: the client sees a truncated body
        self.wait_log(r"GET /stream/10/100 from 127\.0\.0\.1:\d+: no answer within the route's deadline "
                      r"\(0\.3 s\): stream broken off\n")
        self.assertEqual(self.srv.get("/fast")[2], b"fast")


class Timers(Base):
    def test_refused_before_the_app_serves(self):
        self.assertEqual(self.srv.get("/timers/early")[2],
                         b"nil crater.timer.at: the app is not serving yet: make timers in app:on_start or later")
        self.assertNotIn("early timer ran", self.marks())

    def test_every_ticks(self):
        first = self.state()["ticks"]
        self.assertTrue(wait_for(lambda: self.state()["ticks"] >= first + 3), self.srv.log())

    def test_at_runs_once_with_its_arguments(self):
        self.assertEqual(self.get_json("/timers/at/now/0"), {"made": True})
        self.assertEqual(self.get_json("/timers/at/soon/100"), {"made": True})
        self.assertTrue(wait_for(lambda: {"now.fired.x", "soon.fired.x"} <= set(self.marks())), self.srv.log())

    def test_cancel(self):
        self.assertEqual(self.get_json("/timers/cancel/c1"), {"ok1": True, "err2": "not pending"})
        time.sleep(0.2)
        self.assertNotIn("c1.fired", self.marks())

    def test_every_skips_ticks_while_its_run_waits(self):
        self.assertEqual(self.srv.get("/timers/slow-every/4")[2], b"started")
        self.assertTrue(wait_for(lambda: self.state()["every_runs"] >= 4), self.srv.log())
        time.sleep(0.2)
        st = self.state()
        self.assertEqual(st["every_max_active"], 1)
        self.assertEqual(st["every_runs"], 4)  # cancelled by its 4th run

    def test_failure_is_logged(self):
        self.assertEqual(self.srv.get("/timers/fail")[2], b"armed")
        self.wait_log(r"\[error\] timer at .*async\.lua:\d+ failed: .*async\.lua:\d+: timer broke\n")
        self.assertEqual(self.srv.get("/fast")[2], b"fast")

    def test_pending_limit(self):
        got = self.get_json("/timers/many")
        self.assertEqual(got["err"], "crater.timer.at: too many pending timers")
        self.assertGreater(got["made"], 4000)
        self.assertLessEqual(got["made"], 4096)
        self.assertEqual(self.get_json("/timers/at/after-many/0"), {"made": True})  # all cancelled again


class Shutdown(unittest.TestCase):
    def test_sigterm_while_requests_wait(self):
        srv = Server(APP, "--grace", "1500ms")
        try:
            quick = [send(srv, "/until-shutdown/q%d" % i) for i in range(3)]
            long = send(srv, "/gate/long")  # never opened
            self.assertTrue(wait_for(lambda: {"q0.started", "q1.started", "q2.started", "long.started"}
                                     <= set(json.loads(srv.get("/state")[2])["marks"])), srv.log())
            self.assertEqual(json.loads(srv.get("/timers/at/premature/3600000")[2]), {"made": True})
            t0 = time.time()
            srv.proc.send_signal(signal.SIGTERM)
            # No new connections...
            self.assertTrue(wait_for(lambda: connection_refused(srv.port)), srv.log())
            # ...but the requests in flight go on (new timers are refused) and
            # finish within the grace period,
            for i, s in enumerate(quick):
                self.assertEqual(answer(s)[::2], (200, b"done q%d: crater.timer.at: shutting down" % i))
            # and one still waiting when it is over is cut off: no answer at all.
            self.assertEqual(recv_all(long, WAIT), b"")
            long.close()
            self.assertEqual(srv.proc.wait(WAIT), 0)
            self.assertLess(time.time() - t0, WAIT)
        finally:
            srv.stop()
        log = srv.log()
        os.unlink(srv.log_file.name)
        self.assertIn("[warn] grace period over: closing 1 connection(s)", log)
        # Pending timers ran once, prematurely, before on_stop (the flush waits first).
        for line in ("async: at premature=true flush", "async: every premature", "async: flushed",
                     "async: on_stop shutdown"):
            self.assertIn(line + "\n", log)
        self.assertLess(log.index("async: flushed"), log.index("async: on_stop shutdown"))


RELOAD_APP = """local crater = require "crater"
local app = crater.app()
local started = 0
app:get("/started", function() return tostring(started) end)
app:get("/sleep/{ms}", function(req)
  started = started + 1
  crater.sleep(tonumber(req.params.ms) / 1000)
  return "VERSION slept"
end)
-- Waits until the test creates the file RELEASE.
app:get("/gate", function()
  started = started + 1
  for _ = 1, 3000 do
    local f = io.open(RELEASE)
    if f then f:close(); return "VERSION waited" end
    crater.sleep(0.01)
  end
  return "VERSION never released"
end)
app:on_start(function()
  crater.timer.at(3600, function(premature)
    io.stderr:write("VERSION timer premature=", tostring(premature), "\\n")
  end)
end)
app:on_stop(function(info) io.stderr:write("VERSION on_stop ", info.reason, "\\n") end)
return app
"""


class Reload(unittest.TestCase):
    def test_reload_while_requests_wait(self):
        d = tempfile.mkdtemp(prefix="crater-async-")
        path, release = os.path.join(d, "app.lua"), os.path.join(d, "release")

        def src(version):
            return RELOAD_APP.replace("VERSION", version).replace("RELEASE", json.dumps(release))

        write(path, src("v1"))
        srv = Server(path)
        try:
            waiting = [send(srv, "/gate") for _ in range(3)]
            self.assertTrue(wait_for(lambda: srv.get("/started")[2] == b"3"), srv.log())
            write(path, src("v2"))
            srv.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: "] reloaded " in srv.log()), srv.log())
            # New requests get the new code at once; v1's pending timer ran
            # prematurely, but v1 lives on while its requests wait.
            self.assertEqual(srv.get("/sleep/0")[2], b"v2 slept")
            log = srv.log()
            self.assertIn("v1 timer premature=true\n", log)
            self.assertNotIn("v1 on_stop", log)
            write(release, "")
            for s in waiting:
                self.assertEqual(answer(s)[::2], (200, b"v1 waited"))
            self.assertTrue(wait_for(lambda: "v1 on_stop reload\n" in srv.log()), srv.log())
            self.assertEqual(srv.stop(), 0)
            log = srv.log()
            self.assertIn("v2 timer premature=true\n", log)
            self.assertLess(log.index("v2 timer premature=true"), log.index("v2 on_stop shutdown"))
        finally:
            srv.stop()
            os.unlink(srv.log_file.name)
            shutil.rmtree(d, ignore_errors=True)


def write(path, text):
    tmp = path + ".tmp~"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    run()
