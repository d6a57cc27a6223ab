/* test_json.c - json.c through its C API: crater__json_quote (the quoting
 * the core's own problem bodies use) and the crater._json module that
 * crater__json_open makes, in a plain lua_State without the rest of Crater.
 * The Lua face (crater.json) has its own specs in spec/lua/json_spec.lua. */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "helpers.h"
#include "json.h"
#include "test.h"

/* ===================================================================== */
/*  crater__json_quote                                                   */
/* ===================================================================== */

/* Quotes len bytes of s into a heap block of exactly the documented worst
 * case, len * 6 + 2 bytes (so the ASan build catches a write past it), and
 * copies the result, NUL-terminated, to out. Returns the length written,
 * or (size_t)-1 when it is over the worst case. */
static size_t quoted(const char *s, size_t len, char *out, size_t cap) {
  size_t worst = len * 6 + 2;
  char *block = malloc(worst);
  if (block == NULL) return (size_t)-1;
  size_t n = crater__json_quote(block, s, len);
  if (n > worst || n >= cap) n = (size_t)-1;
  else {
    memcpy(out, block, n);
    out[n] = '\0';
  }
  free(block);
  return n;
}

/* ASSERT_EQ_STR on the quoted form of a string literal (which may hold NUL). */
#define ASSERT_QUOTES(literal, want)                                             \
  do {                                                                           \
    char q_[512];                                                                \
    size_t n_ = quoted(literal, sizeof(literal) - 1, q_, sizeof(q_));            \
    ASSERT_TRUE(n_ != (size_t)-1);                                               \
    ASSERT_EQ_STR(q_, want);                                                     \
    ASSERT_EQ_INT(n_, strlen(want));                                             \
  } while (0)

TEST(json_quote_plain_and_empty) {
  ASSERT_QUOTES("", "\"\"");
  ASSERT_QUOTES("hello, world", "\"hello, world\"");
  /* Longer than the 8-byte fast path, with a stop byte at each end of a word. */
  ASSERT_QUOTES("abcdefgh\"ijklmnop\\", "\"abcdefgh\\\"ijklmnop\\\\\"");
}

TEST(json_quote_escapes) {
  ASSERT_QUOTES("\"", "\"\\\"\"");
  ASSERT_QUOTES("\\", "\"\\\\\"");
  ASSERT_QUOTES("a\nb\tc\rd\be\ff", "\"a\\nb\\tc\\rd\\be\\ff\"");
  /* Other controls, NUL included, as \u00XX in lower case. */
  ASSERT_QUOTES("\x00\x01\x0b\x1f", "\"\\u0000\\u0001\\u000b\\u001f\"");
}

TEST(json_quote_copies_slash_del_and_utf8) {
  ASSERT_QUOTES("a/b", "\"a/b\"");
  ASSERT_QUOTES("\x7f", "\"\x7f\"");
  ASSERT_QUOTES("\xe2\x80\xa8", "\"\xe2\x80\xa8\""); /* U+2028 */
  ASSERT_QUOTES("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  ASSERT_QUOTES("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""); /* U+10FFFF, the last code point */
}

TEST(json_quote_replaces_invalid_utf8) {
  ASSERT_QUOTES("a\xff" "b", "\"a\\ufffdb\"");
  ASSERT_QUOTES("\x80", "\"\\ufffd\"");                            /* a lone continuation */
  ASSERT_QUOTES("\xe2\x82", "\"\\ufffd\\ufffd\"");                 /* cut short */
  ASSERT_QUOTES("\xe2\x82" "x", "\"\\ufffd\\ufffdx\"");            /* cut short by ASCII */
  ASSERT_QUOTES("\xc0\xaf", "\"\\ufffd\\ufffd\"");                 /* overlong '/' */
  ASSERT_QUOTES("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");      /* a surrogate */
  ASSERT_QUOTES("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* past U+10FFFF */
}

TEST(json_quote_worst_case_length) {
  /* Every byte a control character or invalid UTF-8: 6 bytes each. */
  char in[100], out[1024];
  for (int pass = 0; pass < 2; pass++) {
    memset(in, pass == 0 ? 0x01 : 0xff, sizeof(in));
    size_t n = quoted(in, sizeof(in), out, sizeof(out));
    ASSERT_EQ_INT(n, sizeof(in) * 6 + 2);
    ASSERT_TRUE(strncmp(out + 1, pass == 0 ? "\\u0001" : "\\ufffd", 6) == 0);
  }
}

/* ===================================================================== */
/*  The crater._json module                                              */
/* ===================================================================== */

/* A plain state with the standard libraries and the module as the global
 * `json`, loaded the way the VM does (package.preload, then require). */
static lua_State *json_state(void) {
  lua_State *L = spec_lua_with_json();
  if (L == NULL) return NULL;
  if (luaL_dostring(L, "json = require 'crater._json'") != 0) {
    lua_close(L);
    return NULL;
  }
  return L;
}

/* Runs code in L: its first result through tostring, or "error: <message>". */
static const char *run(lua_State *L, const char *code, char *out, size_t cap) {
  int rc = luaL_loadstring(L, code);
  if (rc == 0) rc = lua_pcall(L, 0, 1, 0);
  if (rc == 0) {
    lua_getglobal(L, "tostring");
    lua_insert(L, -2);
    lua_call(L, 1, 1);
  }
  snprintf(out, cap, "%s%s", rc == 0 ? "" : "error: ", lua_tostring(L, -1));
  lua_settop(L, 0);
  return out;
}

#define ASSERT_RUNS(L, code, want)                                               \
  do {                                                                           \
    char r_[1024];                                                               \
    ASSERT_EQ_STR(run(L, code, r_, sizeof(r_)), want);                           \
  } while (0)

TEST(json_module_round_trips_nested_values) {
  lua_State *L = json_state();
  ASSERT_TRUE(L != NULL);
  /* One key per object, so the text does not depend on table order. */
  static const char text[] =
      "{\"a\":[1,-2.5,\"x\\\"y\\n\\u00e9\\ud83d\\ude00\",true,false,null,{\"b\":[[],{}]},[[[0]]]]}";
  lua_pushstring(L, text);
  lua_setglobal(L, "text");
  ASSERT_RUNS(L, "return json.encode(json.decode(text))",
              "{\"a\":[1,-2.5,\"x\\\"y\\n\xc3\xa9\xf0\x9f\x98\x80\",true,false,null,{\"b\":[[],{}]},[[[0]]]]}");
  ASSERT_RUNS(L, "local once = json.encode(json.decode(text))\n"
                 "return json.encode(json.decode(once)) == once", "true");
  /* What decode built, seen from Lua. */
  ASSERT_RUNS(L, "local v = json.decode(text).a\n"
                 "return v[3] .. '|' .. tostring(v[6] == json.null) .. '|' .. #v .. '|' ..\n"
                 "  tostring(getmetatable(v) == json.array_mt) .. '|' .. v[8][1][1][1]",
              "x\"y\n\xc3\xa9\xf0\x9f\x98\x80|true|8|true|0");
  /* And the other way: a Lua value with several keys, through text and back. */
  ASSERT_RUNS(L, "local v = { name = 'n', list = { 1, 2, { deep = { true } } }, n = 0.5, none = json.null }\n"
                 "local w = json.decode(json.encode(v))\n"
                 "return w.name .. tostring(w.list[3].deep[1]) .. (w.n + #w.list) .. tostring(w.none == json.null)",
              "ntrue3.5true");
  lua_close(L);
}

TEST(json_module_array_mt_keeps_empty_arrays) {
  lua_State *L = json_state();
  ASSERT_TRUE(L != NULL);
  ASSERT_RUNS(L, "return json.encode({})", "{}");
  ASSERT_RUNS(L, "return json.encode(setmetatable({}, json.array_mt))", "[]");
  ASSERT_RUNS(L, "return json.encode({ a = {}, b = setmetatable({}, json.array_mt) }):len()", "15");
  ASSERT_RUNS(L, "return json.encode(json.decode('[]')) .. json.encode(json.decode('{}'))", "[]{}");
  ASSERT_RUNS(L, "return getmetatable(json.decode('[]')) == json.array_mt", "true");
  ASSERT_RUNS(L, "return getmetatable(json.decode('{}'))", "nil");
  ASSERT_RUNS(L, "return tostring(json.is_array({})) .. tostring(json.is_array(json.decode('[]')))"
                 " .. tostring(json.is_array({ 1, 2 })) .. tostring(json.is_array({ 1, x = 2 }))",
              "falsetruetruefalse");
  /* Each state has its own array_mt (the module is opened once per state). */
  lua_State *other = json_state();
  ASSERT_TRUE(other != NULL);
  lua_getglobal(L, "json");
  lua_getfield(L, -1, "array_mt");
  lua_getglobal(other, "json");
  lua_getfield(other, -1, "array_mt");
  ASSERT_TRUE(lua_topointer(L, -1) != lua_topointer(other, -1));
  lua_close(other);
  lua_close(L);
}

/* encode(x) from C: the text, or NULL when it raised. */
static const char *encode_number(lua_State *L, double x, char *out, size_t cap) {
  lua_getglobal(L, "json");
  lua_getfield(L, -1, "encode");
  lua_pushnumber(L, x);
  const char *s = lua_pcall(L, 1, 1, 0) == 0 ? lua_tostring(L, -1) : NULL;
  if (s != NULL) snprintf(out, cap, "%s", s);
  lua_settop(L, 0);
  return s != NULL ? out : NULL;
}

/* decode(text) from C: the number, or NaN when it is not one. */
static double decode_number(lua_State *L, const char *text) {
  lua_getglobal(L, "json");
  lua_getfield(L, -1, "decode");
  lua_pushstring(L, text);
  double x = 0.0 / 0.0;
  if (lua_pcall(L, 1, 1, 0) == 0 && lua_type(L, -1) == LUA_TNUMBER) x = lua_tonumber(L, -1);
  lua_settop(L, 0);
  return x;
}

TEST(json_module_numbers_keep_every_bit) {
  lua_State *L = json_state();
  ASSERT_TRUE(L != NULL);
  char text[64];
  /* The shortest text that reads back: 17 significant digits when needed. */
  ASSERT_EQ_STR(encode_number(L, 0.1 + 0.2, text, sizeof(text)), "0.30000000000000004");
  ASSERT_EQ_STR(encode_number(L, 1.0 / 3, text, sizeof(text)), "0.3333333333333333");
  ASSERT_EQ_STR(encode_number(L, 0.1, text, sizeof(text)), "0.1");
  ASSERT_EQ_STR(encode_number(L, 42, text, sizeof(text)), "42");
  ASSERT_EQ_STR(encode_number(L, -0.0, text, sizeof(text)), "-0");
  static const double cases[] = {
    0.1 + 0.2, 1.0 / 3, 2.0 / 3, 9007199254740992.0, 9007199254740994.0, -0.0,
    4.9406564584124654e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
    123456789.12345678, -1e-7, 1e21, 1e22, 1e23, 12345678901234567890.0, 5e-310,
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    ASSERT_TRUE(encode_number(L, cases[i], text, sizeof(text)) != NULL);
    char want[64], got[64];
    snprintf(want, sizeof(want), "%a", cases[i]);
    snprintf(got, sizeof(got), "%a", decode_number(L, text));
    ASSERT_EQ_STR(got, want); /* bit for bit, sign of zero included */
  }
  /* NaN and infinities have no JSON form. */
  ASSERT_RUNS(L, "return select(2, pcall(json.encode, { x = 0/0 }))",
              "crater.json.encode: cannot encode NaN at $.x");
  ASSERT_RUNS(L, "return select(2, pcall(json.encode, -math.huge))",
              "crater.json.encode: cannot encode -inf at $");
  lua_close(L);
}

TEST(json_module_encode_refuses_invalid_utf8) {
  lua_State *L = json_state();
  ASSERT_TRUE(L != NULL);
  /* The message names the byte (1-based, of the string's length) and where. */
  ASSERT_RUNS(L, "return select(2, pcall(json.encode, { name = 'ab\\255c' }))",
              "crater.json.encode: invalid UTF-8 in a string (byte 3 of 4) at $.name");
  ASSERT_RUNS(L, "return select(2, pcall(json.encode, { a = { 1, 'x\\237\\160\\128' } }))",
              "crater.json.encode: invalid UTF-8 in a string (byte 2 of 4) at $.a[2]");
  ASSERT_RUNS(L, "return select(2, pcall(json.encode, { ['k\\192\\175'] = 1 }))",
              "crater.json.encode: invalid UTF-8 in a key (byte 2 of 3) at $");
  ASSERT_RUNS(L, "return select(2, pcall(json.encode, '\\226\\130'))",
              "crater.json.encode: invalid UTF-8 in a string (byte 1 of 2) at $");
  /* Valid UTF-8 goes through untouched; the module's buffer survives the errors. */
  ASSERT_RUNS(L, "return json.encode('\\226\\130\\172')", "\"\xe2\x82\xac\"");
  /* Decode refuses it too, with the offset. */
  ASSERT_RUNS(L, "return select(2, json.decode('\"a\\255\"'))", "invalid UTF-8 at byte 3");
  lua_close(L);
}

TEST(json_module_decode_errors_give_the_offset) {
  lua_State *L = json_state();
  ASSERT_TRUE(L != NULL);
  /* nil, a message ending "at byte N", and N (1-based; #text + 1: cut short). */
  ASSERT_RUNS(L, "local v, err, at = json.decode('{\"a\":1,}')\n"
                 "return tostring(v) .. '|' .. err .. '|' .. at",
              "nil|unexpected character '}' in object (expected a string key) at byte 8|8");
  ASSERT_RUNS(L, "local v, err, at = json.decode('[1,2')\n"
                 "return tostring(v) .. '|' .. err .. '|' .. at",
              "nil|unexpected end of input at byte 5|5");
  ASSERT_RUNS(L, "local _, err, at = json.decode('1 2') return err .. '|' .. at",
              "unexpected data after the JSON value at byte 3|3");
  ASSERT_RUNS(L, "local _, err, at = json.decode('{\"a\" 1}') return err .. '|' .. at",
              "unexpected character '1' after object key (expected ':') at byte 6|6");
  ASSERT_RUNS(L, "local _, err, at = json.decode('') return err .. '|' .. at",
              "unexpected end of input at byte 1|1");
  /* A non-string argument raises instead. */
  ASSERT_RUNS(L, "return (pcall(json.decode, 42))", "false");
  lua_close(L);
}

TEST(json_module_max_depth) {
  lua_State *L = json_state();
  ASSERT_TRUE(L != NULL);
  ASSERT_RUNS(L, "return json.max_depth", "1000");
  /* Decode: 1000 levels nest, 1001 do not. */
  ASSERT_RUNS(L, "local d = json.max_depth\n"
                 "local v = json.decode(('['):rep(d) .. (']'):rep(d))\n"
                 "local n = 0 while type(v) == 'table' do n = n + 1 v = v[1] end\n"
                 "return n",
              "1000");
  ASSERT_RUNS(L, "local d = json.max_depth + 1\n"
                 "local v, err, at = json.decode(('['):rep(d) .. (']'):rep(d))\n"
                 "return tostring(v) .. '|' .. err .. '|' .. at",
              "nil|nesting deeper than 1000 at byte 1001|1001");
  /* Encode: the same limit, which is also how a cycle ends. */
  ASSERT_RUNS(L, "local d = json.max_depth\n"
                 "local v = setmetatable({}, json.array_mt) for _ = 2, d do v = { v } end\n"
                 "return json.encode(v) == ('['):rep(d) .. (']'):rep(d)",
              "true");
  ASSERT_RUNS(L, "local v = setmetatable({}, json.array_mt) for _ = 1, json.max_depth do v = { v } end\n"
                 "local err = select(2, pcall(json.encode, v))\n"
                 "return err:match('^crater.json.encode: nesting deeper than 1000 %(a cycle%?%) at %$%[1%]%[1%]') ~= nil",
              "true");
  ASSERT_RUNS(L, "local t = {} t[1] = t\n"
                 "local err = select(2, pcall(json.encode, { t = t }))\n"
                 "return err:sub(1, 65) .. '|' .. err:sub(-3)",
              "crater.json.encode: nesting deeper than 1000 (a cycle?) at $.t[1]|...");
  lua_close(L);
}
