/* json.h - the C half of crater.json: a JSON codec exposed to Lua as the
 * module "crater._json" (lua/crater/json.lua is the public face).
 *
 * The VM registers crater__json_open in package.preload; json.c built with
 * -DCRATER_JSON_MODULE is the same codec as a loadable crater/_json.so for
 * the stock luajit interpreter (the Lua specs use that). */
#ifndef CRATER_JSON_H
#define CRATER_JSON_H

#include <stddef.h>

#include <lua.h>

/* Pushes a new module table { encode, decode, is_array, null, array_mt,
 * max_depth } and returns 1. Each call makes its own encode buffer and its
 * own array_mt, so call it once per lua_State (require does). Raises a Lua
 * error only when memory runs out. */
int crater__json_open(lua_State *L);

/* For JSON the C core writes itself (problem bodies): writes s (len bytes)
 * as a JSON string, quoted and escaped, at out, which must have room for
 * len * 6 + 2 bytes. Bytes that are not valid UTF-8 become U+FFFD. Returns
 * the length written. */
size_t crater__json_quote(char *out, const char *s, size_t len);

#endif
