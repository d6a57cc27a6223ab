/* fuzz_inject.c - libFuzzer target for crater_inject_sync(): the embedder's
 * way in, which checks a request itself (no llhttp in front of it) before
 * the URL splitting, routing and Lua dispatch that sockets share.
 *
 * Input: method NUL url NUL, then header name NUL value NUL pairs up to an
 * empty name, then the body (fields missing at the end are empty). The
 * call must return 0 with a response whose status is 200..999 (a final
 * status: the range the core lets a handler pick, and its own refusals),
 * whose strings are NUL-terminated, and whose headers keep RFC 9110's rule
 * (a token name; a value without control bytes but HTAB, nor DEL) however
 * much of the request the app reflects into them (fuzz_app.h's /reflect
 * routes), or a CRATER_E* code with no response. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "crater.h"
#define FUZZ_NAME "fuzz_inject"
#include "fuzz_app.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 9110 5.6.2 tchar and 5.5 field-value bytes, spelled out here rather
 * than taken from the core the oracle checks. */
static int name_ok(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    int alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    if (!alnum && (c == 0 || strchr("!#$%&'*+-.^_`|~", c) == NULL)) return 0;
  }
  return 1;
}

static int value_ok(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) return 0;
  }
  return 1;
}

#define MAX_FUZZ_HEADERS 140 /* a few over the 128 the core accepts */

static uv_loop_t loop;
static crater_server *srv;

static void setup(void) { srv = fuzz_app_start(&loop, crater_config_default()); }

/* The next NUL-terminated field at *p (the rest when there is no NUL). */
static const char *field(const char **p, const char *end, size_t *len) {
  const char *s = *p;
  const char *nul = memchr(s, '\0', (size_t)(end - s));
  *len = (size_t)((nul ? nul : end) - s);
  *p = nul ? nul + 1 : end;
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (srv == NULL) setup();
  /* A copy that ends in NUL: the method is a C string. */
  char *buf = malloc(size + 1);
  if (buf == NULL) return 0;
  memcpy(buf, data, size);
  buf[size] = '\0';
  const char *p = buf, *end = buf + size;
  crater_header hs[MAX_FUZZ_HEADERS];
  crater_request req;
  memset(&req, 0, sizeof(req));
  size_t mlen;
  req.method = field(&p, end, &mlen);
  req.url = field(&p, end, &req.url_len);
  if (req.url_len == 0) req.url = "/"; /* 0 would mean strlen */
  if (req.url_len == 0) req.url_len = 1;
  while (p < end && req.nheaders < MAX_FUZZ_HEADERS) {
    crater_header *h = &hs[req.nheaders];
    h->name = field(&p, end, &h->name_len);
    if (h->name_len == 0) break;
    h->value = field(&p, end, &h->value_len);
    req.nheaders++;
  }
  req.headers = hs;
  req.body = p;
  req.body_len = (size_t)(end - p);

  crater_response *res = NULL;
  int rc = crater_inject_sync(srv, &req, &res);
  if (rc == 0) {
    if (res == NULL || res->status < 200 || res->status > 999) fail("bad response", NULL);
    if (res->body == NULL || res->body[res->body_len] != '\0') fail("body not terminated", NULL);
    for (size_t i = 0; i < res->nheaders; i++) {
      const crater_header *h = &res->headers[i];
      if (h->name[h->name_len] != '\0' || h->value[h->value_len] != '\0')
        fail("header not terminated", NULL);
      if (!name_ok(h->name, h->name_len)) fail("a header name that is not a token", h->name);
      if (!value_ok(h->value, h->value_len)) fail("a control byte in the value of", h->name);
    }
  } else if (res != NULL) {
    fail("an error with a response", crater_strerror(rc));
  }
  crater_response_free(res);
  /* Timers or closes an injection may have queued. */
  uv_run(&loop, UV_RUN_NOWAIT);
  free(buf);
  return 0;
}
