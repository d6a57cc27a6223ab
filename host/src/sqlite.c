/* sqlite.c - SQLite on libuv's thread pool (see sqlite.h).
 *
 * A statement is a job: its SQL and parameters are copied on the loop
 * thread, a pool thread prepares, binds and steps it into plain C memory
 * (sqlite_run.c),
 * and the loop thread (the after-work callback) turns that into Lua tables
 * on the waiting coroutine. Pool threads never touch a lua_State. A
 * connection runs one job at a time (SQLite connections are opened without
 * their own mutex: the queue is the lock), so a transaction opened by one
 * task must keep the others' jobs queued until it ends: the connection is
 * "held" by that task, and the task's end rolls back what it left open.
 * Jobs queued together cross to the pool as one batch (one thread hop
 * under load), and the connection keeps its prepared statements by SQL.
 *
 * Code outside any task (the app's file while it loads, on_start, a
 * `crater test` spec's own code) cannot wait: its statements run at once
 * on the loop thread, on the shared connection when it is idle, else on a
 * side connection to the same file. */
#include "sqlite.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
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
#include "sqlite_run.h"
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
  crater__sqlite_cache cache;                /* conn's statements */
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
  crater__sqlite_exec x;         /* its SQL and parameters; its outcome (pool thread) */
};

static void work_cb(uv_work_t *w) {
  sq_job *first = w->data;
  crater__sqlite_db *db = first->db;
  for (sq_job *j = first; j != NULL; j = j->next) {
    if (atomic_load(&j->cancelled)) continue;
    crater__sqlite_run(&j->x, db->conn, &db->cache);
    j->ran = 1;
    if (!j->x.autocommit) break; /* a transaction is open: the others wait for its end */
  }
}

/* ===================================================================== */
/*  Connections and their queue                                            */
/* ===================================================================== */

static void job_free(sq_job *j);

static void db_free(crater__sqlite_db *db) {
  crater__task_undefer(&db->cleanup);
  if (db->rollback != NULL) job_free(db->rollback);
  crater__sqlite_cache_clear(&db->cache); /* before close: open statements keep a connection open */
  sqlite3_close(db->side);
  sqlite3_close(db->conn);
  crater__free(db->key);
  crater__free(db);
}

static void job_free(sq_job *j) {
  crater__sqlite_exec_free(&j->x);
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
  if (j->x.autocommit) {
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
  rb->x.sql = rollback_sql;
  rb->x.sql_len = sizeof(rollback_sql) - 1;
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
      crater__sqlite_fail(&k->x, SQLITE_INTERNAL, "cannot queue work on the thread pool");
      k->x.autocommit = 1; /* nothing ran */
      k->ran = 1;
    }
    after_work(&j->work, 0);
  }
}

/* ===================================================================== */
/*  Lua                                                                     */
/* ===================================================================== */

static int push_result(lua_State *L, sq_job *j) {
  if (j->x.rc != 0) {
    lua_pushnil(L);
    lua_pushstring(L, crater__sqlite_code_name(j->x.rc));
    lua_pushstring(L, j->x.errmsg != NULL ? j->x.errmsg : sqlite3_errstr(j->x.rc));
    return 3;
  }
  const char *bytes = j->x.bytes.data;
  int ncols = j->x.ncols;
  /* Not luaL_checkstack: L may be a suspended coroutine, nothing to raise in. */
  if (!lua_checkstack(L, ncols + 8)) {
    lua_pushnil(L);
    lua_pushstring(L, "SQLITE_TOOBIG");
    lua_pushstring(L, "too many columns for a Lua stack");
    return 3;
  }
  lua_createtable(L, (int)j->x.nrows, 3);
  int rows = lua_gettop(L);
  for (int c = 0; c < ncols; c++)
    lua_pushlstring(L, bytes + j->x.cells[2 * c].i, j->x.cells[2 * c].len);
  const crater__sqlite_value *v = j->x.cells + 2 * ncols;
  for (size_t r = 0; r < j->x.nrows; r++) {
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
    lua_pushlstring(L, bytes + j->x.cells[2 * c].i, j->x.cells[2 * c].len);
    lua_setfield(L, -2, "name");
    const crater__sqlite_value *t = &j->x.cells[2 * c + 1];
    if (t->type == SQLITE_TEXT) lua_pushlstring(L, bytes + t->i, t->len);
    else lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "type");
    lua_rawseti(L, -2, c + 1);
  }
  lua_setfield(L, rows, "columns");
  lua_pushnumber(L, (lua_Number)j->x.changes);
  lua_setfield(L, rows, "affected_rows");
  if (j->x.has_id) {
    lua_pushnumber(L, (lua_Number)j->x.last_id);
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
  size_t extra = (size_t)n * sizeof(crater__sqlite_value) + sql_len + 1;
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
  j->x.params = (crater__sqlite_value *)mem;
  j->x.nparams = n;
  char *text = mem + (size_t)n * sizeof(crater__sqlite_value);
  memcpy(text, sql, sql_len + 1);
  j->x.sql = text;
  j->x.sql_len = sql_len;
  text += sql_len + 1;
  for (int i = 0; i < n; i++) {
    int idx = 3 + i;
    crater__sqlite_value *v = &j->x.params[i];
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
    if (crater__sqlite_connect(db->key, own ? 0 : db->busy_ms, &db->side, err, sizeof(err)) != 0) {
      job_free(j);
      return luaL_error(L, "crater.sqlite: cannot open %s: %s", db->key, err);
    }
    conn = db->side;
  } else if (conn == NULL) {
    job_free(j);
    return luaL_error(L, "crater.sqlite: this in-memory database is busy with requests: "
                         "statements outside a request or timer cannot run now");
  }
  crater__sqlite_run(&j->x, conn, conn == db->conn ? &db->cache : NULL);
  if ((j->x.rc & 0xff) == SQLITE_BUSY && conn == db->side && db->held == HELD_TASK) {
    crater__free(j->x.errmsg);
    j->x.errmsg = crater__strdup("database is locked by a request's transaction, which code outside "
                               "a request or timer cannot wait for (write from a timer instead)");
  }
  if (conn == db->side) {
    if (j->x.autocommit) {
      sqlite3_close(db->side);
      db->side = NULL;
    }
  } else if (!j->x.autocommit) {
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
  if (crater__sqlite_connect(key != NULL ? key : ":memory:", busy_ms, &db->conn, err, errsize) != 0) {
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
