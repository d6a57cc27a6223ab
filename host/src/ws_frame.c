/* ws_frame.c - WebSocket frames (see ws_frame.h). */
#include "ws_frame.h"

int crater__ws_head_read(const unsigned char *p, size_t n, uint64_t max_len, crater__ws_head *h) {
  if (n < 2) return 0;
  if (p[0] & 0x30) return -1002;
  h->fin = (p[0] & 0x80) != 0;
  h->rsv1 = (p[0] & 0x40) != 0;
  h->opcode = p[0] & 0x0f;
  switch (h->opcode) {
    case CRATER__WS_CONT: case CRATER__WS_TEXT: case CRATER__WS_BINARY:
    case CRATER__WS_CLOSE: case CRATER__WS_PING: case CRATER__WS_PONG: break;
    default: return -1002;
  }
  if (!(p[1] & 0x80)) return -1002;
  uint64_t len = p[1] & 0x7f;
  size_t at = 2;
  int control = h->opcode >= CRATER__WS_CLOSE;
  if (control && (!h->fin || len > 125 || h->rsv1)) return -1002;
  if (len == 126) {
    if (n < 4) return 0;
    len = ((uint64_t)p[2] << 8) | p[3];
    at = 4;
  } else if (len == 127) {
    if (n < 10) return 0;
    if (p[2] & 0x80) return -1002;
    len = 0;
    for (int i = 2; i < 10; i++) len = (len << 8) | p[i];
    at = 10;
  }
  if (n < at + 4) return 0;
  for (int i = 0; i < 4; i++) h->mask[i] = p[at + (size_t)i];
  h->len = len;
  /* Known from the head alone: refused before its payload is waited for. */
  if (len > max_len) return -1009;
  return (int)(at + 4);
}

void crater__ws_unmask(unsigned char *p, size_t n, const unsigned char mask[4], uint64_t offset) {
  for (size_t i = 0; i < n; i++) p[i] ^= mask[(offset + i) & 3];
}

size_t crater__ws_head_write(unsigned char out[CRATER__WS_HEAD_MAX], int fin, int opcode, uint64_t len) {
  out[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
  if (len < 126) {
    out[1] = (unsigned char)len;
    return 2;
  }
  if (len <= 0xffff) {
    out[1] = 126;
    out[2] = (unsigned char)(len >> 8);
    out[3] = (unsigned char)len;
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; i++) out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
  return 10;
}

/* The ranges of RFC 3629's table: a lead byte fixes the next byte's range
 * (E0: A0-BF against overlongs, ED: 80-9F against surrogates, F0: 90-BF,
 * F4: 80-8F against code points over U+10FFFF); later ones are 80-BF. */
int crater__ws_utf8_feed(crater__ws_utf8 *u, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char b = p[i];
    if (u->need > 0) {
      if (b < u->lo || b > u->hi) return -1;
      u->need--;
      u->lo = 0x80;
      u->hi = 0xbf;
      continue;
    }
    if (b < 0x80) continue;
    u->lo = 0x80;
    u->hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) u->need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      u->need = 2;
      if (b == 0xe0) u->lo = 0xa0;
      if (b == 0xed) u->hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      u->need = 3;
      if (b == 0xf0) u->lo = 0x90;
      if (b == 0xf4) u->hi = 0x8f;
    } else return -1;
  }
  return 0;
}

int crater__ws_close_code_ok(unsigned code) {
  if (code >= 3000 && code <= 4999) return 1;
  if (code < 1000 || code > 1014) return 0;
  return code != 1004 && code != 1005 && code != 1006;
}
