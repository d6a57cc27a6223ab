/* watchdog.c - the stuck-run watchdog (see watchdog.h).
 *
 * The loop's thread counts its outermost Lua runs in `seq`: odd while one
 * runs, even between. The watchdog's thread looks every `period`: the same
 * odd value for stuck_timeout_ms is a stuck run. It then sets a count hook
 * with lua_sethook, the one Lua call meant to be made from outside the
 * running code (lua.c does it from a signal handler); the hook runs on the
 * loop's thread at the next interpreted instruction and raises an error
 * there, which the dispatcher answers with a 500 like any handler error.
 * A trace LuaJIT compiled never runs hooks (a tight `while true do end` is
 * one), and neither does C code: after GIVE_UP_MS more, the process is told;
 * so it is too when the run caught MAX_INTERRUPTS of the hook's errors. */
#include "watchdog.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <uv.h>

#include "alloc.h"
#include "log.h"
#include "request.h"
#include "server.h"
#include "task.h"
#include "vm.h"

#define GIVE_UP_MS 1000 /* after the hook was set, before the process is told */
#define MAX_INTERRUPTS 3 /* of one run, each caught by its own pcall: then the process is told */
#define HOOK_COUNT 1000 /* instructions between two chances of the hook */

struct crater__watchdog {
  crater_server *srv;
  uint64_t timeout_ms, period_ms;
  _Atomic uint64_t seq;             /* odd while the loop's thread runs Lua */
  _Atomic(lua_State *) L;           /* the state of that run */
  _Atomic(struct crater__uthread *) ut;
  _Atomic uint64_t interrupt_seq;   /* the run the hook is to interrupt; 0: none */
  _Atomic int hooked;               /* a hook may be set: leave() removes it */
  _Atomic unsigned fired;           /* errors the hook raised */
  crater__stuck_cb stuck_cb;
  void *stuck_ud;
  uv_thread_t thread;
  uv_mutex_t mu;
  uv_cond_t cond;
  int stop;                         /* under mu */
};

/* What runs when no task does: the app's file, or its hooks. */
#define OUTSIDE "the app's code outside any request (loading it, or a hook)"

/* The registry key under which a state finds its watchdog. */
static const char KEY = 0;

static void watch(void *arg);
static void interrupt_hook(lua_State *L, lua_Debug *ar);

int crater__watchdog_start(crater_server *srv) {
  uint64_t timeout = srv->cfg.stuck_timeout_ms;
  if (timeout == 0) return 0;
  crater__watchdog *wd = crater__calloc(1, sizeof(*wd));
  if (wd == NULL) return crater__fail(srv, CRATER_ENOMEM, "out of memory");
  wd->srv = srv;
  wd->timeout_ms = timeout;
  /* Often enough that GIVE_UP_MS is kept, rarely enough to cost nothing. */
  wd->period_ms = timeout / 4 < 250 ? (timeout / 4 > 10 ? timeout / 4 : 10) : 250;
  atomic_init(&wd->seq, 0);
  atomic_init(&wd->L, NULL);
  atomic_init(&wd->ut, NULL);
  atomic_init(&wd->interrupt_seq, 0);
  atomic_init(&wd->hooked, 0);
  atomic_init(&wd->fired, 0);
  if (uv_mutex_init(&wd->mu) != 0) goto failed_mutex;
  if (uv_cond_init(&wd->cond) != 0) goto failed_cond;
  if (uv_thread_create(&wd->thread, watch, wd) != 0) goto failed_thread;
  srv->watchdog = wd;
  return 0;
failed_thread:
  uv_cond_destroy(&wd->cond);
failed_cond:
  uv_mutex_destroy(&wd->mu);
failed_mutex:
  crater__free(wd);
  return crater__fail(srv, CRATER_ENOMEM, "cannot start the watchdog thread");
}

void crater__watchdog_stop(crater_server *srv) {
  crater__watchdog *wd = srv->watchdog;
  if (wd == NULL) return;
  uv_mutex_lock(&wd->mu);
  wd->stop = 1;
  uv_cond_signal(&wd->cond);
  uv_mutex_unlock(&wd->mu);
  uv_thread_join(&wd->thread);
  uv_cond_destroy(&wd->cond);
  uv_mutex_destroy(&wd->mu);
  crater__free(wd);
  srv->watchdog = NULL;
}

void crater__watchdog_bind(crater_server *srv, lua_State *L) {
  if (srv->watchdog == NULL) return;
  lua_pushlightuserdata(L, (void *)&KEY);
  lua_pushlightuserdata(L, srv->watchdog);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

void crater__watchdog_track(crater__gen *g, lua_State *L) {
  lua_State *T = lua_newthread(L);
  luaL_ref(L, LUA_REGISTRYINDEX); /* lives as long as the state */
  lua_pushvalue(L, -1);
  lua_xmove(L, T, 1);
  lua_checkstack(T, 8); /* reading never grows the stack */
  g->running_T = T;
}

/* "METHOD /route (file:line)" of the request ut runs, from
 * crater.host.running; "" when ut runs no request the dispatcher noted (a
 * timer, or a request it has not routed yet). Only lua_rawgeti and reads of
 * values already there: nothing allocates, so the watchdog's thread may do
 * it while the loop's thread is stuck. */
static void route_of(struct crater__uthread *ut, char *buf, size_t size) {
  buf[0] = '\0';
  crater__task *t = ut != NULL ? ut->task : NULL;
  lua_State *T = t != NULL && t->gen != NULL ? t->gen->running_T : NULL;
  if (T == NULL) return;
  crater__request *r = (crater__request *)((char *)t - offsetof(crater__request, task));
  lua_rawgeti(T, 1, 2);
  int same = lua_type(T, -1) == LUA_TLIGHTUSERDATA && lua_touserdata(T, -1) == (void *)r;
  lua_rawgeti(T, 1, 3);
  same = same && lua_type(T, -1) == LUA_TNUMBER && (uint64_t)lua_tonumber(T, -1) == r->seq;
  lua_rawgeti(T, 1, 1);
  if (same && lua_type(T, -1) == LUA_TSTRING) snprintf(buf, size, ", route %s", lua_tostring(T, -1));
  lua_settop(T, 1);
}

void crater__watchdog_on_stuck(crater_server *srv, crater__stuck_cb cb, void *ud) {
  crater__watchdog *wd = srv->watchdog;
  if (wd == NULL) return;
  uv_mutex_lock(&wd->mu);
  wd->stuck_cb = cb;
  wd->stuck_ud = ud;
  uv_mutex_unlock(&wd->mu);
}

void crater__watchdog_enter(crater_server *srv, struct crater__uthread *ut, lua_State *L) {
  crater__watchdog *wd = srv->watchdog;
  if (wd == NULL) return;
  atomic_store_explicit(&wd->L, L, memory_order_relaxed);
  atomic_store_explicit(&wd->ut, ut, memory_order_relaxed);
  uint64_t s = atomic_load_explicit(&wd->seq, memory_order_relaxed);
  atomic_store_explicit(&wd->seq, s + 1, memory_order_release);
}

void crater__watchdog_leave(crater_server *srv, lua_State *L) {
  crater__watchdog *wd = srv->watchdog;
  if (wd == NULL) return;
  uint64_t s = atomic_load_explicit(&wd->seq, memory_order_relaxed);
  atomic_store_explicit(&wd->seq, s + 1, memory_order_release);
  if (atomic_exchange(&wd->hooked, 0)) {
    /* Under mu: two lua_sethook at once would rewrite the dispatch table
     * together. */
    uv_mutex_lock(&wd->mu);
    lua_sethook(L, NULL, 0, 0);
    uv_mutex_unlock(&wd->mu);
  }
}

/* On the loop's thread, inside the stuck run (or a later one, when the run
 * ended as the hook was set: then it only removes itself). */
static void interrupt_hook(lua_State *L, lua_Debug *ar) {
  lua_pushlightuserdata(L, (void *)&KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  crater__watchdog *wd = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (wd == NULL) {
    lua_sethook(L, NULL, 0, 0);
    return;
  }
  uv_mutex_lock(&wd->mu);
  lua_sethook(L, NULL, 0, 0); /* once: the watchdog sets it again while the run stays stuck */
  uv_mutex_unlock(&wd->mu);
  uint64_t s = atomic_load_explicit(&wd->seq, memory_order_relaxed);
  if (s != atomic_load(&wd->interrupt_seq)) return;
  crater_server *srv = wd->srv;
  char what[200] = OUTSIDE;
  struct crater__uthread *ut = srv->current;
  if (ut != NULL && ut->task != NULL && ut->task->describe != NULL)
    ut->task->describe(ut->task, what, sizeof(what));
  char where[160] = "?", route[200];
  if (lua_getinfo(L, "Sl", ar) != 0 && ar->currentline > 0)
    snprintf(where, sizeof(where), "%s:%d", ar->short_src, ar->currentline);
  route_of(ut, route, sizeof(route));
  double secs = (double)wd->timeout_ms / 1000;
  crater__log(srv, CRATER_LOG_ERROR,
              "%s%s: stuck for over %.3g s without returning to the event loop, at %s: interrupted",
              what, route, secs, where);
  char msg[512];
  atomic_fetch_add(&wd->fired, 1);
  snprintf(msg, sizeof(msg), "%s: stuck for over %.3g s without returning to the event loop: "
           "interrupted by the watchdog (stuck timeout)", where, secs);
  lua_pushstring(L, msg);
  lua_error(L);
}

static uint64_t now_ms(void) { return uv_hrtime() / 1000000; }

static void watch(void *arg) {
  crater__watchdog *wd = arg;
  uint64_t seen = 0, since = 0, armed = 0;
  unsigned fired = 0, interrupts = 0;
  int told = 0;
  uv_mutex_lock(&wd->mu);
  while (!wd->stop) {
    uv_cond_timedwait(&wd->cond, &wd->mu, wd->period_ms * 1000000);
    if (wd->stop) break;
    uint64_t s = atomic_load_explicit(&wd->seq, memory_order_acquire), now = now_ms();
    if (!(s & 1) || s != seen) {
      seen = s;
      since = now;
      armed = 0;
      interrupts = 0;
      told = 0;
      continue;
    }
    uint64_t stuck = now - since;
    if (stuck < wd->timeout_ms) continue;
    /* Interrupted, yet still running: its own pcall caught the error. */
    unsigned f = atomic_load(&wd->fired);
    if (armed != 0 && f != fired) {
      interrupts++;
      armed = now;
    }
    fired = f;
    if (armed == 0) armed = now;
    if (interrupts < MAX_INTERRUPTS) {
      lua_State *L = atomic_load_explicit(&wd->L, memory_order_relaxed);
      atomic_store(&wd->interrupt_seq, s);
      atomic_store(&wd->hooked, 1);
      lua_sethook(L, interrupt_hook, LUA_MASKCOUNT, HOOK_COUNT);
    }
    if (told || wd->stuck_cb == NULL) continue;
    if (interrupts < MAX_INTERRUPTS && now - armed < GIVE_UP_MS) continue;
    told = 1;
    /* The loop's thread has not moved for over a second since the hook was
     * set, so what it runs is not about to change; still, the description
     * is read from memory that thread owns, at the process's end. */
    char what[200] = OUTSIDE, route[200] = "";
    struct crater__uthread *ut = atomic_load_explicit(&wd->ut, memory_order_relaxed);
    if (atomic_load(&wd->seq) == s && ut != NULL && ut->task != NULL && ut->task->describe != NULL) {
      ut->task->describe(ut->task, what, sizeof(what));
      route_of(ut, route, sizeof(route));
    }
    size_t wl = strlen(what);
    snprintf(what + wl, sizeof(what) - wl, "%s", route);
    char line[512];
    if (interrupts >= MAX_INTERRUPTS)
      snprintf(line, sizeof(line), "%s: stuck for %.3g s without returning to the event loop, "
               "interrupted %d times and caught each time", what, (double)stuck / 1000, interrupts);
    else
      snprintf(line, sizeof(line), "%s: stuck for %.3g s without returning to the event loop, "
               "in code a hook cannot interrupt (a loop LuaJIT compiled, or C)", what,
               (double)stuck / 1000);
    wd->stuck_cb(wd->stuck_ud, line);
  }
  uv_mutex_unlock(&wd->mu);
}
