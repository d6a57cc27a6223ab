"""crater.redis against a real redis-server this file starts (no
persistence, in a temporary folder): replies of each type, nil as JSON null,
error replies, binary values, pipelines, transactions, pub/sub, AUTH and
SELECT from the URL, unix sockets, pool reuse, a server killed mid-use and
restarted, timeouts and many concurrent requests. Skipped when redis-server
is not installed (.ci/setup.sh installs it)."""
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import unittest
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from harness import ROOT, Server, run, wait_for
from redis_server import MISSING, RedisServer, free_port
from test_socket import make_ca

APP = os.path.join(ROOT, "spec", "e2e", "apps", "redis.lua")


@unittest.skipIf(MISSING, MISSING)
class Redis(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer()
        cls.srv = Server(APP, env={"REDIS_URL": cls.redis.url()})

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.redis.stop()

    def setUp(self):
        self.redis.cli("FLUSHALL")

    def q(self, url=None, **extra):
        if "opts" in extra:
            extra["opts"] = json.dumps(extra["opts"])
            if url is None:
                return urllib.parse.urlencode(extra)
        return urllib.parse.urlencode({"url": url or self.redis.url(), **extra})

    def call(self, *cmd, url=None, **extra):
        status, _, body = self.srv.request("POST", "/call?" + self.q(url, **extra), body=list(cmd))
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def post(self, path, body, url=None, **extra):
        status, _, data = self.srv.request("POST", path + "?" + self.q(url, **extra), body=body)
        self.assertEqual(status, 200, data)
        return json.loads(data)

    def get(self, path, url=None, timeout=10, **extra):
        status, _, data = self.srv.request("GET", path + "?" + self.q(url, **extra), timeout=timeout)
        self.assertEqual(status, 200, data)
        return json.loads(data)

    # --- replies -------------------------------------------------------------------

    def test_reply_types(self):
        self.assertEqual(self.call("SET", "s", "hello"), {"value": "OK"})        # simple string
        self.assertEqual(self.call("GET", "s"), {"value": "hello"})              # bulk string
        self.assertEqual(self.call("INCR", "n"), {"value": 1})                   # integer
        self.assertEqual(self.call("INCRBY", "n", 41), {"value": 42})
        self.assertEqual(self.call("RPUSH", "l", "a", "b", 3), {"value": 3})
        self.assertEqual(self.call("LRANGE", "l", 0, -1), {"value": ["a", "b", "3"]})  # array
        self.assertEqual(self.call("LRANGE", "nothing", 0, -1), {"value": []})
        self.assertEqual(self.call("GET", "missing"), {"value": None})           # nil bulk -> null
        self.assertEqual(self.call("BLPOP", "nothing", "0.05"), {"value": None})  # nil array -> null
        self.assertEqual(self.call("HSET", "h", "f", "v"), {"value": 1})
        self.assertEqual(self.call("HMGET", "h", "f", "g"), {"value": ["v", None]})  # null inside an array
        self.assertEqual(self.call("set", "lower", "case"), {"value": "OK"})     # names in any case
        self.assertEqual(self.call("INCRBYFLOAT", "f", 0.5), {"value": "0.5"})
        self.assertEqual(self.call("SET", "big", 2 ** 40), {"value": "OK"})
        self.assertEqual(self.redis.cli("GET", "big"), str(2 ** 40))            # integers not as 1.09e+12

    def test_set_with_options(self):
        self.assertEqual(self.call("SET", "e", "v", "EX", 60), {"value": "OK"})
        ttl = self.call("TTL", "e")["value"]
        self.assertTrue(55 <= ttl <= 60, ttl)
        self.assertEqual(self.call("SET", "e", "w", "NX"), {"value": None})     # not set: nil reply

    def test_methods_from_names(self):
        self.assertEqual(self.post("/method/incrby", ["m", 5]), {"value": 5})
        self.assertEqual(self.post("/method/hset", ["mh", "a", "1", "b", "2"]), {"value": 2})
        got = self.post("/method/hgetall", ["mh"])["value"]
        self.assertEqual(dict(zip(got[::2], got[1::2])), {"a": "1", "b": "2"})
        self.assertEqual(self.post("/method/ping", []), {"value": "PONG"})

    def test_error_replies(self):
        self.call("SET", "s", "x")
        got = self.call("LPUSH", "s", "y")
        self.assertRegex(got["err"], r"^WRONGTYPE Operation against a key holding the wrong kind of value")
        got = self.call("NOSUCHCOMMAND", "x")
        self.assertRegex(got["err"], r"^ERR unknown command 'NOSUCHCOMMAND'")
        self.assertRegex(self.call("GET")["err"], r"^ERR wrong number of arguments")
        # the connection is fine after an error reply
        self.assertEqual(self.call("GET", "s"), {"value": "x"})

    def test_commands_refused_with_a_reason(self):
        with open(APP) as f:
            lines = f.read().split("\n")
        at = {what: "apps/redis.lua:%d: " % (1 + next(i for i, line in enumerate(lines) if mark in line))
              for what, mark in (("select", "r:select(1)"), ("table", 'r:set("k", {})'),
                                 ("gsub", 'local got = r:get("k")'), ("subscribe", 'r:subscribe("a", 1)'))}
        got = self.get("/bad", what="select")
        self.assertEqual(got["err"].split(at["select"])[1],
                         "crater.redis: SELECT is not allowed here: put the database "
                         "in the URL (redis://host:6379/2) or opts.db")
        got = self.get("/bad", what="multi")
        self.assertIn("MULTI is not allowed here: use r:transaction(fn)", got["err"])
        got = self.get("/bad", what="table")
        self.assertIn("argument 2 of SET must be a string or a number, not table", got["err"])
        self.assertIn(at["table"] + "crater.redis", got["err"])
        got = self.get("/bad", what="gsub")
        self.assertIn(at["gsub"] + "crater.redis: cannot wait here: Lua cannot yield inside a string.gsub callback",
                      got["err"])
        got = self.get("/bad", what="subscribe")
        self.assertIn(at["subscribe"] + "crater.redis: subscribe expects channel names (strings)", got["err"])  # raised at the app's line

    def test_binary_values(self):
        for value in (b"a\r\nb\r\n", b"\x00\x01\xff\x00", b"\r\n$3\r\n*1\r\n", b"", os.urandom(1 << 20)):
            status, _, body = self.srv.request("POST", "/raw?" + self.q(key="bin"), body=value)
            self.assertEqual((status, json.loads(body)), (200, {"value": "OK"}))
            status, _, body = self.srv.request("GET", "/raw?" + self.q(key="bin"))
            self.assertEqual(status, 200)
            self.assertEqual(body, value)
        # what redis holds is the bytes sent
        self.redis.cli("SET", "fromcli", "x\ty z")
        self.assertEqual(self.srv.request("GET", "/raw?" + self.q(key="fromcli"))[2], b"x\ty z")
        self.assertEqual(self.srv.request("GET", "/raw?" + self.q(key="absent"))[0], 404)

    # --- pipelines and transactions ----------------------------------------------------

    def test_pipeline(self):
        self.redis.cli("SET", "str", "x")
        cmds = [["SET", "a", "1"], ["INCR", "a"], ["GET", "a"], ["GET", "nope"], ["LPUSH", "str", "y"],
                ["RPUSH", "l", "p", "q"], ["LRANGE", "l", 0, -1]]
        for style in ("function", "object"):
            self.redis.cli("DEL", "l")
            got = self.post("/pipeline", cmds, style=style)
            self.assertEqual(got["errors"], [False, False, False, False, True, False, False])
            v = got["value"]
            self.assertEqual(v[:4], ["OK", 2, "2", None])
            self.assertRegex(v[4]["error"], r"^WRONGTYPE")
            self.assertEqual(v[5:], [2, ["p", "q"]])
        self.assertEqual(self.post("/pipeline", []), {"value": [], "errors": []})

    def test_pipeline_is_one_round_trip(self):
        # a thousand commands, one connection, in order
        cmds = [["INCR", "c"] for _ in range(1000)]
        got = self.post("/pipeline", cmds)
        self.assertEqual(got["value"], list(range(1, 1001)))

    def test_transaction(self):
        got = self.post("/transaction", [["SET", "t", "1"], ["INCR", "t"], ["GET", "t"]])
        self.assertEqual(got, {"value": ["OK", 2, "2"]})
        # an error at run time: the others still ran (Redis has no rollback)
        self.redis.cli("SET", "s", "x")
        got = self.post("/transaction", [["INCR", "t"], ["LPUSH", "s", "y"]])
        self.assertEqual(got["value"][0], 3)
        self.assertRegex(got["value"][1]["error"], "^WRONGTYPE")
        # an error while queued: nothing ran
        got = self.post("/transaction", [["INCR", "t"], ["NOSUCH"]])
        self.assertRegex(got["err"], r"^EXECABORT .*: ERR unknown command 'NOSUCH'")
        self.assertEqual(self.redis.cli("GET", "t"), "3")

    def test_watch_on_a_held_connection(self):
        self.assertEqual(self.post("/watch", None, key="w"), {"value": ["OK"]})
        self.assertEqual(self.post("/watch", None, key="w"), {"value": ["OK"]})
        self.assertEqual(self.redis.cli("GET", "w"), "2")
        # another client changed the key between WATCH and EXEC: null, nothing ran
        self.assertEqual(self.post("/watch", None, key="w", interfere=1), {"value": None})
        self.assertEqual(self.redis.cli("GET", "w"), "changed")

    def test_held_connection_cleaned_up(self):
        url = self.redis.url(db=12)
        for how in ("multi", "watch", "none"):
            got = self.get("/held", url=url, how=how)
            # back in the pool, clean: the next command took it, and the
            # MULTI left open was discarded (nothing was written)
            self.assertEqual(got, {"id": got["id"], "ok": True, "err": None, "after": got["id"], "held": None},
                             how)
        # fn raised: the error comes back, the connection was closed
        got = self.get("/held", url=url, how="raise")
        self.assertEqual((got["ok"], got["err"]), (False, "boom"))
        self.assertNotEqual(got["after"], got["id"])
        # two threads at once on the held connection: the second is told busy
        got = self.get("/held", url=url, how="busy")
        self.assertEqual((got["ok"], got["err"]), (False, "redis %s: busy" % self.redis.url()[8:].split("/")[0]))
        # used after fn returned: raised
        got = self.get("/held", url=url, how="late")
        self.assertFalse(got["ok"])
        self.assertIn("crater.redis: this connection was held for r:connection(fn), which has returned",
                      got["err"])

    def test_unknown_option(self):
        status, _, body = self.srv.request("POST", "/call?" + self.q(opts={"timout": 1}), body=["PING"])
        self.assertEqual(status, 500)
        self.assertTrue(wait_for(lambda: "crater.redis.connect: unknown option timout" in self.srv.log(), 5))

    # --- pub/sub ----------------------------------------------------------------------

    def subscribe_async(self, **params):
        out = {}

        def go():
            out["got"] = self.get("/subscribe", **params)
        t = threading.Thread(target=go)
        t.start()
        return t, out

    def wait_subscribers(self, channel, n=1):
        def count():
            got = self.redis.cli("PUBSUB", "NUMSUB", channel).split("\n")
            return int(got[1]) >= n
        self.assertTrue(wait_for(count, 10), "no subscriber on " + channel)

    def test_pubsub(self):
        t, out = self.subscribe_async(channel="news", n=3, wait=10, unsubscribe=1)
        self.wait_subscribers("news")
        self.assertEqual(self.redis.cli("PUBLISH", "news", "from redis-cli"), "1")
        self.assertEqual(self.call("PUBLISH", "news", "from another request"), {"value": 1})
        self.assertEqual(self.call("PUBLISH", "news", "bin\r\n\x00ary"), {"value": 1})
        t.join(15)
        got = out["got"]["value"]
        self.assertEqual(got[:3], [
            {"kind": "message", "channel": "news", "data": "from redis-cli"},
            {"kind": "message", "channel": "news", "data": "from another request"},
            {"kind": "message", "channel": "news", "data": "bin\r\n\x00ary"},
        ])
        self.assertEqual(got[3], {"unsubscribed": True})
        self.assertEqual(self.redis.cli("PUBSUB", "NUMSUB", "news"), "news\n0")

    def test_psubscribe_and_more_channels(self):
        t, out = self.subscribe_async(pattern="ev.*", n=1, wait=10, also="other")
        wait_for(lambda: self.redis.cli("PUBSUB", "NUMPAT") == "1", 10)
        self.call("PUBLISH", "ev.one", "1")
        self.wait_subscribers("other")
        self.call("PUBLISH", "other", "2")
        t.join(15)
        self.assertEqual(out["got"]["value"], [
            {"kind": "pmessage", "pattern": "ev.*", "channel": "ev.one", "data": "1"},
            {"kind": "message", "channel": "other", "data": "2"},
        ])

    def test_receive_timeout(self):
        start = time.time()
        got = self.get("/subscribe", channel="quiet", n=2, wait=0.2)
        self.assertEqual(got["value"], [{"err": "timeout"}])
        self.assertLess(time.time() - start, 3)
        # the subscription's connection was closed with the request
        self.assertTrue(wait_for(lambda: self.redis.cli("PUBSUB", "NUMSUB", "quiet") == "quiet\n0", 10))

    def test_receive_again_after_a_timeout(self):
        t, out = self.subscribe_async(channel="slow", n=1, wait=0.1, keep=1)
        self.wait_subscribers("slow")
        # Long beside the 0.1 s receive timeout: on a loaded machine (the ASan
        # build beside the rest of ctest) two timeouts still come first.
        time.sleep(1.0)
        self.call("PUBLISH", "slow", "late")
        t.join(15)
        got = out["got"]["value"]
        self.assertGreaterEqual(len(got), 3, got)
        self.assertEqual(got[:2], [{"err": "timeout"}, {"err": "timeout"}])
        self.assertEqual(got[-1], {"kind": "message", "channel": "slow", "data": "late"})

    def test_server_sent_events(self):
        out = {}

        def go():
            out["got"] = self.srv.request("GET", "/events?" + self.q(channel="feed", n=3), timeout=15)
        t = threading.Thread(target=go)
        t.start()
        self.wait_subscribers("feed")
        for i in range(3):
            self.redis.cli("PUBLISH", "feed", "event %d" % i)
        t.join(15)
        status, headers, body = out["got"]
        self.assertEqual((status, headers["content-type"]), (200, "text/event-stream"))
        self.assertEqual(body, b": subscribed\n\ndata: event 0\n\ndata: event 1\n\ndata: event 2\n\n")

    def test_events_client_goes_away(self):
        s = self.srv.connect()
        s.sendall(("GET /events?%s HTTP/1.1\r\nHost: x\r\n\r\n" % self.q(channel="gone", n=1000)).encode())
        self.wait_subscribers("gone")
        s.close()
        # the next writes to the client fail: the request ends, its subscription closes

        def gone():
            self.redis.cli("PUBLISH", "gone", "anyone?")
            return self.redis.cli("PUBSUB", "NUMSUB", "gone") == "gone\n0"
        self.assertTrue(wait_for(gone, 10))

    def test_pubsub_in_one_request(self):
        self.assertEqual(self.get("/pubsub-self"), {"kind": "message", "channel": "self", "data": "to myself",
                                                    "meanwhile": ["nil", "busy", "nil", "busy"]})

    # --- connections ---------------------------------------------------------------------

    def test_pool_reuse(self):
        # a database of its own: the app's timer writes to database 0 every
        # 50 ms, and a pooled connection it holds at that moment is not ours
        url = self.redis.url(db=8)
        first = self.get("/ids", url=url, pool_size=4, n=3)["value"]
        self.assertEqual(len(set(first)), 1, first)                   # one connection for 3 commands
        again = self.get("/ids", url=url, pool_size=4, n=2)["value"]
        self.assertEqual(set(again), set(first))                      # and for the next request

    def test_auth_and_select_from_the_url(self):
        r = RedisServer(password="s3cret p@ss")
        try:
            url = "redis://:%s@127.0.0.1:%d/3" % (urllib.parse.quote("s3cret p@ss"), r.port)
            self.assertEqual(self.call("SET", "k", "in db 3", url=url), {"value": "OK"})
            self.assertEqual(r.cli("GET", "k", db=3), "in db 3")
            self.assertEqual(r.cli("EXISTS", "k", db=0), "0")
            # the same with a user name (the default user), on the unix socket
            url2 = "redis+unix://default:%s@%s?db=4" % (urllib.parse.quote("s3cret p@ss"), r.sock)
            self.assertEqual(self.call("SET", "k", "in db 4", url=url2), {"value": "OK"})
            self.assertEqual(r.cli("GET", "k", db=4), "in db 4")
            # AUTH and SELECT run once per new connection, not per command
            # (redis-cli AUTHs too: once per run, counted in the difference)
            def stats():
                return {k: int(v.split("calls=")[1].split(",")[0]) for k, v in
                        (line.split(":", 1) for line in r.cli("INFO", "commandstats").split("\n")
                         if line.startswith("cmdstat_"))}
            before = stats()
            for _ in range(5):
                self.assertEqual(len(set(self.get("/ids", url=url, n=3)["value"])), 1)
            after = stats()
            self.assertEqual(after["cmdstat_auth"] - before["cmdstat_auth"], 1)
            self.assertEqual(after.get("cmdstat_select", 0) - before.get("cmdstat_select", 0), 0)
            self.assertEqual(after["cmdstat_client|id"] - before.get("cmdstat_client|id", 0), 15)
            # a wrong password, no password
            bad = "redis://:wrong@127.0.0.1:%d" % r.port
            self.assertRegex(self.call("GET", "k", url=bad)["err"], r"^WRONGPASS")
            self.assertRegex(self.call("GET", "k", url=r.url(auth=False))["err"], r"^NOAUTH")
            # a database that does not exist: an error, nothing written to db 0
            self.assertRegex(self.call("SET", "z", "1", url=r.url(db=99))["err"], r"^ERR DB index is out of range")
            self.assertEqual(r.cli("EXISTS", "z"), "0")
        finally:
            r.stop()

    def test_unix_socket(self):
        url = self.redis.unix_url(db=2)
        self.assertEqual(self.call("SET", "u", "over unix", url=url), {"value": "OK"})
        self.assertEqual(self.redis.cli("GET", "u", db=2), "over unix")
        got = self.get("/ids", url=url, n=3)["value"]
        self.assertEqual(len(set(got)), 1, got)

    def test_options_table(self):
        opts = {"path": self.redis.sock, "db": 5}
        self.assertEqual(self.call("SET", "o", "by options", opts=opts), {"value": "OK"})
        self.assertEqual(self.redis.cli("GET", "o", db=5), "by options")
        opts = {"host": "127.0.0.1", "port": self.redis.port, "db": 6, "pool_size": 2}
        self.assertEqual(self.call("SET", "o", "tcp", opts=opts), {"value": "OK"})
        self.assertEqual(self.redis.cli("GET", "o", db=6), "tcp")
        # options given with a URL override it
        self.assertEqual(self.call("SET", "o", "over", url=self.redis.url(db=1), opts={"db": 7}),
                         {"value": "OK"})
        self.assertEqual(self.redis.cli("GET", "o", db=7), "over")

    def test_backlog_bounds_the_connections(self):
        # 40 commands at once, at most 3 connections: the others wait for one
        url = self.redis.url(db=9)
        got = self.get("/burst", url=url, n=40, pool_size=3, backlog=100)
        self.assertEqual(got["errors"], [])
        self.assertLessEqual(got["most"], 3)
        # without backlog, each takes its own
        got = self.get("/burst", url=self.redis.url(db=10), n=40, pool_size=3)
        self.assertEqual(got["errors"], [])
        self.assertGreaterEqual(got["most"], 20)
        # backlog full: "too many waiters"
        got = self.get("/burst", url=self.redis.url(db=11), n=10, pool_size=1, backlog=2)
        self.assertEqual(len(got["errors"]), 7, got)
        self.assertTrue(all(e.endswith(": too many waiters") for e in got["errors"]), got)

    def test_connect_timeout_covers_the_wait_for_a_pooled_connection(self):
        url = self.redis.url(db=13)
        got = self.get("/starve", url=url, pool_size=1, backlog=4, connect_timeout=0.5, hold=3)
        self.assertEqual(got["err"], "redis %s: timeout" % url[8:].split("/")[0])
        self.assertTrue(0.4 <= got["waited"] < 2.5, got)
        # the same, held shorter than the timeout: handed over when put back
        got = self.get("/starve", url=self.redis.url(db=14), pool_size=1, backlog=4, connect_timeout=2, hold=0.2)
        self.assertEqual(got["value"], "PONG")
        self.assertTrue(0.15 <= got["waited"] < 1.5, got)

    def test_idle_connections_are_closed(self):
        url = self.redis.url(db=15)
        first = self.get("/ids", url=url, n=1, opts={"keepalive_idle": 1.0})["value"][0]
        in_db15 = lambda: [line for line in self.redis.cli("CLIENT", "LIST").split("\n") if " db=15 " in line]
        self.assertEqual(len(in_db15()), 1)
        self.assertTrue(wait_for(lambda: not in_db15(), 10))   # closed after 1 s idle
        again = self.get("/ids", url=url, n=1, opts={"keepalive_idle": 1.0})["value"][0]
        self.assertNotEqual(first, again)

    def test_a_timer_uses_redis_too(self):
        self.assertTrue(wait_for(lambda: int(self.redis.cli("GET", "from-timer") or 0) >= 2, 10))

    def test_tls(self):
        d = tempfile.mkdtemp(prefix="crater-redis-tls-")
        try:
            ca, cert, key = make_ca(d)
            r = RedisServer(tls=(cert, key))
            try:
                for host in ("localhost", "127.0.0.1"):
                    url = "rediss://%s:%d/1" % (host, r.port)
                    self.assertEqual(self.call("SET", "t", "over tls", url=url, opts={"cafile": ca}),
                                     {"value": "OK"})
                    self.assertEqual(r.cli("GET", "t", db=1), "over tls")
                    ids = self.get("/ids", url=url, opts={"cafile": ca}, n=3)["value"]
                    self.assertEqual(len(set(ids)), 1, ids)  # TLS connections are pooled too
                # the system's CAs do not know this one
                got = self.call("PING", url="rediss://localhost:%d" % r.port)
                self.assertRegex(got["err"], r"^redis localhost:\d+: certificate verify failed: ")
                got = self.call("PING", url="rediss://localhost:%d" % r.port, opts={"verify": False})
                self.assertEqual(got, {"value": "PONG"})
                # the clear protocol on a TLS port: an error, not a hang
                got = self.call("PING", url="redis://127.0.0.1:%d" % r.port, timeout=2)
                self.assertRegex(got["err"], r"^redis 127\.0\.0\.1:\d+: ")
            finally:
                r.stop()
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_parse_url(self):
        cases = {
            "redis://127.0.0.1:6380/2": {"host": "127.0.0.1", "port": 6380, "db": 2},
            "redis://localhost": {"host": "localhost", "port": 6379},
            "redis://u:p%40ss@h:1/0": {"host": "h", "port": 1, "db": 0, "user": "u", "password": "p@ss"},
            "redis://:pw@h": {"host": "h", "port": 6379, "password": "pw"},
            "redis://[::1]:7000": {"host": "::1", "port": 7000},
            "redis+unix:///run/redis.sock?db=1": {"path": "/run/redis.sock", "db": 1},
            "rediss://h:6380": {"host": "h", "port": 6380, "tls": True},
            "redis+unix://:pw@/tmp/r.sock": {"path": "/tmp/r.sock", "password": "pw"},
        }
        for u, want in cases.items():
            self.assertEqual(self.get("/parse", u=u), {"value": want}, u)
        for u, err in {
            "http://h": "unsupported scheme http",
            "redis://h/x": "the path must be a database number",
            "redis://h:99999": "bad port",
            "redis+unix://relative": "a unix socket needs an absolute path",
            "redis://h?nope=1": "unknown parameter nope",
            "h:6379": "not redis://host or redis+unix:///path",
        }.items():
            self.assertEqual(self.get("/parse", u=u), {"err": "crater.redis: bad url: %s: %s" % (err, u)})

    def test_connection_refused(self):
        port = free_port()
        got = self.call("GET", "k", url="redis://127.0.0.1:%d" % port)
        self.assertEqual(got, {"err": "redis 127.0.0.1:%d: connection refused" % port})
        got = self.call("GET", "k", url="redis+unix:///nonexistent/redis.sock")
        self.assertEqual(got, {"err": "redis unix:/nonexistent/redis.sock: no such file or directory"})

    def test_read_timeout(self):
        start = time.time()
        got = self.call("BLPOP", "empty", 5, read_timeout=0.2)
        self.assertEqual(got, {"err": "redis %s: timeout" % self.redis.url()[8:]})
        self.assertLess(time.time() - start, 3)
        # a server that accepts and never answers
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        try:
            url = "redis://127.0.0.1:%d" % silent.getsockname()[1]
            start = time.time()
            self.assertEqual(self.call("PING", url=url, timeout=0.3),
                             {"err": "redis 127.0.0.1:%d: timeout" % silent.getsockname()[1]})
            self.assertLess(time.time() - start, 3)
        finally:
            silent.close()

    def test_not_redis(self):
        # a server that answers something else, or stops mid-reply
        answers = {b"PING": b"HTTP/1.1 400 Bad Request\r\n\r\n", b"GET": b"$10\r\nabc",
                   b"LLEN": b":12x\r\n", b"MGET": b"*x\r\n"}
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(8)

        def serve():
            while True:
                try:
                    conn, _ = lsock.accept()
                except OSError:
                    return
                data = conn.recv(4096)
                for k, v in answers.items():
                    if b"\r\n" + k + b"\r\n" in data:
                        conn.sendall(v)
                conn.close()
        threading.Thread(target=serve, daemon=True).start()
        try:
            where = "redis 127.0.0.1:%d: " % lsock.getsockname()[1]
            url = "redis://127.0.0.1:%d" % lsock.getsockname()[1]
            self.assertEqual(self.call("PING", url=url), {"err": where + "protocol error: not RESP2: HTTP/1.1 400 Bad Request"})
            self.assertEqual(self.call("GET", "k", url=url), {"err": where + "closed"})
            self.assertEqual(self.call("LLEN", "k", url=url), {"err": where + "protocol error: an integer that is not a number"})
            self.assertEqual(self.call("MGET", "k", url=url), {"err": where + "protocol error: an array's size is not a number"})
        finally:
            lsock.close()

    def test_many_concurrent_requests(self):
        url = self.redis.url()
        n = 200

        def one(_):
            return self.call("INCR", "hits", url=url, pool_size=16)

        with ThreadPoolExecutor(32) as ex:
            got = list(ex.map(one, range(n)))
        self.assertEqual(sorted(g["value"] for g in got), list(range(1, n + 1)))
        # and inside one request, 100 threads at once
        got = self.post("/spawn-incr", None, key="spawned", n=100)["value"]
        self.assertEqual(sorted(got), list(range(1, 101)))
        # what went back to the pool is bounded by its size (32, the last
        # handle's), whatever ran at once; redis-cli is the one more
        clients = [line for line in self.redis.cli("CLIENT", "LIST").split("\n") if " db=0 " in line]
        self.assertLessEqual(len(clients), 32 + 1)


@unittest.skipIf(MISSING, MISSING)
class RedisGoesAway(unittest.TestCase):
    """A server killed while in use: clean errors, then recovery once it is back."""

    def test_killed_and_restarted(self):
        r = RedisServer()
        srv = Server(APP)
        try:
            q = urllib.parse.urlencode({"url": r.url()})

            def call(*cmd):
                status, _, body = srv.request("POST", "/call?" + q, body=list(cmd))
                self.assertEqual(status, 200, body)
                return json.loads(body)

            self.assertEqual(call("SET", "k", "v"), {"value": "OK"})   # a pooled connection now
            # a request waiting on the server when it dies
            out = {}
            t = threading.Thread(target=lambda: out.update(got=call("BLPOP", "q", 10)))
            t.start()
            # and a subscription waiting for a message
            t2 = threading.Thread(target=lambda: out.update(sub=srv.get("/subscribe?" + q + "&channel=c&wait=10")))
            t2.start()
            self.assertTrue(wait_for(lambda: "cmd=blpop" in r.cli("CLIENT", "LIST"), 10))
            self.assertTrue(wait_for(lambda: r.cli("PUBSUB", "NUMSUB", "c") == "c\n1", 10))
            r.kill()
            t.join(15)
            t2.join(15)
            self.assertRegex(out["got"]["err"], r"^redis 127\.0\.0\.1:\d+: (closed|connection reset)$")
            status, _, body = out["sub"]
            self.assertEqual(status, 200)
            got = json.loads(body)["value"]
            self.assertEqual(len(got), 1, got)
            self.assertRegex(got[0]["err"], r"^redis 127\.0\.0\.1:\d+: (closed|connection reset)$")
            # while it is down
            self.assertEqual(call("GET", "k"), {"err": "redis 127.0.0.1:%d: connection refused" % r.port})
            r.start()
            # back: the next request works (nothing persisted)
            self.assertEqual(call("GET", "k"), {"value": None})
            self.assertEqual(call("SET", "k", "again"), {"value": "OK"})
            self.assertEqual(call("GET", "k"), {"value": "again"})
            # restarted with pooled connections idle: they are not used dead
            r.kill()
            r.start()
            self.assertEqual(call("GET", "k"), {"value": None})
        finally:
            srv.stop()
            r.stop()
        self.assertNotIn("[error]", srv.log())

    def test_restart_under_load(self):
        r = RedisServer()
        srv = Server(APP)
        try:
            q = urllib.parse.urlencode({"url": r.url(), "timeout": 2})
            stop = threading.Event()
            results = []

            # (when each request started, when it ended, status, body)
            def client():
                while not stop.is_set():
                    t0 = time.time()
                    status, _, body = srv.request("POST", "/call?" + q, body=["INCR", "n"])
                    results.append((t0, time.time(), status, json.loads(body)))

            threads = [threading.Thread(target=client) for _ in range(8)]
            for t in threads:
                t.start()
            time.sleep(0.3)
            r.kill()
            killed = time.time()
            time.sleep(0.3)
            r.start()
            restarted = time.time()
            # requests started once the server is back: a few of them answered
            self.assertTrue(wait_for(lambda: sum(1 for t0, _, _, _ in results if t0 > restarted + 0.2) >= 8, 15))
            stop.set()
            for t in threads:
                t.join(15)
            # every answer is a 200: a value, or a clean connection error
            self.assertTrue(all(st == 200 for _, _, st, _ in results))
            errors = [b["err"] for _, _, _, b in results if "err" in b]
            self.assertTrue(errors, "no request saw the server down")
            for e in errors:
                self.assertRegex(e, r"^redis 127\.0\.0\.1:\d+: (closed|connection reset|connection refused|broken pipe)$")
            before = [b for _, t1, _, b in results if t1 < killed - 0.05]
            after = [b for t0, _, _, b in results if t0 > restarted + 0.2]
            self.assertTrue(before and all("value" in b for b in before))
            self.assertTrue(after and all("value" in b for b in after), after[:5])
        finally:
            stop.set()
            srv.stop()
            r.stop()
        self.assertNotIn("[error]", srv.log())


if __name__ == "__main__":
    run()
