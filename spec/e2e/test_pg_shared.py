"""crater.pg with pipeline on (docs/postgres.md, "Sharing connections"):
the single queries of concurrent requests share connections, several per
round trip, against a real PostgreSQL this file starts. Every answer is the
request's own; a write is done once (refused in a shared read-only segment
without effect, then run on a connection of its own); an error stays with
its query; a timeout, terminated backends and a stale statement are
recovered from. Skipped when PostgreSQL is not installed."""
import json
import os
import random
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import ROOT, Server, wait_for
from pg_server import MISSING, PgServer

APP = os.path.join(ROOT, "spec", "e2e", "apps", "pg_shared.lua")
SCHEMA = """
CREATE TABLE items (id serial PRIMARY KEY, v int NOT NULL);
CREATE TABLE migrating (a int);
GRANT ALL ON ALL TABLES IN SCHEMA public TO crater;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO crater;
"""


@unittest.skipIf(MISSING, MISSING)
class Shared(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()
        cls.pg.psql(SCHEMA)
        cls.srv = Server(APP, env={"DATABASE_URL": cls.pg.url})

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop()
        finally:
            cls.pg.close()

    def call(self, method, path):
        st, _, body = self.srv.request(method, path, timeout=20)
        return st, json.loads(body)

    def many(self, paths, method="GET", workers=32):
        with ThreadPoolExecutor(workers) as ex:
            return list(ex.map(lambda p: self.call(method, p), paths))

    def test_every_answer_is_its_own_request_s(self):
        before = self.call("GET", "/stats")[1]["shared"]
        for _ in range(3):
            vs = [random.randrange(1, 10 ** 6) for _ in range(400)]
            res = self.many(["/echo?v=%d" % v for v in vs])
            self.assertEqual([(st, b["v"]) for st, b in res], [(200, v) for v in vs])
        stats = self.call("GET", "/stats")[1]
        self.assertLessEqual(stats["total"], 2)
        # sharing happened: queries went in segments of several
        self.assertGreater(stats["shared"], before)

    def test_writes_are_done_once(self):
        vs = list(range(1, 301))
        res = self.many(["/insert?v=%d" % v for v in vs], method="POST")
        self.assertEqual(sorted(b["v"] for _, b in res), vs)
        self.assertTrue(all(st == 200 for st, _ in res), res[:3])
        self.assertEqual(len({b["id"] for _, b in res}), 300)
        self.assertEqual(self.pg.psql("SELECT count(*), count(DISTINCT v) FROM items"), "300|300")

    def test_an_error_stays_with_its_query(self):
        ds = [0 if i % 5 == 0 else (i % 7) + 1 for i in range(300)]
        res = self.many(["/div?d=%d" % d for d in ds])
        for d, (st, b) in zip(ds, res):
            if d == 0:
                self.assertEqual((st, b["code"]), (400, "22012"))
            else:
                self.assertEqual((st, b["q"]), (200, 100 // d))

    def test_a_timeout_then_the_next_queries_work(self):
        self.assertEqual(self.call("GET", "/slow?s=0&v=1"), (200, {"v": 1}))
        paths = ["/slow?s=2&v=0"] + ["/slow?s=0&v=%d" % i for i in range(2, 10)]
        res = self.many(paths, workers=9)
        self.assertEqual(res[0][0], 400)
        self.assertEqual(res[0][1]["code"], "57014")
        for st, b in res[1:]:  # behind it on the one connection, or after it
            self.assertIn(st, (200, 400), b)
            if st == 400:
                self.assertEqual(b["code"], "57014")
        for i in range(5):
            self.assertEqual(self.call("GET", "/slow?s=0&v=%d" % i), (200, {"v": i}))

    def test_a_stuck_query_nobody_waits_for_gives_its_connection_up(self):
        self.assertEqual(self.call("GET", "/slow?s=0&v=1"), (200, {"v": 1}))
        st, b = self.call("GET", "/slow?s=30&v=2")
        self.assertEqual((st, b["code"]), (400, "57014"))
        # its connection was closed at once: the pool of one serves the next
        # query now, not when the server's sleep ends
        t = time.time()
        self.assertEqual(self.call("GET", "/slow?s=0&v=3"), (200, {"v": 3}))
        self.assertLess(time.time() - t, 10)

    def test_terminated_backends_then_recovery(self):
        vs = list(range(1, 41))
        self.many(["/echo?v=%d" % v for v in vs])
        with ThreadPoolExecutor(16) as ex:
            futs = [ex.submit(self.call, "GET", "/echo?v=%d" % (i + 1)) for i in range(600)]
            self.pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'crater'")
            res = [f.result() for f in futs]
        for i, (st, b) in enumerate(res):
            if st == 200:
                self.assertEqual(b["v"], i + 1)
            else:
                self.assertEqual(st, 400, b)
                self.assertIn(b["code"], ("08006", "57P01", "08001"), b)
        wait_for(lambda: self.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'crater' "
                                      "AND state = 'active'") == "0")
        res = self.many(["/echo?v=%d" % v for v in vs])
        self.assertEqual([(st, b["v"]) for st, b in res], [(200, v) for v in vs])

    def test_a_stale_statement_is_prepared_again(self):
        self.many(["/star"] * 40)
        self.pg.psql("ALTER TABLE migrating ADD COLUMN b int")
        try:
            res = self.many(["/star"] * 60)
            self.assertEqual({(st, tuple(b["columns"])) for st, b in res}, {(200, ("a", "b"))})
        finally:
            self.pg.psql("ALTER TABLE migrating DROP COLUMN b")


if __name__ == "__main__":
    unittest.main(verbosity=2)
