/* inject.c - requests without a socket: crater_inject, crater_inject_sync
 * and crater.host.inject (which crater.test's client uses).
 *
 * An injected request is stored in a crater__conn that has no socket: the
 * Lua bindings read every request through the crater__conn_* accessors and
 * a (conn, seq) pair, so they serve injected requests unchanged, and the
 * conn comes from and returns to the server's pool, which keeps stale pairs
 * safe exactly as for socket connections. The URL is split and the
 * generation entered by dispatch.c, as for a socket request; only the
 * framing differs: the answer is gathered into a crater_response instead of
 * being written, and a streamed body is pulled to its end and joined. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#include "alloc.h"
#include "conn.h"
#include "reload.h"
#include "vm.h"

#define MAX_INJECT_HEADERS 128 /* as conn.c refuses more with 431 */

/* The answer being gathered: header text and offsets grow, then build()
 * packs everything into one allocation. */
typedef struct {
  size_t name_off, name_len, value_off, value_len;
} hdr_off;

typedef struct {
  int status;
  int truncated;
  crater__buf text;  /* header names and values, each followed by a NUL */
  crater__buf offs;  /* hdr_off entries */
  crater__buf body;
  int failed;        /* an append ran out of memory */
} builder;

typedef struct {
  uv_timer_t timer;  /* zero-delay: runs the request on the next loop iteration */
  crater_server *srv;
  crater_inject_cb cb;
  void *udata;
  crater_request req; /* points into the memory after this struct */
} job;

static int run(crater_server *srv, crater__gen *gfix, int fn_ref, const crater_request *req,
               crater_response **out);
static int check_request(crater_server *srv, const crater_request *req, size_t *url_len);
static void job_timer_cb(uv_timer_t *t);
static void job_closed(uv_handle_t *h);

/* ===================================================================== */
/*  Public entry points                                                    */
/* ===================================================================== */

int crater_inject_sync(crater_server *srv, const crater_request *req, crater_response **out) {
  if (srv == NULL || req == NULL || out == NULL) return CRATER_EINVAL;
  *out = NULL;
  return run(srv, NULL, LUA_NOREF, req, out);
}

int crater_inject(crater_server *srv, const crater_request *req, crater_inject_cb cb, void *udata) {
  size_t url_len;
  if (srv == NULL || req == NULL || cb == NULL) return CRATER_EINVAL;
  if (srv->closing) return CRATER_ESTATE;
  int rc = check_request(srv, req, &url_len);
  if (rc != 0) return rc;
  /* One allocation: the job, the header array, then every string. */
  size_t mlen = strlen(req->method) + 1;
  size_t size = sizeof(job) + req->nheaders * sizeof(crater_header) + mlen + url_len + 1 +
                req->body_len + 1;
  for (size_t i = 0; i < req->nheaders; i++)
    size += req->headers[i].name_len + req->headers[i].value_len + 2;
  job *j = crater__calloc(1, size);
  if (j == NULL) return CRATER_ENOMEM;
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
  uv_timer_init(srv->loop, &j->timer);
  j->timer.data = j;
  uv_timer_start(&j->timer, job_timer_cb, 0, 0);
  srv->injecting++;
  return 0;
}

void crater_response_free(crater_response *res) { crater__free(res); }

int crater__inject_pending(const crater_server *srv) { return srv->injecting > 0; }

static void job_timer_cb(uv_timer_t *t) {
  job *j = t->data;
  crater_response *res = NULL;
  int rc = run(j->srv, NULL, LUA_NOREF, &j->req, &res);
  j->cb(j->srv, rc, rc == 0 ? res : NULL, j->udata);
  crater_response_free(res);
  uv_close((uv_handle_t *)t, job_closed);
}

static void job_closed(uv_handle_t *h) {
  job *j = h->data;
  crater_server *srv = j->srv;
  crater__free(j);
  srv->injecting--;
  crater__server_maybe_done(srv);
}

/* ===================================================================== */
/*  crater.host.inject(dispatch|nil, method, url, headers, body)           */
/*    -> status, body, { name1, value1, ... }, truncated                   */
/* ===================================================================== */

int crater__inject_lua(lua_State *L) {
  crater__gen *g = lua_touserdata(L, lua_upvalueindex(1));
  crater_server *srv = g->srv;
  int has_fn = lua_isfunction(L, 1);
  if (!has_fn && !lua_isnil(L, 1)) luaL_argerror(L, 1, "a dispatcher function or nil");
  crater_request req = {0};
  req.method = luaL_checkstring(L, 2);
  req.url = luaL_checklstring(L, 3, &req.url_len);
  req.body = luaL_optlstring(L, 5, "", &req.body_len);
  int nflat = lua_istable(L, 4) ? (int)lua_objlen(L, 4) : 0;
  if (nflat / 2 > MAX_INJECT_HEADERS) return luaL_error(L, "too many request headers");
  crater_header hs[MAX_INJECT_HEADERS];
  for (int i = 0; i < nflat / 2; i++) {
    lua_rawgeti(L, 4, 2 * i + 1);
    lua_rawgeti(L, 4, 2 * i + 2);
    hs[i].name = lua_tolstring(L, -2, &hs[i].name_len);
    hs[i].value = lua_tolstring(L, -1, &hs[i].value_len);
    if (hs[i].name == NULL || hs[i].value == NULL)
      return luaL_error(L, "request header %d is not a string pair", i + 1);
    lua_pop(L, 2); /* the table keeps them alive */
  }
  req.headers = hs;
  req.nheaders = (size_t)(nflat / 2);
  int ref = LUA_NOREF;
  if (has_fn) {
    lua_pushvalue(L, 1);
    ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  crater_response *res = NULL;
  int rc = run(srv, has_fn ? g : NULL, ref, &req, &res);
  if (ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, ref);
  if (rc == CRATER_EINVAL) return luaL_error(L, "invalid request: %s", srv->last_error);
  if (rc != 0) return luaL_error(L, "inject failed: %s", crater_strerror(rc));
  lua_pushinteger(L, res->status);
  lua_pushlstring(L, res->body, res->body_len);
  lua_createtable(L, (int)res->nheaders * 2, 0);
  for (size_t i = 0; i < res->nheaders; i++) {
    lua_pushlstring(L, res->headers[i].name, res->headers[i].name_len);
    lua_rawseti(L, -2, (int)(2 * i + 1));
    lua_pushlstring(L, res->headers[i].value, res->headers[i].value_len);
    lua_rawseti(L, -2, (int)(2 * i + 2));
  }
  lua_pushboolean(L, res->truncated);
  crater_response_free(res);
  return 4;
}

/* ===================================================================== */
/*  The pipeline                                                           */
/* ===================================================================== */

static void add(builder *b, crater__buf *buf, const char *s, size_t n) {
  if (crater__buf_append(buf, s, n) != 0) b->failed = 1;
}

static void add_header(builder *b, const char *name, size_t nlen, const char *value, size_t vlen) {
  hdr_off o = {b->text.len, nlen, b->text.len + nlen + 1, vlen};
  add(b, &b->text, name, nlen);
  add(b, &b->text, "", 1);
  add(b, &b->text, value, vlen);
  add(b, &b->text, "", 1);
  add(b, &b->offs, (const char *)&o, sizeof(o));
}

/* The answer the core gives itself (conn.c's refuse() for a socket). */
static void refused(crater_server *srv, builder *b, int status, const char *why) {
  srv->stats.requests_refused++;
  crater__log(srv, status >= 500 ? CRATER_LOG_ERROR : CRATER_LOG_WARN,
              "refused %d from inject: %s", status, why);
  b->status = status;
  add_header(b, "Content-Type", 12, "application/problem+json", 24);
  if (crater__http_problem_body(&b->body, status, why) != 0) b->failed = 1;
}

/* Gathers what the dispatcher answered, keeping the headers
 * crater__http_response_header_use() says to copy, as a socket answer does. */
static void collect(crater_server *srv, crater__gen *g, crater__response *res, int head_only,
                    builder *b) {
  b->status = res->status;
  if (res->ctype != NULL) add_header(b, "Content-Type", 12, res->ctype, res->ctype_len);
  for (int i = 0; i < res->nheaders; i++) {
    const char *name, *value;
    size_t nlen, vlen;
    crater__gen_header(res, i, &name, &nlen, &value, &vlen);
    crater__hdr_use use = crater__http_response_header_use(name, nlen, value, vlen);
    if (use == CRATER__HDR_UNSAFE)
      crater__log(srv, CRATER_LOG_ERROR, "dropped response header with an empty name or CR/LF");
    if (use != CRATER__HDR_COPY) continue;
    add_header(b, name, nlen, value, vlen);
  }
  int bodyless = crater__http_bodyless(res->status) || head_only;
  if (!res->streaming) {
    if (!bodyless) add(b, &b->body, res->body, res->body_len);
    crater__gen_done(g, res);
    return;
  }
  /* A socket client takes the chunks at its pace; here nobody waits, so the
   * stream runs to its end now (for HEAD too, as over a socket). */
  lua_settop(res->T, 0);
  for (;;) {
    const char *chunk;
    size_t len;
    int rc = crater__gen_resume(g, res, &chunk, &len);
    if (rc <= 0) {
      b->truncated = rc < 0;
      return;
    }
    if (!bodyless) add(b, &b->body, chunk, len);
  }
}

static crater_response *build(builder *b) {
  size_t n = b->offs.len / sizeof(hdr_off);
  size_t size = sizeof(crater_response) + n * sizeof(crater_header) + b->text.len + b->body.len + 1;
  crater_response *r = crater__malloc(size);
  if (r == NULL) return NULL;
  crater_header *hs = (crater_header *)(r + 1);
  char *text = (char *)(hs + n);
  char *body = text + b->text.len;
  if (b->text.len) memcpy(text, b->text.data, b->text.len);
  if (b->body.len) memcpy(body, b->body.data, b->body.len);
  body[b->body.len] = '\0';
  const hdr_off *o = (const hdr_off *)b->offs.data;
  for (size_t i = 0; i < n; i++) {
    hs[i].name = text + o[i].name_off;
    hs[i].name_len = o[i].name_len;
    hs[i].value = text + o[i].value_off;
    hs[i].value_len = o[i].value_len;
  }
  r->status = b->status;
  r->headers = hs;
  r->nheaders = n;
  r->body = body;
  r->body_len = b->body.len;
  r->truncated = b->truncated;
  return r;
}

/* A pooled conn without a socket (see the top of this file). */
static crater__conn *conn_get(crater_server *srv) {
  crater__conn *c = crater__conn_pooled(srv);
  if (c == NULL) return NULL;
  c->srv = srv;
  c->fd = -1; /* no socket */
  snprintf(c->peer, sizeof(c->peer), "inject");
  return c;
}

static void conn_put(crater_server *srv, crater__conn *c) {
  crater__buf_free(&c->head);
  crater__buf_free(&c->body);
  crater__free(c->headers);
  c->headers = NULL;
  c->seq++; /* invalidate any (conn, seq) still held by Lua */
  c->flags = CONN_F_CLOSED;
  c->next = srv->free_conns;
  c->prev = NULL;
  srv->free_conns = c;
}

/* Copies the request into c as the parser would have. Returns 0, or -1
 * when memory ran out; *refuse is set to 431 or 413 over the limits. */
static int conn_fill(crater__conn *c, const crater_request *req, size_t url_len, int *refuse,
                     const char **why) {
  const crater_config *cfg = &c->srv->cfg;
  size_t head = url_len;
  for (size_t i = 0; i < req->nheaders; i++)
    head += req->headers[i].name_len + req->headers[i].value_len;
  if (head > cfg->max_header_bytes || req->nheaders > MAX_INJECT_HEADERS) {
    *refuse = 431;
    *why = "request line and headers larger than the limit (--max-header)";
    return 0;
  }
  if (req->body_len > cfg->max_body_bytes) {
    *refuse = 413;
    *why = "request body larger than the limit (--max-body)";
    return 0;
  }
  if (crater__buf_reserve(&c->head, head + 1) != 0) return -1;
  crater__buf_append(&c->head, req->url, url_len);
  c->url_len = url_len;
  if (req->nheaders > 0) {
    c->headers = crater__calloc(req->nheaders, sizeof(*c->headers));
    if (c->headers == NULL) return -1;
    c->capheaders = (int)req->nheaders;
  }
  for (size_t i = 0; i < req->nheaders; i++) {
    crater__header *h = &c->headers[c->nheaders++];
    h->name_off = (uint32_t)c->head.len;
    h->name_len = (uint32_t)req->headers[i].name_len;
    crater__buf_append(&c->head, req->headers[i].name, req->headers[i].name_len);
    h->value_off = (uint32_t)c->head.len;
    h->value_len = (uint32_t)req->headers[i].value_len;
    if (h->value_len > 0) crater__buf_append(&c->head, req->headers[i].value, h->value_len);
  }
  if (req->body_len > 0 && crater__buf_append(&c->body, req->body, req->body_len) != 0) return -1;
  return 0;
}

/* gfix/fn_ref: run that dispatcher of that generation (crater.test's client
 * of an app object) instead of the server's current app. */
static int run(crater_server *srv, crater__gen *gfix, int fn_ref, const crater_request *req,
               crater_response **out) {
  size_t url_len;
  int rc = check_request(srv, req, &url_len);
  if (rc != 0) return rc;
  crater__conn *c = conn_get(srv);
  if (c == NULL) return CRATER_ENOMEM;
  builder b = {0};
  int refuse = 0;
  const char *why = NULL;
  if (conn_fill(c, req, url_len, &refuse, &why) != 0) {
    rc = CRATER_ENOMEM;
    goto failed;
  }
  c->seq++;
  srv->stats.requests_injected++;
  if (refuse != 0) {
    srv->stats.requests_total++;
    refused(srv, &b, refuse, why);
  } else {
    crater__reqinfo ri;
    crater__reqinfo_init(&ri, req->method, c->head.data, c->url_len, c, c->seq);
    crater__response res;
    crater__gen *g = gfix != NULL ? gfix : srv->gen;
    if (gfix == NULL && crater__reload_stale_body(srv, &b.body)) {
      /* As over a socket: with --dev, a failed reload answers every request
       * (counted there). */
      b.status = 500;
      add_header(&b, "Content-Type", 12, "application/problem+json", 24);
      add_header(&b, "X-Crater-Stale", 14, "1", 1);
    } else {
      if (gfix == NULL) srv->stats.requests_total++; /* a crater.test app is not the server's */
      rc = g == NULL ? CRATER_ENOAPP : crater__dispatch(g, fn_ref, &ri, &res);
      if (rc == CRATER_ENOAPP) {
        refused(srv, &b, 503, "no application loaded");
      } else if (rc != 0) {
        refused(srv, &b, 500, "the application's dispatcher failed; see the server log");
      } else {
        collect(srv, g, &res, strcmp(req->method, "HEAD") == 0, &b);
        crater__gen_unref(g);
      }
    }
    rc = 0;
  }
  if (b.failed || (*out = build(&b)) == NULL) rc = CRATER_ENOMEM;
failed:
  crater__buf_free(&b.text);
  crater__buf_free(&b.offs);
  crater__buf_free(&b.body);
  conn_put(srv, c);
  return rc;
}

static int is_token_char(char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

static int check_request(crater_server *srv, const crater_request *req, size_t *url_len) {
  const char *m = req->method;
  if (m == NULL || m[0] == '\0' || strlen(m) > 32) {
    crater__set_error(srv, "the method must be a non-empty token of at most 32 characters");
    return CRATER_EINVAL;
  }
  for (const char *p = m; *p; p++) {
    if (!is_token_char(*p)) {
      crater__set_error(srv, "the method must be upper case letters, digits, '-' or '_': %s", m);
      return CRATER_EINVAL;
    }
  }
  if (req->url == NULL) {
    crater__set_error(srv, "the request has no url");
    return CRATER_EINVAL;
  }
  size_t n = req->url_len ? req->url_len : strlen(req->url);
  if (n == 0 || (req->url[0] != '/' && req->url[0] != '*' && strncasecmp(req->url, "http", 4) != 0)) {
    crater__set_error(srv, "the url must start with '/' (origin form), e.g. /items?limit=2");
    return CRATER_EINVAL;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)req->url[i];
    if (ch <= 0x20 || ch == 0x7f) {
      crater__set_error(srv, "the url contains a space or control character at byte %zu", i);
      return CRATER_EINVAL;
    }
  }
  if ((req->nheaders > 0 && req->headers == NULL) || (req->body_len > 0 && req->body == NULL)) {
    crater__set_error(srv, "headers or body is NULL with a non-zero count");
    return CRATER_EINVAL;
  }
  for (size_t i = 0; i < req->nheaders; i++) {
    const crater_header *h = &req->headers[i];
    if (h->name == NULL || h->name_len == 0 || (h->value == NULL && h->value_len > 0) ||
        crater__http_has_crlf(h->name, h->name_len) || (h->value && crater__http_has_crlf(h->value, h->value_len)) ||
        memchr(h->name, ':', h->name_len) != NULL) {
      crater__set_error(srv, "request header %zu has an empty name, a ':' in its name, or CR/LF/NUL", i);
      return CRATER_EINVAL;
    }
  }
  *url_len = n;
  return 0;
}
