/* cli_validate.c - `crater validate --schema SCHEMA.json DATA.json...`:
 * JSON Schema validation from the command line, like ajv-cli; and
 * `crater validate --emit SCHEMA.json`, which prints the Lua code the
 * schema compiles to.
 *
 * The work is Lua (lua/crater/cli_validate.lua, with crater.schema and
 * crater.json); this file makes a bare VM for it: no server, no app, no
 * loop. The Lua directory comes from the same place the server's does
 * (crater_config.lua_path, else the built-in one), found through a server
 * handle that is created and freed without listening. */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "cli_validate.h"
#include "json.h"
#include "status.h"
#include "server.h"

static int run(lua_State *L, const char *lua_dir, int argc, char **argv);
static int traceback(lua_State *L);

int crater_cli_validate(int argc, char **argv) {
  uv_loop_t loop;
  crater_server *srv = NULL;
  crater_config cfg = crater_config_default();
  int status = 2;

  if (uv_loop_init(&loop) != 0) {
    fputs("crater validate: cannot create an event loop\n", stderr);
    return 2;
  }
  if (crater_new(&srv, &loop, &cfg) != 0) {
    fputs("crater validate: out of memory\n", stderr);
    goto failed_server;
  }
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fputs("crater validate: out of memory\n", stderr);
    goto failed_state;
  }
  status = run(L, srv->lua_path, argc, argv);
  lua_close(L);
failed_state:
  crater_free(srv);
failed_server:
  uv_loop_close(&loop);
  return status;
}

/* Calls require("crater.cli_validate").main(args) and returns its status.
 * argv[0] is "validate". */
static int run(lua_State *L, const char *lua_dir, int argc, char **argv) {
  luaL_openlibs(L);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, crater__json_open);
  lua_setfield(L, -2, "crater._json");
  lua_pushcfunction(L, crater__status_open);
  lua_setfield(L, -2, "crater._status");
  lua_pop(L, 1);
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", lua_dir, lua_dir);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);

  lua_pushcfunction(L, traceback);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "crater.cli_validate");
  if (lua_pcall(L, 1, 1, 1) != 0) goto failed;
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 0);
  for (int i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  if (lua_pcall(L, 1, 1, 1) != 0) goto failed;
  return (int)lua_tointeger(L, -1);

failed:
  fprintf(stderr, "crater validate: %s\n", lua_tostring(L, -1));
  return 2;
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}
