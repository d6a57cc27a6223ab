/* socket.h - socket.c: cosockets, the C half of crater.socket
 * (lua/crater/socket.lua is their Lua face; docs/sockets.md says what they
 * do). A socket is a TCP or unix-domain connection on the loop whose
 * operations -- connect (with name resolution), send, receive -- wait
 * through task.c without blocking the server. It belongs to the request
 * that made it, which closes it when it ends; setkeepalive puts its
 * connection in a pool (pool.c) for a later request to reuse. */
#ifndef CRATER_SOCKET_H
#define CRATER_SOCKET_H

#include <stddef.h>

#include <lua.h>

/* Opens crater._socket (a package.preload loader; upvalue 1: the server,
 * a light userdata): new, connect, send, receive, receiveuntil,
 * settimeouts, close, setkeepalive, reused and the sockets' metatable,
 * whose __index socket.lua fills. */
int crater__socket_open(lua_State *L);

/* The pure parts of reading, exposed for the unit tests. */

/* Where pat (plen >= 1 bytes) first occurs in data[from, len), or
 * (size_t)-1. *safe is how many leading bytes of data cannot be part of an
 * occurrence: the match's offset, or, with none, len minus the longest
 * tail of data that begins pat (search again from *safe when more data
 * comes). from must be <= len. */
size_t crater__socket_find(const char *data, size_t len, const char *pat, size_t plen,
                           size_t from, size_t *safe);

/* A line at the start of data: returns the bytes it takes, "\n" included,
 * or 0 when data[from, len) holds no "\n" (from: bytes known to hold none).
 * *line_len is its length without the "\n" and a "\r" before it. */
size_t crater__socket_line(const char *data, size_t len, size_t from, size_t *line_len);

#endif
