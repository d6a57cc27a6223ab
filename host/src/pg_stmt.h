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
  uint32_t id; /* named "crater_<id>" on the server */
  int writes;  /* refused by a read-only transaction: never shared (pg.c) */
} crater__pg_stmt;

/* Ids are never reused on a connection: a statement forgotten here may
 * still exist on the server (a stale one after DDL), so a new one must not
 * take its name. */
typedef struct {
  crater__pg_stmt *items;
  int n, cap;
  uint32_t next_id;
} crater__pg_stmts;

/* The index of sql's statement, or -1. */
int crater__pg_stmt_find(const crater__pg_stmts *s, const char *sql, size_t len);

/* Adds sql under a new id; returns its index, or -1 when full or out of
 * memory. */
int crater__pg_stmt_add(crater__pg_stmts *s, const char *sql, size_t len);

/* Forgets the statement of that id, if known (indexes of others change). */
void crater__pg_stmt_forget(crater__pg_stmts *s, uint32_t id);

/* Forgets every statement of an id below `id`: the server dropped them
 * all, but not those a batch prepared after the drop. Ids go on. */
void crater__pg_stmt_forget_before(crater__pg_stmts *s, uint32_t id);

/* Frees the cache (the statements die with their connection). */
void crater__pg_stmt_free(crater__pg_stmts *s);

#endif
