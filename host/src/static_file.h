/* static_file.h - static_file.c: the C half of app:static (crater.static):
 * opening a file beneath a folder so that no request path can leave it,
 * and the file answer a handler returns, whose bytes the core sends
 * (sendfile(2) on a socket, reads otherwise: pipeline.c) without ever
 * holding the file in Lua memory. */
#ifndef CRATER_STATIC_FILE_H
#define CRATER_STATIC_FILE_H

#include <stdint.h>

#include <lua.h>

/* The preload crater._static: root(folder), open(root, relpath,
 * follow_symlinks), and the file answer's methods. */
int crater__static_file_open(lua_State *L);

/* When the value at idx is a file answer of crater._static, moves its
 * descriptor out (the Lua value no longer owns it: it is closed by whoever
 * takes it), stores the part to send in *off and *len and returns 1; a file
 * answer already taken or closed gives 1 with *fd -1. Anything else: 0,
 * nothing changes. */
int crater__static_file_take(lua_State *L, int idx, int *fd, int64_t *off, uint64_t *len);

#endif
