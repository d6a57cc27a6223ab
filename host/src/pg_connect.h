/* pg_connect.h - pg_connect.c: opening one libpq connection without
 * blocking the loop (host names looked up on libuv's thread pool, then
 * PQconnectPoll driven by a uv_poll on the socket), for pg.c's pools. */
#ifndef CRATER_PG_CONNECT_H
#define CRATER_PG_CONNECT_H

#include <stddef.h>

#include <libpq-fe.h>
#include <uv.h>

/* What a pool connects to: the connection string as libpq parsed it; the
 * host and port lists libpq would use (named in the string, else by
 * PGHOST...), NULL when there are none or a hostaddr is given anyway; and
 * libpq's connect_timeout, which it means per address. */
typedef struct {
  char **keys, **vals; /* NULL-terminated */
  char *hosts, *ports;
  int attempt_s; /* 0: none */
} crater__pg_target;

/* Parses info (a URL or key=value string); 0, or -1 with err filled. */
int crater__pg_target_init(crater__pg_target *t, const char *info, char *err, size_t errlen);

void crater__pg_target_free(crater__pg_target *t);

typedef struct crater__pg_connector crater__pg_connector;

/* The end of a connect: pq ready for queries (non-blocking, the callee's
 * to keep), or NULL and the error's text. */
typedef void (*crater__pg_connected)(void *data, PGconn *pq, const char *err);

/* Starts connecting to t (which may be freed once this returns); *out is
 * set before cb can run, and cb may run before this returns. Returns -1
 * when out of memory (cb is not called then). */
int crater__pg_connect_start(uv_loop_t *loop, const crater__pg_target *t, crater__pg_connected cb,
                             void *data, crater__pg_connector **out);

/* Abandons a connect whose cb has not run: cb never runs. */
void crater__pg_connect_cancel(crater__pg_connector *k);

#endif
