/* reload.h - reload.c: the server's generations: which one serves, swapping
 * in a new one (with the app's lifecycle hooks around the swap), and
 * retiring old ones: their on_stop hooks run and their state is closed once
 * no request is in flight on them.
 *
 * A generation is "started" once its on_start hooks ran. That happens when
 * it becomes the serving generation of a server that listens: at the first
 * crater_listen() for the generation crater_load() made, or at once for a
 * generation loaded while already serving. A generation that never started
 * (crater routes, the workers parent's trial load) never runs on_stop. */
#ifndef CRATER_RELOAD_H
#define CRATER_RELOAD_H

#include "vm.h"

/* 1 when the server serves: a generation answers requests that arrive on
 * listeners (a load now is a reload: hooks, stale answers on failure). */
int crater__reload_serving(const crater_server *srv);

/* Makes g the serving generation. If the server serves already, first hands
 * the old generation's app.state over and runs g's on_reload and on_start
 * hooks; if one fails, the old generation stays, CRATER_ELOAD is returned
 * with the message in srv->last_error, and g is left to the caller to close
 * (after cancelling timers its hooks made). The old generation retires.
 * Sets *nroutes (may be NULL) to the app's route count. */
int crater__reload_install(crater_server *srv, crater__gen *g, int *nroutes);

/* Starts the serving generation if it has not started (crater_listen).
 * Returns 0, or CRATER_ELOAD when an on_start hook failed (the caller
 * cancels timers the hooks made). */
int crater__reload_start(crater_server *srv);

/* A request in flight on g ended (pipeline.c): drops its reference, and
 * retires g if it was replaced and this was the last. */
void crater__reload_unpin(crater__gen *g);

/* Retires the serving generation: the server is closing, or being freed. */
void crater__reload_retire_serving(crater_server *srv);

/* Records why a load failed while an older generation serves (--dev
 * answers requests with it until a load succeeds). */
void crater__reload_set_stale(crater_server *srv, const char *msg);

#endif
