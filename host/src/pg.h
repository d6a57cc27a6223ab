/* pg.h - pg.c: PostgreSQL connections on the loop (libpq's asynchronous
 * API driven by uv_poll and loop timers), pooled per Lua state, for
 * lua/crater/pg.lua (the module crater._pg). */
#ifndef CRATER_PG_H
#define CRATER_PG_H

#include <lua.h>

/* Opens crater._pg: pool(), acquire(), query(), notifies(), release(),
 * discard(), txstatus(). Upvalue 1: the server (a light userdata). */
int crater__pg_open(lua_State *L);

#endif
