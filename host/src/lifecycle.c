/* lifecycle.c - calling crater.app's lifecycle() and save_state() in a
 * generation (see lifecycle.h). */
#include "lifecycle.h"

#include <string.h>

#include "alloc.h"
#include "log.h"

/* Pushes require("crater.app")[fn] above a message handler at base + 1.
 * Returns 0, or -1 with the error on top. */
static int push_app_function(lua_State *L, int base, const char *fn) {
  lua_pushcfunction(L, crater__gen_traceback);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "crater.app");
  if (lua_pcall(L, 1, 1, base + 1) != 0) return -1;
  lua_getfield(L, -1, fn);
  if (!lua_isfunction(L, -1)) {
    lua_pushfstring(L, "crater.app has no %s()", fn);
    return -1;
  }
  return 0;
}

int crater__lifecycle_run(crater__gen *g, const char *event, const crater__gen *other,
                          const char *state_json, int *nroutes) {
  lua_State *L = g->L;
  int base = lua_gettop(L);
  if (push_app_function(L, base, "lifecycle") != 0) goto failed;
  lua_rawgeti(L, LUA_REGISTRYINDEX, g->app_ref);
  if (event != NULL) lua_pushstring(L, event); else lua_pushnil(L);
  lua_createtable(L, 0, 4);
  lua_pushnumber(L, (lua_Number)g->id);
  lua_setfield(L, -2, "generation");
  if (other != NULL) {
    lua_pushnumber(L, (lua_Number)other->id);
    lua_setfield(L, -2, "previous");
  }
  if (event != NULL && strcmp(event, "stop") == 0) {
    lua_pushstring(L, g->stop_reason ? g->stop_reason : "shutdown");
    lua_setfield(L, -2, "reason");
  }
  if (state_json != NULL) {
    lua_pushstring(L, state_json);
    lua_setfield(L, -2, "state_json");
  }
  if (lua_pcall(L, 3, 1, base + 1) != 0) goto failed;
  if (nroutes != NULL) *nroutes = (int)lua_tointeger(L, -1);
  lua_settop(L, base);
  return 0;
failed:
  crater__set_error(g->srv, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error object)");
  lua_settop(L, base);
  return CRATER_ELOAD;
}

char *crater__lifecycle_save_state(crater__gen *g) {
  lua_State *L = g->L;
  int base = lua_gettop(L);
  char *out = NULL;
  if (push_app_function(L, base, "save_state") != 0) goto failed;
  lua_rawgeti(L, LUA_REGISTRYINDEX, g->app_ref);
  if (lua_pcall(L, 1, 1, base + 1) != 0) goto failed;
  if (lua_isstring(L, -1)) out = crater__strdup(lua_tostring(L, -1));
  lua_settop(L, base);
  return out;
failed:;
  const char *why = lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error object)";
  crater__log(g->srv, CRATER_LOG_WARN, "app.state of generation %llu not handed over: %.*s",
              (unsigned long long)g->id, (int)crater__msg_head_len(why), why);
  lua_settop(L, base);
  return NULL;
}
