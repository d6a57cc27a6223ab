/* server.h - the server object shared by server.c, conn.c and vm.c. */
#ifndef CRATER_SERVER_H
#define CRATER_SERVER_H

#include <stdarg.h>

#include "crater.h"
#include "http.h"

typedef struct crater__gen crater__gen;
typedef struct crater__conn crater__conn;

#define CRATER__MAX_LISTENERS 16

struct crater_server {
  uv_loop_t *loop;               /* the caller's; not owned */
  crater_config cfg;             /* private copy; string fields point at owned copies below */
  char *lua_path;                /* owned copy of cfg.lua_path */

  /* Lua: the generation new requests go to. Older ones live on while they
   * have requests in flight (each holds a reference). */
  crater__gen *gen;
  uint64_t gen_count;            /* generations loaded so far */

  /* Sockets. */
  uv_tcp_t *listeners[CRATER__MAX_LISTENERS];
  int nlisteners;
  crater__conn *conns;           /* open connections (doubly linked) */
  crater__conn *free_conns;      /* closed ones kept for reuse: Lua may hold a
                                    stale (conn, seq) pair, so memory of a conn
                                    stays valid until crater_free() */

  /* Shutdown. */
  int closing;                   /* crater_close() was called */
  int open_handles;              /* listeners + grace timer still closing */
  uv_timer_t grace_timer;
  crater_close_cb close_cb;

  char *read_buf;                /* shared by all connections: parsed before read_cb returns */

  /* Embedding (register.c, inject.c). */
  struct crater__registry *registry; /* C modules to preload into every new Lua state */
  int injecting;                 /* crater_inject() jobs queued; crater_close() waits for them */

  crater_stats stats;
  void *data;                    /* the embedder's, see crater_set_data() */
  crater__http_date date;
  char last_error[2048];

  /* Hot reload (reload.c). */
  char *stale_error;             /* why the last crater_reload() failed while an older
                                    generation serves; NULL once a load succeeds */
};

void crater__log(crater_server *srv, crater_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void crater__set_error(crater_server *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Called by conn.c when a connection's handles are closed. */
void crater__server_conn_closed(crater_server *srv, crater__conn *c);
/* Called when something that may end a shutdown happened. */
void crater__server_maybe_done(crater_server *srv);

/* The directory of the crater/ Lua modules (luadir.c). */
char *crater__lua_dir(const char *configured); /* owned copy, NULL: out of memory */

#endif
