/* ws_frame.h - ws_frame.c: WebSocket frames (RFC 6455 5), no I/O: reading
 * a client frame's head, unmasking, writing a server frame's head, and
 * checking text as UTF-8 piece by piece (a message may be split anywhere,
 * even inside a character). */
#ifndef CRATER_WS_FRAME_H
#define CRATER_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Opcodes (RFC 6455 5.2). */
enum {
  CRATER__WS_CONT = 0x0,
  CRATER__WS_TEXT = 0x1,
  CRATER__WS_BINARY = 0x2,
  CRATER__WS_CLOSE = 0x8,
  CRATER__WS_PING = 0x9,
  CRATER__WS_PONG = 0xA
};

/* A server frame's head is at most this long (no mask). */
#define CRATER__WS_HEAD_MAX 10

typedef struct {
  int fin;
  int rsv1;                /* permessage-deflate's "compressed" bit: ws.c decides */
  int opcode;              /* CRATER__WS_* */
  unsigned char mask[4];
  uint64_t len;            /* payload bytes */
} crater__ws_head;

/* Reads a client frame's head from the n bytes at p. Returns its length
 * (the payload follows), 0 when more bytes are needed, or minus the close
 * code the frame deserves: -1002 for RSV2 or RSV3 (no extension uses
 * them), an unknown opcode, a control frame that is fragmented, longer
 * than 125 bytes or has RSV1 (RFC 7692 6: never compressed), a frame without a mask (clients must mask, 5.1)
 * or a length with its top bit set; -1009 for a payload over max_len. */
int crater__ws_head_read(const unsigned char *p, size_t n, uint64_t max_len, crater__ws_head *h);

/* XORs n bytes at p with mask, p being the payload's bytes from offset on. */
void crater__ws_unmask(unsigned char *p, size_t n, const unsigned char mask[4], uint64_t offset);

/* Writes a server frame's head (unmasked) to out; returns its length. */
size_t crater__ws_head_write(unsigned char out[CRATER__WS_HEAD_MAX], int fin, int opcode, uint64_t len);

/* UTF-8 checked as it arrives: what the last piece left unfinished. */
typedef struct {
  unsigned need;           /* continuation bytes still expected */
  unsigned char lo, hi;    /* the next byte's range (overlongs, surrogates, > U+10FFFF) */
} crater__ws_utf8;

/* Checks n more bytes. Returns 0, or -1 at the first byte that can start
 * no valid text: it fails as early as the bytes allow. */
int crater__ws_utf8_feed(crater__ws_utf8 *u, const unsigned char *p, size_t n);

/* 1 when what was fed ends on a whole character. */
static inline int crater__ws_utf8_complete(const crater__ws_utf8 *u) { return u->need == 0; }

/* 1 when code is one a peer may send in a close frame (7.4). */
int crater__ws_close_code_ok(unsigned code);

#endif
