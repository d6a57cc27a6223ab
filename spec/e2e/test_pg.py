"""crater.pg against a real PostgreSQL 15 this file starts (pg_server.py: a
fresh cluster in a temporary folder, scram-sha-256 over TCP): every type
both ways, NULLs, parameters shaped like injections, errors (a unique
violation as 409, an uncaught error as 500 with the SQLSTATE only in
--dev), transactions, pool exhaustion and the waiter's timeout, backends
terminated and a server restart then recovery, LISTEN/NOTIFY and many
concurrent requests. Skipped when PostgreSQL is not installed
(.ci/setup.sh installs it)."""
import json
import os
import signal
import socket
import struct
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import ROOT, Server, run, wait_for
from pg_server import MISSING, PgServer, free_port

APP = os.path.join(ROOT, "spec", "e2e", "apps", "pg.lua")
SCHEMA = """
CREATE TABLE users (id serial PRIMARY KEY, name text UNIQUE NOT NULL);
CREATE TABLE ledger (id serial PRIMARY KEY, note text NOT NULL);
CREATE TABLE secrets (id int PRIMARY KEY, value text);
INSERT INTO secrets VALUES (1, 'keep me');
GRANT ALL ON ALL TABLES IN SCHEMA public TO crater;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO crater;
"""


@unittest.skipIf(MISSING, MISSING)
class Pg(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()
        cls.pg.psql(SCHEMA)
        cls.srv = Server(APP, env={"DATABASE_URL": cls.pg.url, "PG_POOL_SIZE": "4"})

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop()
        finally:
            cls.pg.close()

    def setUp(self):
        self.pg.psql("TRUNCATE users, ledger RESTART IDENTITY")

    def query(self, sql, *params, status=200):
        st, _, body = self.srv.request("POST", "/query", body={"sql": sql, "params": list(params)})
        self.assertEqual(st, status, body)
        return json.loads(body)

    def post(self, path, body, status=200, timeout=10):
        st, _, data = self.srv.request("POST", path, body=body, timeout=timeout)
        self.assertEqual(st, status, data)
        return json.loads(data)

    def get(self, path, status=200, timeout=10):
        st, _, data = self.srv.request("GET", path, timeout=timeout)
        # a 500's cause is in the server's log
        self.assertEqual(st, status, data if st != 500 else data + b"\n" + self.srv.log()[-2000:].encode())
        return json.loads(data)

    def ledger(self):
        return self.pg.psql("SELECT string_agg(note, ',' ORDER BY id) FROM ledger")

    # --- types -----------------------------------------------------------------------

    def test_types_out(self):
        r = self.query("""SELECT 1::int2 AS i2, '-2147483648'::int4 AS i4, 9007199254740992::int8 AS i8,
                          9007199254740993::int8 AS i8big, 1.5::float4 AS f4, 0.1::float8 AS f8,
                          12.50::numeric AS num, 123456789012345678901234567890::numeric AS numbig,
                          26::oid AS o, true AS t, false AS f, 'héllo'::text AS txt,
                          'v'::varchar(3) AS vc, 'ab'::char(3) AS ch,
                          'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, '2024-02-29'::date AS d,
                          '2024-02-29 12:34:56.5'::timestamp AS ts, '{"a":[1,null,"x"]}'::json AS j,
                          '{"b":{"c":true}}'::jsonb AS jb, '[]'::jsonb AS jempty,
                          encode('\\x00ff41'::bytea, 'hex') AS hex, '\\x414243'::bytea AS by,
                          '{1,2,NULL}'::int4[] AS ai, '{}'::int4[] AS aempty,
                          '{"a b","c,d","e\\"f",NULL,"NULL"}'::text[] AS at,
                          '{t,f}'::bool[] AS ab, '{1.5,2.25}'::float8[] AS af,
                          ARRAY['{"k":1}'::jsonb] AS aj, '{{1,2},{3,4}}'::int[] AS a2,
                          NULL::int AS n, NULL::text[] AS nat""")
        row = r["rows"][0]
        self.assertEqual(row, {
            "i2": 1, "i4": -2147483648, "i8": 9007199254740992, "i8big": "9007199254740993",
            "f4": 1.5, "f8": 0.1, "num": 12.5, "numbig": "123456789012345678901234567890",
            "o": 26, "t": True, "f": False, "txt": "héllo", "vc": "v", "ch": "ab ",
            "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "d": "2024-02-29",
            "ts": "2024-02-29 12:34:56.5", "j": {"a": [1, None, "x"]}, "jb": {"b": {"c": True}},
            "jempty": [], "hex": "00ff41", "by": "ABC", "ai": [1, 2, None], "aempty": [],
            "at": ["a b", "c,d", 'e"f', None, "NULL"], "ab": [True, False], "af": [1.5, 2.25],
            "aj": [{"k": 1}], "a2": [[1, 2], [3, 4]], "n": None, "nat": None})
        types = {c["name"]: c["type"] for c in r["columns"]}
        self.assertEqual(types["i8"], "int8")
        self.assertEqual(types["jb"], "jsonb")
        self.assertEqual(types["ai"], "int4[]")
        self.assertEqual(types["u"], "uuid")
        self.assertEqual([c["name"] for c in r["columns"]][:3], ["i2", "i4", "i8"])

    def test_types_in(self):
        cases = [("int4", 42, 42), ("int8", 2 ** 53, 2 ** 53), ("float8", 0.1, 0.1),
                 ("float8", -1e300, -1e300), ("numeric", 3.25, 3.25), ("bool", True, True),
                 ("bool", False, False), ("int4", True, 1), ("text", "a 'quoted' \"x\" \\ ; --", "a 'quoted' \"x\" \\ ; --"),
                 ("text", "ünïcødé ✓", "ünïcødé ✓"), ("int4", "17", 17),
                 ("jsonb", {"a": [1, 2, {"b": None}]}, {"a": [1, 2, {"b": None}]}),
                 ("json", [1, "two"], [1, "two"]), ("uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                                                    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                 ("date", "2024-01-31", "2024-01-31"), ("text", None, None), ("int4", None, None),
                 ("int4[]", "{1,2}", [1, 2])]
        for ty, value, want in cases:
            with self.subTest(type=ty, value=value):
                got = self.post("/echo", {"type": ty, "value": value})
                self.assertEqual(got["v"], want)
        self.assertEqual(self.get("/bytea"), {"same": True, "n": 256})
        got = self.post("/echo", {"type": "text", "bytes": "plain"})
        self.assertEqual(got["v"], "plain")

    def test_queries_while_the_app_loads(self):
        self.assertEqual(self.get("/at_load"), {"n": 42, "who": "crater", "pool_size": 2})
        self.assertEqual(self.pg.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'made_at_load'"), "1")

    def test_nulls_and_affected_rows(self):
        r = self.query("INSERT INTO ledger (note) VALUES ($1), ($2) RETURNING id, note", "a", "b")
        self.assertEqual(r["affected_rows"], 2)
        self.assertEqual(r["rows"], [{"id": 1, "note": "a"}, {"id": 2, "note": "b"}])
        r = self.query("UPDATE ledger SET note = note || $1", "!")
        self.assertEqual(r["affected_rows"], 2)
        self.assertEqual(r["rows"], [])
        r = self.query("SELECT $1::text IS NULL AS isnull, $2::int AS n", None, None)
        self.assertEqual(r["rows"], [{"isnull": True, "n": None}])
        r = self.query("SELECT * FROM ledger WHERE false")
        self.assertEqual(r["rows"], [])
        self.assertEqual([c["name"] for c in r["columns"]], ["id", "note"])

    def test_parameters_are_never_interpolated(self):
        evil = ["1; DROP TABLE secrets; --", "' OR '1'='1", "1) OR (1=1", "$1", "\\'; DELETE FROM secrets; --"]
        for e in evil:
            r = self.query("SELECT value FROM secrets WHERE value = $1", e)
            self.assertEqual(r["rows"], [])
            r = self.query("SELECT $1::text AS v", e)
            self.assertEqual(r["rows"], [{"v": e}])
        r = self.query("SELECT id FROM secrets WHERE id::text = $1", "1 OR 1=1", status=200)
        self.assertEqual(r["rows"], [])
        self.assertEqual(self.pg.psql("SELECT value FROM secrets"), "keep me")

    # --- errors ----------------------------------------------------------------------

    def test_errors(self):
        e = self.query("SELEC 1", status=400)
        self.assertEqual(e["code"], "42601")
        self.assertIn("syntax error", e["message"])
        self.assertEqual(e["severity"], "ERROR")
        self.assertIn("42601", e["text"])
        e = self.query("SELECT * FROM nowhere", status=400)
        self.assertEqual(e["code"], "42P01")
        e = self.query("SELECT $1::int", "not a number", status=400)
        self.assertEqual(e["code"], "22P02")
        self.post("/users", {"name": "ann"}, status=201)
        e = self.post("/users", {"name": "ann"}, status=409)
        self.assertEqual(e, {"error": "name taken", "constraint": "users_name_key"})
        e = self.query("INSERT INTO users (name) VALUES ('ann')", status=400)
        self.assertEqual(e["code"], "23505")
        self.assertEqual(e["constraint"], "users_name_key")
        self.assertIn("(name)=(ann)", e["detail"])
        # uncaught: 500 without the SQLSTATE, logged with it
        st, hdrs, body = self.srv.request("POST", "/raw", body={"sql": "SELECT 1/0"})
        self.assertEqual(st, 500)
        self.assertEqual(hdrs["content-type"], "application/problem+json")
        self.assertNotIn(b"22012", body)
        self.assertIn("22012: division by zero", self.srv.log())
        # the connection of a failed query is fine for the next one
        self.assertEqual(self.query("SELECT 2 AS two")["rows"], [{"two": 2}])

    def test_errors_in_dev_mode_show_the_sqlstate(self):
        with Server(APP, "--dev", env={"DATABASE_URL": self.pg.url}) as dev:
            st, _, body = dev.request("POST", "/raw", body={"sql": "SELECT 1/0"})
            self.assertEqual(st, 500)
            self.assertIn("22012: division by zero", json.loads(body)["detail"])

    # --- transactions ----------------------------------------------------------------

    def test_transactions(self):
        r = self.post("/tx", {"mode": "commit"})
        self.assertEqual(r["result"], "done")
        self.assertEqual(self.ledger(), "commit-1,commit-2")
        e = self.post("/tx", {"mode": "raise"}, status=400)
        self.assertEqual(e["message"], "app failed")
        e = self.post("/tx", {"mode": "sql_error"}, status=400)
        self.assertEqual(e["code"], "42P01")
        e = self.post("/tx", {"mode": "caught"}, status=400)
        self.assertEqual(e["code"], "25P02")
        e = self.post("/tx", {"mode": "batch"}, status=400)
        self.assertEqual(e["code"], "22012")
        st, _, _ = self.srv.request("POST", "/tx", body={"mode": "abort"})
        self.assertEqual(st, 418)
        self.assertEqual(self.ledger(), "commit-1,commit-2")  # every other one rolled back
        self.assertEqual(self.pg.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'crater' AND state LIKE 'idle in%'"), "0")

    def test_nested_transactions(self):
        r = self.post("/tx", {"mode": "savepoint"})
        self.assertEqual(r["result"], "done")
        self.assertEqual(self.ledger(), "savepoint-1,inner-kept,savepoint-2")

    def test_connection_not_reused_mid_transaction(self):
        out = {}
        t = threading.Thread(target=lambda: out.update(self.post("/tx", {"mode": "sleep", "seconds": 1})))
        t.start()
        time.sleep(0.2)
        pids = set()
        with ThreadPoolExecutor(3) as ex:
            for r in ex.map(lambda _: self.get("/pid"), range(30)):
                pids.add(r["pid"])
        t.join()
        self.assertEqual(out["result"], "done")
        self.assertNotIn(out["pid"], pids)
        self.assertEqual(self.ledger(), "sleep-1,sleep-2")

    def test_client_gone_mid_transaction_rolls_back(self):
        body = json.dumps({"mode": "sleep", "seconds": 2}).encode()
        s = self.srv.connect()
        s.sendall(b"POST /tx HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        wait_for(lambda: self.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'crater' "
                                      "AND state LIKE 'idle in%'") == "1")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # a reset: the request ends, its connection mid-transaction is closed
        wait_for(lambda: "went away" in self.srv.log())
        time.sleep(2.3)
        self.assertEqual(self.ledger(), "")
        wait_for(lambda: self.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'crater' "
                                      "AND state LIKE 'idle in%'") == "0")
        self.assertEqual(self.query("SELECT 1 AS one")["rows"], [{"one": 1}])

    def test_clients_gone_mid_query_and_while_waiting_for_a_connection(self):
        def reset_after(delay):
            s = self.srv.connect()
            s.sendall(b"GET /sleep?s=0.5 HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(delay)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        # 4 in queries, the rest waiting for one of the pool's 4 connections
        with ThreadPoolExecutor(12) as ex:
            list(ex.map(reset_after, [0.05 + 0.01 * i for i in range(24)]))
        wait_for(lambda: self.srv.log().count("went away") >= 24)
        wait_for(lambda: self.get("/stats")["waiting"] == 0)
        self.assertLessEqual(self.get("/stats")["total"], 4)
        with ThreadPoolExecutor(8) as ex:
            res = list(ex.map(lambda i: self.query("SELECT $1::int AS n", i)["rows"][0]["n"], range(40)))
        self.assertEqual(res, list(range(40)))
        wait_for(lambda: self.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'crater' "
                                      "AND query LIKE 'SELECT pg_sleep%' AND state = 'active'") == "0")

    # --- the pool --------------------------------------------------------------------

    def test_pool_exhaustion_and_waiter_timeout(self):
        with ThreadPoolExecutor(7) as ex:
            res = list(ex.map(lambda _: self.srv.request("GET", "/sleep?s=1.6", timeout=10), range(7)))
        codes = sorted(st for st, _, _ in res)
        self.assertEqual(codes, [200] * 4 + [503] * 3, [b for _, _, b in res])
        for st, _, body in res:
            if st == 503:
                self.assertEqual(json.loads(body)["code"], "53300")
                self.assertIn("no free connection", json.loads(body)["message"])
        stats = self.get("/stats")
        self.assertLessEqual(stats["total"], 4)
        self.assertEqual(stats["waiting"], 0)
        # waiters that get a connection in time succeed
        with ThreadPoolExecutor(8) as ex:
            res = list(ex.map(lambda _: self.srv.request("GET", "/sleep?s=0.3", timeout=10), range(8)))
        self.assertEqual([st for st, _, _ in res], [200] * 8)

    def test_a_connection_held_for_several_statements(self):
        r = self.get("/held")
        self.assertEqual(r["out"]["a"], r["out"]["b"])  # one backend for all of them
        self.assertEqual(r["out"]["name"], "held")       # session state lasts
        self.assertGreaterEqual(r["idle"], 1)            # given back to the pool
        self.assertEqual(self.get("/held?mode=error", status=400)["code"], "22012")
        self.assertEqual(self.get("/stats")["waiting"], 0)
        before = self.get("/stats")["total"]
        r = self.get("/held?mode=open")                  # left inside a transaction: closed
        self.assertEqual(r["total"], before - 1 if before > 0 else 0, r)
        self.assertEqual(self.query("SELECT 1 AS one")["rows"], [{"one": 1}])

    def test_a_freed_connection_goes_to_the_first_waiter(self):
        # the request asking again at once must not take it from the waiter
        # (whose wake is on the loop): barging let a few requests wait many
        # times over under load
        for _ in range(3):
            self.assertEqual(self.get("/handoff"), ["waiter", "request"])

    def test_statements_are_prepared_once_per_connection(self):
        self.assertEqual(self.get("/prepared"), {"sum": 6, "prepared": 1})
        self.assertEqual(self.get("/prepared"), {"sum": 6, "prepared": 1})
        sql = "SELECT count(*) AS n FROM pg_prepared_statements"
        r = self.other(self.pg.url, opts={"prepare": False}, sql=sql)
        self.assertEqual(r["rows"], [{"n": 0}])

    # --- prepared statements gone stale -----------------------------------------------

    def steps(self, *steps):
        """Runs steps on one connection of the app (/steps); returns each one's answer."""
        return self.post("/steps", {"steps": list(steps)}, timeout=20)["steps"]

    def prepared(self, sql):
        """How many statements of that text the /steps connection has prepared, and how
        many times they ran (PostgreSQL counts each execution as a generic or custom plan)."""
        r = self.steps({"query": "SELECT count(*) AS n, coalesce(sum(generic_plans + custom_plans), 0) AS runs "
                                 "FROM pg_prepared_statements WHERE statement = $1", "params": [sql]})[0]
        return r["rows"][0]["n"], r["rows"][0]["runs"]

    def table(self, name):
        self.pg.psql("DROP TABLE IF EXISTS %s; CREATE TABLE %s (a int); INSERT INTO %s VALUES (1); "
                     "GRANT ALL ON %s TO crater" % (name, name, name, name))
        self.addCleanup(self.pg.psql, "DROP TABLE IF EXISTS %s" % name)

    def test_a_stale_statement_after_ddl_is_prepared_again(self):
        self.table("migrating")
        # prepared on every connection of the pool (concurrent requests), then
        # stale on each: none fails
        slow = "SELECT migrating.*, pg_backend_pid() AS pid FROM migrating, pg_sleep(0.05)"

        def many():
            with ThreadPoolExecutor(8) as ex:
                return list(ex.map(lambda _: self.query(slow), range(16)))
        self.assertEqual({r["rows"][0]["a"] for r in many()}, {1})
        self.pg.psql("ALTER TABLE migrating ADD COLUMN b int DEFAULT 2")
        res = many()
        for r in res:
            self.assertEqual([c["name"] for c in r["columns"]], ["a", "b", "pid"])
            self.assertEqual(r["rows"][0]["b"], 2)
        self.assertGreater(len({r["rows"][0]["pid"] for r in res}), 1)
        sql = "SELECT * FROM migrating"
        self.query(sql)
        self.pg.psql("ALTER TABLE migrating ALTER COLUMN b TYPE bigint")
        r = self.query(sql)
        self.assertEqual(r["rows"], [{"a": 1, "b": 2}])
        self.assertEqual(r["columns"], [{"name": "a", "type": "int4"}, {"name": "b", "type": "int8"}])
        # on one connection: the stale statement is dropped, the new one prepared once
        self.assertEqual(self.steps({"query": sql})[0]["rows"], [{"a": 1, "b": 2}])
        self.pg.psql("ALTER TABLE migrating ADD COLUMN c text DEFAULT 'x'")
        r = self.steps({"query": sql}, {"query": sql})
        self.assertEqual(r[0]["rows"], [{"a": 1, "b": 2, "c": "x"}])
        self.assertEqual(r[0]["columns"], ["a", "b", "c"])
        self.assertEqual(r[1]["rows"], r[0]["rows"])
        self.assertEqual(self.prepared(sql), (1, 2))

    def test_discard_all_then_a_cached_query(self):
        sql = "SELECT $1::int * 2 AS n /* discard */"
        for drop in ("DISCARD ALL", "DEALLOCATE ALL"):
            with self.subTest(drop=drop):
                r = self.steps({"query": sql, "params": [1]}, {"query": drop},
                               {"query": sql, "params": [2]}, {"query": sql, "params": [3]})
                self.assertEqual([x.get("rows") for x in r], [[{"n": 2}], [], [{"n": 4}], [{"n": 6}]], r)
                self.assertEqual(self.prepared(sql), (1, 2))
        # on the pooled connections too (the drop runs on one of them)
        for _ in range(6):
            self.query(sql, 1)
        self.query("DISCARD ALL")
        for i in range(8):
            self.assertEqual(self.query(sql, i)["rows"], [{"n": 2 * i}])

    def test_a_stale_statement_inside_a_transaction_is_an_error(self):
        self.table("migrating_tx")
        sql = "SELECT * FROM migrating_tx"
        q = "SELECT $1::int AS n /* tx */"
        self.steps({"query": sql}, {"query": q, "params": [1]})
        self.pg.psql("ALTER TABLE migrating_tx ADD COLUMN b int DEFAULT 2")
        # the failure aborted the transaction: no second try, the error is the app's
        r = self.steps({"tx": [{"query": q, "params": [2]}, {"query": sql}]}, {"query": sql})
        self.assertEqual(r[0]["tx"], [{"rows": [{"n": 2}], "columns": ["n"]}])
        self.assertEqual(r[0]["error"]["code"], "0A000")
        # the next query after the transaction prepares it again, the stale one is gone
        self.assertEqual(r[1]["rows"], [{"a": 1, "b": 2}])
        self.assertEqual(self.prepared(sql), (1, 1))
        # DEALLOCATE ALL (DISCARD ALL cannot run in a transaction) then a cached statement
        r = self.steps({"tx": [{"query": "INSERT INTO ledger (note) VALUES ($1)", "params": ["rolled back"]},
                               {"query": "DEALLOCATE ALL"}, {"query": q, "params": [3]}]},
                       {"query": q, "params": [4]}, {"query": sql})
        self.assertEqual(r[0]["error"]["code"], "26000")
        self.assertEqual(r[1]["rows"], [{"n": 4}])
        self.assertEqual(r[2]["rows"], [{"a": 1, "b": 2}])
        self.assertEqual(self.ledger(), "")
        # the same with a batch inside the transaction
        r = self.steps({"tx": [{"query": "DEALLOCATE ALL"}, {"batch": [[q, 5], [q, 6]]}]},
                       {"batch": [[q, 7], [q, 8]]})
        self.assertEqual(r[0]["error"]["code"], "26000")
        self.assertEqual(r[1]["results"], [[{"n": 7}], [{"n": 8}]])

    def test_a_batch_with_a_stale_statement(self):
        self.table("migrating_batch")
        sql = "SELECT * FROM migrating_batch"
        q = "SELECT $1::int AS n /* stale batch */"
        batch = [[sql], [q, 1], [q, 2]]
        r = self.steps({"batch": batch})
        self.assertEqual(r[0]["results"], [[{"a": 1}], [{"n": 1}], [{"n": 2}]])
        # the stale statement first: nothing ran before it, so the batch runs again
        self.pg.psql("ALTER TABLE migrating_batch ADD COLUMN b int DEFAULT 2")
        r = self.steps({"batch": batch}, {"query": "DEALLOCATE ALL"}, {"batch": batch})
        want = [[{"a": 1, "b": 2}], [{"n": 1}], [{"n": 2}]]
        self.assertEqual(r[0]["results"], want)
        self.assertEqual(r[2]["results"], want)
        # prepared again after DEALLOCATE ALL: once each, run by the last batch
        self.assertEqual(self.prepared(sql), (1, 1))
        self.assertEqual(self.prepared(q), (1, 2))
        # a statement ran before the stale one (a write new to the connection,
        # here): not run again, the error is the app's, the write rolled back;
        # the next batch works, the write's statement prepared by the first
        insert = "INSERT INTO ledger (note) VALUES ($1) /* stale batch */"
        r = self.steps({"query": "DEALLOCATE ALL"},
                       {"batch": [[insert, "first"], [q, 3]]},
                       {"batch": [[insert, "second"], [q, 4]]})
        self.assertEqual(r[1]["error"]["code"], "26000")
        self.assertEqual(r[2]["results"], [[], [{"n": 4}]])
        self.assertEqual(self.ledger(), "second")
        self.assertEqual(self.prepared(insert), (1, 2))
        # the same after DDL, when a query ran before the stale one
        self.steps({"batch": [[q, 5], [sql]]})
        self.pg.psql("ALTER TABLE migrating_batch ADD COLUMN c int DEFAULT 3")
        r = self.steps({"batch": [[q, 5], [sql]]}, {"batch": [[q, 6], [sql]]})
        self.assertEqual(r[0]["error"]["code"], "0A000")
        self.assertEqual(r[1]["results"], [[{"n": 6}], [{"a": 1, "b": 2, "c": 3}]])
        self.assertEqual(self.prepared(sql), (1, 1))  # the stale one dropped

    def test_a_batch_prepares_new_statements_once(self):
        a = "SELECT $1::int + 1 AS n /* batch a */"
        b = "SELECT $1::text AS t /* batch b */"
        for i in range(5):
            r = self.steps({"batch": [[a, i], [b, "x%d" % i], [a, 10 + i]]})
            self.assertEqual(r[0]["results"], [[{"n": i + 1}], [{"t": "x%d" % i}], [{"n": 11 + i}]])
        self.assertEqual(self.prepared(a), (1, 10))
        self.assertEqual(self.prepared(b), (1, 5))
        # a statement that cannot be prepared: its error, and nothing remembered
        bad = "SELEC $1 /* batch bad */"
        for _ in range(2):
            r = self.steps({"batch": [[a, 1], [bad, 1], [b, "y"]]})
            self.assertEqual(r[0]["error"]["code"], "42601")
        self.assertEqual(self.prepared(bad), (0, 0))
        self.assertEqual(self.prepared(a), (1, 12))  # it ran before (then rolled back with the batch)
        # a query then runs the batch's statement by name
        self.assertEqual(self.steps({"query": b, "params": ["z"]})[0]["rows"], [{"t": "z"}])
        self.assertEqual(self.prepared(b), (1, 6))
        # with prepare = false, nothing is prepared
        r = self.other(self.pg.url, opts={"prepare": False}, sql="SELECT count(*) AS n FROM pg_prepared_statements")
        self.assertEqual(r["rows"], [{"n": 0}])

    def test_batch(self):
        r = self.post("/batch", {"list": [["SELECT $1::int AS n", i] for i in range(1, 21)]})
        self.assertEqual([x[0]["n"] for x in r["results"]], list(range(1, 21)))
        r = self.post("/batch", {"list": [["INSERT INTO ledger (note) VALUES ($1) RETURNING id", "b1"],
                                          ["SELECT count(*) AS n FROM ledger"],
                                          ["SELECT $1::text AS t, $2::jsonb AS j", "x", {"a": 1}]]})
        self.assertEqual(r["results"], [[{"id": 1}], [{"n": 1}], [{"t": "x", "j": {"a": 1}}]])
        # one implicit transaction: a failure undoes the batch's earlier writes
        e = self.post("/batch", {"list": [["INSERT INTO ledger (note) VALUES ($1)", "b2"],
                                          ["SELECT 1/0"], ["SELECT 1"]]}, status=400)
        self.assertEqual(e["code"], "22012")
        self.assertEqual(self.ledger(), "b1")
        # the connection is fine afterwards, prepared statements included
        self.get("/prepared")
        r = self.post("/batch", {"list": [["SELECT $1::int AS n", 5]] * 3})
        self.assertEqual(r["results"], [[{"n": 5}]] * 3)
        self.assertEqual(self.query("SELECT 7 AS n")["rows"], [{"n": 7}])

    def test_idle_connections_close_after_idle_timeout(self):
        url = self.pg.url + "?application_name=idle_test"
        count = lambda: self.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'idle_test'")
        self.other(url, opts={"idle_timeout": 2})
        self.assertEqual(count(), "1")  # pooled (psql has 2 s to look)
        self.assertTrue(wait_for(lambda: count() == "0", timeout=10))
        self.assertEqual(self.other(url, opts={"idle_timeout": 2})["rows"], [{"one": 1}])

    def test_many_concurrent_requests(self):
        def one(i):
            r = self.query("SELECT $1::int + 1 AS n, pg_backend_pid() AS pid", i)
            return r["rows"][0]
        with ThreadPoolExecutor(16) as ex:
            rows = list(ex.map(one, range(400)))
        self.assertEqual([r["n"] for r in rows], [i + 1 for i in range(400)])
        self.assertLessEqual(len({r["pid"] for r in rows}), 4)

    def test_reload_closes_the_old_generations_connections(self):
        with Server(APP, env={"DATABASE_URL": self.pg.url, "PG_POOL_SIZE": "3"}) as other:
            def count():
                return int(self.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'crater' "
                                        "AND application_name = ''"))
            base = count()
            with ThreadPoolExecutor(6) as ex:
                list(ex.map(lambda _: other.request("GET", "/sleep?s=0.2"), range(6)))
            self.assertEqual(count(), base + 3)
            other.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "reloaded" in other.log())
            # the old generation's state is closed, and its pool with it
            wait_for(lambda: count() == base, timeout=10)
            st, _, _ = other.request("GET", "/pid")
            self.assertEqual(st, 200)
            self.assertEqual(count(), base + 1)

    # --- the server goes away --------------------------------------------------------

    def test_terminated_backends_are_replaced(self):
        before = self.get("/pid")["pid"]
        out = {}
        t = threading.Thread(target=lambda: out.update(
            r=self.srv.request("GET", "/sleep?s=5", timeout=10)))
        t.start()
        wait_for(lambda: self.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                                      "'SELECT pg_sleep%' AND usename = 'crater'") == "1")
        self.pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'crater'")
        t.join()
        st, _, body = out["r"]
        self.assertEqual(st, 503, body)
        self.assertIn(json.loads(body)["code"], ("57P01", "08006"))
        # the backends have exited (a request sent while they are still
        # closing may meet a connection the server is ending)
        wait_for(lambda: self.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'crater'") == "0")
        for _ in range(6):
            self.assertNotEqual(self.get("/pid")["pid"], before)

    def test_idle_connections_closed_by_the_server_leave_the_pool_at_once(self):
        # the pooled connections watch their sockets while idle: a backend
        # terminated while nobody queries is dropped before the next request
        self.get("/pid")
        self.assertGreaterEqual(self.get("/stats")["idle"], 1)
        self.pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'crater' "
                     "AND state = 'idle'")
        wait_for(lambda: self.get("/stats")["total"] == 0)
        self.assertEqual(self.get("/stats"), {"total": 0, "idle": 0, "waiting": 0})
        self.assertEqual(self.query("SELECT 1 AS one")["rows"], [{"one": 1}])

    def test_server_restart_then_recovery(self):
        self.get("/pid")
        self.pg.restart()
        for _ in range(6):
            self.assertEqual(self.query("SELECT 1 AS one")["rows"], [{"one": 1}])

    def test_restart_under_load(self):
        stop = threading.Event()
        results = []

        def hammer():
            while not stop.is_set():
                st, _, body = self.srv.request("POST", "/query", body={"sql": "SELECT 1 AS one"})
                results.append((st, body))

        threads = [threading.Thread(target=hammer) for _ in range(6)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            self.pg.restart()
            time.sleep(0.3)
        finally:
            stop.set()
            for t in threads:
                t.join()
        # every answer is a row or a clean error (lost, cannot connect, shutting down)
        for st, body in results:
            if st == 200:
                self.assertEqual(json.loads(body)["rows"], [{"one": 1}])
            else:
                self.assertEqual(st, 400, body)
                self.assertIn(json.loads(body)["code"], ("08006", "08001", "57P01", "57P03", "53300"), body)
        self.assertGreater(sum(1 for st, _ in results if st == 200), 10)
        for _ in range(10):
            self.assertEqual(self.query("SELECT 1 AS one")["rows"], [{"one": 1}])

    def test_server_down_is_an_error_then_recovery(self):
        self.get("/pid")
        self.pg.stop()
        try:
            e = self.query("SELECT 1", status=400)
            self.assertEqual(e["code"], "08001")
            self.assertIn("cannot connect", e["message"])
        finally:
            self.pg.start()
        self.assertEqual(self.query("SELECT 1 AS one")["rows"], [{"one": 1}])

    def other(self, url, status=200, **kw):
        return self.post("/other", {"url": url, **kw}, status=status, timeout=15)

    def test_connection_strings(self):
        pg = self.pg
        user = "crater:crater-secret"
        # a host name: looked up with uv_getaddrinfo first
        self.assertEqual(self.other("postgres://%s@localhost:%d/crater_test" % (user, pg.port))["rows"],
                         [{"one": 1}])
        # libpq's key=value form, and a unix socket (the folder)
        self.assertEqual(self.other("host=%s port=%d user=crater password=crater-secret dbname=crater_test"
                                    % (pg.dir, pg.port))["rows"], [{"one": 1}])
        e = self.other("postgres://crater:wrong@127.0.0.1:%d/crater_test" % pg.port, status=400)
        self.assertEqual(e["code"], "08001")
        self.assertIn("password authentication failed", e["message"])
        e = self.other("postgres://%s@no-such-host.invalid/x" % user, status=400)
        self.assertEqual(e["code"], "08001")
        self.assertIn("no-such-host.invalid", e["message"])
        e = self.other("postgres://%s@127.0.0.1:%d/crater_test" % (user, free_port()), status=400)
        self.assertEqual(e["code"], "08001")
        e = self.other("postgres://127.0.0.1/x?nonsense=1", status=400)
        self.assertIn("bad connection string", e["message"])

    def test_timeouts(self):
        # a server that accepts TCP and never answers: the connect timeout
        mute = socket.socket()
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)
        try:
            t0 = time.time()
            e = self.other("postgres://crater:x@127.0.0.1:%d/db" % mute.getsockname()[1], status=400,
                           opts={"connect_timeout": 0.3})
            self.assertEqual(e["code"], "08001")
            self.assertIn("timed out", e["message"])
            self.assertLess(time.time() - t0, 3)
        finally:
            mute.close()
        t0 = time.time()
        e = self.other(self.pg.url, status=400, opts={"query_timeout": 0.3}, sql="SELECT pg_sleep(5)")
        self.assertEqual(e["code"], "57014")
        self.assertLess(time.time() - t0, 3)
        # the server's side was cancelled by the connection closing
        wait_for(lambda: self.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                                      "'SELECT pg_sleep(5)%' AND usename = 'crater'") == "0", timeout=5)

    # --- LISTEN/NOTIFY ---------------------------------------------------------------

    def test_listen_notify(self):
        out = {}
        t = threading.Thread(target=lambda: out.update(self.get("/listen?channel=news&timeout=5")))
        t.start()
        deadline = time.time() + 5
        while t.is_alive() and time.time() < deadline:
            self.post("/notify", {"channel": "news", "payload": "hello 'world'"})
            time.sleep(0.1)
        t.join()
        self.assertEqual(out["channel"], "news")
        self.assertEqual(out["payload"], "hello 'world'")
        self.assertIsInstance(out["pid"], int)
        # from another client, and a timeout
        t = threading.Thread(target=lambda: out.update(self.get("/listen?channel=Mixed%20Case&timeout=5")))
        t.start()
        while t.is_alive() and time.time() < deadline + 5:
            self.pg.psql("NOTIFY \"Mixed Case\", 'from psql'")
            time.sleep(0.1)
        t.join()
        self.assertEqual(out["payload"], "from psql")
        e = self.get("/listen?channel=quiet&timeout=0.2", status=504)
        self.assertEqual(e["error"], "timeout")

    def test_listener_connection_lost(self):
        out = {}
        t = threading.Thread(target=lambda: out.update(
            r=self.srv.request("GET", "/listen?channel=doomed&timeout=10", timeout=15)))
        t.start()
        wait_for(lambda: self.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'crater' "
                                      "AND query LIKE 'LISTEN%doomed%'") == "1")
        self.pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'crater' "
                     "AND query LIKE 'LISTEN%doomed%'")
        t.join()
        st, _, body = out["r"]
        self.assertEqual(st, 504, body)
        self.assertIn(json.loads(body)["error"]["code"], ("08006", "57P01"))
        self.assertEqual(self.query("SELECT 1 AS one")["rows"], [{"one": 1}])

    def test_workers_have_a_pool_each(self):
        with Server(APP, "--workers", "2", port=free_port(), env={"DATABASE_URL": self.pg.url + "?application_name=w2",
                                                 "PG_POOL_SIZE": "2"}) as w:
            def up():
                try:
                    return w.request("GET", "/pid")[0] == 200
                except OSError:
                    return False
            wait_for(up)  # the workers listen a little after the supervisor says where
            wait_for(lambda: w.log().count("serving") >= 2)

            def one(i):
                st, _, body = w.request("POST", "/query", body={"sql": "SELECT $1::int AS n", "params": [i]})
                return st, json.loads(body)
            with ThreadPoolExecutor(8) as ex:
                res = list(ex.map(one, range(200)))
            self.assertEqual([r[1]["rows"][0]["n"] for r in res], list(range(200)))
            n = int(self.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'w2'"))
            self.assertGreaterEqual(n, 1)
            self.assertLessEqual(n, 4)


if __name__ == "__main__":
    run()
