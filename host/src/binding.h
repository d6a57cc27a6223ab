/* binding.h - binding.c: the crater.host Lua module. */
#ifndef CRATER_BINDING_H
#define CRATER_BINDING_H

#include <lua.h>

/* Opens crater.host for the generation in upvalue 1 (a light userdata):
 * header, headers, body, remote of the request in flight; log; inject;
 * dev. Used as a package.preload loader. */
int crater__binding_open(lua_State *L);

#endif
