/* test_conn.c - conn.c over real sockets on loopback: a server on a libuv
 * loop and clients beside it on the same thread (spec_client on the loop,
 * or spec_sock where a test needs byte-level control): a request read one
 * byte at a time, pipelining, keep-alive and its end, a client that
 * half-closes, HTTP/1.0, HEAD, 100-continue, the refusals (413, 431, 400,
 * 501, 505), max_connections and the timeouts (408, idle). Every test ends
 * with no connection open, its server closed and its loop empty. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client.h"
#include "crater.h"
#include "helpers.h"
#include "test.h"

static const char conn_app[] =
    "local crater = require 'crater'\n"
    "local app = crater.app()\n"
    "app:get('/', function() return 'hello' end)\n"
    "app:get('/n/{n}', function(req) return 'n=' .. req.params.n end)\n"
    "app:post('/echo', function(req) return 'echo:' .. req.body end)\n"
    "app:get('/big/{n}', function(req) return ('x'):rep(tonumber(req.params.n)) end)\n"
    "app:get('/headers', function(req)\n"
    "  local t = {}\n"
    "  for k, v in pairs(req.headers) do t[#t + 1] = k .. '=' .. v end\n"
    "  table.sort(t)\n"
    "  return table.concat(t, ';')\n"
    "end)\n"
    "app:get('/stream/{n}', function(req)\n"
    "  return crater.stream(function(write)\n"
    "    for _ = 1, tonumber(req.params.n) do write(('y'):rep(65536)) end\n"
    "  end)\n"
    "end)\n"
    "return app\n";

/* A server with conn_app on a free port of loop, which it initializes.
 * cfg: NULL for the defaults. */
static crater_server *start(uv_loop_t *loop, crater_config *cfg) {
  crater_config def = crater_config_default();
  if (cfg == NULL) cfg = &def;
  cfg->log_cb = spec_quiet_log;
  crater_server *srv;
  uv_loop_init(loop);
  if (crater_new(&srv, loop, cfg) != 0) return NULL;
  if (crater_load_string(srv, "conn_app", conn_app, sizeof(conn_app) - 1) != 0 ||
      crater_listen(srv, "127.0.0.1", 0) != 0) {
    crater_free(srv);
    return NULL;
  }
  return srv;
}

/* The end of every test: no connection left, the server closed and freed,
 * the loop empty. */
#define ASSERT_STOPS(loop, srv)                                                  \
  do {                                                                           \
    ASSERT_TRUE(spec_connections_closed(loop, srv, 2000));                       \
    spec_server_stop(loop, srv);                                                 \
    ASSERT_EQ_INT(uv_loop_close(loop), 0);                                       \
  } while (0)

/* Sends raw in one write on a new connection and reads until the server
 * closes it. Returns what came back (the caller frees it) or NULL. */
static char *exchange(uv_loop_t *loop, crater_server *srv, const char *raw) {
  spec_client c;
  spec_client_start_raw(&c, loop, crater_bound_port(srv), raw);
  spec_run_until(loop, &c.done);
  char *data = c.error == 0 ? c.data : NULL;
  if (data != NULL) c.data = NULL;
  spec_client_free(&c);
  return data;
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  return n;
}

static crater_stats stats(crater_server *srv) {
  crater_stats st;
  crater_get_stats(srv, &st);
  return st;
}

/* ===================================================================== */
/*  Reading and answering                                                */
/* ===================================================================== */

/* Header fields and what the handler sees of them (names lower-cased,
 * repeated fields joined, sorted by /headers). */
static const char fields_request[] =
    "GET /headers?q=1 HTTP/1.1\r\nHost: t\r\nX-Empty:\r\nX-Some-Header: some value\r\n"
    "X-Blank:   \r\nx-some-header: again\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n";
static const char fields_seen[] =
    "\r\n\r\ncookie=a=1; b=2;host=t;x-blank=;x-empty=;x-some-header=some value, again";

/* Every callback of the parser gets a piece, field names and values split
 * anywhere: the request must arrive the same as in one read. */
TEST(conn_request_one_byte_at_a_time) {
  uv_loop_t loop;
  crater_server *srv = start(&loop, NULL);
  ASSERT_TRUE(srv != NULL);
  spec_sock whole, bytes;
  ASSERT_EQ_INT(spec_sock_open(&whole, crater_bound_port(srv)), 0);
  spec_sock_send(&whole, &loop, fields_request, sizeof(fields_request) - 1);
  ASSERT_EQ_INT(spec_sock_wait(&whole, &loop, fields_seen, 2000), 1);
  ASSERT_EQ_INT(spec_sock_open(&bytes, crater_bound_port(srv)), 0);
  while (stats(srv).connections_open < 2) uv_run(&loop, UV_RUN_NOWAIT); /* accepted */
  for (size_t i = 0; i + 1 < sizeof(fields_request) - 1; i++)
    spec_sock_send(&bytes, &loop, fields_request + i, 1);
  ASSERT_EQ_INT(spec_sock_wait(&bytes, &loop, "HTTP", 20), 0); /* one byte short: no answer yet */
  spec_sock_send(&bytes, &loop, fields_request + sizeof(fields_request) - 2, 1);
  ASSERT_EQ_INT(spec_sock_wait(&bytes, &loop, fields_seen, 2000), 1);
  ASSERT_EQ_INT(spec_response_status(bytes.data), 200);
  /* A body too, on the same connection. */
  static const char post[] =
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
  for (size_t i = 0; i < sizeof(post) - 1; i++) spec_sock_send(&bytes, &loop, post + i, 1);
  ASSERT_EQ_INT(spec_sock_wait(&bytes, &loop, NULL, 2000), 1);
  ASSERT_TRUE(strstr(bytes.data, "\r\n\r\necho:hello") != NULL);
  ASSERT_EQ_INT(stats(srv).connections_total, 2);
  ASSERT_EQ_INT(stats(srv).requests_total, 3);
  spec_sock_close(&whole);
  spec_sock_close(&bytes);
  ASSERT_STOPS(&loop, srv);
}

TEST(conn_pipelined_requests_answered_in_order) {
  uv_loop_t loop;
  crater_server *srv = start(&loop, NULL);
  ASSERT_TRUE(srv != NULL);
  char *got = exchange(&loop, srv,
                       "GET /n/1 HTTP/1.1\r\nHost: t\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                       "GET /n/3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(got != NULL);
  ASSERT_EQ_INT(count(got, "HTTP/1.1 200 OK\r\n"), 3);
  const char *a = strstr(got, "\r\n\r\nn=1"), *b = strstr(got, "\r\n\r\necho:abc"),
             *c = strstr(got, "\r\n\r\nn=3");
  ASSERT_TRUE(a != NULL && b != NULL && c != NULL);
  ASSERT_TRUE(a < b && b < c);
  ASSERT_EQ_INT(count(got, "Connection: close"), 1); /* the last answer's */
  ASSERT_TRUE(strstr(got, "Connection: close") > b);
  free(got);
  ASSERT_EQ_INT(stats(srv).connections_total, 1);
  /* What follows a Connection: close is not answered. */
  got = exchange(&loop, srv, "GET /n/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                             "GET /n/2 HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(got != NULL);
  ASSERT_EQ_INT(count(got, "HTTP/1.1"), 1);
  ASSERT_TRUE(strstr(got, "\r\n\r\nn=1") != NULL);
  free(got);
  ASSERT_EQ_INT(stats(srv).requests_total, 4);
  ASSERT_STOPS(&loop, srv);
}

TEST(conn_keep_alive_then_close) {
  uv_loop_t loop;
  crater_server *srv = start(&loop, NULL);
  ASSERT_TRUE(srv != NULL);
  spec_sock s;
  ASSERT_EQ_INT(spec_sock_open(&s, crater_bound_port(srv)), 0);
  static const char first[] = "GET /n/1 HTTP/1.1\r\nHost: t\r\n\r\n";
  spec_sock_send(&s, &loop, first, sizeof(first) - 1);
  ASSERT_EQ_INT(spec_sock_wait(&s, &loop, "\r\n\r\nn=1", 2000), 1);
  ASSERT_TRUE(strstr(s.data, "Connection:") == NULL); /* HTTP/1.1 keeps it by default */
  ASSERT_EQ_INT(spec_sock_wait(&s, &loop, NULL, 30), 0); /* still open */
  static const char second[] = "GET /n/2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  spec_sock_send(&s, &loop, second, sizeof(second) - 1);
  ASSERT_EQ_INT(spec_sock_wait(&s, &loop, NULL, 2000), 1); /* closed after the answer */
  const char *two = strstr(s.data, "\r\n\r\nn=1") + 7;
  ASSERT_EQ_INT(spec_response_status(two), 200);
  ASSERT_TRUE(strstr(two, "Connection: close\r\n") != NULL);
  ASSERT_TRUE(strstr(two, "\r\n\r\nn=2") != NULL);
  ASSERT_EQ_INT(stats(srv).connections_total, 1);
  ASSERT_EQ_INT(stats(srv).requests_total, 2);
  spec_sock_close(&s);
  ASSERT_STOPS(&loop, srv);
}

/* Opens s, sends GET first and GET /n/2 in one write and half-closes.
 * Returns 1 when the server answered and closed, the "n=2" body last. */
static int send_two_and_half_close(spec_sock *s, uv_loop_t *loop, crater_server *srv,
                                   const char *first) {
  char two[256];
  int n = snprintf(two, sizeof(two), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n"
                                     "GET /n/2 HTTP/1.1\r\nHost: t\r\n\r\n", first);
  if (spec_sock_open(s, crater_bound_port(srv)) != 0) return 0;
  spec_sock_send(s, loop, two, (size_t)n);
  if (shutdown(s->fd, SHUT_WR) != 0) return 0;
  return spec_sock_wait(s, loop, NULL, 5000) && s->len > 7 &&
         strcmp(s->data + s->len - 7, "\r\n\r\nn=2") == 0;
}

/* EOF ends what the client sends, not what it reads. */
TEST(conn_half_closed_client_gets_the_whole_answer) {
  uv_loop_t loop;
  crater_server *srv = start(&loop, NULL);
  ASSERT_TRUE(srv != NULL);
  /* A big answer written in several goes. */
  spec_sock s;
  ASSERT_TRUE(send_two_and_half_close(&s, &loop, srv, "/big/1000000"));
  char length[32];
  spec_response_header(s.data, "Content-Length", length, sizeof(length));
  ASSERT_EQ_STR(length, "1000000");
  const char *body = strstr(s.data, "\r\n\r\n") + 4;
  const char *next = strstr(body, "HTTP/1.1 200 OK\r\n");
  ASSERT_TRUE(next != NULL);
  ASSERT_EQ_INT(next - body, 1000000);
  ASSERT_EQ_INT(strspn(body, "x"), 1000000);
  spec_sock_close(&s);
  /* A streamed answer: the EOF comes in the same read as the requests, so
   * while the stream is in flight and the second request waits behind it. */
  ASSERT_TRUE(send_two_and_half_close(&s, &loop, srv, "/stream/32"));
  static char body32[32 * 65536 + 1];
  ASSERT_EQ_INT(spec_response_body(s.data, s.len, body32, sizeof(body32)), 32 * 65536);
  ASSERT_EQ_INT(strspn(body32, "y"), 32 * 65536);
  ASSERT_TRUE(strstr(s.data, "0\r\n\r\nHTTP/1.1 200 OK\r\n") != NULL);
  spec_sock_close(&s);
  ASSERT_EQ_INT(stats(srv).requests_total, 4);
  ASSERT_STOPS(&loop, srv);
}

TEST(conn_http10_closes_unless_kept_alive) {
  uv_loop_t loop;
  crater_server *srv = start(&loop, NULL);
  ASSERT_TRUE(srv != NULL);
  char *got = exchange(&loop, srv, "GET /n/10 HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(got != NULL); /* the server closed: exchange returned */
  ASSERT_EQ_INT(spec_response_status(got), 200);
  ASSERT_TRUE(strstr(got, "\r\nContent-Length: 4\r\nConnection: close\r\n\r\nn=10") != NULL);
  free(got);
  /* With keep-alive asked for, it stays open, and says so. */
  spec_sock s;
  ASSERT_EQ_INT(spec_sock_open(&s, crater_bound_port(srv)), 0);
  static const char kept[] = "GET /n/11 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  spec_sock_send(&s, &loop, kept, sizeof(kept) - 1);
  ASSERT_EQ_INT(spec_sock_wait(&s, &loop, "\r\n\r\nn=11", 2000), 1);
  ASSERT_TRUE(strstr(s.data, "Connection: keep-alive\r\n") != NULL);
  ASSERT_EQ_INT(spec_sock_wait(&s, &loop, NULL, 30), 0);
  static const char last[] = "GET /n/12 HTTP/1.0\r\n\r\n";
  spec_sock_send(&s, &loop, last, sizeof(last) - 1);
  ASSERT_EQ_INT(spec_sock_wait(&s, &loop, NULL, 2000), 1);
  ASSERT_TRUE(strstr(s.data, "\r\nContent-Length: 4\r\nConnection: close\r\n\r\nn=12") != NULL);
  spec_sock_close(&s);
  /* HTTP/1.0 has no chunked coding: a streamed body ends at the close. */
  got = exchange(&loop, srv, "GET /stream/2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_TRUE(got != NULL);
  ASSERT_TRUE(strstr(got, "Transfer-Encoding") == NULL && strstr(got, "Content-Length") == NULL);
  ASSERT_TRUE(strstr(got, "\r\nConnection: close\r\n") != NULL);
  const char *body = strstr(got, "\r\n\r\n") + 4;
  ASSERT_EQ_INT(strlen(body), 2 * 65536);
  ASSERT_EQ_INT(strspn(body, "y"), 2 * 65536);
  free(got);
  ASSERT_STOPS(&loop, srv);
}

TEST(conn_head_gets_headers_without_body) {
  uv_loop_t loop;
  crater_server *srv = start(&loop, NULL);
  ASSERT_TRUE(srv != NULL);
  /* A GET right behind: its answer must start where HEAD's headers end. */
  char *got = exchange(&loop, srv,
                       "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"
                       "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(got != NULL);
  ASSERT_EQ_INT(spec_response_status(got), 200);
  const char *end = strstr(got, "\r\n\r\n");
  char head[512];
  snprintf(head, sizeof(head), "%.*s", (int)(end - got), got);
  ASSERT_TRUE(strstr(head, "\r\nContent-Length: 5") != NULL); /* what GET would send */
  ASSERT_TRUE(strncmp(end + 4, "HTTP/1.1 200 OK\r\n", 17) == 0);
  ASSERT_EQ_INT(count(got, "hello"), 1);
  ASSERT_TRUE(strstr(got, "\r\n\r\nhello") != NULL);
  free(got);
  /* The same for a streamed answer: its chunks are not sent. */
  got = exchange(&loop, srv, "HEAD /stream/2 HTTP/1.1\r\nHost: t\r\n\r\n"
                             "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(got != NULL);
  ASSERT_EQ_INT(spec_response_status(got), 200);
  end = strstr(got, "\r\n\r\n");
  ASSERT_TRUE(strncmp(end + 4, "HTTP/1.1 200 OK\r\n", 17) == 0);
  ASSERT_TRUE(strstr(got, "yyyy") == NULL);
  ASSERT_TRUE(strstr(got, "\r\n\r\nhello") != NULL);
  free(got);
  ASSERT_STOPS(&loop, srv);
}

TEST(conn_expect_100_continue) {
  uv_loop_t loop;
  crater_server *srv = start(&loop, NULL);
  ASSERT_TRUE(srv != NULL);
  spec_sock s;
  ASSERT_EQ_INT(spec_sock_open(&s, crater_bound_port(srv)), 0);
  static const char head[] =
      "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
  spec_sock_send(&s, &loop, head, sizeof(head) - 1);
  ASSERT_EQ_INT(spec_sock_wait(&s, &loop, "\r\n\r\n", 2000), 1);
  ASSERT_EQ_STR(s.data, "HTTP/1.1 100 Continue\r\n\r\n"); /* and nothing more: it waits */
  spec_sock_send(&s, &loop, "hello", 5);
  ASSERT_EQ_INT(spec_sock_wait(&s, &loop, "\r\n\r\necho:hello", 2000), 1);
  ASSERT_TRUE(strncmp(s.data + 25, "HTTP/1.1 200 OK\r\n", 17) == 0);
  /* Without Expect, no interim answer. */
  static const char plain[] =
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi";
  spec_sock_send(&s, &loop, plain, sizeof(plain) - 1);
  ASSERT_EQ_INT(spec_sock_wait(&s, &loop, NULL, 2000), 1);
  ASSERT_TRUE(strstr(s.data, "\r\n\r\necho:hi") != NULL);
  ASSERT_EQ_INT(count(s.data, "100 Continue"), 1);
  spec_sock_close(&s);
  ASSERT_STOPS(&loop, srv);
}

/* ===================================================================== */
/*  Limits and timeouts                                                  */
/* ===================================================================== */

/* 1 when raw is a refusal: status, Connection: close, a problem+json body
 * holding detail. */
static int refused(const char *raw, int status, const char *detail) {
  char connection[64], type[64];
  if (raw == NULL || spec_response_status(raw) != status) return 0;
  spec_response_header(raw, "Connection", connection, sizeof(connection));
  spec_response_header(raw, "Content-Type", type, sizeof(type));
  return strcmp(connection, "close") == 0 && strcmp(type, "application/problem+json") == 0 &&
         strstr(raw, detail) != NULL;
}

TEST(conn_body_over_the_limit_413) {
  uv_loop_t loop;
  crater_config cfg = crater_config_default();
  cfg.max_body_bytes = 16;
  crater_server *srv = start(&loop, &cfg);
  ASSERT_TRUE(srv != NULL);
  static const char *const over[] = {
    /* declared */
    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n0123456789abcdefg",
    /* chunked, found out on the way */
    "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    "10\r\n0123456789abcdef\r\n1\r\ng\r\n0\r\n\r\n",
    /* with Expect: refused at once, no 100 Continue */
    "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 17\r\n\r\n",
    /* with a request behind it: the connection ends at the refusal */
    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n0123456789abcdefg"
    "GET /n/1 HTTP/1.1\r\nHost: t\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
    char *got = exchange(&loop, srv, over[i]);
    if (!refused(got, 413, "request body larger than the limit (--max-body)"))
      fprintf(stderr, "  case %zu: %s\n", i, got ? got : "(nothing)");
    ASSERT_TRUE(refused(got, 413, "request body larger than the limit (--max-body)"));
    ASSERT_EQ_INT(count(got, "HTTP/1.1"), 1);
    free(got);
  }
  ASSERT_EQ_INT(stats(srv).requests_refused, 4);
  /* At the limit, and afterwards: served. */
  char *got = exchange(&loop, srv, "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                                   "Content-Length: 16\r\n\r\n0123456789abcdef");
  ASSERT_TRUE(got != NULL && strstr(got, "\r\n\r\necho:0123456789abcdef") != NULL);
  free(got);
  ASSERT_EQ_INT(stats(srv).requests_refused, 4);
  ASSERT_STOPS(&loop, srv);
}

/* A GET with Host, Connection: close and `extra` more fields. */
static char *with_fields(int extra, size_t value_len) {
  size_t cap = 256 + (size_t)extra * (32 + value_len);
  char *out = malloc(cap);
  int n = snprintf(out, cap, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
  for (int i = 0; i < extra; i++) {
    n += snprintf(out + n, cap - (size_t)n, "X-Field-%d: ", i);
    memset(out + n, 'v', value_len);
    n += (int)value_len;
    n += snprintf(out + n, cap - (size_t)n, "\r\n");
  }
  snprintf(out + n, cap - (size_t)n, "\r\n");
  return out;
}

TEST(conn_too_many_header_fields_431) {
  uv_loop_t loop;
  crater_server *srv = start(&loop, NULL);
  ASSERT_TRUE(srv != NULL);
  char *req = with_fields(126, 1); /* 128 fields in all: the most there may be */
  char *got = exchange(&loop, srv, req);
  ASSERT_EQ_INT(spec_response_status(got), 200);
  free(req);
  free(got);
  req = with_fields(127, 1);
  got = exchange(&loop, srv, req);
  ASSERT_TRUE(refused(got, 431, "too many header fields"));
  free(req);
  free(got);
  /* Fewer fields, more bytes than max_header_bytes (16 KiB): 431 too. */
  req = with_fields(2, 9000);
  got = exchange(&loop, srv, req);
  ASSERT_TRUE(refused(got, 431, "request line and headers larger than the limit (--max-header)"));
  free(req);
  free(got);
  ASSERT_EQ_INT(stats(srv).requests_refused, 2);
  ASSERT_STOPS(&loop, srv);
}

TEST(conn_header_name_with_space_400) {
  uv_loop_t loop;
  crater_server *srv = start(&loop, NULL);
  ASSERT_TRUE(srv != NULL);
  char *got = exchange(&loop, srv, "GET / HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n");
  ASSERT_TRUE(refused(got, 400, "\"detail\":\"Invalid header token\""));
  free(got);
  /* Behind an answered request: that answer first, then the refusal. */
  got = exchange(&loop, srv, "GET /n/1 HTTP/1.1\r\nHost: t\r\n\r\n"
                             "GET / HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n");
  ASSERT_TRUE(got != NULL);
  const char *second = strstr(got, "\r\n\r\nn=1");
  ASSERT_EQ_INT(spec_response_status(got), 200);
  ASSERT_TRUE(second != NULL && refused(second + 7, 400, "\"detail\":\"Invalid header token\""));
  free(got);
  got = exchange(&loop, srv, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  ASSERT_EQ_INT(spec_response_status(got), 200);
  free(got);
  ASSERT_EQ_INT(stats(srv).requests_refused, 2);
  ASSERT_STOPS(&loop, srv);
}

/* What llhttp refuses, and what the core refuses on top of it. */
TEST(conn_bad_requests_400_501_505) {
  uv_loop_t loop;
  crater_server *srv = start(&loop, NULL);
  ASSERT_TRUE(srv != NULL);
  static const struct {
    const char *raw;
    int status;
    const char *detail;
  } cases[] = {
    {"BREW / HTTP/1.1\r\nHost: t\r\n\r\n", 501, "\"detail\":\"unknown request method\""},
    {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505, "\"detail\":\"only HTTP/1.x is supported\""},
    /* not a request line at all: 400, not 501 */
    {"GARBAGE\r\n\r\n", 400, "\"detail\":\"malformed request line\""},
    /* RFC 9112 3.2 */
    {"GET / HTTP/1.1\r\n\r\n", 400, "\"detail\":\"an HTTP/1.1 request without a Host field (RFC 9112 3.2)\""},
    {"GET / HTTP/1.1\r\nHost: t\r\nX: a\x01b\r\n\r\n", 400, "\"detail\":\"Invalid header value char\""},
    {"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400,
     "\"detail\":\"Duplicate Content-Length\""},
    /* a tab in a name, like a space */
    {"GET / HTTP/1.1\r\nHost: t\r\nName\t: x\r\n\r\n", 400, "\"detail\":\"Invalid header token\""},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *got = exchange(&loop, srv, cases[i].raw);
    if (!refused(got, cases[i].status, cases[i].detail))
      fprintf(stderr, "  case %zu: %s\n", i, got ? got : "(nothing)");
    ASSERT_TRUE(refused(got, cases[i].status, cases[i].detail));
    free(got);
  }
  ASSERT_EQ_INT(stats(srv).requests_refused, sizeof(cases) / sizeof(cases[0]));
  ASSERT_STOPS(&loop, srv);
}

TEST(conn_max_connections_closes_more_at_accept) {
  uv_loop_t loop;
  crater_config cfg = crater_config_default();
  cfg.max_connections = 1;
  crater_server *srv = start(&loop, &cfg);
  ASSERT_TRUE(srv != NULL);
  int port = crater_bound_port(srv);
  spec_sock first, second;
  ASSERT_EQ_INT(spec_sock_open(&first, port), 0);
  while (stats(srv).connections_open == 0) uv_run(&loop, UV_RUN_NOWAIT);
  ASSERT_EQ_INT(spec_sock_open(&second, port), 0);
  ASSERT_EQ_INT(spec_sock_wait(&second, &loop, NULL, 2000), 1); /* closed at once */
  ASSERT_EQ_INT(second.len, 0);
  ASSERT_EQ_INT(stats(srv).requests_refused, 1);
  /* The first is served; once it is gone, a new one is too. */
  static const char get[] = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  spec_sock_send(&first, &loop, get, sizeof(get) - 1);
  ASSERT_EQ_INT(spec_sock_wait(&first, &loop, NULL, 2000), 1);
  ASSERT_TRUE(strstr(first.data, "\r\n\r\nhello") != NULL);
  spec_sock_close(&first);
  spec_sock_close(&second);
  ASSERT_TRUE(spec_connections_closed(&loop, srv, 2000));
  char *got = exchange(&loop, srv, get);
  ASSERT_EQ_INT(spec_response_status(got), 200);
  free(got);
  ASSERT_EQ_INT(stats(srv).connections_total, 3);
  ASSERT_STOPS(&loop, srv);
}

TEST(conn_header_and_idle_timeouts) {
  uv_loop_t loop;
  crater_config cfg = crater_config_default();
  cfg.header_timeout_ms = 80;
  cfg.idle_timeout_ms = 80;
  cfg.body_timeout_ms = 80;
  crater_server *srv = start(&loop, &cfg);
  ASSERT_TRUE(srv != NULL);
  int port = crater_bound_port(srv);
  /* Silent; the head cut short; the body cut short; one answered, then idle. */
  static const char *const sends[] = {
    "",
    "GET / HTTP/1.1\r\nHost: t\r\n",
    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc",
    "GET / HTTP/1.1\r\nHost: t\r\n\r\n",
  };
  spec_sock s[4];
  uint64_t t0 = uv_hrtime();
  for (int i = 0; i < 4; i++) {
    ASSERT_EQ_INT(spec_sock_open(&s[i], port), 0);
    spec_sock_send(&s[i], &loop, sends[i], strlen(sends[i]));
  }
  for (int i = 0; i < 4; i++) ASSERT_EQ_INT(spec_sock_wait(&s[i], &loop, NULL, 3000), 1);
  ASSERT_TRUE(uv_hrtime() - t0 >= 70 * 1000000ull);
  ASSERT_EQ_INT(s[0].len, 0); /* closed without a word */
  for (int i = 1; i <= 2; i++) ASSERT_TRUE(strncmp(s[i].data, "HTTP/1.1 408 Request Timeout\r\n", 30) == 0);
  ASSERT_TRUE(refused(s[1].data, 408, "request not received within the header timeout"));
  ASSERT_TRUE(refused(s[2].data, 408, "request body not received within the body timeout"));
  ASSERT_TRUE(strstr(s[3].data, "\r\n\r\nhello") != NULL);
  ASSERT_EQ_INT(count(s[3].data, "HTTP/1.1"), 1);
  for (int i = 0; i < 4; i++) spec_sock_close(&s[i]);
  ASSERT_EQ_INT(stats(srv).requests_refused, 2);
  ASSERT_STOPS(&loop, srv);
}
