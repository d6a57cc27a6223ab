/* inject.h - inject.c: requests without a socket, the second transport:
 * crater_inject, crater_inject_sync and crater.host.inject (which
 * crater.test's client uses). */
#ifndef CRATER_INJECT_H
#define CRATER_INJECT_H

#include <lua.h>

#include "crater.h"

/* crater.host.inject(dispatch|nil, method, url, headers, body)
 *   -> status, body, { name1, value1, ... }, truncated
 * Its upvalue 1 is the generation (light userdata) whose dispatcher
 * function argument 1 belongs to. */
int crater__inject_lua(lua_State *L);

/* Ends the injected requests still in flight: their callbacks get
 * CRATER_ESTATE (the server's grace period is over). */
void crater__inject_abort_all(crater_server *srv);

#endif
