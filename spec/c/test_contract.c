/* test_contract.c - crater.h's contract, tried as an embedder would from the
 * header and docs/embedding.md only: the places a review found the library
 * breaking what it promised (issue 10), each with the case that broke. */
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lauxlib.h>

#include "client.h"
#include "crater.h"
#include "test.h"

static void quiet(void *udata, crater_log_level level, const char *line) {
  (void)udata;
  (void)level;
  (void)line;
}

static crater_config quiet_config(void) {
  crater_config cfg = crater_config_default();
  cfg.log_cb = quiet;
  return cfg;
}

/* ===================================================================== */
/*  A host module whose context the host frees in the close callback       */
/* ===================================================================== */

typedef struct {
  int stops;   /* on_stop hooks that reached the module */
  int starts;
} host_ctx;

static int events_after_close; /* calls into a freed context: must stay 0 */
static host_ctx *freed_ctx;

static int host_stop(lua_State *L) {
  host_ctx *ctx = crater_lua_context(L);
  if (ctx == freed_ctx) events_after_close++;
  ctx->stops++; /* a use after free here is what ASan reported (crater_free) */
  return 0;
}

static int host_start(lua_State *L) {
  host_ctx *ctx = crater_lua_context(L);
  ctx->starts++;
  return 0;
}

static const luaL_Reg host_fns[] = {{"stop", host_stop}, {"start", host_start}, {NULL, NULL}};

static const char hooked_app[] =
    "local crater = require 'crater'\n"
    "local host = require 'host'\n"
    "local app = crater.app()\n"
    "app:get('/', function() return 'ok' end)\n"
    "app:on_start(function() host.start() end)\n"
    "app:on_stop(function() host.stop() end)\n"
    "return app\n";

typedef struct {
  host_ctx *ctx;
  int stops_seen; /* ctx->stops when the close callback ran */
  int closed;
} close_state;

static void free_ctx_on_close(crater_server *srv) {
  close_state *st = crater_get_data(srv);
  st->stops_seen = st->ctx->stops;
  st->closed = 1;
  freed_ctx = st->ctx;
  free(st->ctx); /* the header says the host may */
}

TEST(contract_lua_finishes_before_the_close_callback) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = quiet_config();
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  close_state st = {calloc(1, sizeof(host_ctx)), 0, 0};
  ASSERT_TRUE(st.ctx != NULL);
  ASSERT_EQ_INT(crater_register_module(srv, "host", host_fns, st.ctx), 0);
  ASSERT_EQ_INT(crater_load_string(srv, "hooked", hooked_app, sizeof(hooked_app) - 1), 0);
  ASSERT_EQ_INT(crater_listen(srv, "127.0.0.1", 0), 0);
  ASSERT_EQ_INT(st.ctx->starts, 1);
  crater_set_data(srv, &st);
  ASSERT_EQ_INT(crater_close(srv, free_ctx_on_close), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ_INT(st.closed, 1);
  ASSERT_EQ_INT(st.stops_seen, 1); /* on_stop ran, and before the callback */
  crater_free(srv);                /* no Lua runs here any more */
  ASSERT_EQ_INT(events_after_close, 0);
  freed_ctx = NULL;
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* ===================================================================== */
/*  crater_listen: the address before the app; the cause of a failure      */
/* ===================================================================== */

TEST(contract_listen_checks_before_hooks_and_reports_the_cause) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = quiet_config();
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  host_ctx ctx = {0, 0};
  ASSERT_EQ_INT(crater_register_module(srv, "host", host_fns, &ctx), 0);
  ASSERT_EQ_INT(crater_load_string(srv, "hooked", hooked_app, sizeof(hooked_app) - 1), 0);
  ASSERT_EQ_INT(crater_bound_port(srv), CRATER_ESTATE); /* no listener: an error code, not -1 */

  ASSERT_EQ_INT(crater_listen(srv, "not-an-ip", 8080), CRATER_EINVAL);
  ASSERT_EQ_INT(ctx.starts, 0); /* on_start did not run for a call that cannot work */
  ASSERT_TRUE(strstr(crater_last_error(srv), "not-an-ip") != NULL);

  /* A port in use: libuv's cause comes back, not a generic code. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_TRUE(fd >= 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  ASSERT_EQ_INT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  ASSERT_EQ_INT(listen(fd, 8), 0);
  ASSERT_EQ_INT(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  int rc = crater_listen(srv, "127.0.0.1", ntohs(sa.sin_port));
  ASSERT_EQ_INT(rc, UV_EADDRINUSE);
  ASSERT_EQ_STR(crater_err_name(rc), "EADDRINUSE");
  ASSERT_EQ_STR(crater_strerror(rc), uv_strerror(UV_EADDRINUSE));
  ASSERT_EQ_INT(ctx.starts, 0);
  /* Each failed call leaves its own message, not an older one. */
  ASSERT_TRUE(strstr(crater_last_error(srv), "address already in use") != NULL);
  ASSERT_EQ_INT(crater_listen(srv, "127.0.0.1", 70000), CRATER_EINVAL);
  ASSERT_TRUE(strstr(crater_last_error(srv), "70000") != NULL);
  close(fd);

  ASSERT_EQ_INT(crater_listen(srv, "127.0.0.1", 0), 0);
  ASSERT_EQ_INT(ctx.starts, 1);
  ASSERT_TRUE(crater_bound_port(srv) > 0);
  ASSERT_EQ_INT(crater_bound_port(NULL), CRATER_EINVAL);
  ASSERT_EQ_INT(crater_close(srv, NULL), 0);
  ASSERT_EQ_INT(crater_close(srv, NULL), CRATER_ESTATE);
  ASSERT_TRUE(strstr(crater_last_error(srv), "crater_close") != NULL);
  ASSERT_EQ_INT(crater_listen(srv, "127.0.0.1", 0), CRATER_ESTATE);
  ASSERT_TRUE(strstr(crater_last_error(srv), "closing") != NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ_INT(ctx.stops, 1);
  crater_free(srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

TEST(contract_error_codes_name_both_ranges) {
  ASSERT_TRUE(CRATER_EINVAL < -30000 && CRATER_EHANDLER < -30000);
  ASSERT_EQ_STR(crater_err_name(CRATER_ENOAPP), "ENOAPP");
  ASSERT_EQ_STR(crater_err_name(UV_EACCES), "EACCES");
  ASSERT_EQ_STR(crater_strerror(UV_EACCES), uv_strerror(UV_EACCES));
  ASSERT_TRUE(strcmp(crater_strerror(UV_EADDRINUSE), crater_strerror(UV_EACCES)) != 0);
  ASSERT_EQ_STR(crater_strerror(-30004), "unknown error"); /* the old ELISTEN's place */
  ASSERT_EQ_STR(crater_err_name(-29999), "UNKNOWN");
}

/* ===================================================================== */
/*  crater_config's size                                                   */
/* ===================================================================== */

TEST(contract_config_reads_only_the_callers_size) {
  crater_config c;
  memset(&c, 0x5a, sizeof(c));
  crater_config_init(&c, offsetof(crater_config, dev)); /* a caller whose struct ended there */
  ASSERT_EQ_INT(c.size, offsetof(crater_config, dev));
  ASSERT_EQ_INT(c.max_header_bytes, 16 * 1024);
  unsigned char *tail = (unsigned char *)&c + offsetof(crater_config, dev);
  ASSERT_EQ_INT(tail[0], 0x5a); /* nothing written past the caller's size */

  /* A caller built against the first published header: fields it has are
   * read, the rest are defaults. */
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config old = crater_config_default();
  old.max_body_bytes = 4;
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &old), 0);
  crater_request req = {"POST", "/", 0, NULL, 0, "too long", 8};
  crater_response *res;
  ASSERT_EQ_INT(crater_inject_sync(srv, &req, &res), 0);
  ASSERT_EQ_INT(res->status, 413);
  crater_response_free(res);
  crater_free(srv);
  /* A field added later (max_uri_bytes) past an older caller's size is
   * not read: the default applies. */
  old = crater_config_default();
  old.size = offsetof(crater_config, max_uri_bytes);
  old.max_uri_bytes = 1;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &old), 0);
  crater_request get = {"GET", "/a-target-longer-than-one-byte", 0, NULL, 0, NULL, 0};
  ASSERT_EQ_INT(crater_inject_sync(srv, &get, &res), 0);
  ASSERT_TRUE(res->status != 414);
  crater_response_free(res);
  crater_free(srv);
  old.size = 4; /* smaller than any crater_config: not a config */
  ASSERT_EQ_INT(crater_new(&srv, &loop, &old), CRATER_EINVAL);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* ===================================================================== */
/*  Loading while serving is a swap, whichever call does it                */
/* ===================================================================== */

static const char good_app[] =
    "local app = require('crater').app()\n"
    "app:get('/', function() return 'good' end)\n"
    "return app\n";
static const char broken_app[] =
    "local app = require('crater').app()\n"
    "app:get('/', function() return 'broken' end\n"
    "return app\n";

static int get_root(crater_server *srv, char *body, size_t cap, int *stale) {
  crater_request req = {"GET", "/", 0, NULL, 0, NULL, 0};
  crater_response *res;
  if (crater_inject_sync(srv, &req, &res) != 0) return -1;
  *stale = 0;
  for (size_t i = 0; i < res->nheaders; i++)
    if (strcmp(res->headers[i].name, "X-Crater-Stale") == 0) *stale = 1;
  snprintf(body, cap, "%s", res->body);
  int status = res->status;
  crater_response_free(res);
  return status;
}

TEST(contract_load_string_failing_while_serving_answers_stale) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = quiet_config();
  cfg.dev = 1;
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  ASSERT_EQ_INT(crater_load_string(srv, "=app", good_app, sizeof(good_app) - 1), 0);
  ASSERT_EQ_INT(crater_listen(srv, "127.0.0.1", 0), 0);
  char body[512];
  int stale;
  ASSERT_EQ_INT(get_root(srv, body, sizeof(body), &stale), 200);
  ASSERT_EQ_INT(crater_load_string(srv, "=app", broken_app, sizeof(broken_app) - 1), CRATER_ELOAD);
  ASSERT_EQ_INT(get_root(srv, body, sizeof(body), &stale), 500); /* as a failed crater_reload */
  ASSERT_EQ_INT(stale, 1);
  ASSERT_TRUE(strstr(body, "app:3:") != NULL);
  ASSERT_TRUE(strstr(body, "\"stale\":true") != NULL);
  /* Over a socket too. */
  spec_client c;
  spec_client_start(&c, &loop, crater_bound_port(srv), "GET", "/", NULL, NULL);
  spec_run_until(&loop, &c.done);
  ASSERT_EQ_INT(spec_response_status(c.data), 500);
  char v[16];
  spec_response_header(c.data, "X-Crater-Stale", v, sizeof(v));
  ASSERT_EQ_STR(v, "1");
  spec_client_free(&c);
  ASSERT_EQ_INT(crater_load_string(srv, "=app", good_app, sizeof(good_app) - 1), 0);
  ASSERT_EQ_INT(get_root(srv, body, sizeof(body), &stale), 200);
  ASSERT_EQ_INT(stale, 0);
  ASSERT_EQ_INT(crater_close(srv, NULL), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ_INT(crater_load_string(srv, "=app", good_app, sizeof(good_app) - 1), CRATER_ESTATE);
  crater_free(srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* ===================================================================== */
/*  Injected requests meet the checks parsed ones meet                     */
/* ===================================================================== */

TEST(contract_injected_fields_are_checked_as_parsed_ones) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = quiet_config();
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  ASSERT_EQ_INT(crater_load_string(srv, "=app", good_app, sizeof(good_app) - 1), 0);
  ASSERT_EQ_INT(crater_listen(srv, "127.0.0.1", 0), 0);
  crater_header spaced = CRATER_HEADER("Bad Name", "x");
  crater_header ctl = CRATER_HEADER("X-Ctl", "a\001b");
  crater_request req = {"GET", "/", 0, &spaced, 1, NULL, 0};
  crater_response *res;
  ASSERT_EQ_INT(crater_inject_sync(srv, &req, &res), 0);
  ASSERT_EQ_INT(res->status, 400);
  ASSERT_TRUE(strstr(res->body, "Invalid header token") != NULL);
  crater_response_free(res);
  req.headers = &ctl;
  ASSERT_EQ_INT(crater_inject_sync(srv, &req, &res), 0);
  ASSERT_EQ_INT(res->status, 400);
  ASSERT_TRUE(strstr(res->body, "Invalid header value char") != NULL);
  crater_response_free(res);
  static const char *const bad_names[] = {"Tab\tName", "Quote\"", "Paren(", "caf\xc3\xa9", "Trailing "};
  for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
    crater_header bad = {bad_names[i], strlen(bad_names[i]), "x", 1};
    req.headers = &bad;
    ASSERT_EQ_INT(crater_inject_sync(srv, &req, &res), 0);
    ASSERT_EQ_INT(res->status, 400);
    ASSERT_TRUE(strstr(res->body, "Invalid header token") != NULL);
    crater_response_free(res);
  }

  /* The same fields over a socket get the same answer. */
  spec_client c;
  spec_client_start(&c, &loop, crater_bound_port(srv), "GET", "/", "Bad Name: x\r\n", NULL);
  spec_run_until(&loop, &c.done);
  ASSERT_EQ_INT(spec_response_status(c.data), 400);
  ASSERT_TRUE(strstr(c.data, "Invalid header token") != NULL);
  spec_client_free(&c);
  spec_client_start(&c, &loop, crater_bound_port(srv), "GET", "/", "X-Ctl: a\001b\r\n", NULL);
  spec_run_until(&loop, &c.done);
  ASSERT_EQ_INT(spec_response_status(c.data), 400);
  ASSERT_TRUE(strstr(c.data, "Invalid header value char") != NULL);
  spec_client_free(&c);

  /* crater_inject needs its callback, and says so. */
  req.headers = NULL;
  req.nheaders = 0;
  ASSERT_EQ_INT(crater_inject(srv, &req, NULL, NULL), CRATER_EINVAL);
  ASSERT_TRUE(strstr(crater_last_error(srv), "callback") != NULL);
  ASSERT_EQ_INT(crater_close(srv, NULL), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  crater_free(srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* An injected request follows the rules of a parsed one where they apply
 * (strict.c): Host fields, the request-target's forms; it needs no Host. */
TEST(contract_injected_requests_follow_the_request_rules) {
  static const char echo_app[] =
      "local app = require('crater').app()\n"
      "app:get('/{p}', function(req) return (req:header('host') or '-') .. ' ' .. req.path .. ' ' .. req.raw_query end)\n"
      "return app\n";
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = quiet_config();
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  ASSERT_EQ_INT(crater_load_string(srv, "=app", echo_app, sizeof(echo_app) - 1), 0);
  static const struct {
    const char *method, *url, *host, *host2; /* Host fields, or NULL */
    int status;
    const char *body; /* what the answer holds */
  } cases[] = {
    {"GET", "/p?q=1", NULL, NULL, 200, "- /p q=1"},                 /* no Host needed */
    {"GET", "/p", "a.example:8080 ", NULL, 200, "a.example:8080 /p"}, /* trailing OWS trimmed */
    {"GET", "/p", "a", "b", 400, "more than one Host"},
    {"GET", "/p", "a b", NULL, 400, "invalid Host"},
    {"GET", "http://t.example/p?q", "other", NULL, 200, "t.example /p q"}, /* the target's authority */
    {"GET", "HTTPS://t.example/p", NULL, NULL, 200, "t.example /p"},
    {"GET", "http://u@t.example/p", NULL, NULL, 400, "user information"},
    {"GET", "/p#f", NULL, NULL, 400, "fragment"},
    {"GET", "/caf\xc3\xa9", NULL, NULL, 400, "not visible ASCII"},
    {"GET", "*", NULL, NULL, 400, "only for OPTIONS"},
    {"OPTIONS", "*", NULL, NULL, 200, ""},
    {"CONNECT", "/p", NULL, NULL, 400, "host:port"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *h1 = cases[i].host ? cases[i].host : "", *h2 = cases[i].host2 ? cases[i].host2 : "";
    crater_header hs[2] = {{"Host", 4, h1, strlen(h1)}, {"host", 4, h2, strlen(h2)}};
    crater_request req = {cases[i].method, cases[i].url, 0, hs, cases[i].host2 ? 2 : cases[i].host ? 1 : 0,
                          NULL, 0};
    crater_response *res;
    ASSERT_EQ_INT(crater_inject_sync(srv, &req, &res), 0);
    if (res->status != cases[i].status || strstr(res->body, cases[i].body) == NULL)
      fprintf(stderr, "  case %zu: %d %s\n", i, res->status, res->body);
    ASSERT_EQ_INT(res->status, cases[i].status);
    ASSERT_TRUE(strstr(res->body, cases[i].body) != NULL);
    if (cases[i].body[0] == '\0') ASSERT_EQ_INT(res->body_len, 0);
    crater_response_free(res);
  }
  crater_free(srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* ===================================================================== */
/*  Log records                                                            */
/* ===================================================================== */

typedef struct {
  int records;
  int multiline; /* records with a '\n' in them */
  char last[4096];
} log_capture;

static void capture(void *udata, crater_log_level level, const char *record) {
  log_capture *cap = udata;
  (void)level;
  cap->records++;
  if (strchr(record, '\n') != NULL) cap->multiline++;
  snprintf(cap->last, sizeof(cap->last), "%s", record);
}

/* One call per event: a load error and its traceback arrive together, as
 * one record (the header documents records, not lines). */
TEST(contract_log_gets_one_record_per_event) {
  static const char failing[] =
      "local function f() error('boom at load') end\n"
      "f()\n";
  uv_loop_t loop;
  uv_loop_init(&loop);
  log_capture cap = {0, 0, ""};
  crater_config cfg = crater_config_default();
  cfg.log_cb = capture;
  cfg.log_udata = &cap;
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  ASSERT_EQ_INT(crater_load_string(srv, "=failing", failing, sizeof(failing) - 1), CRATER_ELOAD);
  ASSERT_EQ_INT(cap.records, 1);
  ASSERT_EQ_INT(cap.multiline, 1);
  ASSERT_TRUE(strstr(cap.last, "failing:1: boom at load") != NULL);
  ASSERT_TRUE(strstr(cap.last, "stack traceback:") != NULL);
  crater_free(srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}
