/* conn.h - one client connection: reading, HTTP/1.1 parsing with llhttp,
 * keep-alive, pipelining, limits, timeouts and writing. */
#ifndef CRATER_CONN_H
#define CRATER_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "buf.h"
#include "server.h"
#include "vm.h"

typedef struct {
  uint32_t name_off, name_len;  /* into conn->head */
  uint32_t value_off, value_len;
} crater__header;

/* Connection states: what the next bytes from the client are. */
enum { CONN_IDLE = 0, CONN_HEAD, CONN_BODY, CONN_LINGER };

/* Connection flags: CONN_F_* bits of crater__conn.flags. */
#define CONN_F_WRITING      0x01u  /* a uv_write is in flight */
#define CONN_F_CLOSE_AFTER  0x02u  /* close once out is written */
#define CONN_F_CLOSED       0x04u  /* uv_close called on the handles */
#define CONN_F_READ_STOPPED 0x08u  /* reading paused for backpressure */
#define CONN_F_KEEPALIVE    0x10u  /* the request being answered keeps the connection */
#define CONN_F_FINISH       0x20u  /* write what is queued, then lingering close */
#define CONN_F_STREAMING    0x40u  /* a handler is streaming the body; parsing is paused */
#define CONN_F_STREAM_WAIT  0x80u  /* the stream resumes when the current write completes */
#define CONN_F_EOF          0x100u /* the client half-closed: answer what it sent, then close */

struct crater__conn {
  uv_tcp_t tcp;                 /* handle.data points back here */
  uv_timer_t timer;
  uint64_t deadline;  /* loop time the current timeout ends (see arm() in conn.c) */
  uint64_t timer_due; /* loop time the timer is set to fire: <= deadline */             /* header/body read timeout, then idle timeout */
  crater_server *srv;
  crater__conn *next, *prev;    /* server's open list, or its free list (next only) */
  llhttp_t parser;
  unsigned flags;               /* CONN_F_* */
  int state;                    /* CONN_* */
  int closing_handles;          /* handles whose close callback is pending */
  int in_parser;                /* inside llhttp_execute: callbacks must not re-enter it */
  uint64_t seq;                 /* request number on this connection; Lua bindings check it */

  /* The request being parsed. */
  crater__buf head;             /* URL, then header names and values back to back */
  size_t url_len;
  crater__header *headers;
  int nheaders, capheaders;
  int in_value;                 /* the last header callback was a value */
  crater__buf body;
  int refuse;                   /* status to answer instead of dispatching (413, 431) */
  const char *refuse_why;

  /* Output. */
  crater__buf out;              /* responses waiting to be written, in request order */
  crater__buf wbuf;             /* bytes of the write in flight */
  uv_write_t wreq;
  uv_shutdown_t sreq;

  /* A streamed response (CONN_F_STREAMING): the suspended coroutine, the
   * generation it runs on (referenced), and input that arrived after the
   * request and waits until the stream ends (pipelining). */
  crater__response stream;
  crater__gen *stream_gen;
  int stream_chunked;           /* 1: Transfer-Encoding: chunked; 0: body ends at close (HTTP/1.0) */
  int stream_head_only;         /* HEAD: run the stream, send no body */
  crater__buf pending;

  char peer[64];                /* "ip:port" of the client */
  int fd;                       /* the socket, for send(2) (see try_send in conn.c); -1: none */
};

/* Accepts one pending connection on listener (server.c's connection callback). */
void crater__conn_accept(crater_server *srv, uv_stream_t *listener);

/* A zeroed conn from the server's free list (its seq kept counting, so
 * stale Lua handles stay stale) or a new one; NULL when out of memory. */
crater__conn *crater__conn_pooled(crater_server *srv);

/* Asks the connection to finish what it is doing and close (shutdown). */
void crater__conn_drain(crater__conn *c);
/* Closes now, whatever it is doing (end of grace period). */
void crater__conn_close(crater__conn *c);

/* Request data for the Lua bindings; each returns -1 for a stale seq. */
int crater__conn_valid(const crater__conn *c, uint64_t seq);
int crater__conn_nheaders(const crater__conn *c);
void crater__conn_header(const crater__conn *c, int i, const char **name, size_t *nlen,
                         const char **value, size_t *vlen);
const char *crater__conn_body(const crater__conn *c, size_t *len);

#endif
