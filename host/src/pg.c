/* pg.c - PostgreSQL on the loop (see pg.h).
 *
 * libpq's own connect and lookup block, and its connect_timeout is not
 * enforced in non-blocking mode, so: connections are opened by
 * pg_connect.c (names looked up on the thread pool, PQconnectPoll driven
 * by a uv_poll), queries are driven by a uv_poll on PQsocket, and every
 * wait has a loop timer.
 *
 * Ownership: a pool (a Lua userdata) owns its connections (C memory). A
 * request holds one through a lease (a small userdata bound to its task):
 * when the task ends or the lease is collected while it still holds a
 * connection, the connection is closed -- it may be mid-query or
 * mid-transaction, so it cannot go back to the pool. */
#include "pg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <lauxlib.h>
#include <libpq-fe.h>
#include <uv.h>

#include "alloc.h"
#include "log.h"
#include "pg_connect.h"
#include "pg_result.h"
#include "pg_stmt.h"
#include "server.h"
#include "task.h"

#define POOL_MT "crater.pg.pool"
#define LEASE_MT "crater.pg.lease"

typedef struct pg_pool pg_pool;
typedef struct pg_conn pg_conn;
typedef struct pg_lease pg_lease;
typedef struct pg_op pg_op;
typedef struct pg_waiter pg_waiter;

struct pg_conn {
  pg_pool *pool;
  PGconn *pq;
  pg_conn *next, *prev;  /* pool->all */
  pg_conn *idle_next;    /* pool->idle, while idle */
  pg_lease *lease;       /* while held */
  pg_op *op;             /* while a query or wait runs */
  uint64_t born_ms, idle_since_ms;
  int dedicated;         /* not counted in the pool's size, never pooled */
  crater__pg_stmts stmts; /* prepared on this connection */
  int doomed;            /* closed instead of pooled when released */
  uv_timer_t *idle_timer; /* closes it when idle too long (runs while idle) */
  /* Made once connected and kept to the end: libuv's uv_poll_start and
   * uv_poll_stop each remove the fd from epoll, so a poll per query costs
   * about six epoll_ctl calls and an ioctl; a watch that stays readable
   * costs none, and sees a server closing an idle connection. */
  uv_poll_t *poll;
  int watching;          /* the events watched now (0: stopped) */
  int handed;            /* given to a waiter that has not woken yet */
  /* Shared (a pool with pipeline on): the queries of several requests,
   * in segments of one round trip (see "Shared connections"). */
  int shared;
  pg_op *sq_wait, *sq_wait_tail;  /* queued for the next segment */
  pg_op *sq_sent, *sq_sent_tail;  /* sent, their results to come in order */
  int sq_n;                       /* both together */
  int sq_state;                   /* what the next result is (SQ_*) */
};

struct pg_lease {
  pg_conn *c;
  crater__task *task;
  crater__task_cleanup cleanup; /* in the task's list while task is set */
};

struct pg_waiter {
  int listed;
  pg_pool *pool;
  crater__uthread *ut;
  uv_timer_t timer;
  pg_conn *conn;         /* handed to it, from then until it wakes */
  pg_waiter *next;
};

struct pg_pool {
  crater_server *srv;
  crater__pg_target target;
  int pipeline;          /* autocommit queries may share connections */
  uv_check_t *flush;     /* sends the segments a turn of the loop queued */
  double shared_ops;     /* queries sent in segments of several (for stats) */
  int size, total;       /* total: connections counted, connecting ones too */
  uint64_t idle_ms, life_ms;
  pg_conn *all, *idle;
  pg_waiter *waiters, *waiters_tail;
};

enum { OP_CONNECT, OP_QUERY, OP_NOTIFY };

/* One result group of a batch, in the order libpq gives them: a query's
 * Prepare (when the batch prepares its statement), then its Execute. */
typedef struct {
  PGresult *res;  /* the first error wins */
  int query;      /* the batch's query it belongs to, from 0 */
  int prepare;    /* the Prepare of a statement this batch added to the cache */
  int by_name;    /* an Execute of a statement prepared before the batch */
  uint32_t id;    /* that statement's */
  int named;      /* an Execute by name (of id): results of one shape */
} pg_slot;

struct pg_op {
  int kind;
  crater_server *srv;
  pg_pool *pool;
  pg_conn *c;
  crater__uthread *ut;   /* NULL once cancelled */
  uv_timer_t timer;
  crater__pg_connector *connector; /* while connecting */
  int timer_open;
  int dedicated;
  int timed_out;
  uint64_t timeout_ms;
  PGresult *res;         /* a query's result (the first error wins) */
  int *early;            /* set while the beginning C function runs: see op_resume */
  /* A query run by the name of a statement prepared before: a stale one
   * is forgotten when it fails (see stale_kind). */
  int by_name;
  uint32_t stmt_id;
  /* A query whose statement is being prepared first: what to run once it is. */
  int preparing;
  char *sql;
  size_t sql_len;
  int nparams;
  const char **pvals;
  int *plens, *pfmts;
  char *pending;         /* one block holding the above */
  /* A batch (pipeline mode) of `batch` queries: nslots results to read. */
  int batch, got, nslots;
  pg_slot *slots;
  uint32_t first_new; /* the statements of ids from here were prepared by the batch */
  /* A query on a shared connection: linked in its queues until its results
   * are read (it is freed only then, even when cancelled or timed out). */
  int shared, linked;
  int seg_set, seg_last, seg_multi; /* first, last of its segment; one of several */
  int sq_kind;                      /* how it ended (SR_*) */
  pg_op *snext;
};

/* crater.json.null, which stands for SQL NULL (set by pg.lua) */
#define NULL_KEY "crater.pg.null"

#define LEASE_OF(ptr) ((pg_lease *)(void *)((char *)(ptr) - offsetof(pg_lease, cleanup)))

static void pool_kick(pg_pool *p);

/* ---------------------------------------------------------------------- */
/*  Connections                                                            */
/* ---------------------------------------------------------------------- */

static void conn_link(pg_pool *p, pg_conn *c) {
  c->pool = p;
  c->prev = NULL;
  c->next = p->all;
  if (p->all) p->all->prev = c;
  p->all = c;
}

static void idle_remove(pg_pool *p, pg_conn *c) {
  for (pg_conn **pp = &p->idle; *pp; pp = &(*pp)->idle_next) {
    if (*pp == c) {
      *pp = c->idle_next;
      c->idle_next = NULL;
      return;
    }
  }
}

static void handle_free(uv_handle_t *h) { crater__free(h); }

/* Before the socket closes: libuv must forget the fd first. */
static void conn_unwatch(pg_conn *c) {
  if (c->poll) uv_close((uv_handle_t *)c->poll, handle_free);
  c->poll = NULL;
  c->watching = 0;
}

/* Closes c for good; a slot of the pool frees up. */

static void conn_discard(pg_conn *c) {
  pg_pool *p = c->pool;
  if (c->idle_timer) {
    uv_timer_stop(c->idle_timer);
    uv_close((uv_handle_t *)c->idle_timer, handle_free);
    c->idle_timer = NULL;
  }
  if (c->lease) {
    c->lease->c = NULL;
    c->lease = NULL;
  }
  conn_unwatch(c);
  if (c->pq) PQfinish(c->pq);
  crater__pg_stmt_free(&c->stmts);
  if (p) {
    idle_remove(p, c);
    if (c->prev) c->prev->next = c->next;
    else p->all = c->next;
    if (c->next) c->next->prev = c->prev;
    if (!c->dedicated) p->total--;
  }
  crater__free(c);
  if (p) pool_kick(p);
}

static void idle_expired(uv_timer_t *t) {
  pg_conn *c = t->data;
  conn_discard(c); /* it is idle: nobody holds it */
}

/* Closes c once it has been idle for the pool's idle timeout, or at the
 * end of its lifetime, unless it is taken before. Server backends are
 * dear: an idle connection should not wait for the next query to go. */
static void idle_timer_start(pg_conn *c) {
  pg_pool *p = c->pool;
  uint64_t now = uv_now(p->srv->loop), ms = p->idle_ms;
  if (p->life_ms) {
    uint64_t left = c->born_ms + p->life_ms > now ? c->born_ms + p->life_ms - now : 1;
    if (ms == 0 || left < ms) ms = left;
  }
  if (ms == 0) return;
  if (c->idle_timer == NULL) {
    c->idle_timer = crater__malloc(sizeof(*c->idle_timer));
    if (c->idle_timer == NULL) return; /* then it is checked when next taken */
    uv_timer_init(p->srv->loop, c->idle_timer);
    uv_unref((uv_handle_t *)c->idle_timer);
    c->idle_timer->data = c;
  }
  uv_timer_start(c->idle_timer, idle_expired, ms, 0);
}

#define CONN_CHECK_AFTER_MS 1000

/* An idle connection that still looks usable: the server may have closed
 * it (restart, pg_terminate_backend) while it sat in the pool. */
static int conn_alive(pg_conn *c, uint64_t now, const pg_pool *p) {
  if (PQstatus(c->pq) != CONNECTION_OK) return 0;
  if (p->life_ms && now - c->born_ms >= p->life_ms) return 0;
  if (p->idle_ms && now - c->idle_since_ms >= p->idle_ms) return 0;
  /* Under load a connection is idle for microseconds, and its readable
   * watch has taken in whatever the server sent before (a close
   * included): the two system calls below are for ones idle longer, whose
   * close may sit in the same batch of events as this request. */
  if (c->watching && now - c->idle_since_ms < CONN_CHECK_AFTER_MS) return 1;
  if (!PQconsumeInput(c->pq) || PQstatus(c->pq) != CONNECTION_OK) return 0;
  char b;
  ssize_t n = recv(PQsocket(c->pq), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return 0; /* the server closed it */
  PGnotify *nf;
  while ((nf = PQnotifies(c->pq)) != NULL) PQfreemem(nf);
  return 1;
}

/* ---------------------------------------------------------------------- */
/*  Leases                                                                 */
/* ---------------------------------------------------------------------- */

static void lease_task_ended(crater__task_cleanup *cl) {
  pg_lease *l = LEASE_OF(cl);
  l->task = NULL;
  if (l->c) conn_discard(l->c);
}

static void lease_push(lua_State *L, crater__task *task, pg_conn *c) {
  pg_lease *l = lua_newuserdata(L, sizeof(*l));
  memset(l, 0, sizeof(*l));
  luaL_getmetatable(L, LEASE_MT);
  lua_setmetatable(L, -2);
  l->c = c;
  c->lease = l;
  l->task = task;
  l->cleanup.fn = lease_task_ended;
  crater__task_defer(task, &l->cleanup);
}

static int lease_gc(lua_State *L) {
  pg_lease *l = lua_touserdata(L, 1);
  if (l->task) crater__task_undefer(&l->cleanup);
  l->task = NULL;
  if (l->c) conn_discard(l->c);
  return 0;
}

/* The lease at index 1, holding a connection, used by its own task. */
static pg_conn *held(lua_State *L, crater_server *srv) {
  pg_lease *l = luaL_checkudata(L, 1, LEASE_MT);
  if (l->c == NULL) luaL_error(L, "crater.pg: this connection was released or closed");
  crater__uthread *cur = srv->current;
  if (l->task == NULL || cur == NULL || cur->task != l->task)
    luaL_error(L, "crater.pg: this connection belongs to another request");
  if (l->c->op) luaL_error(L, "crater.pg: this connection is busy with another query");
  return l->c;
}

/* ---------------------------------------------------------------------- */
/*  Errors                                                                 */
/* ---------------------------------------------------------------------- */

static void set_field(lua_State *L, const char *k, const char *v) {
  if (v == NULL) return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

/* nil, { code =, message = } for an error without a server's result. */
static int push_err(lua_State *L, const char *code, const char *msg) {
  lua_pushnil(L);
  lua_createtable(L, 0, 3);
  set_field(L, "code", code);
  /* libpq's messages end with a newline */
  size_t n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) n--;
  lua_pushlstring(L, msg, n);
  lua_setfield(L, -2, "message");
  set_field(L, "severity", "ERROR");
  return 2;
}

static int push_res_err(lua_State *L, const PGresult *r) {
  lua_pushnil(L);
  crater__pg_push_error(L, r);
  return 2;
}

/* ---------------------------------------------------------------------- */
/*  Operations on the loop                                                 */
/* ---------------------------------------------------------------------- */

static void op_try_free(pg_op *op) {
  if (!op->timer_open && !op->linked) crater__free(op);
}

static void timer_closed(uv_handle_t *h) {
  pg_op *op = h->data;
  op->timer_open = 0;
  op_try_free(op);
}

static int conn_watch(pg_conn *c, int events);

/* Releases the op's handles; it is freed once they have closed. */
static void op_end(pg_op *op) {
  if (op->connector) crater__pg_connect_cancel(op->connector);
  op->connector = NULL;
  pg_conn *c = op->c;
  if (c && c->op == op) {
    c->op = NULL;
    if (c->poll) {
      uv_unref((uv_handle_t *)c->poll); /* an idle connection keeps no loop alive */
      if (c->watching & UV_WRITABLE) conn_watch(c, UV_READABLE);
    }
  }
  if (op->res) PQclear(op->res);
  op->res = NULL;
  crater__free(op->pending);
  op->pending = NULL;
  for (int i = 0; op->slots && i < op->nslots; i++)
    if (op->slots[i].res) PQclear(op->slots[i].res);
  crater__free(op->slots);
  op->slots = NULL;
  if (op->timer_open) {
    uv_timer_stop(&op->timer);
    uv_close((uv_handle_t *)&op->timer, timer_closed);
  }
  op_try_free(op);
}

static void on_conn_poll(uv_poll_t *h, int status, int events);

/* Watches a connected c for events (0: none), through its lasting poll. */
static int conn_watch(pg_conn *c, int events) {
  if (c->poll == NULL) {
    uv_poll_t *h = crater__malloc(sizeof(*h));
    if (h == NULL) return -1;
    if (uv_poll_init_socket(c->pool->srv->loop, h, PQsocket(c->pq)) != 0) {
      crater__free(h);
      return -1;
    }
    h->data = c;
    uv_unref((uv_handle_t *)h);
    c->poll = h;
    c->watching = 0;
  }
  if (events == c->watching) return 0;
  int rc = events ? uv_poll_start(c->poll, events, on_conn_poll) : uv_poll_stop(c->poll);
  c->watching = rc == 0 ? events : 0;
  return rc;
}

/* The op waits on its connection's events (and keeps the loop alive). */
static int op_watch_conn(pg_op *op, int events) {
  if (conn_watch(op->c, events) != 0) return -1;
  uv_ref((uv_handle_t *)op->c->poll);
  return 0;
}

/* The op is over: the results are on ut->L, nresults of them. */
static void op_resume(pg_op *op, int nresults) {
  crater__uthread *ut = op->ut;
  int *early = op->early;
  op->ut = NULL;
  op_end(op);
  if (early) { /* inside the function that began it: it returns the results */
    *early = nresults;
    crater__task_unwait(ut);
    return;
  }
  crater__task_resume(ut, nresults);
}

static void op_fail(pg_op *op, const char *code, const char *msg) {
  push_err(op->ut->L, code, msg);
  op_resume(op, 2);
}

/* The op could not begin: the function that made it returns nil, err at
 * once (its task never waited). */
static int op_refuse(lua_State *L, pg_op *op, const char *code, const char *msg) {
  crater__uthread *ut = op->ut;
  if (op->c && op->c->op == op) op->c->op = NULL;
  op->c = NULL;
  op->ut = NULL;
  op_end(op);
  crater__task_unwait(ut);
  return push_err(L, code, msg);
}

/* A connect that ends without a connection: its slot of the pool frees up. */
static void connect_abandoned(pg_pool *p, int dedicated) {
  if (!dedicated) p->total--;
  pool_kick(p);
}

static void shared_drop_if_unwaited(pg_conn *c);

static void op_cancel(void *data) {
  pg_op *op = data;
  op->ut = NULL;
  if (op->shared) { /* its result is dropped when it comes; the others' are not */
    op_end(op);
    return;
  }
  pg_conn *c = op->c;
  pg_pool *p = op->pool;
  int kind = op->kind, dedicated = op->dedicated;
  op->c = NULL;
  if (c) c->op = NULL;
  op_end(op);
  if (c) conn_discard(c); /* mid-query: the server is told by the connection closing */
  else if (kind == OP_CONNECT) connect_abandoned(p, dedicated);
}

static void on_timeout(uv_timer_t *t) {
  pg_op *op = t->data;
  op->timed_out = 1;
  char msg[128];
  pg_conn *c = op->c;
  pg_pool *p = op->pool;
  int kind = op->kind;
  if (kind == OP_NOTIFY) {
    lua_pushnil(op->ut->L);
    lua_pushliteral(op->ut->L, "timeout");
    op_resume(op, 2);
    return;
  }
  if (op->shared) {
    /* The connection serves other requests: it takes no new queries and
     * is closed once the ones sent are answered, or at once when nobody
     * waits on it any more: a stuck query then holds no slot of the pool. */
    if (c) c->doomed = 1;
    snprintf(msg, sizeof(msg), "crater.pg: the query timed out after %.3g s",
             (double)op->timeout_ms / 1000.0);
    op_fail(op, "57014", msg);
    if (c) shared_drop_if_unwaited(c);
    return;
  }
  op->c = NULL;
  if (c) c->op = NULL;
  snprintf(msg, sizeof(msg), "crater.pg: %s timed out after %.3g s",
           kind == OP_QUERY ? "the query" : "connecting", (double)op->timeout_ms / 1000.0);
  /* Closed before the task resumes, so that its code never sees it; the
   * server stops a query still running once it notices the client gone
   * (libpq 15 has no cancel that does not block). */
  if (c) {
    conn_discard(c);
  } else if (kind == OP_CONNECT) {
    if (op->connector) crater__pg_connect_cancel(op->connector);
    op->connector = NULL;
    connect_abandoned(p, op->dedicated);
  }
  op_fail(op, kind == OP_QUERY ? "57014" : "08001", msg);
}

/* pg_connect.c's answer: a connection for the waiting task, or its error. */
/* libpq prints the server's notices and messages it reads outside a query
 * (a FATAL before a close) to stderr; they go to the server's log instead,
 * warnings and worse as warnings, notices (CREATE TABLE IF NOT EXISTS'
 * "already exists, skipping") as debug records. */
static void on_notice(void *arg, const char *msg) {
  size_t n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) n--;
  int quiet = strncmp(msg, "NOTICE", 6) == 0 || strncmp(msg, "INFO", 4) == 0 ||
              strncmp(msg, "DEBUG", 5) == 0 || strncmp(msg, "LOG", 3) == 0;
  crater__log(arg, quiet ? CRATER_LOG_DEBUG : CRATER_LOG_WARN, "postgresql: %.*s", (int)n, msg);
}

static void on_connected(void *data, PGconn *pq, const char *err) {
  pg_op *op = data;
  pg_pool *p = op->pool;
  int dedicated = op->dedicated;
  op->connector = NULL;
  pg_conn *c = pq ? crater__calloc(1, sizeof(*c)) : NULL;
  if (c == NULL) {
    if (pq) PQfinish(pq);
    op_fail(op, "08001", pq ? "crater.pg: out of memory" : err);
    connect_abandoned(p, dedicated);
    return;
  }
  c->pq = pq;
  PQsetNoticeProcessor(pq, on_notice, op->srv);
  c->dedicated = op->dedicated;
  c->born_ms = c->idle_since_ms = uv_now(op->srv->loop);
  conn_link(p, c);
  lease_push(op->ut->L, op->ut->task, c);
  op_resume(op, 1);
}

/* The statement is prepared: runs it with the parameters kept meanwhile. */
static void run_prepared(pg_op *op) {
  pg_conn *c = op->c;
  PQclear(op->res);
  op->res = NULL;
  op->preparing = 0;
  int idx = crater__pg_stmt_add(&c->stmts, op->sql, op->sql_len);
  char name[32];
  snprintf(name, sizeof(name), "crater_%u", idx >= 0 ? (unsigned)c->stmts.items[idx].id : 0u);
  int ok = idx >= 0 && PQsendQueryPrepared(c->pq, name, op->nparams, op->pvals, op->plens, op->pfmts, 0);
  crater__free(op->pending);
  op->pending = NULL;
  int f = ok ? PQflush(c->pq) : -1;
  if (f < 0) {
    char msg[512];
    snprintf(msg, sizeof(msg), "crater.pg: cannot send the query: %s",
             idx < 0 ? "out of memory" : PQerrorMessage(c->pq));
    /* a statement prepared but not remembered: the connection must go */
    pg_conn *gone = c;
    op->c = NULL;
    gone->op = NULL;
    conn_discard(gone);
    op_fail(op, "08006", msg);
    return;
  }
  if (op_watch_conn(op, f == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE) != 0)
    op_fail(op, "08006", "crater.pg: cannot watch the connection's socket");
}

/* Whether a statement run by name failed for being stale: 2 when the
 * server has none of the connection's statements any more (26000, after
 * DISCARD ALL or DEALLOCATE ALL, behind a pooler too), 1 when this one
 * must be prepared again (0A000 from the plan cache: its result columns
 * changed after DDL; the source file tells it from other 0A000 errors,
 * whatever the server's language), else 0. Either failed before running
 * anything. */
static int stale_kind(const PGresult *r) {
  const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  if (state == NULL) return 0;
  if (strcmp(state, "26000") == 0) return 2;
  const char *file = PQresultErrorField(r, PG_DIAG_SOURCE_FILE);
  if (strcmp(state, "0A000") == 0 && (file == NULL || strcmp(file, "plancache.c") == 0)) return 1;
  return 0;
}

/* Forgets what a stale statement (stale_kind) of that id makes unusable,
 * so that its next use prepares it again: kind 2, every statement
 * prepared before `since` (a batch's own, prepared after the server
 * dropped the others, are still there). */
static void stale_forget(pg_conn *c, int kind, uint32_t id, uint32_t since) {
  if (kind == 2) crater__pg_stmt_forget_before(&c->stmts, since);
  else if (kind == 1) crater__pg_stmt_forget(&c->stmts, id);
}

/* Pushes what pg.lua needs to run a stale statement's query again: the
 * name of the stale statement, still on the server, to deallocate first
 * (kind 1), or true (kind 2: the server has none left). */
static int stale_push(lua_State *L, int kind, uint32_t id) {
  if (kind == 1) {
    char name[32];
    snprintf(name, sizeof(name), "crater_%u", (unsigned)id);
    lua_pushstring(L, name);
  } else {
    lua_pushboolean(L, 1);
  }
  return 1;
}

/* Keeps r as a query's result in *slot, unless an error is there: the
 * first error is the one to report. */
static void keep_result(PGresult **slot, PGresult *r) {
  if (*slot && PQresultStatus(*slot) == PGRES_FATAL_ERROR) {
    PQclear(r);
    return;
  }
  if (*slot) PQclear(*slot);
  *slot = r;
}

/* "the connection was lost" with libpq's words, into msg. */
static const char *lost_msg(char *msg, size_t size, PGconn *pq) {
  snprintf(msg, size, "crater.pg: the connection was lost: %s", PQerrorMessage(pq));
  return msg;
}

/* A query's input: results until PQgetResult says none is left. */
static void query_read(pg_op *op) {
  pg_conn *c = op->c;
  if (!PQconsumeInput(c->pq)) goto lost;
  while (!PQisBusy(c->pq)) {
    PGresult *r = PQgetResult(c->pq);
    if (r == NULL && op->preparing && op->res && PQresultStatus(op->res) != PGRES_FATAL_ERROR) {
      run_prepared(op);
      return;
    }
    if (r == NULL) {
      lua_State *L = op->ut->L;
      int n;
      if (op->res == NULL) {
        goto lost;
      } else if (PQresultStatus(op->res) == PGRES_FATAL_ERROR) {
        n = push_res_err(L, op->res);
        /* libpq's own errors (a lost connection) come without a SQLSTATE */
        if (PQresultErrorField(op->res, PG_DIAG_SQLSTATE) == NULL) {
          lua_pushstring(L, PQstatus(c->pq) != CONNECTION_OK ? "08006" : "08000");
          lua_setfield(L, -2, "code");
        }
        int stale = op->by_name ? stale_kind(op->res) : 0;
        if (stale) {
          stale_forget(c, stale, op->stmt_id, c->stmts.next_id);
          n += stale_push(L, stale, op->stmt_id);
        }
      } else {
        lua_getfield(L, LUA_REGISTRYINDEX, NULL_KEY);
        crater__pg_push_rows(L, op->res, lua_gettop(L), 0);
        lua_remove(L, -2);
        n = 1;
      }
      op_resume(op, n);
      return;
    }
    keep_result(&op->res, r);
  }
  return;
lost: {
  char msg[512];
  op_fail(op, "08006", lost_msg(msg, sizeof(msg), c->pq));
}
}

static void notify_read(pg_op *op) {
  pg_conn *c = op->c;
  if (!PQconsumeInput(c->pq)) {
    char msg[512];
    op_fail(op, "08006", lost_msg(msg, sizeof(msg), c->pq));
    return;
  }
  PGnotify *nf = PQnotifies(c->pq);
  if (nf == NULL) return;
  lua_State *L = op->ut->L;
  lua_createtable(L, 0, 3);
  set_field(L, "channel", nf->relname);
  set_field(L, "payload", nf->extra);
  lua_pushnumber(L, nf->be_pid);
  lua_setfield(L, -2, "pid");
  PQfreemem(nf);
  op_resume(op, 1);
}

/* A batch's results, up to the sync that ends it. Resumes with an array
 * of rows or error tables, the index of the first error (0: none), and
 * when the batch failed on a stale statement, stale_push's value and
 * whether it may run again (nothing of it ran before). */
static void batch_done(pg_op *op) {
  pg_conn *c = op->c;
  if (PQexitPipelineMode(c->pq) != 1) c->doomed = 1;
  /* A Prepare that failed, or never ran after an error, made no statement */
  for (int s = 0; s < op->nslots; s++) {
    const pg_slot *sl = &op->slots[s];
    if (sl->prepare && (sl->res == NULL || PQresultStatus(sl->res) != PGRES_COMMAND_OK))
      crater__pg_stmt_forget(&c->stmts, sl->id);
  }
  int failed = -1; /* the slot of the error that aborted the rest */
  for (int s = 0; s < op->nslots && failed < 0; s++)
    if (op->slots[s].res && PQresultStatus(op->slots[s].res) == PGRES_FATAL_ERROR) failed = s;
  int stale = 0, rerun = 0;
  if (failed >= 0 && op->slots[failed].by_name) {
    stale = stale_kind(op->slots[failed].res);
    stale_forget(c, stale, op->slots[failed].id, op->first_new);
    /* Run again only if no Execute came before it: those ran, and even a
     * SELECT may have had effects a rollback does not undo (a sequence, a
     * session's advisory lock). Prepares before it have none. */
    rerun = stale != 0;
    for (int s = 0; s < failed; s++)
      if (!op->slots[s].prepare) rerun = 0;
  }
  lua_State *L = op->ut->L;
  lua_getfield(L, LUA_REGISTRYINDEX, NULL_KEY);
  int nullidx = lua_gettop(L);
  lua_pushnil(L); /* the last rows of a statement run by name, to share its shape */
  int like = lua_gettop(L), have_like = 0;
  uint32_t like_id = 0;
  lua_createtable(L, op->batch, 0);
  int first_error = 0;
  for (int s = 0; s < op->nslots; s++) {
    const pg_slot *sl = &op->slots[s];
    if (sl->prepare) continue;
    PGresult *r = sl->res;
    /* its statement could not be prepared: that error is the query's */
    if (s > 0 && op->slots[s - 1].prepare && op->slots[s - 1].res &&
        PQresultStatus(op->slots[s - 1].res) == PGRES_FATAL_ERROR)
      r = op->slots[s - 1].res;
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (r && st != PGRES_FATAL_ERROR && st != PGRES_PIPELINE_ABORTED) {
      int same = sl->named && have_like && like_id == sl->id;
      crater__pg_push_rows(L, r, nullidx, same ? like : 0);
      if (sl->named && !same) {
        lua_pushvalue(L, -1);
        lua_replace(L, like);
        like_id = sl->id;
        have_like = 1;
      }
    } else {
      if (first_error == 0) first_error = sl->query + 1;
      if (r && st == PGRES_FATAL_ERROR) {
        crater__pg_push_error(L, r);
      } else {
        lua_createtable(L, 0, 2);
        set_field(L, "code", "25P02");
        set_field(L, "message", "not run: an earlier statement of the batch failed");
      }
    }
    lua_rawseti(L, -2, sl->query + 1);
  }
  lua_remove(L, like);
  lua_remove(L, nullidx);
  lua_pushinteger(L, first_error);
  int n = 2;
  if (stale) {
    n += stale_push(L, stale, op->slots[failed].id);
    lua_pushboolean(L, rerun);
    n++;
  }
  op_resume(op, n);
}

static void batch_read(pg_op *op) {
  pg_conn *c = op->c;
  if (!PQconsumeInput(c->pq)) {
    char msg[512];
    op_fail(op, "08006", lost_msg(msg, sizeof(msg), c->pq));
    return;
  }
  while (!PQisBusy(c->pq)) {
    PGresult *r = PQgetResult(c->pq);
    if (r == NULL) { /* the end of one slot's results */
      if (op->got >= op->nslots) return;
      op->got++;
      continue;
    }
    if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      batch_done(op);
      return;
    }
    int i = op->got < op->nslots ? op->got : op->nslots - 1;
    keep_result(&op->slots[i].res, r);
  }
}

/* Events on a connected connection for the op waiting on it. */
static void op_event(pg_op *op, int status, int events) {
  if (status < 0 && op->kind == OP_NOTIFY) {
    op_fail(op, "08006", "crater.pg: the connection was lost");
    return;
  }
  if (op->kind == OP_QUERY && (events & UV_WRITABLE)) {
    int f = PQflush(op->c->pq);
    if (f < 0) {
      op_fail(op, "08006", "crater.pg: the connection was lost while sending");
      return;
    }
    if (f == 0) conn_watch(op->c, UV_READABLE);
  }
  if (status < 0 || (events & UV_READABLE)) {
    if (op->kind == OP_QUERY) {
      if (op->batch) batch_read(op);
      else query_read(op);
    } else {
      notify_read(op);
    }
  }
}

static void shared_event(pg_conn *c, int status, int events);

static void on_conn_poll(uv_poll_t *h, int status, int events) {
  pg_conn *c = h->data;
  pg_op *op = c->op;
  /* On POLLERR (a reset) libuv stops the watch and reports an error. */
  if (status < 0) c->watching = 0;
  if (c->shared) {
    shared_event(c, status, events);
    return;
  }
  if (op) {
    /* Watched again before the op reads: data may precede the reset, and
     * then the response is not complete yet; the next read meets recv's
     * error and ends the op. Without this it waited for its timeout. */
    if (status < 0) conn_watch(c, UV_READABLE);
    if (op->ut) op_event(op, status, events);
    return;
  }
  /* Nobody waits on it: take in what came (a notice, a notification, the
   * server's goodbye), or the readable socket would wake the loop again. */
  char b;
  if (status == 0 && PQconsumeInput(c->pq) && PQstatus(c->pq) == CONNECTION_OK &&
      /* a server ending it sends its reason and closes at once: both are
       * seen now, not in a later turn of the loop that a request could
       * beat (the recv is paid only when an idle connection hears) */
      recv(PQsocket(c->pq), &b, 1, MSG_PEEK | MSG_DONTWAIT) != 0) {
    PGnotify *nf;
    /* a listener's notifications wait for its next notifies() */
    while (!c->dedicated && (nf = PQnotifies(c->pq)) != NULL) PQfreemem(nf);
    return;
  }
  if (c->lease == NULL && !c->handed) { /* idle in the pool: a slot frees up */
    conn_discard(c);
    return;
  }
  /* held between queries, or handed to a waiter: its next query reports
   * the loss (freeing it here would leave the waiter holding nothing) */
  c->doomed = 1;
  conn_watch(c, 0);
}

static pg_op *op_new(crater_server *srv, lua_State *L, int kind, uint64_t timeout_ms) {
  pg_op *op = crater__calloc(1, sizeof(*op));
  if (op == NULL) return NULL;
  const char *why;
  crater__uthread *ut = crater__task_wait(srv, L, op_cancel, op, &why);
  if (ut == NULL) {
    crater__free(op);
    lua_error(L); /* why is on the stack */
  }
  op->kind = kind;
  op->srv = srv;
  op->ut = ut;
  op->timeout_ms = timeout_ms;
  uv_timer_init(srv->loop, &op->timer);
  op->timer.data = op;
  op->timer_open = 1;
  if (timeout_ms) uv_timer_start(&op->timer, on_timeout, timeout_ms, 0);
  return op;
}

/* ---------------------------------------------------------------------- */
/*  The pool                                                               */
/* ---------------------------------------------------------------------- */

static void waiter_closed(uv_handle_t *h) { crater__free(h->data); }

static void waiter_delist(pg_waiter *w) {
  pg_pool *p = w->pool;
  pg_waiter *prev = NULL;
  if (!w->listed) return;
  w->listed = 0;
  for (pg_waiter *x = p->waiters; x; prev = x, x = x->next) {
    if (x != w) continue;
    if (prev) prev->next = w->next;
    else p->waiters = w->next;
    if (p->waiters_tail == w) p->waiters_tail = prev;
    break;
  }
}

static void waiter_unlink(pg_waiter *w) {
  waiter_delist(w);
  uv_timer_stop(&w->timer);
  uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

static void conn_free_up(pg_conn *c);

static void waiter_cancel(void *data) {
  pg_waiter *w = data;
  pg_conn *c = w->conn;
  w->conn = NULL;
  waiter_unlink(w);
  if (c) c->handed = 0;
  if (c) conn_free_up(c); /* to the next waiter, or the pool */
}

static void waiter_timeout(uv_timer_t *t) {
  pg_waiter *w = t->data;
  crater__uthread *ut = w->ut;
  char msg[160];
  snprintf(msg, sizeof(msg), "crater.pg: no free connection: all %d of the pool are busy",
           w->pool->size);
  waiter_unlink(w);
  push_err(ut->L, "53300", msg);
  crater__task_resume(ut, 2);
}

static void waiter_wake(uv_timer_t *t) {
  pg_waiter *w = t->data;
  crater__uthread *ut = w->ut;
  pg_conn *c = w->conn;
  w->conn = NULL;
  waiter_unlink(w);
  if (c) c->handed = 0;
  if (c) lease_push(ut->L, ut->task, c);
  else lua_pushboolean(ut->L, 1); /* a slot is free: acquire again, to connect */
  crater__task_resume(ut, 1);
}

/* Wakes the first waiter with c (NULL: a free slot). From the loop, on a
 * zero timer: the hand may come from a task's end, where no Lua may run. */
static void waiter_hand(pg_waiter *w, pg_conn *c) {
  waiter_delist(w);
  w->conn = c;
  if (c) c->handed = 1;
  uv_timer_stop(&w->timer);
  uv_timer_start(&w->timer, waiter_wake, 0, 0);
}

/* A connection is free: straight to the first waiter, so that a request
 * arriving meanwhile cannot take it first. Without this hand-off a woken
 * waiter found the pool empty again and queued at the back, and under
 * load a few requests waited many times over (p99 of 58 ms against a
 * median of 0.6 ms on /db). */
static void conn_free_up(pg_conn *c) {
  pg_pool *p = c->pool;
  c->idle_since_ms = uv_now(p->srv->loop);
  if (p->waiters) {
    waiter_hand(p->waiters, c);
    return;
  }
  c->idle_next = p->idle;
  p->idle = c;
  idle_timer_start(c);
}

/* An idle connection or a slot may be free: the first waiter gets it. */
static void pool_kick(pg_pool *p) {
  if (p->waiters == NULL) return;
  if (p->idle) {
    pg_conn *c = p->idle;
    p->idle = c->idle_next;
    c->idle_next = NULL;
    if (c->idle_timer) uv_timer_stop(c->idle_timer);
    if (!conn_alive(c, uv_now(p->srv->loop), p)) {
      conn_discard(c); /* kicks again, with its slot free */
      return;
    }
    waiter_hand(p->waiters, c);
  } else if (p->total < p->size) {
    waiter_hand(p->waiters, NULL);
  }
}

static int pool_gc(lua_State *L) {
  pg_pool *p = lua_touserdata(L, 1);
  while (p->all) {
    pg_conn *c = p->all;
    p->all = c->next;
    if (c->lease) c->lease->c = NULL;
    conn_unwatch(c);
    if (c->pq) PQfinish(c->pq);
    crater__pg_stmt_free(&c->stmts);
    if (c->idle_timer) uv_close((uv_handle_t *)c->idle_timer, handle_free);
    crater__free(c);
  }
  p->idle = NULL;
  if (p->flush) uv_close((uv_handle_t *)p->flush, handle_free);
  p->flush = NULL;
  crater__pg_target_free(&p->target);
  return 0;
}

/* pool(conninfo, size, idle_s, life_s) -> pool | nil, err. conninfo is a
 * URL or key=value string (libpq parses it). */
static int l_pool(lua_State *L) {
  crater_server *srv = lua_touserdata(L, lua_upvalueindex(1));
  const char *info = luaL_checkstring(L, 1);
  pg_pool *p = lua_newuserdata(L, sizeof(*p));
  memset(p, 0, sizeof(*p));
  char err[256];
  if (crater__pg_target_init(&p->target, info, err, sizeof(err)) != 0) {
    lua_pushnil(L);
    lua_pushfstring(L, "crater.pg: bad connection string: %s", err);
    return 2;
  }
  luaL_getmetatable(L, POOL_MT);
  lua_setmetatable(L, -2);
  p->srv = srv;
  p->size = (int)luaL_optinteger(L, 2, 10);
  if (p->size < 1) p->size = 1;
  p->idle_ms = (uint64_t)(luaL_optnumber(L, 3, 60) * 1000);
  p->life_ms = (uint64_t)(luaL_optnumber(L, 4, 3600) * 1000);
  p->pipeline = lua_toboolean(L, 5);
  return 1;
}

/* acquire(pool, connect_s, wait_s, dedicated) -> lease | true (try again)
 * | nil, err. Waits when it connects, or while the pool is full. */
static int l_acquire(lua_State *L) {
  crater_server *srv = lua_touserdata(L, lua_upvalueindex(1));
  pg_pool *p = luaL_checkudata(L, 1, POOL_MT);
  uint64_t connect_ms = (uint64_t)(luaL_checknumber(L, 2) * 1000);
  uint64_t wait_ms = (uint64_t)(luaL_checknumber(L, 3) * 1000);
  int dedicated = lua_toboolean(L, 4);
  crater__uthread *cur = srv->current;
  if (cur == NULL) return luaL_error(L, "crater.pg: only inside a request or a timer");
  uint64_t now = uv_now(srv->loop);
  while (!dedicated && p->idle) {
    pg_conn *c = p->idle;
    p->idle = c->idle_next;
    c->idle_next = NULL;
    if (c->idle_timer) uv_timer_stop(c->idle_timer);
    if (!conn_alive(c, now, p)) {
      conn_discard(c);
      continue;
    }
    lease_push(L, cur->task, c);
    return 1;
  }
  if (dedicated || p->total < p->size) {
    pg_op *op = op_new(srv, L, OP_CONNECT, connect_ms);
    if (op == NULL) return luaL_error(L, "crater.pg: out of memory");
    op->pool = p;
    op->dedicated = dedicated;
    if (!dedicated) p->total++;
    int early = -1;
    op->early = &early;
    if (crater__pg_connect_start(srv->loop, &p->target, on_connected, op, &op->connector) != 0) {
      op_fail(op, "08001", "crater.pg: out of memory");
      connect_abandoned(p, dedicated);
    }
    if (early >= 0) return early;
    op->early = NULL;
    return lua_yield(L, 0);
  }
  pg_waiter *w = crater__calloc(1, sizeof(*w));
  if (w == NULL) return luaL_error(L, "crater.pg: out of memory");
  const char *why;
  crater__uthread *ut = crater__task_wait(srv, L, waiter_cancel, w, &why);
  if (ut == NULL) {
    crater__free(w);
    return lua_error(L);
  }
  w->pool = p;
  w->ut = ut;
  uv_timer_init(srv->loop, &w->timer);
  w->timer.data = w;
  uv_timer_start(&w->timer, waiter_timeout, wait_ms ? wait_ms : 1, 0);
  if (p->waiters_tail) p->waiters_tail->next = w;
  else p->waiters = w;
  p->waiters_tail = w;
  w->listed = 1;
  return lua_yield(L, 0);
}

/* Copies what a query runs with once its statement is prepared (the Lua
 * strings may be gone by then). */
static int keep_params(pg_op *op, const char *sql, size_t sql_len, int n, const char **vals,
                       const int *lens, const int *fmts) {
  size_t size = sql_len + 1 + (size_t)n * (sizeof(char *) + 2 * sizeof(int));
  for (int i = 0; i < n; i++) size += vals[i] ? (size_t)lens[i] + 1 : 0;
  char *b = crater__malloc(size);
  if (b == NULL) return -1;
  op->pending = b;
  op->pvals = (const char **)(void *)b;
  op->plens = (int *)(void *)(b + (size_t)n * sizeof(char *));
  op->pfmts = op->plens + n;
  char *data = (char *)(op->pfmts + n);
  op->nparams = n;
  for (int i = 0; i < n; i++) {
    op->plens[i] = lens[i];
    op->pfmts[i] = fmts[i];
    if (vals[i] == NULL) {
      op->pvals[i] = NULL;
      continue;
    }
    memcpy(data, vals[i], (size_t)lens[i]);
    data[lens[i]] = '\0';
    op->pvals[i] = data;
    data += lens[i] + 1;
  }
  memcpy(data, sql, sql_len + 1);
  op->sql = data;
  op->sql_len = sql_len;
  return 0;
}

/* The most parameters one statement takes (the protocol counts them in 16 bits). */
#define PARAMS_MAX 65535

/* params[first + i] (a string, or nil for NULL) and binary[first + i]
 * (true: sent as bytes) into libpq's arrays. The strings stay referenced
 * by params, on the stack. */
static void read_params(lua_State *L, int params, int binary, int first, int n, const char **vals,
                        int *lens, int *fmts) {
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, params, first + i + 1);
    size_t len = 0;
    vals[i] = lua_isnil(L, -1) ? NULL : lua_tolstring(L, -1, &len);
    lens[i] = (int)len;
    lua_pop(L, 1);
    lua_rawgeti(L, binary, first + i + 1);
    fmts[i] = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
}

/* After a query or a batch was handed to libpq (f: PQflush's answer, -1 when
 * sending failed): wait for its results, or answer the error at once. */
static int sent(lua_State *L, pg_conn *c, pg_op *op, int f, const char *what) {
  if (f < 0) {
    char msg[512];
    snprintf(msg, sizeof(msg), "crater.pg: cannot send the %s: %s", what, PQerrorMessage(c->pq));
    return op_refuse(L, op, PQstatus(c->pq) == CONNECTION_OK ? NULL : "08006", msg);
  }
  op->c = c;
  op->pool = c->pool;
  c->op = op;
  if (op_watch_conn(op, f == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE) != 0) {
    c->doomed = 1; /* its answer would come to nobody */
    return op_refuse(L, op, "08006", "crater.pg: cannot watch the connection's socket");
  }
  return lua_yield(L, 0);
}

/* query(lease, sql, params, n, binary, timeout_s, prepare) -> rows | nil, err.
 * params[i] is a string or nil (NULL); binary[i] true sends it as bytes.
 * prepare: the statement is prepared on the connection the first time it
 * runs there (one more round trip), then run by name. */
static int l_query(lua_State *L) {
  crater_server *srv = lua_touserdata(L, lua_upvalueindex(1));
  pg_conn *c = held(L, srv);
  size_t sql_len;
  const char *sql = luaL_checklstring(L, 2, &sql_len);
  int n = (int)luaL_checkinteger(L, 4);
  uint64_t timeout_ms = (uint64_t)(luaL_checknumber(L, 6) * 1000);
  int prepare = lua_toboolean(L, 7);
  if (n < 0 || n > PARAMS_MAX) return luaL_error(L, "crater.pg: at most 65535 parameters");
  const char *vals[n > 0 ? n : 1];
  int lens[n > 0 ? n : 1], fmts[n > 0 ? n : 1];
  read_params(L, 3, 5, 0, n, vals, lens, fmts);
  pg_op *op = op_new(srv, L, OP_QUERY, timeout_ms);
  if (op == NULL) return luaL_error(L, "crater.pg: out of memory");
  int idx = prepare ? crater__pg_stmt_find(&c->stmts, sql, sql_len) : -1;
  char name[32];
  int ok;
  if (idx >= 0) {
    op->by_name = 1;
    op->stmt_id = c->stmts.items[idx].id;
    snprintf(name, sizeof(name), "crater_%u", (unsigned)op->stmt_id);
    ok = PQsendQueryPrepared(c->pq, name, n, vals, lens, fmts, 0);
  } else if (prepare && c->stmts.n < CRATER__PG_STMT_MAX &&
             keep_params(op, sql, sql_len, n, vals, lens, fmts) == 0) {
    /* run_prepared adds it under this id once the server has it */
    snprintf(name, sizeof(name), "crater_%u", (unsigned)c->stmts.next_id);
    op->preparing = 1;
    ok = PQsendPrepare(c->pq, name, sql, n, NULL);
  } else {
    ok = PQsendQueryParams(c->pq, sql, n, NULL, vals, lens, fmts, 0);
  }
  return sent(L, c, op, ok ? PQflush(c->pq) : -1, "query");
}

/* batch(lease, sqls, counts, params, binary, n, timeout_s, prepare) ->
 * results, first_error[, stale, rerun] | nil, err. Query i is sqls[i] with
 * counts[i] parameters, the next ones of the flat params and binary
 * (flat: a table per query cost a batch of twenty 40 tables): the queries go in
 * one round trip (pipeline mode), up to one sync, so they run as one
 * implicit transaction. prepare: statements already prepared on the
 * connection run by name; a new one is prepared in the same round trip,
 * its Prepare just before its Execute, so that a batch run again skips the
 * server's parse and plan as a query does. stale: see batch_done. */
static int l_batch(lua_State *L) {
  crater_server *srv = lua_touserdata(L, lua_upvalueindex(1));
  pg_conn *c = held(L, srv);
  for (int i = 2; i <= 5; i++) luaL_checktype(L, i, LUA_TTABLE);
  int nq = (int)luaL_checkinteger(L, 6);
  uint64_t timeout_ms = (uint64_t)(luaL_checknumber(L, 7) * 1000);
  int prepare = lua_toboolean(L, 8);
  if (nq < 1 || nq > 10000) return luaL_error(L, "crater.pg: a batch holds 1 to 10000 queries");
  /* at most a Prepare and an Execute per query */
  pg_slot *slots = crater__calloc((size_t)nq * 2, sizeof(*slots));
  if (slots == NULL) return luaL_error(L, "crater.pg: out of memory");
  pg_op *op = op_new(srv, L, OP_QUERY, timeout_ms);
  if (op == NULL) {
    crater__free(slots);
    return luaL_error(L, "crater.pg: out of memory");
  }
  op->slots = slots;
  op->batch = nq;
  uint32_t first_new = op->first_new = c->stmts.next_id;
  int ok = PQenterPipelineMode(c->pq);
  int first = 0; /* query q's parameters: params[first + 1 .. first + n] */
  for (int q = 1; ok && q <= nq; q++) {
    lua_rawgeti(L, 2, q);
    size_t sql_len;
    const char *sql = lua_tolstring(L, -1, &sql_len);
    lua_rawgeti(L, 3, q);
    int n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (n < 0 || n > PARAMS_MAX) n = 0, sql = NULL; /* refused below, as a send error */
    const char *vals[n > 0 ? n : 1];
    int lens[n > 0 ? n : 1], fmts[n > 0 ? n : 1];
    read_params(L, 4, 5, first, n, vals, lens, fmts);
    first += n;
    int idx = prepare && sql ? crater__pg_stmt_find(&c->stmts, sql, sql_len) : -1;
    /* Added now, so that the same SQL later in the batch runs by name;
     * batch_done forgets it if its Prepare fails. */
    int fresh = 0;
    if (idx < 0 && prepare && sql) fresh = (idx = crater__pg_stmt_add(&c->stmts, sql, sql_len)) >= 0;
    if (sql == NULL) {
      ok = 0;
    } else if (idx >= 0) {
      uint32_t id = c->stmts.items[idx].id;
      char name[32];
      snprintf(name, sizeof(name), "crater_%u", (unsigned)id);
      if (fresh) {
        op->slots[op->nslots++] = (pg_slot){NULL, q - 1, 1, 0, id, 0};
        ok = PQsendPrepare(c->pq, name, sql, n, NULL);
      }
      if (ok) {
        op->slots[op->nslots++] = (pg_slot){NULL, q - 1, 0, id < first_new, id, 1};
        ok = PQsendQueryPrepared(c->pq, name, n, vals, lens, fmts, 0);
      }
    } else {
      op->slots[op->nslots++] = (pg_slot){NULL, q - 1, 0, 0, 0, 0};
      ok = PQsendQueryParams(c->pq, sql, n, NULL, vals, lens, fmts, 0);
    }
    lua_pop(L, 1);
  }
  if (ok) ok = PQpipelineSync(c->pq);
  int f = ok ? PQflush(c->pq) : -1;
  if (f < 0) c->doomed = 1; /* in pipeline mode with part of a batch sent */
  return sent(L, c, op, f, "batch");
}

/* ---------------------------------------------------------------------- */
/*  Shared connections: several requests' queries per round trip          */
/* ---------------------------------------------------------------------- */

/* With `pipeline` on, db:query outside a transaction may share a
 * connection with other requests' queries: those a turn of the loop
 * queues go in one segment (libpq's pipeline mode, one sync), so one
 * send, one read and one wake-up of the server serve them all. libpq 15
 * flushes at each sync, hence one sync per segment, and a segment is one
 * implicit transaction: a segment of several queries therefore begins
 * with SET transaction_read_only = on, so that none of them can write
 * (a write fails with 25006 without effect, and runs again on a
 * connection of its own: its statement is never shared again), and an
 * error in one leaves the others' results good, reads all of them. A
 * query alone in its segment is its own transaction, as on a connection
 * of its own. Only statements already prepared on the connection are
 * shared; anything else answers `true`: pg.lua runs it the usual way. */

#define SQ_MAX 16 /* queries queued or in flight on one shared connection */
enum { SQ_START, SQ_SET, SQ_OP, SQ_SYNC };
enum { SR_ROWS, SR_ERROR, SR_AGAIN };

static void flush_start(pg_pool *p);

/* The connection's queues are empty: back to the pool (or closed). */
static void shared_release(pg_conn *c) {
  c->shared = 0;
  c->sq_state = SQ_START;
  if (c->poll) uv_unref((uv_handle_t *)c->poll);
  if (PQexitPipelineMode(c->pq) != 1 || c->doomed || PQstatus(c->pq) != CONNECTION_OK) {
    conn_discard(c);
    return;
  }
  conn_free_up(c);
}

/* Pushes what an ended shared op returns: rows, nil + err, or true (run
 * it again the usual way). */
static int shared_push(pg_op *op, int kind) {
  lua_State *L = op->ut->L;
  if (kind == SR_AGAIN || op->res == NULL) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (kind == SR_ERROR) return push_res_err(L, op->res);
  lua_getfield(L, LUA_REGISTRYINDEX, NULL_KEY);
  crater__pg_push_rows(L, op->res, lua_gettop(L), 0);
  lua_remove(L, -2);
  return 1;
}

/* Ends the ops of a list linked by snext: each resumes with what it got
 * (code NULL) or with the error code/msg; cancelled ones are freed. */
static void shared_end(pg_op *list, const char *code, const char *msg) {
  while (list) {
    pg_op *op = list;
    list = op->snext;
    op->snext = NULL;
    op->linked = 0;
    op->c = NULL;
    if (op->ut == NULL) {
      if (op->res) PQclear(op->res);
      op->res = NULL;
      op_try_free(op);
    } else if (code) {
      op_fail(op, code, msg);
    } else {
      op_resume(op, shared_push(op, op->sq_kind));
    }
  }
}

/* The connection broke: every op on it ends with the error (a read-only
 * query could run again, but a query alone in its segment may have
 * written), and it is closed. */
static void shared_fail(pg_conn *c, const char *code, const char *msg) {
  pg_op *list = c->sq_sent;
  if (c->sq_sent_tail) c->sq_sent_tail->snext = c->sq_wait;
  else list = c->sq_wait;
  c->sq_sent = c->sq_sent_tail = c->sq_wait = c->sq_wait_tail = NULL;
  c->sq_n = 0;
  c->shared = 0;
  conn_discard(c);
  shared_end(list, code, msg);
}

/* A doomed shared connection whose ops all timed out or were cancelled:
 * closed now rather than when a stuck query ends. */
static void shared_drop_if_unwaited(pg_conn *c) {
  if (!c->shared) return;
  for (pg_op *op = c->sq_sent; op; op = op->snext)
    if (op->ut) return;
  for (pg_op *op = c->sq_wait; op; op = op->snext)
    if (op->ut) return;
  shared_fail(c, "08006", "crater.pg: unused"); /* nobody is told */
}

/* Sends the queued ops as one segment; -1 when the connection broke. */
static int shared_send(pg_conn *c) {
  pg_op **pp = &c->sq_wait, *first = NULL, *last = NULL;
  int n = 0;
  while (*pp) { /* cancelled ones never go */
    pg_op *op = *pp;
    if (op->ut == NULL) {
      *pp = op->snext;
      op->snext = NULL;
      op->linked = 0;
      c->sq_n--;
      op_try_free(op);
      continue;
    }
    if (!first) first = op;
    last = op;
    n++;
    pp = &op->snext;
  }
  c->sq_wait = c->sq_wait_tail = NULL;
  if (n == 0) return 0;
  int ok = 1;
  if (n > 1)
    ok = PQsendQueryParams(c->pq, "SET transaction_read_only = on", 0, NULL, NULL, NULL, NULL, 0);
  for (pg_op *op = first; ok && op; op = op->snext) {
    char name[32];
    snprintf(name, sizeof(name), "crater_%u", (unsigned)op->stmt_id);
    ok = PQsendQueryPrepared(c->pq, name, op->nparams, op->pvals, op->plens, op->pfmts, 0);
    crater__free(op->pending); /* libpq has copied them */
    op->pending = NULL;
  }
  for (pg_op *op = first; op; op = op->snext) op->seg_multi = n > 1;
  if (n > 1) c->pool->shared_ops += n;
  first->seg_set = n > 1;
  last->seg_last = 1;
  if (c->sq_sent_tail) c->sq_sent_tail->snext = first;
  else c->sq_sent = first;
  c->sq_sent_tail = last;
  if (ok) ok = PQpipelineSync(c->pq);
  int f = ok ? PQflush(c->pq) : -1;
  if (f < 0) return -1;
  if (f == 1) conn_watch(c, UV_READABLE | UV_WRITABLE);
  return 0;
}

/* The segments' results, in order: [SET, NULL] then per op its result
 * and NULL, then the sync. */
static void shared_read(pg_conn *c) {
  if (!PQconsumeInput(c->pq)) {
    char msg[512];
    shared_fail(c, "08006", lost_msg(msg, sizeof(msg), c->pq));
    return;
  }
  pg_op *done = NULL, *done_tail = NULL;
  while ((c->sq_sent || c->sq_state == SQ_SYNC) && !PQisBusy(c->pq)) {
    pg_op *op = c->sq_sent;
    if (c->sq_state == SQ_START) c->sq_state = op->seg_set ? SQ_SET : SQ_OP;
    PGresult *r = PQgetResult(c->pq);
    if (c->sq_state == SQ_SET) {
      if (r) PQclear(r);
      else c->sq_state = SQ_OP;
      continue;
    }
    if (c->sq_state == SQ_SYNC) {
      if (r && PQresultStatus(r) == PGRES_PIPELINE_SYNC) c->sq_state = SQ_START;
      if (r) PQclear(r);
      continue;
    }
    if (r) {
      keep_result(&op->res, r);
      continue;
    }
    /* this op's results are all in */
    c->sq_sent = op->snext;
    if (c->sq_sent == NULL) c->sq_sent_tail = NULL;
    c->sq_n--;
    c->sq_state = op->seg_last ? SQ_SYNC : SQ_OP;
    op->snext = NULL;
    op->sq_kind = SR_ROWS;
    ExecStatusType st = op->res ? PQresultStatus(op->res) : PGRES_FATAL_ERROR;
    if (st == PGRES_PIPELINE_ABORTED || op->res == NULL) {
      op->sq_kind = SR_AGAIN; /* not run: an earlier query of its segment failed */
    } else if (st == PGRES_FATAL_ERROR) {
      const char *state = PQresultErrorField(op->res, PG_DIAG_SQLSTATE);
      int stale = stale_kind(op->res);
      op->sq_kind = SR_ERROR;
      if (state && strcmp(state, "25006") == 0 && op->seg_multi) {
        int idx = -1;
        for (int i = 0; i < c->stmts.n; i++)
          if (c->stmts.items[i].id == op->stmt_id) idx = i;
        if (idx >= 0) c->stmts.items[idx].writes = 1;
        op->sq_kind = SR_AGAIN; /* a write: it did nothing here */
      } else if (stale) {
        stale_forget(c, stale, op->stmt_id, c->stmts.next_id);
        op->sq_kind = SR_AGAIN;
      }
    }
    if (done_tail) done_tail->snext = op;
    else done = op;
    done_tail = op;
  }
  if (c->sq_sent == NULL && c->sq_wait == NULL && c->sq_state != SQ_SYNC) shared_release(c);
  shared_end(done, NULL, NULL);
}

static void shared_event(pg_conn *c, int status, int events) {
  if (status < 0) conn_watch(c, UV_READABLE); /* see on_conn_poll */
  if (events & UV_WRITABLE) {
    int f = PQflush(c->pq);
    if (f < 0) {
      shared_fail(c, "08006", "crater.pg: the connection was lost while sending");
      return;
    }
    if (f == 0) conn_watch(c, UV_READABLE);
  }
  if (status < 0 || (events & UV_READABLE)) shared_read(c);
}

/* After the loop's I/O: each shared connection's queued ops go. */
static void flush_cb(uv_check_t *h) {
  pg_pool *p = h->data;
  uv_check_stop(h);
again:
  for (pg_conn *c = p->all, *next; c; c = next) {
    next = c->next; /* c may be released */
    if (!c->shared || c->sq_wait == NULL) continue;
    if (shared_send(c) != 0) {
      char msg[512];
      snprintf(msg, sizeof(msg), "crater.pg: cannot send the query: %s", PQerrorMessage(c->pq));
      shared_fail(c, "08006", msg);
      goto again; /* the list changed */
    }
    if (c->sq_sent == NULL && c->sq_wait == NULL) shared_release(c); /* all were cancelled */
  }
}

static void flush_start(pg_pool *p) {
  if (p->flush == NULL) {
    p->flush = crater__malloc(sizeof(*p->flush));
    if (p->flush == NULL) return;
    uv_check_init(p->srv->loop, p->flush);
    uv_unref((uv_handle_t *)p->flush);
    p->flush->data = p;
  }
  uv_check_start(p->flush, flush_cb);
}

/* shared(pool, sql, params, n, binary, timeout_s) -> rows | nil, err | true
 * (not shared: run it the usual way). */
static int l_shared(lua_State *L) {
  crater_server *srv = lua_touserdata(L, lua_upvalueindex(1));
  pg_pool *p = luaL_checkudata(L, 1, POOL_MT);
  size_t sql_len;
  const char *sql = luaL_checklstring(L, 2, &sql_len);
  int n = (int)luaL_checkinteger(L, 4);
  uint64_t timeout_ms = (uint64_t)(luaL_checknumber(L, 6) * 1000);
  /* waiters for a connection of their own come first: no more sharing
   * until one is free for them */
  if (!p->pipeline || p->waiters || srv->current == NULL || n < 0 || n > PARAMS_MAX) {
    lua_pushboolean(L, 1);
    return 1;
  }
  pg_conn *c = NULL;
  int idx = -1;
  for (pg_conn *x = p->idle; x && !c; x = x->idle_next) {
    idx = crater__pg_stmt_find(&x->stmts, sql, sql_len);
    if (idx >= 0 && !x->stmts.items[idx].writes) c = x;
  }
  if (c) {
    idle_remove(p, c);
    if (c->idle_timer) uv_timer_stop(c->idle_timer);
    if (!conn_alive(c, uv_now(srv->loop), p)) {
      conn_discard(c);
      lua_pushboolean(L, 1);
      return 1;
    }
    if (PQenterPipelineMode(c->pq) != 1 || conn_watch(c, UV_READABLE) != 0) {
      conn_free_up(c);
      lua_pushboolean(L, 1);
      return 1;
    }
    c->shared = 1;
    c->sq_state = SQ_START;
    uv_ref((uv_handle_t *)c->poll);
  } else {
    for (pg_conn *x = p->all; x; x = x->next) {
      if (!x->shared || x->doomed || x->sq_n >= SQ_MAX || (c && x->sq_n >= c->sq_n)) continue;
      int i = crater__pg_stmt_find(&x->stmts, sql, sql_len);
      if (i >= 0 && !x->stmts.items[i].writes) c = x, idx = i;
    }
    if (c == NULL) {
      lua_pushboolean(L, 1);
      return 1;
    }
  }
  const char *vals[n > 0 ? n : 1];
  int lens[n > 0 ? n : 1], fmts[n > 0 ? n : 1];
  read_params(L, 3, 5, 0, n, vals, lens, fmts);
  pg_op *op = op_new(srv, L, OP_QUERY, timeout_ms);
  if (op == NULL) return luaL_error(L, "crater.pg: out of memory");
  if (keep_params(op, sql, sql_len, n, vals, lens, fmts) != 0) { /* out of memory */
    crater__uthread *ut = op->ut;
    op->ut = NULL;
    op_end(op);
    crater__task_unwait(ut);
    if (c->sq_n == 0) shared_release(c);
    lua_pushboolean(L, 1);
    return 1;
  }
  op->shared = op->linked = 1;
  op->c = c;
  op->pool = p;
  op->by_name = 1;
  op->stmt_id = c->stmts.items[idx].id;
  if (c->sq_wait_tail) c->sq_wait_tail->snext = op;
  else c->sq_wait = op;
  c->sq_wait_tail = op;
  c->sq_n++;
  flush_start(p);
  return lua_yield(L, 0);
}

/* notifies(lease, timeout_s) -> { channel, payload, pid } | nil, "timeout"
 * | nil, err. timeout 0: no limit. */
static int l_notifies(lua_State *L) {
  crater_server *srv = lua_touserdata(L, lua_upvalueindex(1));
  pg_conn *c = held(L, srv);
  uint64_t timeout_ms = (uint64_t)(luaL_checknumber(L, 2) * 1000);
  PQconsumeInput(c->pq);
  PGnotify *nf = PQnotifies(c->pq);
  if (nf) {
    lua_createtable(L, 0, 3);
    set_field(L, "channel", nf->relname);
    set_field(L, "payload", nf->extra);
    lua_pushnumber(L, nf->be_pid);
    lua_setfield(L, -2, "pid");
    PQfreemem(nf);
    return 1;
  }
  if (PQstatus(c->pq) != CONNECTION_OK) return push_err(L, "08006", "crater.pg: the connection was lost");
  pg_op *op = op_new(srv, L, OP_NOTIFY, timeout_ms);
  if (op == NULL) return luaL_error(L, "crater.pg: out of memory");
  op->c = c;
  op->pool = c->pool;
  c->op = op;
  if (op_watch_conn(op, UV_READABLE) != 0)
    return op_refuse(L, op, "08006", "crater.pg: cannot watch the connection's socket");
  return lua_yield(L, 0);
}

/* release(lease): back to the pool when idle and healthy, else closed. */
static int l_release(lua_State *L) {
  pg_lease *l = luaL_checkudata(L, 1, LEASE_MT);
  pg_conn *c = l->c;
  if (l->task) crater__task_undefer(&l->cleanup);
  l->task = NULL;
  if (c == NULL) return 0;
  l->c = NULL;
  c->lease = NULL;
  if (c->dedicated || c->op || c->doomed || PQstatus(c->pq) != CONNECTION_OK ||
      PQtransactionStatus(c->pq) != PQTRANS_IDLE) {
    conn_discard(c);
    return 0;
  }
  conn_free_up(c);
  return 0;
}

static int l_discard(lua_State *L) {
  pg_lease *l = luaL_checkudata(L, 1, LEASE_MT);
  if (l->task) crater__task_undefer(&l->cleanup);
  l->task = NULL;
  if (l->c && l->c->op == NULL) conn_discard(l->c);
  return 0;
}

static int l_txstatus(lua_State *L) {
  pg_lease *l = luaL_checkudata(L, 1, LEASE_MT);
  const char *s = "closed";
  if (l->c) {
    switch (PQtransactionStatus(l->c->pq)) {
    case PQTRANS_IDLE: s = "idle"; break;
    case PQTRANS_ACTIVE: s = "active"; break;
    case PQTRANS_INTRANS: s = "intrans"; break;
    case PQTRANS_INERROR: s = "inerror"; break;
    default: s = "unknown";
    }
  }
  lua_pushstring(L, s);
  return 1;
}

/* stats(pool) -> total, idle, waiting, shared (queries sent in segments of
 * several: see "Shared connections"), for tests and metrics */
static int l_stats(lua_State *L) {
  pg_pool *p = luaL_checkudata(L, 1, POOL_MT);
  int idle = 0, waiting = 0;
  for (pg_conn *c = p->idle; c; c = c->idle_next) idle++;
  for (pg_waiter *w = p->waiters; w; w = w->next) waiting++;
  lua_pushinteger(L, p->total);
  lua_pushinteger(L, idle);
  lua_pushinteger(L, waiting);
  lua_pushnumber(L, p->shared_ops);
  return 4;
}

/* exec_now(pool, sql, params, n, binary, connect_s) -> rows | nil, err:
 * outside any request or timer (while the app's file loads, creating its
 * tables), where nothing can wait: a connection of its own, blocking,
 * closed at once (it must not outlive a fork into workers). */
static int l_exec_now(lua_State *L) {
  pg_pool *p = luaL_checkudata(L, 1, POOL_MT);
  const char *sql = luaL_checkstring(L, 2);
  int n = (int)luaL_checkinteger(L, 4);
  lua_Number connect_s = luaL_checknumber(L, 6);
  if (n < 0 || n > 65535) return luaL_error(L, "crater.pg: at most 65535 parameters");
  char **pkeys = p->target.keys, **pvals = p->target.vals;
  int nk = 0;
  while (pkeys[nk]) nk++;
  const char *keys[nk + 2], *vals[nk + 2];
  char timeout[32];
  snprintf(timeout, sizeof(timeout), "%d", connect_s >= 1 ? (int)connect_s : 1);
  int k = 0;
  for (int i = 0; i < nk; i++) {
    if (strcmp(pkeys[i], "connect_timeout") == 0) continue;
    keys[k] = pkeys[i];
    vals[k++] = pvals[i];
  }
  keys[k] = "connect_timeout";
  vals[k++] = timeout;
  keys[k] = vals[k] = NULL;
  const char *pv[n > 0 ? n : 1];
  int lens[n > 0 ? n : 1], fmts[n > 0 ? n : 1];
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, 3, i + 1);
    size_t len = 0;
    pv[i] = lua_isnil(L, -1) ? NULL : lua_tolstring(L, -1, &len);
    lens[i] = (int)len;
    lua_pop(L, 1);
    lua_rawgeti(L, 5, i + 1);
    fmts[i] = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  PGconn *pq = PQconnectdbParams(keys, vals, 0);
  if (pq == NULL || PQstatus(pq) != CONNECTION_OK) {
    char msg[512];
    snprintf(msg, sizeof(msg), "crater.pg: cannot connect: %s", pq ? PQerrorMessage(pq) : "out of memory");
    if (pq) PQfinish(pq);
    return push_err(L, "08001", msg);
  }
  PQsetNoticeProcessor(pq, on_notice, p->srv);
  PGresult *r = PQexecParams(pq, sql, n, NULL, pv, lens, fmts, 0);
  int nret;
  if (r == NULL) {
    char msg[512];
    snprintf(msg, sizeof(msg), "crater.pg: %s", PQerrorMessage(pq));
    nret = push_err(L, "08006", msg);
  } else if (PQresultStatus(r) == PGRES_FATAL_ERROR) {
    nret = push_res_err(L, r);
  } else {
    lua_getfield(L, LUA_REGISTRYINDEX, NULL_KEY);
    crater__pg_push_rows(L, r, lua_gettop(L), 0);
    lua_remove(L, -2);
    nret = 1;
  }
  if (r) PQclear(r);
  PQfinish(pq);
  return nret;
}

/* in_task() -> whether a request or timer runs now (so it can wait) */
static int l_in_task(lua_State *L) {
  crater_server *srv = lua_touserdata(L, lua_upvalueindex(1));
  lua_pushboolean(L, srv->current != NULL);
  return 1;
}

/* set_null(v): the value of SQL NULL in rows */
static int l_set_null(lua_State *L) {
  lua_settop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, NULL_KEY);
  return 0;
}

/* backend_pid(lease) -> the server process's id */
static int l_backend_pid(lua_State *L) {
  pg_lease *l = luaL_checkudata(L, 1, LEASE_MT);
  lua_pushinteger(L, l->c ? PQbackendPID(l->c->pq) : 0);
  return 1;
}

int crater__pg_open(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"pool", l_pool},         {"acquire", l_acquire}, {"query", l_query}, {"batch", l_batch},
    {"notifies", l_notifies}, {"shared", l_shared}, {"release", l_release}, {"discard", l_discard},
    {"txstatus", l_txstatus}, {"stats", l_stats},     {"backend_pid", l_backend_pid},
    {"set_null", l_set_null}, {"exec_now", l_exec_now}, {"in_task", l_in_task},
    {NULL, NULL},
  };
  luaL_newmetatable(L, POOL_MT);
  lua_pushcfunction(L, pool_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, LEASE_MT);
  lua_pushcfunction(L, lease_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  lua_createtable(L, 0, 10);
  for (const luaL_Reg *f = fns; f->name; f++) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, f->func, 1);
    lua_setfield(L, -2, f->name);
  }
  return 1;
}
