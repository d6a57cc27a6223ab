/* timer.c - background timers (see timer.h).
 *
 * A pending timer holds a uv timer, a registry ref to a table holding its
 * function and arguments, and a reference on its generation. When it fires
 * (or expires: premature), a run is made -- a task with a coroutine of the
 * generation -- which pins the generation again until it ends. An `at`
 * timer is closed when it fires; an `every` timer keeps firing, skipping a
 * tick while its previous run is still going. */
#include "timer.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "alloc.h"
#include "log.h"
#include "lua_error.h"
#include "reload.h"
#include "server.h"
#include "task.h"
#include "vm.h"

#define TIMER_MT "crater.timer"
#define MAX_PENDING 4096

typedef struct timer_run timer_run;

struct crater__timer {
  uv_timer_t handle;        /* handle.data points here */
  crater_server *srv;
  crater__gen *gen;         /* referenced while pending */
  int fn_ref;               /* registry ref in gen: { fn, arg1, ..., n = nargs } */
  uint64_t id;              /* what a Lua handle names */
  uint64_t interval_ms;     /* every: the interval; at: 0 */
  timer_run *active;        /* every: its run in progress, or NULL */
  struct crater__timer *next, *prev; /* the server's pending timers */
  char what[96];            /* "timer at app.lua:12", for log lines */
};
typedef struct crater__timer timer;

struct timer_run {
  crater__task task;        /* task.main.L: the run's coroutine */
  timer *owner;             /* the every timer it runs for, while pending */
  timer_run *next, *prev;   /* the server's running runs */
  char what[96];
  int stepping;             /* step() is on the C stack for this run */
  int woken;                /* its wait ended inside step()'s own resume: step() goes on */
};

static void fire(timer *tm, int premature);
static void fired_cb(uv_timer_t *h);
static void close_timer(timer *tm);
static void timer_closed(uv_handle_t *h);
static void step(timer_run *rn, int nargs);
static void resume_main(crater__task *t, int nresults);
static void describe(crater__task *t, char *buf, size_t size);
static void end_run(timer_run *rn, int thread_reusable);
static int cancel(lua_State *L);

/* ===================================================================== */
/*  Making timers                                                          */
/* ===================================================================== */

static int make(lua_State *L, int every) {
  crater__gen *g = lua_touserdata(L, lua_upvalueindex(1));
  crater_server *srv = g->srv;
  const char *who = every ? "crater.timer.every" : "crater.timer.at";
  lua_Number s = luaL_checknumber(L, 1);
  if (every ? !(s > 0) : !(s >= 0)) return luaL_argerror(L, 1, every ? "interval must be > 0" : "delay must be >= 0");
  if (s > 1e9) return luaL_argerror(L, 1, "seconds must be at most 1e9");
  luaL_checktype(L, 2, LUA_TFUNCTION);
  const char *refused = NULL;
  if (srv->closing) refused = "shutting down";
  else if (g->retiring) refused = "reloading: this generation of the app takes no new timers";
  else if (!g->started) refused = "the app is not serving yet: make timers in app:on_start or later";
  else if (srv->ntimers >= MAX_PENDING) refused = "too many pending timers";
  if (refused != NULL) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", who, refused);
    return 2;
  }
  timer *tm = crater__calloc(1, sizeof(*tm));
  if (tm == NULL) return luaL_error(L, "%s: out of memory", who);
  int nargs = lua_gettop(L) - 2;
  lua_createtable(L, nargs + 1, 1);
  for (int i = 0; i <= nargs; i++) {
    lua_pushvalue(L, i + 2);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushinteger(L, nargs);
  lua_setfield(L, -2, "n");
  tm->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_Debug ar;
  lua_pushvalue(L, 2);
  if (lua_getinfo(L, ">S", &ar) != 0)
    snprintf(tm->what, sizeof(tm->what), "timer at %s:%d", ar.short_src, ar.linedefined);
  else
    snprintf(tm->what, sizeof(tm->what), "timer");
  tm->srv = srv;
  tm->gen = g;
  tm->id = ++srv->timer_ids;
  uint64_t ms = (uint64_t)(s * 1000 + 0.5);
  tm->interval_ms = every ? (ms > 0 ? ms : 1) : 0;
  uv_timer_init(srv->loop, &tm->handle);
  tm->handle.data = tm;
  uv_timer_start(&tm->handle, fired_cb, every ? tm->interval_ms : ms, tm->interval_ms);
  crater__gen_ref(g);
  tm->next = srv->timers;
  if (srv->timers) srv->timers->prev = tm;
  srv->timers = tm;
  srv->ntimers++;
  /* The handle: the timer's id (the timer itself may be gone by the time
   * the app cancels). */
  uint64_t *h = lua_newuserdata(L, sizeof(uint64_t));
  *h = tm->id;
  if (luaL_newmetatable(L, TIMER_MT)) {
    lua_createtable(L, 0, 1);
    lua_pushlightuserdata(L, srv);
    lua_pushcclosure(L, cancel, 1);
    lua_setfield(L, -2, "cancel");
    lua_setfield(L, -2, "__index");
  }
  lua_setmetatable(L, -2);
  return 1;
}

int crater__timer_at(lua_State *L) { return make(L, 0); }

int crater__timer_every(lua_State *L) { return make(L, 1); }

/* timer:cancel() -> true, or nil and "not pending" (it ran, or was cancelled). */
static int cancel(lua_State *L) {
  crater_server *srv = lua_touserdata(L, lua_upvalueindex(1));
  uint64_t id = *(uint64_t *)luaL_checkudata(L, 1, TIMER_MT);
  for (timer *tm = srv->timers; tm != NULL; tm = tm->next) {
    if (tm->id != id) continue;
    close_timer(tm);
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  lua_pushliteral(L, "not pending");
  return 2;
}

/* ===================================================================== */
/*  Firing                                                                 */
/* ===================================================================== */

static void fired_cb(uv_timer_t *h) { fire(h->data, 0); }

void crater__timer_expire(crater_server *srv, uint64_t gen_id) {
  timer *tm = srv->timers;
  while (tm != NULL) {
    timer *next = tm->next;
    if (tm->gen->id == gen_id) fire(tm, 1);
    tm = next;
  }
}

void crater__timer_cancel(crater_server *srv, uint64_t gen_id) {
  timer *tm = srv->timers;
  while (tm != NULL) {
    timer *next = tm->next;
    if (tm->gen->id == gen_id) close_timer(tm);
    tm = next;
  }
}

/* Starts a run of tm's function; closes tm unless it keeps firing. */
static void fire(timer *tm, int premature) {
  crater_server *srv = tm->srv;
  crater__gen *g = tm->gen;
  int last = premature || tm->interval_ms == 0;
  if (!last && tm->active != NULL) {
    crater__log(srv, CRATER_LOG_DEBUG, "%s: the last run is still going, this tick is skipped",
                tm->what);
    return;
  }
  timer_run *rn = crater__calloc(1, sizeof(*rn));
  lua_State *T = NULL;
  int ref = LUA_NOREF;
  if (rn == NULL || crater__gen_thread(g, &T, &ref) != 0) {
    crater__log(srv, CRATER_LOG_ERROR, "%s: out of memory: this run is skipped", tm->what);
    crater__free(rn);
    if (last) close_timer(tm);
    return;
  }
  crater__task_init(&rn->task, srv, g, resume_main, describe);
  rn->task.main.L = T;
  rn->task.main.ref = ref;
  memcpy(rn->what, tm->what, sizeof(rn->what));
  crater__gen_ref(g); /* the run's own pin: the timer's goes when it closes */
  rn->next = srv->timer_runs;
  if (srv->timer_runs) srv->timer_runs->prev = rn;
  srv->timer_runs = rn;
  srv->ntimer_runs++;
  /* fn(premature, args...) */
  lua_rawgeti(T, LUA_REGISTRYINDEX, tm->fn_ref);
  lua_getfield(T, -1, "n");
  int nargs = (int)lua_tointeger(T, -1);
  lua_pop(T, 1);
  lua_rawgeti(T, -1, 1);
  lua_pushboolean(T, premature);
  for (int i = 1; i <= nargs; i++) lua_rawgeti(T, -2 - i, i + 1);
  lua_remove(T, -(nargs + 3)); /* the table */
  if (last) close_timer(tm);
  else {
    tm->active = rn;
    rn->owner = tm;
  }
  step(rn, nargs + 1);
}

static void step(timer_run *rn, int nargs) {
  int st;
  lua_State *T = rn->task.main.L;
  rn->stepping = 1;
  for (;;) {
    st = crater__task_run_main(&rn->task, nargs);
    if (st != LUA_YIELD || rn->task.main.state != CRATER__UT_WAITING) break;
    if (!rn->woken) {
      rn->stepping = 0;
      return;
    }
    rn->woken = 0; /* resume_main: its results are on its stack */
    nargs = lua_gettop(T);
  }
  if (st == 0) {
    end_run(rn, 1);
    return;
  }
  if (st != LUA_YIELD) crater__gen_error_tostring(rn->task.gen, T);
  const char *msg = st == LUA_YIELD ? "a timer's function may yield only by waiting (crater.sleep, a socket, ...)"
                                    : NULL;
  crater__buf text = {0};
  crater__log(rn->task.srv, CRATER_LOG_ERROR, "%s failed: %s", rn->what,
              crater__lua_error_text(rn->task.gen->L, T, st, msg, &text));
  crater__buf_free(&text);
  end_run(rn, 0);
}

/* task.c runs the wakes Lua queued at the end of the resume that queued
 * them, which may be step()'s own: a thread resumed there may wake the
 * main coroutine (it waited for that thread), which must not be resumed
 * inside step()'s resume of it; step() picks it up instead. */
static void resume_main(crater__task *t, int nresults) {
  timer_run *rn = (timer_run *)((char *)t - offsetof(timer_run, task));
  if (rn->stepping) {
    rn->woken = 1;
    return;
  }
  step(rn, nresults);
}

static void describe(crater__task *t, char *buf, size_t size) {
  timer_run *rn = (timer_run *)((char *)t - offsetof(timer_run, task));
  snprintf(buf, size, "%s", rn->what);
}

static void end_run(timer_run *rn, int thread_reusable) {
  crater_server *srv = rn->task.srv;
  crater__gen *g = rn->task.gen;
  crater__task_end(&rn->task);
  if (thread_reusable) crater__gen_thread_done(g, rn->task.main.L, rn->task.main.ref);
  else crater__gen_thread_drop(g, rn->task.main.ref);
  if (rn->owner != NULL) rn->owner->active = NULL;
  if (rn->prev) rn->prev->next = rn->next;
  else srv->timer_runs = rn->next;
  if (rn->next) rn->next->prev = rn->prev;
  srv->ntimer_runs--;
  crater__free(rn);
  crater__reload_unpin(g); /* may retire g: its on_stop hooks run */
  crater__server_maybe_done(srv);
}

/* ===================================================================== */
/*  Closing                                                                */
/* ===================================================================== */

static void close_timer(timer *tm) {
  crater_server *srv = tm->srv;
  if (tm->active != NULL) tm->active->owner = NULL;
  if (tm->prev) tm->prev->next = tm->next;
  else srv->timers = tm->next;
  if (tm->next) tm->next->prev = tm->prev;
  srv->ntimers--;
  luaL_unref(tm->gen->L, LUA_REGISTRYINDEX, tm->fn_ref);
  crater__gen *g = tm->gen;
  uv_timer_stop(&tm->handle);
  uv_close((uv_handle_t *)&tm->handle, timer_closed);
  crater__reload_unpin(g);
}

static void timer_closed(uv_handle_t *h) { crater__free(h->data); }

int crater__timer_running(const crater_server *srv) { return srv->ntimer_runs; }

void crater__timer_kill_all(crater_server *srv) {
  while (srv->timer_runs != NULL) end_run(srv->timer_runs, 0);
}
