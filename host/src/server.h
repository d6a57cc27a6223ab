/* server.h - server.c: the crater_server object (its fields are read by the
 * other parts of the core), its listeners and its shutdown. */
#ifndef CRATER_SERVER_H
#define CRATER_SERVER_H

#include "crater.h"
#include "http.h"

typedef struct crater__gen crater__gen;
typedef struct crater__conn crater__conn;
typedef struct crater__request crater__request;
typedef struct crater__inject_job crater__inject_job;

#define CRATER__MAX_LISTENERS 16

struct crater_server {
  uv_loop_t *loop;               /* the caller's; not owned */
  crater_config cfg;             /* private copy; string fields point at owned copies below */
  char *lua_path;                /* owned copy of cfg.lua_path */
  char *upload_dir;              /* owned copy of cfg.upload_dir, or NULL */

  /* Lua (reload.c owns the generations). New requests go to gen; a replaced
   * generation lives on, retiring, while requests in flight pin it, and is
   * closed by reload.c when the last one ends. */
  crater__gen *gen;
  uint64_t gen_count;            /* generations loaded so far */
  char *stale_error;             /* why the last load failed while an older generation
                                    serves (--dev answers it); NULL once a load succeeds */
  struct crater__uthread *current; /* the light thread whose Lua runs right now, or NULL
                                    (task.c) */
  struct crater__uthread *wakes; /* light threads to resume once the Lua running now returns */
  int specs_running;             /* crater test's specs run (load.c): the loop is not */

  /* Background timers (timer.c). */
  struct crater__timer *timers;  /* pending */
  int ntimers;
  uint64_t timer_ids;            /* ids given so far */
  struct timer_run *timer_runs;  /* runs going on; crater_close waits for them */
  int ntimer_runs;

  /* Sockets. */
  uv_tcp_t *listeners[CRATER__MAX_LISTENERS];
  int nlisteners;
  crater__conn *conns;           /* open connections (doubly linked) */
  crater__conn *free_conns;      /* closed ones kept for reuse: Lua may hold a
                                    stale (request, seq) pair of their request, so
                                    memory of a conn stays valid until crater_free() */
  uv_tcp_t drop_tcp;             /* accepts a connection there was no memory for, to
                                    close it at once (see crater__conn_accept) */
  int drop_busy;                 /* drop_tcp is closing */
  uv_tcp_t *drop_pending;        /* a listener left holding a connection meanwhile */
  char *read_buf;                /* shared by all connections: parsed before read_cb returns */

  /* Injected requests (inject.c). */
  crater__request *free_requests;/* the pool of their requests (request.c) */
  crater__inject_job *jobs;      /* crater_inject() jobs queued or in flight */
  int injecting;                 /* how many; crater_close() waits for them */

  /* Shutdown. */
  int closing;                   /* crater_close() was called */
  int closed;                    /* its close callback ran (or is running) */
  int open_handles;              /* listeners + drop handle + grace timer still closing */
  uv_timer_t grace_timer;
  crater_close_cb close_cb;

  /* Embedding (register.c). */
  struct crater__registry *registry; /* C modules to preload into every new Lua state */

  /* SQLite connections, one per database file, shared by the generations
   * (sqlite.c); closed with the server. */
  struct crater__sqlite_db *sqlite_dbs;

  /* The deflate state whole answers are gzip'd with (compress.c): made on
   * the first, reset for each next; freed with the server. */
  struct crater__zcache *zcache;

  /* The stuck-run watchdog's thread (watchdog.c), or NULL when off. */
  struct crater__watchdog *watchdog;

  crater_stats stats;
  void *data;                    /* the embedder's, see crater_set_data() */
  crater__http_date date;
  char last_error[2048];

  /* Idle keep-alive connections, least recently used first (conn_idle.c). */
  crater__conn *idle_head, *idle_tail;

  /* Lua runs inside a protected call (lua_resume, lua_pcall) started from
   * C at the current level: the VMs' allocators may fail then (vm_mem.c).
   * C code that starts a request from inside Lua zeroes it meanwhile. */
  int lua_armed;
};

/* conn.c tells the server a connection's handles are closed. */
void crater__server_conn_closed(crater_server *srv, crater__conn *c);
/* Something that may end a shutdown happened (a connection or an
 * injection finished). */
void crater__server_maybe_done(crater_server *srv);

#endif
