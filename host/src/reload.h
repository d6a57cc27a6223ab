/* reload.h - hot reload: swapping generations and running the app's
 * lifecycle hooks (on_start, on_reload, on_stop) around the swap.
 *
 * A generation is "started" once its on_start hooks ran. That happens when
 * it becomes the serving generation of a server that listens: at the first
 * crater_listen() for the generation crater_load() made, or at once for a
 * generation loaded while already serving. A generation that never started
 * (crater routes, the workers parent's trial load) never runs on_stop. */
#ifndef CRATER_RELOAD_H
#define CRATER_RELOAD_H

#include "buf.h"
#include "vm.h"

/* Makes g the serving generation. If the server serves already, first hands
 * the old generation's app.state over and runs g's on_reload and on_start
 * hooks; if one fails, g is closed, the old generation stays, and
 * CRATER_ELOAD is returned with the message in srv->last_error. Sets
 * *nroutes (may be NULL) to the app's route count. Takes g's reference. */
int crater__reload_install(crater_server *srv, crater__gen *g, int *nroutes);

/* Starts the serving generation if it has not started (crater_listen).
 * Returns 0, or CRATER_ELOAD when an on_start hook failed. */
int crater__reload_start(crater_server *srv);

/* Runs g's on_stop hooks if it started; failures are logged. vm.c calls it
 * just before closing the generation's lua_State. */
void crater__reload_stop(crater__gen *g);

/* With --dev, while the last reload failed, appends the problem+json body
 * naming the error to body and returns 1 (counted as a refused request);
 * else returns 0. */
int crater__reload_stale_body(crater_server *srv, crater__buf *body);

/* With --dev, while the last reload failed, requests are answered with its
 * error. Returns 1 and appends a complete 500 problem+json response with
 * X-Crater-Stale: 1 to out when that applies, else 0. */
int crater__reload_stale_answer(crater_server *srv, crater__buf *out, int head_only, int close);

#endif
