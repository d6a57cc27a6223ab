/* notify.c - waitables (see notify.h).
 *
 * A signal never resumes a waiter itself: it runs inside some other Lua
 * (a publishing request), and resuming a coroutine from there would nest
 * one request's Lua inside another's. Each waiter owns a loop timer -- its
 * timeout when it has one -- which a signal restarts at 0 ms, so the wake
 * happens from the loop, like every other wait (task.c). */
#include "notify.h"

#include <math.h>

#include <lauxlib.h>

#include "alloc.h"
#include "server.h"
#include "task.h"

#define WAITABLE_MT "crater.waitable"

typedef struct wait_op wait_op;

typedef struct {
  crater_server *srv;
  wait_op *head; /* waiters not yet signalled nor timed out */
} waitable;

struct wait_op {
  uv_timer_t timer; /* timer.data points here */
  crater__uthread *ut;
  waitable *w;      /* NULL once off the list (signalled, or w collected) */
  wait_op *next, **pprev;
  int signalled;
};

static void unlink_op(wait_op *op) {
  if (op->w == NULL) return;
  *op->pprev = op->next;
  if (op->next) op->next->pprev = op->pprev;
  op->w = NULL;
  op->next = NULL;
  op->pprev = NULL;
}

static void op_closed(uv_handle_t *h) { crater__free(h->data); }

static void op_fired(uv_timer_t *t) {
  wait_op *op = t->data;
  crater__uthread *ut = op->ut;
  int woke = op->signalled;
  unlink_op(op);
  uv_close((uv_handle_t *)t, op_closed);
  lua_pushboolean(ut->L, woke);
  crater__task_resume(ut, 1);
}

/* The waiter's task ended first (client gone, deadline, kill). */
static void op_cancel(void *data) {
  wait_op *op = data;
  unlink_op(op);
  uv_timer_stop(&op->timer);
  uv_close((uv_handle_t *)&op->timer, op_closed);
}

static waitable *check_waitable(lua_State *L) {
  return luaL_checkudata(L, 1, WAITABLE_MT);
}

static int w_wait(lua_State *L) {
  waitable *w = check_waitable(L);
  lua_Number s = -1;
  if (!lua_isnoneornil(L, 2)) {
    s = luaL_checknumber(L, 2);
    if (!(s >= 0) || s > 1e9) return luaL_argerror(L, 2, "timeout must be a number of seconds from 0 to 1e9");
  }
  wait_op *op = crater__malloc(sizeof(*op));
  if (op == NULL) return luaL_error(L, "waitable:wait: out of memory");
  const char *why;
  crater__uthread *ut = crater__task_wait(w->srv, L, op_cancel, op, &why);
  if (ut == NULL) {
    crater__free(op);
    return luaL_error(L, "waitable:wait: %s", why);
  }
  op->ut = ut;
  op->signalled = 0;
  op->w = w;
  op->next = w->head;
  op->pprev = &w->head;
  if (w->head) w->head->pprev = &op->next;
  w->head = op;
  uv_timer_init(w->srv->loop, &op->timer);
  op->timer.data = op;
  if (s >= 0) uv_timer_start(&op->timer, op_fired, (uint64_t)ceil(s * 1000), 0);
  return lua_yield(L, 0);
}

static int w_signal(lua_State *L) {
  waitable *w = check_waitable(L);
  int n = 0;
  while (w->head != NULL) {
    wait_op *op = w->head;
    unlink_op(op);
    op->signalled = 1;
    uv_timer_stop(&op->timer);
    uv_timer_start(&op->timer, op_fired, 0, 0);
    n++;
  }
  lua_pushinteger(L, n);
  return 1;
}

static int w_waiting(lua_State *L) {
  waitable *w = check_waitable(L);
  int n = 0;
  for (wait_op *op = w->head; op != NULL; op = op->next) n++;
  lua_pushinteger(L, n);
  return 1;
}

/* A waiter's stack holds its waitable, so none should be left; if one is
 * (a VM closing), it must not point at freed memory. */
static int w_gc(lua_State *L) {
  waitable *w = check_waitable(L);
  while (w->head != NULL) unlink_op(w->head);
  return 0;
}

int crater__notify_new(lua_State *L) {
  crater_server *srv = lua_touserdata(L, lua_upvalueindex(1));
  waitable *w = lua_newuserdata(L, sizeof(*w));
  w->srv = srv;
  w->head = NULL;
  if (luaL_newmetatable(L, WAITABLE_MT)) {
    static const luaL_Reg m[] = {
      {"wait", w_wait}, {"signal", w_signal}, {"waiting", w_waiting}, {"__gc", w_gc}, {NULL, NULL},
    };
    for (const luaL_Reg *f = m; f->name; f++) {
      lua_pushcfunction(L, f->func);
      lua_setfield(L, -2, f->name);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
  }
  lua_setmetatable(L, -2);
  return 1;
}
