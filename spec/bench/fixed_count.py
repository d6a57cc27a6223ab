#!/usr/bin/python3
"""fixed_count.py - send exactly COUNT requests to one endpoint of the bench app.

  fixed_count.py --port 18089 --endpoint json --count 2000
  fixed_count.py --port 18089 --endpoint plaintext_pipe16 --count 3200

One keep-alive connection; each request is written, then its answer read in full
(Content-Length) and its status checked, before the next one goes out, so the server
sees the same sequence of reads and writes every run (what `ab_bench.sh`'s INSTR mode
needs: instruction counts that do not depend on timing). `plaintext_pipe16` writes 16
requests at a time (HTTP/1.1 pipelining) and reads the 16 answers; COUNT is rounded
up to a multiple of 16. The endpoints and bodies are those of ../shared/bench/run.sh.
Exits 1 on a wrong status, a short read or a closed connection. Python 3 standard
library only.
"""
import argparse
import socket
import sys

VALID_BODY = b'{"name":"widget","price":9.99,"tags":["a","b"]}'
INVALID_BODY = b'{"name":"widget","price":-1,"tags":["a","b"]}'


def get(path):
    return (b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")


def post(path, body):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
            + b"\r\n\r\n" + body)


# endpoint -> (request bytes, expected status, requests per write)
ENDPOINTS = {
    "plaintext": (get(b"/plaintext"), 200, 1),
    "json": (get(b"/json"), 200, 1),
    "users": (get(b"/users/42"), 200, 1),
    "items": (post(b"/items", VALID_BODY), 201, 1),
    "items_invalid": (post(b"/items", INVALID_BODY), 422, 1),
    "plaintext_pipe16": (get(b"/plaintext"), 200, 16),
}


class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        self.buf += chunk

    def response(self):
        """(status, body) of the next response."""
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
            elif name.strip().lower() == b"transfer-encoding":
                raise ValueError("chunked answers are not supported here")
        if length is None:
            raise ValueError("answer without Content-Length")
        while len(self.buf) < length:
            self.fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, body


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--endpoint", choices=sorted(ENDPOINTS), required=True)
    ap.add_argument("--count", type=int, required=True)
    args = ap.parse_args()
    request, want, depth = ENDPOINTS[args.endpoint]
    batches = -(-args.count // depth)
    sock = socket.create_connection((args.host, args.port), timeout=120)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = Reader(sock)
    payload = request * depth
    done = 0
    try:
        for _ in range(batches):
            sock.sendall(payload)
            for _ in range(depth):
                status, body = reader.response()
                if status != want:
                    sys.exit(f"fixed_count.py: {args.endpoint}: status {status}, want {want}: {body[:200]!r}")
                done += 1
    except (OSError, ValueError) as e:
        sys.exit(f"fixed_count.py: {args.endpoint}: after {done} answers: {e}")
    finally:
        sock.close()
    print(done)


if __name__ == "__main__":
    main()
