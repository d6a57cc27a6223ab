/* watchdog.h - watchdog.c: a thread per server that notices Lua running for
 * cfg.stuck_timeout_ms without returning to the event loop (a stuck
 * handler, timer or spawned thread), interrupts it where a hook can, and
 * tells the process (crater__watchdog_on_stuck) when nothing can: code
 * LuaJIT compiled into a trace never runs hooks, nor does a C call. */
#ifndef CRATER_WATCHDOG_H
#define CRATER_WATCHDOG_H

#include <lua.h>

#include "crater.h"

typedef struct crater__watchdog crater__watchdog;
struct crater__uthread; /* task.h */
struct crater__gen;     /* vm.h */

/* Called on the watchdog's thread, once per stuck run that a hook could not
 * interrupt within a second: `what` names the run (the request, the route's
 * handler and its file:line when known). The loop's thread is stuck, so the
 * process can only end; what it may do is what a signal handler may. */
typedef void (*crater__stuck_cb)(void *ud, const char *what);

/* Starts srv->watchdog when cfg.stuck_timeout_ms > 0. Returns 0, or
 * CRATER_ENOMEM (message in last_error). */
int crater__watchdog_start(crater_server *srv);

/* Stops and joins the thread; frees srv->watchdog. */
void crater__watchdog_stop(crater_server *srv);

/* A new lua_State of srv: lets the interrupting hook find the watchdog. */
void crater__watchdog_bind(crater_server *srv, lua_State *L);

/* The table on top of L's stack is g's crater.host.running, where the
 * dispatcher notes the route each request runs: { "METHOD /path (file:line)",
 * request, seq }. Keeps it on a thread of its own, from which the watchdog's
 * thread reads it without allocating (a stuck loop's thread does not run). */
void crater__watchdog_track(struct crater__gen *g, lua_State *L);

/* The outermost Lua run of the loop's thread starts (ut runs on L's state)
 * and ends: what the watchdog times. Cheap: two stores each. */
void crater__watchdog_enter(crater_server *srv, struct crater__uthread *ut, lua_State *L);
void crater__watchdog_leave(crater_server *srv, lua_State *L);

/* What the process does with a run nothing can interrupt (the CLI: log and
 * exit, so a supervisor or the --workers parent replaces the process). */
void crater__watchdog_on_stuck(crater_server *srv, crater__stuck_cb cb, void *ud);

#endif
