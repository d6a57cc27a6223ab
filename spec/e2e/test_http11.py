"""HTTP/1.1 framing over raw sockets: keep-alive, Connection: close, HTTP/1.0,
pipelining, HEAD, Expect: 100-continue, chunked request bodies."""
import json
import socket
import time
import unittest

from harness import Server, example, parse_responses, read_response, recv_all, run


class Http11(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(example("bench", "app.lua"))

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0

    def test_keep_alive_is_default(self):
        s = self.srv.connect()
        f = s.makefile("rb")
        for _ in range(3):
            s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
            st, h, body = read_response(f)
            self.assertEqual((st, body), (200, b"Hello, World!"))
            self.assertNotIn("connection", h)
        s.close()

    def test_connection_close(self):
        data = self.srv.raw(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        (st, h, body), = parse_responses(data)
        self.assertEqual((st, h["connection"], body), (200, "close", b"Hello, World!"))

    def test_http10_closes_by_default(self):
        data = self.srv.raw(b"GET /plaintext HTTP/1.0\r\n\r\n")
        (st, h, body), = parse_responses(data)
        self.assertEqual((st, h["connection"], body), (200, "close", b"Hello, World!"))

    def test_http10_keep_alive(self):
        s = self.srv.connect()
        f = s.makefile("rb")
        for _ in range(2):
            s.sendall(b"GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            st, h, body = read_response(f)
            self.assertEqual(h["connection"], "keep-alive")
            self.assertEqual(json.loads(body), {"message": "Hello, World!"})
        s.close()

    def test_pipelining_in_order(self):
        reqs = b"".join(b"GET /users/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(1, 51))
        reqs += b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        data = self.srv.raw(reqs)
        res = parse_responses(data)
        self.assertEqual(len(res), 51)
        for i, (st, h, body) in enumerate(res[:50], start=1):
            self.assertEqual(json.loads(body), {"id": i, "name": "user%d" % i})
        self.assertEqual(res[50][2], b"Hello, World!")

    def test_pipelining_split_across_reads(self):
        s = self.srv.connect()
        msg = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n" * 3
        for i in range(0, len(msg), 7):
            s.sendall(msg[i:i + 7])
            time.sleep(0.001)
        f = s.makefile("rb")
        for _ in range(3):
            self.assertEqual(read_response(f)[2], b"Hello, World!")
        s.close()

    def test_head_has_length_no_body(self):
        s = self.srv.connect()
        s.sendall(b"HEAD /json HTTP/1.1\r\nHost: x\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        f = s.makefile("rb")
        line = f.readline()
        self.assertTrue(line.startswith(b"HTTP/1.1 200"))
        headers = {}
        while True:
            l = f.readline()
            if l == b"\r\n":
                break
            k, v = l.decode().split(":", 1)
            headers[k.lower()] = v.strip()
        self.assertEqual(headers["content-length"], str(len(b'{"message":"Hello, World!"}')))
        # The next bytes are the second response, not a body.
        st, h, body = read_response(f)
        self.assertEqual((st, body), (200, b"Hello, World!"))
        s.close()

    def test_post_content_length(self):
        st, h, body = self.srv.request("POST", "/items", body={"name": "w", "price": 2.5})
        self.assertEqual(st, 201)
        self.assertEqual(json.loads(body), {"name": "w", "price": 2.5, "tags": []})

    def test_post_chunked(self):
        body = b'{"name":"widget","price":9.99,"tags":["a","b"]}'
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 10]), body[i:i + 10]) for i in range(0, len(body), 10))
        req = (b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks + b"0\r\n\r\n")
        (st, h, got), = parse_responses(self.srv.raw(req))
        self.assertEqual(st, 201)
        self.assertEqual(json.loads(got), {"name": "widget", "price": 9.99, "tags": ["a", "b"]})

    def test_expect_100_continue(self):
        body = b'{"name":"x","price":1}'
        s = self.srv.connect()
        s.sendall(b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        s.settimeout(5)
        first = s.recv(100)
        self.assertEqual(first, b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(body)
        st, h, got = read_response(s.makefile("rb"))
        self.assertEqual(st, 201)
        s.close()

    def test_expect_100_continue_with_curl(self):
        rc, out, err = self.srv.curl("-H", "Expect: 100-continue", "-H", "Content-Type: application/json",
                                     "--data-binary", '{"name":"c","price":3}', "-w", " %{http_code}",
                                     self.srv.url("/items"))
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.endswith(b" 201"), out)

    def test_date_header_format(self):
        st, h, _ = self.srv.get("/plaintext")
        time.strptime(h["date"], "%a, %d %b %Y %H:%M:%S GMT")

    def test_many_connections_interleaved(self):
        socks = [self.srv.connect() for _ in range(50)]
        for s in socks:
            s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        for s in socks:
            self.assertEqual(read_response(s.makefile("rb"))[0], 200)
            s.close()

    def test_absolute_form_target(self):
        (st, h, body), = parse_responses(self.srv.raw(
            b"GET http://example.com/plaintext?x=1 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"))
        self.assertEqual((st, body), (200, b"Hello, World!"))

    def test_large_response_and_slow_reader(self):
        # 200 pipelined requests without reading, then read them all.
        s = self.srv.connect()
        s.sendall(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n" * 200)
        time.sleep(0.2)
        f = s.makefile("rb")
        for _ in range(200):
            self.assertEqual(read_response(f)[0], 200)
        s.close()


if __name__ == "__main__":
    run()
