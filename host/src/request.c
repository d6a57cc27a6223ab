/* request.c - a request's storage (see request.h). */
#include "request.h"

#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "multipart.h"
#include "server.h"
#include "upload.h"

crater__request *crater__request_get(crater_server *srv) {
  crater__request *r = srv->free_requests;
  if (r != NULL) {
    srv->free_requests = r->next;
    uint64_t seq = r->seq; /* keep counting so stale Lua handles stay stale */
    memset(r, 0, sizeof(*r));
    r->seq = seq;
  } else {
    r = crater__calloc(1, sizeof(*r));
  }
  if (r != NULL) r->srv = srv; /* so a put before any begin finds its pool */
  return r;
}

void crater__request_put(crater__request *r) {
  crater_server *srv = r->srv;
  crater__request_free_buffers(r);
  r->seq++;
  r->next = srv->free_requests;
  srv->free_requests = r;
}

void crater__request_pool_free(crater_server *srv) {
  crater__request *r = srv->free_requests;
  while (r != NULL) {
    crater__request *next = r->next;
    crater__free(r);
    r = next;
  }
  srv->free_requests = NULL;
}

void crater__request_begin(crater__request *r, crater_server *srv) {
  r->srv = srv;
  r->method = NULL;
  r->head_only = 0;
  r->head.len = 0;
  r->url_len = 0;
  r->target_hash = 0;
  r->nfields = 0;
  r->bad_name = 0;
  r->target_off = 0;
  r->expect_continue = 0;
  r->answer = 0;
  r->body.len = 0;
  crater__request_body_release(r);
}

void crater__request_free_buffers(crater__request *r) {
  crater__buf_free(&r->head);
  crater__buf_free(&r->body);
  crater__request_body_release(r);
  crater__free(r->fields);
  r->fields = NULL;
  r->nfields = r->capfields = 0;
}

/* Copies n bytes, 4 <= n <= 16, with two loads and two stores each
 * covering the whole (they overlap): no call for the short pieces most
 * targets, names and values are. */
static inline void copy_short(char *dst, const char *src, size_t n) {
  if (n >= 8) {
    uint64_t a, b;
    memcpy(&a, src, 8);
    memcpy(&b, src + n - 8, 8);
    memcpy(dst, &a, 8);
    memcpy(dst + n - 8, &b, 8);
  } else {
    uint32_t a, b;
    memcpy(&a, src, 4);
    memcpy(&b, src + n - 4, 4);
    memcpy(dst, &a, 4);
    memcpy(dst + n - 4, &b, 4);
  }
}

/* Every piece of the request line and headers comes through here, a few
 * per request: the buffer nearly always has room (it is kept between
 * requests), so that case is a plain copy. */
static crater__req_err add_head(crater__request *r, const char *at, size_t len) {
  crater__buf *h = &r->head;
  if (h->len + len > r->srv->cfg.max_header_bytes) return CRATER__REQ_HEAD_TOO_BIG;
  if (h->cap - h->len >= len && len > 0) {
    if (len >= 4 && len <= 16) copy_short(h->data + h->len, at, len);
    else memcpy(h->data + h->len, at, len);
    h->len += len;
    return CRATER__REQ_OK;
  }
  return crater__buf_append(h, at, len) == 0 ? CRATER__REQ_OK : CRATER__REQ_NOMEM;
}

/* 1 when one of the 8-byte words x, y holds a '#' (a zero byte of
 * w ^ "########"). */
static inline int word_has_hash(uint64_t x, uint64_t y) {
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u, hashes = ones * '#';
  x ^= hashes;
  y ^= hashes;
  return ((((x - ones) & ~x) | ((y - ones) & ~y)) & highs) != 0;
}

/* A buffer cut down to what it holds (freed when empty); left as it is
 * when realloc cannot (it still holds everything). */
static void buf_fit(crater__buf *b) {
  if (b->len == b->cap) return;
  if (b->len == 0) {
    crater__buf_free(b);
    return;
  }
  char *p = crater__realloc(b->data, b->len);
  if (p == NULL) return;
  b->data = p;
  b->cap = b->len;
}

void crater__request_fit(crater__request *r) {
  buf_fit(&r->head);
  buf_fit(&r->body);
  if (r->nfields == r->capfields) return;
  if (r->nfields == 0) {
    crater__free(r->fields);
    r->fields = NULL;
    r->capfields = 0;
    return;
  }
  crater__field *f = crater__realloc(r->fields, sizeof(*f) * (size_t)r->nfields);
  if (f == NULL) return;
  r->fields = f;
  r->capfields = r->nfields;
}

crater__req_err crater__request_url(crater__request *r, const char *at, size_t len) {
  /* RFC 9112 3: a request-target longer than the server wishes to parse
   * is answered 414. */
  if (r->url_len + len > r->srv->cfg.max_uri_bytes) return CRATER__REQ_URI_TOO_LONG;
  crater__buf *h = &r->head;
  if (len >= 8 && len <= 16 && h->cap - h->len >= len && h->len + len <= r->srv->cfg.max_header_bytes) {
    /* Most targets: the words that copy it also tell whether it holds a
     * '#', which strict.c refuses (a fragment is no part of a target). */
    uint64_t a, b;
    memcpy(&a, at, 8);
    memcpy(&b, at + len - 8, 8);
    memcpy(h->data + h->len, &a, 8);
    memcpy(h->data + h->len + len - 8, &b, 8);
    h->len += len;
    r->url_len += len;
    r->target_hash |= word_has_hash(a, b);
    return CRATER__REQ_OK;
  }
  crater__req_err e = add_head(r, at, len);
  if (e == CRATER__REQ_OK) {
    r->url_len += len;
    r->target_hash |= memchr(at, '#', len) != NULL;
  }
  return e;
}

crater__req_err crater__request_field_name(crater__request *r, const char *at, size_t len, int next) {
  if (next || r->nfields == 0) {
    if (r->nfields == CRATER__MAX_FIELDS) return CRATER__REQ_TOO_MANY_FIELDS;
    if (r->nfields == r->capfields) {
      int cap = r->capfields ? r->capfields * 2 : 16;
      crater__field *f = crater__realloc(r->fields, sizeof(*f) * (size_t)cap);
      if (f == NULL) return CRATER__REQ_NOMEM;
      r->fields = f;
      r->capfields = cap;
    }
    /* An empty name (llhttp never splits off an empty first piece). Its
     * bytes are checked before: by llhttp (strict mode: a token), or by
     * inject.c. */
    if (len == 0) r->bad_name = 1;
    crater__field *f = &r->fields[r->nfields++];
    f->name_off = (uint32_t)r->head.len;
    f->name_len = 0;
    f->value_off = (uint32_t)r->head.len;
    f->value_len = 0;
  }
  crater__req_err e = add_head(r, at, len);
  if (e == CRATER__REQ_OK) {
    crater__field *f = &r->fields[r->nfields - 1];
    f->name_len += (uint32_t)len;
    f->value_off = (uint32_t)r->head.len;
  }
  return e;
}

crater__req_err crater__request_field_value(crater__request *r, const char *at, size_t len) {
  crater__req_err e = add_head(r, at, len);
  if (e == CRATER__REQ_OK) r->fields[r->nfields - 1].value_len += (uint32_t)len;
  return e;
}

/* An upload's refusal, its status kept for crater__request_refusal_of. */
static crater__req_err upload_refused(crater__request *r, crater__up_err e, const char *why) {
  static const int status[] = {0, 503, 413, 400, 503};
  if (e == CRATER__UP_NOMEM) return CRATER__REQ_NOMEM;
  r->upload_status = status[e];
  r->upload_why = why;
  return CRATER__REQ_UPLOAD_REFUSED;
}

crater__req_err crater__request_body_begin(crater__request *r) {
  char scratch[1024]; /* the value's parameters unquoted: a longer one is refused */
  for (int i = 0; i < r->nfields; i++) {
    const crater__field *f = &r->fields[i];
    if (f->name_len != 12 || strncasecmp(r->head.data + f->name_off, "content-type", 12) != 0) continue;
    const char *b, *why;
    size_t blen;
    if (!crater__mp_content_type(r->head.data + f->value_off, f->value_len, &b, &blen, scratch,
                                 sizeof(scratch), &why))
      return CRATER__REQ_OK;
    if (b == NULL) {
      /* Nothing to parse it with: an ordinary body, and a 400 for the
       * handler that reads its form (a route that wants JSON says 415). */
      r->upload_why = why;
      return CRATER__REQ_OK;
    }
    r->upload = crater__upload_new(r->srv, b, blen);
    return r->upload != NULL ? CRATER__REQ_OK : CRATER__REQ_NOMEM;
  }
  return CRATER__REQ_OK;
}

crater__req_err crater__request_body_end(crater__request *r) {
  const char *why = NULL;
  crater__up_err e = r->upload != NULL ? crater__upload_end(r->upload, &why) : CRATER__UP_OK;
  return e == CRATER__UP_OK ? CRATER__REQ_OK : upload_refused(r, e, why);
}

size_t crater__request_body_limit(const crater__request *r) {
  return r->upload != NULL ? r->srv->cfg.max_upload_bytes : r->srv->cfg.max_body_bytes;
}

void crater__request_body_release(crater__request *r) {
  crater__upload_free(r->upload);
  r->upload = NULL;
  r->upload_status = 0;
  r->upload_why = NULL;
}

crater__req_err crater__request_body(crater__request *r, const char *at, size_t len) {
  if (r->upload != NULL) {
    const char *why = NULL;
    crater__up_err e = crater__upload_feed(r->upload, at, len, &why);
    return e == CRATER__UP_OK ? CRATER__REQ_OK : upload_refused(r, e, why);
  }
  if (r->body.len + len > r->srv->cfg.max_body_bytes) return CRATER__REQ_BODY_TOO_BIG;
  return crater__buf_append(&r->body, at, len) == 0 ? CRATER__REQ_OK : CRATER__REQ_NOMEM;
}

int crater__request_refusal(crater__req_err e, const char **why) {
  switch (e) {
    case CRATER__REQ_OK: break;
    case CRATER__REQ_NOMEM:
      *why = "out of memory storing the request";
      return 503;
    case CRATER__REQ_HEAD_TOO_BIG:
      *why = "request line and headers larger than the limit (--max-header)";
      return 431;
    case CRATER__REQ_URI_TOO_LONG:
      *why = "request target longer than the limit (--max-uri)";
      return 414;
    case CRATER__REQ_TOO_MANY_FIELDS:
      *why = "too many header fields";
      return 431;
    case CRATER__REQ_BODY_TOO_BIG:
      *why = "request body larger than the limit (--max-body)";
      return 413;
    case CRATER__REQ_UPLOAD_REFUSED:
      *why = "malformed or too large multipart/form-data body";
      return 400;
  }
  *why = "";
  return 0;
}

int crater__request_refusal_of(const crater__request *r, crater__req_err e, const char **why) {
  if (e == CRATER__REQ_UPLOAD_REFUSED && r->upload_status != 0) {
    *why = r->upload_why;
    return r->upload_status;
  }
  return crater__request_refusal(e, why);
}

int crater__request_valid(const crater__request *r, uint64_t seq) {
  return r != NULL && r->seq == seq && r->state != CRATER__REQ_IDLE;
}

void crater__request_field(const crater__request *r, int i, const char **name, size_t *nlen,
                           const char **value, size_t *vlen) {
  const crater__field *f = &r->fields[i];
  *name = r->head.data + f->name_off;
  *nlen = f->name_len;
  *value = f->value_len ? r->head.data + f->value_off : "";
  *vlen = f->value_len;
}

const char *crater__request_body_data(const crater__request *r, size_t *len) {
  *len = r->body.len;
  return r->body.len ? r->body.data : "";
}
