/* compress.c - content coding of the app's answers (see compress.h).
 *
 * A whole body is coded in one call. Gzip uses the server's one deflate
 * state, reset for each answer: setting one up costs about as much as
 * coding a 20 KiB body at level 1, and when the allocator hands its 260
 * KiB back to the system in between, page faults cost far more (a loop of
 * fresh states, glibc trimming the heap each time, ran 20x slower than
 * one reset state). Brotli cannot be reset (1.0.x): its coder is made per
 * answer, sized to the body.
 *
 * A streamed body is coded with gzip only: its coder lives as long as the
 * stream, and zlib's is small and fixed (about 70 KiB here) where
 * brotli's grows with its quality; each chunk is flushed (Z_SYNC_FLUSH) so
 * the client can decode what it got without waiting for the next.
 *
 * Every coder allocates through alloc.h, so a test can fail it; a failure
 * leaves the answer uncoded (a whole body), or breaks the stream off (a
 * stream whose head said gzip: only deflate() itself can fail then, and it
 * allocates nothing after deflateInit2). */
#include "compress.h"

#include <limits.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <brotli/encode.h>
#include <lauxlib.h>
#include <zlib.h>

#include "alloc.h"
#include "server.h"

#define POLICY_MAGIC 0x637a706cu  /* "czpl": tells a policy from other userdata */
#define STREAM_WBITS 13           /* a stream's window: 8 KiB ... */
#define STREAM_MEMLEVEL 6         /* ... and hash: about 70 KiB of state in all */

struct crater__compress_policy {
  uint32_t magic;      /* POLICY_MAGIC */
  int level;           /* gzip level, 1..9 */
  int br_quality;      /* brotli quality 1..11; 0: no brotli */
  size_t min_size;     /* a whole body shorter than this is sent as it is */
  size_t ntypes;
  char types[];        /* ntypes media type patterns, each NUL-terminated */
};

struct crater__zcache {
  z_stream z;          /* windowBits 15 + gzip, memLevel 8: about 260 KiB */
  int level;           /* the level it is set to */
};

struct crater__encoder {
  z_stream z;
  crater__buf out;     /* the last coded chunk */
};

typedef enum { CODING_IDENTITY = 0, CODING_GZIP, CODING_BR } coding;

static int eligible(const crater__compress_policy *pol, const crater__response *res,
                    const crater_header *hs, size_t nh);
static int type_listed(const crater__compress_policy *pol, const char *ctype, size_t len);
static coding choose(const crater__request *r, int br_ok);
static void add_vary(crater_header *hs, size_t *nh, crater__buf *vary);
static int weaken_etag(crater_header *hs, size_t nh, crater__buf *etag);
static int gzip_body(crater_server *srv, int level, const char *in, size_t n, crater__buf *out);
static int br_body(int quality, const char *in, size_t n, crater__buf *out);
static const crater_header *find(const crater_header *hs, size_t nh, const char *name);
static int has_token(const char *s, size_t n, const char *tok);
static voidpf z_alloc(voidpf opaque, uInt items, uInt size);
static void z_free(voidpf opaque, voidpf p);

/* ===================================================================== */
/*  Entry points                                                           */
/* ===================================================================== */

int crater__compress_policy_new(lua_State *L) {
  lua_Integer level = luaL_checkinteger(L, 1);
  lua_Integer brq = luaL_checkinteger(L, 2);
  lua_Number min_size = luaL_checknumber(L, 3);
  luaL_checktype(L, 4, LUA_TTABLE);
  if (level < 1 || level > 9) return luaL_argerror(L, 1, "gzip level must be 1..9");
  if (brq < 0 || brq > 11) return luaL_argerror(L, 2, "brotli quality must be 0..11");
  if (!(min_size >= 0) || min_size > 1e15) return luaL_argerror(L, 3, "min_size must be >= 0");
  size_t ntypes = lua_objlen(L, 4), total = 0;
  for (size_t i = 1; i <= ntypes; i++) {
    lua_rawgeti(L, 4, (int)i);
    size_t len;
    if (lua_type(L, -1) != LUA_TSTRING) return luaL_argerror(L, 4, "types must be strings");
    lua_tolstring(L, -1, &len);
    total += len + 1;
    lua_pop(L, 1);
  }
  crater__compress_policy *p = lua_newuserdata(L, sizeof(*p) + total);
  p->magic = POLICY_MAGIC;
  p->level = (int)level;
  p->br_quality = (int)brq;
  p->min_size = (size_t)min_size;
  p->ntypes = ntypes;
  char *at = p->types;
  for (size_t i = 1; i <= ntypes; i++) {
    lua_rawgeti(L, 4, (int)i);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    memcpy(at, s, len + 1);
    at += len + 1;
    lua_pop(L, 1);
  }
  return 1;
}

const crater__compress_policy *crater__compress_policy_at(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TUSERDATA || lua_objlen(L, idx) < sizeof(crater__compress_policy))
    return NULL;
  const crater__compress_policy *p = lua_touserdata(L, idx);
  return p->magic == POLICY_MAGIC ? p : NULL;
}

void crater__compress_answer(const crater__request *r, const crater__compress_policy *pol,
                             crater__response *res, crater_header *hs, size_t *nh,
                             crater__compress_job *job, crater__encoder **enc) {
  int stream = (res->flags & CRATER__RES_STREAM) != 0;
  if (enc != NULL) *enc = NULL;
  if (!eligible(pol, res, hs, *nh)) return;
  /* The answer depends on Accept-Encoding from here, whatever this client
   * takes: a cache must not hand the coded one to a client without gzip. */
  add_vary(hs, nh, &job->vary);
  res->headers = hs;
  res->nheaders = *nh;
  /* HEAD: the GET's Vary, but no coding: there is no body to code, and
   * coding one only to count its bytes would cost what the GET does. */
  if (r->head_only) return;
  coding c = choose(r, !stream && pol->br_quality > 0);
  if (c == CODING_IDENTITY) return;
  if (stream) {
    if (enc == NULL || (*enc = crater__calloc(1, sizeof(**enc))) == NULL) return;
    crater__encoder *e = *enc;
    e->z.zalloc = z_alloc;
    e->z.zfree = z_free;
    if (deflateInit2(&e->z, pol->level, Z_DEFLATED, STREAM_WBITS + 16, STREAM_MEMLEVEL,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
      crater__free(e);
      *enc = NULL;
      return;
    }
  } else {
    int rc = c == CODING_BR ? br_body(pol->br_quality, res->body, res->body_len, &job->body)
                            : gzip_body(r->srv, pol->level, res->body, res->body_len, &job->body);
    /* Out of memory, or a body that does not shrink: sent as it is. */
    if (rc != 0 || job->body.len >= res->body_len) return;
  }
  if (weaken_etag(hs, *nh, &job->etag) != 0) { /* out of memory: uncoded, its ETag true */
    if (stream) {
      crater__encoder_free(*enc);
      *enc = NULL;
    }
    return;
  }
  if (!stream) {
    res->body = job->body.data;
    res->body_len = job->body.len;
  }
  hs[(*nh)++] = c == CODING_BR ? (crater_header){"Content-Encoding", 16, "br", 2}
                               : (crater_header){"Content-Encoding", 16, "gzip", 4};
  res->nheaders = *nh;
}

void crater__compress_free(crater_server *srv) {
  if (srv->zcache == NULL) return;
  deflateEnd(&srv->zcache->z);
  crater__free(srv->zcache);
  srv->zcache = NULL;
}

void crater__compress_job_free(crater__compress_job *job) {
  crater__buf_free(&job->body);
  crater__buf_free(&job->vary);
  crater__buf_free(&job->etag);
}

int crater__encoder_push(crater__encoder *e, const char *data, size_t len, int finish,
                         const char **out, size_t *out_len) {
  if (len > UINT_MAX) return -1; /* a chunk is a Lua string the handler wrote: never this big */
  e->out.len = 0;
  e->z.next_in = (Bytef *)(uintptr_t)data;
  e->z.avail_in = (uInt)len;
  int flush = finish ? Z_FINISH : Z_SYNC_FLUSH;
  for (;;) {
    size_t room = len / 2 + 64;
    if (crater__buf_reserve(&e->out, room) != 0) return -1;
    room = e->out.cap - e->out.len;
    if (room > UINT_MAX) room = UINT_MAX;
    e->z.next_out = (Bytef *)e->out.data + e->out.len;
    e->z.avail_out = (uInt)room;
    int rc = deflate(&e->z, flush);
    e->out.len += room - e->z.avail_out;
    if (rc == Z_STREAM_END) break;
    /* Z_BUF_ERROR with room to spare: no progress is possible (never seen:
     * deflate always has room here), not a loop. */
    if (rc != Z_OK && (rc != Z_BUF_ERROR || e->z.avail_out > 0)) return -1;
    /* Room left over means deflate has said all it had for this flush. */
    if (!finish && e->z.avail_out > 0) break;
  }
  *out = e->out.data;
  *out_len = e->out.len;
  return 0;
}

void crater__encoder_free(crater__encoder *e) {
  if (e == NULL) return;
  deflateEnd(&e->z);
  crater__buf_free(&e->out);
  crater__free(e);
}

/* ===================================================================== */
/*  Whether an answer is coded                                             */
/* ===================================================================== */

/* 1 when the answer may be coded at all (before asking the client). Not:
 * without a policy (compress = false), without a body (204, 304), a part of
 * a body (206, Content-Range), a body the handler coded itself, one a
 * proxy must not transform (Cache-Control: no-transform), a type not in
 * the policy's list, nor a whole body under min_size. */
static int eligible(const crater__compress_policy *pol, const crater__response *res,
                    const crater_header *hs, size_t nh) {
  if (pol == NULL || crater__http_bodyless(res->status) || res->status == 206) return 0;
  /* A file answer (app:static) is sent from its descriptor, by sendfile:
   * never coded on the fly (its precompressed siblings are the way). */
  if (res->flags & CRATER__RES_FILE) return 0;
  /* A whole body of no bytes has nothing to code. */
  if (!(res->flags & CRATER__RES_STREAM) && (res->body_len == 0 || res->body_len < pol->min_size))
    return 0;
  const crater_header *ct = find(hs, nh, "Content-Type");
  if (ct == NULL || !type_listed(pol, ct->value, ct->value_len)) return 0;
  if (find(hs, nh, "Content-Encoding") != NULL || find(hs, nh, "Content-Range") != NULL) return 0;
  for (size_t i = 0; i < nh; i++)
    if (crater__http_is_header(hs[i].name, hs[i].name_len, "Cache-Control") &&
        has_token(hs[i].value, hs[i].value_len, "no-transform"))
      return 0;
  return 1;
}

/* 1 when the media type of a Content-Type value (before any parameter)
 * matches a pattern of the policy, ignoring case: "text/" then a star is a
 * whole top-level type, a star then "+json" a structured syntax suffix,
 * anything else the type itself. */
static int type_listed(const crater__compress_policy *pol, const char *ctype, size_t len) {
  size_t m = 0;
  while (m < len && ctype[m] != ';' && ctype[m] != ' ' && ctype[m] != '\t') m++;
  const char *pat = pol->types;
  for (size_t i = 0; i < pol->ntypes; i++) {
    size_t plen = strlen(pat);
    if (plen >= 2 && pat[plen - 1] == '*' && pat[plen - 2] == '/') {
      if (m > plen - 1 && strncasecmp(ctype, pat, plen - 1) == 0) return 1;
    } else if (plen >= 1 && pat[0] == '*') {
      if (m >= plen - 1 && strncasecmp(ctype + m - (plen - 1), pat + 1, plen - 1) == 0) return 1;
    } else if (m == plen && strncasecmp(ctype, pat, plen) == 0) {
      return 1;
    }
    pat += plen + 1;
  }
  return 0;
}

/* ===================================================================== */
/*  Accept-Encoding (RFC 9110 12.5.3)                                      */
/* ===================================================================== */

/* A qvalue in thousandths ("0", "0.5", "1", "1.000"), or -1 when it is not
 * one. */
static int qvalue(const char *s, size_t n) {
  if (n == 0 || (s[0] != '0' && s[0] != '1')) return -1;
  int q = (s[0] - '0') * 1000;
  if (n == 1) return q;
  if (s[1] != '.' || n > 5) return -1;
  int scale = 100;
  for (size_t i = 2; i < n; i++, scale /= 10) {
    if (s[i] < '0' || s[i] > '9') return -1;
    q += (s[i] - '0') * scale;
  }
  return q > 1000 ? -1 : q;
}

/* The q of each coding we have in one Accept-Encoding value: gzip (or
 * x-gzip), br and "*" (-1: not named). A member that is not
 * `token *( OWS ";" OWS name=value )` is skipped, not the whole field. */
static void parse_accept(const char *v, size_t n, int *qg, int *qb, int *qs) {
  size_t i = 0;
  while (i < n) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    size_t t0 = i;
    while (i < n && crater__http_tchar[(unsigned char)v[i]]) i++;
    size_t tlen = i - t0;
    int q = 1000, ok = tlen > 0;
    for (;;) { /* parameters */
      while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
      if (i >= n || v[i] != ';') break;
      i++;
      while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
      size_t p0 = i;
      while (i < n && crater__http_tchar[(unsigned char)v[i]]) i++;
      size_t plen = i - p0;
      if (i >= n || v[i] != '=') {
        ok = 0;
        break;
      }
      size_t v0 = ++i;
      while (i < n && crater__http_tchar[(unsigned char)v[i]]) i++;
      if (plen == 1 && (v[p0] == 'q' || v[p0] == 'Q')) {
        q = qvalue(v + v0, i - v0);
        if (q < 0) ok = 0;
      }
    }
    while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
    if (i < n && v[i] != ',') { /* junk: skip to the next member */
      ok = 0;
      while (i < n && v[i] != ',') i++;
    }
    if (!ok) continue;
    const char *t = v + t0;
    if ((tlen == 4 && strncasecmp(t, "gzip", 4) == 0) || (tlen == 6 && strncasecmp(t, "x-gzip", 6) == 0))
      *qg = q;
    else if (tlen == 2 && strncasecmp(t, "br", 2) == 0)
      *qb = q;
    else if (tlen == 1 && t[0] == '*')
      *qs = q;
  }
}

/* The coding r's client takes best: the highest q above 0, brotli before
 * gzip at the same q (it codes smaller); identity when the client sent no
 * Accept-Encoding (it may take none: RFC 9110 12.5.3 allows any, but
 * clients that decode send the field), or refuses both (even when it also
 * refuses identity: an uncoded answer beats a 406 it cannot use). */
static coding choose(const crater__request *r, int br_ok) {
  int qg = -1, qb = -1, qs = -1;
  for (int i = 0; i < r->nfields; i++) {
    const char *name, *value;
    size_t nlen, vlen;
    crater__request_field(r, i, &name, &nlen, &value, &vlen);
    if (crater__http_is_header(name, nlen, "Accept-Encoding")) parse_accept(value, vlen, &qg, &qb, &qs);
  }
  if (qg < 0) qg = qs > 0 ? qs : 0;
  if (qb < 0) qb = qs > 0 ? qs : 0;
  if (!br_ok) qb = 0;
  if (qb > 0 && qb >= qg) return CODING_BR;
  return qg > 0 ? CODING_GZIP : CODING_IDENTITY;
}

/* ===================================================================== */
/*  Coders                                                                 */
/* ===================================================================== */

static voidpf z_alloc(voidpf opaque, uInt items, uInt size) {
  (void)opaque;
  return crater__malloc((size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p) {
  (void)opaque;
  crater__free(p);
}

/* A whole body as gzip, with the server's deflate state (made here the
 * first time). */
static int gzip_body(crater_server *srv, int level, const char *in, size_t n, crater__buf *out) {
  if (n > UINT_MAX / 2) return -1; /* a body from Lua: never near this */
  struct crater__zcache *zc = srv->zcache;
  if (zc == NULL) {
    if ((zc = crater__calloc(1, sizeof(*zc))) == NULL) return -1;
    zc->z.zalloc = z_alloc;
    zc->z.zfree = z_free;
    if (deflateInit2(&zc->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      crater__free(zc);
      return -1;
    }
    zc->level = level;
    srv->zcache = zc;
  } else {
    deflateReset(&zc->z); /* also after a coding that failed midway */
    /* Right after a reset nothing is pending: the level changes alone. */
    if (zc->level != level) {
      if (deflateParams(&zc->z, level, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
      zc->level = level;
    }
  }
  uLong bound = deflateBound(&zc->z, (uLong)n);
  if (crater__buf_reserve(out, bound) != 0) return -1;
  zc->z.next_in = (Bytef *)(uintptr_t)in;
  zc->z.avail_in = (uInt)n;
  zc->z.next_out = (Bytef *)out->data;
  zc->z.avail_out = (uInt)bound;
  if (deflate(&zc->z, Z_FINISH) != Z_STREAM_END) return -1;
  out->len = bound - zc->z.avail_out;
  return 0;
}

/* Brotli 1.0.x calls exit() when an allocation fails (its
 * BROTLI_ENCODER_EXIT_ON_OOM default, which Debian's build keeps): a
 * server must never go down for want of memory in one answer. So its
 * allocator here never returns NULL: a failure jumps back to br_body,
 * which frees every block brotli held (each is linked in the arena) and
 * sends the body uncoded. Brotli keeps no state outside its instance, so
 * leaving it midway abandons nothing else. */
typedef union br_block {
  struct {
    union br_block *prev, *next;
  } link;
  max_align_t align; /* what follows the header is aligned for anything */
} br_block;

typedef struct {
  br_block blocks; /* the list's head: a ring through every live block */
  jmp_buf failed;
} br_arena;

static void *br_alloc(void *opaque, size_t size) {
  br_arena *a = opaque;
  br_block *b = size <= SIZE_MAX - sizeof(*b) ? crater__malloc(sizeof(*b) + size) : NULL;
  if (b == NULL) longjmp(a->failed, 1);
  b->link.prev = &a->blocks;
  b->link.next = a->blocks.link.next;
  b->link.next->link.prev = b;
  a->blocks.link.next = b;
  return b + 1;
}

static void br_free(void *opaque, void *p) {
  (void)opaque;
  if (p == NULL) return;
  br_block *b = (br_block *)p - 1;
  b->link.prev->link.next = b->link.next;
  b->link.next->link.prev = b->link.prev;
  crater__free(b);
}

/* A whole body as brotli, its window sized to the body like gzip_body's.
 * The arena is on the heap: a local object changed between setjmp and
 * longjmp would be indeterminate after the jump. */
static int br_body(int quality, const char *in, size_t n, crater__buf *out) {
  size_t bound = BrotliEncoderMaxCompressedSize(n);
  if (bound == 0 || n > UINT32_MAX || crater__buf_reserve(out, bound) != 0) return -1;
  br_arena *const a = crater__malloc(sizeof(*a));
  if (a == NULL) return -1;
  a->blocks.link.prev = a->blocks.link.next = &a->blocks;
  if (setjmp(a->failed) != 0) {
    while (a->blocks.link.next != &a->blocks) br_free(a, a->blocks.link.next + 1);
    crater__free(a);
    return -1;
  }
  BrotliEncoderState *s = BrotliEncoderCreateInstance(br_alloc, br_free, a);
  int lgwin = BROTLI_MIN_WINDOW_BITS;
  while (lgwin < 22 && ((size_t)1 << lgwin) < n) lgwin++;
  BrotliEncoderSetParameter(s, BROTLI_PARAM_QUALITY, (uint32_t)quality);
  BrotliEncoderSetParameter(s, BROTLI_PARAM_LGWIN, (uint32_t)lgwin);
  BrotliEncoderSetParameter(s, BROTLI_PARAM_SIZE_HINT, (uint32_t)n);
  BrotliEncoderSetParameter(s, BROTLI_PARAM_MODE, BROTLI_MODE_TEXT);
  const uint8_t *next_in = (const uint8_t *)in;
  size_t avail_in = n, avail_out = bound;
  uint8_t *next_out = (uint8_t *)out->data;
  int rc = -1;
  if (BrotliEncoderCompressStream(s, BROTLI_OPERATION_FINISH, &avail_in, &next_in, &avail_out,
                                  &next_out, NULL) &&
      BrotliEncoderIsFinished(s)) {
    out->len = bound - avail_out;
    rc = 0;
  }
  BrotliEncoderDestroyInstance(s);
  crater__free(a);
  return rc;
}

/* ===================================================================== */
/*  Headers                                                                */
/* ===================================================================== */

static const crater_header *find(const crater_header *hs, size_t nh, const char *name) {
  for (size_t i = 0; i < nh; i++)
    if (crater__http_is_header(hs[i].name, hs[i].name_len, name)) return &hs[i];
  return NULL;
}

/* 1 when the comma-separated list s holds tok (ignoring case and
 * parameters: "no-transform", "max-age=5, No-Transform"). */
static int has_token(const char *s, size_t n, const char *tok) {
  size_t tlen = strlen(tok), i = 0;
  while (i < n) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ',')) i++;
    size_t t0 = i;
    while (i < n && s[i] != ',' && s[i] != ' ' && s[i] != '\t' && s[i] != '=' && s[i] != ';') i++;
    if (i - t0 == tlen && strncasecmp(s + t0, tok, tlen) == 0) return 1;
    while (i < n && s[i] != ',') i++;
  }
  return 0;
}

/* Vary: Accept-Encoding, merged into the handler's Vary (kept when it
 * names Accept-Encoding or is "*"), or added. */
static void add_vary(crater_header *hs, size_t *nh, crater__buf *vary) {
  crater_header *first = NULL;
  for (size_t i = 0; i < *nh; i++) {
    if (!crater__http_is_header(hs[i].name, hs[i].name_len, "Vary")) continue;
    if (has_token(hs[i].value, hs[i].value_len, "Accept-Encoding") ||
        has_token(hs[i].value, hs[i].value_len, "*"))
      return;
    if (first == NULL) first = &hs[i];
  }
  if (first == NULL) {
    hs[(*nh)++] = (crater_header){"Vary", 4, "Accept-Encoding", 15};
    return;
  }
  if (first->value_len == 0) {
    first->value = "Accept-Encoding";
    first->value_len = 15;
    return;
  }
  /* Out of memory: the handler's Vary stays, one field more says the rest. */
  if (crater__buf_append(vary, first->value, first->value_len) != 0 ||
      crater__buf_append(vary, ", Accept-Encoding", 17) != 0) {
    hs[(*nh)++] = (crater_header){"Vary", 4, "Accept-Encoding", 15};
    return;
  }
  first->value = vary->data;
  first->value_len = vary->len;
}

/* A strong ETag names the bytes of one representation (RFC 9110 8.8.3):
 * the coded body is other bytes, so its tag becomes weak (W/"..."), as
 * nginx does; a conditional GET still matches it weakly. Returns 0, or
 * -1 when memory ran out (nothing changed). */
static int weaken_etag(crater_header *hs, size_t nh, crater__buf *etag) {
  for (size_t i = 0; i < nh; i++) {
    if (!crater__http_is_header(hs[i].name, hs[i].name_len, "ETag")) continue;
    if (hs[i].value_len == 0 || hs[i].value[0] != '"') return 0; /* weak already */
    if (crater__buf_append(etag, "W/", 2) != 0 || crater__buf_append(etag, hs[i].value, hs[i].value_len) != 0)
      return -1;
    hs[i].value = etag->data;
    hs[i].value_len = etag->len;
    return 0;
  }
  return 0;
}
