/* helpers.h - what several C specs share besides the clients (client.h):
 * a log callback that drops every record, writing a file, a plain Lua
 * state with the JSON codec, waiting for a server's connections to close,
 * and closing a server. */
#ifndef CRATER_SPEC_HELPERS_H
#define CRATER_SPEC_HELPERS_H

#include <stdint.h>

#include <lua.h>

#include "crater.h"

/* A crater_log_cb that drops every record (for cfg.log_cb). */
void spec_quiet_log(void *udata, crater_log_level level, const char *line);

/* Writes text to path (created or truncated). 0, or -1. */
int spec_write_file(const char *path, const char *text);

/* luaL_newstate with the standard libraries and crater._json in
 * package.preload, as the VM has it; NULL when out of memory. */
lua_State *spec_lua_with_json(void);

/* Runs the loop until srv has no open connection, for at most ms: the
 * server closes its side a loop iteration or two after the client sees the
 * close. Returns 1 when none is open. */
int spec_connections_closed(uv_loop_t *loop, crater_server *srv, uint64_t ms);

/* crater_close, the loop run until the close callback and then until
 * nothing is left, crater_free. */
void spec_server_stop(uv_loop_t *loop, crater_server *srv);

#endif
