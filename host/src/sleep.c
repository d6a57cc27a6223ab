/* sleep.c - waiting for time (see sleep.h). */
#include "sleep.h"

#include <math.h>

#include <lauxlib.h>

#include "alloc.h"
#include "server.h"
#include "task.h"

typedef struct {
  uv_timer_t handle;       /* handle.data points here */
  crater__uthread *ut;
} sleep_op;

static void sleep_closed(uv_handle_t *h) { crater__free(h->data); }

static void sleep_fired(uv_timer_t *t) {
  sleep_op *op = t->data;
  crater__uthread *ut = op->ut;
  uv_close((uv_handle_t *)t, sleep_closed);
  crater__task_resume(ut, 0);
}

static void sleep_cancel(void *data) {
  sleep_op *op = data;
  uv_timer_stop(&op->handle);
  uv_close((uv_handle_t *)&op->handle, sleep_closed);
}

int crater__sleep(lua_State *L) {
  crater_server *srv = lua_touserdata(L, lua_upvalueindex(1));
  lua_Number s = luaL_checknumber(L, 1);
  if (!(s >= 0) || s > 1e9) return luaL_argerror(L, 1, "seconds must be a number from 0 to 1e9");
  sleep_op *op = crater__malloc(sizeof(*op));
  if (op == NULL) return luaL_error(L, "crater.sleep: out of memory");
  const char *why;
  crater__uthread *ut = crater__task_wait(srv, L, sleep_cancel, op, &why);
  if (ut == NULL) {
    crater__free(op);
    return luaL_error(L, "crater.sleep: %s", why);
  }
  op->ut = ut;
  uv_timer_init(srv->loop, &op->handle);
  op->handle.data = op;
  uv_timer_start(&op->handle, sleep_fired, (uint64_t)ceil(s * 1000), 0);
  return lua_yield(L, 0);
}

int crater__sleep_now(lua_State *L) {
  crater_server *srv = lua_touserdata(L, lua_upvalueindex(1));
  lua_pushnumber(L, (lua_Number)uv_now(srv->loop) / 1000.0);
  return 1;
}
