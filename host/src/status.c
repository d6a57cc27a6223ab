/* status.c - the `crater._status` Lua module (see status.h). */
#include "status.h"

#include "http.h"

int crater__status_open(lua_State *L) {
  int n = 0;
#define XX(code, text) n++;
  CRATER_HTTP_STATUS_MAP(XX)
#undef XX
  lua_createtable(L, 0, n);
#define XX(code, text) \
  lua_pushliteral(L, text); \
  lua_rawseti(L, -2, code);
  CRATER_HTTP_STATUS_MAP(XX)
#undef XX
  return 1;
}

#ifdef CRATER_STATUS_MODULE
int luaopen_crater__status(lua_State *L);

__attribute__((visibility("default"))) int luaopen_crater__status(lua_State *L) {
  return crater__status_open(L);
}
#endif
