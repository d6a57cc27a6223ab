/* conn.h - conn.c: one client connection, the socket transport: reading,
 * HTTP/1.1 parsing with llhttp, keep-alive, pipelining, limits, timeouts,
 * and writing the answers the pipeline gives it (its sink). */
#ifndef CRATER_CONN_H
#define CRATER_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "buf.h"
#include "request.h"
#include "server.h"
#include "strict.h"

/* Connection states: what the next bytes from the client are. */
enum { CONN_IDLE = 0, CONN_HEAD, CONN_BODY, CONN_LINGER };

/* Connection flags: CONN_F_* bits of crater__conn.flags. */
#define CONN_F_WRITING      0x01u  /* a uv_write is in flight */
#define CONN_F_CLOSE_AFTER  0x02u  /* close once out is written */
#define CONN_F_CLOSED       0x04u  /* uv_close called on the handles */
#define CONN_F_READ_STOPPED 0x08u  /* reading paused (backpressure) */
#define CONN_F_KEEPALIVE    0x10u  /* the request being answered keeps the connection */
#define CONN_F_FINISH       0x20u  /* write what is queued, then lingering close */
#define CONN_F_INFLIGHT     0x40u  /* a request is being answered; parsing is paused */
#define CONN_F_DRAIN_WAIT   0x80u  /* a streamed body resumes when the current write completes */
#define CONN_F_EOF          0x100u /* the client half-closed: answer what it sent, then close */
#define CONN_F_CHUNKED      0x200u /* the streamed body in progress is chunked */
#define CONN_F_NO_BODY      0x400u /* the answer in progress sends no body (HEAD, 204, 304) */
#define CONN_F_OUT_FULL     0x800u /* parsing paused until the unsent answers drain */
#define CONN_F_GONE         0x1000u /* closed, but its streamed request runs on: see crater__pipeline_gone */
#define CONN_F_CORK         0x2000u /* a WebSocket's input is being handled: its frames out wait for its end */

struct crater__conn {
  uv_tcp_t tcp;                 /* handle.data points back here */
  uv_timer_t timer;             /* header/body read timeout, then idle timeout */
  uint64_t deadline;            /* loop time the current timeout ends (see arm() in conn.c) */
  uint64_t timer_due;           /* loop time the timer is set to fire: <= deadline */
  crater_server *srv;
  crater__conn *next, *prev;    /* server's open list, or its free list (next only) */
  llhttp_t parser;
  unsigned flags;               /* CONN_F_* */
  int state;                    /* CONN_* */
  int closing_handles;          /* handles whose close callback is pending */
  int in_parser;                /* inside llhttp_execute: callbacks must not re-enter it */

  /* The request: filled by the parser callbacks, answered by the pipeline
   * (while in flight, parsing is paused and later input waits in pending). */
  crater__request req;
  int in_value;                 /* the last header callback was a value */
  crater__strict strict;        /* what the checks of strict.c need to see of the message */
  int refuse;                   /* status to answer instead of dispatching (413, 431, ...) */
  const char *refuse_why;

  /* Output. */
  crater__buf out;              /* answers waiting to be written, in request order */
  crater__buf wbuf;             /* bytes of the write in flight */
  /* A shutdown starts only once no write is under way (finish_and_close),
   * and libuv refuses a write after it before touching the request: the
   * two never live at once, so they share their memory (80 bytes of every
   * connection, idle WebSockets included). */
  union {
    uv_write_t wreq;
    uv_shutdown_t sreq;
  };
  crater__buf pending;          /* input read while a request was in flight */

  int fd;                       /* the socket, for send(2) (see try_send in conn.c); -1: none */

  /* The send timeout (send_watch in conn.c): a timer made at the first
   * uv_write that did not fit, ticking while one is under way. */
  uv_timer_t *wtimer;           /* NULL until then; freed once the handles are closed */
  size_t unsent;                /* libuv's write queue when progress was last seen */
  uint64_t sent_at;             /* loop time of the last progress */

  /* On the server's list of idle keep-alive connections (conn_idle.c). */
  crater__conn *idle_next, *idle_prev;
  int idle_linked;

  /* The WebSocket its request upgraded to (ws.h), or NULL: input goes
   * there, and the request's end closes the connection. */
  struct crater__ws *ws;
};

/* Accepts one pending connection on listener (server.c's connection callback). */
void crater__conn_accept(crater_server *srv, uv_stream_t *listener);

/* Asks the connection to finish what it is doing and close (shutdown). */
void crater__conn_drain(crater__conn *c);
/* Closes now, whatever it is doing (end of grace period); a request that
 * outlived its closed socket (crater__pipeline_gone) is stopped too. */
void crater__conn_close(crater__conn *c);
/* Frees the server's closed connections (crater_free). */
void crater__conn_pool_free(crater_server *srv);

#endif
