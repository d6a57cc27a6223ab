"""Streamed responses (crater.stream): chunked framing, HTTP/1.0, HEAD,
pipelining behind a stream, backpressure, failures and disconnects."""
import os
import time
import unittest

from harness import ROOT, Server, parse_responses, read_response, recv_all, run

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


if __name__ == "__main__":
    run()
