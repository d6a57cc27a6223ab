"""A stuck handler cannot take the service down (issue 12, section 4): the
watchdog (--stuck-timeout) interrupts Lua a hook can reach (500, the log
names the route and file:line), ends a worker stuck where nothing can (a
loop LuaJIT compiled) so the parent replaces it while the other worker
serves without a failed request, and SIGTERM ends the service within the
grace period (+1 s) even while a handler spins."""
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import BIN, ROOT, Server, children, free_port, run, wait_for

APP = os.path.join(ROOT, "spec", "e2e", "apps", "stuck.lua")


def start_workers(*args):
    # Workers bind a fixed port with SO_REUSEPORT.
    port = free_port()
    srv = Server(APP, "--workers", "2", *args, port=port, wait=False)
    srv.port = port
    assert wait_for(lambda: srv.log().count("serving") >= 2, 30), srv.log()
    return srv


def get(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, r.read()


def connections_by_worker(port, want=2, tries=64):
    """Keep-alive connections, grouped by the pid of the worker holding each
    (SO_REUSEPORT spreads new connections over the workers)."""
    by_pid = {}
    for _ in range(tries):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        by_pid.setdefault(int(get(c, "/pid")[1]), []).append(c)
        if len(by_pid) >= want and all(len(v) >= 2 for v in by_pid.values()):
            break
    return by_pid


def worker_pids(port):
    by_pid = connections_by_worker(port)
    for conns in by_pid.values():
        for c in conns:
            c.close()
    return set(by_pid)


class Load(threading.Thread):
    """Requests /ok in a loop over the given keep-alive connections."""

    def __init__(self, conns):
        super().__init__(daemon=True)
        self.conns, self.ok, self.failed, self.errors = conns, 0, 0, []
        self.halt = threading.Event()

    def run(self):
        i = 0
        while not self.halt.is_set():
            c = self.conns[i % len(self.conns)]
            i += 1
            try:
                status, body = get(c, "/ok")
                if status == 200 and body == b"ok":
                    self.ok += 1
                else:
                    self.failed += 1
                    self.errors.append((status, body))
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.failed += 1
                self.errors.append(repr(e))


class Workers(unittest.TestCase):
    def test_stuck_worker_is_replaced_while_the_other_serves(self):
        srv = start_workers("--stuck-timeout", "1s")
        try:
            by_pid = connections_by_worker(srv.port)
            self.assertEqual(len(by_pid), 2, "connections reached one worker only")
            stuck_pid, other_pid = sorted(by_pid)
            load = Load(by_pid[other_pid])
            load.start()
            # The tight loop is compiled by LuaJIT: no hook runs, the worker ends.
            spinner = by_pid[stuck_pid][0]
            spinner.sock.sendall(b"GET /spin HTTP/1.1\r\nHost: x\r\n\r\n")
            replaced = wait_for(lambda: "exited with status 70" in srv.log()
                                and len(children(srv.proc.pid)) == 2
                                and stuck_pid not in children(srv.proc.pid), 30)
            ok_before = load.ok
            time.sleep(0.5)
            load.halt.set()
            load.join(10)
            log = srv.log()
            self.assertTrue(replaced, log)
            self.assertEqual(load.failed, 0, load.errors[:5])
            self.assertGreater(load.ok, 20)
            self.assertGreater(load.ok, ok_before)  # still serving after the replacement
            # The report names the request, the route and the route's file:line.
            self.assertRegex(log, r"GET /spin from 127\.0\.0\.1:\d+, route GET /spin "
                                  r"\(\S*stuck\.lua:\d+\): stuck for")
            self.assertRegex(log, r"worker \d \(pid %d\) exited with status 70, restarting" % stuck_pid)
            # The replacement serves.
            pids = wait_for(lambda: worker_pids(srv.port) - {other_pid}, 20)
            self.assertTrue(pids and stuck_pid not in pids, pids)
            for conns in by_pid.values():
                for c in conns:
                    c.close()
        finally:
            self.assertEqual(srv.stop(), 0, srv.log())
        print("\n  load on the other worker during the replacement: %d requests, %d failed"
              % (load.ok, load.failed))

    def test_sigterm_ends_the_service_within_grace_despite_a_stuck_handler(self):
        # The watchdog off: only the stop's own deadline ends the spinning worker.
        srv = start_workers("--grace", "1s", "--stuck-timeout", "0")
        workers = children(srv.proc.pid)
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET /spin HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        t0 = time.time()
        srv.proc.send_signal(signal.SIGTERM)
        try:
            srv.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            srv.proc.kill()
            self.fail("the parent did not stop:\n" + srv.log())
        took = time.time() - t0
        s.close()
        self.assertEqual(srv.proc.returncode, 0, srv.log())
        self.assertLess(took, 1 + 3 + 2, srv.log())  # grace, the worker's alarm, the parent's margin
        self.assertFalse([p for p in workers if os.path.exists("/proc/%d" % p)])
        self.assertIn("still running 1 s after the grace period", srv.log())
        print("\n  SIGTERM to exit with a spinning worker, --grace 1s: %.2f s" % took)


    def test_parent_kills_a_worker_that_outlives_the_stop(self):
        # A stopped worker handles no signal, not even its own alarm: the
        # parent kills it 2 s after the grace period.
        srv = start_workers("--grace", "1s")
        workers = children(srv.proc.pid)
        os.kill(workers[0], signal.SIGSTOP)
        t0 = time.time()
        srv.proc.send_signal(signal.SIGTERM)
        try:
            srv.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(workers[0], signal.SIGKILL)
            srv.proc.kill()
            self.fail("the parent did not stop:\n" + srv.log())
        took = time.time() - t0
        self.assertEqual(srv.proc.returncode, 0, srv.log())
        self.assertGreater(took, 2.5)
        self.assertLess(took, 8)
        self.assertRegex(srv.log(), r"worker \d \(pid %d\) still running 3\.0 s after the stop: killed" % workers[0])
        self.assertTrue(wait_for(lambda: not os.path.exists("/proc/%d" % workers[0]), 5))


class SingleProcess(unittest.TestCase):
    def test_interpreted_loop_is_interrupted_with_500(self):
        with Server(APP, "--stuck-timeout", "500ms") as srv:
            t0 = time.time()
            status, _, _ = srv.get("/spin_interpreted", timeout=20)
            took = time.time() - t0
            self.assertEqual(status, 500)
            self.assertLess(took, 10)
            self.assertEqual(srv.get("/ok")[2], b"ok")
            log = srv.log()
            self.assertRegex(log, r"GET /spin_interpreted from [\d.:]+, route GET /spin_interpreted "
                                  r"\(\S*stuck\.lua:\d+\): stuck for over 0\.5 s without "
                                  r"returning to the event loop, at \S*stuck\.lua:\d+: interrupted")

    def test_a_stuck_timer_is_interrupted(self):
        with Server(APP, "--stuck-timeout", "500ms") as srv:
            self.assertEqual(srv.get("/timer_spin")[2], b"scheduled")
            self.assertTrue(wait_for(lambda: "interrupted" in srv.log(), 20), srv.log())
            self.assertEqual(srv.get("/ok")[2], b"ok")
            self.assertRegex(srv.log(), r"timer at \S*stuck\.lua:\d+: stuck for over 0\.5 s without returning "
                                        r"to the event loop, at \S*stuck\.lua:\d+: interrupted")

    def test_a_run_that_catches_the_interrupt_is_interrupted_again(self):
        with Server(APP, "--stuck-timeout", "500ms") as srv:
            status, _, body = srv.get("/spin_catch", timeout=20)
            self.assertEqual((status, body), (200, b"gave up"))
            self.assertEqual(srv.log().count("stuck for over 0.5 s without returning to the event loop, at"),
                             2, srv.log())

    def test_compiled_loop_ends_the_process(self):
        srv = Server(APP, "--stuck-timeout", "500ms")
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET /spin HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            srv.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            srv.proc.kill()
            self.fail("still running:\n" + srv.log())
        s.close()
        self.assertEqual(srv.proc.returncode, 70, srv.log())
        self.assertRegex(srv.log(), r"GET /spin from [\d.:]+, route GET /spin \(\S*stuck\.lua:\d+\): "
                                    r"stuck for [\d.]+ s .*a hook cannot interrupt")

    def test_sigterm_ends_a_stuck_process_within_grace(self):
        srv = Server(APP, "--grace", "1s", "--stuck-timeout", "0")
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET /spin HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        t0 = time.time()
        srv.proc.send_signal(signal.SIGTERM)
        try:
            srv.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            srv.proc.kill()
            self.fail("did not stop:\n" + srv.log())
        s.close()
        self.assertLess(time.time() - t0, 4)
        self.assertEqual(srv.proc.returncode, 1, srv.log())
        self.assertIn("still running 1 s after the grace period", srv.log())

    def test_app_file_that_never_finishes_loading(self):
        d = tempfile.mkdtemp(prefix="crater-stuck-")
        app = os.path.join(d, "app.lua")
        with open(app, "w") as f:
            f.write("local n = 0\nwhile true do n = n + 1 end\n")
        try:
            for args, status in ((("--port", "0", "--stuck-timeout", "500ms"), 70),
                                 (("--port", "0", "--stuck-timeout", "500ms", "--workers", "2"), 1),
                                 (("routes", "--stuck-timeout", "500ms"), 1)):
                out = subprocess.run([BIN, *args, app], capture_output=True, timeout=20)
                self.assertEqual(out.returncode, status, out)
                self.assertIn(b"the app's code outside any request (loading it, or a hook): stuck for",
                              out.stderr)
        finally:
            shutil.rmtree(d)

    def test_bad_flag_value(self):
        out = subprocess.run([BIN, "--stuck-timeout", "soon", APP], capture_output=True, timeout=10)
        self.assertEqual(out.returncode, 2)
        self.assertIn(b"--stuck-timeout", out.stderr)


if __name__ == "__main__":
    run()
