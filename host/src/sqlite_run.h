/* sqlite_run.h - sqlite_run.c: running a query's SQL on an SQLite
 * connection into plain C memory -- what a pool thread does for sqlite.c.
 * Nothing here touches Lua or the loop, so it may run on any thread (one
 * at a time per connection). */
#ifndef CRATER_SQLITE_RUN_H
#define CRATER_SQLITE_RUN_H

#include <stddef.h>

#include <sqlite3.h>

#include "buf.h"

/* A value crossing threads: a parameter, a result cell, a column's name. */
typedef struct {
  int type;          /* SQLITE_INTEGER, _FLOAT, _TEXT, _BLOB, _NULL */
  sqlite3_int64 i;   /* INTEGER; for TEXT/BLOB cells, the offset in the job's bytes */
  double d;
  const char *s;     /* parameters: TEXT in the job's memory */
  size_t len;
} crater__sqlite_value;

/* Prepared statements of a connection, by their SQL: an app runs the same
 * few statements again and again. Used by whoever runs the connection's
 * jobs (one at a time); least recently used out. */
#define CRATER__SQLITE_CACHE_SIZE 32
typedef struct {
  struct {
    char *sql;
    size_t len;
    sqlite3_stmt *st;
    unsigned long used;
  } e[CRATER__SQLITE_CACHE_SIZE];
  unsigned long tick;
} crater__sqlite_cache;

/* One query: what to run, and what it gave. */
typedef struct {
  const char *sql;
  size_t sql_len;
  int nparams;
  crater__sqlite_value *params;  /* $k is params[k - 1] */
  /* The outcome. */
  int rc;                        /* 0, or SQLite's extended result code */
  char *errmsg;
  int autocommit;                /* no transaction is open after it */
  int has_id;                    /* it inserted a row: last_id is that row's */
  sqlite3_int64 changes, last_id;
  int ncols;                     /* cells[0 .. 2*ncols): names, declared types */
  size_t nrows;
  crater__sqlite_value *cells;   /* then nrows * ncols values */
  size_t ncells, capcells;
  crater__buf bytes;             /* the text of names and cells */
} crater__sqlite_exec;

/* Runs x's SQL on conn: every statement (one only when it has parameters;
 * the outcome is the last one's), $N bound to params[N - 1], rows copied
 * into cells. A single statement's prepared form is kept in cache (NULL:
 * none). */
void crater__sqlite_run(crater__sqlite_exec *x, sqlite3 *conn, crater__sqlite_cache *cache);

/* Records a failure (the first one only). */
void crater__sqlite_fail(crater__sqlite_exec *x, int rc, const char *msg);

/* Frees what running x allocated (not x). */
void crater__sqlite_exec_free(crater__sqlite_exec *x);

/* Finalizes the kept statements (before their connection is closed). */
void crater__sqlite_cache_clear(crater__sqlite_cache *c);

/* "SQLITE_CONSTRAINT_UNIQUE" for SQLite's (extended) result code rc. */
const char *crater__sqlite_code_name(int rc);

/* Opens the database at path (made if missing; ":memory:" too) as crater
 * uses it: WAL, synchronous=NORMAL, foreign keys on, busy_timeout busy_ms,
 * extended result codes, no mutex of its own. 0, or -1 with a message. */
int crater__sqlite_connect(const char *path, int busy_ms, sqlite3 **out, char *err,
                           size_t errsize);

#endif
