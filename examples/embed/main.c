/* examples/embed/main.c - a C program that embeds Crater.
 *
 * The program owns its libuv loop and does its own work on it (a timer
 * that counts ticks into a counter). It exposes the counter to Lua as the
 * module "host.counter", and serves the Lua routes of app.lua beside its
 * work. Ctrl-C (SIGINT) closes the server gracefully, then the loop ends.
 *
 *   embed APP.lua [PORT]        (PORT 0 picks a free one; default 8080)
 *
 * Build against an installed libcrater with pkg-config (Makefile) or CMake
 * (CMakeLists.txt); docs/embedding.md walks through every call. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <crater.h>

/* The host's state. Lua reaches it through the functions below, which get a
 * pointer to it as their context. The layout is also declared to LuaJIT's
 * FFI in app.lua, which reads it without a call. */
typedef struct {
  int64_t value;   /* the counter: +1 per tick, +n per POST */
  int64_t ticks;   /* timer ticks so far */
} embed_counter;

typedef struct {
  uv_loop_t loop;
  uv_timer_t tick;
  uv_signal_t sigint;
  crater_server *srv;
  embed_counter counter;
} embed_host;

/* ---- Lua module "host.counter" ------------------------------------------ */

static int counter_get(lua_State *L) {
  embed_counter *c = crater_lua_context(L);
  lua_pushnumber(L, (lua_Number)c->value);
  return 1;
}

static int counter_ticks(lua_State *L) {
  embed_counter *c = crater_lua_context(L);
  lua_pushnumber(L, (lua_Number)c->ticks);
  return 1;
}

/* add(n): n must be an integer; returns the new value. */
static int counter_add(lua_State *L) {
  embed_counter *c = crater_lua_context(L);
  lua_Number n = luaL_checknumber(L, 1);
  if (n != (lua_Number)(int64_t)n) return luaL_argerror(L, 1, "an integer");
  c->value += (int64_t)n;
  lua_pushnumber(L, (lua_Number)c->value);
  return 1;
}

/* context(): the counter's address, for the FFI (see app.lua). */
static int counter_context(lua_State *L) {
  lua_pushlightuserdata(L, crater_lua_context(L));
  return 1;
}

static const luaL_Reg counter_fns[] = {
  {"get", counter_get}, {"ticks", counter_ticks}, {"add", counter_add},
  {"context", counter_context}, {NULL, NULL},
};

/* ---- the host's own work and its shutdown ------------------------------- */

static void on_tick(uv_timer_t *t) {
  embed_host *h = t->data;
  h->counter.ticks++;
  h->counter.value++;
}

static void on_server_closed(crater_server *srv) {
  embed_host *h = crater_get_data(srv);
  /* The server is done; close our own handles so uv_run returns. */
  uv_close((uv_handle_t *)&h->tick, NULL);
  uv_close((uv_handle_t *)&h->sigint, NULL);
}

static void on_sigint(uv_signal_t *s, int signum) {
  embed_host *h = s->data;
  (void)signum;
  uv_signal_stop(s);
  fprintf(stderr, "embed: SIGINT, closing the server\n");
  crater_close(h->srv, on_server_closed);
}

static void on_log(void *udata, crater_log_level level, const char *line) {
  (void)udata;
  fprintf(stderr, "embed: crater %s: %s\n", level == CRATER_LOG_ERROR ? "error" : "log", line);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: embed APP.lua [PORT]\n");
    return 2;
  }
  int port = argc > 2 ? atoi(argv[2]) : 8080;
  embed_host h = {0};
  uv_loop_init(&h.loop);

  crater_config cfg = crater_config_default();
  cfg.log_cb = on_log;
  cfg.grace_ms = 2000;
  int rc = crater_new(&h.srv, &h.loop, &cfg);
  if (rc == 0) rc = crater_register_module(h.srv, "host.counter", counter_fns, &h.counter);
  if (rc == 0) rc = crater_load(h.srv, argv[1]);
  if (rc == 0) rc = crater_listen(h.srv, "127.0.0.1", port);
  if (rc != 0) {
    fprintf(stderr, "embed: %s: %s\n", crater_strerror(rc), h.srv ? crater_last_error(h.srv) : "");
    if (h.srv) {
      uv_run(&h.loop, UV_RUN_NOWAIT); /* lets a failed listener's handle close */
      crater_free(h.srv);
    }
    uv_loop_close(&h.loop);
    return 1;
  }
  crater_set_data(h.srv, &h);

  uv_timer_init(&h.loop, &h.tick);
  h.tick.data = &h;
  uv_timer_start(&h.tick, on_tick, 50, 50);
  uv_signal_init(&h.loop, &h.sigint);
  h.sigint.data = &h;
  uv_signal_start(&h.sigint, on_sigint, SIGINT);

  printf("embed: serving %s on http://127.0.0.1:%d\n", argv[1], crater_bound_port(h.srv));
  fflush(stdout);
  uv_run(&h.loop, UV_RUN_DEFAULT);

  crater_stats st;
  crater_get_stats(h.srv, &st);
  crater_free(h.srv);
  rc = uv_loop_close(&h.loop);
  printf("embed: closed cleanly after %llu requests (loop close: %d)\n",
         (unsigned long long)st.requests_total, rc);
  return rc == 0 ? 0 : 1;
}
