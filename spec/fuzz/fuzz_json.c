/* fuzz_json.c - libFuzzer target for crater.json's decoder (host/src/json.c).
 *
 * Every input is decoded. Bad JSON must come back as nil, message, position;
 * a value that decodes must encode, the encoding must decode again, and
 * encoding that gives text of the same length (key order may differ, the
 * bytes needed may not). Anything else aborts, which libFuzzer reports.
 *
 * The Lua state allocates through malloc, one block per object, so ASan
 * sees a read past the end of the input string (Lua's own allocator would
 * hide it inside its arenas). The price: LeakSanitizer reports LuaJIT's own
 * blocks as leaked (GC64 keeps many references tagged in the top bits,
 * where a scan for pointers does not see them), so leak checking is off
 * here; fuzz_http, whose Lua states use LuaJIT's allocator, keeps it. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);

const char *__asan_default_options(void) { return "detect_leaks=0"; }

static void *plain_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  (void)osize;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  return realloc(ptr, nsize);
}

/* Called with (json, input); returns nothing or raises what was wrong. */
static const char check_lua[] =
  "local json = ...\n"
  "return function(s)\n"
  "  local v, err, at = json.decode(s)\n"
  "  if err ~= nil then\n"
  "    if v ~= nil or type(err) ~= 'string' or type(at) ~= 'number' or at < 1 or at > #s + 1 then\n"
  "      error('decode failure without nil, message, position: ' .. tostring(err))\n"
  "    end\n"
  "    return\n"
  "  end\n"
  "  local ok, text = pcall(json.encode, v)\n"
  "  if not ok then error('decoded value does not encode: ' .. tostring(text)) end\n"
  "  local v2, err2 = json.decode(text)\n"
  "  if err2 ~= nil then error('encoding does not decode: ' .. err2 .. ' in ' .. text) end\n"
  "  local text2 = json.encode(v2)\n"
  "  if #text2 ~= #text then error('round trip changed the length: ' .. text .. ' -> ' .. text2) end\n"
  "end\n";

static lua_State *L;

static void fail(const char *what) {
  fprintf(stderr, "fuzz_json: %s\n", what);
  abort();
}

static void setup(void) {
  L = lua_newstate(plain_alloc, NULL);
  if (L == NULL) L = luaL_newstate(); /* builds that refuse a custom allocator */
  if (L == NULL) fail("no Lua state");
  luaL_openlibs(L);
  if (luaL_loadbuffer(L, check_lua, sizeof(check_lua) - 1, "=fuzz_json") != 0) fail(lua_tostring(L, -1));
  lua_pushcfunction(L, crater__json_open);
  if (lua_pcall(L, 0, 1, 0) != 0) fail(lua_tostring(L, -1));
  if (lua_pcall(L, 1, 1, 0) != 0) fail(lua_tostring(L, -1));
  /* stack: check */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (L == NULL) setup();
  lua_pushvalue(L, 1);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 0) != 0) fail(lua_tostring(L, -1));
  return 0;
}
