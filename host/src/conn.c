/* conn.c - one client connection, from accept to close: the socket
 * transport (see conn.h).
 *
 * Bytes read are fed to llhttp; its callbacks store the request line,
 * headers and body in conn->req. When a message is complete it goes to the
 * pipeline at once, which answers through this file's sink: the answer is
 * appended to conn->out, so pipelined requests are answered in order and
 * the answers to one read go out in one write. While a request is in
 * flight (its handler waits, or a streamed body waits for the client),
 * parsing is paused and further input waits in conn->pending. */
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "conn_idle.h"
#include "log.h"
#include "pipeline.h"
#include "ws.h"

#define READ_BUF_SIZE (64 * 1024)
#define OUT_HIGH_WATER (4u * 1024 * 1024) /* stop reading while this much is unsent */
#define STREAM_HIGH_WATER (64 * 1024)     /* a streamed body waits while this much is unsent */
#define PENDING_HIGH_WATER (64 * 1024) /* input kept while a request is in flight */
#define LINGER_MS 2000

static crater__conn *conn_pooled(crater_server *srv);
static void drop_connection(crater_server *srv, uv_stream_t *listener);
static void drop_closed(uv_handle_t *h);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void read_resume(crater__conn *c);
static void keep_pending(crater__conn *c, const char *data, size_t len);
static void process_input(crater__conn *c, const char *data, size_t len);
static void parse_pending(crater__conn *c);
static void write_cb(uv_write_t *req, int status);
static void shutdown_cb(uv_shutdown_t *req, int status);
static void timer_cb(uv_timer_t *t);
static void arm(crater__conn *c, uint64_t ms);
static void close_cb(uv_handle_t *h);
static void closed_one(crater__conn *c);
static void close_now(crater__conn *c);
static void flush(crater__conn *c);
static int try_send(crater__conn *c);
static void send_watch(crater__conn *c);
static void send_timer_cb(uv_timer_t *t);
static size_t unsent_bytes(crater__conn *c);
static void finish_and_close(crater__conn *c);
static int eof_busy(crater__conn *c);
static void refuse(crater__conn *c, int status, const char *why);
static void refuse_stored(crater__conn *c, crater__req_err e);
static int reclaim_idle(crater_server *srv);

static void sink_respond(void *ctx, crater__request *r, const crater__response *res);
static int sink_chunk(void *ctx, crater__request *r, const char *data, size_t len);
static void sink_flush(void *ctx, crater__request *r);
static int sink_file(void *ctx, crater__request *r, int fd, int64_t *off, uint64_t *left);
static void sink_done(void *ctx, crater__request *r, int ok);
static int sink_upgrade(void *ctx, crater__request *r, crater__ws *ws, const crater__ws_io **io,
                        void **io_ctx);
static int ws_write(void *ctx, const char *a, size_t alen, const char *b, size_t blen);
static void ws_read(void *ctx, int on);

static ssize_t ws_send(crater__conn *c, const char *a, size_t alen, const char *b, size_t blen);
static void ws_buffers_fit(crater__conn *c);
static const crater__ws_io conn_ws_io = {ws_write, ws_read};

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

static const crater__sink conn_sink = {
  .respond = sink_respond,
  .chunk = sink_chunk,
  .flush = sink_flush,
  .file = sink_file,
  .done = sink_done,
  .upgrade = sink_upgrade,
};

/* ===================================================================== */
/*  Lifecycle                                                              */
/* ===================================================================== */

void crater__conn_accept(crater_server *srv, uv_stream_t *listener) {
  crater__conn *c = conn_pooled(srv);
  if (c == NULL || uv_tcp_init(srv->loop, &c->tcp) != 0) {
    if (c != NULL) {
      c->next = srv->free_conns;
      srv->free_conns = c;
    }
    drop_connection(srv, listener);
    return;
  }
  c->srv = srv;
  c->fd = -1;
  c->tcp.data = c;
  c->timer.data = c;
  uv_timer_init(srv->loop, &c->timer);
  c->closing_handles = 0;
  c->req.srv = srv;

  c->next = srv->conns;
  c->prev = NULL;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  srv->stats.connections_open++;
  srv->stats.connections_total++;

  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
    close_now(c);
    return;
  }
  /* A connection closed to make room leaves the count once its handles are. */
  int full = !srv->closing && srv->stats.connections_open > srv->cfg.max_connections &&
             !reclaim_idle(srv);
  if (full || srv->closing) {
    srv->stats.requests_refused++;
    crater__log(srv, CRATER_LOG_WARN, "connection refused: %s",
                srv->closing ? "shutting down" : "too many open connections (--max-connections)");
    close_now(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_os_fd_t fd;
  c->fd = uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0 ? (int)fd : -1;

  struct sockaddr_storage ss;
  int sslen = sizeof(ss);
  c->req.peer[0] = '\0';
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
    snprintf(c->req.peer, sizeof(c->req.peer), "%s:%d", ip, port);
  }

  llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
  crater__strict_parser_init(&c->parser);
  c->parser.data = c;
  c->state = CONN_IDLE;
  /* The first request must arrive within the header timeout. */
  arm(c, srv->cfg.header_timeout_ms);
  uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

/* A zeroed conn from the server's free list (its request's seq kept
 * counting, so stale Lua handles stay stale) or a new one; NULL when out
 * of memory. */
static crater__conn *conn_pooled(crater_server *srv) {
  crater__conn *c = srv->free_conns;
  if (c != NULL) {
    srv->free_conns = c->next;
    uint64_t seq = c->req.seq;
    memset(c, 0, sizeof(*c));
    c->req.seq = seq;
  } else {
    c = crater__calloc(1, sizeof(*c));
  }
  return c;
}

/* Out of memory for a new connection. libuv has accepted it already and
 * stops watching the listener until someone takes it (uv_accept), so not
 * taking it would end accepting for good: take it into the server's one
 * spare handle, which needs no memory, and close it. While that handle is
 * closing, a listener in the same plight waits in drop_pending and is
 * served when it is free again. */
static void drop_connection(crater_server *srv, uv_stream_t *listener) {
  crater__log(srv, CRATER_LOG_ERROR, "out of memory accepting a connection: closing it");
  if (srv->drop_busy) {
    srv->drop_pending = (uv_tcp_t *)listener;
    return;
  }
  uv_tcp_init(srv->loop, &srv->drop_tcp);
  srv->drop_tcp.data = srv;
  srv->drop_busy = 1;
  srv->stats.requests_refused++;
  uv_accept(listener, (uv_stream_t *)&srv->drop_tcp);
  uv_close((uv_handle_t *)&srv->drop_tcp, drop_closed);
}

/* Every connection is open and a new client waits: an idle keep-alive
 * connection (the least recently used) gives it its place, as nginx does
 * with its reusable connections; so idle clients cannot lock busy ones
 * out for the idle timeout. 1 when one was closed. */
static int reclaim_idle(crater_server *srv) {
  crater__conn *old = crater__idle_oldest(srv);
  if (old == NULL) return 0;
  crater__log(srv, CRATER_LOG_DEBUG, "closing the idle connection of %s to make room (--max-connections)",
              old->req.peer);
  close_now(old);
  return 1;
}

static void drop_closed(uv_handle_t *h) {
  crater_server *srv = h->data;
  srv->drop_busy = 0;
  uv_tcp_t *waiting = srv->drop_pending;
  srv->drop_pending = NULL;
  if (waiting != NULL && !srv->closing) crater__conn_accept(srv, (uv_stream_t *)waiting);
  crater__server_maybe_done(srv);
}

void crater__conn_drain(crater__conn *c) {
  if (c->flags & CONN_F_CLOSED) return;
  if (c->ws != NULL) { /* its handler hears 1001 and ends; the grace period bounds it */
    crater__ws_going_away(c->ws);
    return;
  }
  if (c->state == CONN_IDLE && !(c->flags & (CONN_F_WRITING | CONN_F_INFLIGHT)) && c->out.len == 0) {
    close_now(c);
    return;
  }
  /* The answer in progress will carry Connection: close. */
  c->flags |= CONN_F_CLOSE_AFTER;
}

/* A stream whose client left keeps its request (and so this connection's
 * memory, not its socket) until its handler has heard of it and returned:
 * the request counts as one more handle to wait for, released by
 * sink_done, or here when the server's grace period is over. */
void crater__conn_close(crater__conn *c) {
  if ((c->flags & (CONN_F_CLOSED | CONN_F_GONE)) == (CONN_F_CLOSED | CONN_F_GONE)) {
    c->flags &= ~(CONN_F_GONE | CONN_F_INFLIGHT);
    crater__pipeline_abort(&c->req);
    closed_one(c);
    return;
  }
  close_now(c);
}

/* crater__conn_close for this file's own callers, which may call it again
 * once closed (a write cancelled by the close): that ends nothing more. */
static void close_now(crater__conn *c) {
  if (c->flags & CONN_F_CLOSED) return;
  c->flags |= CONN_F_CLOSED;
  crater__idle_remove(c->srv, c);
  int gone = 0;
  if (crater__pipeline_busy(&c->req)) {
    crater__log(c->srv, CRATER_LOG_INFO, "client %s went away before its answer was complete",
                c->req.peer);
    gone = crater__pipeline_gone(&c->req);
    if (gone) c->flags |= CONN_F_GONE;
    else c->flags &= ~CONN_F_INFLIGHT;
    c->flags &= ~CONN_F_DRAIN_WAIT;
  }
  c->closing_handles = 2 + (c->wtimer != NULL) + gone;
  uv_close((uv_handle_t *)&c->timer, close_cb);
  uv_close((uv_handle_t *)&c->tcp, close_cb);
  if (c->wtimer != NULL) uv_close((uv_handle_t *)c->wtimer, close_cb);
}

static void close_cb(uv_handle_t *h) { closed_one(h->data); }

static void closed_one(crater__conn *c) {
  if (--c->closing_handles > 0) return;
  crater__free(c->wtimer); /* its close is done too */
  c->wtimer = NULL;
  crater__ws_free(c->ws);
  c->ws = NULL;
  crater__request_free_buffers(&c->req);
  crater__buf_free(&c->out);
  crater__buf_free(&c->wbuf);
  crater__buf_free(&c->pending);
  c->req.seq++; /* invalidate any (request, seq) still held by Lua */
  crater__server_conn_closed(c->srv, c);
}

void crater__conn_pool_free(crater_server *srv) {
  crater__conn *c = srv->free_conns;
  while (c != NULL) {
    crater__conn *next = c->next;
    crater__free(c);
    c = next;
  }
  srv->free_conns = NULL;
}

/* After the client's EOF: 1 while answers are still being written or a
 * request is in flight (write_cb or sink_done comes back when that ends),
 * 0 when the connection can close. */
static int eof_busy(crater__conn *c) {
  return (c->flags & (CONN_F_WRITING | CONN_F_INFLIGHT)) || c->out.len > 0;
}

/* Sends what is queued, then half-closes and discards whatever the client
 * still sends for a moment: closing with unread bytes in the socket would
 * make the kernel send RST and the client could lose our last response.
 * Also how a connection ends after `Connection: close` (RFC 9112 9.6): the
 * client may have sent more behind the request (pipelined requests, say
 * during a graceful stop). */
static void finish_and_close(crater__conn *c) {
  c->flags |= CONN_F_CLOSE_AFTER | CONN_F_FINISH;
  if (c->flags & CONN_F_WRITING) return; /* write_cb comes back here */
  if (c->out.len > 0) {
    flush(c);
    return;
  }
  if (c->state == CONN_LINGER || (c->flags & CONN_F_CLOSED)) return;
  if (c->flags & CONN_F_EOF) { /* nothing left to drain */
    close_now(c);
    return;
  }
  c->state = CONN_LINGER;
  if (c->flags & CONN_F_READ_STOPPED) {
    c->flags &= ~CONN_F_READ_STOPPED;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
  }
  arm(c, LINGER_MS);
  c->sreq.data = c;
  if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, shutdown_cb) != 0) close_now(c);
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  crater__conn *c = req->data;
  if (status != 0 && status != UV_ECANCELED) close_now(c);
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
      refuse(c, 408, c->state == CONN_HEAD
                         ? "request not received within the header timeout (--header-timeout)"
                         : "request body not received within the body timeout (--body-timeout)");
      flush(c);
      finish_and_close(c);
      break;
    case CONN_IDLE:
      if (c->flags & CONN_F_OUT_FULL) {
        /* Pipelined requests wait for their turn, unanswered: not idle.
         * The send timeout ends a client that stopped reading. */
        arm(c, c->srv->cfg.idle_timeout_ms);
        break;
      }
      if (c->flags & CONN_F_WRITING) {
        c->flags |= CONN_F_CLOSE_AFTER;
        break;
      }
      close_now(c); /* idle keep-alive connection: close quietly */
      break;
    default:
      close_now(c); /* end of lingering */
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
  buf->len = srv->read_buf ? READ_BUF_SIZE : 0; /* 0: read_cb gets UV_ENOBUFS */
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  crater__conn *c = s->data;
  if (c->ws != NULL && !(c->flags & CONN_F_CLOSED)) {
    /* The handler hears the end (1006) and ends; sink_done closes. */
    if (nread < 0) {
      c->flags |= CONN_F_EOF | CONN_F_READ_STOPPED;
      uv_read_stop(s);
      crater__ws_eof(c->ws);
    } else if (nread > 0) {
      /* What the handler sends in answer to this input (an echo, or one
       * answer per message of a pipelining client) leaves in one send. */
      c->flags |= CONN_F_CORK;
      crater__ws_input(c->ws, buf->base, (size_t)nread);
      c->flags &= ~CONN_F_CORK;
      if (!(c->flags & CONN_F_CLOSED)) {
        flush(c);
        if (c->ws != NULL) ws_buffers_fit(c);
      }
    }
    return;
  }
  if (nread < 0) {
    /* EOF is the end of what the client sends, not of what it reads: one
     * that half-closes after its last request still waits for the answers.
     * So answers being written or still in flight are finished first
     * (write_cb or sink_done closes once they are). An error ends
     * everything. */
    if (nread == UV_EOF && !(c->flags & CONN_F_CLOSED)) {
      c->flags |= CONN_F_EOF | CONN_F_READ_STOPPED;
      uv_read_stop(s);
      flush(c);
      if (eof_busy(c)) return;
    }
    close_now(c);
    return;
  }
  if (nread == 0 || (c->flags & CONN_F_CLOSED)) return;
  if (c->state == CONN_LINGER || (c->flags & CONN_F_FINISH)) return; /* discard */
  if (c->flags & (CONN_F_INFLIGHT | CONN_F_OUT_FULL)) {
    keep_pending(c, buf->base, (size_t)nread);
    return;
  }
  process_input(c, buf->base, (size_t)nread);
}

/* Input that arrives while a request is in flight waits for it. Reading
 * goes on meanwhile, up to a bound, so that a client that resets the
 * connection while its handler waits is noticed at once (the request is
 * aborted: what it waits for is cancelled). */
static void keep_pending(crater__conn *c, const char *data, size_t len) {
  if (crater__buf_append(&c->pending, data, len) != 0) {
    close_now(c);
    return;
  }
  if (c->pending.len >= PENDING_HIGH_WATER && !(c->flags & CONN_F_READ_STOPPED)) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->flags |= CONN_F_READ_STOPPED;
  }
}

static void read_resume(crater__conn *c) {
  if ((c->flags & (CONN_F_READ_STOPPED | CONN_F_INFLIGHT | CONN_F_CLOSED | CONN_F_FINISH |
                   CONN_F_EOF | CONN_F_OUT_FULL)) != CONN_F_READ_STOPPED)
    return;
  c->flags &= ~CONN_F_READ_STOPPED;
  uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

/* Feeds bytes to the parser; complete requests are answered as they are found. */
static void process_input(crater__conn *c, const char *data, size_t len) {
  c->in_parser = 1;
  crater__strict_input(&c->strict, data, len);
  llhttp_errno_t err = llhttp_execute(&c->parser, data, len);
  c->in_parser = 0;
  if (err == HPE_PAUSED && (c->flags & CONN_F_INFLIGHT)) {
    /* A request is in flight: keep what follows it for later. */
    const char *pos = llhttp_get_error_pos(&c->parser);
    if (pos != NULL && pos >= data && pos < data + len)
      keep_pending(c, pos, (size_t)(data + len - pos));
    flush(c);
    /* Upgraded inside the parser: what followed is the WebSocket's. */
    if (c->ws != NULL && c->pending.len > 0) ws_read(c, 1);
    return;
  }
  if (err == HPE_PAUSED && (c->flags & CONN_F_OUT_FULL)) {
    /* One read can hold hundreds of pipelined requests: answering them all
     * at once would buffer every answer. The rest waits, unparsed and
     * unread, until write_cb has written what is queued. */
    const char *pos = llhttp_get_error_pos(&c->parser);
    if (pos != NULL && pos >= data && pos < data + len &&
        crater__buf_append(&c->pending, pos, (size_t)(data + len - pos)) != 0) {
      close_now(c);
      return;
    }
    if (!(c->flags & CONN_F_READ_STOPPED)) {
      uv_read_stop((uv_stream_t *)&c->tcp);
      c->flags |= CONN_F_READ_STOPPED;
    }
    flush(c);
    if (!(c->flags & (CONN_F_WRITING | CONN_F_CLOSED))) parse_pending(c);
    return;
  }
  if (err == HPE_PAUSED) {
    /* on_message_complete paused: this answer closes the connection. */
    finish_and_close(c);
    return;
  }
  if (err != HPE_OK) {
    const char *why = c->refuse_why;
    int status = c->refuse ? c->refuse : crater__strict_parse_error(&c->parser, err, data, data + len, &why);
    refuse(c, status, why);
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
  crater__idle_remove(c->srv, c);
  crater__request_begin(&c->req, c->srv);
  c->in_value = 0;
  c->refuse = 0;
  c->refuse_why = NULL;
  crater__strict_begin(&c->strict);
  c->state = CONN_HEAD;
  arm(c, c->srv->cfg.header_timeout_ms);
  return 0;
}

/* A part of the request could not be stored: the parser stops with an
 * error, answered with refuse's status. */
static void refuse_stored(crater__conn *c, crater__req_err e) {
  c->refuse = crater__request_refusal_of(&c->req, e, &c->refuse_why);
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
  crater__conn *c = p->data;
  crater__req_err e = crater__request_url(&c->req, at, len);
  if (e == CRATER__REQ_OK) return 0;
  refuse_stored(c, e);
  return -1;
}

/* A piece of a trailer field (after a chunked body): not stored. */
static int on_trailer(crater__conn *c, const char *name, size_t len) {
  c->refuse = crater__strict_trailer(&c->strict, &c->req, name, len, &c->refuse_why);
  return c->refuse ? -1 : 0;
}

static int store_name(crater__conn *c, const char *at, size_t len, int next) {
  crater__req_err e = crater__request_field_name(&c->req, at, len, next);
  if (e == CRATER__REQ_OK) return 0;
  refuse_stored(c, e);
  return -1;
}

/* A name piece strict.c wants a look at (the whitespace after its colon is
 * not one SP), or a trailer field's. */
__attribute__((noinline)) static int odd_name(crater__conn *c, const char *at, size_t len, int next) {
  crater__strict_name_gap(&c->strict, at, len);
  if (c->state == CONN_BODY) return on_trailer(c, at, len);
  return store_name(c, at, len, next);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  crater__conn *c = p->data;
  int next = c->in_value;
  c->in_value = 0;
  if (!crater__strict_name(&c->strict, at, len) | (c->state == CONN_BODY)) return odd_name(c, at, len, next);
  return store_name(c, at, len, next);
}

static int store_value(crater__conn *c, const char *at, size_t len) {
  crater__req_err e = crater__request_field_value(&c->req, at, len);
  if (e == CRATER__REQ_OK) return 0;
  refuse_stored(c, e);
  return -1;
}

/* A value piece strict.c wants a look at (an obs-fold, an HTAB before it),
 * or a trailer field's. */
__attribute__((noinline)) static int odd_value(crater__conn *c, const char *at, size_t len, int odd) {
  if (odd & CRATER__STRICT_FOLD) {
    c->refuse = 400;
    c->refuse_why = CRATER__STRICT_OBS_FOLD;
    return -1;
  }
  if (odd & CRATER__STRICT_TAB) crater__strict_tab(&c->strict, &c->req);
  return (odd & CRATER__STRICT_TRAILER) ? on_trailer(c, NULL, len) : store_value(c, at, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  crater__conn *c = p->data;
  int odd = crater__strict_value(&c->strict, at, len, c->in_value);
  c->in_value = 1;
  if (odd) return odd_value(c, at, len, odd);
  return store_value(c, at, len);
}

static int on_headers_complete(llhttp_t *p) {
  crater__conn *c = p->data;
  crater_server *srv = c->srv;
  crater__request *r = &c->req;
  r->method = llhttp_method_name((llhttp_method_t)p->method);
  r->head_only = p->method == HTTP_HEAD;
  /* Version (505), names, framing, Host, the target (400, 501): strict.c. */
  c->refuse = crater__strict_head(&c->strict, p, r, &c->refuse_why);
  if (c->refuse != 0) return -1;
  /* A multipart/form-data body is parsed as it arrives (upload.c); a request
   * without a body has nothing to look up. */
  crater__req_err e = CRATER__REQ_OK;
  if ((p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0))
    e = crater__request_body_begin(r);
  if (e != CRATER__REQ_OK) {
    refuse_stored(c, e);
    return -1;
  }
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > crater__request_body_limit(r)) {
    c->refuse = 413;
    c->refuse_why = r->upload != NULL ? "multipart body larger than the limit (--max-upload)"
                                      : "request body larger than the limit (--max-body)";
    return -1;
  }
  c->state = CONN_BODY;
  /* The body has a deadline of its own, from now: the head's ends here. */
  arm(c, srv->cfg.body_timeout_ms);
  /* Expect: 100-continue (found by strict.c): the client waits for this
   * before sending the body. */
  if (r->expect_continue && p->http_minor >= 1) {
    crater__http_continue(&c->out);
    flush(c);
  }
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  crater__conn *c = p->data;
  crater__req_err e = crater__request_body(&c->req, at, len);
  if (e == CRATER__REQ_OK) return 0;
  refuse_stored(c, e);
  return -1;
}

static int on_message_complete(llhttp_t *p) {
  crater__conn *c = p->data;
  crater__request *r = &c->req;
  crater__strict_message_complete(&c->strict, p); /* trailer fields change nothing */
  crater__req_err e = crater__request_body_end(r);
  if (e != CRATER__REQ_OK) {
    refuse_stored(c, e);
    return -1;
  }
  c->flags &= ~CONN_F_KEEPALIVE;
  if (llhttp_should_keep_alive(p) && !(c->flags & CONN_F_CLOSE_AFTER) && !c->srv->closing)
    c->flags |= CONN_F_KEEPALIVE;
  c->flags |= CONN_F_INFLIGHT;
  crater__pipeline_start(r, &conn_sink, c);
  if (c->state != CONN_LINGER) c->state = CONN_IDLE;
  if (c->flags & CONN_F_INFLIGHT) {
    /* It waits (or streams to a slow client): no timeout meanwhile; parsing
     * pauses and sink_done carries on. */
    uv_timer_stop(&c->timer);
    return HPE_PAUSED;
  }
  if (c->flags & CONN_F_FINISH) return HPE_PAUSED;
  if (!(c->flags & CONN_F_KEEPALIVE)) return HPE_PAUSED;
  arm(c, c->srv->cfg.idle_timeout_ms);
  if (c->out.len + c->wbuf.len > OUT_HIGH_WATER) {
    c->flags |= CONN_F_OUT_FULL; /* process_input keeps the rest for later */
    return HPE_PAUSED;
  }
  crater__idle_push(c->srv, c);
  return 0;
}

/* ===================================================================== */
/*  Answering: the sink                                                    */
/* ===================================================================== */

/* A request the core answers itself before the pipeline could take it. */
static void refuse(crater__conn *c, int status, const char *why) {
  c->flags &= ~CONN_F_KEEPALIVE;
  c->flags |= CONN_F_CLOSE_AFTER;
  crater__pipeline_refuse(&c->req, &conn_sink, c, status, why);
}

static void sink_respond(void *ctx, crater__request *r, const crater__response *res) {
  crater__conn *c = ctx;
  crater_server *srv = c->srv;
  if (c->ws != NULL) return; /* 101 went out at the upgrade */
  /* The connection ends after this answer: the answer says so. Also when
   * crater_close() came after the request was parsed (CLOSE_AFTER). */
  if ((res->flags & CRATER__RES_CLOSE) || (c->flags & CONN_F_CLOSE_AFTER))
    c->flags &= ~CONN_F_KEEPALIVE;
  crater__http_framing f = {c->parser.http_minor, r->head_only, (c->flags & CONN_F_KEEPALIVE) != 0, 0};
  const char *date = crater__http_date_at(&srv->date, uv_now(srv->loop));
  c->flags &= ~(CONN_F_CHUNKED | CONN_F_NO_BODY);
  if (crater__http_response(&c->out, res, date, &f) != 0) {
    crater__log(srv, CRATER_LOG_ERROR, "out of memory writing a response to %s", r->peer);
    /* The client sees the close instead of an answer. */
    c->flags &= ~CONN_F_KEEPALIVE;
    c->flags |= CONN_F_NO_BODY;
    return;
  }
  if (!f.keep_alive) c->flags &= ~CONN_F_KEEPALIVE;
  if (f.chunked) c->flags |= CONN_F_CHUNKED;
  if ((res->flags & CRATER__RES_STREAM) && (r->head_only || crater__http_bodyless(res->status)))
    c->flags |= CONN_F_NO_BODY;
}

/* Chunks gather in out until there is enough to write, a write is under
 * way (the stream then waits for it: the client's pace sets the
 * handler's), or the handler waits (sink_flush). */
static int sink_chunk(void *ctx, crater__request *r, const char *data, size_t len) {
  crater__conn *c = ctx;
  (void)r;
  if (c->flags & (CONN_F_NO_BODY | CONN_F_CLOSED) || c->ws != NULL) return 0;
  if (crater__http_chunk(&c->out, data, len, (c->flags & CONN_F_CHUNKED) != 0) != 0) {
    crater__log(c->srv, CRATER_LOG_ERROR, "out of memory streaming a response to %s", r->peer);
    close_now(c);
    return 0;
  }
  if (c->out.len < STREAM_HIGH_WATER && !(c->flags & CONN_F_WRITING)) return 0;
  flush(c);
  if (c->flags & CONN_F_CLOSED) return 0;
  c->flags |= CONN_F_DRAIN_WAIT;
  return 1;
}

static void sink_flush(void *ctx, crater__request *r) {
  (void)r;
  flush(ctx);
}

#define SENDFILE_MAX (1u << 30) /* per call: sendfile(2) takes at most ~2 GiB */

/* The file's next piece (up to STREAM_HIGH_WATER bytes) read into out,
 * for an ordinary write; -1 when it cannot be read or has shrunk. */
static int read_piece(crater__conn *c, int fd, int64_t *off, uint64_t *left) {
  size_t want = *left < STREAM_HIGH_WATER ? (size_t)*left : STREAM_HIGH_WATER;
  ssize_t n;
  if (crater__buf_reserve(&c->out, want) != 0) return -1;
  do {
    n = pread(fd, c->out.data, want, (off_t)*off);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return -1;
  c->out.len = (size_t)n;
  *off += n;
  *left -= (uint64_t)n;
  return 0;
}

/* A file answer's body straight from the page cache to the socket. The
 * head (and any answers queued before it) must be out first, and the
 * socket must not be written behind libuv's back while a uv_write is under
 * way. When the socket is full, libuv cannot tell us when it has room
 * again (its stream has no "writable" callback we could wait on without a
 * write): so the next piece is read into out and written with uv_write,
 * whose completion says the client took it; the file then goes on here. */
static int sink_file(void *ctx, crater__request *r, int fd, int64_t *off, uint64_t *left) {
  crater__conn *c = ctx;
  (void)r;
  if (c->flags & CONN_F_CLOSED) return -1;
  if (!(c->flags & CONN_F_WRITING) && c->out.len > 0 && c->fd >= 0) {
    /* The head: mostly it fits at once. MSG_MORE: held back to share its
     * packet with the file's first bytes (TCP_NODELAY would send it alone). */
    ssize_t n;
    do {
      n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_MORE);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
      close_now(c);
      return -1;
    }
    if (n > 0) {
      memmove(c->out.data, c->out.data + n, c->out.len - (size_t)n);
      c->out.len -= (size_t)n;
    }
  }
  while (*left > 0) {
    if ((c->flags & CONN_F_WRITING) || c->out.len > 0 || c->fd < 0) {
      /* no socket to sendfile to: a piece through out */
      if (c->out.len == 0 && read_piece(c, fd, off, left) != 0) return -1;
      flush(c);
      if (c->flags & CONN_F_CLOSED) return -1;
      c->flags |= CONN_F_DRAIN_WAIT;
      return 1;
    }
    off_t o = (off_t)*off;
    ssize_t n = sendfile(c->fd, fd, &o, *left < SENDFILE_MAX ? (size_t)*left : SENDFILE_MAX);
    if (n > 0) {
      *off = (int64_t)o;
      *left -= (uint64_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      /* Full: the next piece through uv_write (see above). */
      if (read_piece(c, fd, off, left) != 0) return -1;
      continue; /* out is not empty: written and waited for above */
    }
    if (n == 0) return -1; /* the file shrank since its size went out */
    close_now(c); /* EPIPE, ECONNRESET: the client is gone */
    return -1;
  }
  return 0; /* what is left in out goes as any answer does (after sink_done) */
}

static void sink_done(void *ctx, crater__request *r, int ok) {
  crater__conn *c = ctx;
  (void)r;
  unsigned was = c->flags;
  c->flags &= ~(CONN_F_INFLIGHT | CONN_F_DRAIN_WAIT | CONN_F_CHUNKED | CONN_F_NO_BODY);
  if (was & CONN_F_CLOSED) {
    if (was & CONN_F_GONE) { /* the stream whose client left has ended */
      c->flags &= ~CONN_F_GONE;
      closed_one(c);
    }
    return;
  }
  if (c->ws != NULL) { /* the WebSocket's handler returned: the connection ends */
    crater__ws_free(c->ws);
    c->ws = NULL;
    c->flags &= ~CONN_F_KEEPALIVE;
    finish_and_close(c);
    return;
  }
  if (!ok) {
    /* The head is gone already; closing without the last chunk is how the
     * client learns the body is incomplete. */
    c->flags &= ~CONN_F_KEEPALIVE;
    finish_and_close(c);
    return;
  }
  if ((was & CONN_F_CHUNKED) && !(was & CONN_F_NO_BODY) && crater__http_last_chunk(&c->out) != 0) {
    close_now(c);
    return;
  }
  if (c->in_parser) return; /* answered within on_message_complete: it carries on */
  if (!(c->flags & CONN_F_KEEPALIVE)) {
    finish_and_close(c);
    return;
  }
  /* Back to serving this connection: parse what arrived meanwhile. */
  arm(c, c->srv->cfg.idle_timeout_ms);
  parse_pending(c);
}

/* Parsing was paused (a request in flight, or answers waiting to be
 * written) and may go on: the input kept meanwhile first, then reading. */
static void parse_pending(crater__conn *c) {
  c->flags &= ~CONN_F_OUT_FULL;
  llhttp_resume(&c->parser);
  crater__buf rest = c->pending;
  memset(&c->pending, 0, sizeof(c->pending));
  if (rest.len > 0) process_input(c, rest.data, rest.len);
  crater__buf_free(&rest);
  if (c->flags & (CONN_F_CLOSED | CONN_F_OUT_FULL | CONN_F_INFLIGHT)) return;
  flush(c);
  if (c->flags & CONN_F_EOF) {
    if (!eof_busy(c)) close_now(c);
    return;
  }
  if (c->state == CONN_IDLE) crater__idle_push(c->srv, c);
  read_resume(c);
}

/* ===================================================================== */
/*  Writing                                                                */
/* ===================================================================== */

/* Flags under which a finished write has follow-up work (write_cb's). */
#define CONN_F_AFTER_WRITE                                                                    \
  (CONN_F_CLOSE_AFTER | CONN_F_READ_STOPPED | CONN_F_FINISH | CONN_F_INFLIGHT | CONN_F_DRAIN_WAIT | \
   CONN_F_OUT_FULL)

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
  /* A WebSocket's upgrade request stays in flight and may stop reading for
   * its whole life, yet write_cb has follow-up work for it only when a send
   * waits or the connection ends: without this each message paid a write
   * request, an epoll_ctl and the send watch's ioctl. */
  unsigned after = c->ws != NULL ? (c->flags & (CONN_F_DRAIN_WAIT | CONN_F_FINISH | CONN_F_CLOSE_AFTER))
                                 : (c->flags & CONN_F_AFTER_WRITE);
  if (!after) {
    /* Most responses fit in the socket buffer. Writing them directly skips
     * libuv's write request, whose completion re-queues the fd's epoll
     * registration: one epoll_ctl per response otherwise. */
    int n = try_send(c);
    if (n == (int)c->out.len) {
      c->out.len = 0;
      return;
    }
    if (n < 0 && n != UV_EAGAIN) {
      close_now(c);
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
    close_now(c);
    return;
  }
  c->flags |= CONN_F_WRITING;
  send_watch(c);
}

/* A client that reads nothing keeps its answer in memory and its connection
 * open; the idle timeout cannot end it while a write is under way. So while
 * one is, a timer looks at what is unsent four times per --send-timeout:
 * progress is any byte the client took, and after a whole timeout without
 * any the connection is closed. Only writes that did not fit the
 * socket at once get here: most answers never start the timer. */
static void send_watch(crater__conn *c) {
  crater_server *srv = c->srv;
  c->sent_at = uv_now(srv->loop);
  c->unsent = unsent_bytes(c);
  if (c->wtimer == NULL) {
    /* Made by the first write that did not fit: most connections never
     * need it, and it would be 152 bytes of each idle one. */
    uv_timer_t *t = crater__malloc(sizeof(*t));
    if (t == NULL) return; /* no watch: the idle timeout is left */
    if (uv_timer_init(srv->loop, t) != 0) {
      crater__free(t);
      return;
    }
    t->data = c;
    c->wtimer = t;
  }
  if (uv_is_active((uv_handle_t *)c->wtimer)) return;
  uint64_t tick = srv->cfg.send_timeout_ms / 4;
  if (tick == 0) tick = 1;
  uv_timer_start(c->wtimer, send_timer_cb, tick, tick);
}

static void send_timer_cb(uv_timer_t *t) {
  crater__conn *c = t->data;
  if (!(c->flags & CONN_F_WRITING)) {
    uv_timer_stop(t);
    return;
  }
  uint64_t now = uv_now(c->srv->loop);
  size_t unsent = unsent_bytes(c);
  if (unsent < c->unsent) {
    c->unsent = unsent;
    c->sent_at = now;
    return;
  }
  if (now - c->sent_at < c->srv->cfg.send_timeout_ms) return;
  crater__log(c->srv, CRATER_LOG_INFO,
              "closing the connection of %s: it read nothing of its answer for %llu ms "
              "(--send-timeout); %zu bytes unsent",
              c->req.peer, (unsigned long long)(now - c->sent_at), unsent + c->out.len);
  close_now(c);
}

/* Bytes written but not yet taken by the client: libuv's queue, and the
 * kernel's send queue where the system says (TIOCOUTQ). A client that
 * reads slowly drains the kernel's buffer, which can hold megabytes, long
 * before libuv may write again: that is progress too. */
static size_t unsent_bytes(crater__conn *c) {
  size_t n = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
#ifdef TIOCOUTQ
  int queued = 0;
  if (c->fd >= 0 && ioctl(c->fd, TIOCOUTQ, &queued) == 0 && queued > 0) n += (size_t)queued;
#endif
  return n;
}

static void write_cb(uv_write_t *req, int status) {
  crater__conn *c = req->data;
  c->flags &= ~CONN_F_WRITING;
  c->wbuf.len = 0;
  if (status != 0 || (c->flags & CONN_F_CLOSED)) {
    close_now(c);
    return;
  }
  if (c->ws != NULL) {
    if (c->out.len > 0) {
      flush(c);
      return;
    }
    ws_buffers_fit(c); /* a slow client caught up: its buffers go */
    if (c->flags & CONN_F_DRAIN_WAIT) {
      c->flags &= ~CONN_F_DRAIN_WAIT;
      crater__ws_drained(c->ws);
    }
    return;
  }
  if (c->flags & CONN_F_DRAIN_WAIT) {
    c->flags &= ~CONN_F_DRAIN_WAIT;
    crater__pipeline_drained(&c->req); /* the stream goes on; it flushes as it needs */
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
  if ((c->flags & CONN_F_CLOSE_AFTER) && c->state == CONN_IDLE && !(c->flags & CONN_F_INFLIGHT)) {
    close_now(c);
    return;
  }
  if (c->flags & CONN_F_EOF) {
    if (!eof_busy(c)) close_now(c);
    return;
  }
  if (c->flags & CONN_F_OUT_FULL) {
    parse_pending(c); /* everything is written: the pipelined requests go on */
    return;
  }
  read_resume(c);
}

/* ===================================================================== */
/*  A WebSocket's transport (ws.h)                                         */
/* ===================================================================== */

static int sink_upgrade(void *ctx, crater__request *r, crater__ws *ws, const crater__ws_io **io,
                        void **io_ctx) {
  crater__conn *c = ctx;
  if (c->flags & (CONN_F_CLOSED | CONN_F_FINISH)) return -1;
  c->ws = ws;
  c->flags &= ~CONN_F_KEEPALIVE;
  uv_timer_stop(&c->timer); /* no HTTP timeout: the handler's receive has its own */
  /* The socket may stay open for hours: keep no buffer it does not use.
   * The request stays readable (its handler may hold req), cut to size. */
  crater__request_fit(r);
  ws_buffers_fit(c);
  *io = &conn_ws_io;
  *io_ctx = c;
  return 0;
}

/* A frame (head a, payload b) goes out with one send from where it is
 * when nothing is queued, as flush's direct send does for answers: no
 * copy, and an idle socket keeps no output buffer. What the socket does
 * not take, and frames behind a write under way, gather in out; past
 * STREAM_HIGH_WATER the sender waits for write_cb (crater__ws_drained),
 * as a stream does. */
static int ws_write(void *ctx, const char *a, size_t alen, const char *b, size_t blen) {
  crater__conn *c = ctx;
  if (c->flags & CONN_F_CLOSED) return -1;
  size_t sent = 0;
  if (c->out.len == 0 &&
      !(c->flags & (CONN_F_CORK | CONN_F_WRITING | CONN_F_DRAIN_WAIT | CONN_F_FINISH | CONN_F_CLOSE_AFTER))) {
    ssize_t n = ws_send(c, a, alen, b, blen);
    if (n == (ssize_t)(alen + blen)) return 0;
    if (n < 0) return -1; /* closed */
    sent = (size_t)n;
  }
  int nomem;
  if (sent < alen) {
    nomem = crater__buf_append(&c->out, a + sent, alen - sent) != 0 ||
            crater__buf_append(&c->out, b, blen) != 0;
  } else {
    nomem = crater__buf_append(&c->out, b + (sent - alen), blen - (sent - alen)) != 0;
  }
  if (nomem) {
    close_now(c);
    return -1;
  }
  if (!(c->flags & CONN_F_CORK) || c->out.len >= STREAM_HIGH_WATER) flush(c);
  if (c->flags & CONN_F_CLOSED) return -1;
  if (!(c->flags & CONN_F_WRITING) || c->out.len + c->wbuf.len < STREAM_HIGH_WATER) return 0;
  c->flags |= CONN_F_DRAIN_WAIT;
  return 1;
}

/* A WebSocket's output buffers, when they hold nothing, are freed: most
 * frames never use them (ws_write). */
static void ws_buffers_fit(crater__conn *c) {
  if (c->out.len == 0) crater__buf_free(&c->out);
  if (c->wbuf.len == 0 && !(c->flags & CONN_F_WRITING)) crater__buf_free(&c->wbuf);
}

/* sendmsg of the two pieces: the bytes sent (0 when the socket is full, or
 * when there is no fd to send on), or -1 once the connection is closed. */
static ssize_t ws_send(crater__conn *c, const char *a, size_t alen, const char *b, size_t blen) {
#ifdef MSG_NOSIGNAL
  if (c->fd < 0) return 0;
  struct iovec iov[2] = {{(void *)a, alen}, {(void *)b, blen}};
  struct msghdr m;
  memset(&m, 0, sizeof(m));
  m.msg_iov = iov;
  m.msg_iovlen = blen > 0 ? 2 : 1;
  for (;;) {
    ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return 0;
    close_now(c); /* EPIPE, ECONNRESET: the client is gone */
    return -1;
  }
#else
  (void)c, (void)a, (void)alen, (void)b, (void)blen;
  return 0; /* through out and libuv */
#endif
}

static void ws_read(void *ctx, int on) {
  crater__conn *c = ctx;
  if (c->flags & CONN_F_CLOSED) return;
  if (!on) {
    if (!(c->flags & CONN_F_READ_STOPPED)) {
      uv_read_stop((uv_stream_t *)&c->tcp);
      c->flags |= CONN_F_READ_STOPPED;
    }
    return;
  }
  if (c->pending.len > 0) { /* what came behind the upgrade request */
    crater__buf rest = c->pending;
    memset(&c->pending, 0, sizeof(c->pending));
    crater__ws_input(c->ws, rest.data, rest.len);
    crater__buf_free(&rest);
    if (c->ws == NULL || (c->flags & CONN_F_CLOSED)) return;
  }
  if (c->flags & CONN_F_EOF) {
    crater__ws_eof(c->ws);
    return;
  }
  if (c->flags & CONN_F_READ_STOPPED) {
    c->flags &= ~CONN_F_READ_STOPPED;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
  }
}
