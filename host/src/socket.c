/* socket.c - cosockets (see socket.h).
 *
 * Two objects. A *socket* is the Lua userdata the app holds (metatable
 * "crater.socket"): its timeouts, its request (task) and the connection it
 * uses now, if any. A *peer* is one connection, in C memory: its libuv
 * handle, a timer, what was received and not read yet, and the operation
 * in progress. A socket uses at most one peer at a time; a peer put back
 * with setkeepalive leaves its socket for its pool (pool.c) and may serve
 * another socket later. A peer is freed once its handles are closed and no
 * libuv request of it is in flight (`pending`), so a callback of a closed
 * peer always finds its memory.
 *
 * Every operation that waits goes the same way: the fast path first (a
 * pooled connection, bytes already received, a write that goes out at
 * once); otherwise crater__task_wait() for the running light thread, the
 * socket anchored in the registry (nothing else may hold it: a yield from
 * C drops the C function's arguments from the stack), the libuv work
 * started, and the timeout on the peer's timer; lua_yield. The callback
 * that ends the operation pushes the results on the waiting thread, closes
 * the peer on errors (every error but a read timeout), and resumes it, last:
 * the Lua that runs then may close or reuse anything. When the task ends
 * first, cancel_op() closes the peer instead; no callback resumes it then.
 *
 * Reading stops when no receive waits (bytes stay in the peer's buffer),
 * except while the peer is idle in a pool: then any byte, EOF or error
 * closes it, since a connection that talks while nobody asked is not in a
 * state to reuse. */
#include "socket.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "alloc.h"
#include "buf.h"
#include "pool.h"
#include "server.h"
#include "task.h"
#include "tls.h"

#define SOCK_MT "crater.socket"
#define POOL_MT "crater.socket.pool"
#define TLS_CTX_MT "crater.socket.tls_ctx"
#define DEFAULT_TIMEOUT_MS 60000u /* connect, send, read: as OpenResty's */
#define DEFAULT_IDLE_MS 60000u    /* a pooled connection's idle timeout */
#define READ_RESERVE 16384        /* free room in the read buffer before each read */
#define KEEP_BUF (64 * 1024)      /* an emptied read buffer larger than this is freed */
#define INLINE_BUFS 16            /* send's pieces held without allocating */
#define NOT_FOUND ((size_t)-1)

#define PEER_OF(ptr, field) ((peer *)(void *)((char *)(ptr) - offsetof(peer, field)))
#define SOCK_OF(ptr, field) ((sock *)(void *)((char *)(ptr) - offsetof(sock, field)))

/* Operations (peer.op): one at a time per peer. */
enum { OP_NONE = 0, OP_QUEUE, OP_CONNECT, OP_SEND, OP_RECEIVE, OP_HANDSHAKE };

/* What a receive reads (peer.rkind). */
enum { RK_BYTES = 0, RK_LINE, RK_ALL, RK_UNTIL, RK_ANY };

/* Peer flags: P_* bits of peer.flags. */
#define P_HANDLE    0x01u /* h is initialised and not closing */
#define P_UNIX      0x02u /* h is a uv_pipe_t */
#define P_READING   0x04u /* uv_read_start is on */
#define P_EOF       0x08u /* the peer closed its side */
#define P_CLOSING   0x10u /* peer_close() ran: freed when pending reaches 0 */
#define P_RESOLVING 0x20u /* gai is in flight */
#define P_WRITING   0x40u /* OP_HANDSHAKE: wreq is in flight */

#define READ_ERR_TLS (-100000) /* peer.read_err: TLS failed, errbuf says how */

typedef struct sock sock;
typedef struct peer peer;

struct peer {
  crater__pool_conn link;   /* its pool (pool.c); link.close = pool_drop */
  crater_server *srv;
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;                      /* h.handle.data points here */
  uv_timer_t timer;         /* the operation's timeout; the idle timeout while pooled;
                               a turn of the loop for what must be told from it */
  unsigned flags;           /* P_* */
  int pending;              /* handles open + libuv requests in flight; freed at 0 */
  int read_err;             /* a read failed (libuv code, READ_ERR_TLS): the next receive
                               says so */
  crater__buf in;           /* bytes received (decrypted, with TLS); unread from in_pos */
  size_t in_pos;
  crater__buf out;          /* what a send could not write at once */
  unsigned reused;          /* times it came out of a pool */
  crater__tls *tls;         /* after sslhandshake: what goes through TLS (tls.c) */
  unsigned idle_ms;         /* while pooled: its idle timeout (0: none) */
  sock *owner;              /* the socket using it; NULL while pooled or closing */

  /* The operation in progress (OP_*) and the light thread that waits for it. */
  int op;
  crater__uthread *ut;
  const char *soon;         /* an error to report from the loop's next turn (the timer) */
  char errbuf[128];         /* a formatted error message */
  size_t sent;              /* OP_SEND: what send() returns */
  int rkind;                /* OP_RECEIVE: RK_* */
  size_t rn;                /* RK_BYTES: how many; RK_UNTIL: the piece size (0: all);
                               RK_ANY: at most how many */
  int inclusive;            /* RK_UNTIL: the pattern is returned with the data */
  char *pat;                /* RK_UNTIL: the pattern (a copy while waiting) */
  size_t plen;
  size_t scanned;           /* RK_LINE, RK_UNTIL: unread bytes searched already */

  /* Connecting. */
  char *host;               /* a host name or address; the path of a unix socket */
  int port;                 /* 0: a unix socket */
  crater__pool *pool;       /* the pool it joins when it connects */
  uv_getaddrinfo_t gai;
  struct addrinfo *ai;      /* the resolved addresses */
  struct addrinfo *ai_next; /* the next one to try */
  int last_err;             /* the last address's failure, while its handle closes */
  uv_connect_t creq;
  uv_write_t wreq;
  crater__pool_waiter waiter; /* OP_QUEUE: queued for a connection of its pool */
  int woken;                  /* OP_QUEUE: the pool woke it... */
  peer *handed;               /* ...with this connection, or NULL: with a slot */
};

struct sock {
  crater_server *srv;
  crater__task *task;           /* its request; NULL once that ended */
  crater__task_cleanup cleanup; /* in the task's list while task is set */
  peer *p;                      /* the connection in use, or NULL */
  int was_connected;            /* errors say "closed" rather than "not connected" */
  unsigned connect_ms, send_ms, read_ms; /* 0: no timeout */
  int anchor;                   /* registry ref of the userdata while an operation waits */
};

static void task_ended(crater__task_cleanup *c);
static peer *peer_new(sock *s, const char *host, size_t len, int port);
static void peer_close(peer *p);
static void peer_closed(uv_handle_t *h);
static void unpend(peer *p);
static void attach(sock *s, peer *p);
static void detach(sock *s, peer *p);
static const char *begin(lua_State *L, sock *s, peer *p, int op, unsigned ms);
static crater__uthread *end_op(peer *p);
static void wake(crater__uthread *ut, sock *s, int nresults);
static void fail(peer *p, const char *err, int with_partial);
static void soon(peer *p, const char *err);
static void cancel_op(void *data);
static void timer_cb(uv_timer_t *t);
static void queue_wake(crater__pool_waiter *w, crater__pool_conn *pc);
static void queue_done(peer *p);
static void start_connect(peer *p);
static int connect_to(peer *p, const struct sockaddr *sa);
static void try_next(peer *p, int err);
static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res);
static void retry_closed(uv_handle_t *h);
static void connected(uv_connect_t *req, int status);
static int send_bufs(lua_State *L, sock *s, uv_buf_t *bufs, unsigned nbufs, size_t total);
static void written(uv_write_t *req, int status);
static int try_write_out(peer *p);
static int write_out(peer *p);
static void handshake_step(peer *p);
static void decrypt(peer *p);
static const char *read_error(const peer *p);
static int receive(lua_State *L, sock *s, int kind, size_t n, const char *pat, size_t plen,
                   int inclusive);
static int satisfy(peer *p, lua_State *L);
static int start_reading(peer *p);
static void stop_reading(peer *p);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void push_unread(peer *p, lua_State *L);
static void consume(peer *p, size_t n);
static crater__pool *pool_find(lua_State *L, const char *name, size_t len);
static crater__tls_ctx *tls_context(lua_State *L, const char *cafile, char *err, size_t errlen);
static void pool_drop(crater__pool_conn *pc);
static void go_idle(peer *p);
static const char *errstr(int err);

/* ===================================================================== */
/*  What Lua calls (crater._socket)                                         */
/* ===================================================================== */

/* The socket at index 1, used by its own request. Raises otherwise. */
static sock *owned(lua_State *L) {
  sock *s = luaL_checkudata(L, 1, SOCK_MT);
  if (s->task == NULL) luaL_error(L, "crater.socket: the request that made this socket has ended");
  crater__uthread *cur = s->srv->current;
  if (cur == NULL || cur->task != s->task)
    luaL_error(L, "crater.socket: this socket belongs to another request");
  return s;
}

static int nil_err(lua_State *L, const char *err) {
  lua_pushnil(L);
  lua_pushstring(L, err);
  return 2;
}

/* An operation that failed before waiting: nil, err, and the connection
 * closes. */
static int fail_now(lua_State *L, sock *s, const char *err) {
  peer *p = s->p;
  nil_err(L, err);
  detach(s, p);
  peer_close(p);
  return 2;
}

static int not_connected(lua_State *L, const sock *s) {
  return nil_err(L, s->was_connected ? "closed" : "not connected");
}

/* new() -> socket: for the running request. */
static int sock_new(lua_State *L) {
  crater_server *srv = lua_touserdata(L, lua_upvalueindex(1));
  crater__uthread *cur = srv->current;
  if (cur == NULL) return luaL_error(L, "crater.socket.tcp: not inside a request");
  sock *s = lua_newuserdata(L, sizeof(*s));
  memset(s, 0, sizeof(*s));
  s->srv = srv;
  s->connect_ms = s->send_ms = s->read_ms = DEFAULT_TIMEOUT_MS;
  s->anchor = LUA_NOREF;
  luaL_getmetatable(L, SOCK_MT);
  lua_setmetatable(L, -2);
  s->task = cur->task;
  s->cleanup.fn = task_ended;
  crater__task_defer(cur->task, &s->cleanup);
  return 1;
}

/* The socket's request ended: its connection closes (a pooled one is the
 * pool's, not the socket's). Every wait of the task was cancelled before. */
static void task_ended(crater__task_cleanup *c) {
  sock *s = SOCK_OF(c, cleanup);
  s->task = NULL;
  peer *p = s->p;
  if (p != NULL) {
    assert(p->op == OP_NONE);
    detach(s, p);
    peer_close(p);
  }
}

static int sock_gc(lua_State *L) {
  sock *s = lua_touserdata(L, 1);
  crater__task_undefer(&s->cleanup);
  peer *p = s->p;
  if (p != NULL) {
    assert(p->op == OP_NONE); /* a waiting socket is anchored */
    detach(s, p);
    peer_close(p);
  }
  return 0;
}

/* connect(sock, host, port|nil, pool|nil, pool_size|nil, backlog|nil)
 * -> 1 | nil, err. port nil: host is "unix:PATH". */
static int sock_connect(lua_State *L) {
  sock *s = owned(L);
  size_t hlen, nlen;
  const char *host = luaL_checklstring(L, 2, &hlen);
  int port = (int)luaL_optinteger(L, 3, 0);
  const char *name = luaL_optlstring(L, 4, NULL, &nlen);
  int size = (int)luaL_optinteger(L, 5, -1);
  int backlog = (int)luaL_optinteger(L, 6, -1);
  if (port == 0) { /* "unix:PATH" */
    luaL_argcheck(L, hlen > 5 && memcmp(host, "unix:", 5) == 0, 2, "\"unix:PATH\" without a port");
    host += 5;
    hlen -= 5;
  }
  if (s->p != NULL) { /* connecting again: the old connection closes */
    if (s->p->op != OP_NONE) return nil_err(L, "busy");
    peer *old = s->p;
    detach(s, old);
    peer_close(old);
  }
  if (name == NULL) {
    name = port ? lua_pushfstring(L, "%s:%d", host, port) : host;
    nlen = port ? lua_objlen(L, -1) : hlen;
  }
  crater__pool *pool = pool_find(L, name, nlen);
  if (size >= 0) pool->size = size;
  if (backlog >= 0) pool->backlog = backlog;
  crater__pool_conn *pc = crater__pool_take(pool);
  if (pc != NULL) {
    attach(s, PEER_OF(pc, link));
    s->p->reused++;
    lua_pushinteger(L, 1);
    return 1;
  }
  peer *p = peer_new(s, host, hlen, port);
  if (p == NULL) return nil_err(L, "no memory");
  p->pool = pool;
  const char *why;
  if (crater__pool_full(pool)) {
    if (crater__pool_wait(pool, &p->waiter) != 0) {
      detach(s, p);
      peer_close(p);
      return nil_err(L, "too many waiters");
    }
    why = begin(L, s, p, OP_QUEUE, s->connect_ms);
  } else {
    why = begin(L, s, p, OP_CONNECT, s->connect_ms);
    if (why == NULL) {
      crater__pool_join(pool, &p->link);
      start_connect(p);
    }
  }
  if (why != NULL) {
    detach(s, p);
    peer_close(p);
    return luaL_error(L, "crater.socket: %s", why);
  }
  return lua_yield(L, 0);
}

/* send(sock, string | { strings }) -> bytes | nil, err */
static int sock_send(lua_State *L) {
  sock *s = owned(L);
  uv_buf_t inline_bufs[INLINE_BUFS], *bufs = inline_bufs;
  unsigned nbufs = 0;
  size_t total = 0;
  if (lua_istable(L, 2)) {
    int n = (int)lua_objlen(L, 2);
    if (n > INLINE_BUFS) {
      bufs = crater__malloc(sizeof(*bufs) * (size_t)n);
      if (bufs == NULL) return nil_err(L, "no memory");
    }
    for (int i = 1; i <= n; i++) {
      lua_rawgeti(L, 2, i);
      int t = lua_type(L, -1);
      if ((t != LUA_TSTRING && t != LUA_TNUMBER) || (t == LUA_TNUMBER && !lua_checkstack(L, 2))) {
        if (bufs != inline_bufs) crater__free(bufs);
        return luaL_error(L, "sock:send: item %d of the table is a %s, not a string", i,
                          luaL_typename(L, -1));
      }
      size_t len;
      const char *piece = lua_tolstring(L, -1, &len);
      /* A string stays alive in the table; a number's new string stays on the stack. */
      if (t == LUA_TSTRING) lua_pop(L, 1);
      bufs[nbufs++] = uv_buf_init((char *)piece, (unsigned)len);
      total += len;
    }
  } else {
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    bufs[nbufs++] = uv_buf_init((char *)data, (unsigned)len);
    total = len;
  }
  int n;
  if (s->p == NULL) n = not_connected(L, s);
  else if (s->p->op != OP_NONE) n = nil_err(L, "busy");
  else n = send_bufs(L, s, bufs, nbufs, total);
  if (bufs != inline_bufs) crater__free(bufs);
  return n;
}

/* receive(sock, n | "*l" | "*a") -> data | nil, err, partial */
static int sock_receive(lua_State *L) {
  sock *s = owned(L);
  if (lua_type(L, 2) == LUA_TNUMBER) {
    lua_Number n = lua_tonumber(L, 2);
    luaL_argcheck(L, n >= 0, 2, "a number of bytes must be >= 0");
    return receive(L, s, RK_BYTES, (size_t)n, NULL, 0, 0);
  }
  const char *pat = luaL_optstring(L, 2, "*l");
  if (strcmp(pat, "*l") == 0) return receive(L, s, RK_LINE, 0, NULL, 0, 0);
  if (strcmp(pat, "*a") == 0) return receive(L, s, RK_ALL, 0, NULL, 0, 0);
  return luaL_argerror(L, 2, "a number of bytes, \"*l\" or \"*a\"");
}

/* receiveany(sock, max) -> data | nil, err, "": what has arrived (at most
 * max bytes), waiting only while nothing has. For protocols that frame
 * their own messages (crater.http feeds llhttp with it). */
static int sock_receiveany(lua_State *L) {
  sock *s = owned(L);
  lua_Number n = luaL_checknumber(L, 2);
  luaL_argcheck(L, n >= 1, 2, "max must be a number of bytes >= 1");
  return receive(L, s, RK_ANY, (size_t)n, NULL, 0, 0);
}

/* receiveuntil(sock, pattern, size, inclusive) -> data | nil [, err, partial] */
static int sock_receiveuntil(lua_State *L) {
  sock *s = owned(L);
  size_t plen;
  const char *pat = luaL_checklstring(L, 2, &plen);
  luaL_argcheck(L, plen > 0, 2, "the pattern must not be empty");
  lua_Number size = luaL_optnumber(L, 3, 0);
  luaL_argcheck(L, size >= 0, 3, "the size must be >= 0");
  return receive(L, s, RK_UNTIL, (size_t)size, pat, plen, lua_toboolean(L, 4));
}

/* settimeouts(sock, connect_ms|nil, send_ms|nil, read_ms|nil): nil keeps one. */
static int sock_settimeouts(lua_State *L) {
  sock *s = owned(L);
  unsigned *ms[3] = {&s->connect_ms, &s->send_ms, &s->read_ms};
  for (int i = 0; i < 3; i++) {
    if (lua_isnoneornil(L, i + 2)) continue;
    lua_Number v = luaL_checknumber(L, i + 2);
    luaL_argcheck(L, v >= 0 && v <= 4e9, i + 2, "milliseconds from 0 to 4e9");
    *ms[i] = (unsigned)v;
  }
  return 0;
}

/* close(sock) -> 1 | nil, err */
static int sock_close(lua_State *L) {
  sock *s = owned(L);
  peer *p = s->p;
  if (p == NULL) return not_connected(L, s);
  if (p->op != OP_NONE) return nil_err(L, "busy");
  detach(s, p);
  peer_close(p);
  lua_pushinteger(L, 1);
  return 1;
}

/* setkeepalive(sock, idle_ms|nil, pool_size|nil) -> 1 | nil, err */
static int sock_setkeepalive(lua_State *L) {
  sock *s = owned(L);
  lua_Number idle = luaL_optnumber(L, 2, DEFAULT_IDLE_MS);
  int size = (int)luaL_optinteger(L, 3, -1);
  luaL_argcheck(L, idle >= 0 && idle <= 4e9, 2, "milliseconds from 0 to 4e9");
  peer *p = s->p;
  if (p == NULL) return not_connected(L, s);
  if (p->op != OP_NONE) return nil_err(L, "busy");
  detach(s, p);
  const char *refused = NULL;
  if (p->in.len > p->in_pos) refused = "unread data";
  else if ((p->flags & P_EOF) || p->read_err != 0) refused = "closed";
  if (refused != NULL || s->srv->closing || p->link.pool == NULL) {
    peer_close(p); /* nothing goes back into a pool while the server closes */
    if (refused != NULL) return nil_err(L, refused);
    lua_pushinteger(L, 1);
    return 1;
  }
  if (size >= 0) p->link.pool->size = size;
  p->idle_ms = (unsigned)idle;
  crater__pool_put(&p->link); /* kept, handed to a queued connect, or evicted */
  if (p->link.idle) go_idle(p);
  lua_pushinteger(L, 1);
  return 1;
}

/* sslhandshake(sock, server_name|nil, verify, cafile|nil) -> true | nil, err */
static int sock_sslhandshake(lua_State *L) {
  sock *s = owned(L);
  const char *name = luaL_optstring(L, 2, NULL);
  int verify = lua_toboolean(L, 3);
  const char *cafile = luaL_optstring(L, 4, NULL);
  peer *p = s->p;
  if (p == NULL) return not_connected(L, s);
  if (p->op != OP_NONE) return nil_err(L, "busy");
  if (p->tls != NULL) { /* a connection from a pool: TLS already */
    lua_pushboolean(L, 1);
    return 1;
  }
  crater__tls_ctx *ctx = tls_context(L, cafile, p->errbuf, sizeof(p->errbuf));
  if (ctx == NULL) return fail_now(L, s, p->errbuf);
  p->tls = crater__tls_new(ctx, name, verify, p->errbuf, sizeof(p->errbuf));
  if (p->tls == NULL) return fail_now(L, s, p->errbuf);
  /* Bytes received and not read come before the records: they are TLS's. */
  if (p->in.len > p->in_pos) {
    if (crater__tls_feed(p->tls, p->in.data + p->in_pos, p->in.len - p->in_pos) != 0)
      return fail_now(L, s, "no memory");
    consume(p, p->in.len - p->in_pos);
  }
  /* The ClientHello, sent now as far as it goes. */
  if (crater__tls_handshake(p->tls, p->errbuf, sizeof(p->errbuf)) == CRATER__TLS_ERROR)
    return fail_now(L, s, p->errbuf);
  p->out.len = 0;
  if (crater__tls_output(p->tls, &p->out) != 0) return fail_now(L, s, "no memory");
  int rc = try_write_out(p);
  if (rc != 0) return fail_now(L, s, errstr(rc));
  const char *why = begin(L, s, p, OP_HANDSHAKE, s->connect_ms);
  if (why != NULL) {
    detach(s, p);
    peer_close(p);
    return luaL_error(L, "crater.socket: %s", why);
  }
  rc = p->out.len > 0 ? write_out(p) : start_reading(p);
  if (rc != 0) soon(p, errstr(rc));
  return lua_yield(L, 0);
}

/* reused(sock) -> times | nil, err */
static int sock_reused(lua_State *L) {
  sock *s = owned(L);
  if (s->p == NULL) return not_connected(L, s);
  lua_pushinteger(L, (lua_Integer)s->p->reused);
  return 1;
}

int crater__socket_open(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"connect", sock_connect},       {"send", sock_send},
    {"receive", sock_receive},       {"receiveuntil", sock_receiveuntil},
    {"receiveany", sock_receiveany},
    {"settimeouts", sock_settimeouts}, {"close", sock_close},
    {"setkeepalive", sock_setkeepalive}, {"reused", sock_reused},
    {"sslhandshake", sock_sslhandshake},
    {NULL, NULL},
  };
  lua_createtable(L, 0, 10);
  for (const luaL_Reg *f = fns; f->name; f++) {
    lua_pushcfunction(L, f->func);
    lua_setfield(L, -2, f->name);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushcclosure(L, sock_new, 1);
  lua_setfield(L, -2, "new");
  luaL_newmetatable(L, SOCK_MT);
  lua_pushcfunction(L, sock_gc);
  lua_setfield(L, -2, "__gc");
  lua_setfield(L, -2, "metatable");
  return 1;
}

/* ===================================================================== */
/*  Peers                                                                   */
/* ===================================================================== */

/* A peer for s (attached to it), to connect to host:port (port 0: a unix
 * socket at host). NULL when out of memory. */
static peer *peer_new(sock *s, const char *host, size_t len, int port) {
  peer *p = crater__calloc(1, sizeof(*p));
  if (p == NULL) return NULL;
  p->host = crater__malloc(len + 1);
  if (p->host == NULL) {
    crater__free(p);
    return NULL;
  }
  memcpy(p->host, host, len);
  p->host[len] = '\0';
  p->port = port;
  p->srv = s->srv;
  p->link.close = pool_drop;
  p->waiter.wake = queue_wake;
  uv_timer_init(s->srv->loop, &p->timer);
  p->timer.data = p;
  p->pending = 1; /* the timer */
  p->owner = s;
  s->p = p;
  return p;
}

/* Closes p's handles; it is freed when they are closed and its libuv
 * requests have called back. Its operation, if any, has ended. */
static void peer_close(peer *p) {
  if (p->flags & P_CLOSING) return;
  assert(p->op == OP_NONE && p->owner == NULL);
  p->flags |= P_CLOSING;
  crater__pool_leave(&p->link); /* may give its slot to a queued connect */
  crater__pool_unwait(&p->waiter);
  if (p->handed != NULL) { /* handed over by the pool, never taken */
    peer *h = p->handed;
    p->handed = NULL;
    peer_close(h);
  }
  uv_close((uv_handle_t *)&p->timer, peer_closed);
  if (p->flags & P_HANDLE) {
    p->flags &= ~P_HANDLE;
    uv_close(&p->h.handle, peer_closed);
  }
  if (p->flags & P_RESOLVING) uv_cancel((uv_req_t *)&p->gai);
}

static void peer_closed(uv_handle_t *h) { unpend(h->data); }

/* One handle or request of p is done with it. */
static void unpend(peer *p) {
  if (--p->pending > 0) return;
  assert(p->flags & P_CLOSING);
  crater__buf_free(&p->in);
  crater__buf_free(&p->out);
  if (p->ai != NULL) uv_freeaddrinfo(p->ai);
  crater__free(p->pat);
  crater__free(p->host);
  crater__tls_free(p->tls);
  crater__free(p);
}

/* s uses p, which comes out of a pool. */
static void attach(sock *s, peer *p) {
  uv_timer_stop(&p->timer);
  /* Reading stays on (it was on while idle): stopping and restarting it
   * around each use is two epoll_ctl calls per pooled request. */
  uv_ref(&p->h.handle);
  uv_ref((uv_handle_t *)&p->timer);
  p->owner = s;
  s->p = p;
  s->was_connected = 1;
}

static void detach(sock *s, peer *p) {
  assert(s->p == p && p->owner == s);
  s->p = NULL;
  p->owner = NULL;
}

/* ===================================================================== */
/*  Waiting for an operation                                               */
/* ===================================================================== */

/* p's operation op waits: the running light thread (L's) waits for it and
 * the timeout starts (ms 0: none). Returns NULL, or why L cannot wait here
 * (nothing changed: the caller undoes what it started). */
static const char *begin(lua_State *L, sock *s, peer *p, int op, unsigned ms) {
  const char *why;
  crater__uthread *ut = crater__task_wait(s->srv, L, cancel_op, s, &why);
  if (ut == NULL) return why;
  lua_pushvalue(L, 1);
  s->anchor = luaL_ref(L, LUA_REGISTRYINDEX);
  p->op = op;
  p->ut = ut;
  if (ms > 0) uv_timer_start(&p->timer, timer_cb, ms, 0);
  return NULL;
}

/* p's operation is over: returns the light thread waiting for it, for the
 * caller to push the results on and wake(). */
static crater__uthread *end_op(peer *p) {
  crater__uthread *ut = p->ut;
  uv_timer_stop(&p->timer);
  p->op = OP_NONE;
  p->ut = NULL;
  p->soon = NULL;
  crater__free(p->pat);
  p->pat = NULL;
  return ut;
}

/* Resumes ut with the nresults pushed on it. Last: Lua runs from here. */
static void wake(crater__uthread *ut, sock *s, int nresults) {
  luaL_unref(ut->L, LUA_REGISTRYINDEX, s->anchor);
  s->anchor = LUA_NOREF;
  crater__task_resume(ut, nresults);
}

/* p's operation failed: its thread gets nil, err (and with_partial: what
 * was received and not read), and p closes. */
static void fail(peer *p, const char *err, int with_partial) {
  sock *s = p->owner;
  crater__uthread *ut = end_op(p);
  lua_pushnil(ut->L);
  lua_pushstring(ut->L, err);
  if (with_partial) push_unread(p, ut->L);
  detach(s, p);
  peer_close(p);
  wake(ut, s, with_partial ? 3 : 2);
}

/* An error found while starting an operation, told from the loop: the
 * thread has not yielded yet. */
static void soon(peer *p, const char *err) {
  if (err != p->errbuf) snprintf(p->errbuf, sizeof(p->errbuf), "%s", err);
  p->soon = p->errbuf;
  uv_timer_start(&p->timer, timer_cb, 0, 0);
}

/* The task ended (or the thread was killed) while the operation waited:
 * the connection is in an unknown state, so it closes. */
static void cancel_op(void *data) {
  sock *s = data;
  peer *p = s->p;
  crater__uthread *ut = end_op(p);
  stop_reading(p);
  detach(s, p);
  peer_close(p);
  luaL_unref(ut->L, LUA_REGISTRYINDEX, s->anchor);
  s->anchor = LUA_NOREF;
}

static void timer_cb(uv_timer_t *t) {
  peer *p = t->data;
  if (p->soon != NULL) {
    fail(p, p->soon, 0);
    return;
  }
  switch (p->op) {
  case OP_NONE: /* pooled: the idle timeout */
    if (p->link.idle) peer_close(p);
    return;
  case OP_QUEUE:
    if (p->woken) {
      queue_done(p);
      return;
    }
    crater__pool_unwait(&p->waiter);
    fail(p, "timeout", 0);
    return;
  case OP_RECEIVE: { /* the one error that leaves the socket usable */
    stop_reading(p);
    sock *s = p->owner;
    crater__uthread *ut = end_op(p);
    lua_pushnil(ut->L);
    lua_pushliteral(ut->L, "timeout");
    push_unread(p, ut->L);
    wake(ut, s, 3);
    return;
  }
  default:
    fail(p, "timeout", 0);
  }
}

/* ===================================================================== */
/*  Connecting                                                              */
/* ===================================================================== */

/* The pool has a connection or a slot for p's queued connect (called from
 * inside another socket's close or setkeepalive): taken on the next turn. */
static void queue_wake(crater__pool_waiter *w, crater__pool_conn *pc) {
  peer *p = PEER_OF(w, waiter);
  p->woken = 1;
  if (pc != NULL) p->handed = PEER_OF(pc, link);
  else crater__pool_join(p->pool, &p->link);
  uv_timer_start(&p->timer, timer_cb, 0, 0);
}

static void queue_done(peer *p) {
  sock *s = p->owner;
  p->woken = 0;
  if (p->handed == NULL) { /* a slot: connect (p counts in the pool already) */
    p->op = OP_CONNECT;
    if (s->connect_ms > 0) uv_timer_start(&p->timer, timer_cb, s->connect_ms, 0);
    start_connect(p);
    return;
  }
  peer *h = p->handed;
  p->handed = NULL;
  crater__uthread *ut = end_op(p);
  detach(s, p);
  peer_close(p);
  attach(s, h);
  h->reused++;
  lua_pushinteger(ut->L, 1);
  wake(ut, s, 1);
}

/* A libuv request of p called back. Returns 1 when p is closing: the
 * caller has nothing more to do. */
static int req_back(peer *p) {
  if (p->flags & P_CLOSING) {
    unpend(p);
    return 1;
  }
  p->pending--;
  return 0;
}

static void handle_opened(peer *p) {
  p->flags |= P_HANDLE;
  p->pending++;
  p->h.handle.data = p;
}

/* Starts connecting p (OP_CONNECT): a unix socket, an address, or a name
 * to resolve first. A failure to start is told on the next turn. */
static void start_connect(peer *p) {
  uv_loop_t *loop = p->srv->loop;
  int rc;
  p->creq.data = p;
  if (p->port == 0) {
    rc = uv_pipe_init(loop, &p->h.pipe, 0);
    if (rc != 0) {
      soon(p, errstr(rc));
      return;
    }
    handle_opened(p);
    p->flags |= P_UNIX;
    uv_pipe_connect(&p->creq, &p->h.pipe, p->host, connected);
    p->pending++;
    return;
  }
  struct sockaddr_storage ss;
  if (uv_ip4_addr(p->host, p->port, (struct sockaddr_in *)&ss) == 0 ||
      uv_ip6_addr(p->host, p->port, (struct sockaddr_in6 *)&ss) == 0) {
    rc = connect_to(p, (struct sockaddr *)&ss);
    if (rc != 0) soon(p, errstr(rc));
    return;
  }
  char port[8];
  snprintf(port, sizeof(port), "%d", p->port);
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  rc = uv_getaddrinfo(loop, &p->gai, resolved, p->host, port, &hints);
  if (rc != 0) {
    snprintf(p->errbuf, sizeof(p->errbuf), "no resolver answer: %s", uv_strerror(rc));
    soon(p, p->errbuf);
    return;
  }
  p->flags |= P_RESOLVING;
  p->pending++;
}

/* A TCP handle connecting to sa. Returns 0 or a libuv error (the handle,
 * if opened, is p's to close). */
static int connect_to(peer *p, const struct sockaddr *sa) {
  int rc = uv_tcp_init(p->srv->loop, &p->h.tcp);
  if (rc != 0) return rc;
  handle_opened(p);
  rc = uv_tcp_connect(&p->creq, &p->h.tcp, sa, connected);
  if (rc != 0) return rc;
  p->pending++;
  return 0;
}

/* The last address failed with err: the next one, or the failure. */
static void try_next(peer *p, int err) {
  if (p->ai_next == NULL) {
    fail(p, errstr(err), 0);
    return;
  }
  if (p->flags & P_HANDLE) { /* a handle connects once: a new one, once it is closed */
    p->last_err = err;
    p->flags &= ~P_HANDLE;
    uv_close(&p->h.handle, retry_closed);
    return;
  }
  struct addrinfo *a = p->ai_next;
  p->ai_next = a->ai_next;
  int rc = connect_to(p, a->ai_addr);
  if (rc != 0) try_next(p, rc);
}

static void retry_closed(uv_handle_t *h) {
  peer *p = h->data;
  if (req_back(p)) return;
  try_next(p, p->last_err);
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  peer *p = PEER_OF(req, gai);
  p->flags &= ~P_RESOLVING;
  if ((p->flags & P_CLOSING) && res != NULL) uv_freeaddrinfo(res);
  if (req_back(p)) return;
  if (status < 0) {
    snprintf(p->errbuf, sizeof(p->errbuf), "no resolver answer: %s", uv_strerror(status));
    fail(p, p->errbuf, 0);
    return;
  }
  p->ai = p->ai_next = res;
  try_next(p, UV_EAI_NONAME);
}

static void connected(uv_connect_t *req, int status) {
  peer *p = req->data;
  if (req_back(p)) return;
  if (status < 0) {
    if (p->flags & P_UNIX) fail(p, errstr(status), 0);
    else try_next(p, status);
    return;
  }
  if (!(p->flags & P_UNIX)) uv_tcp_nodelay(&p->h.tcp, 1);
  if (p->ai != NULL) {
    uv_freeaddrinfo(p->ai);
    p->ai = p->ai_next = NULL;
  }
  sock *s = p->owner;
  s->was_connected = 1;
  crater__uthread *ut = end_op(p);
  lua_pushinteger(ut->L, 1);
  wake(ut, s, 1);
}

/* ===================================================================== */
/*  Sending                                                                 */
/* ===================================================================== */

/* Writes bufs (total bytes; with TLS, their records): at once if the
 * kernel takes them all, else the rest is kept in p->out and written
 * while the thread waits. */
static int send_bufs(lua_State *L, sock *s, uv_buf_t *bufs, unsigned nbufs, size_t total) {
  peer *p = s->p;
  if (total == 0) {
    lua_pushinteger(L, 0);
    return 1;
  }
  p->out.len = 0;
  uv_buf_t records;
  size_t wire = total;
  if (p->tls != NULL) {
    for (unsigned i = 0; i < nbufs; i++)
      if (crater__tls_write(p->tls, bufs[i].base, bufs[i].len, p->errbuf, sizeof(p->errbuf)) != 0)
        return fail_now(L, s, p->errbuf);
    if (crater__tls_output(p->tls, &p->out) != 0) return fail_now(L, s, "no memory");
    records = uv_buf_init(p->out.data, (unsigned)p->out.len);
    bufs = &records;
    nbufs = 1;
    wire = p->out.len;
  }
  int r = uv_try_write(&p->h.stream, bufs, nbufs);
  if (r == UV_EAGAIN) r = 0;
  if (r < 0) return fail_now(L, s, errstr(r));
  if ((size_t)r == wire) {
    p->out.len = 0;
    lua_pushnumber(L, (lua_Number)total);
    return 1;
  }
  if (p->tls != NULL) { /* the rest of the records, to the front */
    memmove(p->out.data, p->out.data + r, p->out.len - (size_t)r);
    p->out.len -= (size_t)r;
  } else {
    size_t skip = (size_t)r;
    for (unsigned i = 0; i < nbufs; i++) {
      size_t len = bufs[i].len;
      if (skip >= len) {
        skip -= len;
        continue;
      }
      if (crater__buf_append(&p->out, bufs[i].base + skip, len - skip) != 0)
        return fail_now(L, s, "no memory");
      skip = 0;
    }
  }
  const char *why = begin(L, s, p, OP_SEND, s->send_ms);
  if (why != NULL) { /* part of it went out: the connection is of no use now */
    detach(s, p);
    peer_close(p);
    return luaL_error(L, "crater.socket: %s", why);
  }
  p->sent = total;
  int rc = write_out(p);
  if (rc != 0) soon(p, errstr(rc));
  return lua_yield(L, 0);
}

/* Writes what p->out holds as far as the kernel takes it now; the rest
 * moves to its front. Returns 0 or a libuv error. */
static int try_write_out(peer *p) {
  if (p->out.len == 0) return 0;
  uv_buf_t b = uv_buf_init(p->out.data, (unsigned)p->out.len);
  int r = uv_try_write(&p->h.stream, &b, 1);
  if (r == UV_EAGAIN) return 0;
  if (r < 0) return r;
  memmove(p->out.data, p->out.data + r, p->out.len - (size_t)r);
  p->out.len -= (size_t)r;
  return 0;
}

/* Writes p->out while the operation waits: written() goes on. Nothing may
 * touch p->out until then. Returns 0 or a libuv error. */
static int write_out(peer *p) {
  uv_buf_t b = uv_buf_init(p->out.data, (unsigned)p->out.len);
  p->wreq.data = p;
  int rc = uv_write(&p->wreq, &p->h.stream, &b, 1, written);
  if (rc != 0) return rc;
  p->pending++;
  p->flags |= P_WRITING;
  return 0;
}

static void written(uv_write_t *req, int status) {
  peer *p = req->data;
  if (req_back(p)) return;
  p->out.len = 0;
  p->flags &= ~P_WRITING;
  if (status < 0) {
    fail(p, errstr(status), 0);
    return;
  }
  if (p->op == OP_HANDSHAKE) {
    handshake_step(p);
    return;
  }
  sock *s = p->owner;
  crater__uthread *ut = end_op(p);
  lua_pushnumber(ut->L, (lua_Number)p->sent);
  wake(ut, s, 1);
}

/* ===================================================================== */
/*  Receiving                                                               */
/* ===================================================================== */

/* A receive of kind (n bytes; for RK_UNTIL the piece size) from s: from
 * what was received already, or waiting for more. */
static int receive(lua_State *L, sock *s, int kind, size_t n, const char *pat, size_t plen,
                   int inclusive) {
  peer *p = s->p;
  if (p == NULL) return not_connected(L, s);
  if (p->op != OP_NONE) return nil_err(L, "busy");
  if (kind == RK_BYTES && n == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  p->rkind = kind;
  p->rn = n;
  p->inclusive = inclusive;
  p->scanned = 0;
  p->pat = (char *)pat; /* the caller's string, while no wait */
  p->plen = plen;
  int r = satisfy(p, L);
  p->pat = NULL;
  if (r > 0) return r;
  if (r < 0) {
    detach(s, p);
    peer_close(p);
    return -r;
  }
  if (kind == RK_UNTIL) {
    p->pat = crater__malloc(plen);
    if (p->pat == NULL) return nil_err(L, "no memory");
    memcpy(p->pat, pat, plen);
  }
  int rc = start_reading(p);
  if (rc != 0) {
    crater__free(p->pat);
    p->pat = NULL;
    detach(s, p);
    peer_close(p);
    return nil_err(L, errstr(rc));
  }
  const char *why = begin(L, s, p, OP_RECEIVE, s->read_ms);
  if (why != NULL) {
    stop_reading(p);
    crater__free(p->pat);
    p->pat = NULL;
    return luaL_error(L, "crater.socket: %s", why);
  }
  return lua_yield(L, 0);
}

/* Pushes the receive's results on L when what was received satisfies it:
 * returns how many (> 0). Returns 0 when more must come, and -n after
 * pushing nil, err, partial when it never will (the peer must close). */
static int satisfy(peer *p, lua_State *L) {
  const char *d = p->in.data ? p->in.data + p->in_pos : "";
  size_t len = p->in.len - p->in_pos;
  switch (p->rkind) {
  case RK_BYTES:
    if (len >= p->rn) {
      lua_pushlstring(L, d, p->rn);
      consume(p, p->rn);
      return 1;
    }
    break;
  case RK_LINE: {
    size_t line_len, took = crater__socket_line(d, len, p->scanned, &line_len);
    if (took > 0) {
      lua_pushlstring(L, d, line_len);
      consume(p, took);
      return 1;
    }
    p->scanned = len;
    break;
  }
  case RK_UNTIL: {
    size_t safe, at = crater__socket_find(d, len, p->pat, p->plen, p->scanned, &safe);
    if (p->rn == 0) { /* all of it at once */
      if (at != NOT_FOUND) {
        lua_pushlstring(L, d, p->inclusive ? at + p->plen : at);
        consume(p, at + p->plen);
        return 1;
      }
    } else if (at == 0) { /* pieces: the end of this part */
      consume(p, p->plen);
      lua_pushnil(L);
      return 1;
    } else if (at != NOT_FOUND || safe >= p->rn) {
      size_t take = at != NOT_FOUND && at < p->rn ? at : p->rn;
      lua_pushlstring(L, d, take);
      consume(p, take);
      return 1;
    }
    p->scanned = safe;
    break;
  }
  case RK_ANY:
    if (len > 0) {
      size_t take = len < p->rn ? len : p->rn;
      lua_pushlstring(L, d, take);
      consume(p, take);
      return 1;
    }
    break;
  default: /* RK_ALL: at the end */
    break;
  }
  if (p->flags & P_EOF) {
    if (p->rkind == RK_ALL) {
      lua_pushlstring(L, d, len);
      consume(p, len);
      return 1;
    }
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
    push_unread(p, L);
    return -3;
  }
  if (p->read_err != 0) {
    lua_pushnil(L);
    lua_pushstring(L, read_error(p));
    push_unread(p, L);
    return -3;
  }
  return 0;
}

static int start_reading(peer *p) {
  if (p->flags & P_READING) return 0;
  int rc = uv_read_start(&p->h.stream, alloc_cb, read_cb);
  if (rc == 0) p->flags |= P_READING;
  return rc;
}

static void stop_reading(peer *p) {
  if (!(p->flags & P_READING)) return;
  p->flags &= ~P_READING;
  if (p->flags & P_HANDLE) uv_read_stop(&p->h.stream);
}

/* Reads go straight into the peer's buffer, after what is unread. */
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  peer *p = h->data;
  (void)suggested;
  if (p->in_pos > 0) { /* what was read goes; what was not moves to the front */
    memmove(p->in.data, p->in.data + p->in_pos, p->in.len - p->in_pos);
    p->in.len -= p->in_pos;
    p->in_pos = 0;
  }
  if (crater__buf_reserve(&p->in, READ_RESERVE) != 0) {
    buf->base = NULL;
    buf->len = 0; /* read_cb gets UV_ENOBUFS */
    return;
  }
  buf->base = p->in.data + p->in.len;
  buf->len = p->in.cap - p->in.len;
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  peer *p = st->data;
  (void)buf;
  if (nread == 0) return;
  if (nread > 0 && p->tls == NULL) {
    p->in.len += (size_t)nread;
  } else if (nread > 0) { /* records: decrypted over themselves, after the unread bytes */
    if (crater__tls_feed(p->tls, p->in.data + p->in.len, (size_t)nread) != 0) p->read_err = UV_ENOMEM;
    else if (p->op != OP_HANDSHAKE) decrypt(p);
  } else if (nread == UV_EOF) {
    p->flags |= P_EOF;
  } else {
    p->read_err = (int)nread;
  }
  if ((p->flags & P_EOF) || p->read_err != 0) stop_reading(p); /* nothing more will come */
  if (p->link.idle) {
    /* A pooled connection that talks, or goes, is of no use. (TLS records
     * that carry no data, such as session tickets, are no talk.) */
    if (p->in.len > p->in_pos || (p->flags & P_EOF) || p->read_err != 0) peer_close(p);
    return;
  }
  if (p->op == OP_HANDSHAKE) {
    if (p->flags & P_EOF) fail(p, "handshake failed: the peer closed the connection", 0);
    else if (p->read_err != 0) fail(p, read_error(p), 0);
    else handshake_step(p);
    return;
  }
  /* Input nobody asked for yet is kept, up to KEEP_BUF; then reading
   * stops until a receive takes some (backpressure on the peer). */
  if (p->op != OP_RECEIVE) {
    if (p->in.len - p->in_pos >= KEEP_BUF) stop_reading(p);
    return;
  }
  int n = satisfy(p, p->ut->L);
  if (n == 0) return;
  if (p->in.len - p->in_pos >= KEEP_BUF) stop_reading(p);
  sock *s = p->owner;
  crater__uthread *ut = end_op(p);
  if (n < 0) {
    n = -n;
    detach(s, p);
    peer_close(p);
  }
  wake(ut, s, n);
}

/* Pushes everything received and not read (the partial result of a failed
 * receive), which is read by that. */
static void push_unread(peer *p, lua_State *L) {
  size_t len = p->in.len - p->in_pos;
  lua_pushlstring(L, p->in.data ? p->in.data + p->in_pos : "", len);
  consume(p, len);
}

static void consume(peer *p, size_t n) {
  p->in_pos += n;
  if (p->in_pos < p->in.len) return;
  p->in.len = p->in_pos = 0;
  if (p->in.cap > KEEP_BUF) crater__buf_free(&p->in);
}

size_t crater__socket_find(const char *data, size_t len, const char *pat, size_t plen,
                           size_t from, size_t *safe) {
  assert(plen > 0 && from <= len);
  const char *d = data + from, *end = data + len;
  while ((size_t)(end - d) >= plen) {
    d = memchr(d, pat[0], (size_t)(end - d) - plen + 1);
    if (d == NULL) break;
    if (memcmp(d, pat, plen) == 0) {
      *safe = (size_t)(d - data);
      return *safe;
    }
    d++;
  }
  /* No match: the longest tail that begins the pattern may still become one. */
  size_t k = plen - 1 < len - from ? plen - 1 : len - from;
  for (; k > 0; k--)
    if (memcmp(end - k, pat, k) == 0) break;
  *safe = len - k;
  return NOT_FOUND;
}

size_t crater__socket_line(const char *data, size_t len, size_t from, size_t *line_len) {
  const char *nl = from < len ? memchr(data + from, '\n', len - from) : NULL;
  if (nl == NULL) return 0;
  size_t n = (size_t)(nl - data);
  *line_len = n > 0 && data[n - 1] == '\r' ? n - 1 : n;
  return n + 1;
}

/* ===================================================================== */
/*  TLS (tls.c)                                                             */
/* ===================================================================== */

/* The handshake goes on, from the loop: what came is taken, what it
 * answers is written; then more is read, or it is done. */
static void handshake_step(peer *p) {
  if (p->flags & P_WRITING) return; /* written() calls again */
  int r = crater__tls_handshake(p->tls, p->errbuf, sizeof(p->errbuf));
  if (r == CRATER__TLS_ERROR) {
    fail(p, p->errbuf, 0);
    return;
  }
  int rc = crater__tls_output(p->tls, &p->out) != 0 ? UV_ENOMEM : try_write_out(p);
  if (rc == 0 && p->out.len > 0) rc = write_out(p);
  if (rc == 0 && r == CRATER__TLS_MORE && !(p->flags & P_WRITING)) rc = start_reading(p);
  if (rc != 0) {
    fail(p, errstr(rc), 0);
    return;
  }
  if (r == CRATER__TLS_MORE || (p->flags & P_WRITING)) return;
  /* Done. What came after the handshake is data. */
  stop_reading(p);
  decrypt(p);
  sock *s = p->owner;
  crater__uthread *ut = end_op(p);
  lua_pushboolean(ut->L, 1);
  wake(ut, s, 1);
}

/* Decrypts the records fed so far into p->in. */
static void decrypt(peer *p) {
  int r = crater__tls_read(p->tls, &p->in, p->errbuf, sizeof(p->errbuf));
  if (r == CRATER__TLS_EOF) p->flags |= P_EOF;
  else if (r == CRATER__TLS_ERROR) p->read_err = READ_ERR_TLS;
}

static const char *read_error(const peer *p) {
  return p->read_err == READ_ERR_TLS ? p->errbuf : errstr(p->read_err);
}

/* ===================================================================== */
/*  Pooled connections                                                     */
/* ===================================================================== */

/* The table at key in L's registry, made on first use, pushed. What a
 * generation keeps for its sockets lives there, as userdata whose __gc
 * frees it when the generation's state closes: by then all its requests
 * have ended. */
static void state_table(lua_State *L, const void *key) {
  lua_pushlightuserdata(L, (void *)key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (lua_istable(L, -1)) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushlightuserdata(L, (void *)key);
  lua_pushvalue(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

static const char pools_key = 0;    /* their addresses key the tables */
static const char contexts_key = 0;

static int pool_gc(lua_State *L) {
  crater__pool_drain(lua_touserdata(L, 1));
  return 0;
}

/* The pool of that name in L's generation, made if there is none.
 * NOTE: Lua allocates it: out of memory raises, as any Lua call may. */
static crater__pool *pool_find(lua_State *L, const char *name, size_t len) {
  state_table(L, &pools_key);
  lua_pushlstring(L, name, len);
  lua_rawget(L, -2);
  crater__pool *p = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (p == NULL) {
    p = lua_newuserdata(L, sizeof(*p) + len + 1);
    memset(p, 0, sizeof(*p));
    crater__pool_init(p, name, len);
    if (luaL_newmetatable(L, POOL_MT)) {
      lua_pushcfunction(L, pool_gc);
      lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    lua_pushlstring(L, name, len);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return p;
}

static int tls_context_gc(lua_State *L) {
  crater__tls_ctx **slot = lua_touserdata(L, 1);
  crater__tls_context_free(*slot);
  return 0;
}

/* The TLS context for cafile (NULL: the system's CA store) in L's
 * generation, made on first use. NULL with a message when it cannot be. */
static crater__tls_ctx *tls_context(lua_State *L, const char *cafile, char *err, size_t errlen) {
  const char *key = cafile ? cafile : "";
  state_table(L, &contexts_key);
  lua_getfield(L, -1, key);
  crater__tls_ctx **slot = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (slot == NULL) {
    slot = lua_newuserdata(L, sizeof(*slot));
    *slot = NULL;
    if (luaL_newmetatable(L, TLS_CTX_MT)) {
      lua_pushcfunction(L, tls_context_gc);
      lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    *slot = crater__tls_context_new(cafile, err, errlen);
    if (*slot != NULL) lua_setfield(L, -2, key);
    else lua_pop(L, 1); /* not kept: the next handshake tries again */
  }
  lua_pop(L, 1);
  return *slot;
}

/* The pool evicts an idle connection, or its state closes. */
static void pool_drop(crater__pool_conn *pc) { peer_close(PEER_OF(pc, link)); }

/* p is idle in its pool: it keeps reading (anything closes it), times out,
 * and does not keep the loop alive. */
static void go_idle(peer *p) {
  if (start_reading(p) != 0) {
    peer_close(p);
    return;
  }
  uv_unref(&p->h.handle);
  uv_unref((uv_handle_t *)&p->timer);
  if (p->idle_ms > 0) uv_timer_start(&p->timer, timer_cb, p->idle_ms, 0);
}

/* ===================================================================== */
/*  Helpers                                                                */
/* ===================================================================== */

/* The stable error strings (docs/sockets.md); libuv's message otherwise. */
static const char *errstr(int err) {
  switch (err) {
  case UV_ECONNREFUSED: return "connection refused";
  case UV_ECONNRESET: return "connection reset";
  case UV_EPIPE: return "broken pipe";
  case UV_ETIMEDOUT: return "timeout";
  case UV_ENOBUFS:
  case UV_ENOMEM: return "no memory";
  case UV_EOF:
  case UV_ECANCELED: return "closed";
  default: return uv_strerror(err);
  }
}
