"""A crashing handler cannot take the service down (issue 12, section 4):
os.exit is an error, not the server's end; the --workers parent replaces
workers that crash, with a growing delay, and never gives up; a replacement
for a worker whose app file was since saved broken keeps retrying while the
other worker serves; a handler's own coroutine.yield is a 500, not a hang."""
import http.client
import os
import re
import shutil
import signal
import socket
import tempfile
import time
import unittest

from harness import ROOT, Server, children, free_port, run, wait_for

APP = os.path.join(ROOT, "spec", "e2e", "apps", "stuck.lua")


def start_workers(app):
    port = free_port()
    # A NULL read is the test's crash: ASan must let it be one.
    asan = os.environ.get("ASAN_OPTIONS", "")
    srv = Server(app, "--workers", "2", port=port, wait=False,
                 env={"ASAN_OPTIONS": (asan + ":" if asan else "") + "handle_segv=0"})
    srv.port = port
    assert wait_for(lambda: srv.log().count("serving") >= 2, 30), srv.log()
    return srv


def get(port, path, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class SingleProcess(unittest.TestCase):
    def test_os_exit_is_an_error_naming_the_line(self):
        with Server(APP) as srv:
            self.assertEqual(srv.get("/exit")[0], 500)
            self.assertEqual(srv.get("/ok")[2], b"ok")
            self.assertRegex(srv.log(), r"handler for GET /exit failed: \S*stuck\.lua:\d+: os\.exit is not "
                                        r"available to an app")

    def test_own_coroutine_yield_is_a_500_not_a_hang(self):
        with Server(APP) as srv:
            t0 = time.time()
            self.assertEqual(srv.get("/yield", timeout=10)[0], 500)
            self.assertLess(time.time() - t0, 5)
            self.assertEqual(srv.get("/ok")[2], b"ok")
            self.assertRegex(srv.log(), r"handler yielded outside a supported operation\nstack traceback:\n"
                                        r"(.*\n)*?\s+\S*stuck\.lua:\d+: in function")


class Workers(unittest.TestCase):
    def test_crashing_handler_never_takes_the_service_down(self):
        srv = start_workers(APP)
        try:
            crashes = 0
            for _ in range(8):
                if len(children(srv.proc.pid)) != 2 or srv.log().count("serving") < 2 + crashes:
                    self.assertTrue(wait_for(lambda: srv.log().count("serving") >= 2 + crashes, 30), srv.log())
                try:
                    get(srv.port, "/segv", timeout=10)
                    self.fail("/segv answered")
                except (ConnectionError, http.client.HTTPException, socket.timeout):
                    crashes += 1
                # Once the worker is gone (its listening socket with it: a
                # connection made while it dies can still land there), the
                # other worker answers every request.
                self.assertTrue(wait_for(lambda: srv.log().count("killed by signal 11") >= crashes, 10),
                                srv.log())
                for _ in range(5):
                    self.assertEqual(get(srv.port, "/ok"), (200, b"ok"))
            self.assertIsNone(srv.proc.poll(), srv.log())
            log = srv.log()
            self.assertEqual(log.count("killed by signal 11, restarting"), crashes, log)
            delays = [float(d) for d in re.findall(r"killed by signal 11, restarting in ([\d.]+) s", log)]
            self.assertTrue(delays and max(delays) >= 0.2, log)  # it backs off
        finally:
            self.assertEqual(srv.stop(), 0, srv.log())

    def test_broken_app_file_never_takes_the_siblings_down(self):
        d = tempfile.mkdtemp(prefix="crater-crash-")
        app = os.path.join(d, "app.lua")
        shutil.copy(APP, app)
        srv = start_workers(app)
        try:
            with open(app, "w") as f:
                f.write("local x = = 1\n")
            victim = children(srv.proc.pid)[0]
            os.kill(victim, signal.SIGKILL)
            # The replacement fails to load, again and again, while the
            # other worker serves the code it loaded.
            self.assertTrue(wait_for(lambda: srv.log().count("app.lua:1:") >= 3, 30), srv.log())
            for _ in range(20):
                self.assertEqual(get(srv.port, "/ok"), (200, b"ok"))
            self.assertIsNone(srv.proc.poll(), srv.log())
            self.assertRegex(srv.log(), r"exited with status 1, restarting in [\d.]+ s")
            # Fixed: the next retry serves.
            shutil.copy(APP, app)
            self.assertTrue(wait_for(lambda: len(children(srv.proc.pid)) == 2
                                     and srv.log().count("serving") >= 3, 30), srv.log())
        finally:
            self.assertEqual(srv.stop(), 0, srv.log())
            shutil.rmtree(d)


if __name__ == "__main__":
    run()
