/* test_request.c - request.c: a request's storage as the transports fill
 * it piece by piece, its limits and the refusals they map to, the check of
 * field names, and the pool with its seq numbers. */
#include <string.h>

#include "crater.h"
#include "helpers.h"
#include "request.h"
#include "server.h"
#include "test.h"

/* A server (not listening) whose limits the requests use; loop is
 * initialized here. */
static crater_server *limits_server(uv_loop_t *loop, size_t max_header, size_t max_body) {
  crater_config cfg = crater_config_default();
  cfg.log_cb = spec_quiet_log;
  cfg.max_header_bytes = max_header;
  cfg.max_body_bytes = max_body;
  crater_server *srv;
  uv_loop_init(loop);
  return crater_new(&srv, loop, &cfg) == 0 ? srv : NULL;
}

static int free_server(uv_loop_t *loop, crater_server *srv) {
  crater_free(srv);
  return uv_loop_close(loop);
}

/* Field i as "name=value". */
static const char *field(const crater__request *r, int i, char *out, size_t cap) {
  const char *name, *value;
  size_t nlen, vlen;
  crater__request_field(r, i, &name, &nlen, &value, &vlen);
  snprintf(out, cap, "%.*s=%.*s", (int)nlen, name, (int)vlen, value);
  return out;
}

#define PIECE(s) s, sizeof(s) - 1

TEST(request_stores_pieces) {
  uv_loop_t loop;
  crater_server *srv = limits_server(&loop, 16 * 1024, 1024);
  ASSERT_TRUE(srv != NULL);
  crater__request r;
  memset(&r, 0, sizeof(r));
  for (int round = 0; round < 2; round++) { /* the second reuses the buffers */
    crater__request_begin(&r, srv);
    ASSERT_EQ_INT(crater__request_url(&r, PIECE("/a/")), CRATER__REQ_OK);
    ASSERT_EQ_INT(crater__request_url(&r, PIECE("b?x=1")), CRATER__REQ_OK);
    ASSERT_EQ_INT(r.url_len, 8);
    ASSERT_TRUE(strncmp(r.head.data, "/a/b?x=1", 8) == 0);
    /* A name in two pieces (next 0 continues it), its value in two. */
    ASSERT_EQ_INT(crater__request_field_name(&r, PIECE("Ho"), 0), CRATER__REQ_OK);
    ASSERT_EQ_INT(crater__request_field_name(&r, PIECE("st"), 0), CRATER__REQ_OK);
    ASSERT_EQ_INT(crater__request_field_value(&r, PIECE("exa")), CRATER__REQ_OK);
    ASSERT_EQ_INT(crater__request_field_value(&r, PIECE("mple")), CRATER__REQ_OK);
    /* An empty value, then a field after it (next 1 starts one). */
    ASSERT_EQ_INT(crater__request_field_name(&r, PIECE("X-Empty"), 1), CRATER__REQ_OK);
    ASSERT_EQ_INT(crater__request_field_name(&r, PIECE("X-Last"), 0), CRATER__REQ_OK);
    ASSERT_EQ_INT(crater__request_field_name(&r, PIECE("X-After"), 1), CRATER__REQ_OK);
    ASSERT_EQ_INT(crater__request_field_value(&r, PIECE("v")), CRATER__REQ_OK);
    ASSERT_EQ_INT(r.nfields, 3);
    char f[64];
    ASSERT_EQ_STR(field(&r, 0, f, sizeof(f)), "Host=example");
    ASSERT_EQ_STR(field(&r, 1, f, sizeof(f)), "X-EmptyX-Last="); /* next 0: one name */
    ASSERT_EQ_STR(field(&r, 2, f, sizeof(f)), "X-After=v");
    size_t len;
    ASSERT_EQ_STR(crater__request_body_data(&r, &len), "");
    ASSERT_EQ_INT(len, 0);
    ASSERT_EQ_INT(crater__request_body(&r, PIECE("ab")), CRATER__REQ_OK);
    ASSERT_EQ_INT(crater__request_body(&r, PIECE("cd")), CRATER__REQ_OK);
    const char *body = crater__request_body_data(&r, &len);
    ASSERT_EQ_INT(len, 4);
    ASSERT_TRUE(memcmp(body, "abcd", 4) == 0);
  }
  crater__request_free_buffers(&r);
  ASSERT_TRUE(r.head.data == NULL && r.body.data == NULL && r.fields == NULL);
  ASSERT_EQ_INT(free_server(&loop, srv), 0);
}

TEST(request_limits_and_refusals) {
  uv_loop_t loop;
  crater_server *srv = limits_server(&loop, 32, 4);
  ASSERT_TRUE(srv != NULL);
  crater__request r;
  memset(&r, 0, sizeof(r));
  crater__request_begin(&r, srv);
  /* max_header_bytes counts the URL, names and values together. */
  ASSERT_EQ_INT(crater__request_url(&r, PIECE("/0123456789")), CRATER__REQ_OK);
  ASSERT_EQ_INT(crater__request_field_name(&r, PIECE("Host"), 1), CRATER__REQ_OK);
  ASSERT_EQ_INT(crater__request_field_value(&r, PIECE("0123456789abcdef")), CRATER__REQ_OK); /* 31 */
  ASSERT_EQ_INT(crater__request_field_value(&r, PIECE("x")), CRATER__REQ_OK);                /* 32 */
  ASSERT_EQ_INT(crater__request_field_value(&r, PIECE("y")), CRATER__REQ_HEAD_TOO_BIG);
  /* max_body_bytes. */
  ASSERT_EQ_INT(crater__request_body(&r, PIECE("abc")), CRATER__REQ_OK);
  ASSERT_EQ_INT(crater__request_body(&r, PIECE("d")), CRATER__REQ_OK);
  ASSERT_EQ_INT(crater__request_body(&r, PIECE("e")), CRATER__REQ_BODY_TOO_BIG);
  crater__request_free_buffers(&r);
  ASSERT_EQ_INT(free_server(&loop, srv), 0);

  /* max_uri_bytes counts the request target alone, in its pieces. */
  srv = limits_server(&loop, 16 * 1024, 4);
  ASSERT_TRUE(srv != NULL);
  srv->cfg.max_uri_bytes = 8;
  crater__request_begin(&r, srv);
  ASSERT_EQ_INT(crater__request_url(&r, PIECE("/abc")), CRATER__REQ_OK);
  ASSERT_EQ_INT(crater__request_url(&r, PIECE("/def")), CRATER__REQ_OK); /* 8 */
  ASSERT_EQ_INT(crater__request_url(&r, PIECE("g")), CRATER__REQ_URI_TOO_LONG);
  ASSERT_EQ_INT(r.url_len, 8);
  ASSERT_EQ_INT(crater__request_field_name(&r, PIECE("Host"), 1), CRATER__REQ_OK);
  crater__request_free_buffers(&r);
  ASSERT_EQ_INT(free_server(&loop, srv), 0);

  /* CRATER__MAX_FIELDS fields, then no more. */
  srv = limits_server(&loop, 16 * 1024, 4);
  ASSERT_TRUE(srv != NULL);
  crater__request_begin(&r, srv);
  for (int i = 0; i < CRATER__MAX_FIELDS; i++) {
    ASSERT_EQ_INT(crater__request_field_name(&r, PIECE("X"), 1), CRATER__REQ_OK);
    ASSERT_EQ_INT(crater__request_field_value(&r, PIECE("v")), CRATER__REQ_OK);
  }
  ASSERT_EQ_INT(crater__request_field_name(&r, PIECE("X"), 1), CRATER__REQ_TOO_MANY_FIELDS);
  ASSERT_EQ_INT(r.nfields, CRATER__MAX_FIELDS);
  crater__request_free_buffers(&r);
  ASSERT_EQ_INT(free_server(&loop, srv), 0);

  static const struct {
    crater__req_err e;
    int status;
    const char *why;
  } refusals[] = {
    {CRATER__REQ_NOMEM, 503, "out of memory storing the request"},
    {CRATER__REQ_HEAD_TOO_BIG, 431, "request line and headers larger than the limit (--max-header)"},
    {CRATER__REQ_URI_TOO_LONG, 414, "request target longer than the limit (--max-uri)"},
    {CRATER__REQ_TOO_MANY_FIELDS, 431, "too many header fields"},
    {CRATER__REQ_BODY_TOO_BIG, 413, "request body larger than the limit (--max-body)"},
    {CRATER__REQ_OK, 0, ""},
  };
  for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
    const char *why = NULL;
    ASSERT_EQ_INT(crater__request_refusal(refusals[i].e, &why), refusals[i].status);
    ASSERT_EQ_STR(why, refusals[i].why);
  }
}

TEST(request_names_ok) {
  uv_loop_t loop;
  crater_server *srv = limits_server(&loop, 16 * 1024, 4);
  ASSERT_TRUE(srv != NULL);
  /* Only an empty name is request.c's to refuse: the bytes of a name are
   * checked before it is stored (llhttp, inject.c: test_contract.c). */
  static const struct {
    const char *name;
    int ok;
  } names[] = {
    {"Host", 1}, {"X-Custom_Header.1~!#$%&'*+^`|", 1}, {"", 0},
  };
  crater__request r;
  memset(&r, 0, sizeof(r));
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    crater__request_begin(&r, srv);
    ASSERT_EQ_INT(crater__request_field_name(&r, PIECE("Host"), 1), CRATER__REQ_OK);
    ASSERT_EQ_INT(crater__request_field_name(&r, names[i].name, strlen(names[i].name), 1), CRATER__REQ_OK);
    const char *why = "";
    if (crater__request_names_ok(&r, &why) != names[i].ok)
      fprintf(stderr, "  name \"%s\"\n", names[i].name);
    ASSERT_EQ_INT(crater__request_names_ok(&r, &why), names[i].ok);
    ASSERT_EQ_STR(why, names[i].ok ? "" : "Invalid header token");
  }
  crater__request_free_buffers(&r);
  ASSERT_EQ_INT(free_server(&loop, srv), 0);
}

TEST(request_pool_keeps_seq_counting) {
  uv_loop_t loop;
  crater_server *srv = limits_server(&loop, 16 * 1024, 4);
  ASSERT_TRUE(srv != NULL);
  crater__request *a = crater__request_get(srv);
  crater__request *b = crater__request_get(srv);
  ASSERT_TRUE(a != NULL && b != NULL && a != b);
  crater__request_begin(a, srv);
  crater__request_begin(b, srv);
  ASSERT_EQ_INT(crater__request_url(a, PIECE("/x")), CRATER__REQ_OK);
  uint64_t seq = a->seq;
  /* Idle: no (request, seq) pair is valid, not even its own. */
  ASSERT_EQ_INT(crater__request_valid(a, seq), 0);
  a->state = CRATER__REQ_RUNNING;
  ASSERT_EQ_INT(crater__request_valid(a, seq), 1);
  ASSERT_EQ_INT(crater__request_valid(a, seq + 1), 0);
  ASSERT_EQ_INT(crater__request_valid(NULL, seq), 0);
  a->state = CRATER__REQ_IDLE;
  /* Put back: buffers freed, seq moved on; got again: zeroed, seq kept. */
  crater__request_put(a);
  ASSERT_TRUE(a->head.data == NULL);
  ASSERT_EQ_INT(a->seq, seq + 1);
  crater__request *c = crater__request_get(srv);
  ASSERT_TRUE(c == a);
  ASSERT_EQ_INT(c->seq, seq + 1);
  ASSERT_EQ_INT(c->url_len, 0);
  ASSERT_TRUE(c->next == NULL && c->srv == srv); /* get sets srv: a put before begin is safe */
  crater__request_begin(c, srv);
  crater__request_put(c);
  crater__request_put(b);
  ASSERT_TRUE(srv->free_requests == b && b->next == a); /* crater_free frees the pool */
  ASSERT_EQ_INT(free_server(&loop, srv), 0);
}
