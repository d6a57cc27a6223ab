/* lua_error.h - lua_error.c: the text of an error that ended a coroutine,
 * got without raising another. After "not enough memory" or a stack
 * overflow, any call that allocates can fail again, and outside a
 * protected call that is a panic: the end of the process. */
#ifndef CRATER_LUA_ERROR_H
#define CRATER_LUA_ERROR_H

#include <lua.h>

#include "buf.h"

/* The message of the error that ended T with status st (the value on top
 * of T's stack), without converting it: a string as it is, a number
 * formatted into tmp, "not enough memory" for LUA_ERRMEM, else a
 * description of the value. */
const char *crater__lua_error_message(lua_State *T, int st, char *tmp, size_t tmp_size);

/* Appends msg (NULL: that message) and T's traceback to out and returns
 * out's text.
 * The traceback is made inside a protected call on L (T's main state);
 * without memory for it, the text says so instead. When out cannot grow
 * at all, returns a fixed text that says that. */
const char *crater__lua_error_text(lua_State *L, lua_State *T, int st, const char *msg,
                                   crater__buf *out);

/* Leaves the message and traceback as T's only value (index 1), made like
 * crater__lua_error_text's; without memory, the bare message. */
void crater__lua_error_settle(lua_State *L, lua_State *T, int st);

#endif
