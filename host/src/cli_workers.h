/* cli_workers.h - cli_workers.c: the parent of `crater --workers N`. */
#ifndef CRATER_CLI_WORKERS_H
#define CRATER_CLI_WORKERS_H

#include "cli.h"

/* Forks o->workers workers and supervises them; returns the exit status. */
int crater_cli_supervise(const crater_cli_opts *o);

#endif
