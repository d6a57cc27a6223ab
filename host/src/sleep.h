/* sleep.h - sleep.c: waiting for time on the loop: crater.sleep and
 * crater.now. */
#ifndef CRATER_SLEEP_H
#define CRATER_SLEEP_H

#include <lua.h>

/* crater.sleep(seconds): the running light thread waits that long on a loop
 * timer (0: until the loop's next turn); other requests run meanwhile.
 * Upvalue 1: the server (a light userdata). */
int crater__sleep(lua_State *L);

/* crater.now(): the loop's time in seconds (ms precision), as of the start
 * of the loop's current turn. Upvalue 1: the server. */
int crater__sleep_now(lua_State *L);

#endif
