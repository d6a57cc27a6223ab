/* luadir.c - where the Lua framework files are.
 *
 * In order: the embedder's crater_config.lua_path, then $CRATER_LUA_PATH,
 * then a default that depends on the kind of library (CMake compiles this
 * file once per kind, see CMakeLists.txt):
 *  - the build tree's library (the `crater` and tests in build/): the
 *    source tree's lua/ directory, so edits to the framework take effect
 *    without installing;
 *  - the installed library: share/crater/lua next to the library itself
 *    (found with dladdr, so `cmake --install --prefix` anywhere and moving
 *    the tree both work), else the install prefix configured at build time.
 * The installed library never points into the source tree. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "crater.h"
#include "luadir.h"

#ifndef CRATER_LUA_RELATIVE
#define CRATER_LUA_RELATIVE "" /* build tree: no lookup beside the binary */
#endif

/* "<dir of the file holding this code>/<rel>" when it holds crater/init.lua. */
static char *beside_library(const char *rel) {
  Dl_info info;
  if (rel[0] == '\0' || dladdr((void *)crater_new, &info) == 0 || info.dli_fname == NULL)
    return NULL;
  const char *slash = strrchr(info.dli_fname, '/');
  if (slash == NULL) return NULL;
  char path[4096];
  int n = snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - info.dli_fname), info.dli_fname, rel);
  if (n <= 0 || (size_t)n >= sizeof(path) - 32) return NULL;
  char probe[4096 + 32];
  snprintf(probe, sizeof(probe), "%s/crater/init.lua", path);
  if (access(probe, R_OK) != 0) return NULL;
  return crater__strdup(path);
}

char *crater__lua_dir(const char *configured) {
  if (configured != NULL && configured[0] != '\0') return crater__strdup(configured);
  const char *env = getenv("CRATER_LUA_PATH");
  if (env != NULL && env[0] != '\0') return crater__strdup(env);
  char *found = beside_library(CRATER_LUA_RELATIVE);
  return found ? found : crater__strdup(CRATER_LUA_DIR);
}
