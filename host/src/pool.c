/* pool.c - pools of connections kept alive for reuse (see pool.h).
 *
 * A pool is a Lua userdata in a table of its state's registry, keyed by its
 * name: it lives as long as the state, and its __gc -- run by lua_close
 * when the generation closes -- closes the idle connections left. By then
 * every task of the generation has ended, so no connection of the pool is
 * in use and no connect is queued. */
#include "pool.h"

#include <assert.h>
#include <string.h>

#include <lauxlib.h>

#define POOL_MT "crater.pool"

static const char pools_key = 0; /* its address keys the registry's table of pools */

static int pool_gc(lua_State *L);
static void unlink_idle(crater__pool_conn *pc);

crater__pool *crater__pool_find(lua_State *L, const char *name, size_t len) {
  lua_pushlightuserdata(L, (void *)&pools_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlightuserdata(L, (void *)&pools_key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
  }
  lua_pushlstring(L, name, len);
  lua_rawget(L, -2);
  crater__pool *p = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (p == NULL) {
    /* NOTE: a Lua allocation: out of memory raises, as any Lua call may. */
    p = lua_newuserdata(L, sizeof(*p) + len + 1);
    memset(p, 0, sizeof(*p));
    memcpy(p->name, name, len);
    p->name[len] = '\0';
    p->size = CRATER__POOL_SIZE;
    p->backlog = -1;
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

crater__pool_conn *crater__pool_take(crater__pool *p) {
  crater__pool_conn *pc = p->idle_head;
  if (pc != NULL) unlink_idle(pc);
  return pc;
}

int crater__pool_full(const crater__pool *p) { return p->backlog >= 0 && p->conns >= p->size; }

void crater__pool_join(crater__pool *p, crater__pool_conn *pc) {
  assert(pc->pool == NULL);
  pc->pool = p;
  pc->idle = 0;
  p->conns++;
}

void crater__pool_leave(crater__pool_conn *pc) {
  crater__pool *p = pc->pool;
  if (p == NULL) return;
  if (pc->idle) unlink_idle(pc);
  pc->pool = NULL;
  p->conns--;
  /* Its slot goes to the first queued connect, if the limit allows. */
  crater__pool_waiter *w = p->wait_head;
  if (w != NULL && !crater__pool_full(p)) {
    crater__pool_unwait(w);
    w->wake(w, NULL);
  }
}

void crater__pool_put(crater__pool_conn *pc) {
  crater__pool *p = pc->pool;
  assert(p != NULL && !pc->idle);
  crater__pool_waiter *w = p->wait_head;
  if (w != NULL) {
    crater__pool_unwait(w);
    w->wake(w, pc);
    return;
  }
  pc->idle = 1;
  pc->prev = NULL;
  pc->next = p->idle_head;
  if (p->idle_head != NULL) p->idle_head->prev = pc;
  else p->idle_tail = pc;
  p->idle_head = pc;
  p->nidle++;
  while (p->nidle > p->size && p->idle_tail != NULL) {
    crater__pool_conn *lru = p->idle_tail;
    unlink_idle(lru);
    lru->close(lru); /* leaves the pool */
  }
}

int crater__pool_wait(crater__pool *p, crater__pool_waiter *w) {
  if (p->nwaiting >= p->backlog) return -1;
  w->pool = p;
  w->next = NULL;
  w->prev = p->wait_tail;
  if (p->wait_tail != NULL) p->wait_tail->next = w;
  else p->wait_head = w;
  p->wait_tail = w;
  p->nwaiting++;
  return 0;
}

void crater__pool_unwait(crater__pool_waiter *w) {
  crater__pool *p = w->pool;
  if (p == NULL) return;
  if (w->prev != NULL) w->prev->next = w->next;
  else p->wait_head = w->next;
  if (w->next != NULL) w->next->prev = w->prev;
  else p->wait_tail = w->prev;
  w->prev = w->next = NULL;
  w->pool = NULL;
  p->nwaiting--;
}

/* The state is closing: the idle connections go; nothing else is left. */
static int pool_gc(lua_State *L) {
  crater__pool *p = lua_touserdata(L, 1);
  p->size = 0;
  while (p->idle_head != NULL) {
    crater__pool_conn *pc = p->idle_head;
    unlink_idle(pc);
    pc->close(pc);
  }
  assert(p->wait_head == NULL && p->conns == 0);
  return 0;
}

static void unlink_idle(crater__pool_conn *pc) {
  crater__pool *p = pc->pool;
  if (pc->prev != NULL) pc->prev->next = pc->next;
  else p->idle_head = pc->next;
  if (pc->next != NULL) pc->next->prev = pc->prev;
  else p->idle_tail = pc->prev;
  pc->prev = pc->next = NULL;
  pc->idle = 0;
  p->nidle--;
}
