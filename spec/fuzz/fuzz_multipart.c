/* fuzz_multipart.c - libFuzzer target for the multipart/form-data parser
 * (host/src/multipart.c) and the storage behind it (host/src/upload.c).
 *
 * Input: one byte n, then n bytes that become the boundary (each mapped
 * into RFC 2046's characters), one byte seeding the piece sizes, then the
 * body. What must hold:
 *   - the body fed whole and fed in pieces of 1 to 16 bytes gives the same
 *     events (each part's head, its bytes, its end), the same result and
 *     the same verdict on completeness: a delimiter split across pieces is
 *     found the same, bytes held back in case they start one come back;
 *   - no part's bytes hold a delimiter (CRLF "--" boundary), every part
 *     began has a name;
 *   - upload.c with tiny limits (so files spool to temporary files, and
 *     each limit is reached) ends without a leak and leaves no file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "multipart.h"
#include "server.h"
#include "upload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
  crater__buf events; /* tag, 4-byte length, bytes; a part's data merged into one event */
  crater__buf data;   /* the current part's data so far */
  const char *delim;
  size_t delim_len;
  int in_part;
} record;

static void add(record *r, char tag, const void *p, size_t n) {
  uint32_t n32 = (uint32_t)n;
  if (crater__buf_append(&r->events, &tag, 1) != 0 || crater__buf_append(&r->events, &n32, 4) != 0 ||
      crater__buf_append(&r->events, p, n) != 0)
    abort();
}

/* The part's bytes as one event: they must not hold a delimiter. */
static void flush_data(record *r) {
  const char *d = r->data.data;
  for (size_t i = 0; i + r->delim_len <= r->data.len; i++)
    if (memcmp(d + i, r->delim, r->delim_len) == 0) abort();
  add(r, 'D', d ? d : "", r->data.len);
  r->data.len = 0;
}

static int on_begin(void *ud, const crater__mp_part *p) {
  record *r = ud;
  if (p->name == NULL || r->in_part) abort();
  r->in_part = 1;
  add(r, 'N', p->name, p->name_len);
  if (p->filename != NULL) add(r, 'F', p->filename, p->filename_len);
  add(r, 'T', p->content_type, p->content_type_len);
  return 0;
}

static int on_data(void *ud, const char *at, size_t len) {
  record *r = ud;
  if (!r->in_part || len == 0) abort();
  if (crater__buf_append(&r->data, at, len) != 0) abort();
  return 0;
}

static int on_end(void *ud) {
  record *r = ud;
  if (!r->in_part) abort();
  r->in_part = 0;
  flush_data(r);
  add(r, 'E', "", 0);
  return 0;
}

static const crater__mp_callbacks cbs = {on_begin, on_data, on_end};

/* Runs the parser; seed 0 feeds the body whole. */
static int parse(record *r, const char *b, size_t blen, const char *body, size_t len, unsigned seed,
                 int *done) {
  static crater__mp mp; /* 16 KiB: off the stack */
  crater__mp_init(&mp, b, blen);
  r->delim = mp.delim;
  r->delim_len = mp.delim_len;
  int rc = 0;
  size_t pos = 0;
  while (pos < len && rc == 0) {
    size_t n = len - pos;
    if (seed != 0) {
      seed = seed * 1103515245u + 12345u;
      size_t k = 1 + (seed >> 16) % 16;
      if (k < n) n = k;
    }
    rc = crater__mp_feed(&mp, body + pos, n, &cbs, r);
    pos += n;
  }
  if (r->in_part) flush_data(r); /* a part cut short: what came of it */
  if (rc < 0) add(r, '!', mp.why, strlen(mp.why));
  *done = crater__mp_done(&mp);
  return rc;
}

static void check_upload(const char *b, size_t blen, const char *body, size_t len, unsigned seed) {
  static crater_server srv; /* upload.c reads its cfg only */
  crater_config_init(&srv.cfg, sizeof(srv.cfg));
  srv.cfg.max_upload_bytes = 4096;
  srv.cfg.max_upload_file_bytes = 1024 + (seed & 0x3ff);
  srv.cfg.max_upload_field_bytes = 256;
  srv.cfg.max_upload_parts = 4 + (seed & 7);
  srv.cfg.upload_memory_bytes = seed & 0x3f;
  srv.cfg.max_body_bytes = 512;
  srv.cfg.upload_dir = getenv("TMPDIR");
  crater__upload *u = crater__upload_new(&srv, b, blen);
  if (u == NULL) return;
  const char *why = NULL;
  crater__up_err e = CRATER__UP_OK;
  for (size_t pos = 0; pos < len && e == CRATER__UP_OK; pos += 7)
    e = crater__upload_feed(u, body + pos, len - pos < 7 ? len - pos : 7, &why);
  if (e == CRATER__UP_OK) e = crater__upload_end(u, &why);
  if (e != CRATER__UP_OK && (why == NULL || why[0] == '\0')) abort();
  crater__upload_free(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t blen = 1 + data[0] % CRATER__MP_BOUNDARY_MAX;
  if (size < 2 + blen) return 0;
  static const char bchars[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=?";
  char b[CRATER__MP_BOUNDARY_MAX];
  for (size_t i = 0; i < blen; i++) b[i] = bchars[data[1 + i] % (sizeof(bchars) - 1)];
  unsigned seed = data[1 + blen] | 1u;
  const char *body = (const char *)data + 2 + blen;
  size_t len = size - 2 - blen;

  record whole, pieces;
  memset(&whole, 0, sizeof(whole));
  memset(&pieces, 0, sizeof(pieces));
  int done1, done2;
  int rc1 = parse(&whole, b, blen, body, len, 0, &done1);
  int rc2 = parse(&pieces, b, blen, body, len, seed, &done2);
  if (rc1 != rc2 || done1 != done2 || whole.events.len != pieces.events.len ||
      (whole.events.len > 0 && memcmp(whole.events.data, pieces.events.data, whole.events.len) != 0))
    abort();
  crater__buf_free(&whole.events);
  crater__buf_free(&whole.data);
  crater__buf_free(&pieces.events);
  crater__buf_free(&pieces.data);
  check_upload(b, blen, body, len, seed);
  return 0;
}
