"""A WebSocket room across workers through Redis pub/sub (docs/websockets.md,
"Rooms across workers"): `crater --workers 2` against a throwaway
redis-server; clients held by both workers each receive, exactly once, a
message published once (by a client, by POST, by redis-cli from outside)."""
import http.client
import os
import time
import unittest

import redis_server
from harness import ROOT, Server, free_port
from test_websocket import Raw, frame

APP = os.path.join(ROOT, "spec", "e2e", "apps", "ws_redis.lua")


@unittest.skipIf(redis_server.MISSING, redis_server.MISSING or "")
class WsRedisTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = redis_server.RedisServer()
        # Workers share a fixed port (SO_REUSEPORT): port 0 would give each its own.
        port = free_port()
        cls.srv = Server(APP, "--workers", "2", port=port, wait=False, env={"REDIS_URL": cls.redis.url()})
        cls.srv.port = port
        # Each worker's listening loop subscribes once it started.
        deadline = time.time() + 20
        while cls.redis.cli("PUBSUB", "NUMSUB", "room:lobby").split()[-1] != "2":
            if time.time() > deadline:
                raise AssertionError("the two workers did not subscribe:\n" + cls.srv.log())
            time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.redis.stop()

    def clients_on_two_workers(self):
        """Opens sockets until two workers hold some (SO_REUSEPORT spreads them)."""
        by_worker = {}
        opened = []
        for _ in range(200):
            c = Raw(self.srv.port, "/rooms/lobby")
            self.assertIn(b" 101 ", c.head.split(b"\r\n")[0])
            op, _, hello = c.recv_frame()
            self.assertEqual(op, 1)
            by_worker.setdefault(hello, []).append(c)
            opened.append(c)
            if len(by_worker) == 2 and all(len(v) >= 2 for v in by_worker.values()):
                return by_worker, opened
        self.fail("200 sockets all landed on one worker: %r" % list(by_worker))

    def expect_once(self, clients, text):
        for c in clients:
            op, fin, data = c.recv_frame()
            self.assertEqual((op, fin, data), (1, True, text))
        for c in clients:  # and nothing more: published once, delivered once per socket
            c.s.settimeout(0.2)
            with self.assertRaises(OSError):
                c.recv_frame()
            c.s.settimeout(10)

    def test_a_message_from_a_client_reaches_both_workers(self):
        by_worker, opened = self.clients_on_two_workers()
        try:
            sender = next(iter(by_worker.values()))[0]
            sender.send(frame(1, b"hello, everyone"))
            self.expect_once(opened, b"hello, everyone")
        finally:
            for c in opened:
                c.close()

    def test_post_and_outside_publish(self):
        by_worker, opened = self.clients_on_two_workers()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
            conn.request("POST", "/rooms/lobby", body=b"from POST")
            resp = conn.getresponse()
            self.assertEqual((resp.status, resp.read()), (200, b'{"workers":2}'))
            conn.close()
            self.expect_once(opened, b"from POST")
            # Another instance, or any program, publishes to the same channel.
            self.assertEqual(self.redis.cli("PUBLISH", "room:lobby", "from outside"), "2")
            self.expect_once(opened, b"from outside")
        finally:
            for c in opened:
                c.close()

    def test_a_closed_socket_leaves_the_room_and_the_server_keeps_serving(self):
        by_worker, opened = self.clients_on_two_workers()
        gone = opened.pop()
        gone.close()
        try:
            time.sleep(0.2)
            conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
            conn.request("POST", "/rooms/lobby", body=b"after a close")
            self.assertEqual(conn.getresponse().status, 200)
            conn.close()
            self.expect_once(opened, b"after a close")
        finally:
            for c in opened:
                c.close()


if __name__ == "__main__":
    unittest.main()
