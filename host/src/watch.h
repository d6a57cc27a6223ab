/* watch.h - `crater --reload`: watch the app's directory tree and reload the
 * server when a Lua file in it changes. */
#ifndef CRATER_WATCH_H
#define CRATER_WATCH_H

#include "crater.h"

typedef struct crater__watch crater__watch;

/* Watches the directory holding app_path and every directory below it
 * (hidden ones, like .git, excepted), picking up directories created later.
 * After a burst of changes to *.lua files (or to the directory layout) has
 * been quiet for CRATER__WATCH_DEBOUNCE_MS, calls crater_reload(srv).
 * Returns 0, CRATER_ENOMEM, or CRATER_EINVAL when the directory cannot be
 * watched (the reason is logged). */
int crater__watch_start(crater_server *srv, const char *app_path, crater__watch **out);

/* Closes the watcher's handles; its memory is freed once they are closed, so
 * run the loop afterwards. */
void crater__watch_stop(crater__watch *w);

#define CRATER__WATCH_DEBOUNCE_MS 50
/* A save that never goes quiet (a generator rewriting files) still reloads
 * at least this often. */
#define CRATER__WATCH_MAX_DELAY_MS 250

#endif
