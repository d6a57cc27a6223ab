/* inject.c - requests without a socket (see inject.h).
 *
 * An injected request is stored in a crater__request from the server's
 * pool, through the same request.c functions and limits the socket parser
 * uses, checked like a parsed one, and answered by the same pipeline; only
 * the sink differs: the answer is gathered into one crater_response
 * instead of being written, and a streamed body is joined. */
#include "inject.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "log.h"
#include "pipeline.h"
#include "server.h"
#include "strict.h"

/* The answer being gathered: header text and offsets grow, then build()
 * packs everything into one allocation. */
typedef struct {
  size_t name_off, name_len, value_off, value_len;
} hdr_off;

typedef struct {
  int status;
  int truncated;
  int no_body;       /* HEAD, 204, 304: the body is not kept */
  int done;          /* the pipeline called done */
  int failed;        /* an append ran out of memory */
  crater__buf text;  /* header names and values, each followed by a NUL */
  crater__buf offs;  /* hdr_off entries */
  crater__buf body;
  crater__inject_job *job; /* crater_inject's, or NULL for a synchronous one */
} collector;

struct crater__inject_job {
  uv_timer_t timer;  /* zero-delay: runs the request on the next loop iteration */
  crater_server *srv;
  crater_inject_cb cb;
  void *udata;
  crater__inject_job *next, *prev; /* the server's jobs */
  crater__request *r;              /* while in flight */
  collector col;
  crater_request req;              /* points into the memory after this struct */
};

static int check_request(crater_server *srv, const crater_request *req, size_t *url_len);
static int start(crater_server *srv, crater__request *r, const crater_request *req, size_t url_len,
                 collector *col, crater__gen *g, int fn_ref);
static int run_sync(crater_server *srv, crater__gen *g, int fn_ref, const crater_request *req,
                    crater_response **out, int may_run_loop);
static crater_response *build(collector *col);
static void collector_free(collector *col);
static void job_timer_cb(uv_timer_t *t);
static void job_finish(crater__inject_job *j, int rc);
static void job_closed(uv_handle_t *h);

static void sink_respond(void *ctx, crater__request *r, const crater__response *res);
static int sink_chunk(void *ctx, crater__request *r, const char *data, size_t len);
static void sink_done(void *ctx, crater__request *r, int ok);

static const crater__sink inject_sink = {
  .respond = sink_respond,
  .chunk = sink_chunk,
  .flush = NULL,
  .done = sink_done,
};

/* ===================================================================== */
/*  Public entry points                                                    */
/* ===================================================================== */

int crater_inject_sync(crater_server *srv, const crater_request *req, crater_response **out) {
  if (srv == NULL) return CRATER_EINVAL;
  if (req == NULL || out == NULL) return crater__fail(srv, CRATER_EINVAL, "crater_inject_sync: NULL argument");
  *out = NULL;
  if (srv->closed) return crater__fail(srv, CRATER_ESTATE, "crater_inject_sync: the server is closed");
  return run_sync(srv, NULL, 0, req, out, 0);
}

int crater_inject(crater_server *srv, const crater_request *req, crater_inject_cb cb, void *udata) {
  size_t url_len;
  if (srv == NULL) return CRATER_EINVAL;
  if (req == NULL || cb == NULL) return crater__fail(srv, CRATER_EINVAL, "crater_inject: NULL request or callback");
  if (srv->closing) return crater__fail(srv, CRATER_ESTATE, "crater_inject: the server is closing");
  int rc = check_request(srv, req, &url_len);
  if (rc != 0) return rc;
  /* One allocation: the job, the header array, then every string. */
  size_t mlen = strlen(req->method) + 1;
  size_t size = sizeof(crater__inject_job) + req->nheaders * sizeof(crater_header) + mlen +
                url_len + 1 + req->body_len + 1;
  for (size_t i = 0; i < req->nheaders; i++)
    size += req->headers[i].name_len + req->headers[i].value_len + 2;
  crater__inject_job *j = crater__calloc(1, size);
  if (j == NULL) return crater__fail(srv, CRATER_ENOMEM, "out of memory");
  crater_header *hs = (crater_header *)(j + 1);
  char *p = (char *)(hs + req->nheaders);
#define COPY(dst, src, n) (memcpy(p, (src) ? (src) : "", (n)), p[(n)] = '\0', (dst) = p, p += (n) + 1)
  COPY(j->req.method, req->method, mlen - 1);
  COPY(j->req.url, req->url, url_len);
  j->req.url_len = url_len;
  for (size_t i = 0; i < req->nheaders; i++) {
    COPY(hs[i].name, req->headers[i].name, req->headers[i].name_len);
    hs[i].name_len = req->headers[i].name_len;
    COPY(hs[i].value, req->headers[i].value, req->headers[i].value_len);
    hs[i].value_len = req->headers[i].value_len;
  }
  COPY(j->req.body, req->body, req->body_len);
#undef COPY
  j->req.body_len = req->body_len;
  j->req.headers = hs;
  j->req.nheaders = req->nheaders;
  j->srv = srv;
  j->cb = cb;
  j->udata = udata;
  j->col.job = j;
  uv_timer_init(srv->loop, &j->timer);
  j->timer.data = j;
  uv_timer_start(&j->timer, job_timer_cb, 0, 0);
  j->next = srv->jobs;
  if (srv->jobs) srv->jobs->prev = j;
  srv->jobs = j;
  srv->injecting++;
  return 0;
}

void crater_response_free(crater_response *res) { crater__free(res); }

void crater__inject_abort_all(crater_server *srv) {
  crater__inject_job *j = srv->jobs;
  while (j != NULL) {
    crater__inject_job *next = j->next;
    if (j->r != NULL) {
      crater__pipeline_abort(j->r);
      job_finish(j, CRATER_ESTATE);
    }
    j = next;
  }
}

/* ===================================================================== */
/*  crater_inject's jobs                                                   */
/* ===================================================================== */

static void job_timer_cb(uv_timer_t *t) {
  crater__inject_job *j = t->data;
  crater_server *srv = j->srv;
  j->r = crater__request_get(srv);
  if (j->r == NULL) {
    job_finish(j, CRATER_ENOMEM);
    return;
  }
  int rc = start(srv, j->r, &j->req, j->req.url_len, &j->col, NULL, 0);
  if (rc != 0) job_finish(j, rc); /* else sink_done finishes it, now or later */
}

/* The answer is complete (rc 0) or will never be: call back, then free. */
static void job_finish(crater__inject_job *j, int rc) {
  crater_response *res = NULL;
  if (rc == 0 && (j->col.failed || (res = build(&j->col)) == NULL)) rc = CRATER_ENOMEM;
  if (j->r != NULL) {
    crater__request_put(j->r);
    j->r = NULL;
  }
  collector_free(&j->col);
  j->cb(j->srv, rc, res, j->udata);
  crater_response_free(res);
  uv_close((uv_handle_t *)&j->timer, job_closed);
}

static void job_closed(uv_handle_t *h) {
  crater__inject_job *j = h->data;
  crater_server *srv = j->srv;
  if (j->prev) j->prev->next = j->next;
  else srv->jobs = j->next;
  if (j->next) j->next->prev = j->prev;
  crater__free(j);
  srv->injecting--;
  crater__server_maybe_done(srv);
}

int crater__inject_run(crater_server *srv, crater__gen *g, int fn_ref, const crater_request *req,
                       crater_response **out) {
  *out = NULL;
  /* crater test's specs run before the loop does: a handler that waits
   * can be waited for by running the loop here, nowhere else (a request
   * or hook inside a loop callback must not run the loop again). */
  return run_sync(srv, g, fn_ref, req, out, srv->specs_running && srv->current == NULL);
}

/* ===================================================================== */
/*  Into the pipeline                                                      */
/* ===================================================================== */

/* g/fn_ref: run that dispatcher of that generation (crater.test's client
 * of an app object) instead of the server's current app (g NULL). The
 * request cannot wait for the loop: one that does is cancelled
 * (CRATER_ESTATE). */
static int run_sync(crater_server *srv, crater__gen *g, int fn_ref, const crater_request *req,
                    crater_response **out, int may_run_loop) {
  size_t url_len;
  int rc = check_request(srv, req, &url_len);
  if (rc != 0) return rc;
  crater__request *r = crater__request_get(srv);
  if (r == NULL) return crater__fail(srv, CRATER_ENOMEM, "out of memory");
  collector col = {0};
  rc = start(srv, r, req, url_len, &col, g, fn_ref);
  while (rc == 0 && !col.done && may_run_loop && uv_run(srv->loop, UV_RUN_ONCE) != 0) {
  }
  if (rc == 0 && !col.done) {
    crater__pipeline_abort(r);
    rc = crater__fail(srv, CRATER_ESTATE,
                      "the handler of %s %.*s waited for the loop, which a synchronous injection "
                      "cannot run: use crater_inject()", req->method, (int)url_len, req->url);
  }
  if (rc == 0 && (col.failed || (*out = build(&col)) == NULL))
    rc = crater__fail(srv, CRATER_ENOMEM, "out of memory");
  collector_free(&col);
  crater__request_put(r);
  return rc;
}

/* Stores the request in r as the parser would have, with the same limits
 * and field rules, and starts the pipeline (or a refusal). Returns 0
 * (col->done tells whether the answer is complete), or CRATER_ENOMEM. */
static int start(crater_server *srv, crater__request *r, const crater_request *req, size_t url_len,
                 collector *col, crater__gen *g, int fn_ref) {
  crater__request_begin(r, srv);
  snprintf(r->peer, sizeof(r->peer), "inject");
  snprintf(r->method_buf, sizeof(r->method_buf), "%s", req->method);
  r->method = r->method_buf;
  r->head_only = strcmp(req->method, "HEAD") == 0;
  col->no_body = r->head_only;
  if (g == NULL) srv->stats.requests_injected++; /* "of requests_total": not a crater.test app's */
  const char *why = NULL;
  int refuse = 0;
  crater__req_err e = crater__request_url(r, req->url, url_len);
  for (size_t i = 0; i < req->nheaders && e == CRATER__REQ_OK; i++) {
    const crater_header *h = &req->headers[i];
    /* llhttp refuses these in a parsed request's names and values, in these words. */
    if (refuse == 0 && !crater__http_field_name_ok(h->name, h->name_len)) {
      refuse = 400;
      why = "Invalid header token";
    }
    if (refuse == 0 && !crater__http_field_value_ok(h->value, h->value_len)) {
      refuse = 400;
      why = "Invalid header value char";
    }
    e = crater__request_field_name(r, h->name, h->name_len, 1);
    /* Without the whitespace around the value, as a parsed one (RFC 9110
     * 5.5): the leading here, the trailing in crater__strict_request. */
    const char *v = h->value;
    size_t vlen = h->value_len;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
      v++;
      vlen--;
    }
    if (e == CRATER__REQ_OK && vlen > 0) e = crater__request_field_value(r, v, vlen);
  }
  if (e == CRATER__REQ_OK && refuse == 0 && !crater__request_names_ok(r, &why)) refuse = 400;
  /* Host and the target as for a parsed request, but no Host required. */
  if (e == CRATER__REQ_OK && refuse == 0) refuse = crater__strict_request(r, 0, &why);
  if (e == CRATER__REQ_OK && refuse == 0 && req->body_len > 0) e = crater__request_body_begin(r);
  if (e == CRATER__REQ_OK && req->body_len > crater__request_body_limit(r) && r->upload != NULL) {
    refuse = 413;
    why = "multipart body larger than the limit (--max-upload)";
  }
  if (e == CRATER__REQ_OK && refuse == 0 && req->body_len > 0)
    e = crater__request_body(r, req->body, req->body_len);
  if (e == CRATER__REQ_OK && refuse == 0) e = crater__request_body_end(r);
  if (e == CRATER__REQ_NOMEM) return crater__fail(srv, CRATER_ENOMEM, "out of memory");
  if (e != CRATER__REQ_OK) refuse = crater__request_refusal_of(r, e, &why);
  if (refuse != 0) {
    if (g == NULL) srv->stats.requests_total++;
    crater__pipeline_refuse(r, &inject_sink, col, refuse, why);
    return 0;
  }
  if (g == NULL) crater__pipeline_start(r, &inject_sink, col);
  else crater__pipeline_start_in(r, &inject_sink, col, g, fn_ref);
  return 0;
}

static int is_token_char(char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

/* What cannot make a request at all (CRATER_EINVAL); what a socket client
 * could send but is refused (limits, bad field characters) is answered. */
static int check_request(crater_server *srv, const crater_request *req, size_t *url_len) {
  const char *m = req->method;
  if (m == NULL || m[0] == '\0' || strlen(m) > 32)
    return crater__fail(srv, CRATER_EINVAL, "the method must be a non-empty token of at most 32 characters");
  for (const char *p = m; *p; p++) {
    if (!is_token_char(*p))
      return crater__fail(srv, CRATER_EINVAL,
                          "the method must be upper case letters, digits, '-' or '_': %s", m);
  }
  if (req->url == NULL) return crater__fail(srv, CRATER_EINVAL, "the request has no url");
  size_t n = req->url_len ? req->url_len : strlen(req->url);
  if (n == 0 || (req->url[0] != '/' && req->url[0] != '*' && strncasecmp(req->url, "http", 4) != 0))
    return crater__fail(srv, CRATER_EINVAL,
                        "the url must start with '/' (origin form), e.g. /items?limit=2");
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)req->url[i];
    if (ch <= 0x20 || ch == 0x7f)
      return crater__fail(srv, CRATER_EINVAL, "the url contains a space or control character at byte %zu", i);
  }
  if ((req->nheaders > 0 && req->headers == NULL) || (req->body_len > 0 && req->body == NULL))
    return crater__fail(srv, CRATER_EINVAL, "headers or body is NULL with a non-zero count");
  for (size_t i = 0; i < req->nheaders; i++) {
    const crater_header *h = &req->headers[i];
    if (h->name == NULL || h->name_len == 0 || (h->value == NULL && h->value_len > 0) ||
        crater__http_has_crlf(h->name, h->name_len) ||
        (h->value && crater__http_has_crlf(h->value, h->value_len)) ||
        memchr(h->name, ':', h->name_len) != NULL)
      return crater__fail(srv, CRATER_EINVAL,
                          "request header %zu has an empty name, a ':' in its name, or CR/LF/NUL", i);
  }
  *url_len = n;
  return 0;
}

/* ===================================================================== */
/*  The sink: gathering the answer                                         */
/* ===================================================================== */

static void add(collector *b, crater__buf *buf, const char *s, size_t n) {
  if (crater__buf_append(buf, s, n) != 0) b->failed = 1;
}

static void sink_respond(void *ctx, crater__request *r, const crater__response *res) {
  collector *b = ctx;
  (void)r;
  b->status = res->status;
  for (size_t i = 0; i < res->nheaders; i++) {
    const crater_header *h = &res->headers[i];
    hdr_off o = {b->text.len, h->name_len, b->text.len + h->name_len + 1, h->value_len};
    add(b, &b->text, h->name, h->name_len);
    add(b, &b->text, "", 1);
    add(b, &b->text, h->value, h->value_len);
    add(b, &b->text, "", 1);
    add(b, &b->offs, (const char *)&o, sizeof(o));
  }
  if (crater__http_bodyless(res->status)) b->no_body = 1;
  /* A socket client takes a streamed body at its pace; here nobody waits,
   * so it runs to its end now (for HEAD too, as over a socket). */
  if (!(res->flags & (CRATER__RES_STREAM | CRATER__RES_FILE)) && !b->no_body)
    add(b, &b->body, res->body, res->body_len);
}

static int sink_chunk(void *ctx, crater__request *r, const char *data, size_t len) {
  collector *b = ctx;
  (void)r;
  if (!b->no_body) add(b, &b->body, data, len);
  return 0;
}

static void sink_done(void *ctx, crater__request *r, int ok) {
  collector *b = ctx;
  (void)r;
  b->done = 1;
  b->truncated = !ok;
  if (b->job != NULL) job_finish(b->job, 0); /* crater_inject's: call back now */
}

static crater_response *build(collector *col) {
  size_t n = col->offs.len / sizeof(hdr_off);
  size_t size = sizeof(crater_response) + n * sizeof(crater_header) + col->text.len + col->body.len + 1;
  crater_response *res = crater__malloc(size);
  if (res == NULL) return NULL;
  crater_header *hs = (crater_header *)(res + 1);
  char *text = (char *)(hs + n);
  char *body = text + col->text.len;
  if (col->text.len) memcpy(text, col->text.data, col->text.len);
  if (col->body.len) memcpy(body, col->body.data, col->body.len);
  body[col->body.len] = '\0';
  const hdr_off *o = (const hdr_off *)col->offs.data;
  for (size_t i = 0; i < n; i++) {
    hs[i].name = text + o[i].name_off;
    hs[i].name_len = o[i].name_len;
    hs[i].value = text + o[i].value_off;
    hs[i].value_len = o[i].value_len;
  }
  res->status = col->status;
  res->headers = hs;
  res->nheaders = n;
  res->body = body;
  res->body_len = col->body.len;
  res->truncated = col->truncated;
  return res;
}

static void collector_free(collector *col) {
  crater__buf_free(&col->text);
  crater__buf_free(&col->offs);
  crater__buf_free(&col->body);
}
