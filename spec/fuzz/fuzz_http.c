/* fuzz_http.c - libFuzzer target for raw HTTP/1.1 bytes through the real
 * connection path: a crater_server on 127.0.0.1 in this process, a libuv
 * TCP client per input on the same loop. Covers llhttp parsing as conn.c
 * drives it, the limits, pipelining, chunked bodies, URL splitting, the
 * Lua dispatch and schema validation.
 *
 * The input is cut at every 0x01 byte into pieces sent one loop iteration
 * apart, so the server reads them separately (request lines and headers
 * split across reads). After the last piece the client half-closes and
 * reads until the server closes.
 *
 * Oracle: no crash, leak or hang (ASan, UBSan, libFuzzer's -timeout), the
 * connection ends with the server's FIN, never a reset, and the bytes the
 * server wrote parse as a sequence of HTTP/1.1 responses
 * (skipped when the input may hold a HEAD request, whose response carries a
 * Content-Length without a body). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <llhttp.h>
#include <uv.h>

#include "crater.h"
#define FUZZ_NAME "fuzz_http"
#include "fuzz_app.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SPLIT 0x01
#define MAX_SEEN (1u << 20) /* response bytes kept for the oracle */

static uv_loop_t loop;
static int port;

typedef struct {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_shutdown_t sreq;
  uv_idle_t idle;
  const uint8_t *next, *end; /* what is left to send */
  int connected, shut, closed_handles;
  char *seen;                /* what the server sent, up to MAX_SEEN bytes */
  size_t nseen, capseen;
} client;

static void setup(void) {
  crater_config cfg = crater_config_default();
  /* Small limits, so inputs of fuzzer size reach them. */
  cfg.max_header_bytes = 2048;
  cfg.max_body_bytes = 4096;
  crater_server *srv = fuzz_app_start(&loop, cfg);
  if (crater_listen(srv, "127.0.0.1", 0) != 0) fail("listen", crater_last_error(srv));
  port = crater_bound_port(srv);
}

static void closed(uv_handle_t *h) {
  client *c = h->data;
  c->closed_handles++;
}

static void close_client(client *c) {
  if (uv_is_closing((uv_handle_t *)&c->tcp)) return;
  uv_close((uv_handle_t *)&c->idle, closed);
  /* Closing with an RST (linger 0) leaves no TIME_WAIT socket behind:
   * thousands of inputs a second would otherwise use up the ports. */
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
    struct linger lg = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  uv_close((uv_handle_t *)&c->tcp, closed);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char rbuf[64 * 1024];
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  client *c = s->data;
  if (n < 0) {
    /* Only EOF: the server closes in stages, so a reset (which can destroy
     * answers not yet read) is a bug. */
    if (n != UV_EOF) fail("the server reset the connection", uv_strerror((int)n));
    close_client(c);
    return;
  }
  size_t keep = (size_t)n;
  if (keep > MAX_SEEN - c->nseen) keep = MAX_SEEN - c->nseen;
  if (keep == 0) return;
  if (c->nseen + keep > c->capseen) {
    size_t cap = c->capseen ? c->capseen * 2 : 4096;
    while (cap < c->nseen + keep) cap *= 2;
    char *p = realloc(c->seen, cap);
    if (p == NULL) fail("out of memory", NULL);
    c->seen = p;
    c->capseen = cap;
  }
  memcpy(c->seen + c->nseen, buf->base, keep);
  c->nseen += keep;
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  (void)req;
  (void)status; /* an error means the server closed first: read_cb sees it */
}

static void write_cb(uv_write_t *req, int status) {
  (void)status;
  free(req);
}

/* Sends one piece per loop iteration; the poll between two idle callbacks
 * lets the server read each on its own. */
static void idle_cb(uv_idle_t *h) {
  client *c = h->data;
  if (!c->connected || c->shut) return;
  if (c->next >= c->end) {
    c->shut = 1;
    uv_idle_stop(h);
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, shutdown_cb) != 0) close_client(c);
    return;
  }
  const uint8_t *cut = memchr(c->next, SPLIT, (size_t)(c->end - c->next));
  size_t len = (size_t)((cut ? cut : c->end) - c->next);
  if (len > 0) {
    uv_write_t *req = malloc(sizeof(*req));
    if (req == NULL) fail("out of memory", NULL);
    uv_buf_t b = uv_buf_init((char *)c->next, (unsigned)len);
    if (uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, write_cb) != 0) {
      free(req);
      close_client(c);
      return;
    }
  }
  c->next += len + (cut ? 1 : 0);
}

static void connect_cb(uv_connect_t *req, int status) {
  client *c = req->data;
  if (status != 0) fail("connect", uv_strerror(status));
  c->connected = 1;
  uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

/* The responses must parse; a HEAD's bodyless answer would look truncated. */
static void check_responses(const client *c, const uint8_t *data, size_t size) {
  static const uint8_t head[] = "HEAD";
  for (size_t i = 0; i + 4 <= size; i++)
    if (memcmp(data + i, head, 4) == 0) return;
  if (c->nseen == 0 || c->nseen == MAX_SEEN) return;
  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  llhttp_t p;
  llhttp_init(&p, HTTP_RESPONSE, &settings);
  llhttp_errno_t err = llhttp_execute(&p, c->seen, c->nseen);
  if (err == HPE_OK) err = llhttp_finish(&p);
  if (err != HPE_OK) {
    const char *at = llhttp_get_error_pos(&p);
    size_t off = at ? (size_t)(at - c->seen) : c->nseen;
    size_t from = off > 200 ? off - 200 : 0;
    fprintf(stderr, "fuzz_http: the server's answer (%zu bytes) does not parse (%s: %s) at byte %zu:\n"
            "%.*s<<HERE>>%.*s\n", c->nseen, llhttp_errno_name(err), llhttp_get_error_reason(&p), off,
            (int)(off - from), c->seen + from, (int)(c->nseen - off < 200 ? c->nseen - off : 200),
            c->seen + off);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (port <= 0) setup();
  client c;
  memset(&c, 0, sizeof(c));
  c.next = data;
  c.end = data + size;
  c.tcp.data = &c;
  c.idle.data = &c;
  c.creq.data = &c;
  if (uv_tcp_init(&loop, &c.tcp) != 0 || uv_idle_init(&loop, &c.idle) != 0) fail("client init", NULL);
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", port, &addr);
  if (uv_tcp_connect(&c.creq, &c.tcp, (const struct sockaddr *)&addr, connect_cb) != 0)
    fail("uv_tcp_connect", NULL);
  uv_idle_start(&c.idle, idle_cb);
  while (c.closed_handles < 2) uv_run(&loop, UV_RUN_ONCE);
  check_responses(&c, data, size);
  free(c.seen);
  return 0;
}
