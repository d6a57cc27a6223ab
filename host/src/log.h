/* log.h - log.c: log records and the message of a failed call. */
#ifndef CRATER_LOG_H
#define CRATER_LOG_H

#include <stddef.h>

#include "crater.h"

/* One record to the host's log callback, or to stderr with a time and level. */
void crater__log(crater_server *srv, crater_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the message crater_last_error() returns. */
void crater__set_error(crater_server *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sets the message and returns rc: `return crater__fail(srv, CRATER_EINVAL, "...")`. */
int crater__fail(crater_server *srv, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Length of msg up to a Lua traceback ("\nstack traceback:"), the part a
 * one-line log record or a client needs; 0 for NULL. */
size_t crater__msg_head_len(const char *msg);

#endif
