/* sqlite.c - SQLite on libuv's thread pool (see sqlite.h).
 *
 * A statement is a job: its SQL and parameters are copied on the loop
 * thread, a pool thread prepares, binds and steps it into plain C memory,
 * and the loop thread (the after-work callback) turns that into Lua tables
 * on the waiting coroutine. Pool threads never touch a lua_State. A
 * connection runs one job at a time (SQLite connections are opened without
 * their own mutex: the queue is the lock), so a transaction opened by one
 * task must keep the others' jobs queued until it ends: the connection is
 * "held" by that task, and the task's end rolls back what it left open.
 *
 * Code outside any task (the app's file while it loads, on_start, a
 * `crater test` spec's own code) cannot wait: its statements run at once
 * on the loop thread, on the shared connection when it is idle, else on a
 * side connection to the same file. */
#include "sqlite.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <sqlite3.h>
#include <uv.h>

#include "alloc.h"
#include "buf.h"
#include "log.h"
#include "server.h"
#include "task.h"
#include "vm.h"

#define HANDLE_MT "crater.sqlite.handle"
#define MAX_EXACT 9007199254740992LL /* 2^53: beyond it a double loses integers */
/* Jobs waiting together go to the pool together: one thread hop for many
 * statements under load, still in their order. */
#define MAX_BATCH 64

enum { HELD_NO = 0, HELD_TASK, HELD_SYNC, HELD_ROLLBACK };
enum { JOB_QUEUED = 0, JOB_RUNNING, JOB_DONE };

typedef struct sq_job sq_job;
typedef struct crater__sqlite_db crater__sqlite_db;

/* A value crossing threads: a parameter, a result cell, a column's name. */
typedef struct {
  int type;          /* SQLITE_INTEGER, _FLOAT, _TEXT, _BLOB, _NULL */
  sqlite3_int64 i;   /* INTEGER; for TEXT/BLOB cells, the offset in the job's bytes */
  double d;
  const char *s;     /* parameters: TEXT in the job's memory */
  size_t len;
} sq_value;

/* Prepared statements of a connection, by their SQL: an app runs the same
 * few statements again and again. Used by whoever runs the connection's
 * jobs (one at a time); least recently used out. */
#define CACHE_SIZE 32
typedef struct {
  struct {
    char *sql;
    size_t len;
    sqlite3_stmt *st;
    unsigned long used;
  } e[CACHE_SIZE];
  unsigned long tick;
} sq_cache;

struct crater__sqlite_db {
  crater_server *srv;            /* NULL once the server closed */
  uv_loop_t *loop;
  sqlite3 *conn;
  sqlite3 *side;                 /* a side connection holding a transaction of code
                                    outside any task, or NULL */
  char *key;                     /* the file's absolute path; NULL for :memory: */
  int busy_ms;
  struct crater__sqlite_db *next;/* the server's list (files only) */
  sq_job *queue, *queue_tail;    /* jobs waiting for the connection, oldest first */
  sq_job *inflight;              /* the batch on the pool now (linked by next) */
  int held;                      /* HELD_*: who may run jobs while a transaction is open */
  crater__task *owner;           /* HELD_TASK: the task whose transaction it is */
  crater__task_cleanup cleanup;  /* on owner: its end rolls the transaction back */
  sq_job *rollback;              /* HELD_TASK: that rollback, allocated beforehand */
  int dropped;                   /* nobody will ask again: free once idle */
  int resuming;                  /* after_work is resuming Lua: not freed under it */
  sq_cache cache;                /* conn's statements */
};

struct sq_job {
  uv_work_t work;
  crater__sqlite_db *db;
  sq_job *next;
  crater__uthread *ut;           /* the waiting thread; NULL: cancelled, or nobody waits */
  crater__task *task;            /* its task; NULL for the rollback of a task that ended */
  int state;                     /* JOB_*, on the loop thread */
  atomic_int cancelled;          /* set by the loop: the pool thread skips it if not begun */
  int ran;                       /* the pool thread ran it */
  const char *sql;
  size_t sql_len;
  int nparams;
  sq_value *params;
  /* The outcome, written by the pool thread. */
  int rc;                        /* 0, or SQLite's extended result code */
  char *errmsg;
  int autocommit;                /* no transaction is open after it */
  int has_id;
  sqlite3_int64 changes, last_id;
  int ncols;                     /* cells[0 .. 2*ncols): names, declared types */
  size_t nrows;
  sq_value *cells;
  size_t ncells, capcells;
  crater__buf bytes;             /* the text of names and cells */
};

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

static const char *code_name(int rc) {
  for (size_t i = 0; i < sizeof(code_names) / sizeof(code_names[0]); i++)
    if (code_names[i].code == rc) return code_names[i].name;
  for (size_t i = 0; i < sizeof(code_names) / sizeof(code_names[0]); i++)
    if (code_names[i].code == (rc & 0xff)) return code_names[i].name;
  return "SQLITE_ERROR";
}

/* ===================================================================== */
/*  On a pool thread                                                       */
/* ===================================================================== */

static void fail_msg(sq_job *j, int rc, const char *msg) {
  if (j->rc != 0) return;
  j->rc = rc;
  j->errmsg = crater__strdup(msg);
}

static void fail_db(sq_job *j, sqlite3 *conn) {
  fail_msg(j, sqlite3_extended_errcode(conn), sqlite3_errmsg(conn));
  if (j->rc == SQLITE_OK) j->rc = SQLITE_ERROR;
}

static sq_value *add_cell(sq_job *j) {
  if (j->ncells == j->capcells) {
    size_t cap = j->capcells ? j->capcells * 2 : 64;
    sq_value *c = crater__realloc(j->cells, cap * sizeof(*c));
    if (c == NULL) return NULL;
    j->cells = c;
    j->capcells = cap;
  }
  sq_value *v = &j->cells[j->ncells++];
  v->type = SQLITE_NULL;
  return v;
}

static int add_text(sq_job *j, int type, const void *p, size_t len) {
  sq_value *v = add_cell(j);
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

static int bind_all(sq_job *j, sqlite3_stmt *st) {
  int n = sqlite3_bind_parameter_count(st);
  long most = 0;
  for (int i = 1; i <= n; i++) {
    const char *name = sqlite3_bind_parameter_name(st, i);
    long k = name == NULL ? i : param_number(name);
    char msg[160];
    if (k <= 0) {
      snprintf(msg, sizeof(msg), "named parameter %s: number them $1, $2, ... or use ?", name);
      fail_msg(j, SQLITE_RANGE, msg);
      return -1;
    }
    if (k > j->nparams) {
      snprintf(msg, sizeof(msg), "the statement uses parameter %ld but %d value%s given", k,
               j->nparams, j->nparams == 1 ? " was" : "s were");
      fail_msg(j, SQLITE_RANGE, msg);
      return -1;
    }
    if (k > most) most = k;
    const sq_value *v = &j->params[k - 1];
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
    fail_msg(j, SQLITE_RANGE, msg);
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
static int add_columns(sq_job *j, sqlite3_stmt *st) {
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

static int run_stmt(sq_job *j, sqlite3 *conn, sqlite3_stmt *st) {
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
      sq_value *v = add_cell(j);
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
  fail_msg(j, SQLITE_NOMEM, "out of memory for the result");
  return -1;
}

static sqlite3_stmt *cache_get(sq_cache *c, const char *sql, size_t len) {
  for (int i = 0; i < CACHE_SIZE; i++) {
    if (c->e[i].st != NULL && c->e[i].len == len && memcmp(c->e[i].sql, sql, len) == 0) {
      c->e[i].used = ++c->tick;
      return c->e[i].st;
    }
  }
  return NULL;
}

/* Keeps st (reset) for sql; 0, or -1 when it could not (then st is the
 * caller's to finalize). */
static int cache_put(sq_cache *c, const char *sql, size_t len, sqlite3_stmt *st) {
  int victim = 0;
  for (int i = 0; i < CACHE_SIZE; i++) {
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

static void cache_clear(sq_cache *c) {
  for (int i = 0; i < CACHE_SIZE; i++) {
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
static void run_job(sq_job *j, sqlite3 *conn, sq_cache *cache) {
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
      fail_msg(j, SQLITE_MISUSE, "a query with parameters must be one statement");
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
    fail_msg(j, SQLITE_RANGE, "parameters were given to an empty query");
  j->autocommit = sqlite3_get_autocommit(conn);
}

static void work_cb(uv_work_t *w) {
  sq_job *first = w->data;
  crater__sqlite_db *db = first->db;
  for (sq_job *j = first; j != NULL; j = j->next) {
    if (atomic_load(&j->cancelled)) continue;
    run_job(j, db->conn, &db->cache);
    j->ran = 1;
    if (!j->autocommit) break; /* a transaction is open: the others wait for its end */
  }
}

/* ===================================================================== */
/*  Connections                                                            */
/* ===================================================================== */

static int open_conn(const char *path, int busy_ms, sqlite3 **out, char *err, size_t errsize) {
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

static void job_free(sq_job *j);

static void db_free(crater__sqlite_db *db) {
  crater__task_undefer(&db->cleanup);
  if (db->rollback != NULL) job_free(db->rollback);
  cache_clear(&db->cache); /* before close: open statements keep a connection open */
  sqlite3_close(db->side);
  sqlite3_close(db->conn);
  crater__free(db->key);
  crater__free(db);
}

static void job_free(sq_job *j) {
  crater__free(j->errmsg);
  crater__free(j->cells);
  crater__buf_free(&j->bytes);
  crater__free(j);
}

static void pump(crater__sqlite_db *db);

static void job_cancel(void *data) {
  sq_job *j = data;
  crater__sqlite_db *db = j->db;
  j->ut = NULL;
  if (j->state == JOB_DONE) return; /* after_work frees it instead of resuming */
  if (j->state == JOB_RUNNING) {
    /* Nobody wants its result: skipped if not begun; stopped early when it
     * runs alone (an interrupt would hit whichever statement runs);
     * after_work frees it. */
    atomic_store(&j->cancelled, 1);
    if (db->inflight == j && j->next == NULL) sqlite3_interrupt(db->conn);
    return;
  }
  sq_job **p = &db->queue, *prev = NULL;
  while (*p != j) {
    prev = *p;
    p = &(*p)->next;
  }
  *p = j->next;
  if (db->queue_tail == j) db->queue_tail = prev;
  job_free(j);
}

static sq_job *job_new(crater__sqlite_db *db, size_t extra) {
  sq_job *j = crater__calloc(1, sizeof(*j) + extra);
  if (j != NULL) {
    j->db = db;
    j->work.data = j;
  }
  return j;
}

static void enqueue(crater__sqlite_db *db, sq_job *j, int front) {
  if (front) {
    j->next = db->queue;
    db->queue = j;
    if (db->queue_tail == NULL) db->queue_tail = j;
  } else {
    j->next = NULL;
    if (db->queue_tail != NULL) db->queue_tail->next = j;
    else db->queue = j;
    db->queue_tail = j;
  }
}

static const char rollback_sql[] = "ROLLBACK";

/* The task that held a transaction ended: its rollback goes first. */
static void owner_ended(crater__task_cleanup *c) {
  crater__sqlite_db *db = (crater__sqlite_db *)((char *)c - offsetof(crater__sqlite_db, cleanup));
  sq_job *j = db->rollback;
  db->rollback = NULL;
  db->owner = NULL;
  db->held = HELD_ROLLBACK;
  enqueue(db, j, 1);
  pump(db);
}

/* What the connection's state after j (just back, nothing in flight)
 * means for who holds it. */
static void note_transaction(crater__sqlite_db *db, sq_job *j) {
  if (j->autocommit) {
    if (db->held == HELD_TASK) {
      crater__task_undefer(&db->cleanup);
      job_free(db->rollback);
      db->rollback = NULL;
    }
    db->held = HELD_NO;
    db->owner = NULL;
    return;
  }
  if (db->held != HELD_NO) return; /* still the holder's, or its rollback is queued */
  /* A transaction was opened: the rollback its task's end may need is
   * made now, so that end cannot fail for memory. */
  sq_job *rb = job_new(db, 0);
  if (rb == NULL) {
    sqlite3_exec(db->conn, rollback_sql, NULL, NULL, NULL); /* idle: it runs here */
    if (db->srv != NULL)
      crater__log(db->srv, CRATER_LOG_ERROR, "sqlite: out of memory: a transaction was rolled back");
    return;
  }
  rb->sql = rollback_sql;
  rb->sql_len = sizeof(rollback_sql) - 1;
  db->rollback = rb;
  db->held = HELD_TASK;
  db->cleanup.fn = owner_ended;
  if (j->ut != NULL) {
    db->owner = j->task;
    crater__task_defer(j->task, &db->cleanup);
  } else {
    owner_ended(&db->cleanup); /* opened by a statement whose task is gone already */
  }
}

static int push_result(lua_State *L, sq_job *j);

static void after_work(uv_work_t *w, int status) {
  (void)status;
  sq_job *batch = w->data;
  crater__sqlite_db *db = batch->db;
  db->inflight = NULL;
  /* Jobs that ran are answered; those an open transaction kept from
   * running go back to the front of the queue, in their order. */
  sq_job *done = NULL, **done_tail = &done, *back = NULL, *back_last = NULL, *last = NULL;
  for (sq_job *j = batch, *next; j != NULL; j = next) {
    next = j->next;
    j->next = NULL;
    if (j->ran) {
      j->state = JOB_DONE;
      *done_tail = j;
      done_tail = &j->next;
      last = j;
    } else if (j->ut == NULL) {
      job_free(j);
    } else {
      j->state = JOB_QUEUED;
      if (back_last != NULL) back_last->next = j;
      else back = j;
      back_last = j;
    }
  }
  if (back != NULL) {
    back_last->next = db->queue;
    if (db->queue == NULL) db->queue_tail = back_last;
    db->queue = back;
  }
  db->resuming = 1;
  if (last != NULL) note_transaction(db, last); /* only the last may have left one open */
  while (done != NULL) {
    sq_job *j = done;
    done = j->next;
    crater__uthread *ut = j->ut; /* NULL when a resumed task killed its thread */
    if (ut != NULL) {
      int n = push_result(ut->L, j);
      job_free(j);
      crater__task_resume(ut, n);
    } else {
      job_free(j);
    }
  }
  db->resuming = 0;
  pump(db);
}

/* Starts the next jobs that may run, if the connection is free: the first
 * allowed one, and while nobody holds the connection, those after it. */
static void pump(crater__sqlite_db *db) {
  if (db->inflight != NULL) return;
  sq_job *prev = NULL, *j = db->queue;
  for (; j != NULL; prev = j, j = j->next) {
    if (db->held == HELD_NO) break;
    if (db->held == HELD_TASK && j->task == db->owner) break;
    if (db->held == HELD_ROLLBACK && j->task == NULL) break;
  }
  if (j == NULL) {
    if (db->dropped && db->queue == NULL && !db->resuming) db_free(db);
    return;
  }
  if (prev != NULL) prev->next = j->next;
  else db->queue = j->next;
  if (db->queue_tail == j) db->queue_tail = prev;
  sq_job *tail = j;
  if (db->held == HELD_NO) { /* j was the head: take the ones after it */
    for (int n = 1; n < MAX_BATCH && db->queue != NULL; n++) {
      tail->next = db->queue;
      tail = db->queue;
      db->queue = tail->next;
    }
    if (db->queue == NULL) db->queue_tail = NULL;
  }
  tail->next = NULL;
  for (sq_job *k = j; k != NULL; k = k->next) k->state = JOB_RUNNING;
  db->inflight = j;
  if (uv_queue_work(db->loop, &j->work, work_cb, after_work) != 0) {
    for (sq_job *k = j; k != NULL; k = k->next) {
      fail_msg(k, SQLITE_INTERNAL, "cannot queue work on the thread pool");
      k->autocommit = 1; /* nothing ran */
      k->ran = 1;
    }
    after_work(&j->work, 0);
  }
}

/* ===================================================================== */
/*  Lua                                                                     */
/* ===================================================================== */

static int push_result(lua_State *L, sq_job *j) {
  if (j->rc != 0) {
    lua_pushnil(L);
    lua_pushstring(L, code_name(j->rc));
    lua_pushstring(L, j->errmsg != NULL ? j->errmsg : sqlite3_errstr(j->rc));
    return 3;
  }
  const char *bytes = j->bytes.data;
  int ncols = j->ncols;
  /* Not luaL_checkstack: L may be a suspended coroutine, nothing to raise in. */
  if (!lua_checkstack(L, ncols + 8)) {
    lua_pushnil(L);
    lua_pushstring(L, "SQLITE_TOOBIG");
    lua_pushstring(L, "too many columns for a Lua stack");
    return 3;
  }
  lua_createtable(L, (int)j->nrows, 3);
  int rows = lua_gettop(L);
  for (int c = 0; c < ncols; c++)
    lua_pushlstring(L, bytes + j->cells[2 * c].i, j->cells[2 * c].len);
  const sq_value *v = j->cells + 2 * ncols;
  for (size_t r = 0; r < j->nrows; r++) {
    lua_createtable(L, 0, ncols);
    for (int c = 0; c < ncols; c++, v++) {
      lua_pushvalue(L, rows + 1 + c);
      switch (v->type) {
      case SQLITE_INTEGER:
        if (v->i <= MAX_EXACT && v->i >= -MAX_EXACT) {
          lua_pushnumber(L, (lua_Number)v->i);
        } else {
          char num[24];
          snprintf(num, sizeof(num), "%lld", (long long)v->i);
          lua_pushstring(L, num);
        }
        break;
      case SQLITE_FLOAT: lua_pushnumber(L, v->d); break;
      case SQLITE_TEXT:
      case SQLITE_BLOB: lua_pushlstring(L, bytes + v->i, v->len); break;
      default: lua_pushlightuserdata(L, NULL); break; /* crater.json.null */
      }
      lua_rawset(L, -3);
    }
    lua_rawseti(L, rows, (int)r + 1);
  }
  lua_settop(L, rows);
  lua_createtable(L, ncols, 0);
  for (int c = 0; c < ncols; c++) {
    lua_createtable(L, 0, 2);
    lua_pushlstring(L, bytes + j->cells[2 * c].i, j->cells[2 * c].len);
    lua_setfield(L, -2, "name");
    const sq_value *t = &j->cells[2 * c + 1];
    if (t->type == SQLITE_TEXT) lua_pushlstring(L, bytes + t->i, t->len);
    else lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "type");
    lua_rawseti(L, -2, c + 1);
  }
  lua_setfield(L, rows, "columns");
  lua_pushnumber(L, (lua_Number)j->changes);
  lua_setfield(L, rows, "affected_rows");
  if (j->has_id) {
    lua_pushnumber(L, (lua_Number)j->last_id);
    lua_setfield(L, rows, "last_insert_id");
  }
  return 1;
}

typedef struct {
  crater__sqlite_db *db;
} sq_handle;

static crater__sqlite_db *check_handle(lua_State *L) {
  sq_handle *h = luaL_checkudata(L, 1, HANDLE_MT);
  if (h->db == NULL) luaL_error(L, "crater.sqlite: the database is closed");
  return h->db;
}

/* Copies the parameters (stack index 3 on) into a new job. */
static sq_job *make_job(lua_State *L, crater__sqlite_db *db) {
  size_t sql_len;
  const char *sql = luaL_checklstring(L, 2, &sql_len);
  int n = lua_gettop(L) - 2;
  size_t extra = (size_t)n * sizeof(sq_value) + sql_len + 1;
  for (int i = 0; i < n; i++) {
    int idx = 3 + i, t = lua_type(L, idx);
    if (t == LUA_TSTRING) {
      extra += lua_objlen(L, idx);
    } else if (t == LUA_TLIGHTUSERDATA ? lua_touserdata(L, idx) != NULL
                                       : t != LUA_TNIL && t != LUA_TNUMBER && t != LUA_TBOOLEAN) {
      luaL_error(L, "parameter %d: cannot bind a %s (strings, numbers, booleans, nil, "
                    "crater.json.null and tables only)", i + 1, luaL_typename(L, idx));
    }
  }
  sq_job *j = job_new(db, extra);
  if (j == NULL) {
    luaL_error(L, "crater.sqlite: out of memory");
    return NULL;
  }
  char *mem = (char *)(j + 1);
  j->params = (sq_value *)mem;
  j->nparams = n;
  char *text = mem + (size_t)n * sizeof(sq_value);
  memcpy(text, sql, sql_len + 1);
  j->sql = text;
  j->sql_len = sql_len;
  text += sql_len + 1;
  for (int i = 0; i < n; i++) {
    int idx = 3 + i;
    sq_value *v = &j->params[i];
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      memcpy(text, s, len);
      v->type = SQLITE_TEXT;
      v->s = text;
      v->len = len;
      text += len;
      break;
    }
    case LUA_TNUMBER: {
      lua_Number x = lua_tonumber(L, idx);
      /* 2^63 is exact as a double; within it an integral value is an int64. */
      if (x >= -9223372036854775808.0 && x < 9223372036854775808.0 &&
          x == (lua_Number)(sqlite3_int64)x) {
        v->type = SQLITE_INTEGER;
        v->i = (sqlite3_int64)x;
      } else {
        v->type = SQLITE_FLOAT;
        v->d = x;
      }
      break;
    }
    case LUA_TBOOLEAN:
      v->type = SQLITE_INTEGER;
      v->i = lua_toboolean(L, idx);
      break;
    default: v->type = SQLITE_NULL; break;
    }
  }
  return j;
}

/* Outside any task nothing can wait: the statement runs now, on the loop
 * thread. On the shared connection when it is free; else on a side
 * connection to the file, kept while it holds a transaction. */
static int run_sync(lua_State *L, crater__sqlite_db *db, sq_job *j) {
  sqlite3 *conn = db->side;
  if (conn == NULL && db->inflight == NULL && (db->held == HELD_NO || db->held == HELD_SYNC)) {
    conn = db->conn;
  } else if (conn == NULL && db->key != NULL) {
    /* A transaction of this process's own requests cannot end while the
     * loop is blocked here: waiting for its lock would only delay the
     * error. */
    int own = db->held == HELD_TASK || db->held == HELD_ROLLBACK;
    char err[256];
    if (open_conn(db->key, own ? 0 : db->busy_ms, &db->side, err, sizeof(err)) != 0) {
      job_free(j);
      return luaL_error(L, "crater.sqlite: cannot open %s: %s", db->key, err);
    }
    conn = db->side;
  } else if (conn == NULL) {
    job_free(j);
    return luaL_error(L, "crater.sqlite: this in-memory database is busy with requests: "
                         "statements outside a request or timer cannot run now");
  }
  run_job(j, conn, conn == db->conn ? &db->cache : NULL);
  if ((j->rc & 0xff) == SQLITE_BUSY && conn == db->side && db->held == HELD_TASK) {
    crater__free(j->errmsg);
    j->errmsg = crater__strdup("database is locked by a request's transaction, which code outside "
                               "a request or timer cannot wait for (write from a timer instead)");
  }
  if (conn == db->side) {
    if (j->autocommit) {
      sqlite3_close(db->side);
      db->side = NULL;
    }
  } else if (!j->autocommit) {
    db->held = HELD_SYNC;
  } else if (db->held == HELD_SYNC) {
    db->held = HELD_NO;
  }
  int n = push_result(L, j);
  job_free(j);
  if (db->held == HELD_NO) pump(db); /* requests' statements that waited for it */
  return n;
}

/* query(handle, sql, ...) -> rows | nil, code name, message */
static int l_query(lua_State *L) {
  crater__gen *g = lua_touserdata(L, lua_upvalueindex(1));
  crater_server *srv = g->srv;
  crater__sqlite_db *db = check_handle(L);
  sq_job *j = make_job(L, db);
  if (crater__task_current(srv) == NULL) return run_sync(L, db, j);
  const char *why;
  crater__uthread *ut = crater__task_wait(srv, L, job_cancel, j, &why);
  if (ut == NULL) {
    job_free(j);
    return luaL_error(L, "db:query: %s", why);
  }
  j->ut = ut;
  j->task = ut->task;
  enqueue(db, j, 0);
  pump(db);
  return lua_yield(L, 0);
}

static crater__sqlite_db *db_new(crater_server *srv, const char *key, int busy_ms, char *err,
                                 size_t errsize) {
  crater__sqlite_db *db = crater__calloc(1, sizeof(*db));
  if (db == NULL || (key != NULL && (db->key = crater__strdup(key)) == NULL)) {
    crater__free(db);
    snprintf(err, errsize, "out of memory");
    return NULL;
  }
  db->srv = srv;
  db->loop = srv->loop;
  db->busy_ms = busy_ms;
  if (open_conn(key != NULL ? key : ":memory:", busy_ms, &db->conn, err, errsize) != 0) {
    db_free(db);
    return NULL;
  }
  return db;
}

/* The absolute path a relative one names, from the app's folder (the
 * current directory for an app loaded from a string). The folder must
 * exist; the file is made if missing. */
static void resolve(lua_State *L, crater__gen *g, const char *path, char *out, size_t size) {
  char joined[PATH_MAX + 1];
  int n;
  if (path[0] == '/' || g->from_string || g->app_path == NULL || strchr(g->app_path, '/') == NULL) {
    n = snprintf(joined, sizeof(joined), "%s", path);
  } else {
    const char *slash = strrchr(g->app_path, '/');
    n = snprintf(joined, sizeof(joined), "%.*s/%s", (int)(slash - g->app_path), g->app_path, path);
  }
  if (n < 0 || (size_t)n >= sizeof(joined)) luaL_error(L, "crater.sqlite.open: path too long");
  char *slash = strrchr(joined, '/');
  const char *base = slash != NULL ? slash + 1 : joined;
  char dir[PATH_MAX + 1];
  if (slash == NULL) snprintf(dir, sizeof(dir), ".");
  else if (slash == joined) snprintf(dir, sizeof(dir), "/");
  else snprintf(dir, sizeof(dir), "%.*s", (int)(slash - joined), joined);
  char real[PATH_MAX + 1];
  if (realpath(dir, real) == NULL)
    luaL_error(L, "crater.sqlite.open: %s: the folder %s: %s", path, dir, strerror(errno));
  n = snprintf(out, size, "%s/%s", strcmp(real, "/") == 0 ? "" : real, base);
  if (n < 0 || (size_t)n >= size) luaL_error(L, "crater.sqlite.open: path too long");
}

/* open(path, busy_timeout_ms) -> handle; path ":memory:" for a private
 * in-memory database. */
static int l_open(lua_State *L) {
  crater__gen *g = lua_touserdata(L, lua_upvalueindex(1));
  crater_server *srv = g->srv;
  const char *path = luaL_checkstring(L, 1);
  lua_Number busy = luaL_optnumber(L, 2, 5000);
  if (!(busy >= 0) || busy > INT_MAX) return luaL_argerror(L, 2, "busy_timeout must be 0 .. 2^31 ms");
  sq_handle *h = lua_newuserdata(L, sizeof(*h));
  h->db = NULL;
  luaL_getmetatable(L, HANDLE_MT);
  lua_setmetatable(L, -2);
  char err[256];
  if (strcmp(path, ":memory:") == 0) {
    h->db = db_new(srv, NULL, (int)busy, err, sizeof(err));
    if (h->db == NULL) return luaL_error(L, "crater.sqlite.open: :memory:: %s", err);
    return 1;
  }
  char key[PATH_MAX + 2];
  resolve(L, g, path, key, sizeof(key));
  for (crater__sqlite_db *db = srv->sqlite_dbs; db != NULL; db = db->next) {
    if (strcmp(db->key, key) == 0) {
      h->db = db;
      lua_pushstring(L, key);
      return 2;
    }
  }
  crater__sqlite_db *db = db_new(srv, key, (int)busy, err, sizeof(err));
  if (db == NULL) return luaL_error(L, "crater.sqlite.open: cannot open %s: %s", key, err);
  db->next = srv->sqlite_dbs;
  srv->sqlite_dbs = db;
  h->db = db;
  lua_pushstring(L, key);
  return 2;
}

/* A private in-memory database goes with its handle (once idle); a file's
 * connection stays with the server. */
static int l_gc(lua_State *L) {
  sq_handle *h = lua_touserdata(L, 1);
  crater__sqlite_db *db = h->db;
  h->db = NULL;
  if (db == NULL || db->key != NULL) return 0;
  db->dropped = 1;
  if (db->inflight == NULL && db->queue == NULL && !db->resuming) db_free(db);
  return 0;
}

void crater__sqlite_close_all(crater_server *srv) {
  crater__sqlite_db *db = srv->sqlite_dbs;
  srv->sqlite_dbs = NULL;
  while (db != NULL) {
    crater__sqlite_db *next = db->next;
    db->srv = NULL;
    db->dropped = 1;
    if (db->inflight != NULL) sqlite3_interrupt(db->conn); /* the process is stopping */
    else if (db->queue == NULL) db_free(db);
    db = next;
  }
}

int crater__sqlite_open(lua_State *L) {
  crater__gen *g = lua_touserdata(L, lua_upvalueindex(1));
  if (luaL_newmetatable(L, HANDLE_MT)) {
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  lua_createtable(L, 0, 2);
  lua_pushlightuserdata(L, g);
  lua_pushcclosure(L, l_open, 1);
  lua_setfield(L, -2, "open");
  lua_pushlightuserdata(L, g);
  lua_pushcclosure(L, l_query, 1);
  lua_setfield(L, -2, "query");
  return 1;
}
