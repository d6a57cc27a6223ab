/* reload.c - the server's generations (see reload.h).
 *
 * The swap itself is a pointer assignment (srv->gen). Every request pins
 * the generation it started on (pipeline.c), so a replaced one lives while
 * requests run on it; the last one to end unpins it here, and it retires:
 * on_stop hooks, then lua_close. What this file adds around the swap is the
 * policy: a failed hook never replaces a working generation, and the
 * failure is reported once, with the file and line Lua gave. */
#include "reload.h"

#include <string.h>

#include "alloc.h"
#include "lifecycle.h"
#include "log.h"
#include "server.h"

static void retire(crater__gen *g);

int crater__reload_serving(const crater_server *srv) {
  return srv->gen != NULL && (srv->nlisteners > 0 || srv->gen->started);
}

int crater__reload_install(crater_server *srv, crater__gen *g, int *nroutes) {
  crater__gen *old = srv->gen;
  int n = 0;
  if (srv->nlisteners > 0 || (old != NULL && old->started)) {
    /* The old generation still serves while the new one's hooks run: if
     * they fail, nothing has changed for clients. */
    char *state = old != NULL && old->started ? crater__lifecycle_save_state(old) : NULL;
    int rc = 0;
    if (old != NULL) rc = crater__lifecycle_run(g, "reload", old, state, NULL);
    crater__free(state);
    g->started = 1; /* its hooks may make timers (timer.c takes them from a started one) */
    if (rc == 0) rc = crater__lifecycle_run(g, "start", old, NULL, &n);
    if (rc != 0) {
      g->started = 0;
      return rc; /* g is the caller's to close */
    }
  } else {
    crater__lifecycle_run(g, NULL, NULL, NULL, &n); /* only counts the routes */
  }
  srv->gen = g;
  srv->stats.generation = g->id;
  crater__free(srv->stale_error);
  srv->stale_error = NULL;
  if (old != NULL) {
    old->stop_reason = "reload";
    old->retiring = 1;
    if (old->refs == 0) retire(old); /* else the last request in flight does */
  }
  if (nroutes != NULL) *nroutes = n;
  return 0;
}

int crater__reload_start(crater_server *srv) {
  crater__gen *g = srv->gen;
  if (g == NULL || g->started) return 0;
  g->started = 1; /* its hooks may make timers */
  int rc = crater__lifecycle_run(g, "start", NULL, NULL, NULL);
  if (rc != 0) g->started = 0;
  return rc;
}

void crater__reload_unpin(crater__gen *g) {
  if (crater__gen_unref(g) == 0 && g->retiring) retire(g);
}

void crater__reload_retire_serving(crater_server *srv) {
  crater__gen *g = srv->gen;
  if (g == NULL) return;
  srv->gen = NULL;
  g->retiring = 1;
  if (g->refs == 0) retire(g);
}

void crater__reload_set_stale(crater_server *srv, const char *msg) {
  crater__free(srv->stale_error);
  srv->stale_error = crater__strdup(msg);
}

/* The app's on_stop hooks, if it ever served, then the state is closed. */
static void retire(crater__gen *g) {
  if (g->started) {
    g->started = 0;
    if (crater__lifecycle_run(g, "stop", NULL, NULL, NULL) != 0)
      crater__log(g->srv, CRATER_LOG_ERROR, "on_stop hook of generation %llu failed: %s",
                  (unsigned long long)g->id, g->srv->last_error);
  }
  crater__gen_close(g);
}
