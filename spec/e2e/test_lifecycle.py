"""Process lifecycle: load errors, graceful stop on SIGTERM/SIGINT, workers
with SO_REUSEPORT and restart, the `routes`, `--help` and `--version`
commands."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import BIN, ROOT, Server, connection_refused, example, read_response, run, wait_for

APP = example("bench", "app.lua")


def write_app(src):
    fd, path = tempfile.mkstemp(suffix=".lua", prefix="lifecycle-")
    with os.fdopen(fd, "w") as f:
        f.write(src)
    return path


def crater(*args, timeout=20):
    return subprocess.run([BIN, *args], capture_output=True, timeout=timeout, cwd=ROOT)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class LoadErrors(unittest.TestCase):
    def check_fails(self, src, pattern):
        path = write_app(src)
        try:
            out = crater("--port", "0", path)
            self.assertEqual(out.returncode, 1, out)
            self.assertRegex(out.stderr.decode(), pattern)
        finally:
            os.unlink(path)

    def test_syntax_error_names_file_and_line(self):
        self.check_fails("local crater = require 'crater'\nlocal x = = 1\n", r"lifecycle-\w+\.lua:2:")

    def test_runtime_error_at_load_names_file_and_line(self):
        self.check_fails("local crater = require 'crater'\n\nlocal t = nil\nprint(t.x)\n", r"lifecycle-\w+\.lua:4:")

    def test_not_an_app(self):
        self.check_fails("return 42\n", r"must return a crater app")

    def test_duplicate_route_names_line(self):
        self.check_fails("local app = require('crater').app()\napp:get('/a', function() end)\n"
                         "app:get('/a', function() end)\nreturn app\n", r"lifecycle-\w+\.lua:3:.*already defined")

    def test_missing_file(self):
        out = crater("/nonexistent/app.lua")
        self.assertEqual(out.returncode, 1)
        self.assertIn(b"/nonexistent/app.lua", out.stderr)

    def test_port_in_use(self):
        with Server(APP) as srv:
            out = crater("--port", str(srv.port), APP)
            self.assertEqual(out.returncode, 1)
            self.assertIn(b"address already in use", out.stderr)


class Commands(unittest.TestCase):
    def test_help_and_version(self):
        out = crater("--help")
        self.assertEqual(out.returncode, 0)
        for flag in (b"--host", b"--port", b"--workers", b"--max-body", b"--header-timeout", b"routes"):
            self.assertIn(flag, out.stdout)
        out = crater("--version")
        self.assertEqual(out.returncode, 0)
        self.assertRegex(out.stdout.decode(), r"^crater \d+\.\d+\.\d+\n$")

    def test_routes_lists_method_path_file_line(self):
        out = crater("routes", example("hello", "app.lua"))
        self.assertEqual(out.returncode, 0, out)
        lines = out.stdout.decode().splitlines()
        self.assertRegex(lines[0], r"^GET\s+/\s+\(.*examples/hello/app\.lua:\d+\)$")
        self.assertTrue(any(re.match(r"^POST\s+/notes\s+\(.*app\.lua:\d+\)$", l) for l in lines), lines)

    def test_no_app_is_usage_error(self):
        out = crater()
        self.assertEqual(out.returncode, 2)
        self.assertIn(b"usage", out.stderr)


class GracefulStop(unittest.TestCase):
    def test_sigterm_with_idle_keepalive_exits_0(self):
        srv = Server(APP)
        s = srv.connect()
        s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(read_response(s.makefile("rb"))[0], 200)
        t0 = time.time()
        self.assertEqual(srv.stop(signal.SIGTERM), 0)
        self.assertLess(time.time() - t0, 5)
        s.settimeout(2)
        self.assertEqual(s.recv(10), b"")

    def test_sigint_exits_0(self):
        srv = Server(APP)
        self.assertEqual(srv.get("/plaintext")[0], 200)
        self.assertEqual(srv.stop(signal.SIGINT), 0)

    def test_request_in_flight_finishes(self):
        srv = Server(APP, "--grace", "5s")
        s = srv.connect()
        f = s.makefile("rb")
        # Expect: 100-continue: the 100 says crater has read the head, so
        # the request is surely in flight (not in the accept queue, which
        # closing the listener resets) when SIGTERM comes; no fixed sleep.
        s.sendall(b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Expect: 100-continue\r\nContent-Length: 22\r\n\r\n")
        self.assertEqual(read_response(f)[0], 100)
        s.sendall(b"{\"name\":\"x\",")
        srv.proc.send_signal(signal.SIGTERM)
        # New connections are refused once it stopped listening (polled:
        # a loaded machine may take a while to get there).
        self.assertTrue(wait_for(lambda: connection_refused(srv.port), timeout=10), srv.log())
        s.sendall(b"\"price\":1}")
        st, h, body = read_response(f)
        self.assertEqual(st, 201)
        self.assertEqual(h["connection"], "close")
        # It exits on its own once the last connection is done (a second
        # SIGTERM here could land after the handlers are gone).
        self.assertEqual(srv.proc.wait(timeout=10), 0)
        srv.check_sanitizers()

    def test_grace_period_ends_stuck_connections(self):
        srv = Server(APP, "--grace", "300ms", "--body-timeout", "60s")
        s = srv.connect()
        # A body never sent. The 100 says crater has read the head: the
        # connection is surely its own (not still in the accept queue,
        # which SIGTERM resets) and stuck mid-request; no fixed sleep.
        s.sendall(b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Expect: 100-continue\r\nContent-Length: 22\r\n\r\n")
        self.assertEqual(read_response(s.makefile("rb"))[0], 100)
        t0 = time.time()
        self.assertEqual(srv.stop(signal.SIGTERM), 0)
        self.assertLess(time.time() - t0, 5)
        self.assertIn("grace period over", srv.log())

    def test_grace_period_ends_connections_stuck_in_headers(self):
        srv = Server(APP, "--grace", "300ms", "--header-timeout", "60s")
        s = srv.connect()
        f = s.makefile("rb")
        # A first request answered: the connection is crater's (not in the
        # accept queue); then a second one whose head never ends.
        s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(read_response(f)[0], 200)
        s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n")  # never finished
        time.sleep(0.5)  # read by then: one loop turn of a server with nothing else to do
        t0 = time.time()
        self.assertEqual(srv.stop(signal.SIGTERM), 0)
        self.assertLess(time.time() - t0, 5)
        self.assertIn("grace period over", srv.log())


class Workers(unittest.TestCase):
    def worker_pids(self, parent):
        out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True)
        return sorted(int(p) for p in out.stdout.split())

    def wait_for(self, cond, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if cond():
                return True
            time.sleep(0.05)
        return False

    def start_workers(self):
        # Pick a port: workers bind it with SO_REUSEPORT, so it must be fixed.
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        srv = Server(APP, "--workers", "2", port=port, wait=False)
        srv.port = port
        return srv

    def test_workers_serve_restart_and_stop(self):
        srv = self.start_workers()
        self.assertTrue(self.wait_for(lambda: srv.log().count("worker") >= 2 and "serving" in srv.log()), srv.log())
        self.assertTrue(self.wait_for(lambda: len(self.worker_pids(srv.proc.pid)) == 2))
        time.sleep(0.2)
        for _ in range(20):
            self.assertEqual(srv.get("/plaintext")[2], b"Hello, World!")
        pids = self.worker_pids(srv.proc.pid)
        os.kill(pids[0], signal.SIGKILL)
        self.assertTrue(self.wait_for(lambda: len(self.worker_pids(srv.proc.pid)) == 2
                                      and pids[0] not in self.worker_pids(srv.proc.pid)), srv.log())
        self.assertIn("killed by signal 9, restarting", srv.log())
        time.sleep(0.3)
        for _ in range(20):
            self.assertEqual(srv.get("/json")[0], 200)
        self.assertEqual(srv.stop(signal.SIGTERM), 0)
        for p in self.worker_pids(srv.proc.pid):
            self.fail("worker %d still alive" % p)

    def test_workers_parent_keeps_every_signal(self):
        # SIGTERM then SIGHUP at once: the stop must not be lost behind the
        # reload (a one-slot flag kept only the last), and a signal that
        # comes while the parent is busy must not wait for a child event.
        for first, second in ((signal.SIGTERM, signal.SIGHUP), (signal.SIGHUP, signal.SIGTERM)):
            srv = self.start_workers()
            self.assertTrue(self.wait_for(lambda: len(self.worker_pids(srv.proc.pid)) == 2), srv.log())
            self.assertTrue(self.wait_for(lambda: srv.log().count("serving") >= 2), srv.log())
            workers = self.worker_pids(srv.proc.pid)
            os.kill(srv.proc.pid, first)
            os.kill(srv.proc.pid, second)
            try:
                self.assertEqual(srv.proc.wait(timeout=15), 0, srv.log())
            except subprocess.TimeoutExpired:
                srv.proc.kill()
                self.fail("parent did not stop after %s and %s:\n%s" % (first.name, second.name, srv.log()))
            self.assertTrue(self.wait_for(lambda: not any(alive(p) for p in workers), 5), workers)

    def test_workers_broken_app_fails_fast(self):
        path = write_app("local x = = 1\n")
        try:
            out = crater("--workers", "2", "--port", "0", path)
            self.assertEqual(out.returncode, 1)
            self.assertRegex(out.stderr.decode(), r"lifecycle-\w+\.lua:1:")
        finally:
            os.unlink(path)


if __name__ == "__main__":
    run()
