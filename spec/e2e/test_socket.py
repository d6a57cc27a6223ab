"""Cosockets (crater.socket.tcp): connect, send, receive, receiveuntil,
timeouts, errors, unix sockets, name resolution, keep-alive pools, ownership
by the request, disconnects, spawned threads, streams and reloads, against
fixture servers this file starts on free ports."""
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

from harness import ROOT, Server, read_response, run, wait_for

APP = os.path.join(ROOT, "spec", "e2e", "apps", "socket.lua")


# --- fixtures ---------------------------------------------------------------------

class Fixture:
    """A server on a free loopback port (or a unix socket) running handler(fx,
    conn, number) in a thread per connection; counts connections accepted and
    connections that ended (the handler returned: the peer closed, or the
    handler closed)."""

    def __init__(self, handler, unix_path=None):
        self.handler = handler
        self.accepted = 0
        self.ended = 0
        self.lock = threading.Lock()
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
        else:
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(64)
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                n = self.accepted
            threading.Thread(target=self.serve, args=(conn, n), daemon=True).start()

    def serve(self, conn, n):
        try:
            self.handler(self, conn, n)
        except OSError:
            pass
        finally:
            conn.close()
            with self.lock:
                self.ended += 1

    def wait_ended(self, count, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.ended >= count:
                return True
            time.sleep(0.01)
        return False

    def close(self):
        self.sock.close()


def echo(fx, conn, n):
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


def silent(fx, conn, n):
    """Reads everything, answers nothing."""
    while conn.recv(65536):
        pass


def sink(fx, conn, n):
    """Never reads: a sender fills the buffers and waits."""
    time.sleep(5)


def midclose(fx, conn, n):
    conn.recv(100)
    conn.sendall(b"partial")


def reset(fx, conn, n):
    conn.recv(100)
    conn.sendall(b"partial")
    time.sleep(0.05)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def lines(fx, conn, n):
    """Answers each line with "<connection number>:<line>"; "LATER ms" is
    answered "OK", then, ms later, by a line nobody asked for."""
    f = conn.makefile("rb")
    for raw in f:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("LATER "):
            conn.sendall(b"OK\r\n")
            time.sleep(int(line.split()[1]) / 1000)
            conn.sendall(b"surprise\r\n")
        else:
            conn.sendall(("%d:%s\r\n" % (n, line)).encode())


def slow_lines(fx, conn, n):
    f = conn.makefile("rb")
    for raw in f:
        time.sleep(0.3)
        conn.sendall(b"slow " + raw)


def ticker(fx, conn, n):
    for i in range(1, 4):
        conn.sendall(b"tick %d\n" % i)
        time.sleep(0.05)


def pieces(payload, size):
    def handler(fx, conn, n):
        for i in range(0, len(payload), size):
            conn.sendall(payload[i:i + size])
            time.sleep(0.002)
    return handler


def make_ca(d):
    """A CA and a certificate it signed for localhost and 127.0.0.1, made with
    the openssl command; returns (ca.crt, server.crt, server.key)."""
    def sh(*argv):
        subprocess.run(["openssl", *argv], cwd=d, check=True, capture_output=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    sh("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
       "-subj", "/CN=Crater Test CA", "-addext", "basicConstraints=critical,CA:TRUE",
       "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    sh("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    sh("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
       "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")
    return tuple(os.path.join(d, f) for f in ("ca.crt", "server.crt", "server.key"))


def tls_lines(cert, key):
    """A TLS server answering each line with "tls: <line>"; records the SNI
    names it was given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    names = []
    ctx.sni_callback = lambda sock, name, c: names.append(name) and None

    def handler(fx, conn, n):
        fx.sni = names
        try:
            conn = ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with conn, conn.makefile("rb") as f:
            for raw in f:
                conn.sendall(b"tls: " + raw.rstrip(b"\r\n") + b"\n")
    return handler


UNTIL = b"part one--BOUNDARY--abcdefgh--BOUNDARY--line\r\nrest--BOUNDARY--"
ALL = bytes(range(256)) * 1024


class Socket(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="crater-sock-")
        cls.ca, cert, key = make_ca(cls.dir)
        cls.fx = {
            "tls": Fixture(tls_lines(cert, key)),
            "echo": Fixture(echo),
            "silent": Fixture(silent),
            "sink": Fixture(sink),
            "midclose": Fixture(midclose),
            "reset": Fixture(reset),
            "lines": Fixture(lines),
            "slow": Fixture(slow_lines),
            "ticker": Fixture(ticker),
            "until": Fixture(pieces(UNTIL, 5)),
            "all": Fixture(pieces(ALL, 7000)),
            "unix": Fixture(echo, unix_path=os.path.join(cls.dir, "echo.sock")),
        }
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0
        for f in cls.fx.values():
            f.close()
        shutil.rmtree(cls.dir)

    def port(self, name):
        return self.fx[name].port

    def own(self, handler=lines):
        """A fixture of the test's own, for a test that counts the connections
        that end: a connection another test left closing cannot count."""
        fx = Fixture(handler)
        self.addCleanup(fx.close)
        return fx

    def get(self, route, **query):
        if query:
            route += "?" + urllib.parse.urlencode(query)
        st, h, body = self.srv.get(route, timeout=20)
        return st, body.decode()

    def ok(self, route, **query):
        st, body = self.get(route, **query)
        self.assertEqual(st, 200, body)
        return body

    # --- the basics -------------------------------------------------------------------

    def test_send_receive_close(self):
        body = self.ok("/echo", port=self.port("echo"))
        self.assertEqual(body.split("\n"), [
            "10",           # send of a table: "hello", " ", 42, "\r\n"
            "hello 42",     # "*l" (the default) without "\r\n"
            "7",
            "ab",           # receive(2)
            "c",            # "*l" without "\n"
            "",             # receive(0)
            "xyz",
            "1",            # close
            "nil|closed",   # close again
            "nil|closed",   # send after close
        ])

    def test_big_round_trip(self):
        n = 3 * 1024 * 1024
        self.assertEqual(self.ok("/echo-big", port=self.port("echo"), n=n), "%d|true|nil" % n)

    def test_not_connected(self):
        self.assertEqual(self.ok("/not-connected").split("\n"), [
            "nil|not connected", "nil|not connected", "nil|not connected", "nil|not connected",
            "crater.socket.tcp"])

    def test_connection_refused(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
        s.close()  # nobody listens there now
        self.assertEqual(self.ok("/refused", port=free), "nil|connection refused\nnil|not connected")

    def test_name_resolution(self):
        # "localhost" may resolve to ::1 first: the next address is tried.
        self.assertEqual(self.ok("/resolve", host="localhost", port=self.port("echo")),
                         "1|via name")
        body = self.ok("/resolve", host="no-such-host.invalid", port=80)
        self.assertTrue(body.startswith("nil|no resolver answer"), body)

    def test_unix_socket(self):
        path = os.path.join(self.dir, "echo.sock")
        self.assertEqual(self.ok("/unix", path=path), "1|over unix|0")
        self.assertEqual(self.ok("/unix", path=path), "1|over unix|1")  # pooled by path
        body = self.ok("/unix", path=os.path.join(self.dir, "none.sock"))
        self.assertEqual(body, "nil|no such file or directory")

    # --- timeouts and errors ------------------------------------------------------------

    def test_read_timeout_keeps_the_socket(self):
        self.assertEqual(self.ok("/read-timeout", port=self.port("silent")).split("\n"), [
            "nil|timeout|", "12", "nil|timeout|", "1"])

    def test_send_timeout_closes(self):
        self.assertEqual(self.ok("/send-timeout", port=self.port("sink")).split("\n"), [
            "nil|timeout", "nil|closed"])

    def test_connect_timeout(self):
        # A listener that never accepts, its queue full: SYNs are dropped.
        full = socket.socket()
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        fillers = []
        try:
            for _ in range(4):
                c = socket.socket()
                c.setblocking(False)
                c.connect_ex(full.getsockname())
                fillers.append(c)
            time.sleep(0.1)
            self.assertEqual(self.ok("/connect-timeout", port=full.getsockname()[1]), "nil|timeout")
        finally:
            for c in fillers:
                c.close()
            full.close()

    def test_peer_closes_midway(self):
        self.assertEqual(self.ok("/midclose", port=self.port("midclose")).split("\n"), [
            "nil|closed|partial", "nil|closed", "nil|closed"])

    def test_peer_resets(self):
        self.assertEqual(self.ok("/midclose", port=self.port("reset")).split("\n"), [
            "nil|connection reset|partial", "nil|closed", "nil|closed"])

    def test_receive_all(self):
        self.assertEqual(self.ok("/all", port=self.port("all")).split("\n"), [
            "%d|%d" % (len(ALL), sum(ALL)), "|0"])  # then "" at the end

    def test_receiveuntil_across_reads(self):
        # Sent 5 bytes at a time: the boundary spans reads.
        self.assertEqual(self.ok("/until", port=self.port("until")).split("\n"), [
            "part one", "abc,def,gh,nil", "line<CRLF>", "rest", "nil|closed|"])

    def test_argument_errors_raise(self):
        lines_ = self.ok("/bad-args").split("\n")
        self.assertEqual(len(lines_), 7)
        for l in lines_:
            self.assertTrue(l.startswith("false|"), l)
        self.assertIn("port must be an integer", lines_[0])
        self.assertIn("takes no port", lines_[1])
        self.assertIn("a number of bytes", lines_[2])
        self.assertIn("non-empty string", lines_[3])
        self.assertIn("milliseconds", lines_[4])
        self.assertIn("string or an array", lines_[5])
        self.assertIn("item 1 of the table is a table", lines_[6])
        self.assertIn("apps/socket.lua:", self.ok("/bad-args").split("\n")[0])  # the caller's line

    def test_waiting_inside_an_app_coroutine_raises(self):
        body = self.ok("/in-coroutine", port=self.port("echo"))
        self.assertTrue(body.startswith("false|"), body)
        self.assertIn("crater.spawn", body)

    # --- pools ------------------------------------------------------------------------

    def test_pool_reuse_counted(self):
        lp = self.port("lines")
        first = self.ok("/pool", port=lp, pool="reuse").split("|")
        self.assertEqual(first[1:], ["0", "1"])
        conn = first[0].split(":")[0]
        for i in range(1, 4):
            again = self.ok("/pool", port=lp, pool="reuse").split("|")
            self.assertEqual(again, ["%s:hi" % conn, str(i), "1"])

    def test_pool_size_evicts_least_recently_used(self):
        fx = self.own()
        lp = fx.port
        ended = fx.ended
        first = [l.split("|") for l in self.ok("/pool-many", port=lp, n=3, size=2).split("\n")]
        ids = [l[0].split(":")[0] for l in first]
        self.assertEqual([l[1] for l in first], ["0", "0", "0"])
        self.assertTrue(fx.wait_ended(ended + 1))  # the first put back is evicted
        time.sleep(0.1)
        self.assertEqual(fx.ended, ended + 1)
        second = [l.split("|") for l in self.ok("/pool-many", port=lp, n=3, size=2).split("\n")]
        # most recently put back first: the third, then the second; then a new one
        self.assertEqual([l[0].split(":")[0] for l in second[:2]], [ids[2], ids[1]])
        self.assertEqual([l[1] for l in second], ["1", "1", "0"])
        self.assertNotIn(second[2][0].split(":")[0], ids)

    def test_pooled_connection_closed_when_the_peer_talks(self):
        fx = self.own()
        lp = fx.port
        ended = fx.ended
        body = self.ok("/pool-then-talk", port=lp)
        self.assertEqual(body, "OK|1")
        # The fixture writes 1 s later: the idle connection is closed.
        self.assertTrue(fx.wait_ended(ended + 1))

    def test_pooled_connection_idle_timeout(self):
        fx = self.own()
        lp = fx.port
        ended = fx.ended
        first = self.ok("/pool", port=lp, pool="idle", idle=100).split("|")
        self.assertEqual(first[1:], ["0", "1"])
        self.assertTrue(fx.wait_ended(ended + 1))  # closed after 100 ms idle, however slow the machine
        again = self.ok("/pool", port=lp, pool="idle").split("|")
        self.assertEqual(again[1], "0")
        self.assertNotEqual(again[0], first[0])

    def test_keepalive_with_unread_data_closes(self):
        self.assertEqual(self.ok("/keepalive-unread", port=self.port("echo")),
                         "ab|nil|unread data\nnil|closed")

    def test_backlog_hands_over_a_connection(self):
        la, rb, rc = self.ok("/backlog", port=self.port("lines")).split("\n")
        conn = la.split(":")[0]
        self.assertEqual(rb, "%s:b|1" % conn)  # the same connection, reused
        self.assertEqual(rc, "nil|too many waiters")

    def test_backlog_wait_times_out(self):
        self.assertEqual(self.ok("/backlog-timeout", port=self.port("lines")), "nil|timeout\n1")

    def test_reload_drains_old_pools(self):
        srv = Server(APP)
        try:
            lp = self.port("lines")
            fx = self.fx["lines"]
            first = srv.get("/pool?port=%d&pool=rl" % lp)[2].decode().split("|")
            self.assertEqual(first[1:], ["0", "1"])
            ended = fx.ended
            srv.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while "reloaded" not in srv.log() and time.time() < deadline:
                time.sleep(0.02)
            self.assertTrue(fx.wait_ended(ended + 1), srv.log())  # the old generation's idle one
            again = srv.get("/pool?port=%d&pool=rl" % lp)[2].decode().split("|")
            self.assertEqual(again[1], "0")  # a new connection for the new generation
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_shutdown_while_waiting_and_pooled(self):
        # A request waits on a socket, another connection sits in a pool: a
        # SIGTERM with a short grace period aborts the one (its socket closes)
        # and closes the other; the server exits cleanly.
        srv = Server(APP, "--grace", "300ms")
        fx, lines_fx = self.fx["silent"], self.fx["lines"]
        ended = fx.ended
        try:
            self.assertEqual(srv.get("/pool?port=%d&pool=bye" % self.port("lines"))[0], 200)
            lines_ended = lines_fx.ended
            s = srv.connect()
            accepted = fx.accepted
            s.sendall(b"GET /wait-long?port=%d HTTP/1.1\r\nHost: x\r\n\r\n" % self.port("silent"))
            self.assertTrue(wait_for(lambda: fx.accepted > accepted, 10))  # the handler waits on it
            t0 = time.time()
            self.assertEqual(srv.stop(), 0)
            self.assertLess(time.time() - t0, 5)
            self.assertTrue(fx.wait_ended(ended + 1))
            self.assertTrue(lines_fx.wait_ended(lines_ended + 1))
            s.close()
        finally:
            srv.stop()

    # --- ownership and the request's end -----------------------------------------------

    def test_socket_of_another_request(self):
        results = {}
        t = threading.Thread(target=lambda: results.setdefault("hold", self.ok("/hold", s=2)))
        t.start()
        # once /hold made its socket (before that, /use-kept has none: 500)
        got = []
        self.assertTrue(wait_for(lambda: got.append(self.get("/use-kept")) or got[-1][0] == 200, 10), got)
        body = got[-1][1]
        self.assertTrue(body.startswith("false|"), body)
        self.assertIn("belongs to another request", body)
        t.join()
        self.assertEqual(results["hold"], "held")
        body = self.ok("/use-kept")
        self.assertIn("the request that made this socket has ended", body)
        st, body = self.get("/use-kept-raw")
        self.assertEqual(st, 500)
        self.assertIn("the request that made this socket has ended", self.srv.log())

    def test_request_end_closes_its_sockets(self):
        fx = self.fx["echo"]
        ended = fx.ended
        self.assertEqual(self.ok("/leave-open", port=self.port("echo")), "left")
        self.assertTrue(fx.wait_ended(ended + 1))

    def test_client_gone_while_waiting(self):
        fx = self.fx["silent"]
        ended = fx.ended
        accepted = fx.accepted
        for i in range(3):
            s = self.srv.connect()
            s.sendall(b"GET /wait-long?port=%d HTTP/1.1\r\nHost: x\r\n\r\n" % self.port("silent"))
            self.assertTrue(wait_for(lambda: fx.accepted >= accepted + i + 1, 10))  # the handler waits
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # a reset: the request is aborted
        self.assertTrue(fx.wait_ended(ended + 3))  # each handler's socket was closed
        self.assertEqual(self.ok("/not-connected").split("\n")[0], "nil|not connected")

    def test_busy_and_kill(self):
        self.assertEqual(self.ok("/busy", port=self.port("silent")).split("\n"), [
            "nil|busy", "nil|busy", "nil|busy", "true", "nil|closed"])

    # --- where a wait may be ---------------------------------------------------------------

    def test_spawned_threads_in_parallel(self):
        res, took = self.ok("/parallel", port=self.port("slow"), n=4).split("\n")
        self.assertEqual(res, "slow t1|slow t2|slow t3|slow t4")
        self.assertLess(float(took), 1.0)  # 0.3 s each, at once

    def test_pcall_and_before_hook(self):
        self.assertEqual(self.ok("/pcall", port=self.port("echo")), "true|9|true|in pcall")
        st, h, body = self.srv.get("/hooked", headers={"X-Hook-Port": str(self.port("echo"))})
        self.assertEqual((st, body), (200, b"from hook"))

    def test_error_handler_and_after_hook(self):
        st, body = self.get("/teapot", port=self.port("echo"))
        self.assertEqual((st, body), (418, "teapot short and stout"))
        st, h, body = self.srv.get("/hooked?after_port=%d" % self.port("echo"))
        self.assertEqual((st, h.get("x-after")), (200, "after"))

    def test_stream_interleaves_reads_and_writes(self):
        s = self.srv.connect()
        s.sendall(b"GET /stream?port=%d HTTP/1.1\r\nHost: x\r\n\r\n" % self.port("ticker"))
        st, h, body = read_response(s.makefile("rb"))
        s.close()
        self.assertEqual(st, 200)
        self.assertEqual(body, b"tick 1\ntick 2\ntick 3\nend: closed\n")

    # --- TLS ------------------------------------------------------------------------------

    def tls(self, **q):
        return self.ok("/tls", port=self.port("tls"), **q)

    def test_tls_handshake_with_a_ca_file(self):
        self.assertEqual(self.tls(name="localhost", cafile=self.ca, pool="tls-ca"),
                         "true|tls: secret|0|1")
        self.assertIn("localhost", self.fx["tls"].sni)  # SNI
        # From the pool: TLS already, no handshake.
        self.assertEqual(self.tls(name="localhost", cafile=self.ca, pool="tls-ca"),
                         "true|tls: secret|1|1")

    def test_tls_big_round_trip(self):
        n = 1024 * 1024
        self.assertEqual(self.tls(name="localhost", cafile=self.ca, pool="tls-big", n=n),
                         "true|echoed %d|0|1" % n)

    def test_tls_verify_fails_without_the_ca(self):
        body = self.tls(name="localhost", pool="tls-noca")
        self.assertTrue(body.startswith("nil|certificate verify failed: "), body)
        self.assertTrue(body.endswith("|nil|not connected") or body.endswith("|nil|closed"), body)
        # verify = false: anything goes
        self.assertEqual(self.tls(name="localhost", verify="0", pool="tls-noverify"),
                         "true|tls: secret|0|1")

    def test_tls_server_name_must_match(self):
        body = self.tls(name="other.example", cafile=self.ca, pool="tls-name")
        self.assertEqual(body, "nil|certificate verify failed: hostname mismatch|nil|closed")
        # An address is checked against the certificate's IP names (no SNI).
        self.assertEqual(self.tls(name="127.0.0.1", cafile=self.ca, pool="tls-ip"),
                         "true|tls: secret|0|1")
        self.assertEqual(self.tls(cafile=self.ca, pool="tls-noname"), "true|tls: secret|0|1")

    def test_tls_pooled_connection_takes_session_tickets(self):
        # Handshake, then straight into the pool: the server's TLS 1.3
        # session tickets arrive while it is idle, and are no reason to close.
        self.assertEqual(self.tls(name="localhost", cafile=self.ca, pool="tls-idle", idle=1),
                         "true|0|1")
        time.sleep(0.2)
        self.assertEqual(self.tls(name="localhost", cafile=self.ca, pool="tls-idle"),
                         "true|tls: secret|1|1")

    def test_tls_handshake_errors(self):
        body = self.ok("/tls", port=self.port("echo"), name="localhost", cafile=self.ca)
        self.assertTrue(body.startswith("nil|handshake failed: "), body)
        body = self.ok("/tls", port=self.port("silent"), timeout=100)
        self.assertEqual(body, "nil|timeout|nil|closed")
        body = self.ok("/tls", port=self.port("tls"), cafile=os.path.join(self.dir, "none.crt"))
        self.assertTrue(body.startswith("nil|cafile: "), body)


if __name__ == "__main__":
    run()
