/* load.c - building generations (see load.h) and installing them.
 *
 * crater_load, crater_load_string and crater_reload are one operation: build
 * a generation beside the serving one and hand it to reload.c, which swaps
 * it in (running the app's hooks when the server serves). When a
 * generation serves already, a failure keeps it serving and is recorded
 * for --dev's stale answers, whichever of the three calls failed. */
#include "load.h"

#include <string.h>

#include <lauxlib.h>

#include "alloc.h"
#include "binding.h"
#include "crypto.h"
#include "json.h"
#include "status.h"
#include "log.h"
#include "register.h"
#include "reload.h"
#include "server.h"
#include "timer.h"
#include "pg.h"
#include "socket.h"
#include "static_file.h"
#include "sqlite.h"
#include "vm.h"
#include "watchdog.h"

static int build(crater_server *srv, const char *name, const char *code, size_t len, int specs,
                 crater__gen **out);
static int swap(crater_server *srv, const char *name, const char *code, size_t len, int reload);

int crater_load(crater_server *srv, const char *path) {
  if (srv == NULL) return CRATER_EINVAL;
  if (path == NULL) return crater__fail(srv, CRATER_EINVAL, "crater_load: no path");
  return swap(srv, path, NULL, 0, 0);
}

int crater_load_string(crater_server *srv, const char *chunkname, const char *code, size_t len) {
  if (srv == NULL) return CRATER_EINVAL;
  if (chunkname == NULL || code == NULL)
    return crater__fail(srv, CRATER_EINVAL, "crater_load_string: no chunk name or code");
  return swap(srv, chunkname, code, len, 0);
}

int crater_reload(crater_server *srv) {
  if (srv == NULL) return CRATER_EINVAL;
  if (srv->closing) return crater__fail(srv, CRATER_ESTATE, "crater_reload: the server is closing");
  if (srv->gen == NULL) return crater__fail(srv, CRATER_ENOAPP, "crater_reload: no app is loaded");
  if (srv->gen->from_string)
    return crater__fail(srv, CRATER_ESTATE,
                        "%s was loaded from a string: reload it with crater_load_string()",
                        srv->gen->app_path);
  /* A copy: the serving generation's path is read after the swap, when
   * that generation may already be gone. */
  char *path = crater__strdup(srv->gen->app_path);
  if (path == NULL) return crater__fail(srv, CRATER_ENOMEM, "out of memory");
  int rc = swap(srv, path, NULL, 0, 1);
  crater__free(path);
  return rc;
}

int crater__load_specs(crater_server *srv, const char *path) {
  crater__gen *g;
  srv->specs_running = 1;
  int rc = build(srv, path, NULL, 0, 1, &g);
  srv->specs_running = 0;
  if (rc == 0) crater__gen_close(g);
  return rc;
}

/* Builds a generation and installs it; reports the outcome once. */
static int swap(crater_server *srv, const char *name, const char *code, size_t len, int reload) {
  if (srv->closing) return crater__fail(srv, CRATER_ESTATE, "the server is closing");
  srv->last_error[0] = '\0';
  /* A reload replaces the generation there is; a load replaces one that
   * serves (before the server listens, loading again is a plain redo). */
  int serving = reload || crater__reload_serving(srv);
  uint64_t was = serving ? srv->gen->id : 0;
  uint64_t t0 = uv_hrtime();
  crater__gen *g = NULL;
  int nroutes = 0;
  int rc = build(srv, name, code, len, 0, &g);
  if (rc == 0) {
    int timed = srv->current == NULL; /* its hooks */
    if (timed) crater__watchdog_enter(srv, NULL, g->L);
    rc = crater__reload_install(srv, g, &nroutes);
    if (timed) crater__watchdog_leave(srv, g->L);
    if (rc != 0) { /* its hooks failed: what they started goes with it */
      crater__timer_cancel(srv, g->id);
      crater__gen_close(g);
    }
  }
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  const char *msg = srv->last_error;
  if (rc != 0 && serving) {
    crater__reload_set_stale(srv, msg);
    /* One line: the traceback stays in crater_last_error() for whoever wants it. */
    crater__log(srv, CRATER_LOG_ERROR, "%s failed, generation %llu keeps serving: %.*s",
                reload ? "reload" : "load", (unsigned long long)was,
                (int)crater__msg_head_len(msg), msg);
  } else if (rc != 0) {
    crater__log(srv, CRATER_LOG_ERROR, "failed to load %s: %s", name, msg);
  } else if (reload) {
    crater__timer_expire(srv, was); /* the old generation's timers: premature */
    crater__log(srv, CRATER_LOG_INFO, "reloaded %s: generation %llu in %.1f ms, %d route%s", name,
                (unsigned long long)g->id, ms, nroutes, nroutes == 1 ? "" : "s");
  } else {
    if (was != 0) crater__timer_expire(srv, was);
    crater__log(srv, CRATER_LOG_DEBUG, "loaded %s as generation %llu in %.1f ms", name,
                (unsigned long long)g->id, ms);
  }
  return rc;
}

void crater__load_preloads(crater__gen *g) {
  lua_State *L = g->L;
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, crater__json_open);
  lua_setfield(L, -2, "crater._json");
  lua_pushcfunction(L, crater__status_open);
  lua_setfield(L, -2, "crater._status");
  lua_pushcfunction(L, crater__crypto_open);
  lua_setfield(L, -2, "crater._crypto");
  lua_pushlightuserdata(L, g);
  lua_pushcclosure(L, crater__binding_open, 1);
  lua_setfield(L, -2, "crater.host");
  lua_pushlightuserdata(L, g->srv);
  lua_pushcclosure(L, crater__socket_open, 1);
  lua_setfield(L, -2, "crater._socket");
  lua_pushlightuserdata(L, g);
  lua_pushcclosure(L, crater__sqlite_open, 1);
  lua_setfield(L, -2, "crater._sqlite");
  lua_pushlightuserdata(L, g->srv);
  lua_pushcclosure(L, crater__pg_open, 1);
  lua_setfield(L, -2, "crater._pg");
  lua_pushcfunction(L, crater__static_file_open);
  lua_setfield(L, -2, "crater._static");
  lua_pop(L, 2);
  crater__registry_apply(g->srv, L); /* the embedder's C modules, in every new state */
}

/* A new state with the preloads every state of this server gets, running
 * the app at name (or code), or the specs at name. */
static int build(crater_server *srv, const char *name, const char *code, size_t len, int specs,
                 crater__gen **out) {
  crater__gen *g;
  int rc = crater__gen_new(srv, name, code != NULL, &g);
  if (rc != 0) return rc;
  crater__load_preloads(g);
  if (code == NULL) g->renew = crater_reload;
  /* The app's own code (not specs: they run requests, which the watchdog
   * times themselves) may loop forever too. */
  int timed = !specs && srv->current == NULL;
  if (timed) crater__watchdog_enter(srv, NULL, g->L);
  rc = specs ? crater__gen_run_specs(g) : crater__gen_run(g, code, len);
  if (timed) crater__watchdog_leave(srv, g->L);
  if (rc != 0) {
    crater__gen_close(g);
    return rc;
  }
  *out = g;
  return 0;
}
