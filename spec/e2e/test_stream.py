"""Streamed responses (crater.stream): chunked framing, HTTP/1.0, HEAD,
pipelining behind a stream, backpressure, failures and disconnects."""
import os
import socket
import time
import unittest

from harness import ROOT, HandlerNotes, Server, parse_responses, read_response, run, wait_for

APP = os.path.join(ROOT, "spec", "e2e", "apps", "stream.lua")


class Stream(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0

    def test_chunked_with_headers(self):
        s = self.srv.connect()
        s.sendall(b"GET /chunks/3 HTTP/1.1\r\nHost: x\r\n\r\n")
        st, h, body = read_response(s.makefile("rb"))
        self.assertEqual(st, 200)
        self.assertEqual(h["transfer-encoding"], "chunked")
        self.assertNotIn("content-length", h)
        self.assertEqual(h["content-type"], "text/event-stream")
        self.assertEqual(h["x-stream"], "yes")
        self.assertEqual(body, b"chunk 1\nchunk 2\nchunk 3\n")
        s.close()

    def test_chunk_framing_on_the_wire(self):
        raw = self.srv.raw(b"GET /chunks/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(raw.endswith(b"\r\n\r\n8\r\nchunk 1\n\r\n8\r\nchunk 2\n\r\n0\r\n\r\n"), raw)

    def test_curl_reads_stream(self):
        rc, out, err = self.srv.curl(self.srv.url("/chunks/5"))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.count(b"chunk"), 5)

    def test_empty_stream(self):
        s = self.srv.connect()
        s.sendall(b"GET /empty HTTP/1.1\r\nHost: x\r\n\r\n")
        st, h, body = read_response(s.makefile("rb"))
        self.assertEqual((st, body), (200, b""))
        s.close()

    def test_http10_stream_ends_with_close(self):
        raw = self.srv.raw(b"GET /chunks/2 HTTP/1.0\r\n\r\n")
        head, body = raw.split(b"\r\n\r\n", 1)
        self.assertNotIn(b"chunked", head.lower())
        self.assertIn(b"Connection: close", head)
        self.assertEqual(body, b"chunk 1\nchunk 2\n")

    def test_head_on_stream_sends_no_body(self):
        s = self.srv.connect()
        s.sendall(b"HEAD /chunks/2 HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
        f = s.makefile("rb")
        line = f.readline()
        self.assertTrue(line.startswith(b"HTTP/1.1 200"))
        while f.readline() != b"\r\n":
            pass
        st, h, body = read_response(f)
        self.assertEqual((st, body), (200, b"plain"))
        s.close()

    def test_pipelined_requests_wait_behind_stream(self):
        raw = self.srv.raw(b"GET /chunks/3 HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"GET /chunks/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        res = parse_responses(raw)
        self.assertEqual([r[2] for r in res],
                         [b"chunk 1\nchunk 2\nchunk 3\n", b"plain", b"chunk 1\n", b"plain"])

    def test_big_stream_slow_reader(self):
        s = self.srv.connect()
        s.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 65536)
        s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)  # the server must stop producing while we don't read
        st, h, body = read_response(s.makefile("rb"))
        self.assertEqual(len(body), 128 * 65536)
        s.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(read_response(s.makefile("rb"))[2], b"plain")
        s.close()

    def test_failure_midway_truncates_and_logs(self):
        raw = self.srv.raw(b"GET /fail-midway HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b"first\n", raw)
        self.assertFalse(raw.endswith(b"0\r\n\r\n"), raw)  # no terminating chunk
        self.assertIn("stream broke", self.srv.log())
        self.assertEqual(self.srv.get("/plain")[2], b"plain")

    def test_client_disconnect_midstream(self):
        for _ in range(5):
            s = self.srv.connect()
            s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(1000)
            s.close()
        time.sleep(0.2)
        self.assertEqual(self.srv.get("/plain")[2], b"plain")



def leave(s, reset):
    """Closes s: with a FIN, or with a reset (SO_LINGER 0)."""
    if reset:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()


class Gone(HandlerNotes, unittest.TestCase):
    """A client that goes away while the stream's function waits: that wait
    returns nil, "closed", so does every later write, and its cleanup runs
    (docs/routing.md, "Streaming")."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0

    def test_sleep_returns_closed_and_later_writes_too(self):
        # a FIN alone is the end of what the client sends: nothing changes
        # until a write finds the connection closed
        s, _ = self.open("/gone/sleep?s=2&tag=fin", b"started")
        leave(s, False)
        time.sleep(0.2)  # well inside the handler's 2 s sleep
        self.assertEqual(self.seen("fin")["seen"], "write:true,nil")
        self.assertTrue(self.until_seen("fin", "done")["seen"].startswith("write:true,nil sleep:nil,nil write:"))
        for reset in (True,):
            tag = "sleep%d" % reset
            s, _ = self.open("/gone/sleep?tag=" + tag, b"started")
            leave(s, reset)
            v = self.until_seen(tag, "done")
            self.assertEqual(v["seen"], "write:true,nil sleep:nil,closed write:nil,closed write:nil,closed done")
        self.assertEqual(self.srv.get("/plain")[2], b"plain")

    def test_gzip_stream(self):
        s, head = self.open("/gone/sleep?tag=gz", b"\r\n\r\n", headers=b"Accept-Encoding: gzip\r\n")
        self.assertIn(b"Content-Encoding: gzip", head)
        time.sleep(0.1)
        leave(s, True)
        v = self.until_seen("gz", "done")
        self.assertEqual(v["seen"], "write:true,nil sleep:nil,closed write:nil,closed write:nil,closed done")

    def test_handler_and_its_thread_both_hear_it(self):
        s, _ = self.open("/gone/thread?tag=th", b"started")
        leave(s, True)
        v = self.until_seen("th", "thread:nil,closed,nil")  # crater.wait returned "nil,closed"
        self.assertEqual(v["seen"], "main:nil,closed thread:nil,closed,nil")

    def test_channel_receive_returns_closed(self):
        s, _ = self.open("/gone/channel?tag=ch", b"ready")
        self.assertEqual(self.seen("ch")["subscribers"], 1)
        leave(s, True)
        v = self.until_seen("ch", "unsubscribed")
        self.assertEqual(v, {"seen": "receive:nil,closed unsubscribed", "subscribers": 0})

    def test_socket_receive_returns_closed(self):
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        try:
            s, _ = self.open("/gone/socket?tag=so&port=%d" % lst.getsockname()[1], b"connected")
            peer, _ = lst.accept()
            leave(s, True)
            v = self.until_seen("so", "done")
            # the interrupted receive closed the socket: the next one says so
            self.assertEqual(v["seen"], "receive:nil,closed again:nil,closed done")
            peer.settimeout(5)
            self.assertEqual(peer.recv(10), b"")  # the server closed its side
            peer.close()
        finally:
            lst.close()

    def test_deadline_sooner_than_the_grace(self):
        s, _ = self.open("/gone/deadline?tag=dl", b"started")
        leave(s, True)
        self.until_seen("dl", "first:nil,closed")
        self.assertTrue(wait_for(lambda: "still running" in self.srv.log(), timeout=10))
        line = [l for l in self.srv.log().splitlines() if "still running" in l][0]
        self.assertIn("GET /gone/deadline?tag=dl", line)
        self.assertIn("still running at its deadline (1 s), after its client went away: stopped", line)
        self.assertEqual(self.seen("dl")["seen"], "first:nil,closed")

    def test_blocked_in_write_by_backpressure(self):
        for reset in (False, True):
            tag = "bp%d" % reset
            s, _ = self.open("/gone/backpressure?tag=" + tag, b"xxxx", rcvbuf=4096)
            time.sleep(0.3)  # the function fills the socket and waits in write
            leave(s, reset)
            v = self.until_seen(tag, "done")
            self.assertEqual(v["seen"], "write:nil,closed done")
        self.assertEqual(self.srv.get("/plain")[2], b"plain")


if __name__ == "__main__":
    run()
