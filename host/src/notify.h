/* notify.h - notify.c: a waitable (crater.host.waitable()), on which light
 * threads of any request or timer of one generation wait, with an optional
 * timeout, until some Lua code on the same loop signals it. What crater.channel
 * (channel.lua) builds on: a publish wakes the subscribers of other requests
 * at once, with no polling. */
#ifndef CRATER_NOTIFY_H
#define CRATER_NOTIFY_H

#include <lua.h>

/* crater.host.waitable(): a new waitable, a full userdata with methods
 * wait(timeout?) -> true | false ("timeout") and signal() -> count of the
 * waiters woken. Upvalue 1: the server (a light userdata). */
int crater__notify_new(lua_State *L);

#endif
