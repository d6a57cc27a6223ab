/* pg_result.h - pg_result.c: a PostgreSQL result (libpq's PGresult, text
 * format) as Lua values, for pg.c. */
#ifndef CRATER_PG_RESULT_H
#define CRATER_PG_RESULT_H

#include <libpq-fe.h>
#include <lua.h>

/* Pushes the error of r: { code = SQLSTATE, message, detail, hint,
 * constraint, table, column, severity, position }. */
void crater__pg_push_error(lua_State *L, const PGresult *r);

/* Pushes r's rows: an array of tables keyed by column name, with .columns
 * ({ name =, type = }), .affected_rows and, when some columns are left as
 * text for pg.lua to convert, .convert (their indexes). SQL NULL is the
 * value at index nullidx. like: 0, or the index of rows pushed before for
 * the same statement, whose .columns and .convert are shared (a batch of
 * twenty runs of one statement makes them once, not twenty times). */
void crater__pg_push_rows(lua_State *L, PGresult *r, int nullidx, int like);

#endif
