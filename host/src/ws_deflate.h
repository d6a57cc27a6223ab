/* ws_deflate.h - ws_deflate.c: permessage-deflate (RFC 7692) for ws.c, no
 * I/O: the offer in Sec-WebSocket-Extensions read and answered (7.1), and
 * a message inflated (bounded by the message limit, so a zip bomb stops
 * where the limit is) or deflated with zlib's raw deflate.
 *
 * zlib's state is made when the first message needs it, so an idle socket
 * costs nothing; deflate then holds about 2^(window+2) + 2^(memlevel+9)
 * bytes, inflate 2^window, plus some 7 KiB each (docs/websockets.md). */
#ifndef CRATER_WS_DEFLATE_H
#define CRATER_WS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* What a route allows (app:websocket's `deflate`). */
typedef struct {
  int level;            /* 1..9 */
  int memlevel;         /* 1..9 */
  int max_window_bits;  /* 9..15: our window, and the client's when it lets us choose */
} crater__ws_deflate_opts;

/* What was agreed. */
typedef struct {
  int server_bits;        /* the window we deflate with */
  int client_bits;        /* the window we inflate with */
  int server_no_takeover; /* our context is reset after each message */
  int client_no_takeover; /* so is the client's */
} crater__ws_pmd_params;

/* Reads one Sec-WebSocket-Extensions value (a list of offers): the first
 * permessage-deflate offer that is well formed and that we can honour is
 * taken. Returns 1 with *p and the response's value in resp (NUL ended),
 * or 0: nothing to accept (an unknown parameter, a duplicate, a bad value
 * declines that offer, never the handshake). */
int crater__ws_pmd_negotiate(const char *v, size_t n, const crater__ws_deflate_opts *o,
                             crater__ws_pmd_params *p, char *resp, size_t resp_cap);

typedef struct crater__ws_pmd crater__ws_pmd;

crater__ws_pmd *crater__ws_pmd_new(const crater__ws_pmd_params *p, const crater__ws_deflate_opts *o);
void crater__ws_pmd_free(crater__ws_pmd *z);

/* Inflates n more bytes of a compressed message onto out (fin: its last
 * frame). Stops as soon as out would pass limit. Returns 0, -1007 for
 * data that is not deflate, -1009 past the limit, -1011 out of memory. */
int crater__ws_pmd_inflate(crater__ws_pmd *z, const unsigned char *p, size_t n, int fin,
                           crater__buf *out, uint64_t limit);

/* Deflates a whole message onto out, as the payload of a frame with RSV1.
 * Returns 0, or -1 out of memory (the context is then lost: close). */
int crater__ws_pmd_deflate(crater__ws_pmd *z, const char *p, size_t n, crater__buf *out);

#endif
