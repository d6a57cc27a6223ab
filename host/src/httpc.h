/* httpc.h - httpc.c: reading an upstream's HTTP/1.1 response (crater.http). */
#ifndef CRATER_HTTPC_H
#define CRATER_HTTPC_H

#include <lua.h>

/* crater.host.http_parser(head, max_body) -> a response parser (see httpc.c):
 * head true for the answer to a HEAD request; max_body 0 for no limit. */
int crater__httpc_parser(lua_State *L);

#endif
