"""How crater.pg connects, against real PostgreSQL 15 servers this file
starts (pg_server.py): TLS (sslmode require, verify-full with the
throwaway CA, a wrong root certificate, a server that refuses clients
without TLS), the PG* environment and a password file when the app names
no URL, several hosts in one URL (the first one down or not resolving),
target_session_attrs, and unix sockets. Every case goes through the real
binary over a real socket (spec/e2e/apps/pg_connect.lua). Skipped when
PostgreSQL is not installed (.ci/setup.sh installs it)."""
import json
import os
import shutil
import socket
import struct
import tempfile
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import ROOT, Server, run, wait_for
from pg_server import DATABASE, MISSING, PASSWORD, USER, PgServer, free_port, make_ca

APP = os.path.join(ROOT, "spec", "e2e", "apps", "pg_connect.lua")
# libpq reads these whenever the app names no value: only the tests set them
ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGPASSFILE", "PGSSLMODE",
       "PGSSLROOTCERT", "PGSERVICE", "PGSERVICEFILE", "PGTARGETSESSIONATTRS", "PGOPTIONS")
for _name in ENV:
    os.environ.pop(_name, None)
AUTH = "%s:%s" % (USER, PASSWORD)


def setUpModule():
    global PLAIN, TLS, APPSRV, TMP
    if MISSING:
        return
    PLAIN = PgServer()
    TLS = PgServer(ssl=True, hostssl_only=True)
    # reported to libpq at the start of each session: target_session_attrs sees it
    TLS.psql("ALTER DATABASE %s SET default_transaction_read_only = on" % DATABASE, db="postgres")
    TMP = tempfile.mkdtemp(prefix="crater-pgc-")
    APPSRV = Server(APP)


def tearDownModule():
    if MISSING:
        return
    try:
        APPSRV.stop()
    finally:
        PLAIN.close()
        TLS.close()
        shutil.rmtree(TMP, ignore_errors=True)


class Base(unittest.TestCase):
    srv = None

    def connect(self, status=200, srv=None, **body):
        st, hdrs, data = (srv or APPSRV).request("POST", "/connect", body=body, timeout=20)
        self.assertEqual(st, status, data)
        return hdrs, json.loads(data)

    def row(self, srv=None, **body):
        return self.connect(srv=srv, **body)[1]["rows"][0]

    def error(self, srv=None, **body):
        e = self.connect(400, srv=srv, **body)[1]
        self.assertEqual(e["code"], "08001", e)
        return e["message"]

    def still_serving(self):
        self.assertEqual(APPSRV.request("GET", "/ping")[0], 200)
        self.assertEqual(self.row(url=PLAIN.url)["who"], USER)


@unittest.skipIf(MISSING, MISSING)
class Tls(Base):
    def url(self, host="127.0.0.1", **params):
        q = "&".join("%s=%s" % kv for kv in params.items())
        return "postgres://%s@%s:%d/%s%s" % (AUTH, host, TLS.port, DATABASE, "?" + q if q else "")

    def test_require_encrypts(self):
        r = self.row(url=self.url(sslmode="require"))
        self.assertEqual((r["ssl"], r["port"], r["who"]), (True, TLS.port, USER))
        # libpq's default (prefer) takes TLS when the server offers it
        self.assertTrue(self.row(url=self.url())["ssl"])
        # the table form
        r = self.row(opts={"host": "localhost", "port": TLS.port, "user": USER, "password": PASSWORD,
                                     "database": DATABASE, "sslmode": "verify-full", "sslrootcert": TLS.ca})
        self.assertTrue(r["ssl"])

    def test_verify_full_with_the_ca(self):
        # a host name: looked up first, and still the name the certificate is checked against
        r = self.row(url=self.url("localhost", sslmode="verify-full", sslrootcert=TLS.ca))
        self.assertTrue(r["ssl"])
        r = self.row(url=self.url("127.0.0.1", sslmode="verify-full", sslrootcert=TLS.ca))
        self.assertTrue(r["ssl"])

    def test_a_wrong_root_certificate_is_a_clear_error(self):
        wrong, _ = make_ca(TMP, "wrong")
        url = self.url("localhost", sslmode="verify-full", sslrootcert=wrong)
        msg = self.error(url=url)
        self.assertIn("cannot connect", msg)
        self.assertIn("certificate verify failed", msg)
        # libpq is handed the address; the message names the host beside it
        self.assertIn('connection to server at "localhost" (127.0.0.1), port %d failed' % TLS.port, msg)
        # uncaught: a problem+json 500, the server goes on
        hdrs, body = self.connect(500, url=url, **{"raise": True})
        self.assertEqual(hdrs["content-type"], "application/problem+json")
        self.assertEqual(body["status"], 500)
        self.still_serving()
        # verify-ca: the same check without the name
        self.assertIn("certificate verify failed", self.error(url=self.url(sslmode="verify-ca", sslrootcert=wrong)))
        self.assertTrue(self.row(url=self.url(sslmode="verify-ca", sslrootcert=TLS.ca))["ssl"])

    def test_no_tls_against_a_server_that_requires_it(self):
        msg = self.error(url=self.url(sslmode="disable"))
        self.assertIn("no pg_hba.conf entry", msg)
        self.assertIn("no encryption", msg)
        self.still_serving()

    def test_allow_retries_with_tls_on_a_new_socket(self):
        # without TLS first, refused, then again with TLS: libpq replaces its
        # socket mid-connect (often under the same number)
        for _ in range(3):
            self.assertTrue(self.row(url=self.url("localhost", sslmode="allow"))["ssl"])


@unittest.skipIf(MISSING, MISSING)
class MultiHost(Base):
    def test_the_first_host_down(self):
        closed = free_port()
        for hosts in ("127.0.0.1:%d,127.0.0.1:%d" % (closed, PLAIN.port),
                      "localhost:%d,localhost:%d" % (closed, PLAIN.port),
                      "no-such-host.invalid:%d,localhost:%d" % (closed, PLAIN.port)):
            with self.subTest(hosts=hosts):
                r = self.row(url="postgres://%s@%s/%s" % (AUTH, hosts, DATABASE))
                self.assertEqual(r["port"], PLAIN.port)
        # libpq's key=value form, one port for every host (127.0.0.2 has no server)
        r = self.row(url="host=127.0.0.2,localhost port=%d user=%s password=%s dbname=%s"
                     % (PLAIN.port, USER, PASSWORD, DATABASE))
        self.assertEqual(r["port"], PLAIN.port)

    def test_many_connects_at_once(self):
        # a pool of 8 opening its connections together, each through a lookup
        # and a refused first host
        url = "postgres://%s@localhost:%d,localhost:%d/%s" % (AUTH, free_port(), PLAIN.port, DATABASE)
        with ThreadPoolExecutor(16) as ex:
            rows = list(ex.map(lambda i: self.row(url=url, opts={"pool_size": 8},
                                                  sql="SELECT %d AS n, pg_sleep(0.05)::text AS s" % i), range(48)))
        self.assertEqual([r["n"] for r in rows], list(range(48)))

    def test_every_host_down(self):
        closed = free_port()
        msg = self.error(url="postgres://%s@localhost:%d,no-such-host.invalid:5432/%s" % (AUTH, closed, DATABASE))
        self.assertIn("cannot connect", msg)
        self.assertIn("Connection refused", msg)
        self.assertIn("no-such-host.invalid", msg)
        msg = self.error(url="postgres://%s@no-such-host.invalid:1,other.invalid:2/%s" % (AUTH, DATABASE))
        self.assertIn("cannot resolve no-such-host.invalid", msg)
        # ports that do not match the hosts: libpq's own error, before any lookup
        msg = self.error(url="host=localhost,localhost port=1,2,3 user=x")
        self.assertIn("could not match 3 port numbers to 2 hosts", msg)
        self.still_serving()

    def test_target_session_attrs(self):
        # TLS's database is read-only: read-write skips it for the next host
        hosts = "localhost:%d,localhost:%d" % (TLS.port, PLAIN.port)
        url = "postgres://%s@%s/%s" % (AUTH, hosts, DATABASE)
        self.assertEqual(self.row(url=url)["port"], TLS.port)
        self.assertEqual(self.row(url=url + "?target_session_attrs=read-write")["port"], PLAIN.port)
        self.assertEqual(self.row(url=url + "?target_session_attrs=read-only")["port"], TLS.port)
        msg = self.error(url="postgres://%s@localhost:%d/%s?target_session_attrs=read-write" % (AUTH, TLS.port, DATABASE))
        self.assertIn("read-only", msg)


@unittest.skipIf(MISSING, MISSING)
class Abandoned(Base):
    """Connects that end without a connection: a timeout, a client gone."""

    def setUp(self):
        # accepts TCP (the kernel does) and never answers: libpq waits for
        # the reply to its TLS request
        self.mute = socket.socket()
        self.mute.bind(("127.0.0.1", 0))
        self.mute.listen(64)
        self.addCleanup(self.mute.close)
        self.mute_port = self.mute.getsockname()[1]

    def test_libpqs_connect_timeout_is_per_address(self):
        # the mute server first: given up after libpq's connect_timeout (2 s, its
        # least), then the next host
        url = "postgres://%s@127.0.0.1:%d,localhost:%d/%s?connect_timeout=2" % (
            AUTH, self.mute_port, PLAIN.port, DATABASE)
        t0 = time.time()
        r = self.row(url=url, opts={"connect_timeout": 10})
        self.assertEqual(r["port"], PLAIN.port)
        self.assertGreater(time.time() - t0, 1.5)
        msg = self.error(url="postgres://%s@127.0.0.1:%d/%s?connect_timeout=2" % (AUTH, self.mute_port, DATABASE),
                         opts={"connect_timeout": 10})
        self.assertIn('connection to server at "127.0.0.1" (127.0.0.1), port %d failed: timeout expired after 2 s'
                      % self.mute_port, msg)
        self.still_serving()

    def test_a_timeout_mid_handshake(self):
        # without libpq's connect_timeout, the first host takes the whole
        # connect_timeout: the next is not tried (docs/postgres.md)
        url = "postgres://%s@localhost:%d,localhost:%d/%s?sslmode=require" % (AUTH, self.mute_port, PLAIN.port,
                                                                              DATABASE)
        t0 = time.time()
        msg = self.error(url=url, opts={"connect_timeout": 0.5})
        self.assertIn("connecting timed out", msg)
        self.assertLess(time.time() - t0, 3)
        self.still_serving()

    def test_clients_gone_while_connecting(self):
        url = "postgres://%s@localhost:%d/%s?sslmode=require" % (AUTH, self.mute_port, DATABASE)
        body = json.dumps({"url": url, "opts": {"connect_timeout": 10}}).encode()
        before = APPSRV.log().count("went away")
        for i in range(8):
            s = APPSRV.connect()
            s.sendall(b"POST /connect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            time.sleep(0.02 * i)  # while the name is looked up, or libpq waits
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        wait_for(lambda: APPSRV.log().count("went away") >= before + 8)
        # every connection crater opened to the mute server was closed
        self.mute.settimeout(0.5)
        accepted = []
        try:
            while True:
                accepted.append(self.mute.accept()[0])
        except socket.timeout:
            pass
        for c in accepted:
            c.settimeout(5)
            while c.recv(64):
                pass  # the TLS request, then the end
            c.close()
        self.still_serving()


@unittest.skipIf(MISSING, MISSING)
class UnixSocket(Base):
    def test_socket_folders(self):
        enc = PLAIN.dir.replace("/", "%2F")
        for url in ("postgres://%s@%s:%d/%s" % (USER, enc, PLAIN.port, DATABASE),
                    "postgres:///%s?host=%s&port=%d&user=%s" % (DATABASE, PLAIN.dir, PLAIN.port, USER),
                    "host=%s port=%d user=%s dbname=%s" % (PLAIN.dir, PLAIN.port, USER, DATABASE)):
            with self.subTest(url=url):
                r = self.row(url=url)
                self.assertEqual((r["who"], r["port"]), (USER, None))  # no TCP port: a unix socket
        # a socket that is not there, then a host name
        r = self.row(url="host=/nonexistent,localhost port=%d user=%s password=%s dbname=%s"
                     % (PLAIN.port, USER, PASSWORD, DATABASE))
        self.assertEqual(r["port"], PLAIN.port)


@unittest.skipIf(MISSING, MISSING)
class Environment(Base):
    """Apps that name no URL: libpq's PG* variables and password file."""

    def env_server(self, **env):
        srv = Server(APP, env=env)
        self.addCleanup(srv.stop)
        return srv

    def check(self, srv, port=None):
        for how in ("nil", "none"):
            r = self.row(srv=srv, how=how)
            self.assertEqual((r["who"], r["db"], r["port"]), (USER, DATABASE, port), how)
        for url in ("postgres://", "postgresql:///" + DATABASE):
            r = self.row(srv=srv, how="db", url=url)
            self.assertEqual((r["who"], r["db"], r["port"]), (USER, DATABASE, port), url)

    def test_pg_variables_with_a_host_name(self):
        srv = self.env_server(PGHOST="localhost", PGPORT=str(PLAIN.port), PGUSER=USER, PGPASSWORD=PASSWORD,
                              PGDATABASE=DATABASE)
        self.check(srv, PLAIN.port)

    def test_password_file(self):
        passfile = os.path.join(TMP, "pgpass")
        with open(passfile, "w") as f:
            f.write("localhost:%d:%s:%s:%s\n" % (PLAIN.port, DATABASE, USER, PASSWORD))
        os.chmod(passfile, 0o600)  # libpq ignores a file others can read
        srv = self.env_server(PGHOST="localhost", PGPORT=str(PLAIN.port), PGUSER=USER, PGDATABASE=DATABASE,
                              PGPASSFILE=passfile)
        self.check(srv, PLAIN.port)
        # the URL's host and port find the file's line too
        r = self.row(srv=srv, url="postgres://%s@localhost:%d/%s" % (USER, PLAIN.port, DATABASE))
        self.assertEqual(r["who"], USER)

    def test_pghost_is_looked_up_by_crater(self):
        # libpq's own lookup would say "could not translate host name"
        srv = self.env_server(PGHOST="no-such-host.invalid", PGUSER=USER)
        self.assertIn("cannot resolve no-such-host.invalid", self.error(srv=srv, how="nil"))
        self.assertEqual(srv.request("GET", "/ping")[0], 200)

    def test_pg_variables_with_several_hosts_and_tls(self):
        srv = self.env_server(PGHOST="localhost,localhost", PGPORT="%d,%d" % (free_port(), TLS.port),
                              PGUSER=USER, PGPASSWORD=PASSWORD, PGDATABASE=DATABASE, PGSSLMODE="verify-full",
                              PGSSLROOTCERT=TLS.ca)
        r = self.row(srv=srv, how="none")
        self.assertEqual((r["port"], r["ssl"]), (TLS.port, True))

    def test_pg_variables_with_a_unix_socket(self):
        srv = self.env_server(PGHOST=PLAIN.dir, PGPORT=str(PLAIN.port), PGUSER=USER, PGDATABASE=DATABASE)
        self.check(srv, None)


if __name__ == "__main__":
    run()
