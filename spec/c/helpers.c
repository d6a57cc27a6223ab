/* helpers.c - see helpers.h. */
#include "helpers.h"

#include <poll.h>
#include <stdio.h>

#include <lauxlib.h>
#include <lualib.h>

#include "client.h"
#include "json.h"

void spec_quiet_log(void *udata, crater_log_level level, const char *line) {
  (void)udata;
  (void)level;
  (void)line;
}

int spec_write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f == NULL) return -1;
  fputs(text, f);
  return fclose(f);
}

lua_State *spec_lua_with_json(void) {
  lua_State *L = luaL_newstate();
  if (L == NULL) return NULL;
  luaL_openlibs(L);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, crater__json_open);
  lua_setfield(L, -2, "crater._json");
  lua_settop(L, 0);
  return L;
}

int spec_connections_closed(uv_loop_t *loop, crater_server *srv, uint64_t ms) {
  uint64_t end = uv_hrtime() + ms * 1000000;
  for (;;) {
    crater_stats st;
    uv_run(loop, UV_RUN_NOWAIT);
    crater_get_stats(srv, &st);
    if (st.connections_open == 0) return 1;
    if (uv_hrtime() > end) return 0;
    poll(NULL, 0, 1);
  }
}

static void set_flag(crater_server *srv) { *(int *)crater_get_data(srv) = 1; }

void spec_server_stop(uv_loop_t *loop, crater_server *srv) {
  int closed = 0;
  crater_set_data(srv, &closed);
  crater_close(srv, set_flag);
  spec_run_until(loop, &closed);
  uv_run(loop, UV_RUN_DEFAULT);
  crater_free(srv);
}
