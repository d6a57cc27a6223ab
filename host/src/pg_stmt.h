/* pg_stmt.h - pg_stmt.c: the statements a PostgreSQL connection has
 * prepared, by SQL text, so that a query seen before skips the server's
 * parse and plan (pg.c). */
#ifndef CRATER_PG_STMT_H
#define CRATER_PG_STMT_H

#include <stddef.h>
#include <stdint.h>

/* At most this many per connection; queries beyond run unprepared. */
#define CRATER__PG_STMT_MAX 256

typedef struct {
  char *sql;
  size_t len;
  uint32_t hash;
} crater__pg_stmt;

typedef struct {
  crater__pg_stmt *items; /* items[i] is the statement named "crater_<i>" */
  int n, cap;
} crater__pg_stmts;

/* The index of sql's statement, or -1. */
int crater__pg_stmt_find(const crater__pg_stmts *s, const char *sql, size_t len);

/* Adds sql; returns its index, or -1 when full or out of memory. */
int crater__pg_stmt_add(crater__pg_stmts *s, const char *sql, size_t len);

/* Frees the cache (the statements die with their connection). */
void crater__pg_stmt_free(crater__pg_stmts *s);

#endif
