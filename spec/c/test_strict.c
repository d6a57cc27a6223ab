/* test_strict.c - strict.c: its pure checks (Host values, Transfer-Encoding
 * lists, request lines with an unknown method, the request-target's forms),
 * and its obs-fold detection driven by a real llhttp parser with the input
 * split at every byte, as reads may split it. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "crater.h"
#include "helpers.h"
#include "request.h"
#include "server.h"
#include "strict.h"
#include "test.h"

static crater_server *quiet_server(uv_loop_t *loop) {
  crater_config cfg = crater_config_default();
  cfg.log_cb = spec_quiet_log;
  crater_server *srv;
  uv_loop_init(loop);
  return crater_new(&srv, loop, &cfg) == 0 ? srv : NULL;
}

static int free_server(uv_loop_t *loop, crater_server *srv) {
  crater_free(srv);
  return uv_loop_close(loop);
}

/* Stores "name: value" pairs (NULL-terminated list) and a target in r. */
static void store(crater__request *r, crater_server *srv, const char *method, const char *url,
                  const char *const *fields) {
  crater__request_begin(r, srv);
  r->method = method;
  crater__request_url(r, url, strlen(url));
  for (int i = 0; fields != NULL && fields[i] != NULL; i += 2) {
    crater__request_field_name(r, fields[i], strlen(fields[i]), 1);
    if (fields[i + 1][0] != '\0') crater__request_field_value(r, fields[i + 1], strlen(fields[i + 1]));
  }
}

static int field_is(const crater__request *r, const char *name, const char *want) {
  for (int i = 0; i < r->nfields; i++) {
    const char *n, *v;
    size_t nlen, vlen;
    crater__request_field(r, i, &n, &nlen, &v, &vlen);
    if (nlen == strlen(name) && strncasecmp(n, name, nlen) == 0)
      return vlen == strlen(want) && memcmp(v, want, vlen) == 0;
  }
  return 0;
}

TEST(strict_host_values) {
  static const struct {
    const char *host;
    int ok;
  } hosts[] = {
    {"example.com", 1}, {"example.com:8080", 1}, {"127.0.0.1", 1}, {"[::1]", 1}, {"[::1]:80", 1},
    {"[v1.x]", 1}, {"a%41b", 1}, {"", 1}, {"a:", 1}, {":80", 1}, {"a!$&'()*+,;=-._~", 1},
    {"a b", 0}, {"a/b", 0}, {"a?b", 0}, {"a#b", 0}, {"u@a", 0}, {"a:b", 0}, {"a:80:81", 0},
    {"[::1", 0}, {"[]", 0}, {"[::1]x", 0}, {"a%4", 0}, {"a%zz", 0}, {"a\tb", 0}, {"caf\xc3\xa9", 0},
    {"a\\b", 0}, {"a\"b", 0},
  };
  for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
    if (crater__strict_host_ok(hosts[i].host, strlen(hosts[i].host)) != hosts[i].ok)
      fprintf(stderr, "  host \"%s\"\n", hosts[i].host);
    ASSERT_EQ_INT(crater__strict_host_ok(hosts[i].host, strlen(hosts[i].host)), hosts[i].ok);
  }
}

TEST(strict_transfer_encoding_lists) {
  uv_loop_t loop;
  crater_server *srv = quiet_server(&loop);
  ASSERT_TRUE(srv != NULL);
  static const struct {
    const char *te1, *te2; /* te2: a second field, or NULL */
    int status;
  } cases[] = {
    {"chunked", NULL, 0},          {"CHUNKED", NULL, 0},         {" , chunked ,", NULL, 0},
    {"gzip, chunked", NULL, 501},  {"gzip", "chunked", 501},     {"x;p=1 ; q=2, chunked", NULL, 501},
    {"chunked, gzip", NULL, 400},  {"chunked", "gzip", 400},     {"gzip", NULL, 400},
    {"chunked, chunked", NULL, 400}, {"chunked", "chunked", 400}, {"chunked;p=1", NULL, 400},
    {"", NULL, 400},               {" , ", NULL, 400},           {"chunked x", NULL, 400},
    {"chun\tked", NULL, 400},      {"\"chunked\"", NULL, 400},   {"identity", NULL, 400},
  };
  crater__request r;
  memset(&r, 0, sizeof(r));
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *fields[] = {"Host", "x", "Transfer-Encoding", cases[i].te1,
                            cases[i].te2 ? "transfer-encoding" : NULL, cases[i].te2, NULL};
    store(&r, srv, "POST", "/", fields);
    const char *why = "";
    int status = crater__strict_transfer_encoding(&r, &why);
    if (status != cases[i].status) fprintf(stderr, "  case %zu: %d (%s)\n", i, status, why);
    ASSERT_EQ_INT(status, cases[i].status);
  }
  crater__request_free_buffers(&r);
  ASSERT_EQ_INT(free_server(&loop, srv), 0);
}

TEST(strict_request_line_of_an_unknown_method) {
  static const struct {
    const char *from; /* where llhttp stopped, to the end of the input */
    int in_method;    /* after some bytes of the method */
    int ok;
  } lines[] = {
    {"FOO / HTTP/1.1\r\nHost: x\r\n\r\n", 0, 1}, {"O /x?y HTTP/1.0\n", 1, 1}, {"X / HTTP/9.9\r\n", 0, 1},
    {" / HTTP/1.1\r\n", 1, 1}, /* PROPFIN: llhttp stops at the space */
    {"FOO /", 0, 1}, {"FOO / HT", 0, 1}, {"FOO / HTTP/1.1\r", 0, 1}, /* a prefix of one */
    {"GARBAGE\r\n\r\n", 0, 0}, {"FOO\r\n", 0, 0}, {"FOO", 0, 0}, {"\t/ HTTP/1.1\r\n", 1, 0},
    {" / HTTP/1.1\r\n", 0, 0}, {"FOO  / HTTP/1.1\r\n", 0, 0}, {"FOO / HTTP/1.1 x\r\n", 0, 0},
    {"FOO / http/1.1\r\n", 0, 0}, {"FOO / HTTP/1.11\r\n", 0, 0}, {"FOO /\x01 HTTP/1.1\r\n", 0, 0},
    {"\x16\x03\x01", 0, 0},
  };
  for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
    const char *p = lines[i].from;
    int got = crater__strict_request_line_ok(p, p + strlen(p), lines[i].in_method);
    if (got != lines[i].ok) fprintf(stderr, "  line %zu\n", i);
    ASSERT_EQ_INT(got, lines[i].ok);
  }
}

TEST(strict_request_targets_and_host) {
  uv_loop_t loop;
  crater_server *srv = quiet_server(&loop);
  ASSERT_TRUE(srv != NULL);
  crater__request r;
  memset(&r, 0, sizeof(r));
  const char *why = "";
  const char *host_x[] = {"Host", "x ", NULL};

  /* origin-form; the value's trailing whitespace goes */
  store(&r, srv, "GET", "/a?b", host_x);
  ASSERT_EQ_INT(crater__strict_request(&r, 1, &why), 0);
  ASSERT_TRUE(field_is(&r, "host", "x"));
  ASSERT_EQ_INT(r.target_off, 0);
  ASSERT_EQ_INT(r.answer, 0);

  /* Host: required only when asked (HTTP/1.1, not an injection) */
  store(&r, srv, "GET", "/", NULL);
  ASSERT_EQ_INT(crater__strict_request(&r, 1, &why), 400);
  ASSERT_TRUE(strstr(why, "without a Host") != NULL);
  ASSERT_EQ_INT(crater__strict_request(&r, 0, &why), 0);
  const char *two[] = {"Host", "a", "HOST", "a", NULL};
  store(&r, srv, "GET", "/", two);
  ASSERT_EQ_INT(crater__strict_request(&r, 0, &why), 400);
  const char *bad[] = {"Host", "a/b", NULL};
  store(&r, srv, "GET", "/", bad);
  ASSERT_EQ_INT(crater__strict_request(&r, 0, &why), 400);

  /* absolute-form: its authority is the Host field, its path is routed */
  store(&r, srv, "GET", "http://a.example:81/p?q", host_x);
  ASSERT_EQ_INT(crater__strict_request(&r, 1, &why), 0);
  ASSERT_TRUE(field_is(&r, "host", "a.example:81"));
  ASSERT_EQ_INT(r.target_off, strlen("http://a.example:81"));
  store(&r, srv, "GET", "HTTPS://b?q", NULL); /* no Host field: one is added */
  ASSERT_EQ_INT(crater__strict_request(&r, 0, &why), 0);
  ASSERT_EQ_INT(r.nfields, 1);
  ASSERT_TRUE(field_is(&r, "host", "b"));
  ASSERT_EQ_INT(r.target_off, strlen("HTTPS://b"));
  static const char *const refused[] = {"ftp://a/b", "http://u@a/", "http:///b", "http://a:b/", "a:80",
                                        "/a#b", "/caf\xc3\xa9", "*x", "http:/a"};
  for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
    store(&r, srv, "GET", refused[i], host_x);
    if (crater__strict_request(&r, 1, &why) != 400) fprintf(stderr, "  target %s\n", refused[i]);
    ASSERT_EQ_INT(crater__strict_request(&r, 1, &why), 400);
  }

  /* asterisk-form: OPTIONS only, answered by the core */
  store(&r, srv, "OPTIONS", "*", host_x);
  ASSERT_EQ_INT(crater__strict_request(&r, 1, &why), 0);
  ASSERT_EQ_INT(r.answer, 200);
  store(&r, srv, "GET", "*", host_x);
  ASSERT_EQ_INT(crater__strict_request(&r, 1, &why), 400);

  /* CONNECT: authority-form only, answered 501 */
  store(&r, srv, "CONNECT", "a.example:443", host_x);
  ASSERT_EQ_INT(crater__strict_request(&r, 1, &why), 0);
  ASSERT_EQ_INT(r.answer, 501);
  store(&r, srv, "CONNECT", "[::1]:443", host_x);
  ASSERT_EQ_INT(crater__strict_request(&r, 1, &why), 0);
  static const char *const connect_bad[] = {"/", "a.example", "a.example:", "*", "http://a/"};
  for (size_t i = 0; i < sizeof(connect_bad) / sizeof(connect_bad[0]); i++) {
    store(&r, srv, "CONNECT", connect_bad[i], host_x);
    ASSERT_EQ_INT(crater__strict_request(&r, 1, &why), 400);
  }
  crater__request_free_buffers(&r);
  ASSERT_EQ_INT(free_server(&loop, srv), 0);
}

/* ---- obs-fold through llhttp --------------------------------------------- */

typedef struct {
  llhttp_t parser;
  crater__strict strict;
  int in_value;
  int fold;   /* crater__strict_value said so */
  int done;   /* on_headers_complete was reached */
} folder;

static int f_begin(llhttp_t *p) {
  folder *f = (folder *)p;
  crater__strict_begin(&f->strict);
  f->in_value = 0;
  return 0;
}

static int f_field(llhttp_t *p, const char *at, size_t len) {
  folder *f = (folder *)p;
  if (!crater__strict_name(&f->strict, at, len)) crater__strict_name_gap(&f->strict, at, len);
  f->in_value = 0;
  return 0;
}

static int f_value(llhttp_t *p, const char *at, size_t len) {
  folder *f = (folder *)p;
  int odd = crater__strict_value(&f->strict, at, len, f->in_value);
  if (odd & CRATER__STRICT_FOLD) f->fold = 1;
  if (odd & CRATER__STRICT_TAB) crater__strict_tab(&f->strict, NULL);
  f->in_value = 1;
  return 0;
}

static int f_headers_complete(llhttp_t *p) {
  folder *f = (folder *)p;
  f->done = 1;
  f->fold |= f->strict.odd & CRATER__STRICT_FOLD;
  return 0;
}

/* Parses text in pieces cut at `cuts` (ascending offsets, -1 ended), each
 * piece copied to a buffer of its own size (ASan sees any read past it);
 * returns 1 when an obs-fold was seen, 0 when not, -1 when llhttp failed
 * or did not reach the end of the header section. */
static int parse_in_pieces(const char *text, const int *cuts) {
  static llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  settings.on_message_begin = f_begin;
  settings.on_header_field = f_field;
  settings.on_header_value = f_value;
  settings.on_headers_complete = f_headers_complete;
  folder f;
  memset(&f, 0, sizeof(f));
  llhttp_init(&f.parser, HTTP_REQUEST, &settings);
  crater__strict_parser_init(&f.parser);
  size_t n = strlen(text), at = 0;
  for (int i = 0;; i++) {
    size_t to = cuts[i] < 0 ? n : (size_t)cuts[i];
    char *piece = malloc(to - at + 1);
    memcpy(piece, text + at, to - at);
    crater__strict_input(&f.strict, piece, to - at);
    llhttp_errno_t err = llhttp_execute(&f.parser, piece, to - at);
    free(piece);
    if (err != HPE_OK) return -1;
    at = to;
    if (cuts[i] < 0) break;
  }
  return f.done ? f.fold : -1;
}

TEST(strict_obs_fold_wherever_reads_split) {
  static const struct {
    const char *text;
    int fold;
  } cases[] = {
    {"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 1},
    {"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n", 1},
    {"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n \r\n\r\n", 1},
    {"GET / HTTP/1.1\r\nHost: x\r\n Content-Length: 37\r\n\r\n", 1},
    {"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", 1},
    {"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  \t\r\n\t chunked\r\n\r\n", 1},
    {"GET / HTTP/1.1\r\nHost: x\r\nX-E:\r\n \r\n\r\n", 1},
    /* no fold: spaces inside and around values, empty values, at the end */
    {"GET / HTTP/1.1\r\nHost: x\r\nX-A: a b  c \r\nX-B:   d\r\nX-C:\r\nX-D: \t \r\n\r\n", 0},
    {"GET / HTTP/1.1\r\nHost:x\r\nX-E:\r\n\r\n", 0},
    {"GET / HTTP/1.1\r\nX-E: \r\n\r\n", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *t = cases[i].text;
    int n = (int)strlen(t);
    int whole[] = {-1};
    ASSERT_EQ_INT(parse_in_pieces(t, whole), cases[i].fold);
    for (int a = 1; a < n; a++) { /* two reads */
      int cuts[] = {a, -1};
      if (parse_in_pieces(t, cuts) != cases[i].fold) fprintf(stderr, "  case %zu cut at %d\n", i, a);
      ASSERT_EQ_INT(parse_in_pieces(t, cuts), cases[i].fold);
    }
    for (int a = 1; a + 1 < n; a++) { /* three reads, the middle one a byte */
      int cuts[] = {a, a + 1, -1};
      ASSERT_EQ_INT(parse_in_pieces(t, cuts), cases[i].fold);
    }
    int *bytes = malloc(sizeof(int) * (size_t)n); /* a byte per read */
    for (int a = 1; a < n; a++) bytes[a - 1] = a;
    bytes[n - 1] = -1;
    int got = parse_in_pieces(t, bytes);
    free(bytes);
    ASSERT_EQ_INT(got, cases[i].fold);
  }
}

/* What a parse error is answered with. */
TEST(strict_parse_errors) {
  static const struct {
    const char *text;
    int status;
  } cases[] = {
    {"FOO / HTTP/1.1\r\n\r\n", 501},     {"get / HTTP/1.1\r\n\r\n", 501}, {"GARBAGE\r\n\r\n", 400},
    {"PROPFIN / HTTP/1.1\r\n\r\n", 501}, {" / HTTP/1.1\r\n\r\n", 400},     {"\r\n / HTTP/1.1\r\n\r\n", 400},
    {"\x16\x03\x01\x00", 400},           {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
    {"GET / HTTP/1.10\r\n\r\n", 400},    {"GET / HTTP/1.1\r\nA: b\rX\r\n\r\n", 400},
  };
  static llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    llhttp_t p;
    llhttp_init(&p, HTTP_REQUEST, &settings);
    crater__strict_parser_init(&p);
    const char *t = cases[i].text;
    llhttp_errno_t err = llhttp_execute(&p, t, strlen(t));
    ASSERT_TRUE(err != HPE_OK);
    const char *why = NULL;
    ASSERT_EQ_INT(crater__strict_parse_error(&p, err, t, t + strlen(t), &why), cases[i].status);
    ASSERT_TRUE(why != NULL && why[0] != '\0');
  }
}
