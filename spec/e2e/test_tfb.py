"""examples/tfb/app.lua, TechEmpower's database test types, against a
throwaway PostgreSQL 15 (pg_server.py) loaded with TFB's own tables from
../shared/bench/db/create-postgres.sql (the benchmark folder beside the
repository): the answers' shapes and values against the table, the clamping
of ?queries=, the fortunes page byte for byte, /updates persisting, and then
../shared/bench/db/check_tfb.py itself (the 29 checks the benchmark harness
runs before it measures). Skipped when PostgreSQL is not installed or when
../shared/bench/db is absent (it is not part of this repository)."""
import json
import os
import subprocess
import sys
import unittest

from harness import ROOT, Server
from pg_server import MISSING, PGBIN, PgServer, _as_postgres

APP = os.path.join(ROOT, "examples", "tfb", "app.lua")
BENCH_DB = os.path.join(os.path.dirname(ROOT), "shared", "bench", "db")
SQL = os.path.join(BENCH_DB, "create-postgres.sql")
CHECK = os.path.join(BENCH_DB, "check_tfb.py")
SHARED_MISSING = None if os.path.exists(SQL) else (
    "%s is absent: the TFB tables and checker live in ../shared/bench/db beside the repository" % SQL)

# TFB's fortunes in the order the page must list them (byte order of the
# message), with the one added at request time (id 0); unescaped here.
FORTUNES = [
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (8, "A list is only as strong as its weakest link. \u2014 Donald Knuth"),
    (0, "Additional fortune added at request time."),
    (3, "After enough decimal places, nobody gives a damn."),
    (7, "Any program that runs right is obsolete."),
    (10, "Computers make very fast, very accurate mistakes."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom Christaensen"),
    (9, "Feature: A bug with seniority."),
    (1, "fortune: No such file or directory"),
    (12, "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af"),
]


def escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


PAGE = ("<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
        "<tr><th>id</th><th>message</th></tr>"
        + "".join("<tr><td>%d</td><td>%s</td></tr>" % (i, escape(m)) for i, m in FORTUNES)
        + "</table></body></html>")


class TfbPg(PgServer):
    """PgServer plus pg_stat_statements, which check_tfb.py counts queries with
    (TFB's own postgresql.conf preloads it too)."""

    def start(self):
        opts = ("-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c max_connections=100 "
                "-c shared_preload_libraries=pg_stat_statements" % (self.dir, self.port))
        _as_postgres([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-l",
                      os.path.join(self.dir, "postgres.log"), "-w", "-t", "30", "-o", opts, "start"])


@unittest.skipIf(MISSING, MISSING)
@unittest.skipIf(SHARED_MISSING, SHARED_MISSING)
class Tfb(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = TfbPg()
        try:
            # The role the SQL file grants its tables to, and TFB's database.
            cls.pg.psql("SET password_encryption = 'scram-sha-256'; "
                        "CREATE ROLE benchmarkdbuser LOGIN PASSWORD 'benchmarkdbpass'", db="postgres")
            cls.pg.psql("CREATE DATABASE hello_world OWNER benchmarkdbuser ENCODING 'UTF8' "
                        "TEMPLATE template0", db="postgres")
            with open(SQL) as f:  # read here: the postgres OS user may not see ../shared
                _as_postgres([os.path.join(PGBIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                              "-h", cls.pg.dir, "-p", str(cls.pg.port), "-U", "postgres",
                              "-d", "hello_world", "-f", "-"], input=f.read())
            url = "postgres://benchmarkdbuser:benchmarkdbpass@127.0.0.1:%d/hello_world" % cls.pg.port
            cls.srv = Server(APP, env={"DATABASE_URL": url, "DB_POOL": "4"})
        except BaseException:
            cls.pg.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop()
        finally:
            cls.pg.close()

    def sql(self, q):
        return self.pg.psql(q, db="hello_world")

    def table(self, ids):
        out = self.sql("SELECT id, randomnumber FROM world WHERE id IN (%s)" % ",".join(map(str, ids)))
        return {int(a): int(b) for a, b in (l.split("|") for l in out.splitlines() if l)}

    def get(self, path, ctype="application/json"):
        st, h, body = self.srv.request("GET", path)
        self.assertEqual(st, 200, body)
        self.assertEqual(h.get("content-type"), ctype)
        for k in ("server", "date", "content-length"):
            self.assertIn(k, h)
        return body

    def worlds(self, path):
        items = json.loads(self.get(path))
        self.assertIsInstance(items, list)
        for o in items:
            self.assertEqual(set(o), {"id", "randomNumber"})
            self.assertTrue(1 <= o["id"] <= 10000 and 1 <= o["randomNumber"] <= 10000, o)
        return items

    def test_plaintext_and_json(self):
        self.assertEqual(self.get("/plaintext", "text/plain; charset=utf-8"), b"Hello, World!")
        self.assertEqual(json.loads(self.get("/json")), {"message": "Hello, World!"})

    def test_db_is_a_row_of_the_table(self):
        for _ in range(5):
            o = json.loads(self.get("/db"))
            self.assertEqual(set(o), {"id", "randomNumber"})
            self.assertEqual(self.table([o["id"]]), {o["id"]: o["randomNumber"]})

    def test_queries_clamped_and_from_the_table(self):
        for q, n in [("?queries=2", 2), ("?queries=0", 1), ("?queries=-5", 1), ("?queries=abc", 1),
                     ("?queries=", 1), ("", 1), ("?queries=1.5", 1), ("?queries=20", 20),
                     ("?queries=500", 500), ("?queries=501", 500), ("?queries=99999999999", 500)]:
            items = self.worlds("/queries" + q)
            self.assertEqual(len(items), n, q)
            want = self.table([o["id"] for o in items])
            for o in items:
                self.assertEqual(want[o["id"]], o["randomNumber"], q)

    def test_fortunes_page_exactly(self):
        body = self.get("/fortunes", "text/html; charset=utf-8")
        self.assertEqual(body.decode("utf-8"), PAGE)
        # the added fortune is never stored
        self.assertEqual(self.sql("SELECT count(*) FROM fortune"), "12")

    def test_updates_clamped_and_persisted(self):
        for q, n in [("?queries=0", 1), ("?queries=foo", 1), ("", 1), ("?queries=20", 20),
                     ("?queries=501", 500)]:
            before = {int(a): int(b) for a, b in (l.split("|") for l in
                      self.sql("SELECT id, randomnumber FROM world").splitlines())}
            items = self.worlds("/updates" + q)
            self.assertEqual(len(items), n, q)
            ids = [o["id"] for o in items]
            self.assertEqual(len(set(ids)), n, "each row once")
            after = {int(a): int(b) for a, b in (l.split("|") for l in
                     self.sql("SELECT id, randomnumber FROM world").splitlines())}
            for o in items:
                self.assertEqual(after[o["id"]], o["randomNumber"], q)
            changed = {i for i in after if after[i] != before[i]}
            self.assertLessEqual(changed, set(ids), "only the answered rows change")
            if n == 500:
                self.assertGreaterEqual(len(changed), 450)

    def test_reads_one_after_another(self):
        # TFB_PIPELINE=0: the same answers without db:batch (how the peers read)
        url = "postgres://benchmarkdbuser:benchmarkdbpass@127.0.0.1:%d/hello_world" % self.pg.port
        srv = Server(APP, env={"DATABASE_URL": url, "DB_POOL": "2", "TFB_PIPELINE": "0"})
        try:
            for path in ("/queries?queries=20", "/updates?queries=20"):
                st, _, body = srv.request("GET", path)
                self.assertEqual(st, 200, body)
                items = json.loads(body)
                self.assertEqual(len(items), 20)
                want = self.table([o["id"] for o in items])
                self.assertEqual({o["id"]: o["randomNumber"] for o in items}, want, path)
        finally:
            srv.stop()

    def test_zz_check_tfb(self):
        # last (zz): it resets pg_stat_statements and writes rows; the harness's own checks
        if not os.path.exists(CHECK):
            self.skipTest("%s is absent" % CHECK)
        env = {**os.environ, "PGDIR": self.pg.dir, "PGPORT": str(self.pg.port)}
        r = subprocess.run([sys.executable, CHECK, "crater", "http://127.0.0.1:%d" % self.srv.port],
                           env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = [l for l in r.stdout.splitlines() if l.strip()]
        self.assertTrue(lines and all(l.startswith("PASS\t") for l in lines), r.stdout)
        self.assertEqual(len(lines), 29, r.stdout)


if __name__ == "__main__":
    unittest.main()
