/* timer.h - timer.c: background work on the loop: crater.timer.at and
 * crater.timer.every. A timer belongs to the generation that made it (its
 * function lives in that generation's Lua state) and pins it while pending
 * or running. Each run is a task (task.h) of its own, so it can wait like a
 * request. When its generation is replaced (a reload) or the server closes,
 * a pending timer runs once at once with premature = true, OpenResty's
 * contract, so the app can flush state; an `every` timer then stops. */
#ifndef CRATER_TIMER_H
#define CRATER_TIMER_H

#include <stdint.h>

#include <lua.h>

#include "crater.h"

typedef struct crater__gen crater__gen; /* vm.h */

/* crater.timer.at(delay, fn, ...) and crater.timer.every(interval, fn, ...)
 * -> a timer with :cancel(), or nil and an error. Upvalue 1: the
 * generation (a light userdata). */
int crater__timer_at(lua_State *L);
int crater__timer_every(lua_State *L);

/* The generation numbered gen_id no longer serves (replaced, or the server
 * closes): its pending timers run now with premature = true. */
void crater__timer_expire(crater_server *srv, uint64_t gen_id);

/* The generation numbered gen_id failed to start: its pending timers are
 * dropped without running. */
void crater__timer_cancel(crater_server *srv, uint64_t gen_id);

/* The server's timer runs still going: crater_close waits for them. */
int crater__timer_running(const crater_server *srv);

/* The grace period is over: running timer runs are killed. */
void crater__timer_kill_all(crater_server *srv);

#endif
