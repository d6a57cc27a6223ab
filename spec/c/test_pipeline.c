/* test_pipeline.c - a request that suspends and resumes (pipeline.c), over
 * both transports: a C function called from Lua waits on a loop timer
 * through crater__task_wait / crater__task_resume (task.h), the contract
 * every wait builds on. Answers come later while other
 * requests are served, pipelined answers stay in order, a streamed body can
 * wait between chunks, a client gone or a shutdown cancels the wait, a
 * reload lets a waiting request finish on its own generation, and a
 * synchronous injection refuses to wait. */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "client.h"
#include "crater.h"
#include "helpers.h"
#include "task.h"
#include "server.h"
#include "test.h"

/* What the waits did, for the assertions. */
typedef struct {
  uv_loop_t *loop;
  int started, fired, cancelled, stops;
  char log[4096];
} waits;

typedef struct {
  uv_timer_t timer;
  crater__uthread *ut;
  waits *w;
} wait_op;

static void wait_closed(uv_handle_t *h) { free(h->data); }

static void wait_fire(uv_timer_t *t) {
  wait_op *op = t->data;
  crater__uthread *ut = op->ut;
  op->w->fired++;
  uv_close((uv_handle_t *)t, wait_closed);
  lua_pushliteral(ut->L, "woke");
  crater__task_resume(ut, 1);
}

static void wait_cancel(void *data) {
  wait_op *op = data;
  op->w->cancelled++;
  uv_timer_stop(&op->timer);
  uv_close((uv_handle_t *)&op->timer, wait_closed);
}

/* waiter.wait(ms) -> "woke", after ms on the loop. */
static int lua_wait(lua_State *L) {
  waits *w = crater_lua_context(L);
  crater_server *srv = crater_lua_server(L);
  lua_Integer ms = luaL_checkinteger(L, 1);
  wait_op *op = calloc(1, sizeof(*op));
  if (op == NULL) return luaL_error(L, "out of memory");
  const char *why;
  crater__uthread *ut = crater__task_wait(srv, L, wait_cancel, op, &why);
  if (ut == NULL) {
    free(op);
    return luaL_error(L, "%s", why);
  }
  op->ut = ut;
  op->w = w;
  uv_timer_init(w->loop, &op->timer);
  op->timer.data = op;
  uv_timer_start(&op->timer, wait_fire, (uint64_t)ms, 0);
  w->started++;
  return lua_yield(L, 0);
}

/* waiter.stopped(generation): on_stop ran. */
static int lua_stopped(lua_State *L) {
  waits *w = crater_lua_context(L);
  w->stops++;
  size_t n = strlen(w->log);
  snprintf(w->log + n, sizeof(w->log) - n, "stop %d;", (int)luaL_checkinteger(L, 1));
  return 0;
}

static const luaL_Reg waiter_fns[] = {{"wait", lua_wait}, {"stopped", lua_stopped}, {NULL, NULL}};

#define WAIT_APP(name)                                                                         \
  "local crater = require 'crater'\n"                                                          \
  "local waiter = require 'waiter'\n"                                                          \
  "local app = crater.app()\n"                                                                 \
  "app:get('/sleep/{ms}', function(req)\n"                                                     \
  "  local v = waiter.wait(tonumber(req.params.ms))\n"                                         \
  "  return v .. ' " name " ' .. req.path .. ' ' .. (req:header('x-tag') or '')\n"             \
  "end)\n"                                                                                     \
  "app:get('/fast', function() return 'fast " name "' end)\n"                                  \
  "app:get('/pcall', function()\n"                                                             \
  "  local ok, v = pcall(waiter.wait, 5)\n"                                                    \
  "  return tostring(ok) .. ' ' .. v\n"                                                        \
  "end)\n"                                                                                     \
  "app:get('/stream', function()\n"                                                            \
  "  return crater.stream(function(write)\n"                                                   \
  "    write('a') waiter.wait(5) write('b') waiter.wait(5) write('c')\n"                       \
  "  end)\n"                                                                                   \
  "end)\n"                                                                                     \
  "app:on_stop(function(info) waiter.stopped(info.generation) end)\n"                          \
  "return app\n"

static const char wait_app_v1[] = WAIT_APP("v1");
static const char wait_app_v2[] = WAIT_APP("v2");

static void set_flag(crater_server *srv) { *(int *)crater_get_data(srv) = 1; }

/* A server on loop serving the wait app on a free port. */
static crater_server *start_server(uv_loop_t *loop, waits *w, uint64_t grace_ms) {
  crater_config cfg = crater_config_default();
  cfg.log_cb = spec_quiet_log;
  cfg.grace_ms = grace_ms;
  crater_server *srv;
  memset(w, 0, sizeof(*w));
  w->loop = loop;
  if (crater_new(&srv, loop, &cfg) != 0) return NULL;
  if (crater_register_module(srv, "waiter", waiter_fns, w) != 0 ||
      crater_load_string(srv, "wait_app", wait_app_v1, sizeof(wait_app_v1) - 1) != 0 ||
      crater_listen(srv, "127.0.0.1", 0) != 0) {
    crater_free(srv);
    return NULL;
  }
  return srv;
}

static void body_of(const spec_client *c, char *out, size_t cap) {
  out[0] = '\0';
  if (c->data != NULL) spec_response_body(c->data, c->len, out, cap);
}

TEST(pipeline_wait_answers_later_and_serves_others_meanwhile) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  waits w;
  crater_server *srv = start_server(&loop, &w, 1000);
  ASSERT_TRUE(srv != NULL);
  int port = crater_bound_port(srv);
  spec_client slow, fast;
  /* 1 s: /fast must surely be answered first, even under ASan on a loaded machine. */
  spec_client_start(&slow, &loop, port, "GET", "/sleep/1000", "X-Tag: t1\r\n", NULL);
  spec_client_start(&fast, &loop, port, "GET", "/fast", NULL, NULL);
  spec_run_until(&loop, &fast.done);
  ASSERT_EQ_INT(slow.done, 0);
  ASSERT_EQ_INT(w.started, 1);
  spec_run_until(&loop, &slow.done);
  char body[256];
  body_of(&fast, body, sizeof(body));
  ASSERT_EQ_STR(body, "fast v1");
  ASSERT_EQ_INT(spec_response_status(slow.data), 200);
  body_of(&slow, body, sizeof(body));
  ASSERT_EQ_STR(body, "woke v1 /sleep/1000 t1"); /* the request's data outlives the wait */
  ASSERT_EQ_INT(w.fired, 1);
  spec_client_free(&slow);
  spec_client_free(&fast);

  /* A wait inside pcall, and a streamed body that waits between chunks. */
  spec_client c;
  spec_client_start(&c, &loop, port, "GET", "/pcall", NULL, NULL);
  spec_run_until(&loop, &c.done);
  body_of(&c, body, sizeof(body));
  ASSERT_EQ_STR(body, "true woke");
  spec_client_free(&c);
  spec_client_start(&c, &loop, port, "GET", "/stream", NULL, NULL);
  spec_run_until(&loop, &c.done);
  ASSERT_TRUE(strstr(c.data, "Transfer-Encoding: chunked") != NULL);
  body_of(&c, body, sizeof(body));
  ASSERT_EQ_STR(body, "abc");
  spec_client_free(&c);
  spec_server_stop(&loop, srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

TEST(pipeline_wait_keeps_pipelined_answers_in_order) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  waits w;
  crater_server *srv = start_server(&loop, &w, 1000);
  ASSERT_TRUE(srv != NULL);
  spec_client c;
  spec_client_start_raw(&c, &loop, crater_bound_port(srv),
                        "GET /sleep/40 HTTP/1.1\r\nHost: t\r\n\r\n"
                        "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n"
                        "GET /sleep/10 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  spec_run_until(&loop, &c.done);
  ASSERT_TRUE(c.data != NULL);
  const char *a = strstr(c.data, "woke v1 /sleep/40");
  const char *b = strstr(c.data, "fast v1");
  const char *d = strstr(c.data, "woke v1 /sleep/10");
  ASSERT_TRUE(a != NULL && b != NULL && d != NULL);
  ASSERT_TRUE(a < b && b < d);
  spec_client_free(&c);
  spec_server_stop(&loop, srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

typedef struct {
  int calls, rc, status;
  char body[128];
} inject_result;

static void on_injected(crater_server *srv, int rc, const crater_response *res, void *udata) {
  (void)srv;
  inject_result *r = udata;
  r->calls++;
  r->rc = rc;
  if (res != NULL) {
    r->status = res->status;
    snprintf(r->body, sizeof(r->body), "%s", res->body);
  }
}

TEST(pipeline_wait_injected) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  waits w;
  crater_server *srv = start_server(&loop, &w, 1000);
  ASSERT_TRUE(srv != NULL);
  /* crater_inject waits like a socket request... */
  crater_request req = {"GET", "/sleep/20", 0, NULL, 0, NULL, 0};
  inject_result res = {0};
  ASSERT_EQ_INT(crater_inject(srv, &req, on_injected, &res), 0);
  spec_run_until(&loop, &res.calls);
  ASSERT_EQ_INT(res.rc, 0);
  ASSERT_EQ_INT(res.status, 200);
  ASSERT_EQ_STR(res.body, "woke v1 /sleep/20 ");
  /* ...crater_inject_sync cannot: the wait is cancelled, the call says why. */
  crater_response *out = NULL;
  ASSERT_EQ_INT(crater_inject_sync(srv, &req, &out), CRATER_ESTATE);
  ASSERT_TRUE(out == NULL);
  ASSERT_TRUE(strstr(crater_last_error(srv), "crater_inject()") != NULL);
  ASSERT_EQ_INT(w.cancelled, 1);
  /* The server goes on. */
  crater_request fast = {"GET", "/fast", 0, NULL, 0, NULL, 0};
  ASSERT_EQ_INT(crater_inject_sync(srv, &fast, &out), 0);
  ASSERT_EQ_INT(out->status, 200);
  crater_response_free(out);
  spec_server_stop(&loop, srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

TEST(pipeline_wait_cancelled_when_the_client_resets) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  waits w;
  crater_server *srv = start_server(&loop, &w, 1000);
  ASSERT_TRUE(srv != NULL);
  int port = crater_bound_port(srv);
  spec_client c;
  spec_client_start(&c, &loop, port, "GET", "/sleep/5000", NULL, NULL);
  while (w.started == 0 && uv_run(&loop, UV_RUN_ONCE) != 0) {
  }
  spec_client_reset(&c);
  while (w.cancelled == 0 && uv_run(&loop, UV_RUN_ONCE) != 0) {
  }
  ASSERT_EQ_INT(w.cancelled, 1);
  ASSERT_EQ_INT(w.fired, 0);
  spec_client_free(&c);
  crater_stats st;
  crater_get_stats(srv, &st);
  ASSERT_EQ_INT(st.connections_open, 0);
  spec_client_start(&c, &loop, port, "GET", "/fast", NULL, NULL);
  spec_run_until(&loop, &c.done);
  ASSERT_EQ_INT(spec_response_status(c.data), 200);
  spec_client_free(&c);
  spec_server_stop(&loop, srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* crater_close lets a waiting request finish within the grace period, and
 * cuts off one that waits longer; either way on_stop runs before the close
 * callback. */
TEST(pipeline_wait_and_shutdown) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  waits w;
  crater_server *srv = start_server(&loop, &w, 1000);
  ASSERT_TRUE(srv != NULL);
  spec_client c;
  spec_client_start(&c, &loop, crater_bound_port(srv), "GET", "/sleep/30", NULL, NULL);
  while (w.started == 0 && uv_run(&loop, UV_RUN_ONCE) != 0) {
  }
  int closed = 0;
  crater_set_data(srv, &closed);
  ASSERT_EQ_INT(crater_close(srv, set_flag), 0);
  spec_run_until(&loop, &closed);
  ASSERT_EQ_INT(w.fired, 1);
  ASSERT_EQ_INT(w.stops, 1);
  spec_run_until(&loop, &c.done);
  ASSERT_EQ_INT(spec_response_status(c.data), 200);
  spec_client_free(&c);
  uv_run(&loop, UV_RUN_DEFAULT);
  crater_free(srv);

  srv = start_server(&loop, &w, 30); /* grace 30 ms */
  ASSERT_TRUE(srv != NULL);
  spec_client_start(&c, &loop, crater_bound_port(srv), "GET", "/sleep/60000", NULL, NULL);
  crater_request req = {"GET", "/sleep/60000", 0, NULL, 0, NULL, 0};
  inject_result res = {0};
  ASSERT_EQ_INT(crater_inject(srv, &req, on_injected, &res), 0);
  while (w.started < 2 && uv_run(&loop, UV_RUN_ONCE) != 0) {
  }
  closed = 0;
  crater_set_data(srv, &closed);
  ASSERT_EQ_INT(crater_close(srv, set_flag), 0);
  spec_run_until(&loop, &closed);
  ASSERT_EQ_INT(w.cancelled, 2);
  ASSERT_EQ_INT(w.stops, 1);
  ASSERT_EQ_INT(res.calls, 1);
  ASSERT_EQ_INT(res.rc, CRATER_ESTATE);
  spec_run_until(&loop, &c.done);
  spec_client_free(&c);
  uv_run(&loop, UV_RUN_DEFAULT);
  crater_free(srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* A swap while a request waits: it finishes on the generation it started
 * on, which retires (on_stop) only then; new requests get the new one. */
TEST(pipeline_wait_across_a_reload) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  waits w;
  crater_server *srv = start_server(&loop, &w, 1000);
  ASSERT_TRUE(srv != NULL);
  int port = crater_bound_port(srv);
  spec_client slow, fast;
  /* Long enough that the reload and /fast are surely over before it wakes,
   * even in the ASan build on a loaded machine (60 ms was not). */
  spec_client_start(&slow, &loop, port, "GET", "/sleep/1000", NULL, NULL);
  while (w.started == 0 && uv_run(&loop, UV_RUN_ONCE) != 0) {
  }
  ASSERT_EQ_INT(crater_load_string(srv, "wait_app", wait_app_v2, sizeof(wait_app_v2) - 1), 0);
  spec_client_start(&fast, &loop, port, "GET", "/fast", NULL, NULL);
  spec_run_until(&loop, &fast.done);
  ASSERT_EQ_INT(w.stops, 0); /* generation 1 still has a request in flight */
  spec_run_until(&loop, &slow.done);
  char body[256];
  body_of(&fast, body, sizeof(body));
  ASSERT_EQ_STR(body, "fast v2");
  body_of(&slow, body, sizeof(body));
  ASSERT_EQ_STR(body, "woke v1 /sleep/1000 ");
  ASSERT_EQ_INT(w.stops, 1);
  ASSERT_EQ_STR(w.log, "stop 1;");
  spec_client_free(&slow);
  spec_client_free(&fast);
  spec_server_stop(&loop, srv);
  ASSERT_EQ_STR(w.log, "stop 1;stop 2;");
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}
