"""crater.sqlite and crater.db against the real binary over real sockets
(docs/database.md): every type both ways, NULLs, parameters that would be
injections if pasted into the SQL, parameter errors, errors as 500 (the
code only with --dev) and a unique violation mapped to 409, transactions
(commit, rollback, an error mid-way, savepoints, other requests waiting
for the one that holds the database, a request stopped mid-transaction),
200 requests writing at once (no lost write, no "database is locked"), a
read-modify-write under concurrency, statements at load time, :memory:,
and a reload while a transaction is open."""
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import tempfile
import time
import unittest

from harness import ROOT, Server, run, wait_for

APP = os.path.join(ROOT, "spec", "e2e", "apps", "sqlite.lua")
WAIT = 30


class SqliteBase(unittest.TestCase):
    args = ()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="crater-sqlite-")
        self.app = os.path.join(self.dir, "app.lua")
        shutil.copy(APP, self.app)
        self.srv = Server(self.app, *self.args)

    def tearDown(self):
        self.assertEqual(self.srv.stop(), 0, self.srv.log())
        if not getattr(self, "locked_in_log", False):
            self.assertNotIn("database is locked", self.srv.log())
        shutil.rmtree(self.dir)

    def call(self, method, path, body=None, timeout=WAIT):
        st, h, data = self.srv.request(method, path, body=body, timeout=timeout)
        return st, (json.loads(data) if data else None)

    def sql(self, sql, *params):
        st, doc = self.call("POST", "/sql", {"sql": sql, "params": list(params)})
        self.assertEqual(st, 200, doc)
        return doc

    def start_all(self, reqs):
        """Sends every (method, path) request on its own connection before
        reading any answer: they are all in the server at once."""
        conns = []
        for method, path in reqs:
            c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=WAIT)
            c.request(method, path, body=b"" if method == "POST" else None)
            conns.append(c)
        return conns

    def wait_open(self, name):
        """Waits (polls, no fixed sleep: a loaded or ASan machine is slow) for
        /slow-tx?a=name to have made its first insert: its transaction is open."""
        self.assertTrue(wait_for(lambda: self.call("GET", "/gen")[1].get("open") == name,
                                 timeout=WAIT), self.srv.log())

    def finish_all(self, conns):
        out = []
        for c in conns:
            r = c.getresponse()
            out.append((r.status, json.loads(r.read() or b"null")))
            c.close()
        return out


class Sqlite(SqliteBase):
    def test_file_is_made_in_the_app_folder_in_wal_mode(self):
        path = os.path.join(self.dir, "test.db")
        self.assertTrue(os.path.exists(path))
        con = sqlite3.connect(path)
        try:
            self.assertEqual(con.execute("PRAGMA journal_mode").fetchone()[0], "wal")
        finally:
            con.close()

    def test_values_from_json_both_ways(self):
        doc = self.sql("SELECT $1 AS s, $2 AS i, $3 AS f, $4 AS t, $5 AS n, $6 AS j, typeof($2) AS ti, "
                       "typeof($3) AS tf, typeof($5) AS tn", "text", 7, 2.5, True, None, {"a": [1, None]})
        row = doc["rows"][0]
        self.assertEqual(row, {"s": "text", "i": 7, "f": 2.5, "t": 1, "n": None, "j": '{"a":[1,null]}',
                               "ti": "integer", "tf": "real", "tn": "null"})
        self.assertEqual(doc["affected_rows"], 0)
        self.assertEqual([c["name"] for c in doc["columns"]], ["s", "i", "f", "t", "n", "j", "ti", "tf", "tn"])

    def test_values_from_lua_both_ways(self):
        st, doc = self.call("GET", "/roundtrip")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["int"], {"v": 42, "t": "integer", "lua": "number"})
        self.assertEqual(doc["neg"], {"v": -7, "t": "integer", "lua": "number"})
        self.assertEqual(doc["float"], {"v": 1.25, "t": "real", "lua": "number"})
        self.assertEqual(doc["big"], {"v": 2 ** 53, "t": "integer", "lua": "number"})
        self.assertEqual(doc["huge"], {"v": 1e300, "t": "real", "lua": "number"})
        self.assertEqual(doc["str"], {"t": "text", "lua": "string"})
        self.assertTrue(doc["str_ok"])
        self.assertEqual(doc["empty"], {"v": "", "t": "text", "lua": "string"})
        self.assertEqual(doc["yes"], {"v": 1, "t": "integer", "lua": "number"})
        self.assertEqual(doc["no"], {"v": 0, "t": "integer", "lua": "number"})
        self.assertEqual(doc["nil"], {"v": None, "t": "null", "lua": "userdata"})
        self.assertEqual(doc["null"], {"v": None, "t": "null", "lua": "userdata"})
        self.assertEqual(doc["table"]["t"], "text")
        self.assertEqual(json.loads(doc["table"]["v"]), {"a": [1, 2], "b": None})
        self.assertEqual(doc["over"], {"v": "9007199254740993", "lua": "string"})
        self.assertEqual(doc["edge"], {"v": -9007199254740992, "lua": "number"})
        self.assertEqual(doc["blob"], {"hex": "00ff41"})
        self.assertEqual(doc["b2"], "x")
        self.assertTrue(doc["n_is_null"])
        self.assertEqual(doc["f"], 0.5)

    def test_empty_result_is_an_array(self):
        doc = self.sql("SELECT * FROM items WHERE id < 0")
        self.assertEqual(doc["rows"], [])
        st, doc = self.call("GET", "/items")
        self.assertEqual((st, doc), (200, []))

    def test_insert_update_delete_metadata(self):
        doc = self.sql("INSERT INTO items (name, qty) VALUES ($1, $2), ($3, $4)", "a", 1, "b", 2)
        self.assertEqual(doc["affected_rows"], 2)
        self.assertEqual(doc["last_insert_id"], 2)
        self.assertEqual(doc["rows"], [])
        doc = self.sql("UPDATE items SET qty = qty + ?", 10)
        self.assertEqual(doc["affected_rows"], 2)
        self.assertNotIn("last_insert_id", doc)
        doc = self.sql("SELECT name, qty FROM items ORDER BY id")
        self.assertEqual(doc["rows"], [{"name": "a", "qty": 11}, {"name": "b", "qty": 12}])
        self.assertEqual(doc["columns"], [{"name": "name", "type": "TEXT"}, {"name": "qty", "type": "INTEGER"}])
        self.assertEqual(self.sql("DELETE FROM items WHERE name = $1", "a")["affected_rows"], 1)
        # $2 and $1 in any order, one used twice
        doc = self.sql("SELECT $2 || $1 || $2 AS s", "x", "y")
        self.assertEqual(doc["rows"], [{"s": "yxy"}])

    def test_parameters_are_never_sql(self):
        evil = ["x'); DROP TABLE items; --", "' OR '1'='1", "$1", "?", "a\"b", "; DELETE FROM items"]
        for i, name in enumerate(evil):
            self.sql("INSERT INTO items (name, qty) VALUES ($1, $2)", name, i)
        doc = self.sql("SELECT name FROM items ORDER BY id")
        self.assertEqual([r["name"] for r in doc["rows"]], evil)
        doc = self.sql("SELECT count(*) AS n FROM items WHERE name = $1", "' OR '1'='1")
        self.assertEqual(doc["rows"], [{"n": 1}])

    def test_parameter_errors(self):
        st, doc = self.call("GET", "/param-errors")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["too_few"], "SQLITE_RANGE: the statement uses parameter 2 but 1 value was given")
        self.assertEqual(doc["too_many"], "SQLITE_RANGE: 2 values were given but the statement uses 1")
        self.assertEqual(doc["named"], "SQLITE_RANGE: named parameter :x: number them $1, $2, ... or use ?")
        self.assertEqual(doc["two"], "SQLITE_MISUSE: a query with parameters must be one statement")
        self.assertIn("parameter 1: cannot bind a function", doc["func"])

    def test_kept_statements_follow_the_schema_and_errors(self):
        self.sql("CREATE TABLE sc (a)")
        self.sql("INSERT INTO sc VALUES ($1)", 1)
        self.assertEqual(self.sql("SELECT * FROM sc")["rows"], [{"a": 1}])
        self.sql("ALTER TABLE sc ADD COLUMN b DEFAULT 2")
        self.assertEqual(self.sql("SELECT * FROM sc")["rows"], [{"a": 1, "b": 2}])
        self.assertEqual(self.sql("SELECT $1 AS x", 5)["rows"], [{"x": 5}])
        st, doc = self.call("POST", "/sql", {"sql": "SELECT $1 AS x", "params": [1, 2]})
        self.assertEqual(st, 500, doc)
        self.assertEqual(self.sql("SELECT $1 AS x", 6)["rows"], [{"x": 6}])
        st, doc = self.call("POST", "/sql", {"sql": "INSERT INTO items (name, qty) VALUES ($1, $2)",
                                             "params": ["neg", -1]})
        self.assertEqual(st, 500, doc)
        self.sql("INSERT INTO items (name, qty) VALUES ($1, $2)", "pos", 1)
        self.assertEqual(self.sql("SELECT name FROM items")["rows"], [{"name": "pos"}])
        self.sql("DROP TABLE sc")
        st, doc = self.call("POST", "/sql", {"sql": "SELECT * FROM sc"})
        self.assertEqual(st, 500, doc)
        self.assertIn("no such table: sc", self.srv.log())

    def test_where_a_query_cannot_wait(self):
        st, doc = self.call("GET", "/cannot-wait")
        self.assertEqual(st, 200, doc)
        self.assertTrue(doc["coroutine"].endswith(
            "db:query: cannot wait inside a coroutine the app created (use crater.spawn)"), doc)
        self.assertTrue(doc["gsub"].endswith(
            "db:query: cannot wait here: Lua cannot yield inside a string.gsub callback, "
            "a table.sort comparator or require"), doc)
        self.assertEqual(self.call("GET", "/count"), (200, {"n": 0}))  # nothing left queued

    def test_several_statements_without_parameters(self):
        doc = self.sql("INSERT INTO items (name, qty) VALUES ('m', 1); SELECT name FROM items;")
        self.assertEqual(doc["rows"], [{"name": "m"}])

    def test_unique_violation_maps_to_409(self):
        st, doc = self.call("POST", "/items", {"name": "pen", "qty": 1})
        self.assertEqual(st, 201, doc)
        st, doc = self.call("POST", "/items", {"name": "pen", "qty": 2})
        self.assertEqual(st, 409, doc)
        self.assertEqual(doc["detail"], "an item named pen exists")

    def test_other_errors_are_500_without_the_code(self):
        st, doc = self.call("POST", "/items", {"name": "neg", "qty": -1})
        self.assertEqual(st, 500, doc)
        self.assertEqual(doc["detail"], "the server failed to answer this request")
        self.assertNotIn("SQLITE", json.dumps(doc))
        self.assertIn("SQLITE_CONSTRAINT_CHECK: CHECK constraint failed: qty_positive", self.srv.log())
        st, doc = self.call("POST", "/sql", {"sql": "SELEC 1"})
        self.assertEqual(st, 500, doc)
        self.assertIn('SQLITE_ERROR: near "SELEC": syntax error', self.srv.log())

    def test_transaction_commit_rollback_and_error_midway(self):
        self.sql("INSERT INTO items (name, qty) VALUES ('a', 5), ('b', 0)")
        st, doc = self.call("POST", "/move?from=a&to=b&n=3")
        self.assertEqual((st, doc), (200, {"moved": 3}))
        # a's qty would become -1: the CHECK fails, b's update is rolled back
        st, doc = self.call("POST", "/move?from=a&to=b&n=3")
        self.assertEqual(st, 500, doc)
        # an error in between the two updates: rolled back too
        st, doc = self.call("POST", "/move?from=a&to=b&n=1&boom=1")
        self.assertEqual(st, 500, doc)
        self.assertIn("boom mid-way", self.srv.log())
        rows = self.sql("SELECT name, qty FROM items ORDER BY name")["rows"]
        self.assertEqual(rows, [{"name": "a", "qty": 2}, {"name": "b", "qty": 3}])

    def test_savepoint_rolls_back_the_inner_transaction_only(self):
        st, doc = self.call("POST", "/nested")
        self.assertEqual((st, doc), (200, {"inner_failed": True}))
        rows = self.sql("SELECT name FROM items ORDER BY id")["rows"]
        self.assertEqual(rows, [{"name": "outer"}])

    def test_other_requests_wait_for_an_open_transaction(self):
        slow = self.start_all([("POST", "/slow-tx?a=t1&b=t2&hold=1")])
        self.wait_open("t1")  # the transaction is open, between its two inserts
        t0 = time.time()
        readers = self.start_all([("GET", "/count")] * 5)
        counts = self.finish_all(readers)
        waited = time.time() - t0
        self.assertEqual(self.finish_all(slow), [(200, {"ok": True})])
        # never one of the two rows: the readers ran after the commit
        self.assertEqual(counts, [(200, {"n": 2})] * 5)
        self.assertGreater(waited, 0.2)
        # other requests that do not touch the database were not held up
        st, doc = self.call("GET", "/gen")
        self.assertEqual(st, 200)

    def test_a_request_stopped_mid_transaction_rolls_back(self):
        st, doc = self.call("POST", "/stuck-tx?a=lost")
        self.assertEqual(st, 504, doc)
        st, doc = self.call("GET", "/count", timeout=10)
        self.assertEqual((st, doc), (200, {"n": 0}))
        st, doc = self.call("POST", "/items", {"name": "after", "qty": 1})
        self.assertEqual(st, 201, doc)

    def test_client_gone_mid_transaction_rolls_back(self):
        c = self.start_all([("POST", "/slow-tx?a=g1&b=g2&hold=2")])[0]
        self.wait_open("g1")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
        wait_for(lambda: "went away" in self.srv.log(), timeout=WAIT)
        st, doc = self.call("GET", "/count")
        self.assertEqual((st, doc), (200, {"n": 0}))

    def test_a_deadline_passing_during_a_query(self):
        t0 = time.time()
        # a query of about 15 s (1.5 s per 10 million rows here), a deadline of 0.1 s:
        # the bounds below are far from both, however loaded the machine
        st, doc = self.call("GET", "/slow-query-deadline?n=100000000")
        self.assertEqual(st, 504, doc)
        self.assertLess(time.time() - t0, 5)  # at the deadline, not when the query ends
        # the statement is interrupted on its thread: the next one runs at once
        t0 = time.time()
        st, doc = self.call("GET", "/count")
        self.assertEqual((st, doc), (200, {"n": 0}))
        self.assertLess(time.time() - t0, 5)

    def test_200_concurrent_writers_lose_nothing(self):
        reqs = [("POST", "/sql-insert-%d" % i) for i in range(200)]
        conns = []
        for i in range(200):
            c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=WAIT)
            body = json.dumps({"sql": "INSERT INTO items (name, qty) VALUES ($1, $2)", "params": ["w%d" % i, i]})
            c.request("POST", "/sql", body=body, headers={"Content-Type": "application/json"})
            conns.append(c)
        answers = self.finish_all(conns)
        self.assertEqual([a[0] for a in answers], [200] * 200, [a for a in answers if a[0] != 200][:3])
        self.assertEqual(len(reqs), 200)
        st, doc = self.call("GET", "/count")
        self.assertEqual(doc, {"n": 200})

    def test_transactions_and_plain_writes_mixed(self):
        reqs = []
        for i in range(150):
            reqs.append(("POST", "/incr") if i % 3 == 0 else ("GET", "/count"))
        answers = self.finish_all(self.start_all(reqs))
        self.assertEqual([a[0] for a in answers], [200] * 150)
        self.assertEqual(sorted(a[1]["n"] for a, r in zip(answers, reqs) if r[1] == "/incr"),
                         list(range(1, 51)))
        st, doc = self.call("GET", "/counter")
        self.assertEqual(doc, {"n": 50})

    def test_errors_in_timers_and_threads_say_what_they_are(self):
        self.assertEqual(self.call("POST", "/failing-timer")[0], 202)
        wait_for(lambda: "SQLITE_ERROR: no such table: no_such_table" in self.srv.log(), timeout=WAIT)
        st, doc = self.call("GET", "/failing-thread")
        self.assertEqual((st, doc), (200, {"ok": False, "err": "SQLITE_ERROR: no such table: no_such_table"}))

    def test_a_timer_writes(self):
        wait_for(lambda: self.call("GET", "/timer-log")[1] == {"n": 1}, timeout=WAIT)

    def test_concurrent_read_modify_write_in_transactions(self):
        answers = self.finish_all(self.start_all([("POST", "/incr")] * 50))
        self.assertEqual(sorted(a[1]["n"] for a in answers), list(range(1, 51)))
        st, doc = self.call("GET", "/counter")
        self.assertEqual(doc, {"n": 50})

    def test_memory_database(self):
        st, doc = self.call("GET", "/memory")
        self.assertEqual((st, doc), (200, {"n": 3, "path": ":memory:"}))

    def test_urls(self):
        # postgres:// is crater.pg's (test_pg.py, test_todo_api.py): a handle,
        # which connects at its first query.
        st, doc = self.call("GET", "/bad-url?url=postgres://u@h/db")
        self.assertTrue(doc["ok"], doc)
        st, doc = self.call("GET", "/bad-url?url=mysql://x")
        self.assertIn("unknown database URL 'mysql://x'", doc["err"])

    def test_reload_with_a_transaction_open(self):
        slow = self.start_all([("POST", "/slow-tx?a=r1&b=r2&hold=1")])
        self.wait_open("r1")
        self.srv.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in self.srv.log() or "reload failed" in self.srv.log(), timeout=WAIT)
        self.assertIn("reloaded", self.srv.log())
        self.assertEqual(self.finish_all(slow), [(200, {"ok": True})])
        st, doc = self.call("GET", "/loaded")
        self.assertEqual(doc, [{"v": "loaded at first start"}])
        st, doc = self.call("GET", "/count")
        self.assertEqual(doc, {"n": 2})

    def test_a_write_at_load_time_during_a_transaction_fails_at_once(self):
        # held long enough that the reload below surely meets the open
        # transaction, even on a slow machine
        slow = self.start_all([("POST", "/slow-tx?a=l1&b=l2&hold=2")])
        self.wait_open("l1")
        open(os.path.join(self.dir, "write-at-load"), "w").close()
        self.locked_in_log = True
        t0 = time.time()
        self.srv.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload" in self.srv.log(), timeout=WAIT)
        self.assertLess(time.time() - t0, 3.0)  # not the 5 s busy timeout
        self.assertIn("reload failed, generation 1 keeps serving: SQLITE_BUSY: database is locked by a "
                      "request's transaction", self.srv.log())
        self.assertEqual(self.finish_all(slow), [(200, {"ok": True})])
        # once the transaction is over, the same reload works
        self.srv.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in self.srv.log(), timeout=WAIT)
        st, doc = self.call("GET", "/loaded")
        self.assertEqual(doc, [{"v": "loaded at first start"}, {"v": "written at load"}])


class SqliteWorkers(SqliteBase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="crater-sqlite-")
        self.app = os.path.join(self.dir, "app.lua")
        shutil.copy(APP, self.app)
        probe = socket.socket()  # workers share a fixed port (SO_REUSEPORT)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        self.srv = Server(self.app, "--workers", "2", port=port, wait=False)
        self.srv.port = port
        wait_for(lambda: self.srv.log().count("serving") >= 2, timeout=WAIT)

    def test_two_processes_writing_one_file(self):
        # each worker has its own connection: their writes meet on SQLite's
        # lock, which a statement waits for on its pool thread (busy_timeout)
        reqs = [("POST", "/incr")] * 40 + [("GET", "/count")] * 20
        conns = []
        for i in range(160):
            c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=WAIT)
            body = json.dumps({"sql": "INSERT INTO items (name, qty) VALUES ($1, $2)", "params": ["p%d" % i, i]})
            c.request("POST", "/sql", body=body, headers={"Content-Type": "application/json"})
            conns.append(c)
        answers = self.finish_all(conns) + self.finish_all(self.start_all(reqs))
        self.assertEqual([a[0] for a in answers], [200] * 220, [a for a in answers if a[0] != 200][:3])
        self.assertEqual(self.call("GET", "/count")[1], {"n": 160})
        self.assertEqual(self.call("GET", "/counter")[1], {"n": 40})


class SqliteStop(SqliteBase):
    args = ("--grace", "0.1")

    def test_stopping_while_a_query_runs(self):
        # the grace period ends while the statement is still on the pool: it
        # is interrupted, and its connection closed when it comes back (no
        # leak under ASan)
        c = self.start_all([("GET", "/slow-query?n=10000000")])[0]
        self.assertTrue(wait_for(lambda: self.call("GET", "/gen")[1]["queries"] == 1, timeout=WAIT),
                        self.srv.log())
        self.srv.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.srv.proc.wait(timeout=WAIT), 0, self.srv.log())
        self.assertIn("grace period over", self.srv.log())
        c.close()


class SqliteDev(SqliteBase):
    args = ("--dev",)

    def test_the_code_is_in_the_answer_with_dev(self):
        st, doc = self.call("POST", "/raw-error")
        self.assertEqual(st, 500, doc)
        self.assertIn("SQLITE_CONSTRAINT_CHECK: CHECK constraint failed: qty_positive", doc["detail"])


if __name__ == "__main__":
    run()
