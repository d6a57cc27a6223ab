/* luadir.h - luadir.c: where the framework's Lua files are. */
#ifndef CRATER_LUADIR_H
#define CRATER_LUADIR_H

/* The directory of the crater/ Lua modules: configured (cfg.lua_path), else
 * $CRATER_LUA_PATH, else the built-in default. An owned copy; NULL when out
 * of memory. */
char *crater__lua_dir(const char *configured);

#endif
