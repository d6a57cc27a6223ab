/* client.h - a one-request HTTP client on a libuv loop, for the C specs:
 * connects to 127.0.0.1:port, sends a request with Connection: close and
 * reads until the server closes. Also a parser for what it got. */
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

/* Runs the loop until *flag is set or nothing is left to run. */
void spec_run_until(uv_loop_t *loop, const int *flag);

#endif
