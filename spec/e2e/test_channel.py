"""crater.channel over real sockets: a receive waiting in one request is
woken by a publish from another (host/src/notify.c, no polling), its
timeout, close from another thread, and the waits of requests whose client
went away (removed, their subscriptions collected)."""
import json
import os
import socket
import unittest

from harness import ROOT, Server, read_response, run, wait_for

APP = os.path.join(ROOT, "spec", "e2e", "apps", "channel_app.lua")


class Channel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0

    def stats(self):
        return json.loads(self.srv.get("/stats")[2])

    def wait_subscribers(self, n):
        self.assertTrue(wait_for(lambda: self.stats()["subscribers"] == n, timeout=10), self.stats())

    def start(self, path):
        s = self.srv.connect()
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        return s

    def test_publish_wakes_waiters_of_other_requests(self):
        self.wait_subscribers(0)
        socks = [self.start("/sub") for _ in range(5)]  # no timeout: only a publish ends them
        self.wait_subscribers(5)
        st, h, body = self.srv.request("POST", "/pub", body="hi")
        self.assertEqual(json.loads(body), {"delivered": 5})
        for s in socks:
            st, h, body = read_response(s.makefile("rb"))
            s.close()
            self.assertEqual((st, json.loads(body)), (200, {"msg": "hi"}))
        self.wait_subscribers(0)

    def test_timeout(self):
        st, h, body = self.srv.get("/sub?timeout=0.05")
        self.assertEqual(json.loads(body), {"err": "timeout"})
        st, h, body = self.srv.get("/sub?timeout=0")
        self.assertEqual(json.loads(body), {"err": "timeout"})

    def test_close_from_another_thread(self):
        st, h, body = self.srv.get("/close")
        self.assertEqual(json.loads(body), {"err": "closed"})

    def test_one_publish_wakes_threads_of_one_request(self):
        st, h, body = self.srv.get("/fanout")
        self.assertEqual(json.loads(body), {"a": "x", "b": "x"})

    def test_waiters_whose_client_left_are_removed(self):
        self.wait_subscribers(0)
        socks = [self.start("/sub") for _ in range(6)]
        self.wait_subscribers(6)
        # a reset: a client that only half-closes may still read its answer
        for s in socks[:4]:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        # their waits are cancelled with their requests, their subscriptions collected
        self.wait_subscribers(2)
        st, h, body = self.srv.request("POST", "/pub", body="late")
        self.assertEqual(json.loads(body), {"delivered": 2})
        for s in socks[4:]:
            st, h, body = read_response(s.makefile("rb"))
            s.close()
            self.assertEqual(json.loads(body), {"msg": "late"})
        self.assertEqual(self.srv.get("/stats")[0], 200)  # still serving

    def test_bad_timeout_is_a_500_and_the_server_goes_on(self):
        st, h, body = self.srv.get("/sub?timeout=-1")
        self.assertEqual(st, 500)
        self.assertEqual(self.srv.get("/stats")[0], 200)


if __name__ == "__main__":
    run()
