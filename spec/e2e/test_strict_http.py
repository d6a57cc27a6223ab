"""Request parsing, strictly per RFC 9112 (and RFC 9110 where it says what a
request may hold), over raw sockets: what Crater refuses, with which status,
that a refusal that cannot trust the framing closes the connection, that
nothing behind a refused request is served, and that what is accepted reaches
the app as the RFC says it should. Each test names its clause;
docs/limits.md lists the same refusals in a table."""
import json
import socket
import time
import unittest

from harness import ROOT, Server, parse_responses, recv_all, run

APP = ROOT + "/spec/e2e/apps/strict_http.lua"

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: xyz\r\n\r\n"
assert len(SMUGGLED) == 37


class Strict(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(APP)

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0

    # --- helpers ---------------------------------------------------------

    def exchange(self, data, pieces=None, timeout=5):
        """Sends data (in `pieces` if given, a moment apart so the server reads
        them separately) on a new connection; returns (responses, closed):
        closed is True when the server closed the connection."""
        s = self.srv.connect(timeout=timeout)
        try:
            if pieces is None:
                s.sendall(data)
            else:
                for p in pieces:
                    s.sendall(p)
                    time.sleep(0.005)
            raw = recv_all(s, timeout=timeout)
            return parse_responses(raw), True
        finally:
            s.close()

    def refused(self, data, status, detail=None, pieces=None):
        """data gets exactly one answer, `status` as problem+json, and the
        connection closes: nothing sent behind it is read as a request."""
        res, _ = self.exchange(data, pieces)
        self.assertEqual(len(res), 1, res)
        st, h, body = res[0]
        self.assertEqual(st, status, body)
        self.assertEqual(h["content-type"], "application/problem+json")
        self.assertEqual(h.get("connection"), "close")
        doc = json.loads(body)
        self.assertEqual(doc["status"], status)
        if detail is not None:
            self.assertIn(detail, doc["detail"])
        return doc

    def served(self, data, n=1):
        """data (ending with a Connection: close request) gets n answers."""
        res, _ = self.exchange(data)
        self.assertEqual(len(res), n, res)
        return res

    def echo(self, data):
        (st, h, body), = self.served(data)
        self.assertEqual(st, 200, body)
        return json.loads(body)

    def smuggled_count(self):
        st, _, body = self.srv.get("/smuggled-count")
        self.assertEqual(st, 200)
        return json.loads(body)["count"]

    # --- RFC 9112 5.2: obs-fold ------------------------------------------

    def test_obs_fold_is_400_and_closes_rfc9112_5_2(self):
        # "A server that receives an obs-fold in a request message ... MUST
        # either reject the message by sending a 400 (Bad Request) ... or
        # replace each received obs-fold with one or more SP": Crater rejects.
        for fold in (b" b", b"\tb", b"  b c", b" "):
            self.refused(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n" + fold + b"\r\n"
                         b"Connection: close\r\n\r\n", 400, "obsolete line folding")

    def test_obs_fold_content_length_smuggling_rfc9112_5_2(self):
        # A front end that does not unfold sees " Content-Length: 37" as a
        # field and SMUGGLED as the body; one that unfolds sees no body and
        # SMUGGLED as a second request. Crater sees neither: 400, closed.
        before = self.smuggled_count()
        for host in (b"Host: x\r\n", b"Host:\r\n", b"X-Other: y\r\nHost: x\r\n"):
            self.refused(b"GET /plaintext HTTP/1.1\r\n" + host + b" Content-Length: 37\r\n\r\n" + SMUGGLED,
                         400, "obsolete line folding")
        self.assertEqual(self.smuggled_count(), before)

    def test_obs_fold_in_transfer_encoding_rfc9112_5_2(self):
        # An empty value then a fold: llhttp skips the fold as whitespace and
        # would read `chunked`; Crater reads the bytes after the colon itself.
        body = b"5\r\nhello\r\n0\r\n\r\n"
        for te in (b"Transfer-Encoding:\r\n chunked\r\n", b"Transfer-Encoding:\r\n\tchunked\r\n",
                   b"Transfer-Encoding: \r\n  chunked\r\n", b"Transfer-Encoding: chunked\r\n , identity\r\n"):
            self.refused(b"POST /echo HTTP/1.1\r\nHost: x\r\n" + te + b"\r\n" + body + SMUGGLED,
                         400, "obsolete line folding")

    def test_obs_fold_split_across_reads_rfc9112_5_2(self):
        # Wherever the reads split it, a fold is a fold; and a value whose read
        # ends in the middle is no fold.
        folded = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\nX-A: a\r\n b\r\n\r\n"
        start = folded.index(b"Transfer")
        for cut in range(start, len(folded) - 2, 3):
            self.refused(folded, 400, "obsolete line folding", pieces=[folded[:cut], folded[cut:]])
        self.refused(folded, 400, "obsolete line folding", pieces=[bytes([b]) for b in folded])
        plain = b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a b  c\r\nX-B:  d\r\nConnection: close\r\n\r\n"
        for pieces in ([plain[:i], plain[i:]] for i in range(1, len(plain))):
            res, _ = self.exchange(plain, pieces)
            self.assertEqual(res[0][0], 200, pieces)
            h = json.loads(res[0][2])["headers"]
            self.assertEqual((h["x-a"], h["x-b"]), ("a b  c", "d"))

    def test_obs_fold_in_trailer_rfc9112_5_2(self):
        self.refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n" + SMUGGLED, 400, "obsolete line folding")

    def test_whitespace_before_first_field_rfc9112_2_2(self):
        # A line after the request line that starts with whitespace.
        self.refused(b"GET /echo HTTP/1.1\r\n Host: x\r\n\r\n", 400)

    # --- RFC 9112 5.1: field name, then the colon -------------------------

    def test_whitespace_between_name_and_colon_rfc9112_5_1(self):
        # "A server MUST reject, with a response status code of 400 (Bad
        # Request), any received request message that contains whitespace
        # between a header field name and colon."
        for line in (b"X-A : v", b"X-A\t: v", b"Content-Length : 37", b"Transfer-Encoding : chunked"):
            self.refused(b"POST /echo HTTP/1.1\r\nHost: x\r\n" + line + b"\r\n\r\n" + SMUGGLED, 400)
        self.refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"0\r\nX-T : 1\r\n\r\n" + SMUGGLED, 400)  # in the trailer section too

    # --- RFC 9112 3.2, 3.2.2: Host and the target's authority --------------

    def test_http11_without_host_400_rfc9112_3_2(self):
        # "A server MUST respond with a 400 (Bad Request) status code to any
        # HTTP/1.1 request message that lacks a Host header field".
        self.refused(b"GET /plaintext HTTP/1.1\r\n\r\n", 400, "without a Host field")
        self.refused(b"GET /plaintext HTTP/1.1\r\nX-Host: x\r\n\r\n", 400, "without a Host field")
        # HTTP/1.0 did not have it.
        (st, _, body), = self.served(b"GET /plaintext HTTP/1.0\r\n\r\n")
        self.assertEqual((st, body), (200, b"Hello, World!"))

    def test_two_host_fields_400_rfc9112_3_2(self):
        # "... and to any request message that contains more than one Host
        # header field line".
        for hosts in (b"Host: a\r\nHost: b\r\n", b"Host: a\r\nHost: a\r\n", b"Host: a\r\nhost: a\r\n"):
            self.refused(b"GET /plaintext HTTP/1.1\r\n" + hosts + b"\r\n", 400, "more than one Host")
        self.refused(b"GET /plaintext HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host")

    def test_invalid_host_value_400_rfc9112_3_2(self):
        # "... or a Host header field with an invalid field value": Host =
        # uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2).
        for value in (b"a b", b"a/b", b"a?b", b"a#b", b"a@b", b"a\\b", b"a:b", b"a:80:81", b"[::1",
                      b"[]", b"a%zz", b"caf\xc3\xa9", b"a\"b", b"a<b>"):
            self.refused(b"GET /plaintext HTTP/1.1\r\nHost: " + value + b"\r\n\r\n", 400, "invalid Host")

    def test_valid_host_values_rfc9110_7_2(self):
        for value, seen in ((b"example.com", "example.com"), (b"example.com:8080", "example.com:8080"),
                            (b"127.0.0.1", "127.0.0.1"), (b"[::1]:8080", "[::1]:8080"), (b"a%41", "a%41"),
                            (b"", ""), (b"x ", "x"), (b"x\t", "x"), (b"a:", "a:")):
            got = self.echo(b"GET /echo HTTP/1.1\r\nHost: " + value + b"\r\nConnection: close\r\n\r\n")
            self.assertEqual(got["host"], seen, value)  # RFC 9110 5.5: no trailing whitespace

    def test_absolute_form_authority_wins_over_host_rfc9112_3_2_2(self):
        # "When an origin server receives a request with an absolute-form of
        # request-target, the origin server MUST ignore the received Host
        # header field (if any) and instead use the host information of the
        # request-target." The path after the authority is what is routed.
        got = self.echo(b"GET http://a.example/b?x=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n")
        self.assertEqual((got["path"], got["query"], got["host"]), ("/b", "x=1", "a.example"))
        self.assertEqual(got["headers"]["host"], "a.example")
        got = self.echo(b"GET HTTPS://A.example:8443/b HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n")
        self.assertEqual((got["path"], got["host"]), ("/b", "A.example:8443"))
        # An empty path is "/" (RFC 9112 3.2.1).
        got = self.echo(b"GET http://a.example?x=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n")
        self.assertEqual((got["path"], got["query"], got["host"]), ("/", "x=1", "a.example"))
        # HTTP/1.0 without Host: the target's authority is the Host field.
        got = self.echo(b"GET http://[::1]:8080/b HTTP/1.0\r\n\r\n")
        self.assertEqual((got["path"], got["host"]), ("/b", "[::1]:8080"))
        # HTTP/1.1 still needs a Host field, and a valid one (RFC 9112 3.2).
        self.refused(b"GET http://a.example/b HTTP/1.1\r\n\r\n", 400, "without a Host field")
        self.refused(b"GET http://a.example/b HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid Host")

    def test_absolute_form_must_be_http_with_a_host_rfc9110_4_2(self):
        for target, detail in ((b"ftp://a/b", "must be /path"), (b"http:///b", "empty or invalid host"),
                               (b"http://:80/b", "empty or invalid host"), (b"http://user@a/b", "user information"),
                               (b"http://a:x/b", "invalid host"), (b"a.example:80", None),
                               (b"http:/a/b", None)):
            self.refused(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400, detail)

    # --- RFC 9112 3.2.4, 3.2.3, 3.2: the other target forms ---------------

    def test_options_asterisk_answered_by_the_server_rfc9112_3_2_4(self):
        # "OPTIONS * HTTP/1.1" asks about the server as a whole (RFC 9110
        # 9.3.7): 200 with Content-Length: 0; never routed; keep-alive.
        res = self.served(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"
                          b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2)
        (st, h, body), (st2, _, body2) = res
        self.assertEqual((st, h["content-length"], body), (200, "0", b""))
        self.assertNotIn("content-type", h)
        self.assertEqual((st2, body2), (200, b"Hello, World!"))

    def test_asterisk_for_other_methods_400_rfc9112_3_2_4(self):
        # "The asterisk-form of request-target is only used for a server-wide
        # OPTIONS request".
        for m in (b"GET", b"POST", b"DELETE"):
            self.refused(m + b" * HTTP/1.1\r\nHost: x\r\n\r\n", 400, "only for OPTIONS")
        self.refused(b"OPTIONS *x HTTP/1.1\r\nHost: x\r\n\r\n", 400)

    def test_connect_never_routed_and_next_request_served_rfc9110_9_3_6(self):
        # CONNECT asks for a tunnel; Crater is an origin server, not a proxy:
        # 501, once, and the connection goes on (no tunnel was opened).
        res = self.served(b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"
                          b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2)
        self.assertEqual(res[0][0], 501)
        self.assertIn("CONNECT", json.loads(res[0][2])["detail"])
        self.assertEqual((res[1][0], res[1][2]), (200, b"Hello, World!"))
        # Its target is authority-form (RFC 9112 3.2.3) and it has no content.
        self.refused(b"CONNECT /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", 400, "host:port")
        self.refused(b"CONNECT a.example HTTP/1.1\r\nHost: x\r\n\r\n", 400, "host:port")
        self.refused(b"CONNECT a.example:443 HTTP/1.1\r\nHost: x\r\nContent-Length: 37\r\n\r\n" + SMUGGLED,
                     400, "no content")

    def test_target_bytes_rfc9112_3_2(self):
        # A fragment is not part of a request-target; non-ASCII and controls
        # must be percent-encoded (RFC 3986 2.1).
        self.refused(b"GET /plaintext#top HTTP/1.1\r\nHost: x\r\n\r\n", 400, "fragment")
        self.refused(b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400)
        self.refused(b"GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n", 400)

    # --- RFC 9112 3, RFC 9110 9.1: the request line and the method --------

    def test_garbage_request_line_400_rfc9112_3(self):
        for data in (b"GARBAGE\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
                     b"GET\t/ HTTP/1.1\r\n\r\n", b" GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                     b"FOO\r\n\r\n", b"FOO /\r\n\r\n", b"FOO / HTTP/1.1 x\r\n\r\n"):
            self.refused(data, 400, "malformed request line")

    def test_unknown_method_501_rfc9110_9_1(self):
        # A well-formed request line with a method the server does not know:
        # 501 (RFC 9110 15.6.2). Methods are case-sensitive.
        for line in (b"FOO / HTTP/1.1", b"get /plaintext HTTP/1.1", b"GETX / HTTP/1.1", b"BREW /pot HTTP/1.0"):
            self.refused(line + b"\r\nHost: x\r\n\r\n" + SMUGGLED, 501, "unknown request method")

    # --- RFC 9112 2.3: the version ----------------------------------------

    def test_later_http1_minor_served_as_1_1_rfc9112_2_3(self):
        # "A recipient that receives a message with a major version number
        # that it implements and a minor version number higher than what it
        # implements SHOULD process the message as if it were in the highest
        # minor version within that major version to which the recipient is
        # conformant."
        res = self.served(b"GET /plaintext HTTP/1.2\r\nHost: x\r\n\r\n"
                          b"GET /plaintext HTTP/1.9\r\nHost: x\r\nConnection: close\r\n\r\n", 2)
        for st, h, body in res:
            self.assertEqual((st, body), (200, b"Hello, World!"))
        self.assertNotIn("connection", res[0][1])  # persistent, as 1.1
        # ... and still needs a Host field, as 1.1 does.
        self.refused(b"GET /plaintext HTTP/1.2\r\n\r\n", 400, "without a Host field")

    def test_other_major_versions_505_rfc9112_2_3(self):
        for v in (b"HTTP/2.0", b"HTTP/3.0", b"HTTP/0.9", b"HTTP/9.9"):
            self.refused(b"GET /plaintext " + v + b"\r\nHost: x\r\n\r\n", 505)
        # The HTTP/2 connection preface (RFC 9113 3.4).
        self.refused(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "HTTP/2")

    def test_malformed_version_400_rfc9112_2_3(self):
        for v in (b"HTTP/1.10", b"HTTP/11.1", b"http/1.1", b"HTTP/1", b"HTTP/1.1 "):
            self.refused(b"GET /plaintext " + v + b"\r\nHost: x\r\n\r\n", 400)

    # --- RFC 9112 6.1, 6.3: Transfer-Encoding -----------------------------

    def test_transfer_encoding_in_http10_400_rfc9112_6_1(self):
        # "A server or client that receives an HTTP/1.0 message containing a
        # Transfer-Encoding header field MUST treat the message as if the
        # framing is faulty ... and close the connection".
        self.refused(b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                     + SMUGGLED, 400, "HTTP/1.0")

    def test_unimplemented_transfer_coding_501_rfc9112_6_1(self):
        # "A server that receives a request message with a transfer coding it
        # does not understand SHOULD respond with 501 (Not Implemented)."
        for te in (b"Transfer-Encoding: gzip, chunked\r\n", b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
                   b"Transfer-Encoding: x-custom;p=1 , chunked\r\n"):
            self.refused(b"POST /echo HTTP/1.1\r\nHost: x\r\n" + te + b"\r\n5\r\nhello\r\n0\r\n\r\n" + SMUGGLED,
                         501, "not implemented")

    def test_chunked_not_final_400_rfc9112_6_3(self):
        # "If a Transfer-Encoding header field is present in a request and the
        # chunked transfer coding is not the final encoding, the message body
        # length cannot be determined reliably; the server MUST respond with
        # the 400 (Bad Request) status code and then close the connection."
        # Chunked twice is not allowed either (RFC 9112 6.1).
        for te in (b"chunked, gzip", b"gzip", b"chunked, chunked", b"chunked;x=1", b"", b" , ", b"chunked x",
                   b"identity"):
            self.refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te + b"\r\n\r\n"
                         b"5\r\nhello\r\n0\r\n\r\n" + SMUGGLED, 400)

    def test_chunked_any_case_accepted_rfc9112_7(self):
        # Transfer codings are case-insensitive (RFC 9112 7); SP around the
        # value and its commas is whitespace (RFC 9110 5.6.3), and an empty
        # list element is skipped (RFC 9110 5.6.1).
        for te in (b"chunked", b"Chunked", b"CHUNKED", b"  chunked ", b" , chunked"):
            got = self.echo(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te + b"\r\n"
                            b"Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            self.assertEqual(got["body"], "hello", te)

    def test_tab_in_transfer_encoding_400(self):
        # Stricter than RFC 9110 5.6.3 (HTAB is whitespace there): llhttp
        # reads `chunked<HTAB>` as another coding, some front ends read
        # `<HTAB>chunked` so, so any HTAB in the field is refused.
        for te in (b"\tchunked", b" \tchunked", b"chunked\t", b"chun\tked", b"gzip,\tchunked"):
            self.refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:" + te + b"\r\n\r\n"
                         b"5\r\nhello\r\n0\r\n\r\n" + SMUGGLED, 400, "tab")
        # split right after the colon
        req = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n"
        cut = req.index(b":\t") + 1
        self.refused(req, 400, "tab", pieces=[req[:cut], req[cut:]])

    def test_content_length_with_transfer_encoding_400_rfc9112_6_3(self):
        self.refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 37\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"0\r\n\r\n" + SMUGGLED, 400)

    # --- RFC 9112 7.1, 2.2: chunked framing, line endings ------------------

    def test_chunk_data_must_end_with_crlf_rfc9112_7_1(self):
        # chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
        head = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello"
        for after in (b"XX0\r\n\r\n", b"\r0\r\n\r\n", b"\n0\r\n\r\n", b"\rX\r\n0\r\n\r\n", b" \r\n0\r\n\r\n"):
            self.refused(head + after + SMUGGLED, 400, "CRLF")
        # split between the CR and what follows it
        self.refused(head + b"\rX0\r\n\r\n", 400, "CRLF", pieces=[head + b"\r", b"X0\r\n\r\n"])

    def test_bare_cr_refused_rfc9112_2_2(self):
        # "A recipient of such a bare CR MUST consider that element to be
        # invalid or replace each bare CR with SP": Crater refuses it, in the
        # chunk size line, at the end of the header section and of a trailer.
        self.refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\rXhello\r\n0\r\n\r\n",
                     400)
        self.refused(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\rX" + SMUGGLED, 400)
        self.refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\rX" + SMUGGLED, 400)
        self.refused(b"GET /plaintext HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n", 400)

    def test_trailer_fields_never_affect_framing_nor_reach_the_app_rfc9110_6_5(self):
        # Content-Length and Connection in a trailer section change nothing:
        # the request behind is read where the chunked body ended, and the
        # connection stays open. Trailer fields are not merged into the
        # header fields the app sees (RFC 9110 6.5.1).
        res = self.served(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"5\r\nhello\r\n0\r\nContent-Length: 37\r\nConnection: close\r\nX-T: 1\r\n\r\n"
                          b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2)
        (st, h, body), (st2, _, body2) = res
        self.assertEqual(st, 200)
        self.assertNotIn("connection", h)
        got = json.loads(body)
        self.assertEqual(got["body"], "hello")
        self.assertEqual(sorted(got["headers"]), ["host", "transfer-encoding"])
        self.assertEqual((st2, body2), (200, b"Hello, World!"))

    def test_trailer_framing_fields_that_llhttp_cannot_read_400(self):
        # llhttp reads a trailer's Transfer-Encoding or Content-Length as it
        # would a header's: a second chunked, or a bad length, is a 400.
        for tr in (b"Transfer-Encoding: chunked", b"Content-Length: x"):
            self.refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n0\r\n" + tr + b"\r\n\r\n" + SMUGGLED, 400)

    def test_trailer_section_counts_toward_max_header(self):
        big = b"X-T: " + b"a" * 8000 + b"\r\n"
        self.refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n0\r\n" + big * 3 + b"\r\n", 431, "trailer")

    # --- RFC 9110 7.8: Upgrade is ignored, once ------------------------------

    def test_upgrade_h2c_ignored_one_answer_and_next_request_served_rfc9110_7_8(self):
        # "A server MAY ignore a received Upgrade header field if it wishes to
        # continue using the current protocol on that connection."
        res = self.served(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                          b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"
                          b"GET /echo?n=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2)
        self.assertEqual((res[0][0], res[0][2]), (200, b"Hello, World!"))
        self.assertEqual(json.loads(res[1][2])["query"], "n=2")

    def test_websocket_upgrade_not_handled_one_answer_rfc9110_7_8(self):
        res = self.served(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                          b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
                          b"GET /echo?n=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2)
        self.assertEqual((res[0][0], res[0][2]), (200, b"Hello, World!"))
        self.assertEqual(json.loads(res[1][2])["query"], "n=2")
        # With a body: it is read as the body, and the next request after it.
        res = self.served(b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                          b"Content-Length: 5\r\n\r\nhello"
                          b"GET /echo?n=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2)
        self.assertEqual(json.loads(res[0][2])["body"], "hello")
        self.assertEqual(json.loads(res[1][2])["query"], "n=2")

    # --- the server goes on -------------------------------------------------

    def test_server_still_serves_and_logs(self):
        self.assertEqual(self.srv.get("/plaintext")[0], 200)
        log = self.srv.log()
        self.assertIn("refused 400", log)
        self.assertIn("refused 501", log)
        self.assertIn("refused 505", log)


if __name__ == "__main__":
    run()
