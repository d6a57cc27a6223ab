/* ws.c - one WebSocket after its upgrade (see ws.h).
 *
 * Input gathers in `in` until a whole frame is there; frames are read one
 * at a time into `msg` until a message is complete, then reading pauses
 * until the handler receives it (control frames behind it wait too). So
 * at most one message and one frame of input are held per socket: the
 * limit is max_message (per frame and per message). */
#include "ws.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "alloc.h"
#include "buf.h"
#include "http.h"
#include "pipeline.h"
#include "request.h"
#include "server.h"
#include "task.h"
#include "ws_deflate.h"
#include "ws_frame.h"

#define WS_MT "crater.websocket"
#define IN_HIGH_WATER (64 * 1024) /* input kept behind an unreceived message */
#define REASON_MAX 123            /* a close frame's reason: 125 minus the code */
#define PROTOCOL_MAX 64           /* a subprotocol name, its NUL included */

typedef struct recv_timer recv_timer;

/* Laid out for an idle socket's sake (docs/performance.md#websockets): the
 * pointers and buffers first, then the small fields and one bit set; what
 * few sockets need (a close reason, a subprotocol) is allocated apart. */
struct crater__ws {
  crater_server *srv;
  crater__request *r;        /* the request that upgraded; its task runs the handler */
  const crater__ws_io *io;
  void *io_ctx;
  crater__buf in;            /* input not yet read as frames: empty (no memory) between frames */
  crater__buf msg;           /* the message being put together, or the ready one */
  uint64_t max_message;
  crater__uthread *reader;   /* a receive waiting */
  recv_timer *timer;         /* its timeout */
  crater__uthread *writer;   /* a send waiting for a slow client */
  struct ping_timer *pinger; /* ping_interval's timer, or NULL */
  crater__ws_pmd *pmd;       /* permessage-deflate, or NULL when not negotiated */
  char *reason;              /* the close's reason (NUL ended), or NULL: none */
  char *protocol;            /* the subprotocol chosen (NUL ended), or NULL */
  crater__ws_utf8 utf8;      /* a text message's check so far */
  uint16_t code;             /* closed: the close code */
  unsigned char msg_op;      /* the message's opcode (text, binary), 0 between messages */
  unsigned ready : 1;        /* msg is whole and waits for receive */
  unsigned paused : 1;       /* io->read(0) was asked */
  unsigned closed : 1;       /* no more messages: code and reason say why */
  unsigned close_sent : 1;   /* our close frame went out: nothing more is sent */
  unsigned gone : 1;         /* the transport is gone */
  unsigned heard : 1;        /* input came since the last ping */
  unsigned msg_z : 1;        /* the message being read is compressed (RSV1) */
};

/* ping_interval: a ping each interval; a client that sent nothing at all
 * (no pong either) for a whole interval after one is taken for gone. */
struct ping_timer {
  uv_timer_t handle;         /* handle.data points here */
  crater__ws *ws;            /* NULL once the WebSocket is freed */
};

struct recv_timer {
  uv_timer_t handle;         /* handle.data points here */
  crater__ws *ws;            /* NULL once the wait ended otherwise */
};

typedef struct {
  crater__ws *ws;
  crater__request *r;
  uint64_t seq;
} ws_ud;

/* ===================================================================== */
/*  Frames out                                                             */
/* ===================================================================== */

static int send_frame(crater__ws *ws, int op, const char *data, size_t len) {
  if (ws->gone) return -1;
  unsigned char head[CRATER__WS_HEAD_MAX];
  size_t hl = crater__ws_head_write(head, 1, op, len);
  int rc = ws->io->write(ws->io_ctx, (const char *)head, hl, data, len);
  if (rc < 0) ws->gone = 1;
  return rc;
}

static void fail(crater__ws *ws, unsigned code, const char *why);
static void pause_if_full(crater__ws *ws);

/* A data message: compressed when permessage-deflate was agreed, except
 * an empty one (compression is per message, 7692 6: nothing to gain). */
static int send_message(crater__ws *ws, int op, const char *data, size_t len) {
  if (ws->pmd == NULL || len == 0) return send_frame(ws, op, data, len);
  if (ws->gone) return -1;
  crater__buf z = {0};
  unsigned char head[CRATER__WS_HEAD_MAX];
  if (crater__buf_reserve(&z, CRATER__WS_HEAD_MAX) != 0) return -1;
  z.len = CRATER__WS_HEAD_MAX; /* the head goes in front, once the length is known */
  if (crater__ws_pmd_deflate(ws->pmd, data, len, &z) != 0) {
    crater__buf_free(&z);
    fail(ws, 1011, "out of memory"); /* the compression context is lost with it */
    return -1;
  }
  size_t hl = crater__ws_head_write(head, 1, op, z.len - CRATER__WS_HEAD_MAX);
  head[0] |= 0x40; /* RSV1: compressed */
  char *at = z.data + CRATER__WS_HEAD_MAX - hl;
  memcpy(at, head, hl);
  int rc = ws->io->write(ws->io_ctx, at, z.len - (CRATER__WS_HEAD_MAX - hl), NULL, 0);
  crater__buf_free(&z);
  if (rc < 0) ws->gone = 1;
  return rc;
}

static void send_close(crater__ws *ws, unsigned code, const char *reason, size_t rlen) {
  if (ws->close_sent) return;
  ws->close_sent = 1;
  char p[2 + REASON_MAX];
  size_t n = 0;
  if (code != 1005) { /* 1005: the peer's close had no code, nor has ours */
    if (rlen > REASON_MAX) rlen = REASON_MAX;
    p[0] = (char)(code >> 8);
    p[1] = (char)(code & 0xff);
    memcpy(p + 2, reason, rlen);
    n = 2 + rlen;
  }
  send_frame(ws, CRATER__WS_CLOSE, p, n);
}

static void set_closed(crater__ws *ws, unsigned code, const char *reason, size_t rlen) {
  if (ws->closed) return;
  ws->closed = 1;
  ws->code = (uint16_t)code;
  if (rlen > REASON_MAX) rlen = REASON_MAX;
  if (rlen == 0) return;
  ws->reason = crater__malloc(rlen + 1); /* NULL: receive says "" (no memory for the words) */
  if (ws->reason == NULL) return;
  memcpy(ws->reason, reason, rlen);
  ws->reason[rlen] = '\0';
}

/* The client broke the protocol (or a limit): the close frame says how, and
 * nothing more is read (RFC 6455 7.1.7: fail the connection). */
static void fail(crater__ws *ws, unsigned code, const char *why) {
  set_closed(ws, code, why, strlen(why));
  send_close(ws, code, why, strlen(why));
  if (!ws->paused && !ws->gone) {
    ws->paused = 1;
    ws->io->read(ws->io_ctx, 0);
  }
}

/* ===================================================================== */
/*  Frames in                                                              */
/* ===================================================================== */

/* A close frame from the client: its code and reason are checked, and
 * answered with the same code (7.1.5: the endpoint echoes it). */
static void close_frame(crater__ws *ws, const unsigned char *p, size_t n) {
  if (n == 1) {
    fail(ws, 1002, "a close frame with a one-byte payload");
    return;
  }
  unsigned code = n >= 2 ? ((unsigned)p[0] << 8) | p[1] : 1005;
  if (n >= 2 && !crater__ws_close_code_ok(code)) {
    fail(ws, 1002, "a close code that may not be sent");
    return;
  }
  crater__ws_utf8 u = {0, 0, 0};
  if (n > 2 && (crater__ws_utf8_feed(&u, p + 2, n - 2) != 0 || !crater__ws_utf8_complete(&u))) {
    fail(ws, 1007, "a close reason that is not UTF-8");
    return;
  }
  set_closed(ws, code, n > 2 ? (const char *)p + 2 : "", n > 2 ? n - 2 : 0);
  send_close(ws, code, "", 0);
  if (!ws->paused && !ws->gone) {
    ws->paused = 1;
    ws->io->read(ws->io_ctx, 0);
  }
}

/* After a frame of a message: at its last frame a text message must end
 * on a whole character (1007), and the message is ready for receive. */
static int message_end(crater__ws *ws, const crater__ws_head *h) {
  if (!h->fin) return 0;
  if (ws->msg_op == CRATER__WS_TEXT && !crater__ws_utf8_complete(&ws->utf8)) {
    fail(ws, 1007, "text that is not UTF-8");
    return -1;
  }
  ws->ready = 1;
  return 0;
}

/* A frame of a compressed message: the limit and the UTF-8 check apply to
 * what it inflates to. */
static int inflated(crater__ws *ws, const crater__ws_head *h, const unsigned char *p, size_t n) {
  size_t from = ws->msg.len;
  int rc = crater__ws_pmd_inflate(ws->pmd, p, n, h->fin, &ws->msg, ws->max_message);
  if (rc == -1009) {
    fail(ws, 1009, "message larger than the limit (max_message) once inflated");
    return -1;
  }
  if (rc == -1007) { /* RFC 6455 7.4.1: data inconsistent with the message */
    fail(ws, 1007, "compressed data that does not inflate (permessage-deflate)");
    return -1;
  }
  if (rc != 0) {
    fail(ws, 1011, "out of memory");
    return -1;
  }
  if (ws->msg_op == CRATER__WS_TEXT &&
      crater__ws_utf8_feed(&ws->utf8, (const unsigned char *)ws->msg.data + from, ws->msg.len - from) != 0) {
    fail(ws, 1007, "text that is not UTF-8");
    return -1;
  }
  return message_end(ws, h);
}

/* One whole frame: 0 to go on, -1 when reading must stop. */
static int frame(crater__ws *ws, const crater__ws_head *h, unsigned char *p) {
  size_t n = (size_t)h->len;
  switch (h->opcode) {
    case CRATER__WS_PING:
      send_frame(ws, CRATER__WS_PONG, (const char *)p, n);
      return 0;
    case CRATER__WS_PONG:
      return 0;
    case CRATER__WS_CLOSE:
      close_frame(ws, p, n);
      return -1;
    case CRATER__WS_CONT:
      if (ws->msg_op == 0) {
        fail(ws, 1002, "a continuation frame without a message to continue");
        return -1;
      }
      if (h->rsv1) { /* RFC 7692 6.1: only a message's first frame has it */
        fail(ws, 1002, "RSV1 on a continuation frame");
        return -1;
      }
      break;
    default:
      if (ws->msg_op != 0) {
        fail(ws, 1002, "a new message before the fragmented one ended");
        return -1;
      }
      if (h->rsv1 && ws->pmd == NULL) {
        fail(ws, 1002, "RSV1 set but permessage-deflate was not negotiated");
        return -1;
      }
      ws->msg_z = h->rsv1;
      ws->msg_op = h->opcode;
      ws->msg.len = 0;
      memset(&ws->utf8, 0, sizeof(ws->utf8));
      break;
  }
  if (ws->msg_z) return inflated(ws, h, p, n);
  if (ws->msg.len + n > ws->max_message) {
    fail(ws, 1009, "message larger than the limit (max_message)");
    return -1;
  }
  if (ws->msg_op == CRATER__WS_TEXT && crater__ws_utf8_feed(&ws->utf8, p, n) != 0) {
    fail(ws, 1007, "text that is not UTF-8");
    return -1;
  }
  if (n > 0 && crater__buf_append(&ws->msg, p, n) != 0) {
    fail(ws, 1011, "out of memory");
    return -1;
  }
  return message_end(ws, h);
}

/* Reads the whole frames at p (n bytes, unmasked in place) until a message
 * is ready or reading must stop; returns the bytes consumed. */
static size_t parse_bytes(crater__ws *ws, unsigned char *p, size_t n) {
  size_t at = 0;
  while (!ws->ready && !ws->closed) {
    size_t avail = n - at;
    crater__ws_head h;
    int hl = crater__ws_head_read(p + at, avail, ws->max_message, &h);
    if (hl == 0) break;
    if (hl < 0) {
      fail(ws, (unsigned)-hl, hl == -1009 ? "frame larger than the limit (max_message)"
                                          : "a frame that breaks RFC 6455");
      break;
    }
    if (avail - (size_t)hl < h.len) break;
    unsigned char *payload = p + at + hl;
    crater__ws_unmask(payload, (size_t)h.len, h.mask, 0);
    at += (size_t)hl + (size_t)h.len;
    if (frame(ws, &h, payload) != 0) break;
  }
  return at;
}

/* The frames kept in `in`. Once it is empty its memory goes: an idle
 * socket holds no input buffer. */
static void parse(crater__ws *ws) {
  size_t at = parse_bytes(ws, (unsigned char *)ws->in.data, ws->in.len);
  if (at > 0) {
    memmove(ws->in.data, ws->in.data + at, ws->in.len - at);
    ws->in.len -= at;
  }
  if (ws->in.len == 0) crater__buf_free(&ws->in);
  pause_if_full(ws);
}

/* A message waits for receive: what follows may wait, up to a bound. */
static void pause_if_full(crater__ws *ws) {
  if (ws->ready && ws->in.len > IN_HIGH_WATER && !ws->paused && !ws->gone) {
    ws->paused = 1;
    ws->io->read(ws->io_ctx, 0);
  }
}

/* ===================================================================== */
/*  Receiving                                                              */
/* ===================================================================== */

static void timer_closed(uv_handle_t *h) { crater__free(h->data); }

static void stop_timer(crater__ws *ws) {
  recv_timer *t = ws->timer;
  if (t == NULL) return;
  ws->timer = NULL;
  t->ws = NULL;
  uv_timer_stop(&t->handle);
  uv_close((uv_handle_t *)&t->handle, timer_closed);
}

/* Pushes what receive returns: the ready message, or why there is none. */
static int push_received(crater__ws *ws, lua_State *L) {
  if (ws->ready) {
    lua_pushlstring(L, ws->msg.data, ws->msg.len);
    lua_pushstring(L, ws->msg_op == CRATER__WS_TEXT ? "text" : "binary");
    ws->ready = 0;
    ws->msg_op = 0;
    crater__buf_free(&ws->msg); /* an idle socket holds no message buffer */
    parse(ws); /* frames that came behind it; no reader waits now */
    if (!ws->ready && ws->paused && !ws->closed && !ws->gone) {
      ws->paused = 0;
      ws->io->read(ws->io_ctx, 1);
    }
    return 2;
  }
  lua_pushnil(L);
  lua_pushliteral(L, "closed");
  lua_pushinteger(L, ws->code);
  lua_pushstring(L, ws->reason != NULL ? ws->reason : "");
  return 4;
}

static void timer_fired(uv_timer_t *h);

/* A waiting receive gets its answer; called last, as the handler runs.
 * From inside Lua (ws:close, or a receive that let input in) a waiting
 * thread cannot be resumed there and then (task.c runs one uthread at a
 * time): its timer, at 0 ms, resumes it from the loop. */
static void deliver(crater__ws *ws) {
  crater__uthread *ut = ws->reader;
  if (ut == NULL || !(ws->ready || ws->closed)) return;
  if (crater__task_current(ws->srv) != NULL) {
    recv_timer *t = ws->timer;
    if (t == NULL) {
      t = crater__malloc(sizeof(*t));
      if (t == NULL) return; /* it hears the close with its next input */
      uv_timer_init(ws->srv->loop, &t->handle);
      t->handle.data = t;
      t->ws = ws;
      ws->timer = t;
    }
    uv_timer_start(&t->handle, timer_fired, 0, 0);
    return;
  }
  ws->reader = NULL;
  stop_timer(ws);
  crater__task_resume(ut, push_received(ws, ut->L));
}

/* The receive's timeout, or a deliver from inside Lua. */
static void timer_fired(uv_timer_t *h) {
  recv_timer *t = h->data;
  crater__ws *ws = t->ws;
  if (ws == NULL) return;
  ws->timer = NULL;
  uv_close((uv_handle_t *)h, timer_closed);
  crater__uthread *ut = ws->reader;
  if (ut == NULL) return;
  ws->reader = NULL;
  if (ws->ready || ws->closed) {
    crater__task_resume(ut, push_received(ws, ut->L));
    return;
  }
  lua_pushnil(ut->L);
  lua_pushliteral(ut->L, "timeout");
  crater__task_resume(ut, 2);
}

static void recv_cancel(void *data) {
  crater__ws *ws = data;
  ws->reader = NULL;
  stop_timer(ws);
}

static void send_cancel(void *data) {
  crater__ws *ws = data;
  ws->writer = NULL;
}

/* ===================================================================== */
/*  From the transport                                                     */
/* ===================================================================== */

void crater__ws_input(crater__ws *ws, char *data, size_t len) {
  ws->heard = 1;
  if (ws->closed) { /* after a close: read and dropped */
    deliver(ws);
    return;
  }
  if (ws->in.len == 0) {
    /* Whole frames are read where they arrived (most reads hold whole
     * frames): only a frame's unfinished part, or what waits behind a
     * ready message, is copied to `in`. */
    size_t at = parse_bytes(ws, (unsigned char *)data, len);
    data += at;
    len -= at;
  }
  if (len > 0 && !ws->closed) {
    if (crater__buf_append(&ws->in, data, len) != 0) {
      fail(ws, 1011, "out of memory");
    } else {
      parse(ws);
    }
  }
  deliver(ws);
}

void crater__ws_eof(crater__ws *ws) {
  ws->gone = 1;
  set_closed(ws, 1006, "", 0);
  deliver(ws);
}

void crater__ws_drained(crater__ws *ws) {
  crater__uthread *ut = ws->writer;
  if (ut == NULL) return;
  ws->writer = NULL;
  lua_pushboolean(ut->L, 1);
  crater__task_resume(ut, 1);
}

void crater__ws_going_away(crater__ws *ws) {
  static const char why[] = "the server is shutting down";
  set_closed(ws, 1001, why, sizeof(why) - 1);
  send_close(ws, 1001, why, sizeof(why) - 1);
  deliver(ws);
}

static void pinger_closed(uv_handle_t *h) { crater__free(h->data); }

static void stop_pinger(crater__ws *ws) {
  struct ping_timer *p = ws->pinger;
  if (p == NULL) return;
  ws->pinger = NULL;
  p->ws = NULL;
  uv_timer_stop(&p->handle);
  uv_close((uv_handle_t *)&p->handle, pinger_closed);
}

static void ping_tick(uv_timer_t *h) {
  struct ping_timer *p = h->data;
  crater__ws *ws = p->ws;
  if (ws == NULL) return;
  if (ws->closed || ws->gone) {
    stop_pinger(ws);
    return;
  }
  if (!ws->heard) {
    static const char why[] = "no answer to ping";
    stop_pinger(ws);
    set_closed(ws, 1006, why, sizeof(why) - 1);
    send_close(ws, 1001, why, sizeof(why) - 1);
    deliver(ws);
    return;
  }
  ws->heard = 0;
  send_frame(ws, CRATER__WS_PING, "", 0);
}

static void start_pinger(crater__ws *ws, uint64_t ms) {
  struct ping_timer *p = crater__malloc(sizeof(*p));
  if (p == NULL) return; /* no heartbeat: the socket works without one */
  uv_timer_init(ws->srv->loop, &p->handle);
  p->handle.data = p;
  p->ws = ws;
  ws->pinger = p;
  ws->heard = 1;
  uv_timer_start(&p->handle, ping_tick, ms, ms);
}

void crater__ws_free(crater__ws *ws) {
  if (ws == NULL) return;
  stop_timer(ws);
  stop_pinger(ws);
  crater__buf_free(&ws->in);
  crater__buf_free(&ws->msg);
  crater__ws_pmd_free(ws->pmd);
  crater__free(ws->reason);
  crater__free(ws->protocol);
  crater__free(ws);
}

/* ===================================================================== */
/*  The handshake (RFC 6455 4.2)                                           */
/* ===================================================================== */

static int name_is(const crater__request *r, int i, const char *want, const char **v, size_t *vlen) {
  const char *name;
  size_t nlen;
  crater__request_field(r, i, &name, &nlen, v, vlen);
  return nlen == strlen(want) && strncasecmp(name, want, nlen) == 0;
}

/* 1 when a field `name` lists `token` (comma-separated, any case). */
static int has_token(const crater__request *r, const char *name, const char *token) {
  size_t tl = strlen(token);
  for (int i = 0; i < r->nfields; i++) {
    const char *v;
    size_t vl;
    if (!name_is(r, i, name, &v, &vl)) continue;
    size_t a = 0;
    while (a < vl) {
      while (a < vl && (v[a] == ' ' || v[a] == '\t' || v[a] == ',')) a++;
      size_t b = a;
      while (b < vl && v[b] != ',') b++;
      size_t e = b;
      while (e > a && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
      if (e - a == tl && strncasecmp(v + a, token, tl) == 0) return 1;
      a = b;
    }
  }
  return 0;
}

/* The one field `name`: its count in *count. */
static const char *one_field(const crater__request *r, const char *name, size_t *len, int *count) {
  const char *found = NULL;
  *count = 0;
  for (int i = 0; i < r->nfields; i++) {
    const char *v;
    size_t vl;
    if (!name_is(r, i, name, &v, &vl)) continue;
    if (++*count == 1) {
      found = v;
      *len = vl;
    }
  }
  return found;
}

static int refuse(lua_State *L, int status, const char *why) {
  lua_pushnil(L);
  lua_pushinteger(L, status);
  lua_pushstring(L, why);
  return 3;
}

/* ws_handshake(r, seq) -> accept | nil, status, detail: the request's
 * upgrade fields checked, and the Sec-WebSocket-Accept it gets. */
static int ws_handshake(lua_State *L) {
  crater__request *r = lua_touserdata(L, 1);
  uint64_t seq = (uint64_t)luaL_checknumber(L, 2);
  if (!crater__request_valid(r, seq)) return luaL_error(L, "request is no longer active");
  if (!has_token(r, "upgrade", "websocket"))
    return refuse(L, 426, "this resource is a WebSocket: send Upgrade: websocket");
  if (!has_token(r, "connection", "upgrade"))
    return refuse(L, 400, "a WebSocket upgrade needs Connection: Upgrade");
  size_t vl = 0, kl = 0;
  int n;
  const char *v = one_field(r, "sec-websocket-version", &vl, &n);
  if (n != 1 || vl != 2 || memcmp(v, "13", 2) != 0)
    return refuse(L, 426, "unsupported Sec-WebSocket-Version (this server speaks 13)");
  const char *key = one_field(r, "sec-websocket-key", &kl, &n);
  unsigned char raw[24];
  if (n != 1 || kl != 24 || key[22] != '=' || key[23] != '=' || key[21] == '=' ||
      EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18)
    return refuse(L, 400, "Sec-WebSocket-Key must be a base64 16-byte nonce");
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  char both[24 + sizeof(guid)];
  memcpy(both, key, 24);
  memcpy(both + 24, guid, sizeof(guid) - 1);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1((const unsigned char *)both, 24 + sizeof(guid) - 1, digest);
  unsigned char accept[32];
  int al = EVP_EncodeBlock(accept, digest, SHA_DIGEST_LENGTH);
  lua_pushlstring(L, (const char *)accept, (size_t)al);
  return 1;
}

/* permessage-deflate for ws, when the route allows it (level > 0) and the
 * client offers it: the response's extension value goes in ext. */
static void negotiate_deflate(crater__ws *ws, const crater__request *r, const crater__ws_deflate_opts *o,
                              char *ext, size_t cap) {
  ext[0] = '\0';
  if (o->level <= 0) return;
  crater__ws_pmd_params p;
  for (int i = 0; i < r->nfields; i++) {
    const char *v;
    size_t vl;
    if (!name_is(r, i, "sec-websocket-extensions", &v, &vl)) continue;
    if (crater__ws_pmd_negotiate(v, vl, o, &p, ext, cap)) {
      ws->pmd = crater__ws_pmd_new(&p, o);
      if (ws->pmd == NULL) ext[0] = '\0'; /* no memory for it: go without */
      return;
    }
  }
}

/* 1 when the n bytes at s may go in a header line: no CR, LF or NUL (the
 * Lua side checked them; this keeps a bad one from splitting the answer). */
static int header_safe(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 0;
  return 1;
}

/* The 101 (RFC 6455 4.2.2): the upgrade's fields, then the headers the
 * route's hooks set (argument 10, a flat list { name, value, ... } that
 * crater.websocket filtered). 0, or -1 when the connection is gone. */
static int answer_101(crater__ws *ws, lua_State *L, const char *accept, size_t alen, const char *proto,
                      const char *ext) {
  crater__buf b = {0};
  int bad = crater__buf_appendz(&b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                        "Connection: Upgrade\r\nSec-WebSocket-Accept: ") != 0 ||
            crater__buf_append(&b, accept, alen) != 0 || crater__buf_appendz(&b, "\r\n") != 0;
  if (proto != NULL)
    bad = bad || crater__buf_appendz(&b, "Sec-WebSocket-Protocol: ") != 0 ||
          crater__buf_appendz(&b, proto) != 0 || crater__buf_appendz(&b, "\r\n") != 0;
  if (ext[0] != '\0')
    bad = bad || crater__buf_appendz(&b, "Sec-WebSocket-Extensions: ") != 0 ||
          crater__buf_appendz(&b, ext) != 0 || crater__buf_appendz(&b, "\r\n") != 0;
  if (lua_type(L, 10) == LUA_TTABLE) {
    int n = (int)lua_objlen(L, 10);
    for (int i = 1; i + 1 <= n; i += 2) {
      size_t nl = 0, vl = 0;
      lua_rawgeti(L, 10, i);
      lua_rawgeti(L, 10, i + 1);
      const char *name = lua_tolstring(L, -2, &nl);
      const char *value = lua_tolstring(L, -1, &vl);
      if (name != NULL && value != NULL && nl > 0 && header_safe(name, nl) && header_safe(value, vl))
        bad = bad || crater__buf_append(&b, name, nl) != 0 || crater__buf_appendz(&b, ": ") != 0 ||
              crater__buf_append(&b, value, vl) != 0 || crater__buf_appendz(&b, "\r\n") != 0;
      lua_pop(L, 2);
    }
  }
  bad = bad || crater__buf_appendz(&b, "\r\n") != 0;
  int rc = bad ? -1 : ws->io->write(ws->io_ctx, b.data, b.len, NULL, 0);
  crater__buf_free(&b);
  return rc < 0 ? -1 : 0;
}

/* ws_upgrade(r, seq, accept, protocol|nil, max_message [, ping_interval
 * [, level, memlevel, max_window_bits [, headers]]]) -> the WebSocket: 101
 * goes out and the connection is the WebSocket's from here. level 0: no
 * deflate; headers: a flat list of the hooks' headers for the 101. */
static int ws_upgrade(lua_State *L) {
  crater__request *r = lua_touserdata(L, 1);
  uint64_t seq = (uint64_t)luaL_checknumber(L, 2);
  size_t alen, plen = 0;
  const char *accept = luaL_checklstring(L, 3, &alen);
  const char *proto = luaL_optlstring(L, 4, NULL, &plen);
  lua_Number max = luaL_checknumber(L, 5);
  lua_Number ping = luaL_optnumber(L, 6, 0);
  crater__ws_deflate_opts dopts = {(int)luaL_optinteger(L, 7, 0), (int)luaL_optinteger(L, 8, 4),
                                   (int)luaL_optinteger(L, 9, 12)};
  if (dopts.level < 0 || dopts.level > 9 || dopts.memlevel < 1 || dopts.memlevel > 9 ||
      dopts.max_window_bits < 9 || dopts.max_window_bits > 15)
    return luaL_error(L, "deflate: level 1..9, memlevel 1..9, max_window_bits 9..15");
  if (!crater__request_valid(r, seq)) return luaL_error(L, "request is no longer active");
  if (r->sink->upgrade == NULL)
    return luaL_error(L, "a WebSocket needs a client connection (this request was not read from a socket)");
  if (plen >= PROTOCOL_MAX || alen > 40) return luaL_error(L, "subprotocol name too long");
  ws_ud *ud = lua_newuserdata(L, sizeof(*ud));
  ud->ws = NULL;
  ud->r = r;
  ud->seq = seq;
  luaL_getmetatable(L, WS_MT);
  lua_setmetatable(L, -2);
  crater__ws *ws = crater__calloc(1, sizeof(*ws));
  if (ws == NULL) return luaL_error(L, "out of memory");
  ws->srv = r->srv;
  ws->r = r;
  ws->max_message = max >= 1 ? (uint64_t)max : 1;
  if (proto != NULL) {
    ws->protocol = crater__malloc(plen + 1);
    if (ws->protocol == NULL) {
      crater__free(ws);
      return luaL_error(L, "out of memory");
    }
    memcpy(ws->protocol, proto, plen + 1);
  }
  char ext[160];
  negotiate_deflate(ws, r, &dopts, ext, sizeof(ext));
  if (r->sink->upgrade(r->sink_ctx, r, ws, &ws->io, &ws->io_ctx) != 0) {
    crater__ws_pmd_free(ws->pmd);
    crater__free(ws->protocol);
    crater__free(ws);
    return luaL_error(L, "the connection could not be upgraded");
  }
  ud->ws = ws;
  if (answer_101(ws, L, accept, alen, proto, ext) != 0) ws->gone = 1;
  if (ping > 0 && ping <= 1e9) start_pinger(ws, (uint64_t)(ping * 1000 + 0.5));
  ws->io->read(ws->io_ctx, 1); /* frames that came with the request first */
  return 1;
}

/* ===================================================================== */
/*  The Lua object                                                         */
/* ===================================================================== */

/* The WebSocket of the object at 1, or NULL once its handler has ended. */
static crater__ws *check_ws(lua_State *L) {
  ws_ud *ud = luaL_checkudata(L, 1, WS_MT);
  if (ud->ws == NULL || !crater__request_valid(ud->r, ud->seq)) return NULL;
  return ud->ws;
}

/* 1 when the code running is the handler's task: only it may wait on the
 * WebSocket (its waits end with the task; another task's would outlive it). */
static crater__uthread *own_thread(crater__ws *ws) {
  crater__uthread *ut = crater__task_current(ws->srv);
  return ut != NULL && ut->task == &ws->r->task ? ut : NULL;
}

static int m_receive(lua_State *L) {
  crater__ws *ws = check_ws(L);
  lua_Number timeout = luaL_optnumber(L, 2, -1);
  if (!lua_isnoneornil(L, 2) && !(timeout >= 0 && timeout <= 1e9))
    return luaL_argerror(L, 2, "timeout must be a number of seconds from 0 to 1e9");
  if (ws == NULL) {
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
    lua_pushinteger(L, 1006);
    lua_pushliteral(L, "");
    return 4;
  }
  if (ws->ready || ws->closed) return push_received(ws, L);
  if (own_thread(ws) == NULL) return luaL_error(L, "ws:receive: only the WebSocket's handler (or its threads) may receive");
  if (ws->reader != NULL) return luaL_error(L, "ws:receive: another thread is receiving already");
  if (timeout == 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "timeout");
    return 2;
  }
  recv_timer *t = NULL;
  if (timeout > 0) {
    t = crater__malloc(sizeof(*t));
    if (t == NULL) return luaL_error(L, "ws:receive: out of memory");
  }
  const char *why;
  crater__uthread *ut = crater__task_wait(ws->srv, L, recv_cancel, ws, &why);
  if (ut == NULL) {
    crater__free(t);
    return luaL_error(L, "ws:receive: %s", why);
  }
  ws->reader = ut;
  if (t != NULL) {
    uv_timer_init(ws->srv->loop, &t->handle);
    t->handle.data = t;
    t->ws = ws;
    ws->timer = t;
    uv_timer_start(&t->handle, timer_fired, (uint64_t)(timeout * 1000 + 0.5), 0);
  }
  return lua_yield(L, 0);
}

static int closed_result(lua_State *L) {
  lua_pushnil(L);
  lua_pushliteral(L, "closed");
  return 2;
}

static int m_send(lua_State *L) {
  crater__ws *ws = check_ws(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  const char *kind = luaL_optstring(L, 3, "text");
  int op;
  if (strcmp(kind, "text") == 0) op = CRATER__WS_TEXT;
  else if (strcmp(kind, "binary") == 0) op = CRATER__WS_BINARY;
  else return luaL_argerror(L, 3, "\"text\" or \"binary\"");
  if (op == CRATER__WS_TEXT) {
    crater__ws_utf8 u = {0, 0, 0};
    if (crater__ws_utf8_feed(&u, (const unsigned char *)data, len) != 0 || !crater__ws_utf8_complete(&u))
      return luaL_argerror(L, 2, "a text message must be UTF-8 (send bytes as \"binary\")");
  }
  if (ws == NULL || ws->close_sent || ws->gone) return closed_result(L);
  int rc = send_message(ws, op, data, len);
  if (rc < 0) return closed_result(L);
  crater__uthread *me = own_thread(ws);
  /* Behind: the handler waits for the client, as crater.stream's write
   * does. Another task's send only queues (its wait could outlive us). */
  if (rc == 1 && me != NULL && ws->writer == NULL) {
    const char *why;
    crater__uthread *ut = crater__task_wait(ws->srv, L, send_cancel, ws, &why);
    if (ut != NULL) {
      ws->writer = ut;
      return lua_yield(L, 0);
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int m_ping(lua_State *L) {
  crater__ws *ws = check_ws(L);
  size_t len;
  const char *data = luaL_optlstring(L, 2, "", &len);
  if (len > 125) return luaL_argerror(L, 2, "a ping carries at most 125 bytes");
  if (ws == NULL || ws->close_sent || ws->gone) return closed_result(L);
  if (send_frame(ws, CRATER__WS_PING, data, len) < 0) return closed_result(L);
  lua_pushboolean(L, 1);
  return 1;
}

static int m_close(lua_State *L) {
  crater__ws *ws = check_ws(L);
  lua_Integer code = luaL_optinteger(L, 2, 1000);
  size_t rlen;
  const char *reason = luaL_optlstring(L, 3, "", &rlen);
  if (!(code == 1000 || (code >= 3000 && code <= 4999) || (code > 1000 && code < 3000 &&
        crater__ws_close_code_ok((unsigned)code))))
    return luaL_argerror(L, 2, "a close code is 1000, 1001..1014 but 1004..1006, or 3000..4999");
  if (rlen > REASON_MAX) return luaL_argerror(L, 3, "a close reason is at most 123 bytes");
  if (ws == NULL || ws->close_sent || ws->gone) return closed_result(L);
  set_closed(ws, (unsigned)code, reason, rlen);
  send_close(ws, (unsigned)code, reason, rlen);
  deliver(ws); /* another thread's receive: closed */
  lua_pushboolean(L, 1);
  return 1;
}

static int m_protocol(lua_State *L) {
  ws_ud *ud = luaL_checkudata(L, 1, WS_MT);
  crater__ws *ws = check_ws(L);
  (void)ud;
  if (ws == NULL || ws->protocol == NULL) return 0;
  lua_pushstring(L, ws->protocol);
  return 1;
}

static int m_tostring(lua_State *L) {
  crater__ws *ws = check_ws(L);
  lua_pushstring(L, ws == NULL ? "websocket (ended)" : ws->closed ? "websocket (closed)" : "websocket");
  return 1;
}

void crater__ws_register(lua_State *L, crater_server *srv) {
  static const luaL_Reg methods[] = {
    {"receive", m_receive}, {"send", m_send}, {"ping", m_ping},
    {"close", m_close},     {"protocol", m_protocol}, {NULL, NULL},
  };
  if (luaL_newmetatable(L, WS_MT)) {
    lua_createtable(L, 0, 5);
    for (const luaL_Reg *f = methods; f->name; f++) {
      lua_pushcfunction(L, f->func);
      lua_setfield(L, -2, f->name);
    }
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, m_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "websocket");
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, ws_handshake);
  lua_setfield(L, -2, "ws_handshake");
  lua_pushcfunction(L, ws_upgrade);
  lua_setfield(L, -2, "ws_upgrade");
  lua_pushnumber(L, (lua_Number)srv->cfg.ws_max_message_bytes); /* --ws-max-message */
  lua_setfield(L, -2, "ws_max_message");
}
