/* register.h - register.c: the C modules an embedder exposes to Lua. */
#ifndef CRATER_REGISTER_H
#define CRATER_REGISTER_H

#include <lua.h>

#include "crater.h"

/* Preloads the embedder's modules into L and records the server for
 * crater_lua_server(). Called for every state the server creates. */
void crater__registry_apply(crater_server *srv, lua_State *L);

/* Frees the registrations (crater_free). */
void crater__registry_free(crater_server *srv);

#endif
