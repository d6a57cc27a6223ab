/* luadir.c - where the Lua framework files are.
 *
 * The default is compiled in: the install prefix's share/crater/lua for the
 * installed library, the source tree's lua/ for the build tree's binaries
 * (CMake compiles the core once per kind, see crater_core_target). The
 * embedder's crater_config.lua_path wins, then $CRATER_LUA_PATH. */
#include <stdlib.h>

#include "server.h"

const char *crater__lua_dir(const char *configured) {
  if (configured != NULL && configured[0] != '\0') return configured;
  const char *env = getenv("CRATER_LUA_PATH");
  if (env != NULL && env[0] != '\0') return env;
  return CRATER_LUA_DIR;
}
