/* sqlite_run.c - running a query on an SQLite connection (see
 * sqlite_run.h): prepare (or take the kept statement), bind $1..$n, step,
 * copy each row's values into the query's own arrays. */
#include "sqlite_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* ===================================================================== */
/*  Result codes                                                           */
/* ===================================================================== */

#define C(x) { x, #x }
static const struct { int code; const char *name; } code_names[] = {
  C(SQLITE_OK), C(SQLITE_ERROR), C(SQLITE_INTERNAL), C(SQLITE_PERM), C(SQLITE_ABORT),
  C(SQLITE_BUSY), C(SQLITE_LOCKED), C(SQLITE_NOMEM), C(SQLITE_READONLY), C(SQLITE_INTERRUPT),
  C(SQLITE_IOERR), C(SQLITE_CORRUPT), C(SQLITE_NOTFOUND), C(SQLITE_FULL), C(SQLITE_CANTOPEN),
  C(SQLITE_PROTOCOL), C(SQLITE_EMPTY), C(SQLITE_SCHEMA), C(SQLITE_TOOBIG), C(SQLITE_CONSTRAINT),
  C(SQLITE_MISMATCH), C(SQLITE_MISUSE), C(SQLITE_NOLFS), C(SQLITE_AUTH), C(SQLITE_FORMAT),
  C(SQLITE_RANGE), C(SQLITE_NOTADB), C(SQLITE_NOTICE), C(SQLITE_WARNING), C(SQLITE_ROW),
  C(SQLITE_DONE), C(SQLITE_ERROR_MISSING_COLLSEQ), C(SQLITE_ERROR_RETRY), C(SQLITE_ERROR_SNAPSHOT),
  C(SQLITE_IOERR_READ), C(SQLITE_IOERR_SHORT_READ), C(SQLITE_IOERR_WRITE), C(SQLITE_IOERR_FSYNC),
  C(SQLITE_IOERR_DIR_FSYNC), C(SQLITE_IOERR_TRUNCATE), C(SQLITE_IOERR_FSTAT),
  C(SQLITE_IOERR_UNLOCK), C(SQLITE_IOERR_RDLOCK), C(SQLITE_IOERR_DELETE), C(SQLITE_IOERR_BLOCKED),
  C(SQLITE_IOERR_NOMEM), C(SQLITE_IOERR_ACCESS), C(SQLITE_IOERR_CHECKRESERVEDLOCK),
  C(SQLITE_IOERR_LOCK), C(SQLITE_IOERR_CLOSE), C(SQLITE_IOERR_DIR_CLOSE), C(SQLITE_IOERR_SHMOPEN),
  C(SQLITE_IOERR_SHMSIZE), C(SQLITE_IOERR_SHMLOCK), C(SQLITE_IOERR_SHMMAP), C(SQLITE_IOERR_SEEK),
  C(SQLITE_IOERR_DELETE_NOENT), C(SQLITE_IOERR_MMAP), C(SQLITE_IOERR_GETTEMPPATH),
  C(SQLITE_IOERR_CONVPATH), C(SQLITE_IOERR_VNODE), C(SQLITE_IOERR_AUTH),
  C(SQLITE_IOERR_BEGIN_ATOMIC), C(SQLITE_IOERR_COMMIT_ATOMIC), C(SQLITE_IOERR_ROLLBACK_ATOMIC),
  C(SQLITE_IOERR_DATA), C(SQLITE_IOERR_CORRUPTFS), C(SQLITE_LOCKED_SHAREDCACHE),
  C(SQLITE_LOCKED_VTAB), C(SQLITE_BUSY_RECOVERY), C(SQLITE_BUSY_SNAPSHOT), C(SQLITE_BUSY_TIMEOUT),
  C(SQLITE_CANTOPEN_NOTEMPDIR), C(SQLITE_CANTOPEN_ISDIR), C(SQLITE_CANTOPEN_FULLPATH),
  C(SQLITE_CANTOPEN_CONVPATH), C(SQLITE_CANTOPEN_DIRTYWAL), C(SQLITE_CANTOPEN_SYMLINK),
  C(SQLITE_CORRUPT_VTAB), C(SQLITE_CORRUPT_SEQUENCE), C(SQLITE_CORRUPT_INDEX),
  C(SQLITE_READONLY_RECOVERY), C(SQLITE_READONLY_CANTLOCK), C(SQLITE_READONLY_ROLLBACK),
  C(SQLITE_READONLY_DBMOVED), C(SQLITE_READONLY_CANTINIT), C(SQLITE_READONLY_DIRECTORY),
  C(SQLITE_ABORT_ROLLBACK), C(SQLITE_CONSTRAINT_CHECK), C(SQLITE_CONSTRAINT_COMMITHOOK),
  C(SQLITE_CONSTRAINT_FOREIGNKEY), C(SQLITE_CONSTRAINT_FUNCTION), C(SQLITE_CONSTRAINT_NOTNULL),
  C(SQLITE_CONSTRAINT_PRIMARYKEY), C(SQLITE_CONSTRAINT_TRIGGER), C(SQLITE_CONSTRAINT_UNIQUE),
  C(SQLITE_CONSTRAINT_VTAB), C(SQLITE_CONSTRAINT_ROWID), C(SQLITE_CONSTRAINT_PINNED),
  C(SQLITE_CONSTRAINT_DATATYPE), C(SQLITE_NOTICE_RECOVER_WAL), C(SQLITE_NOTICE_RECOVER_ROLLBACK),
  C(SQLITE_WARNING_AUTOINDEX), C(SQLITE_AUTH_USER), C(SQLITE_OK_LOAD_PERMANENTLY),
  C(SQLITE_OK_SYMLINK),
};
#undef C

const char *crater__sqlite_code_name(int rc) {
  for (size_t i = 0; i < sizeof(code_names) / sizeof(code_names[0]); i++)
    if (code_names[i].code == rc) return code_names[i].name;
  for (size_t i = 0; i < sizeof(code_names) / sizeof(code_names[0]); i++)
    if (code_names[i].code == (rc & 0xff)) return code_names[i].name;
  return "SQLITE_ERROR";
}

/* ===================================================================== */
/*  Running                                                                */
/* ===================================================================== */

void crater__sqlite_fail(crater__sqlite_exec *j, int rc, const char *msg) {
  if (j->rc != 0) return;
  j->rc = rc;
  j->errmsg = crater__strdup(msg);
}

static void fail_db(crater__sqlite_exec *j, sqlite3 *conn) {
  crater__sqlite_fail(j, sqlite3_extended_errcode(conn), sqlite3_errmsg(conn));
  if (j->rc == SQLITE_OK) j->rc = SQLITE_ERROR;
}

static crater__sqlite_value *add_cell(crater__sqlite_exec *j) {
  if (j->ncells == j->capcells) {
    size_t cap = j->capcells ? j->capcells * 2 : 64;
    crater__sqlite_value *c = crater__realloc(j->cells, cap * sizeof(*c));
    if (c == NULL) return NULL;
    j->cells = c;
    j->capcells = cap;
  }
  crater__sqlite_value *v = &j->cells[j->ncells++];
  v->type = SQLITE_NULL;
  return v;
}

static int add_text(crater__sqlite_exec *j, int type, const void *p, size_t len) {
  crater__sqlite_value *v = add_cell(j);
  if (v == NULL) return -1;
  v->type = type;
  v->i = (sqlite3_int64)j->bytes.len;
  v->len = len;
  return len == 0 ? 0 : crater__buf_append(&j->bytes, p, len);
}

/* "$3", "?3" -> 3; anything else (":name", "$name") -> 0. */
static long param_number(const char *name) {
  if ((name[0] != '$' && name[0] != '?') || name[1] < '0' || name[1] > '9') return 0;
  char *end;
  errno = 0;
  long k = strtol(name + 1, &end, 10);
  return *end == '\0' && errno == 0 ? k : 0;
}

static int bind_all(crater__sqlite_exec *j, sqlite3_stmt *st) {
  int n = sqlite3_bind_parameter_count(st);
  long most = 0;
  for (int i = 1; i <= n; i++) {
    const char *name = sqlite3_bind_parameter_name(st, i);
    long k = name == NULL ? i : param_number(name);
    char msg[160];
    if (k <= 0) {
      snprintf(msg, sizeof(msg), "named parameter %s: number them $1, $2, ... or use ?", name);
      crater__sqlite_fail(j, SQLITE_RANGE, msg);
      return -1;
    }
    if (k > j->nparams) {
      snprintf(msg, sizeof(msg), "the statement uses parameter %ld but %d value%s given", k,
               j->nparams, j->nparams == 1 ? " was" : "s were");
      crater__sqlite_fail(j, SQLITE_RANGE, msg);
      return -1;
    }
    if (k > most) most = k;
    const crater__sqlite_value *v = &j->params[k - 1];
    int rc;
    switch (v->type) {
    case SQLITE_INTEGER: rc = sqlite3_bind_int64(st, i, v->i); break;
    case SQLITE_FLOAT: rc = sqlite3_bind_double(st, i, v->d); break;
    case SQLITE_TEXT: rc = sqlite3_bind_text64(st, i, v->s, v->len, SQLITE_STATIC, SQLITE_UTF8); break;
    default: rc = sqlite3_bind_null(st, i); break;
    }
    if (rc != SQLITE_OK) {
      fail_db(j, sqlite3_db_handle(st));
      return -1;
    }
  }
  if (most < j->nparams) {
    char msg[160];
    snprintf(msg, sizeof(msg), "%d values were given but the statement uses %ld", j->nparams, most);
    crater__sqlite_fail(j, SQLITE_RANGE, msg);
    return -1;
  }
  return 0;
}

/* 1 when sql holds another statement (not only spaces and comments). */
static int more_statements(sqlite3 *conn, const char *sql, const char *end) {
  while (sql < end && (*sql == ' ' || *sql == '\n' || *sql == '\t' || *sql == '\r' || *sql == ';'))
    sql++;
  if (sql == end) return 0;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(conn, sql, (int)(end - sql), &st, NULL) != SQLITE_OK) return 1;
  int more = st != NULL;
  sqlite3_finalize(st);
  return more;
}

/* The columns' names and declared types, as the statement has them after
 * its first step (a kept statement is prepared again by that step when the
 * schema changed: `SELECT *` may have new columns). */
static int add_columns(crater__sqlite_exec *j, sqlite3_stmt *st) {
  j->ncols = sqlite3_column_count(st);
  for (int c = 0; c < j->ncols; c++) {
    const char *name = sqlite3_column_name(st, c);
    const char *type = sqlite3_column_decltype(st, c);
    if (name == NULL || add_text(j, SQLITE_TEXT, name, strlen(name)) != 0) return -1;
    if (type == NULL) {
      if (add_cell(j) == NULL) return -1;
    } else if (add_text(j, SQLITE_TEXT, type, strlen(type)) != 0) {
      return -1;
    }
  }
  return 0;
}

static int run_stmt(crater__sqlite_exec *j, sqlite3 *conn, sqlite3_stmt *st) {
  j->ncells = 0;
  j->nrows = 0;
  j->ncols = 0;
  j->bytes.len = 0;
  sqlite3_int64 id_before = sqlite3_last_insert_rowid(conn);
  for (int first = 1;; first = 0) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
      fail_db(j, conn);
      return -1;
    }
    if (first && add_columns(j, st) != 0) goto nomem;
    if (rc == SQLITE_DONE) break;
    for (int c = 0; c < j->ncols; c++) {
      int t = sqlite3_column_type(st, c);
      if (t == SQLITE_TEXT || t == SQLITE_BLOB) {
        const void *p = t == SQLITE_TEXT ? (const void *)sqlite3_column_text(st, c)
                                         : sqlite3_column_blob(st, c);
        size_t len = (size_t)sqlite3_column_bytes(st, c);
        if (add_text(j, t, p, len) != 0) goto nomem;
        continue;
      }
      crater__sqlite_value *v = add_cell(j);
      if (v == NULL) goto nomem;
      v->type = t;
      if (t == SQLITE_INTEGER) v->i = sqlite3_column_int64(st, c);
      else if (t == SQLITE_FLOAT) v->d = sqlite3_column_double(st, c);
    }
    j->nrows++;
  }
  j->changes = sqlite3_stmt_readonly(st) ? 0 : sqlite3_changes64(conn);
  j->last_id = sqlite3_last_insert_rowid(conn);
  j->has_id = j->last_id != id_before;
  return 0;
nomem:
  crater__sqlite_fail(j, SQLITE_NOMEM, "out of memory for the result");
  return -1;
}

static sqlite3_stmt *cache_get(crater__sqlite_cache *c, const char *sql, size_t len) {
  for (int i = 0; i < CRATER__SQLITE_CACHE_SIZE; i++) {
    if (c->e[i].st != NULL && c->e[i].len == len && memcmp(c->e[i].sql, sql, len) == 0) {
      c->e[i].used = ++c->tick;
      return c->e[i].st;
    }
  }
  return NULL;
}

/* Keeps st (reset) for sql; 0, or -1 when it could not (then st is the
 * caller's to finalize). */
static int cache_put(crater__sqlite_cache *c, const char *sql, size_t len, sqlite3_stmt *st) {
  int victim = 0;
  for (int i = 0; i < CRATER__SQLITE_CACHE_SIZE; i++) {
    if (c->e[i].st == NULL) {
      victim = i;
      break;
    }
    if (c->e[i].used < c->e[victim].used) victim = i;
  }
  char *copy = crater__malloc(len + 1);
  if (copy == NULL) return -1;
  memcpy(copy, sql, len);
  copy[len] = '\0';
  sqlite3_finalize(c->e[victim].st);
  crater__free(c->e[victim].sql);
  c->e[victim].sql = copy;
  c->e[victim].len = len;
  c->e[victim].st = st;
  c->e[victim].used = ++c->tick;
  return 0;
}

void crater__sqlite_cache_clear(crater__sqlite_cache *c) {
  for (int i = 0; i < CRATER__SQLITE_CACHE_SIZE; i++) {
    sqlite3_finalize(c->e[i].st);
    crater__free(c->e[i].sql);
    c->e[i].st = NULL;
    c->e[i].sql = NULL;
  }
}

/* 1 when only spaces and semicolons are left. */
static int blank(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ';')) p++;
  return p == end;
}

/* Runs every statement of the job's SQL (one only when it has parameters);
 * the result is the last one's. A single statement's prepared form is kept
 * in cache (NULL: none). */
void crater__sqlite_run(crater__sqlite_exec *j, sqlite3 *conn, crater__sqlite_cache *cache) {
  const char *sql = j->sql, *end = j->sql + j->sql_len;
  sqlite3_stmt *st = cache != NULL ? cache_get(cache, sql, j->sql_len) : NULL;
  if (st != NULL) {
    if (bind_all(j, st) == 0) run_stmt(j, conn, st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    j->autocommit = sqlite3_get_autocommit(conn);
    return;
  }
  int ran = 0;
  while (sql < end) {
    const char *tail = end;
    if (sqlite3_prepare_v2(conn, sql, (int)(end - sql), &st, &tail) != SQLITE_OK) {
      fail_db(j, conn);
      break;
    }
    if (st == NULL) break; /* only spaces and comments were left */
    int rc = 0, alone = sql == j->sql && blank(tail, end);
    if (j->nparams > 0 && !alone && more_statements(conn, tail, end)) {
      crater__sqlite_fail(j, SQLITE_MISUSE, "a query with parameters must be one statement");
      rc = -1;
    }
    if (rc == 0) rc = bind_all(j, st);
    if (rc == 0) rc = run_stmt(j, conn, st);
    if (alone && cache != NULL) {
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      if (cache_put(cache, j->sql, j->sql_len, st) != 0) sqlite3_finalize(st);
    } else {
      sqlite3_finalize(st);
    }
    st = NULL;
    if (rc != 0) break;
    ran = 1;
    sql = tail;
  }
  if (!ran && j->rc == 0 && j->nparams > 0)
    crater__sqlite_fail(j, SQLITE_RANGE, "parameters were given to an empty query");
  j->autocommit = sqlite3_get_autocommit(conn);
}

int crater__sqlite_connect(const char *path, int busy_ms, sqlite3 **out, char *err,
                           size_t errsize) {
  sqlite3 *conn = NULL;
  int rc = sqlite3_open_v2(path, &conn,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_extended_result_codes(conn, 1);
    sqlite3_busy_timeout(conn, busy_ms);
    /* WAL: readers do not wait for the writer (of another worker process);
     * NORMAL is WAL's durable-enough setting; foreign keys as PostgreSQL. */
    rc = sqlite3_exec(conn, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                            "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
  }
  if (rc != SQLITE_OK) {
    snprintf(err, errsize, "%s", conn != NULL ? sqlite3_errmsg(conn) : sqlite3_errstr(rc));
    sqlite3_close(conn);
    return -1;
  }
  *out = conn;
  return 0;
}

void crater__sqlite_exec_free(crater__sqlite_exec *x) {
  crater__free(x->errmsg);
  crater__free(x->cells);
  crater__buf_free(&x->bytes);
}
