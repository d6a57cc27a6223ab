/* inject.h - inject.c: requests without a socket, the second transport:
 * crater_inject, crater_inject_sync and crater.host.inject (which
 * crater.test's client uses). */
#ifndef CRATER_INJECT_H
#define CRATER_INJECT_H

#include "crater.h"

typedef struct crater__gen crater__gen; /* vm.h */

/* crater_inject_sync for crater.test's client (crater.host.inject): with g
 * NULL the server's app answers; else the dispatcher at registry ref
 * fn_ref of generation g (a crater.test client of an app object, not
 * counted as a request of the server). In `crater test`'s specs, which run
 * before the loop does, a handler that waits is waited for by running the
 * loop; elsewhere it is cancelled (CRATER_ESTATE), as for crater_inject_sync. */
int crater__inject_run(crater_server *srv, crater__gen *g, int fn_ref, const crater_request *req,
                       crater_response **out);

/* Ends the injected requests still in flight: their callbacks get
 * CRATER_ESTATE (the server's grace period is over). */
void crater__inject_abort_all(crater_server *srv);

#endif
