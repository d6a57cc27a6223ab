/* ws_deflate.c - permessage-deflate (see ws_deflate.h). */
#include "ws_deflate.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "alloc.h"

#define CHUNK 16384

struct crater__ws_pmd {
  crater__ws_pmd_params p;
  int level, memlevel;
  z_stream in, out;
  int in_ready, out_ready;
};

/* ===================================================================== */
/*  The offer (RFC 7692 5, 7.1)                                            */
/* ===================================================================== */

static int ows(char c) { return c == ' ' || c == '\t'; }

/* The end of the piece starting at a: the next `sep` outside quotes. */
static size_t piece_end(const char *v, size_t a, size_t n, char sep) {
  int quoted = 0;
  for (; a < n; a++) {
    if (v[a] == '"') quoted = !quoted;
    else if (!quoted && v[a] == sep) break;
  }
  return a;
}

static void trim(const char *v, size_t *a, size_t *b) {
  while (*a < *b && ows(v[*a])) (*a)++;
  while (*b > *a && ows(v[*b - 1])) (*b)--;
}

/* A window size: "8".."15", maybe quoted (a quoted-string holds the same
 * token, 7.1); -1 for anything else. */
static int bits_value(const char *v, size_t a, size_t b) {
  if (b - a >= 2 && v[a] == '"' && v[b - 1] == '"') {
    a++;
    b--;
  }
  if (b - a == 1 && v[a] >= '8' && v[a] <= '9') return v[a] - '0';
  if (b - a == 2 && v[a] == '1' && v[a + 1] >= '0' && v[a + 1] <= '5') return 10 + v[a + 1] - '0';
  return -1;
}

static int is(const char *v, size_t a, size_t b, const char *want) {
  return b - a == strlen(want) && strncasecmp(v + a, want, b - a) == 0;
}

/* One offer, v[a..b): 1 when taken. */
static int offer(const char *v, size_t a, size_t b, const crater__ws_deflate_opts *o, crater__ws_pmd_params *p,
                 char *resp, size_t cap) {
  size_t e = piece_end(v, a, b, ';');
  size_t na = a, nb = e;
  trim(v, &na, &nb);
  if (!is(v, na, nb, "permessage-deflate")) return 0;
  int snt = 0, cnt = 0, sbits = 0, cbits = 0; /* sbits/cbits: 0 absent, -2 present without value */
  for (a = e; a < b; a = e) {
    a++; /* the ';' */
    e = piece_end(v, a, b, ';');
    size_t eq = a;
    while (eq < e && v[eq] != '=') eq++;
    size_t ka = a, kb = eq;
    trim(v, &ka, &kb);
    int has_value = eq < e;
    size_t va = eq + 1, vb = e;
    if (has_value) trim(v, &va, &vb);
    if (is(v, ka, kb, "server_no_context_takeover")) {
      if (snt || has_value) return 0;
      snt = 1;
    } else if (is(v, ka, kb, "client_no_context_takeover")) {
      if (cnt || has_value) return 0;
      cnt = 1;
    } else if (is(v, ka, kb, "server_max_window_bits")) {
      if (sbits || !has_value || (sbits = bits_value(v, va, vb)) < 0) return 0;
    } else if (is(v, ka, kb, "client_max_window_bits")) {
      if (cbits) return 0;
      cbits = has_value ? bits_value(v, va, vb) : -2;
      if (cbits == -1) return 0;
    } else {
      return 0; /* a parameter we do not know: decline (7.1) */
    }
  }
  /* zlib's raw deflate cannot keep to a 256-byte window (it makes 8 a 9):
   * a client that asks for one is declined rather than sent what it
   * could not inflate. */
  if (sbits == 8) return 0;
  int ours = o->max_window_bits;
  p->server_bits = sbits > 0 && sbits < ours ? sbits : ours;
  p->server_no_takeover = snt;
  p->client_no_takeover = cnt;
  /* The client's window is ours to choose only if it offered to be told. */
  if (cbits == 0) p->client_bits = 15;
  else p->client_bits = cbits > 0 && cbits < ours ? cbits : ours;
  int len = snprintf(resp, cap, "permessage-deflate%s%s", snt ? "; server_no_context_takeover" : "",
                     cnt ? "; client_no_context_takeover" : "");
  if (sbits > 0) len += snprintf(resp + len, cap - (size_t)len, "; server_max_window_bits=%d", p->server_bits);
  if (cbits != 0) len += snprintf(resp + len, cap - (size_t)len, "; client_max_window_bits=%d", p->client_bits);
  return len > 0 && (size_t)len < cap;
}

int crater__ws_pmd_negotiate(const char *v, size_t n, const crater__ws_deflate_opts *o,
                             crater__ws_pmd_params *p, char *resp, size_t resp_cap) {
  for (size_t a = 0, b; a < n; a = b + 1) {
    b = piece_end(v, a, n, ',');
    if (offer(v, a, b, o, p, resp, resp_cap)) return 1;
  }
  return 0;
}

/* ===================================================================== */
/*  Streams                                                                */
/* ===================================================================== */

crater__ws_pmd *crater__ws_pmd_new(const crater__ws_pmd_params *p, const crater__ws_deflate_opts *o) {
  crater__ws_pmd *z = crater__calloc(1, sizeof(*z));
  if (z == NULL) return NULL;
  z->p = *p;
  z->level = o->level;
  z->memlevel = o->memlevel;
  return z;
}

void crater__ws_pmd_free(crater__ws_pmd *z) {
  if (z == NULL) return;
  if (z->in_ready) inflateEnd(&z->in);
  if (z->out_ready) deflateEnd(&z->out);
  crater__free(z);
}

static int inflate_some(crater__ws_pmd *z, const unsigned char *p, size_t n, crater__buf *out, uint64_t limit) {
  z_stream *s = &z->in;
  s->next_in = (Bytef *)p;
  s->avail_in = (uInt)n;
  for (;;) {
    /* Room for at most one byte past the limit: that byte says "too big". */
    uint64_t room = limit >= out->len ? limit - out->len + 1 : 1;
    if (room > CHUNK) room = CHUNK;
    if (crater__buf_reserve(out, (size_t)room) != 0) return -1011;
    s->next_out = (Bytef *)out->data + out->len;
    s->avail_out = (uInt)room;
    int rc = inflate(s, Z_SYNC_FLUSH);
    out->len += (size_t)room - s->avail_out;
    if (out->len > limit) return -1009;
    if (rc == Z_STREAM_END) {
      /* A final block (BFINAL) ends the stream: what follows starts anew. */
      inflateReset(s);
      if (s->avail_in == 0) return 0;
      continue;
    }
    if (rc == Z_MEM_ERROR) return -1011;
    if (rc != Z_OK && rc != Z_BUF_ERROR) return -1007;
    if (s->avail_in == 0 && s->avail_out != 0) return 0;
    if (rc == Z_BUF_ERROR && s->avail_out != 0) return 0;
  }
}

int crater__ws_pmd_inflate(crater__ws_pmd *z, const unsigned char *p, size_t n, int fin,
                           crater__buf *out, uint64_t limit) {
  if (!z->in_ready) {
    memset(&z->in, 0, sizeof(z->in));
    /* zlib deflates a 256-byte window as 512 bytes: a client told 8 may
     * well be zlib, so 9 is the least we inflate with (a larger window
     * reads a smaller one's data). */
    int bits = z->p.client_bits < 9 ? 9 : z->p.client_bits;
    if (inflateInit2(&z->in, -bits) != Z_OK) return -1011;
    z->in_ready = 1;
  }
  static const unsigned char tail[4] = {0x00, 0x00, 0xff, 0xff};
  int rc = n > 0 ? inflate_some(z, p, n, out, limit) : 0;
  if (rc == 0 && fin) rc = inflate_some(z, tail, sizeof(tail), out, limit);
  /* Each message starts from an empty window when the client said so, and
   * after a failure (the socket is failed then anyway). */
  if (rc != 0 || (fin && z->p.client_no_takeover)) inflateReset(&z->in);
  return rc;
}

int crater__ws_pmd_deflate(crater__ws_pmd *z, const char *p, size_t n, crater__buf *out) {
  if (!z->out_ready) {
    memset(&z->out, 0, sizeof(z->out));
    if (deflateInit2(&z->out, z->level, Z_DEFLATED, -z->p.server_bits, z->memlevel, Z_DEFAULT_STRATEGY) != Z_OK)
      return -1;
    z->out_ready = 1;
  }
  z_stream *s = &z->out;
  s->next_in = (Bytef *)p;
  s->avail_in = (uInt)n;
  size_t start = out->len;
  do {
    size_t room = n / 2 + 64 > CHUNK ? CHUNK : n / 2 + 64;
    if (crater__buf_reserve(out, room) != 0) return -1;
    s->next_out = (Bytef *)out->data + out->len;
    s->avail_out = (uInt)room;
    int rc = deflate(s, Z_SYNC_FLUSH);
    out->len += room - s->avail_out;
    if (rc != Z_OK && rc != Z_BUF_ERROR) return -1;
  } while (s->avail_out == 0 || s->avail_in > 0);
  /* The sync flush ends in an empty stored block, 00 00 FF FF, which the
   * receiver adds back (7.2.1). */
  if (out->len - start >= 4) out->len -= 4;
  if (z->p.server_no_takeover) deflateReset(s);
  return 0;
}
