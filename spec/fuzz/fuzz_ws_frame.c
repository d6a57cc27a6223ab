/* fuzz_ws_frame.c - libFuzzer target for the WebSocket frame code
 * (host/src/ws_frame.c): the input read as client frames, as ws.c reads
 * them, whole and again one byte more at a time; the UTF-8 check against a
 * plain decoder, whole and split at every point; server heads written and
 * read back. A broken rule aborts, which libFuzzer reports. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

/* A plain reading of RFC 3629: 1 when p is whole, valid UTF-8. */
static int utf8_ok(const unsigned char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char b = p[i];
    uint32_t cp;
    size_t len;
    if (b < 0x80) { i++; continue; }
    if (b >= 0xc0 && b < 0xe0) { len = 2; cp = b & 0x1f; }
    else if (b >= 0xe0 && b < 0xf0) { len = 3; cp = b & 0x0f; }
    else if (b >= 0xf0 && b < 0xf8) { len = 4; cp = b & 0x07; }
    else return 0;
    if (i + len > n) return 0;
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    i += len;
  }
  return 1;
}

static int utf8_fed(const unsigned char *p, size_t n, size_t split) {
  crater__ws_utf8 u = {0, 0, 0};
  if (crater__ws_utf8_feed(&u, p, split) != 0) return 0;
  if (crater__ws_utf8_feed(&u, p + split, n - split) != 0) return 0;
  return crater__ws_utf8_complete(&u);
}

static void frames(const unsigned char *p, size_t n, uint64_t max) {
  size_t at = 0;
  while (at < n) {
    crater__ws_head h;
    int hl = crater__ws_head_read(p + at, n - at, max, &h);
    if (hl <= 0) {
      CHECK(hl == 0 || hl == -1002 || hl == -1009);
      /* Any shorter prefix needs more bytes or is refused the same way. */
      return;
    }
    CHECK(hl >= 6 && hl <= 14 && (size_t)hl <= n - at);
    CHECK(h.len <= max);
    CHECK(h.opcode < 3 || (h.opcode >= 8 && h.opcode <= 10));
    if (h.opcode >= 8) CHECK(h.fin && h.len <= 125);
    /* The head is read the same from its bytes alone, and not before. */
    crater__ws_head h2;
    CHECK(crater__ws_head_read(p + at, (size_t)hl, max, &h2) == hl);
    CHECK(h2.len == h.len && h2.opcode == h.opcode && memcmp(h2.mask, h.mask, 4) == 0);
    CHECK(crater__ws_head_read(p + at, (size_t)hl - 1, max, &h2) == 0);
    if (n - at - (size_t)hl < h.len) return;
    size_t len = (size_t)h.len;
    unsigned char *copy = malloc(len + 1);
    CHECK(copy != NULL);
    memcpy(copy, p + at + hl, len);
    crater__ws_unmask(copy, len, h.mask, 0);
    /* Unmasking in two pieces gives the same bytes. */
    unsigned char *again = malloc(len + 1);
    CHECK(again != NULL);
    memcpy(again, p + at + hl, len);
    size_t half = len / 2;
    crater__ws_unmask(again, half, h.mask, 0);
    crater__ws_unmask(again + half, len - half, h.mask, half);
    CHECK(memcmp(copy, again, len) == 0);
    free(again);
    free(copy);
    at += (size_t)hl + len;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t max = size > 0 ? (uint64_t)data[0] * 300 : 0;
  frames(data, size, max);
  frames(data, size, UINT64_MAX);
  /* UTF-8: the incremental check agrees with the plain one, however split. */
  int ok = utf8_ok(data, size);
  for (size_t split = 0; split <= size && split < 64; split++) CHECK(utf8_fed(data, size, split) == ok);
  CHECK(utf8_fed(data, size, size) == ok);
  /* A server head, masked as a client's would be, reads back. */
  if (size >= 9) {
    uint64_t len = 0;
    for (int i = 1; i < 9; i++) len = (len << 8) | data[i];
    len &= 0x7fffffffffffffffull;
    unsigned char head[CRATER__WS_HEAD_MAX + 4];
    size_t hl = crater__ws_head_write(head, data[0] & 1, CRATER__WS_BINARY, len);
    head[1] |= 0x80;
    memset(head + hl, 0, 4);
    crater__ws_head h;
    CHECK(crater__ws_head_read(head, hl + 4, UINT64_MAX, &h) == (int)(hl + 4));
    CHECK(h.len == len && h.opcode == CRATER__WS_BINARY && h.fin == (data[0] & 1));
  }
  return 0;
}
