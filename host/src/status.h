/* status.h - the `crater._status` Lua module: http.h's status list (the
 * one the status line is written from) as a Lua table, so problem titles
 * and OpenAPI response descriptions can never differ from it.
 *
 * The VM registers crater__status_open in package.preload; status.c built
 * with -DCRATER_STATUS_MODULE is the same table as a loadable
 * crater/_status.so for the stock luajit interpreter (the Lua specs). */
#ifndef CRATER_STATUS_H
#define CRATER_STATUS_H

#include <lua.h>

/* Pushes a new table { [status] = "Reason Phrase", ... } and returns 1. */
int crater__status_open(lua_State *L);

#endif
