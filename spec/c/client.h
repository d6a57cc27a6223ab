/* client.h - a one-request HTTP client on a libuv loop, for the C specs:
 * connects to 127.0.0.1:port, sends a request with Connection: close and
 * reads until the server closes. A plain socket beside the loop, for
 * byte-level control. Also a parser for what they got. */
#ifndef CRATER_SPEC_CLIENT_H
#define CRATER_SPEC_CLIENT_H

#include <stddef.h>
#include <uv.h>

typedef struct {
  int done;          /* 1 once the connection closed */
  int error;         /* a libuv error, 0 if none */
  char *data;        /* everything received */
  size_t len;
  /* private */
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t wreq;
  char *req;
} spec_client;

/* Starts the request; run the loop until c->done. */
void spec_client_start(spec_client *c, uv_loop_t *loop, int port, const char *method,
                       const char *path, const char *headers, const char *body);
void spec_client_free(spec_client *c);

/* Sends raw bytes as they are (pipelined requests, say) and reads until
 * the server closes. */
void spec_client_start_raw(spec_client *c, uv_loop_t *loop, int port, const char *raw);

/* Closes the connection with a reset (SO_LINGER 0): a client gone at once. */
void spec_client_reset(spec_client *c);

/* Splits a response: status, a header's value (copied into out, "" when
 * absent) and the body (de-chunked when chunked, into out). */
int spec_response_status(const char *raw);
void spec_response_header(const char *raw, const char *name, char *out, size_t cap);
size_t spec_response_body(const char *raw, size_t len, char *out, size_t cap);

/* A blocking client socket on loopback, driven beside the server's loop on
 * the same thread: each call sends or reads, then runs the loop without
 * blocking, so the server sees every send as its own read. */
typedef struct {
  int fd;            /* -1 once closed */
  int eof;           /* the server closed (or reset) the connection */
  char *data;        /* everything received, NUL-terminated */
  size_t len;
} spec_sock;

/* Connects (the kernel completes it before the server accepts). 0 or -1. */
int spec_sock_open(spec_sock *s, int port);
/* Sends len bytes in one write, then lets the loop take them. */
void spec_sock_send(spec_sock *s, uv_loop_t *loop, const char *data, size_t len);
/* Runs the loop and reads until data holds want (NULL: until the server
 * closes), for at most ms. Returns 1 when it does, 0 on timeout or when
 * the server closed without it. */
int spec_sock_wait(spec_sock *s, uv_loop_t *loop, const char *want, uint64_t ms);
/* Closes the socket and frees data. */
void spec_sock_close(spec_sock *s);

/* Runs the loop until *flag is set or nothing is left to run. */
void spec_run_until(uv_loop_t *loop, const int *flag);

#endif
