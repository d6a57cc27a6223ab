/* conn.c - one client connection, from accept to close.
 *
 * Bytes read are fed to llhttp; its callbacks copy the request line and
 * headers into conn->head and the body into conn->body. When a message is
 * complete it is dispatched to Lua at once and its response appended to
 * conn->out, so pipelined requests are answered in order and the answers to
 * one read go out in one write. */
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <lua.h>

#include "alloc.h"
#include "reload.h"
#include "vm.h"

#define MAX_HEADERS 128
#define READ_BUF_SIZE (64 * 1024)
#define OUT_HIGH_WATER (4u * 1024 * 1024) /* stop reading while this much is unsent */
#define LINGER_MS 2000

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void process_input(crater__conn *c, const char *data, size_t len);
static void stream_start(crater__conn *c, crater__gen *g, const crater__response *res);
static void stream_pump(crater__conn *c);
static void stream_end(crater__conn *c, int ok);
static void write_cb(uv_write_t *req, int status);
static void shutdown_cb(uv_shutdown_t *req, int status);
static void timer_cb(uv_timer_t *t);
static void arm(crater__conn *c, uint64_t ms);
static void close_cb(uv_handle_t *h);
static void flush(crater__conn *c);
static void finish_and_close(crater__conn *c);
static void close_after_response(crater__conn *c);
static int eof_busy(crater__conn *c);
static void refuse(crater__conn *c, int status, const char *why);
static void dispatch(crater__conn *c);
static void reset_request(crater__conn *c);
static int append_head(crater__conn *c, const char *at, size_t len);

static int on_message_begin(llhttp_t *p);
static int on_url(llhttp_t *p, const char *at, size_t len);
static int on_header_field(llhttp_t *p, const char *at, size_t len);
static int on_header_value(llhttp_t *p, const char *at, size_t len);
static int on_headers_complete(llhttp_t *p);
static int on_body(llhttp_t *p, const char *at, size_t len);
static int on_message_complete(llhttp_t *p);

static const llhttp_settings_t parser_settings = {
  .on_message_begin = on_message_begin,
  .on_url = on_url,
  .on_header_field = on_header_field,
  .on_header_value = on_header_value,
  .on_headers_complete = on_headers_complete,
  .on_body = on_body,
  .on_message_complete = on_message_complete,
};

/* ===================================================================== */
/*  Lifecycle                                                              */
/* ===================================================================== */

crater__conn *crater__conn_pooled(crater_server *srv) {
  crater__conn *c = srv->free_conns;
  if (c != NULL) {
    srv->free_conns = c->next;
    uint64_t seq = c->seq; /* keep counting so stale Lua handles stay stale */
    memset(c, 0, sizeof(*c));
    c->seq = seq;
  } else {
    c = crater__calloc(1, sizeof(*c));
  }
  return c;
}

void crater__conn_accept(crater_server *srv, uv_stream_t *listener) {
  crater__conn *c = crater__conn_pooled(srv);
  if (c == NULL || uv_tcp_init(srv->loop, &c->tcp) != 0) {
    /* Accept into a throwaway handle so libuv stops reporting it. */
    crater__log(srv, CRATER_LOG_ERROR, "out of memory accepting a connection");
    crater__free(c);
    return;
  }
  c->srv = srv;
  c->fd = -1;
  c->tcp.data = c;
  c->timer.data = c;
  uv_timer_init(srv->loop, &c->timer);
  c->closing_handles = 0;

  c->next = srv->conns;
  c->prev = NULL;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  srv->stats.connections_open++;
  srv->stats.connections_total++;

  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
    crater__conn_close(c);
    return;
  }
  if (srv->stats.connections_open > srv->cfg.max_connections || srv->closing) {
    srv->stats.requests_refused++;
    crater__log(srv, CRATER_LOG_WARN, "connection refused: %s",
                srv->closing ? "shutting down" : "too many open connections (--max-connections)");
    crater__conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_os_fd_t fd;
  c->fd = uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0 ? (int)fd : -1;

  struct sockaddr_storage ss;
  int sslen = sizeof(ss);
  c->peer[0] = '\0';
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sslen) == 0) {
    char ip[48] = "";
    int port = 0;
    if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
      port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    } else {
      uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
      port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
  }

  llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
  c->parser.data = c;
  c->state = CONN_IDLE;
  /* The first request must arrive within the header timeout. */
  arm(c, srv->cfg.header_timeout_ms);
  uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

void crater__conn_drain(crater__conn *c) {
  if (c->flags & CONN_F_CLOSED) return;
  if (c->state == CONN_IDLE && !(c->flags & CONN_F_WRITING) && c->out.len == 0) {
    crater__conn_close(c);
    return;
  }
  /* The response in progress will carry Connection: close. */
  c->flags |= CONN_F_CLOSE_AFTER;
}

void crater__conn_close(crater__conn *c) {
  if (c->flags & CONN_F_CLOSED) return;
  c->flags |= CONN_F_CLOSED;
  if (c->flags & CONN_F_STREAMING) {
    crater__log(c->srv, CRATER_LOG_INFO, "client %s went away during a streamed response", c->peer);
    crater__gen_abandon(c->stream_gen, &c->stream);
    crater__gen_unref(c->stream_gen);
    c->stream_gen = NULL;
    c->flags &= ~(CONN_F_STREAMING | CONN_F_STREAM_WAIT);
  }
  c->closing_handles = 2;
  uv_close((uv_handle_t *)&c->timer, close_cb);
  uv_close((uv_handle_t *)&c->tcp, close_cb);
}

static void close_cb(uv_handle_t *h) {
  crater__conn *c = h->data;
  if (--c->closing_handles > 0) return;
  crater__buf_free(&c->head);
  crater__buf_free(&c->body);
  crater__buf_free(&c->out);
  crater__buf_free(&c->wbuf);
  crater__buf_free(&c->pending);
  crater__free(c->headers);
  c->headers = NULL;
  c->capheaders = 0;
  c->seq++; /* invalidate any (conn, seq) still held by Lua */
  crater__server_conn_closed(c->srv, c);
}

/* Connection: close after a complete request. Not an immediate close: the
 * client may have sent more behind the request (pipelined requests, say
 * during a graceful stop), and bytes that arrive while the answer is being
 * written stay unread; closing then makes the kernel reset the connection,
 * which can destroy the answer before the client reads it. So the same
 * staged close as after a refusal (RFC 9112 9.6). */
static void close_after_response(crater__conn *c) { finish_and_close(c); }

/* After the client's EOF: 1 while answers are still being written or
 * streamed (write_cb or stream_end comes back when that ends), 0 when the
 * connection can close. */
static int eof_busy(crater__conn *c) {
  return (c->flags & (CONN_F_WRITING | CONN_F_STREAMING)) || c->out.len > 0;
}

/* Sends what is queued, then half-closes and discards whatever the client
 * still sends for a moment: closing with unread bytes in the socket would
 * make the kernel send RST and the client could lose our last response. */
static void finish_and_close(crater__conn *c) {
  c->flags |= CONN_F_CLOSE_AFTER | CONN_F_FINISH;
  if (c->flags & CONN_F_WRITING) return; /* write_cb comes back here */
  if (c->out.len > 0) {
    flush(c);
    return;
  }
  if (c->state == CONN_LINGER || (c->flags & CONN_F_CLOSED)) return;
  if (c->flags & CONN_F_EOF) { /* nothing left to drain */
    crater__conn_close(c);
    return;
  }
  c->state = CONN_LINGER;
  if (c->flags & CONN_F_READ_STOPPED) {
    c->flags &= ~CONN_F_READ_STOPPED;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
  }
  arm(c, LINGER_MS);
  c->sreq.data = c;
  if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, shutdown_cb) != 0) crater__conn_close(c);
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  crater__conn *c = req->data;
  if (status != 0 && status != UV_ECANCELED) crater__conn_close(c);
}

/* Sets the connection's one timeout to end `ms` from now. Every request
 * moves it three times (first byte, headers done, response sent) and
 * re-arming a uv timer is a heap delete + insert each time; so a later
 * deadline is only recorded here, and timer_cb re-arms for the rest when
 * the earlier one fires. Only an earlier deadline touches the timer. */
static void arm(crater__conn *c, uint64_t ms) {
  uint64_t due = uv_now(c->srv->loop) + ms;
  c->deadline = due;
  if (uv_is_active((uv_handle_t *)&c->timer) && c->timer_due <= due) return;
  c->timer_due = due;
  uv_timer_start(&c->timer, timer_cb, ms, 0);
}

static void timer_cb(uv_timer_t *t) {
  crater__conn *c = t->data;
  uint64_t now = uv_now(c->srv->loop);
  if (c->deadline > now) {
    c->timer_due = c->deadline;
    uv_timer_start(t, timer_cb, c->deadline - now, 0);
    return;
  }
  switch (c->state) {
    case CONN_HEAD:
    case CONN_BODY:
      refuse(c, 408, "request not received within the header timeout (--header-timeout)");
      flush(c);
      finish_and_close(c);
      break;
    case CONN_IDLE:
      if (c->flags & CONN_F_WRITING) {
        c->flags |= CONN_F_CLOSE_AFTER;
        break;
      }
      crater__conn_close(c); /* idle keep-alive connection: close quietly */
      break;
    default:
      crater__conn_close(c); /* end of lingering */
      break;
  }
}

/* ===================================================================== */
/*  Reading and parsing                                                    */
/* ===================================================================== */

/* One read buffer per connection would cost 64 KiB each; the data is copied
 * out by the parser callbacks before read_cb returns, so all connections of
 * a server can share one. */
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  crater__conn *c = h->data;
  crater_server *srv = c->srv;
  (void)suggested;
  if (srv->read_buf == NULL) srv->read_buf = crater__malloc(READ_BUF_SIZE);
  buf->base = srv->read_buf;
  buf->len = srv->read_buf ? READ_BUF_SIZE : 0;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  crater__conn *c = s->data;
  if (nread < 0) {
    /* EOF is the end of what the client sends, not of what it reads: one
     * that half-closes after its last request still waits for the answers.
     * So answers being written or streamed are finished first (write_cb
     * or stream_end closes once they are). An error ends everything. */
    if (nread == UV_EOF && !(c->flags & CONN_F_CLOSED)) {
      c->flags |= CONN_F_EOF | CONN_F_READ_STOPPED;
      uv_read_stop(s);
      flush(c);
      if (eof_busy(c)) return;
    }
    crater__conn_close(c);
    return;
  }
  if (nread == 0 || (c->flags & CONN_F_CLOSED)) return;
  if (c->state == CONN_LINGER || (c->flags & CONN_F_FINISH)) return; /* discard */
  if (c->flags & CONN_F_STREAMING) {
    /* Reading stops when a stream starts, but a read may already be under
     * way: keep the bytes for after the stream. */
    crater__buf_append(&c->pending, buf->base, (size_t)nread);
    return;
  }
  process_input(c, buf->base, (size_t)nread);
}

/* Feeds bytes to the parser; complete requests are answered as they are found. */
static void process_input(crater__conn *c, const char *data, size_t len) {
  c->in_parser = 1;
  llhttp_errno_t err = llhttp_execute(&c->parser, data, len);
  c->in_parser = 0;
  if (err == HPE_PAUSED && (c->flags & CONN_F_STREAMING)) {
    /* A handler started streaming: keep what follows the request for later
     * and stop reading until the stream ends. */
    const char *pos = llhttp_get_error_pos(&c->parser);
    if (pos != NULL && pos >= data && pos < data + len)
      crater__buf_append(&c->pending, pos, (size_t)(data + len - pos));
    if (!(c->flags & CONN_F_READ_STOPPED)) {
      uv_read_stop((uv_stream_t *)&c->tcp);
      c->flags |= CONN_F_READ_STOPPED;
    }
    flush(c);
    return;
  }
  if (err == HPE_PAUSED) {
    /* on_message_complete paused: this response closes the connection. */
    if (c->flags & CONN_F_FINISH) {
      finish_and_close(c);
      return;
    }
    close_after_response(c);
    return;
  }
  if (err != HPE_OK) {
    int status = 400;
    const char *why = llhttp_get_error_reason(&c->parser);
    if (c->refuse != 0) {
      status = c->refuse;
      why = c->refuse_why;
    } else if (err == HPE_INVALID_METHOD) {
      status = 501;
      why = "unknown request method";
    }
    refuse(c, status, why ? why : llhttp_errno_name(err));
    finish_and_close(c);
    return;
  }
  flush(c);
  if (c->out.len + c->wbuf.len > OUT_HIGH_WATER && !(c->flags & CONN_F_READ_STOPPED)) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->flags |= CONN_F_READ_STOPPED;
  }
}

static int on_message_begin(llhttp_t *p) {
  crater__conn *c = p->data;
  reset_request(c);
  c->state = CONN_HEAD;
  arm(c, c->srv->cfg.header_timeout_ms);
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
  crater__conn *c = p->data;
  if (append_head(c, at, len) != 0) return -1;
  c->url_len += len;
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  crater__conn *c = p->data;
  if (c->in_value || c->nheaders == 0) {
    if (c->nheaders == MAX_HEADERS) {
      c->refuse = 431;
      c->refuse_why = "too many header fields";
      return -1;
    }
    if (c->nheaders == c->capheaders) {
      int cap = c->capheaders ? c->capheaders * 2 : 16;
      crater__header *h = crater__realloc(c->headers, sizeof(*h) * (size_t)cap);
      if (h == NULL) return -1;
      c->headers = h;
      c->capheaders = cap;
    }
    crater__header *h = &c->headers[c->nheaders++];
    h->name_off = (uint32_t)c->head.len;
    h->name_len = 0;
    h->value_off = 0;
    h->value_len = 0;
    c->in_value = 0;
  }
  if (append_head(c, at, len) != 0) return -1;
  c->headers[c->nheaders - 1].name_len += (uint32_t)len;
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  crater__conn *c = p->data;
  crater__header *h = &c->headers[c->nheaders - 1];
  if (!c->in_value) {
    h->value_off = (uint32_t)c->head.len;
    c->in_value = 1;
  }
  if (append_head(c, at, len) != 0) return -1;
  h->value_len += (uint32_t)len;
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  crater__conn *c = p->data;
  crater_server *srv = c->srv;
  if (p->http_major != 1 || p->http_minor > 1) {
    c->refuse = 505;
    c->refuse_why = "only HTTP/1.0 and HTTP/1.1 are supported";
    return -1;
  }
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > srv->cfg.max_body_bytes) {
    c->refuse = 413;
    c->refuse_why = "request body larger than the limit (--max-body)";
    return -1;
  }
  c->state = CONN_BODY;
  arm(c, srv->cfg.header_timeout_ms);
  /* Expect: 100-continue: the client waits for this before sending the body. */
  for (int i = 0; i < c->nheaders; i++) {
    const crater__header *h = &c->headers[i];
    if (h->name_len == 6 && strncasecmp(c->head.data + h->name_off, "expect", 6) == 0 &&
        h->value_len == 12 && strncasecmp(c->head.data + h->value_off, "100-continue", 12) == 0 &&
        p->http_minor >= 1) {
      static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
      crater__buf_append(&c->out, cont, sizeof(cont) - 1);
      flush(c);
    }
  }
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  crater__conn *c = p->data;
  if (c->body.len + len > c->srv->cfg.max_body_bytes) {
    c->refuse = 413;
    c->refuse_why = "request body larger than the limit (--max-body)";
    return -1;
  }
  if (crater__buf_append(&c->body, at, len) != 0) return -1;
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  crater__conn *c = p->data;
  c->seq++;
  c->flags &= ~CONN_F_KEEPALIVE;
  if (llhttp_should_keep_alive(p) && !(c->flags & CONN_F_CLOSE_AFTER) && !c->srv->closing)
    c->flags |= CONN_F_KEEPALIVE;
  /* --dev after a failed reload: say so rather than serve the old code. */
  if (c->srv->stale_error == NULL ||
      !crater__reload_stale_answer(c->srv, &c->out, c->parser.method == HTTP_HEAD,
                                   !(c->flags & CONN_F_KEEPALIVE)))
    dispatch(c);
  if (c->state != CONN_LINGER) c->state = CONN_IDLE;
  if (c->flags & (CONN_F_STREAMING | CONN_F_FINISH)) return HPE_PAUSED; /* stream_end resumes parsing */
  if (!(c->flags & CONN_F_KEEPALIVE)) return HPE_PAUSED;
  arm(c, c->srv->cfg.idle_timeout_ms);
  return 0;
}

static int append_head(crater__conn *c, const char *at, size_t len) {
  if (c->head.len + len > c->srv->cfg.max_header_bytes) {
    c->refuse = 431;
    c->refuse_why = "request line and headers larger than the limit (--max-header)";
    return -1;
  }
  return crater__buf_append(&c->head, at, len);
}

static void reset_request(crater__conn *c) {
  c->head.len = 0;
  c->url_len = 0;
  c->nheaders = 0;
  c->in_value = 0;
  c->body.len = 0;
  c->refuse = 0;
  c->refuse_why = NULL;
}

/* ===================================================================== */
/*  Answering                                                              */
/* ===================================================================== */

static void write_response(crater__conn *c, const crater__response *res, int head_only) {
  crater_server *srv = c->srv;
  crater__buf *out = &c->out;
  const char *date = crater__http_date_at(&srv->date, uv_now(srv->loop));
  int status = res->status;
  /* Room for everything but extra headers at once: the status line (see
   * crater__http_status_line), Content-Type, Content-Length, Connection,
   * the blank line and the body are then plain copies. */
  size_t need = 96 + strlen(date) + res->ctype_len + 18 + 38 + 26 + 2 + res->body_len;
  if (crater__buf_reserve(out, need) != 0) {
    crater__log(srv, CRATER_LOG_ERROR, "out of memory writing a response to %s", c->peer);
    c->flags &= ~CONN_F_KEEPALIVE; /* the client sees the close instead of an answer */
    return;
  }
  crater__http_status_line(out, status, date);
  if (res->ctype != NULL) {
    char *p = out->data + out->len;
    memcpy(p, "Content-Type: ", 14);
    memcpy(p + 14, res->ctype, res->ctype_len);
    memcpy(p + 14 + res->ctype_len, "\r\n", 2);
    out->len += 16 + res->ctype_len;
  }
  for (int i = 0; i < res->nheaders; i++) {
    const char *name, *value;
    size_t nlen, vlen;
    crater__gen_header(res, i, &name, &nlen, &value, &vlen);
    crater__hdr_use use = crater__http_response_header_use(name, nlen, value, vlen);
    if (use == CRATER__HDR_UNSAFE)
      crater__log(srv, CRATER_LOG_ERROR, "dropped response header with an empty name or CR/LF");
    if (use == CRATER__HDR_CONNECTION && vlen == 5 && strncasecmp(value, "close", 5) == 0)
      c->flags &= ~CONN_F_KEEPALIVE;
    if (use != CRATER__HDR_COPY) continue;
    crater__buf_append(out, name, nlen);
    crater__buf_append(out, ": ", 2);
    crater__buf_append(out, value, vlen);
    crater__buf_append(out, "\r\n", 2);
  }
  int bodyless = crater__http_bodyless(status);
  if (res->streaming) {
    /* HTTP/1.0 has no chunked coding: the body ends when the connection does. */
    if (c->parser.http_minor == 0) c->flags &= ~CONN_F_KEEPALIVE;
    else if (!bodyless) crater__buf_append(out, "Transfer-Encoding: chunked\r\n", 28);
  } else if (!bodyless && crater__buf_reserve(out, 16 + 20 + 2) == 0) {
    char digits[24], *p = out->data + out->len;
    size_t i = sizeof(digits), v = res->body_len;
    do {
      digits[--i] = (char)('0' + v % 10);
      v /= 10;
    } while (v != 0);
    memcpy(p, "Content-Length: ", 16);
    memcpy(p + 16, digits + i, sizeof(digits) - i);
    memcpy(p + 16 + sizeof(digits) - i, "\r\n", 2);
    out->len += 16 + sizeof(digits) - i + 2;
  }
  if (!(c->flags & CONN_F_KEEPALIVE))
    crater__buf_append(out, "Connection: close\r\n", 19);
  else if (c->parser.http_minor == 0)
    crater__buf_append(out, "Connection: keep-alive\r\n", 24);
  crater__buf_append(out, "\r\n", 2);
  if (!bodyless && !head_only) crater__buf_append(out, res->body, res->body_len);
}

static void dispatch(crater__conn *c) {
  crater_server *srv = c->srv;
  crater__gen *g = srv->gen;
  srv->stats.requests_total++;
  if (g == NULL) {
    refuse(c, 503, "no application loaded");
    return;
  }
  const char *url = c->head.data;
  size_t url_len = c->url_len;
  crater__reqinfo ri; /* URL splitting and the call are shared with inject.c */
  crater__reqinfo_init(&ri, llhttp_method_name((llhttp_method_t)c->parser.method), url, url_len,
                       c, c->seq);
  crater__response res;
  if (crater__dispatch(g, LUA_NOREF, &ri, &res) != 0) {
    refuse(c, 500, "the application's dispatcher failed; see the server log");
    return;
  }
  if (res.streaming) {
    stream_start(c, g, &res); /* keeps the reference on g until the stream ends */
    return;
  }
  write_response(c, &res, c->parser.method == HTTP_HEAD);
  crater__gen_done(g, &res);
  crater__gen_unref(g);
}

/* A request the core answers itself; the connection closes after it unless
 * the status is one a client can recover from on the same connection. */
static void refuse(crater__conn *c, int status, const char *why) {
  crater_server *srv = c->srv;
  srv->stats.requests_refused++;
  int close = status != 503 && status != 500;
  if (close) {
    c->flags &= ~CONN_F_KEEPALIVE;
    c->flags |= CONN_F_CLOSE_AFTER;
  }
  crater__log(srv, status >= 500 ? CRATER_LOG_ERROR : CRATER_LOG_WARN, "refused %d from %s: %s",
              status, c->peer, why);
  crater__http_problem(&c->out, status, why, crater__http_date_get(&srv->date),
                       close || !(c->flags & CONN_F_KEEPALIVE));
}

/* ===================================================================== */
/*  Streamed responses                                                     */
/* ===================================================================== */

/* The handler's coroutine yielded the response head: write it, then pull
 * chunks. Parsing stays paused (pipelined requests wait their turn). */
static void stream_start(crater__conn *c, crater__gen *g, const crater__response *res) {
  c->stream = *res;
  c->stream_gen = g;
  c->stream_head_only = c->parser.method == HTTP_HEAD;
  c->flags |= CONN_F_STREAMING;
  uv_timer_stop(&c->timer);
  write_response(c, res, 1);
  c->stream_chunked = c->parser.http_minor >= 1;
  lua_settop(res->T, 0);
  stream_pump(c);
}

#define STREAM_HIGH_WATER (64 * 1024)

/* Resumes the coroutine for chunks until it ends or enough is queued; then
 * waits for the write to complete (the client's pace sets the handler's). */
static void stream_pump(crater__conn *c) {
  while (c->flags & CONN_F_STREAMING) {
    const char *chunk;
    size_t len;
    int rc = crater__gen_resume(c->stream_gen, &c->stream, &chunk, &len);
    if (rc < 0) {
      stream_end(c, 0);
      return;
    }
    if (rc == 0) {
      stream_end(c, 1);
      return;
    }
    if (len == 0 || c->stream_head_only) continue; /* an empty chunk would end the body */
    if (c->stream_chunked) {
      char size[24];
      int n = snprintf(size, sizeof(size), "%zx\r\n", len);
      crater__buf_append(&c->out, size, (size_t)n);
      crater__buf_append(&c->out, chunk, len);
      crater__buf_append(&c->out, "\r\n", 2);
    } else {
      crater__buf_append(&c->out, chunk, len);
    }
    if (c->out.len >= STREAM_HIGH_WATER || (c->flags & CONN_F_WRITING)) {
      flush(c);
      c->flags |= CONN_F_STREAM_WAIT;
      return;
    }
  }
}

static void stream_end(crater__conn *c, int ok) {
  crater__gen_unref(c->stream_gen);
  c->stream_gen = NULL;
  c->flags &= ~(CONN_F_STREAMING | CONN_F_STREAM_WAIT);
  if (!ok) {
    /* The head is gone already; closing without the last chunk is how the
     * client learns the body is incomplete. */
    c->flags &= ~CONN_F_KEEPALIVE;
    finish_and_close(c);
    return;
  }
  if (c->stream_chunked && !c->stream_head_only) crater__buf_append(&c->out, "0\r\n\r\n", 5);
  if (c->in_parser) return; /* ended within dispatch: on_message_complete carries on */
  if (!(c->flags & CONN_F_KEEPALIVE)) {
    close_after_response(c);
    return;
  }
  /* Back to serving this connection: parse what arrived meanwhile. */
  arm(c, c->srv->cfg.idle_timeout_ms);
  llhttp_resume(&c->parser);
  crater__buf rest = c->pending;
  memset(&c->pending, 0, sizeof(c->pending));
  if (rest.len > 0) process_input(c, rest.data, rest.len);
  crater__buf_free(&rest);
  flush(c);
  if (c->flags & CONN_F_EOF) {
    if (!eof_busy(c)) crater__conn_close(c);
    return;
  }
  if ((c->flags & (CONN_F_READ_STOPPED | CONN_F_STREAMING | CONN_F_CLOSED | CONN_F_FINISH |
                   CONN_F_CLOSE_AFTER)) == CONN_F_READ_STOPPED) {
    c->flags &= ~CONN_F_READ_STOPPED;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
  }
}

/* ===================================================================== */
/*  Writing                                                                */
/* ===================================================================== */

/* Flags under which a finished write has follow-up work (write_cb's). */
#define CONN_F_AFTER_WRITE \
  (CONN_F_CLOSE_AFTER | CONN_F_READ_STOPPED | CONN_F_FINISH | CONN_F_STREAMING | CONN_F_STREAM_WAIT)

/* uv_try_write for a stream with nothing queued, as send(2): write(2) on a
 * socket also goes through the VFS layer (fdget_pos, rw checks), a per
 * response cost that send skips. MSG_NOSIGNAL: a closed peer is an EPIPE
 * error here, never a signal. Returns bytes sent, UV_EAGAIN, or an error. */
static int try_send(crater__conn *c) {
#ifdef MSG_NOSIGNAL
  if (c->fd >= 0) {
    for (;;) {
      ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
      if (n >= 0) return (int)n;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return UV_EAGAIN;
      return uv_translate_sys_error(errno);
    }
  }
#endif
  uv_buf_t d = uv_buf_init(c->out.data, (unsigned)c->out.len);
  return uv_try_write((uv_stream_t *)&c->tcp, &d, 1);
}

static void flush(crater__conn *c) {
  if ((c->flags & (CONN_F_WRITING | CONN_F_CLOSED)) || c->out.len == 0) return;
  if (!(c->flags & CONN_F_AFTER_WRITE)) {
    /* Most responses fit in the socket buffer. Writing them directly skips
     * libuv's write request, whose completion re-queues the fd's epoll
     * registration: one epoll_ctl per response otherwise. */
    int n = try_send(c);
    if (n == (int)c->out.len) {
      c->out.len = 0;
      return;
    }
    if (n < 0 && n != UV_EAGAIN) {
      crater__conn_close(c);
      return;
    }
    if (n > 0) {
      memmove(c->out.data, c->out.data + n, c->out.len - (size_t)n);
      c->out.len -= (size_t)n;
    }
  }
  crater__buf tmp = c->wbuf;
  c->wbuf = c->out;
  c->out = tmp;
  c->out.len = 0;
  uv_buf_t b = uv_buf_init(c->wbuf.data, (unsigned)c->wbuf.len);
  c->wreq.data = c;
  if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb) != 0) {
    crater__conn_close(c);
    return;
  }
  c->flags |= CONN_F_WRITING;
}

static void write_cb(uv_write_t *req, int status) {
  crater__conn *c = req->data;
  c->flags &= ~CONN_F_WRITING;
  c->wbuf.len = 0;
  if (status != 0 || (c->flags & CONN_F_CLOSED)) {
    crater__conn_close(c);
    return;
  }
  if (c->flags & CONN_F_STREAM_WAIT) {
    c->flags &= ~CONN_F_STREAM_WAIT;
    stream_pump(c);
    return;
  }
  if (c->out.len > 0) {
    flush(c);
    return;
  }
  if (c->flags & CONN_F_FINISH) {
    finish_and_close(c);
    return;
  }
  if ((c->flags & CONN_F_CLOSE_AFTER) && c->state == CONN_IDLE) {
    crater__conn_close(c);
    return;
  }
  if (c->flags & CONN_F_EOF) {
    if (!eof_busy(c)) crater__conn_close(c);
    return;
  }
  if ((c->flags & CONN_F_READ_STOPPED) && !(c->flags & CONN_F_STREAMING)) {
    c->flags &= ~CONN_F_READ_STOPPED;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
  }
}

/* ===================================================================== */
/*  What the Lua bindings read                                             */
/* ===================================================================== */

int crater__conn_valid(const crater__conn *c, uint64_t seq) {
  return c != NULL && c->seq == seq && !(c->flags & CONN_F_CLOSED);
}

int crater__conn_nheaders(const crater__conn *c) { return c->nheaders; }

void crater__conn_header(const crater__conn *c, int i, const char **name, size_t *nlen,
                         const char **value, size_t *vlen) {
  const crater__header *h = &c->headers[i];
  *name = c->head.data + h->name_off;
  *nlen = h->name_len;
  *value = h->value_len ? c->head.data + h->value_off : "";
  *vlen = h->value_len;
}

const char *crater__conn_body(const crater__conn *c, size_t *len) {
  *len = c->body.len;
  return c->body.len ? c->body.data : "";
}
