/* cli.h - what the parts of the `crater` command share. */
#ifndef CRATER_CLI_H
#define CRATER_CLI_H

#include "crater.h"

typedef struct {
  crater_config cfg;
  const char *host;
  int port;
  int workers;
  const char *command;  /* NULL (serve), "test", "routes" or "openapi" */
  const char *app;
  int reload;           /* --reload: watch the app's directory and reload on change */
} crater_cli_opts;

/* Serves in this process until SIGTERM/SIGINT; returns the exit status.
 * worker is 0 for a single process, else the worker's number (1..N). */
int crater_cli_serve(const crater_cli_opts *o, int worker);

/* Forks o->workers workers and supervises them; returns the exit status. */
int crater_cli_supervise(const crater_cli_opts *o);

/* `crater test SPEC...`: runs each spec script in a Crater VM; exit status. */
int crater_cli_test(const crater_cli_opts *o, int nspecs, char **specs);

/* `crater validate ...`: argv[0] is "validate". Returns the exit status:
 * 0 all valid, 1 any invalid, 2 bad schema, file or JSON. */
int crater_cli_validate(int argc, char **argv);

#endif
