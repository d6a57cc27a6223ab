/* The VM's memory ceiling (vm_mem.c) and error texts made without raising
 * (lua_error.c), on a bare LuaJIT state. */
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua_error.h"
#include "test.h"
#include "vm_mem.h"

static const char HOG[] =
    "local t = {} for i = 1, math.huge do t[i] = string.rep('y', 4096) .. i end";

TEST(vm_mem_ceiling_fails_only_in_protected_calls) {
  lua_State *L = luaL_newstate();
  int armed = 0;
  crater__vm_mem m;
  memset(&m, 0, sizeof(m));
  crater__vm_mem_install(L, &m, 4u << 20, &armed);
  luaL_openlibs(L);
  ASSERT_TRUE(m.used > 0 && m.used < (4u << 20));
  /* Armed: the hog fails with "not enough memory", caught by the pcall. */
  armed = 1;
  ASSERT_EQ_INT(luaL_loadstring(L, HOG), 0);
  ASSERT_EQ_INT(lua_pcall(L, 0, 0, 0), LUA_ERRMEM);
  ASSERT_EQ_STR(lua_tostring(L, -1), "not enough memory");
  lua_pop(L, 1);
  armed = 0;
  ASSERT_TRUE(m.hit && m.refused > 0);
  ASSERT_TRUE(m.used <= (4u << 20));
  /* The garbage goes in the collection: the VM is usable again. */
  ASSERT_EQ_INT(crater__vm_mem_recover(L, &m), 0);
  ASSERT_TRUE(!m.hit && m.used < (2u << 20));
  /* Unarmed (C pushing outside any protected call), nothing is refused. */
  char big[8192];
  memset(big, 'z', sizeof(big));
  for (int i = 0; i < 1000; i++) {
    lua_pushlstring(L, big, sizeof(big) - (size_t)i);
    if (i % 100 == 99) lua_settop(L, 0);
  }
  lua_settop(L, 0);
  crater__vm_mem_uninstall(L, &m);
  lua_close(L);
}

TEST(lua_error_text_without_raising) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  char tmp[96];
  lua_State *T = lua_newthread(L);
  ASSERT_EQ_INT(luaL_loadstring(T, "local function f() error('boom') end f()"), 0);
  int st = lua_resume(T, 0);
  ASSERT_EQ_INT(st, LUA_ERRRUN);
  crater__buf out = {0};
  const char *text = crater__lua_error_text(L, T, st, NULL, &out);
  ASSERT_TRUE(strstr(text, "boom") != NULL && strstr(text, "stack traceback") != NULL);
  crater__buf_free(&out);
  /* Objects that are not strings are described, never converted. */
  lua_pushnumber(T, 42);
  ASSERT_EQ_STR(crater__lua_error_message(T, LUA_ERRRUN, tmp, sizeof(tmp)), "42");
  lua_newtable(T);
  ASSERT_EQ_STR(crater__lua_error_message(T, LUA_ERRRUN, tmp, sizeof(tmp)), "(error object is a table value)");
  ASSERT_EQ_STR(crater__lua_error_message(T, LUA_ERRMEM, tmp, sizeof(tmp)), "not enough memory");
  /* settle leaves one value: the message with its traceback. */
  crater__lua_error_settle(L, T, LUA_ERRMEM);
  ASSERT_EQ_INT(lua_gettop(T), 1);
  ASSERT_TRUE(strncmp(lua_tostring(T, 1), "not enough memory", 17) == 0);
  lua_close(L);
}
