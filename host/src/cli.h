/* cli.h - the options of the `crater` command, which its parts share
 * (main.c parses them; cli_*.c act on them). Types only: each cli_*.c
 * declares its entry point in its own header. */
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

#endif
