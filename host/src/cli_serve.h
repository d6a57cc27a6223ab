/* cli_serve.h - cli_serve.c: one serving process. */
#ifndef CRATER_CLI_SERVE_H
#define CRATER_CLI_SERVE_H

#include "cli.h"

/* Serves in this process until SIGTERM/SIGINT; returns the exit status.
 * worker is 0 for a single process, else the worker's number (1..N). */
int crater_cli_serve(const crater_cli_opts *o, int worker);

/* For crater__watchdog_on_stuck around a load that is not serving yet (the
 * --workers parent's, `crater routes`): says so and exits with status 1. */
void crater_cli_exit_stuck_load(void *ud, const char *what);

#endif
