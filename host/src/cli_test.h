/* cli_test.h - cli_test.c: `crater test`. */
#ifndef CRATER_CLI_TEST_H
#define CRATER_CLI_TEST_H

#include "cli.h"

/* `crater test SPEC...`: runs each spec script in a Crater VM; exit status. */
int crater_cli_test(const crater_cli_opts *o, int nspecs, char **specs);

#endif
