/* reload.c - hot reload: build a new generation beside the serving one, hand
 * state over, run the lifecycle hooks, swap, and report.
 *
 * The swap itself is a pointer assignment (srv->gen). Every request holds a
 * reference on the generation it started on (conn.c), so the old one lives
 * until its last request is answered, and closing it is crater__gen_unref's
 * job. What this file adds is the policy around that: a failed load or a
 * failed hook never replaces a working generation, and the failure is
 * reported once, with the file and line Lua gave. */
#include "reload.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "alloc.h"
#include "http.h"

static int call_lifecycle(crater__gen *g, const char *event, crater__gen *other,
                          const char *state, int *nroutes);
static char *save_state(crater__gen *old);
static int msgh(lua_State *L);
static void set_stale(crater_server *srv, const char *msg);
static size_t first_part(const char *msg);

/* ===================================================================== */
/*  Entry points                                                           */
/* ===================================================================== */

int crater_reload(crater_server *srv) {
  if (srv == NULL) return CRATER_EINVAL;
  if (srv->gen == NULL) return CRATER_ENOAPP;
  if (srv->closing) return CRATER_ESTATE;
  if (srv->gen->from_string) {
    crater__set_error(srv, "%s was loaded from a string: reload it with crater_load_string()",
                      srv->gen->app_path);
    return CRATER_ESTATE;
  }
  /* A copy: the serving generation's path is read once more after the swap,
   * when that generation may already be gone. */
  char *path = crater__strdup(srv->gen->app_path);
  if (path == NULL) return CRATER_ENOMEM;
  uint64_t serving = srv->gen->id;
  uint64_t t0 = uv_hrtime();
  srv->last_error[0] = '\0';
  crater__gen *g;
  int nroutes = 0;
  int rc = crater__gen_load(srv, path, &g);
  if (rc == 0) rc = crater__reload_install(srv, g, &nroutes);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  if (rc != 0) {
    set_stale(srv, srv->last_error);
    /* One line: the traceback stays in crater_last_error() for whoever wants it. */
    crater__log(srv, CRATER_LOG_ERROR, "reload failed, generation %llu keeps serving: %.*s",
                (unsigned long long)serving, (int)first_part(srv->last_error), srv->last_error);
  } else {
    crater__log(srv, CRATER_LOG_INFO, "reloaded %s: generation %llu in %.1f ms, %d route%s", path,
                (unsigned long long)srv->gen->id, ms, nroutes, nroutes == 1 ? "" : "s");
  }
  crater__free(path);
  return rc;
}

int crater__reload_install(crater_server *srv, crater__gen *g, int *nroutes) {
  crater__gen *old = srv->gen;
  int n = 0;
  if (srv->nlisteners > 0 || (old != NULL && old->started)) {
    /* The old generation still serves while the new one's hooks run: if
     * they fail, nothing has changed for clients. */
    char *state = old != NULL && old->started ? save_state(old) : NULL;
    int rc = 0;
    if (old != NULL) rc = call_lifecycle(g, "reload", old, state, NULL);
    crater__free(state);
    if (rc == 0) rc = call_lifecycle(g, "start", old, NULL, &n);
    if (rc != 0) {
      crater__gen_unref(g);
      return rc;
    }
    g->started = 1;
  } else {
    call_lifecycle(g, NULL, NULL, NULL, &n); /* only counts the routes */
  }
  srv->gen = g;
  srv->stats.generation = g->id;
  crater__free(srv->stale_error);
  srv->stale_error = NULL;
  if (old != NULL) {
    old->stop_reason = "reload";
    crater__gen_unref(old); /* the server's reference; requests in flight hold theirs */
  }
  if (nroutes != NULL) *nroutes = n;
  return 0;
}

int crater__reload_start(crater_server *srv) {
  crater__gen *g = srv->gen;
  if (g == NULL || g->started) return 0;
  int rc = call_lifecycle(g, "start", NULL, NULL, NULL);
  if (rc == 0) g->started = 1;
  return rc;
}

void crater__reload_stop(crater__gen *g) {
  if (!g->started) return;
  g->started = 0;
  if (call_lifecycle(g, "stop", NULL, NULL, NULL) != 0)
    crater__log(g->srv, CRATER_LOG_ERROR, "on_stop hook of generation %llu failed: %s",
                (unsigned long long)g->id, g->srv->last_error);
}

int crater__reload_stale_body(crater_server *srv, crater__buf *body) {
  if (!srv->cfg.dev || srv->stale_error == NULL) return 0;
  srv->stats.requests_total++;
  srv->stats.requests_refused++;
  crater__buf_appendz(body, "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\","
                             "\"status\":500,\"detail\":\"");
  /* JSON string escaping: the message quotes the app's source, so anything
   * may be in it. */
  const char *m = srv->stale_error;
  for (size_t i = 0, n = first_part(m); i < n; i++) {
    unsigned char ch = (unsigned char)m[i];
    char esc[8];
    if (ch == '"' || ch == '\\') {
      esc[0] = '\\';
      esc[1] = (char)ch;
      crater__buf_append(body, esc, 2);
    } else if (ch < 0x20) {
      int k = snprintf(esc, sizeof(esc), "\\u%04x", ch);
      crater__buf_append(body, esc, (size_t)k);
    } else {
      crater__buf_append(body, m + i, 1);
    }
  }
  crater__buf_appendz(body, "\",\"stale\":true}");
  return 1;
}

int crater__reload_stale_answer(crater_server *srv, crater__buf *out, int head_only, int close) {
  crater__buf body = {0};
  if (!crater__reload_stale_body(srv, &body)) return 0;
  crater__http_status_line(out, 500, crater__http_date_get(&srv->date));
  crater__buf_appendz(out, "Content-Type: application/problem+json\r\nX-Crater-Stale: 1\r\n"
                           "Content-Length: ");
  crater__buf_append_u64(out, body.len);
  crater__buf_appendz(out, close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
  if (!head_only) crater__buf_append(out, body.data, body.len);
  crater__buf_free(&body);
  return 1;
}

/* ===================================================================== */
/*  Calling crater.app                                                     */
/* ===================================================================== */

/* Calls require("crater.app").lifecycle(app, event, info) in g, where info
 * is { generation, previous?, reason?, state? }. event NULL runs no hook. */
static int call_lifecycle(crater__gen *g, const char *event, crater__gen *other,
                          const char *state, int *nroutes) {
  lua_State *L = g->L;
  int base = lua_gettop(L);
  lua_pushcfunction(L, msgh);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "crater.app");
  if (lua_pcall(L, 1, 1, base + 1) != 0) goto failed;
  lua_getfield(L, -1, "lifecycle");
  if (!lua_isfunction(L, -1)) {
    lua_pushliteral(L, "crater.app has no lifecycle()");
    goto failed;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, g->app_ref);
  if (event != NULL) lua_pushstring(L, event); else lua_pushnil(L);
  lua_createtable(L, 0, 4);
  lua_pushnumber(L, (lua_Number)g->id);
  lua_setfield(L, -2, "generation");
  if (other != NULL) {
    lua_pushnumber(L, (lua_Number)other->id);
    lua_setfield(L, -2, "previous");
  }
  if (event != NULL && strcmp(event, "stop") == 0) {
    lua_pushstring(L, g->stop_reason ? g->stop_reason : "shutdown");
    lua_setfield(L, -2, "reason");
  }
  if (state != NULL) {
    lua_pushstring(L, state);
    lua_setfield(L, -2, "state_json");
  }
  if (lua_pcall(L, 3, 1, base + 1) != 0) goto failed;
  if (nroutes != NULL) *nroutes = (int)lua_tointeger(L, -1);
  lua_settop(L, base);
  return 0;
failed:
  crater__set_error(g->srv, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error object)");
  lua_settop(L, base);
  return CRATER_ELOAD;
}

/* The old generation's app.state as JSON, or NULL when it is empty or cannot
 * be encoded (then the new generation starts without it, with a warning). */
static char *save_state(crater__gen *old) {
  lua_State *L = old->L;
  int base = lua_gettop(L);
  char *out = NULL;
  lua_pushcfunction(L, msgh);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "crater.app");
  if (lua_pcall(L, 1, 1, base + 1) != 0) goto failed;
  lua_getfield(L, -1, "save_state");
  lua_rawgeti(L, LUA_REGISTRYINDEX, old->app_ref);
  if (lua_pcall(L, 1, 1, base + 1) != 0) goto failed;
  if (lua_isstring(L, -1)) out = crater__strdup(lua_tostring(L, -1));
  lua_settop(L, base);
  return out;
failed:;
  const char *why = lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error object)";
  crater__log(old->srv, CRATER_LOG_WARN, "app.state of generation %llu not handed over: %.*s",
              (unsigned long long)old->id, (int)first_part(why), why);
  lua_settop(L, base);
  return NULL;
}

static int msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

static void set_stale(crater_server *srv, const char *msg) {
  crater__free(srv->stale_error);
  srv->stale_error = crater__strdup(msg);
}

/* Length of msg up to its traceback: the part a log line or a client needs. */
static size_t first_part(const char *msg) {
  if (msg == NULL) return 0;
  const char *tb = strstr(msg, "\nstack traceback:");
  return tb ? (size_t)(tb - msg) : strlen(msg);
}
