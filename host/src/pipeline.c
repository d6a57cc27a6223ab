/* pipeline.c - the life of a request once it has arrived (see pipeline.h).
 *
 * A request runs in a coroutine of its generation. The dispatcher
 * (crater.app's entry) is called with (method, path, query, request, seq)
 * and either returns (status, body, content_type, headers) or yields:
 *  - (status, false, content_type, headers): the head of a streamed body;
 *    then one yield per chunk (a string), and a return (-1 when the stream
 *    failed midway, after its head went out);
 *  - nothing, from a C function that called crater__task_wait(): the
 *    request waits until what it waits for is done (crater__task_resume,
 *    which calls resume_main here).
 * headers is nil or a flat list { name1, value1, ... }. Everything the
 * dispatcher answers becomes one crater__response for the sink; the Lua
 * strings it points into live on the coroutine's stack, which stays put
 * until the sink's respond() returns. */
#include "pipeline.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "alloc.h"
#include "compress.h"
#include "log.h"
#include "lua_error.h"
#include "reload.h"
#include "server.h"
#include "static_file.h"
#include "vm.h"

/* Pipeline flags: CRATER__P_* bits of crater__request.pflags. */
#define P_STREAM  0x1u  /* the head of a streamed body went to the sink */
#define P_IN_RUN  0x2u  /* run() is on the C stack for this request */
#define P_ABORTED 0x4u  /* the transport went away while run() was */
#define P_FILE    0x8u  /* a file answer's body is being sent (send_file) */
#define P_GONE    0x10u /* a stream's client went away: its handler hears "closed" (see gone) */
#define P_WOKEN   0x20u /* its wait ended inside run()'s own resume: run() goes on with it */

#define INLINE_HEADERS 16 /* response headers held without allocating */
#define WHY_SIZE 512      /* why an answer was refused, for the log */
#define FILE_READ_SIZE (32 * 1024) /* a file answer's body read per chunk() */
#define GONE_GRACE_MS 5000 /* a stream's handler may run this long after its client left */

/* A route's deadline: a loop timer per request that has one. Also the
 * timer of a stream whose client left (P_GONE): first at 0 ms to tell the
 * handler, then for what is left of its grace. */
struct crater__deadline {
  uv_timer_t timer;      /* timer.data points here */
  crater__request *r;    /* NULL once the request ended first */
  uint64_t ms;           /* the route's deadline */
  uint64_t grace_ms;     /* P_GONE: the handler's time left once told */
  int grace_is_deadline; /* P_GONE: grace_ms is what was left of the deadline */
};

static void enter(crater__request *r, crater__gen *g, int fn_ref);
static void enter_unarmed(crater__request *r, crater__gen *g, int fn_ref);
static crater__gen *fresh_generation(crater_server *srv);
static void run(crater__request *r, int nargs);
static void resume_main(crater__task *t, int nresults);
static void deadline_passed(uv_timer_t *t);
static void deadline_closed(uv_handle_t *h);
static int deadline_timer(crater__request *r);
static void gone_tell(uv_timer_t *t);
static void gone_over(uv_timer_t *t);
static int push_closed(lua_State *T);
static void describe(crater__task *t, char *buf, size_t size);
static int respond_from_stack(crater__request *r, lua_State *T, unsigned flags,
                              char why[WHY_SIZE]);
static void refused_answer(crater__request *r, const char *why);
static void core_answer(crater__request *r, int status, const char *detail, size_t dlen,
                        unsigned how);

/* How a core answer is given (core_answer's `how`). */
#define CORE_STALE 0x1u /* the --dev answer after a failed load: X-Crater-Stale, "stale": true */
#define CORE_QUIET 0x2u /* logged by the caller already */

static void finish(crater__request *r, int ok, int thread_reusable);
static void end_aborted(crater__request *r);
static void split_url(const crater__request *r, const char **path, size_t *path_len,
                      const char **query, size_t *query_len);
static void own_answer(crater__request *r);
static void send_file(crater__request *r);
static int coded_end(crater__request *r);

static const char DISPATCH_FAILED[] = "the application's dispatcher failed; see the server log";

/* ===================================================================== */
/*  Entry points                                                           */
/* ===================================================================== */

/* The request is in flight from here: its seq changes (see request.h). */
static void take_off(crater__request *r, const crater__sink *sink, void *ctx) {
  assert(r->state == CRATER__REQ_IDLE);
  r->sink = sink;
  r->sink_ctx = ctx;
  r->pflags = 0;
  r->gen = NULL;
  r->task.main.L = NULL;
  r->task.spawned = NULL;
  r->deadline = NULL;
  r->file_fd = -1;
  r->enc = NULL;
  r->seq++;
  r->state = CRATER__REQ_RUNNING;
}

void crater__pipeline_start(crater__request *r, const crater__sink *sink, void *ctx) {
  crater_server *srv = r->srv;
  take_off(r, sink, ctx);
  srv->stats.requests_total++;
  if (r->answer != 0) {
    own_answer(r);
    return;
  }
  /* --dev after a failed reload: say so rather than serve the old code. */
  if (srv->stale_error != NULL && srv->cfg.dev) {
    core_answer(r, 500, srv->stale_error, crater__msg_head_len(srv->stale_error), CORE_STALE);
    return;
  }
  crater__gen *g = srv->gen;
  if (g != NULL && g->mem_exhausted) g = fresh_generation(srv);
  if (g == NULL) {
    core_answer(r, 503, "no application loaded", 21, 0);
    return;
  }
  enter(r, g, g->dispatch_ref);
}

/* The serving generation stays full after a collection (see
 * crater__gen_after_oom): the app keeps what it allocated, and every
 * request would fail. A reload gives a fresh VM (the full one retires when
 * its requests end); when there is no file to reload from, or it fails to
 * load, the full one goes on serving. Tried once per time it fills up. */
static crater__gen *fresh_generation(crater_server *srv) {
  crater__gen *full = srv->gen;
  uint64_t id = full->id;
  full->mem_exhausted = 0;
  if (full->renew == NULL)
    crater__log(srv, CRATER_LOG_ERROR, "generation %llu is out of memory and its app, loaded from a "
                "string, cannot be loaded afresh", (unsigned long long)id);
  else if (full->renew(srv) == 0)
    crater__log(srv, CRATER_LOG_WARN, "generation %llu replaced generation %llu, which was out of memory",
                (unsigned long long)srv->gen->id, (unsigned long long)id);
  return srv->gen; /* a failed load was logged by the loader */
}

void crater__pipeline_start_in(crater__request *r, const crater__sink *sink, void *ctx,
                               crater__gen *g, int fn_ref) {
  take_off(r, sink, ctx);
  if (r->answer != 0) {
    own_answer(r);
    return;
  }
  enter(r, g, fn_ref);
}

/* Pins g and calls the dispatcher at fn_ref in a coroutine of g. An
 * injected request may start here from inside a handler's Lua: what C does
 * with the new coroutine is outside any protected call, so the VM's
 * ceiling waits for run()'s resume (see vm_mem.c). */
static void enter(crater__request *r, crater__gen *g, int fn_ref) {
  crater_server *srv = r->srv;
  int armed = srv->lua_armed;
  srv->lua_armed = 0;
  enter_unarmed(r, g, fn_ref);
  srv->lua_armed = armed;
}

static void enter_unarmed(crater__request *r, crater__gen *g, int fn_ref) {
  lua_State *T;
  int ref;
  if (crater__gen_thread(g, &T, &ref) != 0) {
    core_answer(r, 503, "out of memory starting the request", 34, 0);
    return;
  }
  crater__gen_ref(g);
  r->gen = g;
  crater__task_init(&r->task, r->srv, g, resume_main, describe);
  r->task.main.L = T;
  r->task.main.ref = ref;
  const char *path, *query;
  size_t path_len, query_len;
  split_url(r, &path, &path_len, &query, &query_len);
  lua_rawgeti(T, LUA_REGISTRYINDEX, fn_ref);
  lua_pushstring(T, r->method);
  lua_pushlstring(T, path, path_len);
  lua_pushlstring(T, query, query_len);
  lua_pushlightuserdata(T, r);
  lua_pushnumber(T, (lua_Number)r->seq);
  run(r, 5);
}

void crater__pipeline_refuse(crater__request *r, const crater__sink *sink, void *ctx,
                             int status, const char *why) {
  take_off(r, sink, ctx);
  core_answer(r, status, why, strlen(why), 0);
}

int crater__pipeline_busy(const crater__request *r) { return r->state != CRATER__REQ_IDLE; }

void crater__pipeline_abort(crater__request *r) {
  if (r->state == CRATER__REQ_IDLE) return;
  if (r->pflags & P_IN_RUN) { /* run() ends it when the sink call returns */
    r->pflags |= P_ABORTED;
    return;
  }
  end_aborted(r);
}

void crater__pipeline_drained(crater__request *r) {
  if (r->state != CRATER__REQ_DRAINING || (r->pflags & P_GONE)) return;
  if (r->pflags & P_FILE) {
    send_file(r);
    return;
  }
  lua_pushboolean(r->task.main.L, 1); /* write returns true */
  run(r, 1);
}

/* ===================================================================== */
/*  A stream whose client went away                                        */
/* ===================================================================== */

/* Once a stream's head went out, its handler is told the client left
 * rather than stopped: the wait it is in ends with nil, "closed" (task.c's
 * crater__task_interrupt), as does every later write, so the code after it
 * -- unsubscribing, closing a cursor -- runs. The transport keeps r's
 * memory until done. A handler that goes on waiting is stopped as any
 * aborted request once GONE_GRACE_MS (or its deadline, when sooner) have
 * passed. Everything else (no stream yet, a file answer) is aborted now:
 * there is nothing to tell (a handler still computing its answer never
 * sees its client, so it ends as before). The handler is never resumed
 * from here: the caller may be inside a sink call of run(). */
int crater__pipeline_gone(crater__request *r) {
  if (r->state == CRATER__REQ_IDLE) return 0;
  if (r->pflags & P_GONE) return 1;
  if (!(r->pflags & P_STREAM) || (r->pflags & (P_FILE | P_ABORTED)) || r->task.main.L == NULL ||
      deadline_timer(r) != 0) {
    crater__pipeline_abort(r);
    return 0;
  }
  struct crater__deadline *d = r->deadline;
  d->grace_ms = GONE_GRACE_MS;
  d->grace_is_deadline = 0;
  if (uv_is_active((uv_handle_t *)&d->timer) && uv_timer_get_due_in(&d->timer) < d->grace_ms) {
    d->grace_ms = uv_timer_get_due_in(&d->timer);
    d->grace_is_deadline = 1;
  }
  r->pflags |= P_GONE;
  uv_timer_start(&d->timer, gone_tell, 0, 0);
  return 1;
}

/* From the loop, so no Lua of r runs: the handler waits, or waits for the
 * client to take a chunk (DRAINING). The grace is armed first: telling
 * may end r, whose release closes this timer. */
static void gone_tell(uv_timer_t *t) {
  struct crater__deadline *d = t->data;
  crater__request *r = d->r;
  if (r == NULL || r->state == CRATER__REQ_IDLE) return;
  uv_timer_start(t, gone_over, d->grace_ms, 0);
  if (r->state == CRATER__REQ_DRAINING) {
    run(r, push_closed(r->task.main.L)); /* write returns nil, "closed" */
    return;
  }
  if (r->state == CRATER__REQ_WAITING) crater__task_interrupt(&r->task);
}

static void gone_over(uv_timer_t *t) {
  struct crater__deadline *d = t->data;
  crater__request *r = d->r;
  if (r == NULL || r->state == CRATER__REQ_IDLE || r->state == CRATER__REQ_RUNNING) return;
  char what[160];
  describe(&r->task, what, sizeof(what));
  if (d->grace_is_deadline)
    crater__log(r->srv, CRATER_LOG_WARN, "%s: still running at its deadline (%.3g s), after its client "
                "went away: stopped", what, (double)d->ms / 1000);
  else
    crater__log(r->srv, CRATER_LOG_WARN, "%s: still running %.3g s after its client went away: stopped",
                what, (double)d->grace_ms / 1000);
  crater__task_end(&r->task);
  finish(r, 0, 0);
}

/* What write returns once the stream's client left (a chunk written then
 * is dropped): nil, "closed", as T's only values. Returns 2. */
static int push_closed(lua_State *T) {
  lua_settop(T, 0);
  lua_pushnil(T);
  lua_pushliteral(T, "closed");
  return 2;
}

/* For a log line of the task: "GET /path from 1.2.3.4:5". */
static void describe(crater__task *t, char *buf, size_t size) {
  crater__request *r = (crater__request *)((char *)t - offsetof(crater__request, task));
  snprintf(buf, size, "%s %.*s from %s", r->method ? r->method : "?",
           (int)(r->url_len < 80 ? r->url_len : 80), r->head.data ? r->head.data : "", r->peer);
}

/* The task's owner side: a wait of the handler's coroutine is over. */
static void resume_main(crater__task *t, int nresults) {
  crater__request *r = (crater__request *)((char *)t - offsetof(crater__request, task));
  /* task.c runs the wakes Lua queued at the end of the resume that queued
   * them, which may be run()'s own: the main coroutine has just begun its
   * wait (its results are on its stack), and run() picks it up there. */
  if (r->pflags & P_IN_RUN) {
    r->pflags |= P_WOKEN;
    return;
  }
  assert(r->state == CRATER__REQ_WAITING);
  run(r, nresults);
}

int crater__pipeline_deadline(crater__request *r, uint64_t ms) {
  if (r->pflags & P_GONE) return 0; /* its grace timer bounds it now */
  if (deadline_timer(r) != 0) return -1;
  r->deadline->ms = ms;
  uv_timer_start(&r->deadline->timer, deadline_passed, ms, 0);
  return 0;
}

/* r's timer, made the first time. Returns 0, or -1 when out of memory. */
static int deadline_timer(crater__request *r) {
  if (r->deadline != NULL) return 0;
  struct crater__deadline *d = crater__malloc(sizeof(*d));
  if (d == NULL) return -1;
  uv_timer_init(r->srv->loop, &d->timer);
  d->timer.data = d;
  d->r = r;
  d->ms = 0;
  r->deadline = d;
  return 0;
}

/* The timer fires only from the loop, so the handler is not running: it
 * waits, or its streamed body waits for the client. */
static void deadline_passed(uv_timer_t *t) {
  struct crater__deadline *d = t->data;
  crater__request *r = d->r;
  if (r == NULL || r->state == CRATER__REQ_IDLE || r->state == CRATER__REQ_RUNNING) return;
  char what[160];
  describe(&r->task, what, sizeof(what));
  crater__log(r->srv, CRATER_LOG_WARN, "%s: no answer within the route's deadline (%.3g s): %s", what,
              (double)d->ms / 1000, (r->pflags & P_STREAM) ? "stream broken off" : "504");
  crater__task_end(&r->task); /* what the handler and its threads wait for: cancelled */
  if (r->pflags & P_STREAM) {
    finish(r, 0, 0); /* the head went out: the sink breaks the body off */
    return;
  }
  char detail[96];
  int n = snprintf(detail, sizeof(detail), "the handler did not answer within its deadline (%.3g s)",
                   (double)d->ms / 1000);
  core_answer(r, 504, detail, (size_t)n, CORE_QUIET);
}

static void deadline_closed(uv_handle_t *h) { crater__free(h->data); }

/* ===================================================================== */
/*  Running the coroutine                                                  */
/* ===================================================================== */

/* Resumes the request's coroutine until it returns, fails, or suspends
 * (waits, or a chunk waits for the sink). Every path that ends the request
 * calls finish() last and returns at once: the sink's done() may reuse r. */
static void run(crater__request *r, int nargs) {
  crater_server *srv = r->srv;
  lua_State *T = r->task.main.L;
  r->state = CRATER__REQ_RUNNING;
  r->pflags |= P_IN_RUN;
  for (;;) {
    int st = crater__task_run_main(&r->task, nargs);
    nargs = 0;
    const char *fail_msg = NULL;
    char why[WHY_SIZE];
    if (st == LUA_YIELD) {
      if (r->task.main.state == CRATER__UT_WAITING) {
        if (r->pflags & P_WOKEN) { /* resume_main */
          r->pflags &= ~P_WOKEN;
          nargs = lua_gettop(T);
          continue;
        }
        r->state = CRATER__REQ_WAITING;
        if (r->sink->flush != NULL && !(r->pflags & P_GONE)) r->sink->flush(r->sink_ctx, r);
        if (r->pflags & P_ABORTED) {
          end_aborted(r);
          return;
        }
        r->pflags &= ~P_IN_RUN;
        return;
      }
      if (!(r->pflags & P_STREAM) && lua_gettop(T) >= 4 && lua_isnumber(T, 1) &&
          lua_isboolean(T, 2)) {
        int rc = respond_from_stack(r, T, CRATER__RES_STREAM, why);
        if (rc != 0) {
          /* Nothing went out: a plain answer still can (the suspended
           * coroutine is dropped, not reused). */
          if (rc == -2) refused_answer(r, why);
          else core_answer(r, 503, "out of memory answering the request", 35, 0);
          return;
        }
        if (r->pflags & P_ABORTED) {
          end_aborted(r);
          return;
        }
        r->pflags |= P_STREAM;
        lua_settop(T, 0);
        continue;
      }
      if ((r->pflags & P_STREAM) && lua_gettop(T) >= 1 && lua_type(T, 1) == LUA_TSTRING) {
        if (r->pflags & P_GONE) {
          nargs = push_closed(T);
          continue;
        }
        size_t len;
        const char *chunk = lua_tolstring(T, 1, &len);
        if (r->enc != NULL && len > 0 && crater__encoder_push(r->enc, chunk, len, 0, &chunk, &len) != 0) {
          crater__log(srv, CRATER_LOG_ERROR, "stream: gzip failed midway: broken off");
          finish(r, 0, 0);
          return;
        }
        int wait = len > 0 ? r->sink->chunk(r->sink_ctx, r, chunk, len) : 0;
        if (r->pflags & P_ABORTED) {
          end_aborted(r);
          return;
        }
        if (r->pflags & P_GONE) { /* the sink lost the client while taking it */
          nargs = push_closed(T);
          continue;
        }
        lua_settop(T, 0);
        if (wait) {
          r->state = CRATER__REQ_DRAINING;
          r->pflags &= ~P_IN_RUN;
          return;
        }
        lua_pushboolean(T, 1); /* write returns true */
        nargs = 1;
        continue;
      }
      fail_msg = "handler yielded outside a supported operation";
    } else if (st == 0) {
      if (r->pflags & P_STREAM) {
        /* The dispatcher returns -1 when the stream failed after its head. */
        int failed = lua_gettop(T) >= 1 && lua_tonumber(T, 1) == -1;
        if (r->pflags & P_GONE) failed = 1; /* nothing more goes out */
        if (!failed && r->enc != NULL) {
          failed = coded_end(r);
          if (r->pflags & P_ABORTED) {
            end_aborted(r);
            return;
          }
        }
        finish(r, !failed, 1);
        return;
      }
      int rc = respond_from_stack(r, T, 0, why);
      if (rc != 0) {
        if (rc == -2) refused_answer(r, why);
        else core_answer(r, 503, "out of memory answering the request", 35, 0);
        return;
      }
      if (r->pflags & P_ABORTED) {
        end_aborted(r);
        return;
      }
      if (r->file_fd >= 0) {
        lua_settop(T, 0);
        send_file(r);
        return;
      }
      finish(r, 1, 1);
      return;
    }
    /* The dispatcher catches handler errors itself, so reaching here means
     * the framework failed, or a handler yielded what nothing waits for. */
    if (st == LUA_ERRMEM) r->gen->mem.hit = 1; /* collected after this request */
    crater__buf text = {0};
    crater__log(srv, CRATER_LOG_ERROR, "%s failed: %s", (r->pflags & P_STREAM) ? "stream" : "dispatcher",
                crater__lua_error_text(r->gen->L, T, st, fail_msg, &text));
    crater__buf_free(&text);
    crater__gen_thread_drop(r->gen, r->task.main.ref); /* dead or suspended: not reusable */
    r->task.main.L = NULL;
    if (r->pflags & P_STREAM) {
      finish(r, 0, 0); /* the head went out already: the sink breaks it off */
      return;
    }
    core_answer(r, 500, DISPATCH_FAILED, sizeof(DISPATCH_FAILED) - 1, 0);
    return;
  }
}

/* A field as it may go into a log line: quoted, at most 40 bytes, every
 * byte that is not visible ASCII or SP (or is '"' or '\') as \xHH. */
static void shown(char *out, size_t size, const char *s, size_t n) {
  size_t k = 0;
  if (size < 12) return;
  out[k++] = '"';
  for (size_t i = 0; i < n && i < 40 && k + 6 < size; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') out[k++] = (char)c;
    else k += (size_t)snprintf(out + k, size - k, "\\x%02X", c);
  }
  out[k++] = '"';
  if (n > 40 && k + 4 < size) {
    memcpy(out + k, "...", 3);
    k += 3;
  }
  out[k] = '\0';
}

/* Why a header is refused, for the log: "header 2 "X-A": ...". */
static void header_refusal(char why[WHY_SIZE], size_t i, const char *name, size_t nlen,
                           const char *value, size_t vlen, crater__hdr_use use) {
  char n[168], v[168];
  shown(n, sizeof(n), name, nlen);
  shown(v, sizeof(v), value, vlen);
  switch (use) {
  case CRATER__HDR_BAD_NAME:
    snprintf(why, WHY_SIZE, "header %zu: the name %s is not a token", i, n);
    break;
  case CRATER__HDR_BAD_VALUE: {
    size_t at = crater__http_field_value_bad_at(value, vlen);
    snprintf(why, WHY_SIZE, "header %zu %s: byte 0x%02X at %zu of its value %s (a control character)", i,
             n, (unsigned char)value[at], at, v);
    break;
  }
  case CRATER__HDR_FRAMING:
    snprintf(why, WHY_SIZE, "header %zu %s: framing is the core's", i, n);
    break;
  default:
    snprintf(why, WHY_SIZE, "header %zu %s: the value %s is not \"close\"", i, n, v);
    break;
  }
}

/* The dispatcher's answer on T's stack -- status, body (or false when it
 * streams), content type, flat headers -- to the sink, with the header
 * policy applied: every header is checked here, before anything reaches
 * the sink, so nothing unchecked goes out whatever made the answer.
 * Returns 0; -1 when memory for the header list ran out; -2 when the
 * answer is refused (a status that is not final, a header the policy
 * refuses; why says which). Nothing was sent when it returns non-zero. */
static int respond_from_stack(crater__request *r, lua_State *T, unsigned flags,
                              char why[WHY_SIZE]) {
  crater_header inline_hs[INLINE_HEADERS], *hs = inline_hs;
  crater__response res;
  /* A final answer: 1xx are interim, and the core sends none for an app.
   * (The framework also refuses 200.5; truncated here, it is still safe.) */
  lua_Integer status = lua_tointeger(T, 1);
  if (status < 200 || status > 999) {
    snprintf(why, WHY_SIZE, "status %.14g is not a final status (an integer from 200 to 999)",
             lua_tonumber(T, 1));
    return -2;
  }
  res.status = (int)status;
  res.flags = flags;
  res.body = NULL;
  res.body_len = 0;
  int64_t file_off;
  uint64_t file_len;
  if (!(flags & CRATER__RES_STREAM) && crater__static_file_take(T, 2, &r->file_fd, &file_off, &file_len)) {
    /* A file answer (crater.static): its head says how long; send_file sends it. */
    if (r->file_fd < 0) {
      snprintf(why, WHY_SIZE, "the file answer was closed before it was returned");
      return -2;
    }
    res.flags |= CRATER__RES_FILE;
    res.body_len = file_len;
    r->file_off = file_off;
    r->file_left = crater__http_bodyless(res.status) ? 0 : file_len;
  } else {
    if (!(flags & CRATER__RES_STREAM)) res.body = lua_tolstring(T, 2, &res.body_len);
    if (res.body == NULL) res.body_len = 0;
  }
  size_t ctype_len = 0;
  const char *ctype = lua_tolstring(T, 3, &ctype_len);
  if (ctype == NULL) {
    if (!lua_isnoneornil(T, 3)) {
      snprintf(why, WHY_SIZE, "the content type is a %s", luaL_typename(T, 3));
      return -2;
    }
  } else if (!crater__gen_known_type(r->gen, ctype) &&
             !crater__http_field_value_ok(ctype, ctype_len)) {
    header_refusal(why, 0, "Content-Type", 12, ctype, ctype_len, CRATER__HDR_BAD_VALUE);
    return -2;
  }
  int n = 0, ht = lua_type(T, 4);
  if (ht == LUA_TTABLE) {
    size_t len = lua_objlen(T, 4);
    if (len % 2 != 0) {
      snprintf(why, WHY_SIZE, "the header list holds %zu items, not name-value pairs", len);
      return -2;
    }
    n = (int)(len / 2);
  } else if (ht != LUA_TNIL && ht != LUA_TNONE) {
    snprintf(why, WHY_SIZE, "the header list is a %s", lua_typename(T, ht));
    return -2;
  }
  if (n + 3 > INLINE_HEADERS) { /* Content-Type, and 2 for compress.c */
    hs = crater__malloc(sizeof(*hs) * (size_t)(n + 3));
    if (hs == NULL) return -1;
  }
  size_t k = 0;
  if (ctype != NULL) hs[k++] = (crater_header){"Content-Type", 12, ctype, ctype_len};
  int rc = 0;
  for (int i = 0; i < n; i++) {
    lua_rawgeti(T, 4, 2 * i + 1);
    lua_rawgeti(T, 4, 2 * i + 2);
    crater_header h = {NULL, 0, NULL, 0};
    /* Strings only: the table keeps them alive after the pop. */
    int nt = lua_type(T, -2), vt = lua_type(T, -1);
    if (nt == LUA_TSTRING) h.name = lua_tolstring(T, -2, &h.name_len);
    if (vt == LUA_TSTRING) h.value = lua_tolstring(T, -1, &h.value_len);
    lua_pop(T, 2);
    if (h.name == NULL || h.value == NULL) {
      snprintf(why, WHY_SIZE, "header %d: the %s is a %s", i + 1, h.name == NULL ? "name" : "value",
               lua_typename(T, h.name == NULL ? nt : vt));
      rc = -2;
      break;
    }
    crater__hdr_use use = crater__http_response_header_use(h.name, h.name_len, h.value, h.value_len);
    if (use == CRATER__HDR_COPY) {
      hs[k++] = h;
    } else if (use == CRATER__HDR_CLOSE) {
      res.flags |= CRATER__RES_CLOSE;
    } else {
      header_refusal(why, (size_t)i + 1, h.name, h.name_len, h.value, h.value_len, use);
      rc = -2;
      break;
    }
  }
  if (rc == 0) {
    res.headers = hs;
    res.nheaders = k;
    /* The dispatcher's fifth value: the route's compression policy. */
    crater__compress_job job = {{0}, {0}, {0}};
    crater__compress_answer(r, crater__compress_policy_at(T, 5), &res, hs, &k, &job,
                            (flags & CRATER__RES_STREAM) ? &r->enc : NULL);
    r->sink->respond(r->sink_ctx, r, &res);
    crater__compress_job_free(&job);
  }
  if (hs != inline_hs) crater__free(hs);
  return rc;
}

/* An answer the policy refused (respond_from_stack's -2): the framework
 * refuses the same answers as the handler's error before they get here,
 * so this is code that went around it. Said loudly; answered 500. */
static void refused_answer(crater__request *r, const char *why) {
  char what[160];
  describe(&r->task, what, sizeof(what));
  crater__log(r->srv, CRATER_LOG_ERROR,
              "%s: the core refused the application's answer (%s) and answered 500: the framework "
              "should have refused it first (a dispatcher that goes around crater.response's finish?)",
              what, why);
  static const char detail[] = "the application's answer could not be sent; see the server log";
  core_answer(r, 500, detail, sizeof(detail) - 1, CORE_QUIET);
}

/* An answer of the core's own: problem+json, counted as refused. Refusals
 * a client cannot recover from on the same connection close it (the 4xx
 * ones, and 505); after a 5xx it may go on. */
static void core_answer(crater__request *r, int status, const char *detail, size_t dlen,
                        unsigned how) {
  crater_server *srv = r->srv;
  int stale = (how & CORE_STALE) != 0;
  srv->stats.requests_refused++;
  if (!(how & (CORE_STALE | CORE_QUIET)))
    crater__log(srv, status >= 500 ? CRATER_LOG_ERROR : CRATER_LOG_WARN, "refused %d from %s: %.*s",
                status, r->peer, (int)dlen, detail);
  crater__buf body = {0};
  crater_header hs[2] = {
    {"Content-Type", 12, "application/problem+json", 24},
    {"X-Crater-Stale", 14, "1", 1},
  };
  crater__response res = {status, hs, stale ? 2 : 1, "", 0, 0};
  if (status < 500 || status == 505) res.flags |= CRATER__RES_CLOSE;
  if (crater__http_problem_body(&body, status, detail, dlen, stale) == 0) {
    res.body = body.data;
    res.body_len = body.len;
  }
  r->pflags |= P_IN_RUN; /* an abort from inside respond() waits for it */
  r->sink->respond(r->sink_ctx, r, &res);
  crater__buf_free(&body);
  if (r->pflags & P_ABORTED) {
    end_aborted(r);
    return;
  }
  finish(r, 1, 0);
}

/* ===================================================================== */
/*  File answers                                                           */
/* ===================================================================== */

/* The body of a file answer (crater.static), after its head went to the
 * sink: from the file to the sink without passing through Lua. A large
 * rest goes through the sink's file() (sendfile(2) on a socket); a small
 * one, or all of it for a sink without file(), is read into chunk(), so a
 * small file goes out in the same write as its head. Either may ask to
 * wait for the client: the request is then DRAINING, and
 * crater__pipeline_drained() comes back here. The handler has answered:
 * its deadline no longer applies (the send timeout protects the
 * connection from a client that stops reading). */
static void send_file(crater__request *r) {
  if (r->deadline != NULL) uv_timer_stop(&r->deadline->timer);
  r->state = CRATER__REQ_RUNNING;
  r->pflags |= P_IN_RUN | P_FILE;
  if (r->head_only) r->file_left = 0;
  while (r->file_left > 0) {
    int wait;
    if (r->sink->file != NULL && r->file_left > FILE_READ_SIZE) {
      wait = r->sink->file(r->sink_ctx, r, r->file_fd, &r->file_off, &r->file_left);
    } else {
      char buf[FILE_READ_SIZE];
      size_t want = r->file_left < sizeof(buf) ? (size_t)r->file_left : sizeof(buf);
      ssize_t n;
      do {
        n = pread(r->file_fd, buf, want, (off_t)r->file_off);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) { /* shrank or failed since its size went out: break off */
        crater__log(r->srv, CRATER_LOG_ERROR, "file answer to %s: %s at offset %lld", r->peer,
                    n < 0 ? strerror(errno) : "the file ended early", (long long)r->file_off);
        wait = -1;
      } else {
        r->file_off += n;
        r->file_left -= (uint64_t)n;
        wait = r->sink->chunk(r->sink_ctx, r, buf, (size_t)n);
      }
    }
    if (r->pflags & P_ABORTED) {
      end_aborted(r);
      return;
    }
    if (wait < 0) {
      finish(r, 0, 1); /* the head went out: the sink breaks the body off */
      return;
    }
    if (wait > 0) {
      r->state = CRATER__REQ_DRAINING;
      r->pflags &= ~P_IN_RUN;
      return;
    }
  }
  finish(r, 1, 1);
}

/* ===================================================================== */
/*  Ending                                                                 */
/* ===================================================================== */

static void release(crater__request *r, int thread_reusable) {
  crater__gen *g = r->gen;
  if (r->deadline != NULL) {
    r->deadline->r = NULL;
    uv_close((uv_handle_t *)&r->deadline->timer, deadline_closed);
    r->deadline = NULL;
  }
  if (r->file_fd >= 0) {
    close(r->file_fd); /* sent, broken off or never started: the request owned it */
    r->file_fd = -1;
  }
  if (g != NULL) crater__task_end(&r->task); /* spawned threads, a pending wait */
  crater__encoder_free(r->enc);
  r->enc = NULL;
  lua_State *T = r->task.main.L;
  if (T != NULL) {
    if (thread_reusable) crater__gen_thread_done(g, T, r->task.main.ref);
    else crater__gen_thread_drop(g, r->task.main.ref);
    r->task.main.L = NULL;
  }
  r->gen = NULL;
  crater__request_body_release(r); /* an upload's temporary files go with it */
  r->state = CRATER__REQ_IDLE;
  r->pflags = 0;
  r->seq++; /* Lua's (request, seq) pairs of it are stale from here */
  if (g == NULL) return;
  if (g->mem.hit) crater__gen_after_oom(g); /* the memory it failed with, back */
  crater__reload_unpin(g); /* may retire g: its on_stop hooks run */
}

static void finish(crater__request *r, int ok, int thread_reusable) {
  const crater__sink *sink = r->sink;
  void *ctx = r->sink_ctx;
  release(r, thread_reusable);
  sink->done(ctx, r, ok); /* last: the transport may start its next request in r */
}

/* The transport went away: what the handler and its threads wait for is
 * cancelled (crater__task_end, in release), and nothing is sent. */
static void end_aborted(crater__request *r) { release(r, 0); }

/* ===================================================================== */
/*  Helpers                                                                */
/* ===================================================================== */

/* Path and query of a request target: of an absolute-form one
 * (GET http://host/path) only what follows the authority (r->target_off,
 * strict.c), "/" when that path is empty. strict.c refuses a fragment. */
static void split_url(const crater__request *r, const char **path, size_t *path_len,
                      const char **query, size_t *query_len) {
  const char *url = r->head.data ? r->head.data + r->target_off : "";
  size_t url_len = r->head.data ? r->url_len - r->target_off : 0;
  const char *q = memchr(url, '?', url_len);
  *path = url;
  *path_len = q ? (size_t)(q - url) : url_len;
  *query = q ? q + 1 : "";
  *query_len = q ? url_len - *path_len - 1 : 0;
  if (*path_len == 0) { /* RFC 9112 3.2.1: an empty path is "/" */
    *path = "/";
    *path_len = 1;
  }
}

/* The answers the core gives without the app (r->answer, strict.c):
 * `OPTIONS *` asks about the server as a whole (RFC 9110 9.3.7), answered
 * 200 with no content; CONNECT is refused (501, problem+json). Neither is
 * routed. */
static void own_answer(crater__request *r) {
  if (r->answer != 200) {
    core_answer(r, r->answer, r->answer_why, strlen(r->answer_why), 0);
    return;
  }
  crater__response res = {200, NULL, 0, "", 0, 0};
  r->pflags |= P_IN_RUN; /* an abort from inside respond() waits for it */
  r->sink->respond(r->sink_ctx, r, &res);
  if (r->pflags & P_ABORTED) {
    end_aborted(r);
    return;
  }
  finish(r, 1, 0);
}

/* The end of a gzip'd stream (its trailer) to the sink. Returns 1 when
 * coding failed (the body breaks off), else 0. */
static int coded_end(crater__request *r) {
  const char *tail;
  size_t len;
  if (crater__encoder_push(r->enc, "", 0, 1, &tail, &len) != 0) {
    crater__log(r->srv, CRATER_LOG_ERROR, "stream: gzip failed at its end: broken off");
    return 1;
  }
  /* Whether the sink wants a pause matters no more: nothing follows. */
  if (len > 0) (void)r->sink->chunk(r->sink_ctx, r, tail, len);
  return 0;
}
