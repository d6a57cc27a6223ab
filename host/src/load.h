/* load.h - load.c: building a generation from an app (crater_load,
 * crater_load_string, crater_reload) with everything a state of this
 * server gets preloaded (crater._json, crater.host, crater._socket, the
 * embedder's modules), and running specs the same way (`crater test`). */
#ifndef CRATER_LOAD_H
#define CRATER_LOAD_H

#include "crater.h"

typedef struct crater__gen crater__gen; /* vm.h */

/* Installs in g's package.preload what every state of the server gets:
 * crater._json, crater.host (for g), crater._socket, the embedder's
 * modules. */
void crater__load_preloads(crater__gen *g);

/* Runs the specs at path in a fresh state set up like a generation's
 * (`crater test`). Returns 0, or CRATER_ELOAD / CRATER_ENOMEM with the
 * failures ("file:line: message" and a traceback) in last_error. */
int crater__load_specs(crater_server *srv, const char *path);

#endif
