/* fuzz_ws_deflate.c - libFuzzer target for permessage-deflate
 * (host/src/ws_deflate.c): the input read as a Sec-WebSocket-Extensions
 * value, and as compressed message data inflated under a small limit,
 * whole and in two frames; then deflated and inflated back. A broken rule
 * aborts, which libFuzzer reports. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_deflate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static const crater__ws_deflate_opts OPTS = {1, 1, 9};

/* Inflates data as one message, split at `split`; returns the code. */
static int inflate_as(const uint8_t *data, size_t size, size_t split, uint64_t limit, crater__buf *out) {
  crater__ws_pmd_params p = {9, 15, 0, 0};
  crater__ws_pmd *z = crater__ws_pmd_new(&p, &OPTS);
  CHECK(z != NULL);
  int rc = crater__ws_pmd_inflate(z, data, split, 0, out, limit);
  if (rc == 0) rc = crater__ws_pmd_inflate(z, data + split, size - split, 1, out, limit);
  crater__ws_pmd_free(z);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* The offer: accepted or declined, never more than the answer's room. */
  char resp[160];
  crater__ws_pmd_params p;
  if (crater__ws_pmd_negotiate((const char *)data, size, &OPTS, &p, resp, sizeof(resp))) {
    CHECK(strncmp(resp, "permessage-deflate", 18) == 0 && strlen(resp) < sizeof(resp));
    CHECK(p.server_bits == 9 && p.client_bits >= 8 && p.client_bits <= 15);
  }
  /* Inflated under a limit: never past it, and the same however split. */
  uint64_t limit = 4096;
  crater__buf a = {0}, b = {0};
  int ra = inflate_as(data, size, 0, limit, &a);
  int rb = inflate_as(data, size, size / 2, limit, &b);
  CHECK(ra == 0 || ra == -1007 || ra == -1009);
  CHECK(a.len <= limit + 1 && b.len <= limit + 1);
  if (ra == 0 && rb == 0) CHECK(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
  crater__buf_free(&a);
  crater__buf_free(&b);
  /* Deflated then inflated: the same bytes, twice in one context. */
  crater__ws_pmd_params q = {9, 9, 0, 0};
  crater__ws_pmd *tx = crater__ws_pmd_new(&q, &OPTS), *rx = crater__ws_pmd_new(&q, &OPTS);
  CHECK(tx != NULL && rx != NULL);
  for (int round = 0; round < 2; round++) {
    crater__buf z = {0}, back = {0};
    CHECK(crater__ws_pmd_deflate(tx, (const char *)data, size, &z) == 0);
    CHECK(crater__ws_pmd_inflate(rx, (const unsigned char *)z.data, z.len, 1, &back, UINT64_MAX - 1) == 0);
    CHECK(back.len == size && (size == 0 || memcmp(back.data, data, size) == 0));
    crater__buf_free(&z);
    crater__buf_free(&back);
  }
  crater__ws_pmd_free(tx);
  crater__ws_pmd_free(rx);
  return 0;
}
