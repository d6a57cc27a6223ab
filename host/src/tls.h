/* tls.h - tls.c: the client side of TLS over a connection the caller
 * drives (OpenSSL through memory BIOs): the caller feeds it the bytes it
 * reads and sends the bytes it gives out, on its own loop. socket.c's
 * sslhandshake is its user. No call blocks, and none touches a socket.
 *
 * Error messages are written to err (errlen bytes, NUL-terminated):
 * "certificate verify failed: REASON" when the peer's certificate was
 * refused, else "handshake failed: REASON" or "tls: REASON" (REASON is
 * OpenSSL's). */
#ifndef CRATER_TLS_H
#define CRATER_TLS_H

#include <stddef.h>

#include "buf.h"

typedef struct crater__tls crater__tls;
typedef struct ssl_ctx_st crater__tls_ctx; /* OpenSSL's SSL_CTX */

/* Results of crater__tls_handshake and crater__tls_read. */
enum {
  CRATER__TLS_ERROR = -1, /* failed: see err */
  CRATER__TLS_MORE = 0,   /* needs more input (send the output first) */
  CRATER__TLS_DONE = 1,   /* handshake: complete */
  CRATER__TLS_EOF = 2     /* read: the peer closed the TLS session */
};

/* A client context trusting cafile's certificates (NULL: the system's CA
 * store), or NULL with a message when they cannot be loaded. Loading a CA
 * store takes milliseconds: make one and keep it. Freeing it is safe while
 * sessions made with it live (each holds a reference). */
crater__tls_ctx *crater__tls_context_new(const char *cafile, char *err, size_t errlen);
void crater__tls_context_free(crater__tls_ctx *ctx);

/* A session with ctx: server_name (or NULL) goes in SNI and, with verify,
 * must match the certificate; without verify nothing is checked. NULL with
 * a message when out of memory. */
crater__tls *crater__tls_new(crater__tls_ctx *ctx, const char *server_name, int verify, char *err,
                             size_t errlen);
void crater__tls_free(crater__tls *t);

/* Advances the handshake: CRATER__TLS_DONE, _MORE or _ERROR. */
int crater__tls_handshake(crater__tls *t, char *err, size_t errlen);

/* 1 once the handshake is complete. */
int crater__tls_ready(const crater__tls *t);

/* Bytes read from the connection. Returns 0, or -1 when out of memory. */
int crater__tls_feed(crater__tls *t, const char *data, size_t len);

/* Decrypts what was fed into plain (appended): CRATER__TLS_MORE once all
 * of it is, _EOF when the peer closed the session, _ERROR. */
int crater__tls_read(crater__tls *t, crater__buf *plain, char *err, size_t errlen);

/* Encrypts data; the result waits in the output. Returns 0 or -1 (err). */
int crater__tls_write(crater__tls *t, const char *data, size_t len, char *err, size_t errlen);

/* Moves what must be sent to the connection into out (appended). Returns
 * 0, or -1 when out of memory. */
int crater__tls_output(crater__tls *t, crater__buf *out);

#endif
