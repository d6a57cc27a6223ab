/* test_sqlite_run.c - sqlite_run.c without Lua or a loop: $N to the Nth
 * value, the values' types, parameter errors, kept statements, code names. */
#include <stdio.h>
#include <string.h>

#include "sqlite_run.h"
#include "test.h"

static void run(sqlite3 *db, crater__sqlite_cache *cache, crater__sqlite_exec *x, const char *sql,
                crater__sqlite_value *params, int n) {
  memset(x, 0, sizeof(*x));
  x->sql = sql;
  x->sql_len = strlen(sql);
  x->params = params;
  x->nparams = n;
  crater__sqlite_run(x, db, cache);
}

/* Cell k's text is s. */
static int text_is(const crater__sqlite_exec *x, size_t k, const char *s) {
  const crater__sqlite_value *v = &x->cells[k];
  return v->type == SQLITE_TEXT && v->len == strlen(s) && memcmp(x->bytes.data + v->i, s, v->len) == 0;
}

static int kept(const crater__sqlite_cache *c) {
  int n = 0;
  for (int i = 0; i < CRATER__SQLITE_CACHE_SIZE; i++) n += c->e[i].st != NULL;
  return n;
}

TEST(sqlite_run_numbered_parameters_and_types) {
  sqlite3 *db;
  char err[128];
  ASSERT_EQ_INT(crater__sqlite_connect(":memory:", 0, &db, err, sizeof(err)), 0);
  crater__sqlite_cache cache;
  memset(&cache, 0, sizeof(cache));
  crater__sqlite_value p[3] = {
    {SQLITE_INTEGER, 4611686018427387904LL, 0, NULL, 0}, /* 2^62: exact as an int64 */
    {SQLITE_TEXT, 0, 0, "ab", 2},
    {SQLITE_NULL, 0, 0, NULL, 0},
  };
  crater__sqlite_exec x;
  run(db, &cache, &x, "SELECT $2 || $2 AS s, $1 AS big, $3 AS n, 0.5 AS f", p, 3);
  ASSERT_EQ_INT(x.rc, 0);
  ASSERT_EQ_INT(x.ncols, 4);
  ASSERT_EQ_INT(x.nrows, 1);
  ASSERT_TRUE(text_is(&x, 0, "s") && text_is(&x, 2, "big") && text_is(&x, 4, "n") && text_is(&x, 6, "f"));
  ASSERT_EQ_INT(x.cells[1].type, SQLITE_NULL); /* an expression has no declared type */
  ASSERT_TRUE(text_is(&x, 8, "abab"));
  ASSERT_EQ_INT(x.cells[9].type, SQLITE_INTEGER);
  ASSERT_TRUE(x.cells[9].i == 4611686018427387904LL);
  ASSERT_EQ_INT(x.cells[10].type, SQLITE_NULL);
  ASSERT_EQ_INT(x.cells[11].type, SQLITE_FLOAT);
  ASSERT_TRUE(x.cells[11].d == 0.5);
  ASSERT_EQ_INT(x.autocommit, 1);
  crater__sqlite_exec_free(&x);

  /* ? counts in order; a table's declared type; affected rows and the id */
  run(db, &cache, &x, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)", NULL, 0);
  ASSERT_EQ_INT(x.rc, 0);
  crater__sqlite_exec_free(&x);
  run(db, &cache, &x, "INSERT INTO t (v) VALUES (?), (?)", p + 1, 2);
  ASSERT_EQ_INT(x.rc, 0);
  ASSERT_TRUE(x.changes == 2 && x.has_id && x.last_id == 2);
  crater__sqlite_exec_free(&x);
  run(db, &cache, &x, "SELECT v FROM t ORDER BY id", NULL, 0);
  ASSERT_TRUE(x.nrows == 2 && text_is(&x, 1, "TEXT") && text_is(&x, 2, "ab"));
  ASSERT_EQ_INT(x.cells[3].type, SQLITE_NULL);
  ASSERT_TRUE(x.changes == 0 && !x.has_id);
  crater__sqlite_exec_free(&x);

  /* a constraint: the extended code and SQLite's message */
  run(db, &cache, &x, "INSERT INTO t (v) VALUES ($1)", p + 1, 1);
  ASSERT_EQ_STR(crater__sqlite_code_name(x.rc), "SQLITE_CONSTRAINT_UNIQUE");
  ASSERT_EQ_STR(x.errmsg, "UNIQUE constraint failed: t.v");
  crater__sqlite_exec_free(&x);

  crater__sqlite_cache_clear(&cache);
  ASSERT_EQ_INT(sqlite3_close(db), SQLITE_OK); /* nothing left open */
}

TEST(sqlite_run_parameter_errors) {
  sqlite3 *db;
  char err[128];
  ASSERT_EQ_INT(crater__sqlite_connect(":memory:", 0, &db, err, sizeof(err)), 0);
  crater__sqlite_value p[2] = {{SQLITE_INTEGER, 1, 0, NULL, 0}, {SQLITE_INTEGER, 2, 0, NULL, 0}};
  crater__sqlite_exec x;
  run(db, NULL, &x, "SELECT $1 + $2", p, 1);
  ASSERT_EQ_STR(crater__sqlite_code_name(x.rc), "SQLITE_RANGE");
  ASSERT_EQ_STR(x.errmsg, "the statement uses parameter 2 but 1 value was given");
  crater__sqlite_exec_free(&x);
  run(db, NULL, &x, "SELECT $1", p, 2);
  ASSERT_EQ_STR(x.errmsg, "2 values were given but the statement uses 1");
  crater__sqlite_exec_free(&x);
  run(db, NULL, &x, "SELECT :a", p, 1);
  ASSERT_EQ_STR(x.errmsg, "named parameter :a: number them $1, $2, ... or use ?");
  crater__sqlite_exec_free(&x);
  run(db, NULL, &x, "SELECT $1; SELECT 2", p, 1);
  ASSERT_EQ_STR(crater__sqlite_code_name(x.rc), "SQLITE_MISUSE");
  crater__sqlite_exec_free(&x);
  run(db, NULL, &x, "SELECT $1 ; ", p, 1); /* a trailing ; is one statement */
  ASSERT_EQ_INT(x.rc, 0);
  crater__sqlite_exec_free(&x);
  run(db, NULL, &x, "SELEC 1", NULL, 0);
  ASSERT_EQ_STR(crater__sqlite_code_name(x.rc), "SQLITE_ERROR");
  ASSERT_EQ_STR(x.errmsg, "near \"SELEC\": syntax error");
  crater__sqlite_exec_free(&x);
  run(db, NULL, &x, "SELECT 1; SELECT 2 AS two", NULL, 0); /* no parameters: the last one's rows */
  ASSERT_TRUE(x.rc == 0 && x.ncols == 1 && text_is(&x, 0, "two") && x.cells[2].i == 2);
  crater__sqlite_exec_free(&x);
  ASSERT_EQ_INT(sqlite3_close(db), SQLITE_OK);
}

TEST(sqlite_run_keeps_single_statements) {
  sqlite3 *db;
  char err[128];
  ASSERT_EQ_INT(crater__sqlite_connect(":memory:", 0, &db, err, sizeof(err)), 0);
  crater__sqlite_cache cache;
  memset(&cache, 0, sizeof(cache));
  crater__sqlite_value p[1] = {{SQLITE_INTEGER, 41, 0, NULL, 0}};
  crater__sqlite_exec x;
  for (int i = 0; i < 3; i++) {
    p[0].i = 41 + i;
    run(db, &cache, &x, "SELECT $1 + 1 AS n", p, 1);
    ASSERT_TRUE(x.rc == 0 && x.cells[2].i == 42 + i); /* bound afresh each time */
    crater__sqlite_exec_free(&x);
  }
  ASSERT_EQ_INT(kept(&cache), 1);
  run(db, &cache, &x, "SELECT 1; SELECT 2", NULL, 0); /* several: not kept */
  crater__sqlite_exec_free(&x);
  ASSERT_EQ_INT(kept(&cache), 1);
  char sql[64];
  for (int i = 0; i < CRATER__SQLITE_CACHE_SIZE + 5; i++) { /* the least recently used go */
    snprintf(sql, sizeof(sql), "SELECT %d", i);
    run(db, &cache, &x, sql, NULL, 0);
    crater__sqlite_exec_free(&x);
  }
  ASSERT_EQ_INT(kept(&cache), CRATER__SQLITE_CACHE_SIZE);
  crater__sqlite_cache_clear(&cache);
  ASSERT_EQ_INT(kept(&cache), 0);
  ASSERT_EQ_INT(sqlite3_close(db), SQLITE_OK);
}

TEST(sqlite_run_code_names) {
  ASSERT_EQ_STR(crater__sqlite_code_name(SQLITE_BUSY), "SQLITE_BUSY");
  ASSERT_EQ_STR(crater__sqlite_code_name(SQLITE_CONSTRAINT_NOTNULL), "SQLITE_CONSTRAINT_NOTNULL");
  ASSERT_EQ_STR(crater__sqlite_code_name(SQLITE_IOERR | (200 << 8)), "SQLITE_IOERR"); /* unknown: its primary */
}
