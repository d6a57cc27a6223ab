/* lifecycle.h - lifecycle.c: the app's lifecycle hooks (on_start,
 * on_reload, on_stop) and app.state handover, called inside a generation
 * through crater.app's lifecycle() and save_state(). When they run is
 * reload.c's decision. */
#ifndef CRATER_LIFECYCLE_H
#define CRATER_LIFECYCLE_H

#include "vm.h"

/* Runs g's hooks for event ("start", "reload", "stop"; NULL runs none)
 * with info { generation, previous?, reason?, state? }: `other` is the
 * generation g replaces (for "reload" and "start"), state_json the old
 * app.state. Sets *nroutes (may be NULL) to the app's route count. Returns
 * 0, or CRATER_ELOAD with the message in srv->last_error. */
int crater__lifecycle_run(crater__gen *g, const char *event, const crater__gen *other,
                          const char *state_json, int *nroutes);

/* g's app.state as JSON (owned by the caller), or NULL when it is empty or
 * cannot be encoded (then a warning is logged). */
char *crater__lifecycle_save_state(crater__gen *g);

#endif
