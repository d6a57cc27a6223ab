"""Scale-out: two Crater instances behind nginx, sharing a throwaway
PostgreSQL (users) and Redis (sessions). A session made through one instance
is read through the other; one instance stopped with SIGTERM under load costs
no request. nginx runs with the upstream/server block quoted in
docs/deployment.md ("Behind a load balancer"), read from the doc so that the
doc and the test cannot drift apart."""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import pg_server
import redis_server
from harness import ROOT, Server, run, wait_for

APP = os.path.join(ROOT, "spec", "e2e", "apps", "scaleout.lua")
DOC = os.path.join(ROOT, "docs", "deployment.md")
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
GRACE = 5


def missing():
    if NGINX is None:
        return "nginx is not installed (.ci/setup.sh installs Debian's nginx)"
    return pg_server.MISSING or redis_server.MISSING


def doc_nginx_block():
    """The ```nginx block of the doc's "Behind a load balancer" section."""
    with open(DOC) as f:
        text = f.read()
    section = text.split("## Behind a load balancer", 1)[1].split("\n## ", 1)[0]
    m = re.search(r"^```nginx\n(.*?)^```\s*$", section, re.M | re.S)
    assert m, "no nginx block in the doc's Behind a load balancer section"
    return m.group(1)


class Nginx:
    """nginx with the doc's block, on a free port, every file it writes in a
    temporary folder (no /var/log, no /run): -p prefix, -e error log, and a
    main config of the test's own around the doc's block."""

    def __init__(self, upstream_ports):
        self.dir = tempfile.mkdtemp(prefix="crater-nginx-")
        # nginx's workers run as nobody when it is started as root; they must
        # reach the temp folders below.
        os.chmod(self.dir, 0o755)
        self.port = pg_server.free_port()
        block = doc_nginx_block()
        for doc_port, port in zip(("127.0.0.1:8081", "127.0.0.1:8082"), upstream_ports):
            assert doc_port in block, doc_port
            block = block.replace(doc_port, "127.0.0.1:%d" % port)
        assert "listen 8080;" in block
        block = block.replace("listen 8080;", "listen 127.0.0.1:%d;" % self.port)
        with open(os.path.join(self.dir, "crater.conf"), "w") as f:
            f.write(block)
        d = self.dir
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write("""worker_processes 1;
error_log {d}/error.log info;
pid {d}/nginx.pid;
events {{ worker_connections 512; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/crater.conf;
}}
""".format(d=d))
        self.proc = subprocess.Popen([NGINX, "-p", d, "-e", os.path.join(d, "error.log"),
                                      "-c", os.path.join(d, "nginx.conf"), "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        ok = wait_for(lambda: self.proc.poll() is not None or self._answers(), timeout=10)
        if self.proc.poll() is not None or not ok:
            raise AssertionError("nginx did not start:\n" + self.log())

    def _answers(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            c.request("GET", "/whoami")
            c.getresponse().read()
            c.close()
            return True
        except OSError:
            return False

    def log(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # nginx's graceful stop
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def call(port, method, path, body=None, headers=None, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        hdrs = dict(headers or {})
        if body is not None:
            body = json.dumps(body)
            hdrs["Content-Type"] = "application/json"
        c.request(method, path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
    finally:
        if conn is None:
            c.close()


@unittest.skipIf(missing(), missing())
class ScaleOut(unittest.TestCase):
    def setUp(self):
        self.pg = pg_server.PgServer()
        self.addCleanup(self.pg.close)
        self.redis = redis_server.RedisServer()
        self.addCleanup(self.redis.stop)
        env = {"DATABASE_URL": self.pg.url, "REDIS_URL": self.redis.url()}
        # One after the other: the first creates the table while it loads.
        self.a = Server(APP, "--grace", "%ds" % GRACE, env={**env, "INSTANCE": "A"})
        self.addCleanup(self.a.__exit__)
        self.b = Server(APP, "--grace", "%ds" % GRACE, env={**env, "INSTANCE": "B"})
        self.addCleanup(self.b.__exit__)
        self.nginx = Nginx((self.a.port, self.b.port))
        self.addCleanup(self.nginx.stop)

    def test_session_made_on_one_instance_is_read_on_the_other(self):
        # Directly: made on A, read on B.
        st, _, body = call(self.a.port, "POST", "/login", {"name": "ada"})
        self.assertEqual(st, 201, body)
        made = json.loads(body)
        self.assertEqual(made["instance"], "A")
        st, _, body = call(self.b.port, "GET", "/me", headers={"X-Session": made["sid"]})
        self.assertEqual(st, 200, body)
        me = json.loads(body)
        self.assertEqual((me["instance"], me["user"]["name"], me["user"]["created_by"]), ("B", "ada", "A"))
        self.assertTrue(0 < me["ttl"] <= 3600, me)

        # Through nginx, with the cookie: round robin lands on both instances
        # and each reads the session, whichever made it.
        st, hdrs, body = call(self.nginx.port, "POST", "/login", {"name": "grace"})
        self.assertEqual(st, 201, body)
        cookie = hdrs["set-cookie"].split(";", 1)[0]
        seen = set()
        for _ in range(8):
            st, _, body = call(self.nginx.port, "GET", "/me", headers={"Cookie": cookie})
            self.assertEqual(st, 200, body)
            me = json.loads(body)
            self.assertEqual(me["user"]["name"], "grace")
            seen.add(me["instance"])
        self.assertEqual(seen, {"A", "B"})

        st, _, body = call(self.nginx.port, "GET", "/me", headers={"X-Session": "nope"})
        self.assertEqual(st, 401, body)

    def test_sigterm_under_load_fails_no_request(self):
        st, _, body = call(self.nginx.port, "POST", "/login", {"name": "load"})
        self.assertEqual(st, 201, body)
        sid = json.loads(body)["sid"]

        stop = threading.Event()
        lock = threading.Lock()
        results = []  # (started, ended, path, status, instance or error)
        paths = ["/me", "/whoami", "/slow?ms=100", "/me"]

        def client(n):
            conn = http.client.HTTPConnection("127.0.0.1", self.nginx.port, timeout=20)
            i = n
            while not stop.is_set():
                path = paths[i % len(paths)]
                i += 1
                t0 = time.time()
                try:
                    st, _, body = call(self.nginx.port, "GET", path, headers={"X-Session": sid}, conn=conn)
                    res = (t0, time.time(), path, st, json.loads(body).get("instance") if st == 200 else body)
                except Exception as e:  # a failed request: recorded, and a new connection
                    res = (t0, time.time(), path, None, repr(e))
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.nginx.port, timeout=20)
                with lock:
                    results.append(res)
            conn.close()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        slow = None
        try:
            time.sleep(1.5)
            with lock:
                before = len(results)
            # One request surely in flight on A at SIGTERM (sent to it
            # directly): it must be answered, by A.
            direct = {}

            def slow_on_a():
                try:
                    direct["res"] = call(self.a.port, "GET", "/slow?ms=500&tag=direct")
                except Exception as e:
                    direct["res"] = (None, None, repr(e))

            slow = threading.Thread(target=slow_on_a)
            slow.start()
            # A has it (a request still in A's accept queue when A closes
            # its listener would be reset): polled, not slept for.
            self.assertTrue(wait_for(lambda: "slow started: direct" in self.a.log(), timeout=10),
                            self.a.log())
            self.a.proc.send_signal(signal.SIGTERM)
            t_term = time.time()
            code = self.a.proc.wait(timeout=GRACE + 5)
            t_exit = time.time()
            time.sleep(2)
        finally:
            stop.set()
            if slow:
                slow.join(30)
            for t in threads:
                t.join(30)
        self.a.check_sanitizers()

        failed = [r for r in results if r[3] != 200]
        after = [r for r in results if r[0] > t_exit]
        served_a_before = sum(1 for r in results if r[1] < t_term and r[4] == "A")
        # In flight across the SIGTERM and answered by A: draining finished them.
        drained = [r for r in results if r[0] < t_term < r[1] and r[4] == "A"]
        print("\nscaleout: %d requests (%d before SIGTERM), %d failed; A exited %s in %.2f s; "
              "%d requests in flight at SIGTERM finished by A, %d after A exited"
              % (len(results), before, len(failed), code, t_exit - t_term, len(drained), len(after)))
        self.assertEqual(failed, [], "failed requests; nginx log:\n" + self.nginx.log())
        self.assertEqual(code, 0, self.a.log())
        self.assertLess(t_exit - t_term, GRACE + 1)
        self.assertGreater(served_a_before, 0, "A served nothing before SIGTERM")
        st, _, body = direct["res"]
        self.assertEqual((st, json.loads(body)["instance"] if st == 200 else body), (200, "A"))
        self.assertGreater(len(after), 0)
        self.assertEqual({r[4] for r in after}, {"B"})


if __name__ == "__main__":
    run()
