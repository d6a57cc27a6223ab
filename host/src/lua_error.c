/* lua_error.c - error texts made without raising again (see lua_error.h). */
#include "lua_error.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

typedef struct {
  lua_State *T;
  const char *msg;
  crater__buf *out; /* the traceback is appended here, or */
  int to_T;         /* moved onto T */
} traceback_args;

const char *crater__lua_error_message(lua_State *T, int st, char *tmp, size_t tmp_size) {
  if (st == LUA_ERRMEM) return "not enough memory";
  int t = lua_type(T, -1);
  if (t == LUA_TSTRING) return lua_tostring(T, -1); /* a string: no conversion, no allocation */
  if (t == LUA_TNUMBER) {
    snprintf(tmp, tmp_size, "%.14g", lua_tonumber(T, -1));
    return tmp;
  }
  if (st == LUA_ERRERR) return "error in the error handler";
  snprintf(tmp, tmp_size, "(error object is a %s value)", lua_typename(T, t));
  return tmp;
}

static int traceback_cf(lua_State *L) {
  traceback_args *a = lua_touserdata(L, 1);
  luaL_traceback(L, a->T, a->msg, 0);
  if (a->out != NULL) {
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    crater__buf_append(a->out, s, n);
  }
  if (a->to_T) lua_xmove(L, a->T, 1);
  return 0;
}

const char *crater__lua_error_text(lua_State *L, lua_State *T, int st, const char *msg,
                                   crater__buf *out) {
  char tmp[96];
  traceback_args a = {T, msg ? msg : crater__lua_error_message(T, st, tmp, sizeof(tmp)), out, 0};
  size_t mark = out->len;
  if (lua_cpcall(L, traceback_cf, &a) != 0) {
    lua_pop(L, 1); /* cpcall's own error */
    out->len = mark;
    crater__buf_appendz(out, a.msg);
    crater__buf_appendz(out, " (no traceback: out of memory)");
  }
  if (crater__buf_append(out, "", 1) != 0) return "(no memory for the error's text)";
  out->len--;
  return out->data;
}

void crater__lua_error_settle(lua_State *L, lua_State *T, int st) {
  char tmp[96];
  traceback_args a = {T, crater__lua_error_message(T, st, tmp, sizeof(tmp)), NULL, 1};
  if (lua_cpcall(L, traceback_cf, &a) != 0) lua_pop(L, 1);
  lua_replace(T, 1); /* the traceback, or the error object itself */
  lua_settop(T, 1);
}
