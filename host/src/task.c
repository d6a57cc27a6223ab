/* task.c - tasks and their light threads (see task.h).
 *
 * A spawned thread is a Lua userdata (metatable "crater.thread") holding
 * its crater__uthread, so a handle the app keeps stays valid memory after
 * the task is gone (its task pointer is then NULL). The task keeps each
 * spawned thread's userdata and coroutine referenced until it ends. */
#include "task.h"

#include <assert.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "log.h"
#include "lua_error.h"
#include "server.h"
#include "vm.h"
#include "watchdog.h"

#define THREAD_MT "crater.thread"

static void run_spawned(crater__uthread *ut, int nargs);
static int really_waits(crater__uthread *ut, int st);
static void queue_wake(crater_server *srv, crater__uthread *ut);
static void run_wakes(crater_server *srv);
static void settle(crater__uthread *ut, int st);
static void wake_joiner(crater__uthread *ut);
static void stop(crater__uthread *ut, int state);
static void release_spawned(crater__task *t, crater__uthread *ut);
static void release_joined(crater__task *t, crater__uthread *ut);
static crater__uthread **tell(crater__uthread *ut, crater__uthread **tail);
static void untell(crater__task *t, crater__uthread *ut);
static void join_cancel(void *data);

/* ===================================================================== */
/*  Owners                                                                 */
/* ===================================================================== */

void crater__task_init(crater__task *t, crater_server *srv, crater__gen *g,
                       void (*resume_main)(crater__task *, int),
                       void (*describe)(crater__task *, char *, size_t)) {
  t->srv = srv;
  t->gen = g;
  t->main.task = t;
  t->main.state = CRATER__UT_IDLE;
  t->main.cancel = NULL;
  t->main.joiner = NULL;
  t->spawned = NULL;
  t->nspawned = 0;
  t->cleanups = NULL;
  t->told = NULL;
  t->resume_main = resume_main;
  t->describe = describe;
}

crater__uthread *crater__task_current(crater_server *srv) { return srv->current; }

int crater__task_run_main(crater__task *t, int nargs) {
  crater_server *srv = t->srv;
  crater__uthread *outer = srv->current; /* a request may inject one (crater.test) */
  srv->current = &t->main;
  t->main.state = CRATER__UT_RUNNING;
  if (outer == NULL) crater__watchdog_enter(srv, &t->main, t->gen->L);
  srv->lua_armed++; /* protected: the VM's ceiling applies (vm_mem.c) */
  int st = lua_resume(t->main.L, nargs);
  srv->lua_armed--;
  if (outer == NULL) crater__watchdog_leave(srv, t->gen->L);
  srv->current = outer;
  if (!really_waits(&t->main, st)) t->main.state = CRATER__UT_IDLE;
  if (outer == NULL) run_wakes(srv);
  return st;
}

/* A wait is real when the coroutine yielded nothing while marked waiting
 * (a wait's C function returns lua_yield(L, 0)). When Lua could not yield
 * there -- inside a string.gsub callback, a table.sort comparator,
 * require -- the yield raised instead and the coroutine went on: that wait
 * never happened, and what it started is cancelled here. */
static int really_waits(crater__uthread *ut, int st) {
  if (ut->state != CRATER__UT_WAITING) return 0;
  if (st == LUA_YIELD && lua_gettop(ut->L) == 0) return 1;
  stop(ut, CRATER__UT_RUNNING);
  return 0;
}

crater__uthread *crater__task_wait(crater_server *srv, lua_State *L, void (*cancel)(void *),
                                   void *data, const char **why) {
  crater__uthread *ut = srv->current;
  if (ut == NULL) {
    *why = "cannot wait here: not inside a request or a timer";
    return NULL;
  }
  if (ut->L != L) {
    *why = "cannot wait inside a coroutine the app created (use crater.spawn)";
    return NULL;
  }
  /* Still marked waiting while it runs: its last wait could not yield
   * (see really_waits) and was caught by a pcall. */
  if (ut->state == CRATER__UT_WAITING) stop(ut, CRATER__UT_RUNNING);
  ut->state = CRATER__UT_WAITING;
  ut->cancel = cancel;
  ut->cancel_data = data;
  ut->wait_seq++;
  return ut;
}

void crater__task_unwait(crater__uthread *ut) {
  ut->state = CRATER__UT_RUNNING;
  ut->cancel = NULL;
  ut->cancel_data = NULL;
}

void crater__task_resume(crater__uthread *ut, int nresults) {
  assert(ut->state == CRATER__UT_WAITING);
  ut->cancel = NULL;
  ut->cancel_data = NULL;
  crater__task *t = ut->task;
  if (ut == &t->main) {
    t->resume_main(t, nresults);
    return;
  }
  run_spawned(ut, nresults);
}

void crater__task_end(crater__task *t) {
  crater_server *srv = t->srv;
  char what[160];
  what[0] = '\0';
  if (t->main.state == CRATER__UT_WAITING) stop(&t->main, CRATER__UT_KILLED);
  t->told = NULL; /* the spawned ones leave it as they are released */
  int killed = 0;
  while (t->spawned != NULL) {
    crater__uthread *ut = t->spawned;
    if (ut->state == CRATER__UT_WAITING || ut->state == CRATER__UT_RUNNING) {
      killed++;
      stop(ut, CRATER__UT_KILLED);
    } else if (ut->state == CRATER__UT_FAILED && !ut->joined) {
      if (what[0] == '\0') t->describe(t, what, sizeof(what));
      crater__log(srv, CRATER_LOG_ERROR, "%s: a spawned thread failed and nobody waited for it: %s",
                  what, lua_tostring(ut->L, -1));
    }
    release_spawned(t, ut);
  }
  if (killed > 0) {
    if (what[0] == '\0') t->describe(t, what, sizeof(what));
    crater__log(srv, CRATER_LOG_INFO, "%s ended with %d spawned thread%s still waiting: killed",
                what, killed, killed == 1 ? "" : "s");
  }
  while (t->cleanups != NULL) {
    crater__task_cleanup *c = t->cleanups;
    crater__task_undefer(c);
    c->fn(c);
  }
}

/* The interrupted uthreads wait on t->told, not on the server's wake
 * queue: run_wakes runs at the end of every outermost resume, and would
 * resume the main coroutine there, inside the owner's own resume of it.
 * Each is resumed as an outermost resume of its own, main first, then the
 * spawned ones newest first (the helpers a thread started in order to
 * wait, sse.lua's park, before that thread's siblings). Any of them may
 * end the task (the owner's done): the list is emptied then. */
void crater__task_interrupt(crater__task *t) {
  assert(t->srv->current == NULL);
  crater__uthread **tail = tell(&t->main, &t->told);
  for (crater__uthread *ut = t->spawned; ut != NULL; ut = ut->next) tail = tell(ut, tail);
  while (t->told != NULL) {
    crater__uthread *ut = t->told;
    t->told = ut->told_next;
    ut->told_next = NULL;
    if (ut->state == CRATER__UT_WAITING && ut->cancel == NULL) crater__task_resume(ut, 2);
  }
}

/* One uthread's wait in progress ends with nil, "closed": what it waits
 * for is cancelled as if its task had ended, and the results wait on its
 * coroutine; it goes at *tail of the task's list. A crater.wait is left
 * alone (the thread it waits for hears of it itself). Returns the new tail. */
static crater__uthread **tell(crater__uthread *ut, crater__uthread **tail) {
  if (ut->state != CRATER__UT_WAITING || ut->cancel == NULL || ut->cancel == join_cancel) return tail;
  void (*cancel)(void *) = ut->cancel;
  void *data = ut->cancel_data;
  ut->cancel = NULL;
  ut->cancel_data = NULL;
  cancel(data);
  lua_settop(ut->L, 0);
  lua_pushnil(ut->L);
  lua_pushliteral(ut->L, "closed");
  ut->told_next = NULL;
  *tail = ut;
  return &ut->told_next;
}

static void untell(crater__task *t, crater__uthread *ut) {
  for (crater__uthread **pp = &t->told; *pp != NULL; pp = &(*pp)->told_next) {
    if (*pp == ut) {
      *pp = ut->told_next;
      break;
    }
  }
  ut->told_next = NULL;
}

void crater__task_defer(crater__task *t, crater__task_cleanup *c) {
  assert(c->pprev == NULL);
  c->next = t->cleanups;
  if (c->next != NULL) c->next->pprev = &c->next;
  c->pprev = &t->cleanups;
  t->cleanups = c;
}

void crater__task_undefer(crater__task_cleanup *c) {
  if (c->pprev == NULL) return;
  *c->pprev = c->next;
  if (c->next != NULL) c->next->pprev = c->pprev;
  c->next = NULL;
  c->pprev = NULL;
}

/* ===================================================================== */
/*  Spawned threads                                                        */
/* ===================================================================== */

static crater__uthread *check_thread(lua_State *L, int i, crater__task *t) {
  crater__uthread *ut = luaL_checkudata(L, i, THREAD_MT);
  if (ut->task == NULL && ut->joined) luaL_error(L, "crater.wait: this thread was waited for already");
  if (ut->task == NULL) luaL_error(L, "this thread's request or timer has ended");
  if (ut->task != t) luaL_error(L, "this thread belongs to another request or timer");
  return ut;
}

static crater__task *current_task(lua_State *L, const char *who) {
  crater_server *srv = lua_touserdata(L, lua_upvalueindex(1));
  crater__uthread *cur = srv->current;
  if (cur == NULL) luaL_error(L, "%s: not inside a request or a timer", who);
  if (cur->L != L) luaL_error(L, "%s: cannot be used inside a coroutine the app created (use crater.spawn)", who);
  return cur->task;
}

/* crater.host.in_task() -> true inside a request or a timer (for the Lua
 * side's checks before a wait). */
int crater__task_in_task(lua_State *L) {
  crater_server *srv = lua_touserdata(L, lua_upvalueindex(1));
  lua_pushboolean(L, srv->current != NULL);
  return 1;
}

/* crater.spawn(fn, ...) -> thread: runs fn(...) in a new light thread of
 * the current task, at once, until it returns or waits. */
int crater__task_spawn(lua_State *L) {
  crater__task *t = current_task(L, "crater.spawn");
  luaL_checktype(L, 1, LUA_TFUNCTION);
  int nargs = lua_gettop(L) - 1;
  crater__uthread *ut = lua_newuserdata(L, sizeof(*ut));
  memset(ut, 0, sizeof(*ut));
  if (luaL_newmetatable(L, THREAD_MT)) {
    lua_pushliteral(L, "crater.thread");
    lua_setfield(L, -2, "__name");
  }
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  int self_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* the task keeps the handle alive */
  lua_State *co = lua_newthread(L);
  ut->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  ut->L = co;
  ut->task = t;
  ut->state = CRATER__UT_IDLE;
  ut->handle_ref = self_ref;
  ut->next = t->spawned;
  t->spawned = ut;
  t->nspawned++;
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  for (int i = 2; i <= nargs + 1; i++) lua_pushvalue(L, i);
  lua_xmove(L, co, nargs);
  run_spawned(ut, nargs); /* the handle stays on L's stack, on top */
  return 1;
}

/* Resumes a spawned thread, as its own "current", and settles what it did. */
static void run_spawned(crater__uthread *ut, int nargs) {
  crater_server *srv = ut->task->srv;
  crater__uthread *outer = srv->current;
  srv->current = ut;
  ut->state = CRATER__UT_RUNNING;
  if (outer == NULL) crater__watchdog_enter(srv, ut, ut->task->gen->L);
  srv->lua_armed++;
  int st = lua_resume(ut->L, nargs);
  srv->lua_armed--;
  if (outer == NULL) crater__watchdog_leave(srv, ut->task->gen->L);
  srv->current = outer;
  if (!really_waits(ut, st)) settle(ut, st);
  if (outer == NULL) run_wakes(srv);
}

static void settle(crater__uthread *ut, int st) {
  lua_State *co = ut->L;
  if (st == LUA_YIELD) {
    lua_settop(co, 0);
    lua_pushliteral(co, "a spawned thread may yield only by waiting (crater.sleep, a socket, ...): "
                        "it cannot write a streamed body or yield a coroutine");
    ut->state = CRATER__UT_FAILED;
  } else if (st != 0) {
    crater__gen_error_tostring(ut->task->gen, co);
    crater__lua_error_settle(ut->task->gen->L, co, st);
    ut->state = CRATER__UT_FAILED;
  } else {
    ut->state = CRATER__UT_DONE;
  }
  wake_joiner(ut);
}

/* ut settled: the thread waiting for it in crater.wait goes on -- now, when
 * no Lua runs (ut's wait completed from a loop callback), else once the Lua
 * running returns (a thread that settles inside its parent's crater.spawn). */
static void wake_joiner(crater__uthread *ut) {
  crater__uthread *j = ut->joiner;
  if (j == NULL) return;
  ut->joiner = NULL;
  crater_server *srv = ut->task->srv;
  if (srv->current != NULL) queue_wake(srv, j);
  else crater__task_resume(j, 0);
}

/* What a join waits for is gone with its task: nothing to undo but the link. */
static void join_cancel(void *data) {
  crater__uthread *target = data;
  target->joiner = NULL;
}

/* crater.host.join(thread): returns when the thread has settled. */
int crater__task_join(lua_State *L) {
  crater__task *t = current_task(L, "crater.wait");
  crater__uthread *ut = check_thread(L, 1, t);
  if (ut->state == CRATER__UT_DONE || ut->state == CRATER__UT_FAILED || ut->state == CRATER__UT_KILLED) {
    /* Settled: its results. */
    if (ut->joined) return luaL_error(L, "crater.wait: this thread was waited for already");
    ut->joined = 1;
    int n;
    if (ut->state == CRATER__UT_KILLED) {
      lua_pushnil(L);
      lua_pushliteral(L, "killed");
      n = 2;
    } else if (ut->state == CRATER__UT_FAILED) {
      lua_pushnil(L);
      lua_xmove(ut->L, L, 1);
      n = 2;
    } else {
      int nr = lua_gettop(ut->L);
      luaL_checkstack(L, nr + 1, "crater.wait: too many results");
      lua_pushboolean(L, 1); /* distinguishes a thread that returned nothing from a failure */
      lua_xmove(ut->L, L, nr);
      n = nr + 1;
    }
    release_joined(t, ut);
    return n;
  }
  if (ut->state == CRATER__UT_RUNNING)
    return luaL_error(L, "crater.wait: a thread cannot wait for one that is running it");
  if (ut->joiner != NULL) return luaL_error(L, "crater.wait: another thread waits for this one");
  const char *why;
  crater__uthread *self = crater__task_wait(t->srv, L, join_cancel, ut, &why);
  if (self == NULL) return luaL_error(L, "crater.wait: %s", why);
  ut->joiner = self;
  return lua_yield(L, 0); /* resumed with no results: then join again */
}

/* crater.kill(thread) -> true | nil, err */
int crater__task_kill(lua_State *L) {
  crater__task *t = current_task(L, "crater.kill");
  crater__uthread *done = luaL_checkudata(L, 1, THREAD_MT);
  if (done->task == NULL && done->joined) { /* released by release_joined */
    lua_pushnil(L);
    lua_pushliteral(L, "already done");
    return 2;
  }
  crater__uthread *ut = check_thread(L, 1, t);
  if (ut->state == CRATER__UT_RUNNING)
    return luaL_error(L, "crater.kill: a thread cannot kill itself or one that is running it");
  if (ut->state != CRATER__UT_WAITING && ut->state != CRATER__UT_IDLE) {
    lua_pushnil(L);
    lua_pushliteral(L, "already done");
    return 2;
  }
  stop(ut, CRATER__UT_KILLED);
  lua_settop(ut->L, 0);
  /* Not now: the killer is running, and the joiner running inside its
   * call could end the task under it. run_wakes does it once the
   * outermost resume returns. */
  crater__uthread *j = ut->joiner;
  ut->joiner = NULL;
  if (j != NULL) queue_wake(t->srv, j);
  lua_pushboolean(L, 1);
  return 1;
}

/* A uthread to resume (with no results) when the Lua running now returns. */
static void queue_wake(crater_server *srv, crater__uthread *ut) {
  ut->wake_seq = ut->wait_seq;
  ut->wake_next = srv->wakes;
  srv->wakes = ut;
}

/* Resumes the uthreads queue_wake queued, unless their wait is over
 * (their task ended, or they were cancelled) meanwhile. */
static void run_wakes(crater_server *srv) {
  while (srv->wakes != NULL) {
    crater__uthread *ut = srv->wakes;
    srv->wakes = ut->wake_next;
    ut->wake_next = NULL;
    if (ut->state == CRATER__UT_WAITING && ut->wait_seq == ut->wake_seq) crater__task_resume(ut, 0);
  }
}

/* Cancels what ut waits for; its coroutine will never run again. */
static void stop(crater__uthread *ut, int state) {
  if (ut->state == CRATER__UT_WAITING && ut->cancel != NULL) {
    void (*cancel)(void *) = ut->cancel;
    void *data = ut->cancel_data;
    ut->cancel = NULL;
    ut->cancel_data = NULL;
    cancel(data);
  }
  ut->state = state;
}

/* A thread whose results crater.wait took is of no more use to its task:
 * released now rather than when the task ends, so a long request that
 * spawns and waits for threads all its life (an SSE stream parks this way
 * for each event, sse.lua) keeps its memory bounded. Not while a wake is
 * queued for it: run_wakes reads it, and once released its memory goes
 * with its handle. */
static void release_joined(crater__task *t, crater__uthread *ut) {
  for (crater__uthread *w = t->srv->wakes; w != NULL; w = w->wake_next)
    if (w == ut) return;
  crater__uthread **pp = &t->spawned;
  while (*pp != NULL && *pp != ut) pp = &(*pp)->next;
  if (*pp == NULL) return;
  *pp = ut->next;
  ut->next = t->spawned; /* release_spawned takes the head of the list */
  t->spawned = ut;
  release_spawned(t, ut);
}

static void release_spawned(crater__task *t, crater__uthread *ut) {
  lua_State *L = ut->L;
  untell(t, ut);
  t->spawned = ut->next;
  t->nspawned--;
  ut->task = NULL;
  ut->next = NULL;
  ut->joiner = NULL;
  lua_settop(L, 0);
  luaL_unref(L, LUA_REGISTRYINDEX, ut->ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ut->handle_ref);
  ut->L = NULL;
}
