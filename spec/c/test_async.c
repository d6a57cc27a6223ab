/* test_async.c - C functions that complete later (crater_async_*, crater.h),
 * as an embedder writes them: on a loop timer, on libuv's thread pool, with
 * failures, from parallel light threads, and when the request is gone
 * before the completion (cancel callback; the completion then only frees). */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "client.h"
#include "crater.h"
#include "test.h"

typedef struct {
  uv_loop_t *loop;
  int begun, completed, cancelled, freed_after_cancel;
} host_state;

/* ---- later(ms, value) -> value, after ms on a loop timer ---- */

typedef struct {
  uv_timer_t timer;
  crater_async *async;
  host_state *st;
  char *value;     /* NULL: fail */
  int cancelled;
} later_op;

static void later_closed(uv_handle_t *h) {
  later_op *op = h->data;
  free(op->value);
  free(op);
}

static void later_fired(uv_timer_t *t) {
  later_op *op = t->data;
  lua_State *T = crater_async_state(op->async);
  if (op->cancelled) op->st->freed_after_cancel++;
  if (T == NULL) {
    crater_async_complete(op->async, 0); /* gone: this only frees the handle */
  } else if (op->value == NULL) {
    crater_async_fail(op->async, "the host said no");
  } else {
    lua_pushstring(T, op->value);
    crater_async_complete(op->async, 1);
  }
  op->st->completed++;
  uv_close((uv_handle_t *)t, later_closed);
}

/* The request is gone: this host lets its timer run out anyway and
 * completes then (the contract: exactly once, also after a cancel). */
static void later_cancel(crater_async *a, void *udata) {
  later_op *op = udata;
  (void)a;
  op->cancelled = 1;
  op->st->cancelled++;
}

static int host_later(lua_State *L) {
  host_state *st = crater_lua_context(L);
  lua_Integer ms = luaL_checkinteger(L, 1);
  const char *value = luaL_optstring(L, 2, NULL);
  later_op *op = calloc(1, sizeof(*op));
  if (op == NULL) return luaL_error(L, "out of memory");
  op->async = crater_async_begin(L, later_cancel, op);
  if (op->async == NULL) { /* cannot wait here: the message is on L */
    free(op);
    return lua_error(L);
  }
  op->st = st;
  op->value = value ? strdup(value) : NULL;
  st->begun++;
  uv_timer_init(st->loop, &op->timer);
  op->timer.data = op;
  uv_timer_start(&op->timer, later_fired, (uint64_t)ms, 0);
  return crater_async_yield(L);
}

/* ---- square(n) -> n * n, computed on libuv's thread pool ---- */

typedef struct {
  uv_work_t work;
  crater_async *async;
  host_state *st;
  double n, result;
} square_op;

static void square_work(uv_work_t *w) { /* a worker thread: no Lua, no crater_* */
  square_op *op = w->data;
  op->result = op->n * op->n;
}

static void square_done(uv_work_t *w, int status) { /* back on the loop thread */
  square_op *op = w->data;
  lua_State *T = crater_async_state(op->async);
  if (T != NULL && status == 0) lua_pushnumber(T, op->result);
  crater_async_complete(op->async, T != NULL && status == 0 ? 1 : 0);
  op->st->completed++;
  free(op);
}

static int host_square(lua_State *L) {
  host_state *st = crater_lua_context(L);
  lua_Number n = luaL_checknumber(L, 1);
  square_op *op = calloc(1, sizeof(*op));
  if (op == NULL) return luaL_error(L, "out of memory");
  op->async = crater_async_begin(L, NULL, NULL);
  if (op->async == NULL) {
    free(op);
    return lua_error(L);
  }
  op->st = st;
  op->n = n;
  op->work.data = op;
  st->begun++;
  uv_queue_work(st->loop, &op->work, square_work, square_done);
  return crater_async_yield(L);
}

/* ---- cached(v) -> v: the answer is there at once; complete inside ---- */

static int host_cached(lua_State *L) {
  const char *v = luaL_checkstring(L, 1);
  crater_async *a = crater_async_begin(L, NULL, NULL);
  if (a == NULL) return lua_error(L);
  lua_State *T = crater_async_state(a);
  lua_pushstring(T, v);
  lua_pushliteral(T, "second");
  crater_async_complete(a, 2);
  return crater_async_yield(L); /* returns the two results: no wait happened */
}

static const luaL_Reg host_fns[] = {
  {"later", host_later}, {"square", host_square}, {"cached", host_cached}, {NULL, NULL}};

static const char async_app[] =
    "local crater = require 'crater'\n"
    "local host = require 'host'\n"
    "local app = crater.app()\n"
    "app:get('/later/{ms}', function(req) return host.later(tonumber(req.params.ms), 'v' .. req.params.ms) end)\n"
    "app:get('/refused', function() local v, err = host.later(1) return tostring(v) .. ' ' .. err end)\n"
    "app:get('/square/{n}', function(req) return { sq = host.square(tonumber(req.params.n)) } end)\n"
    "app:get('/both', function()\n"
    "  local a = crater.spawn(host.later, 30, 'a')\n"
    "  local b = crater.spawn(host.square, 12)\n"
    "  local ra, rb = crater.wait(a, b)\n"
    "  return ra .. ' ' .. rb\n"
    "end)\n"
    "app:get('/inside', function()\n"
    "  local ok, err = pcall(coroutine.wrap(function() return host.later(1, 'x') end))\n"
    "  return tostring(ok) .. ' ' .. tostring(err)\n"
    "end)\n"
    "app:get('/deadline', { deadline = 0.02 }, function() return host.later(300, 'late') end)\n"
    "app:get('/cached', function() local a, b = host.cached('hit') return a .. ' ' .. b end)\n"
    "return app\n";

static void quiet(void *udata, crater_log_level level, const char *line) {
  (void)udata;
  (void)level;
  (void)line;
}

static crater_server *start(uv_loop_t *loop, host_state *st) {
  memset(st, 0, sizeof(*st));
  st->loop = loop;
  crater_config cfg = crater_config_default();
  cfg.log_cb = quiet;
  crater_server *srv;
  if (crater_new(&srv, loop, &cfg) != 0) return NULL;
  if (crater_register_module(srv, "host", host_fns, st) != 0 ||
      crater_load_string(srv, "async_app", async_app, sizeof(async_app) - 1) != 0 ||
      crater_listen(srv, "127.0.0.1", 0) != 0) {
    crater_free(srv);
    return NULL;
  }
  return srv;
}

static void stop(uv_loop_t *loop, crater_server *srv) {
  crater_close(srv, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  crater_free(srv);
}

static void get(uv_loop_t *loop, crater_server *srv, const char *path, int *status, char *body,
                size_t cap) {
  spec_client c;
  spec_client_start(&c, loop, crater_bound_port(srv), "GET", path, NULL, NULL);
  spec_run_until(loop, &c.done);
  *status = spec_response_status(c.data);
  body[0] = '\0';
  if (c.data) spec_response_body(c.data, c.len, body, cap);
  spec_client_free(&c);
}

TEST(async_c_functions_complete_later) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  host_state st;
  crater_server *srv = start(&loop, &st);
  ASSERT_TRUE(srv != NULL);
  int status;
  char body[256];
  get(&loop, srv, "/later/20", &status, body, sizeof(body));
  ASSERT_EQ_INT(status, 200);
  ASSERT_EQ_STR(body, "v20");
  get(&loop, srv, "/refused", &status, body, sizeof(body));
  ASSERT_EQ_STR(body, "nil the host said no");
  get(&loop, srv, "/square/9", &status, body, sizeof(body));
  ASSERT_EQ_STR(body, "{\"sq\":81}");
  get(&loop, srv, "/both", &status, body, sizeof(body));
  ASSERT_EQ_STR(body, "a 144");
  get(&loop, srv, "/cached", &status, body, sizeof(body)); /* completed inside the function */
  ASSERT_EQ_INT(status, 200);
  ASSERT_EQ_STR(body, "hit second");
  get(&loop, srv, "/inside", &status, body, sizeof(body));
  ASSERT_TRUE(strstr(body, "false ") == body);
  ASSERT_TRUE(strstr(body, "coroutine the app created") != NULL);
  ASSERT_EQ_INT(st.begun, st.completed);
  ASSERT_EQ_INT(st.cancelled, 0);

  /* Two at once: the short one answers first. */
  spec_client slow, fast;
  spec_client_start(&slow, &loop, crater_bound_port(srv), "GET", "/later/80", NULL, NULL);
  spec_client_start(&fast, &loop, crater_bound_port(srv), "GET", "/later/5", NULL, NULL);
  spec_run_until(&loop, &fast.done);
  ASSERT_EQ_INT(slow.done, 0);
  spec_run_until(&loop, &slow.done);
  spec_client_free(&slow);
  spec_client_free(&fast);

  /* crater_inject waits for it too; crater_inject_sync cannot. */
  crater_request req = {"GET", "/square/3", 0, NULL, 0, NULL, 0};
  crater_response *res;
  ASSERT_EQ_INT(crater_inject_sync(srv, &req, &res), CRATER_ESTATE);
  uv_run(&loop, UV_RUN_NOWAIT); /* the thread pool's work ends; its completion only frees */
  stop(&loop, srv);
  ASSERT_EQ_INT(st.begun, st.completed);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

TEST(async_c_function_outlived_by_its_request) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  host_state st;
  crater_server *srv = start(&loop, &st);
  ASSERT_TRUE(srv != NULL);
  /* The client resets while the host works: cancel runs, the host still
   * completes once, which frees the handle (ASan: no leak, no use after free). */
  spec_client c;
  spec_client_start(&c, &loop, crater_bound_port(srv), "GET", "/later/60", NULL, NULL);
  while (st.begun == 0 && uv_run(&loop, UV_RUN_ONCE) != 0) {
  }
  spec_client_reset(&c);
  while (st.cancelled == 0 && uv_run(&loop, UV_RUN_ONCE) != 0) {
  }
  ASSERT_EQ_INT(st.cancelled, 1);
  while (st.completed < 1 && uv_run(&loop, UV_RUN_ONCE) != 0) {
  }
  ASSERT_EQ_INT(st.freed_after_cancel, 1);
  spec_client_free(&c);

  /* The route's deadline passes: 504, and the same cancel-then-complete. */
  int status;
  char body[256];
  get(&loop, srv, "/deadline", &status, body, sizeof(body));
  ASSERT_EQ_INT(status, 504);
  ASSERT_EQ_INT(st.cancelled, 2);
  while (st.completed < 2 && uv_run(&loop, UV_RUN_ONCE) != 0) {
  }
  ASSERT_EQ_INT(st.freed_after_cancel, 2);
  stop(&loop, srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}
