/* fuzz_json.c - libFuzzer target for crater.json (host/src/json.c): the
 * decoder on the input bytes, the encoder on a value the same bytes build
 * (see check_lua). A broken rule aborts, which libFuzzer reports.
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

/* Called with (json); returns the check, called with each input, which
 * returns nothing or raises what was wrong. Two checks on the same bytes:
 *
 * decode: bad JSON comes back as nil, message, position; a value that
 * decodes encodes, that text decodes again, and encoding that gives text of
 * the same length (key order may differ, the bytes needed may not).
 *
 * encode: the bytes are a little program building a Lua value (numbers
 * from raw bits, strings of raw bytes, arrays with holes, numeric keys,
 * nesting up to past max_depth, cycles, functions, foreign metatables).
 * encode either raises "crater.json.encode: ..." or returns text that
 * decodes and encodes again to the same length; the first 8 bytes as a
 * double must survive decode(encode(x)) bit for bit, or raise when not
 * finite. */
static const char check_lua[] =
  "local json = ...\n"
  "-- The checks are short and differ per input: tracing them costs more\n"
  "-- than it saves.\n"
  "jit.off()\n"
  "local ffi = require 'ffi'\n"
  "local byte, sub, format = string.byte, string.sub, string.format\n"
  "local dbl, bits = ffi.new('double[1]'), ffi.new('uint64_t[1]')\n"
  "local EXP, MANT = 0x7ff0000000000000ULL, 0x000fffffffffffffULL\n"
  "-- Any NaN is made the one NaN: LuaJIT reads some NaN payloads from cdata\n"
  "-- as its own type tags (a boolean, say).\n"
  "local function double_at(s, i)\n"
  "  local b = sub(s, i, i + 7)\n"
  "  ffi.copy(bits, b, 8)\n"
  "  if bit.band(bits[0], EXP) == EXP and bit.band(bits[0], MANT) ~= 0ULL then return 0 / 0 end\n"
  "  ffi.copy(dbl, b, 8)\n"
  "  return dbl[0]\n"
  "end\n"
  "\n"
  "local function check_decode(s)\n"
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
  "end\n"
  "\n"
  "local function check_number(s)\n"
  "  if #s < 8 then return end\n"
  "  local x = double_at(s, 1)\n"
  "  local ok, text = pcall(json.encode, x)\n"
  "  if x ~= x or x == math.huge or x == -math.huge then\n"
  "    if ok then error('a non-finite number encoded: ' .. text) end\n"
  "    return\n"
  "  end\n"
  "  if not ok then error(format('%.17g does not encode: %s', x, tostring(text))) end\n"
  "  local y = json.decode(text)\n"
  "  if y ~= x or (x == 0 and 1 / x ~= 1 / y) then\n"
  "    error(format('%.17g encodes as %s, which decodes to %.17g', x, text, tonumber(y) or 0 / 0))\n"
  "  end\n"
  "end\n"
  "\n"
  "local function check_encode(s)\n"
  "  local pos, n, deep = 1, #s, false\n"
  "  local function next_byte()\n"
  "    local b = byte(s, pos) or 0\n"
  "    pos = pos + 1\n"
  "    return b\n"
  "  end\n"
  "  local build\n"
  "  local function fill(t, depth, keyed)\n"
  "    for i = 1, next_byte() % 6 do\n"
  "      local k = i\n"
  "      if keyed == 'string' then k = sub(s, pos, pos + next_byte() % 5)\n"
  "      elseif keyed == 'number' then\n"
  "        local b = next_byte()\n"
  "        k = b < 200 and b % 8 or (pos + 7 <= n and double_at(s, pos) or 1.5)\n"
  "        if k ~= k then k = 0.5 end\n"
  "      end\n"
  "      t[k] = build(depth + 1)\n"
  "    end\n"
  "    return t\n"
  "  end\n"
  "  function build(depth)\n"
  "    if pos > n or depth > 1100 then return 1 end\n"
  "    local b = next_byte()\n"
  "    local op = b % 16\n"
  "    if op == 0 then return nil\n"
  "    elseif op == 1 then return json.null\n"
  "    elseif op == 2 then return b >= 128\n"
  "    elseif op == 3 then\n"
  "      if pos + 7 > n then return 0.1 end\n"
  "      local x = double_at(s, pos)\n"
  "      pos = pos + 8\n"
  "      return x\n"
  "    elseif op == 4 then return next_byte() - 128\n"
  "    elseif op == 5 then\n"
  "      local len = next_byte() % 24\n"
  "      local str = sub(s, pos, pos + len - 1)\n"
  "      pos = pos + len\n"
  "      return str\n"
  "    elseif op == 6 then return fill({}, depth, nil)\n"
  "    elseif op == 7 then return setmetatable(fill({}, depth, nil), json.array_mt)\n"
  "    elseif op == 8 then return fill({}, depth, 'string')\n"
  "    elseif op == 9 then return fill({}, depth, 'number')\n"
  "    elseif op == 10 then\n"
  "      -- n nested arrays around a value: the max_depth boundary; rare and\n"
  "      -- once per input, as it is slow\n"
  "      if b ~= 10 or deep then return b end\n"
  "      deep = true\n"
  "      local levels = 990 + next_byte() % 20\n"
  "      local v = build(depth + levels)\n"
  "      for _ = 1, levels do v = { v } end\n"
  "      return v\n"
  "    elseif op == 11 then\n"
  "      -- a cycle: encode goes max_depth deep before it fails, so rare too\n"
  "      if b ~= 11 then return b end\n"
  "      local t = { x = 1 }\n"
  "      t.self = t\n"
  "      return t\n"
  "    elseif op == 12 then return print\n"
  "    elseif op == 13 then\n"
  "      return setmetatable(fill({}, depth, nil), { __index = function() return 1 end, __len = function() return 3 end })\n"
  "    elseif op == 14 then\n"
  "      local t = setmetatable(fill({}, depth, nil), json.array_mt)\n"
  "      t[#t + 2] = true\n"
  "      t.extra = 1\n"
  "      return t\n"
  "    elseif op == 15 then return ffi.new('int[1]')\n"
  "    else return b end\n"
  "  end\n"
  "  local v = build(0)\n"
  "  local ok, text = pcall(json.encode, v)\n"
  "  if not ok then\n"
  "    if type(text) ~= 'string' or sub(text, 1, 19) ~= 'crater.json.encode:' then\n"
  "      error('encode raised something else: ' .. tostring(text))\n"
  "    end\n"
  "    return\n"
  "  end\n"
  "  local v2, err = json.decode(text)\n"
  "  if err ~= nil then error('encoding does not decode: ' .. err .. ' in ' .. sub(text, 1, 300)) end\n"
  "  local text2 = json.encode(v2)\n"
  "  if #text2 ~= #text then error('encode, decode, encode changed the length: ' .. sub(text, 1, 300)) end\n"
  "end\n"
  "\n"
  "return function(s)\n"
  "  check_decode(s)\n"
  "  check_number(s)\n"
  "  check_encode(s)\n"
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
