/* cli_validate.h - cli_validate.c: `crater validate`. */
#ifndef CRATER_CLI_VALIDATE_H
#define CRATER_CLI_VALIDATE_H

/* `crater validate ...`: argv[0] is "validate". Returns the exit status:
 * 0 all valid, 1 any invalid, 2 bad schema, file or JSON. */
int crater_cli_validate(int argc, char **argv);

#endif
