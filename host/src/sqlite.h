/* sqlite.h - sqlite.c: SQLite for crater.sqlite (its C half, the preload
 * crater._sqlite). One connection per database file and server process,
 * shared by every generation of the app and closed when the server closes;
 * its statements run one at a time on libuv's thread pool, in the order
 * they were asked for, and a transaction holds the connection for the task
 * (request or timer run) that opened it. */
#ifndef CRATER_SQLITE_H
#define CRATER_SQLITE_H

#include <lua.h>

#include "crater.h"

/* The crater._sqlite module (lua_CFunction; upvalue 1: the generation, a
 * light userdata): open(path, busy_timeout_ms) -> handle and
 * query(handle, sql, ...) -> rows | nil, code, message. */
int crater__sqlite_open(lua_State *L);

/* The server closes: connections that are idle close now, the others when
 * their statement in flight, interrupted, is back. */
void crater__sqlite_close_all(crater_server *srv);

#endif
