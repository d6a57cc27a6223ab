/* async.c - C functions that complete later (crater_async_*, crater.h): the
 * public face of task.c's wait for embedders. A handle outlives the wait it
 * stands for: the host completes it exactly once, also after the task is
 * gone, so the host never has to guess whether its pointer is still good. */
#include <lauxlib.h>

#include "alloc.h"
#include "task.h"

struct crater_async {
  crater__uthread *ut;            /* the waiting light thread; NULL once cancelled */
  crater_async_cancel_cb cancel;
  void *udata;
};

static void on_cancel(void *data) {
  crater_async *a = data;
  a->ut = NULL;
  if (a->cancel != NULL) a->cancel(a, a->udata);
}

crater_async *crater_async_begin(lua_State *L, crater_async_cancel_cb cancel, void *udata) {
  crater_server *srv = crater_lua_server(L);
  if (srv == NULL) {
    lua_pushliteral(L, "crater_async_begin: not a Lua state of a Crater server");
    return NULL;
  }
  crater_async *a = crater__malloc(sizeof(*a));
  if (a == NULL) {
    lua_pushliteral(L, "crater_async_begin: out of memory");
    return NULL;
  }
  a->cancel = cancel;
  a->udata = udata;
  const char *why;
  a->ut = crater__task_wait(srv, L, on_cancel, a, &why);
  if (a->ut == NULL) {
    crater__free(a);
    luaL_where(L, 1);
    lua_pushstring(L, why);
    lua_concat(L, 2);
    return NULL;
  }
  return a;
}

/* A completion that came inside the function that began it (the host had
 * its answer at once) cannot resume a coroutine that has not yielded yet:
 * crater_async_complete leaves the results on the stack and the function
 * returns them here, as a plain call does. */
int crater_async_yield(lua_State *L) {
  crater_server *srv = crater_lua_server(L);
  crater__uthread *ut = srv != NULL ? crater__task_current(srv) : NULL;
  if (ut != NULL && ut->L == L && ut->early > 0) {
    int n = ut->early - 1;
    ut->early = 0;
    return n;
  }
  return lua_yield(L, 0);
}

lua_State *crater_async_state(const crater_async *a) { return a->ut != NULL ? a->ut->L : NULL; }

void crater_async_complete(crater_async *a, int nresults) {
  crater__uthread *ut = a->ut;
  crater__free(a);
  if (ut == NULL) return;
  if (ut->state == CRATER__UT_WAITING && crater__task_current(ut->task->srv) == ut) {
    crater__task_unwait(ut); /* inside the beginning function: see crater_async_yield */
    ut->early = nresults + 1;
    return;
  }
  crater__task_resume(ut, nresults);
}

void crater_async_fail(crater_async *a, const char *message) {
  lua_State *L = crater_async_state(a);
  if (L == NULL) {
    crater_async_complete(a, 0);
    return;
  }
  lua_pushnil(L);
  lua_pushstring(L, message ? message : "failed");
  crater_async_complete(a, 2);
}
