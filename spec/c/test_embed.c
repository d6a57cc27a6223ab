/* test_embed.c - libcrater as an embedder uses it: several servers on one
 * loop and on several threads, load/close/load, listeners, C modules,
 * injection matching the socket path, the log callback and stats. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <lauxlib.h>

#include "client.h"
#include "crater.h"
#include "helpers.h"
#include "server.h"
#include "test.h"

#define HELLO_APP CRATER_SOURCE_DIR "/examples/hello/app.lua"

static void quiet(void *udata, crater_log_level level, const char *line) {
  (void)udata;
  (void)level;
  (void)line;
}

static void count_closed(crater_server *srv) {
  int *n = crater_get_data(srv);
  (*n)++;
}

static crater_config quiet_config(void) {
  crater_config cfg = crater_config_default();
  cfg.log_cb = quiet;
  return cfg;
}

/* An app answering its name, so two servers can be told apart. */
static int load_named(crater_server *srv, const char *name) {
  char code[256];
  int n = snprintf(code, sizeof(code),
                   "local app = require('crater').app()\n"
                   "app:get('/', function() return '%s' end)\n"
                   "return app\n", name);
  return crater_load_string(srv, name, code, (size_t)n);
}

/* One socket request; returns the raw response (caller frees) or NULL. */
static char *socket_request(uv_loop_t *loop, int port, const char *method, const char *path,
                            const char *headers, const char *body, size_t *len) {
  spec_client c;
  spec_client_start(&c, loop, port, method, path, headers, body);
  spec_run_until(loop, &c.done);
  char *data = c.data;
  *len = c.len;
  c.data = NULL;
  int err = c.error;
  spec_client_free(&c);
  if (err != 0) {
    free(data);
    return NULL;
  }
  return data;
}

static int close_and_free(uv_loop_t *loop, crater_server **srvs, int n) {
  int closed = 0;
  for (int i = 0; i < n; i++) {
    crater_set_data(srvs[i], &closed);
    crater_close(srvs[i], count_closed);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  for (int i = 0; i < n; i++) crater_free(srvs[i]);
  return closed;
}

/* ===================================================================== */

TEST(embed_two_servers_one_loop) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = quiet_config();
  crater_server *srv[2];
  for (int i = 0; i < 2; i++) {
    ASSERT_EQ_INT(crater_new(&srv[i], &loop, &cfg), 0);
    ASSERT_EQ_INT(load_named(srv[i], i == 0 ? "first" : "second"), 0);
    ASSERT_EQ_INT(crater_listen(srv[i], "127.0.0.1", 0), 0);
  }
  /* Both requests in flight at once on the one loop. */
  spec_client c[2];
  for (int i = 0; i < 2; i++)
    spec_client_start(&c[i], &loop, crater_bound_port(srv[i]), "GET", "/", NULL, NULL);
  while (!(c[0].done && c[1].done)) uv_run(&loop, UV_RUN_ONCE);
  char body[256];
  spec_response_body(c[0].data, c[0].len, body, sizeof(body));
  ASSERT_EQ_STR(body, "first");
  spec_response_body(c[1].data, c[1].len, body, sizeof(body));
  ASSERT_EQ_STR(body, "second");
  spec_client_free(&c[0]);
  spec_client_free(&c[1]);
  crater_stats st;
  crater_get_stats(srv[0], &st);
  ASSERT_EQ_INT(st.requests_total, 1);
  ASSERT_EQ_INT(st.generation, 1);
  ASSERT_EQ_INT(close_and_free(&loop, srv, 2), 2);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

typedef struct {
  const char *name;
  char body[64];
  int rc;
} thread_result;

static void *serve_in_thread(void *arg) {
  thread_result *r = arg;
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = quiet_config();
  crater_server *srv;
  r->rc = crater_new(&srv, &loop, &cfg);
  if (r->rc == 0) r->rc = load_named(srv, r->name);
  if (r->rc == 0) r->rc = crater_listen(srv, "127.0.0.1", 0);
  for (int i = 0; r->rc == 0 && i < 20; i++) { /* interleave with the other thread */
    size_t len;
    char *raw = socket_request(&loop, crater_bound_port(srv), "GET", "/", NULL, NULL, &len);
    if (raw == NULL) r->rc = -100;
    else spec_response_body(raw, len, r->body, sizeof(r->body));
    free(raw);
  }
  if (close_and_free(&loop, &srv, 1) != 1 && r->rc == 0) r->rc = -101;
  if (uv_loop_close(&loop) != 0 && r->rc == 0) r->rc = -102;
  return NULL;
}

TEST(embed_two_threads) {
  pthread_t t[2];
  thread_result r[2] = {{"left", "", 0}, {"right", "", 0}};
  for (int i = 0; i < 2; i++) ASSERT_EQ_INT(pthread_create(&t[i], NULL, serve_in_thread, &r[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  ASSERT_EQ_INT(r[0].rc, 0);
  ASSERT_EQ_INT(r[1].rc, 0);
  ASSERT_EQ_STR(r[0].body, "left");
  ASSERT_EQ_STR(r[1].body, "right");
}

/* Leaks show under the ASan build of these tests (ctest: unit_asan). */
TEST(embed_load_close_load) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = quiet_config();
  for (int round = 0; round < 2; round++) {
    crater_server *srv;
    ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
    ASSERT_EQ_INT(crater_load(srv, HELLO_APP), 0);
    ASSERT_EQ_INT(crater_load(srv, HELLO_APP), 0); /* a second generation replaces the first */
    ASSERT_EQ_INT(crater_listen(srv, "127.0.0.1", 0), 0);
    size_t len;
    char *raw = socket_request(&loop, crater_bound_port(srv), "GET", "/count/2", NULL, NULL, &len);
    ASSERT_TRUE(raw != NULL);
    char body[64];
    spec_response_body(raw, len, body, sizeof(body));
    free(raw);
    ASSERT_EQ_STR(body, "1\n2\n");
    ASSERT_EQ_INT(close_and_free(&loop, &srv, 1), 1);
  }
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* ===================================================================== */

typedef struct {
  const char *method, *url, *headers, *body;
  int compare_body; /* 0: the body names the peer, which differs */
} route_case;

static const route_case hello_routes[] = {
  {"GET", "/", NULL, NULL, 1},
  {"GET", "/hello/world", NULL, NULL, 1},
  {"GET", "/search?q=lua&tag=a&tag=b", NULL, NULL, 1},
  {"GET", "/search", NULL, NULL, 1},
  {"POST", "/notes", "Content-Type: application/json\r\n", "{\"text\":\"hi\"}", 1},
  {"GET", "/notes/1", NULL, NULL, 1},
  {"GET", "/notes/99", NULL, NULL, 1},
  {"POST", "/notes", "Content-Type: application/json\r\n", "{", 1},
  {"POST", "/notes", "Content-Type: application/json\r\n", "{\"text\":1}", 1},
  {"GET", "/cookie", NULL, NULL, 1},
  {"GET", "/files/a/b.txt", NULL, NULL, 1},
  {"GET", "/count/3", NULL, NULL, 1},
  {"GET", "/boom", NULL, NULL, 1},
  {"GET", "/nope", NULL, NULL, 1},
  {"DELETE", "/", NULL, NULL, 1},
  {"HEAD", "/", NULL, NULL, 1},
  {"OPTIONS", "/", NULL, NULL, 1},
  {"GET", "/whoami", "User-Agent: spec\r\n", NULL, 0},
  {"GET", "http://example.com/hello/abs?x=1", NULL, NULL, 1},
};

/* "Name: value\r\n..." -> crater_header array (pointers into a copy). */
static size_t parse_headers(const char *text, char *copy, size_t cap, crater_header *hs) {
  size_t n = 0;
  if (text == NULL) return 0;
  snprintf(copy, cap, "%s", text);
  for (char *line = copy; *line; ) {
    char *end = strstr(line, "\r\n");
    char *colon = strchr(line, ':');
    *end = '\0';
    *colon = '\0';
    hs[n].name = line;
    hs[n].name_len = strlen(line);
    hs[n].value = colon + 2;
    hs[n].value_len = strlen(colon + 2);
    n++;
    line = end + 2;
  }
  return n;
}

static void response_header(const crater_response *r, const char *name, char *out, size_t cap) {
  out[0] = '\0';
  for (size_t i = 0; i < r->nheaders; i++) {
    if (strcasecmp(r->headers[i].name, name) != 0) continue;
    if (out[0]) strncat(out, ", ", cap - strlen(out) - 1);
    strncat(out, r->headers[i].value, cap - strlen(out) - 1);
  }
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Two Lua states may order a table's keys differently: sort the members of
 * a top-level JSON object (strings and nesting respected) before comparing. */
static void canon_json(const char *in, char *out, size_t cap) {
  size_t n = strlen(in);
  if (n < 2 || in[0] != '{' || in[n - 1] != '}' || n >= 4096) {
    snprintf(out, cap, "%s", in);
    return;
  }
  char buf[4096];
  memcpy(buf, in + 1, n - 2);
  buf[n - 2] = '\0';
  char *members[64];
  int count = 0, depth = 0, in_str = 0;
  members[count++] = buf;
  for (char *p = buf; *p; p++) {
    if (in_str) {
      if (*p == '\\' && p[1]) p++;
      else if (*p == '"') in_str = 0;
    } else if (*p == '"') in_str = 1;
    else if (*p == '{' || *p == '[') depth++;
    else if (*p == '}' || *p == ']') depth--;
    else if (*p == ',' && depth == 0 && count < 64) {
      *p = '\0';
      members[count++] = p + 1;
    }
  }
  qsort(members, (size_t)count, sizeof(members[0]), cmp_str);
  snprintf(out, cap, "{");
  for (int i = 0; i < count; i++) {
    strncat(out, members[i], cap - strlen(out) - 2);
    if (i + 1 < count) strncat(out, ",", cap - strlen(out) - 2);
  }
  strncat(out, "}", cap - strlen(out) - 1);
}

/* Turns the number after every "created": into 0 (padded) so two servers answering a
 * second apart still compare equal (todo-api stamps rows with os.time()). */
static void blank_times(char *s) {
  for (char *p = strstr(s, "\"created\":"); p != NULL; p = strstr(p + 1, "\"created\":"))
    for (char *d = p + 10; *d >= '0' && *d <= '9'; d++) *d = d == p + 10 ? '0' : ' ';
}

/* 1 when the two texts are the same JSON value (object member order aside),
 * or, when either is not JSON, the same text. Decoded by crater's own codec. */
static int same_json(const char *a, const char *b) {
  static const char cmp[] =
      "local json, a, b = require('crater._json'), ...\n"
      "local va, vb = json.decode(a), json.decode(b)\n"
      "if va == nil or vb == nil then return a == b end\n"
      "local function eq(x, y)\n"
      "  if type(x) ~= 'table' or type(y) ~= 'table' then return x == y end\n"
      "  if getmetatable(x) ~= getmetatable(y) then return false end\n"
      "  for k, v in pairs(x) do if not eq(v, y[k]) then return false end end\n"
      "  for k in pairs(y) do if x[k] == nil then return false end end\n"
      "  return true\n"
      "end\n"
      "return eq(va, vb)\n";
  lua_State *L = spec_lua_with_json();
  if (L == NULL) return 0;
  int same = 0;
  if (luaL_loadstring(L, cmp) == 0) {
    lua_pushstring(L, a);
    lua_pushstring(L, b);
    if (lua_pcall(L, 2, 1, 0) == 0) same = lua_toboolean(L, -1);
    else fprintf(stderr, "  same_json: %s\n", lua_tostring(L, -1));
  }
  lua_close(L);
  return same;
}

/* Sends every case to one server over a socket and to a twin by injection,
 * in the same order (the apps keep state), and compares the answers. */
/* crater_inject's answer, copied out of its callback (one allocation, as
 * crater_response_free expects). */
typedef struct {
  int done, status;
  crater_response *res;
} async_answer;

static void on_async_answer(crater_server *srv, int status, const crater_response *res, void *udata) {
  (void)srv;
  async_answer *a = udata;
  a->done = 1;
  a->status = status;
  if (res == NULL) return;
  size_t size = sizeof(*res) + res->nheaders * sizeof(crater_header) + res->body_len + 1;
  for (size_t i = 0; i < res->nheaders; i++)
    size += res->headers[i].name_len + res->headers[i].value_len + 2;
  crater_response *c = malloc(size);
  if (c == NULL) return;
  *c = *res;
  crater_header *hs = (crater_header *)(c + 1);
  char *p = (char *)(hs + res->nheaders);
  for (size_t i = 0; i < res->nheaders; i++) {
    hs[i] = res->headers[i];
    memcpy(p, res->headers[i].name, hs[i].name_len + 1);
    hs[i].name = p;
    p += hs[i].name_len + 1;
    memcpy(p, res->headers[i].value, hs[i].value_len + 1);
    hs[i].value = p;
    p += hs[i].value_len + 1;
  }
  memcpy(p, res->body, res->body_len + 1);
  c->headers = hs;
  c->body = p;
  a->res = c;
}

/* Injects req and runs the loop until its answer is there: the handlers
 * may wait (the todo API's queries do), which crater_inject_sync cannot. */
static int inject_wait(uv_loop_t *loop, crater_server *srv, const crater_request *req,
                       crater_response **out) {
  async_answer a = {0, 0, NULL};
  int rc = crater_inject(srv, req, on_async_answer, &a);
  if (rc != 0) return rc;
  while (!a.done) uv_run(loop, UV_RUN_ONCE);
  *out = a.res;
  return a.status != 0 ? a.status : a.res == NULL ? CRATER_ENOMEM : 0;
}

static void compare_inject_with_socket(const char *app, const route_case *cases, size_t n) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = quiet_config();
  crater_server *sock, *inj;
  ASSERT_EQ_INT(crater_new(&sock, &loop, &cfg), 0);
  ASSERT_EQ_INT(crater_new(&inj, &loop, &cfg), 0);
  ASSERT_EQ_INT(crater_load(sock, app), 0);
  ASSERT_EQ_INT(crater_load(inj, app), 0);
  ASSERT_EQ_INT(crater_listen(sock, "127.0.0.1", 0), 0);
  static const char *compared[] = {"Content-Type", "Location", "X-Powered-By", "Set-Cookie", "Allow"};
  for (size_t i = 0; i < n; i++) {
    const route_case *rc = &cases[i];
    size_t len;
    char *raw = socket_request(&loop, crater_bound_port(sock), rc->method, rc->url, rc->headers,
                               rc->body, &len);
    ASSERT_TRUE(raw != NULL);
    char copy[512];
    crater_header hs[8];
    crater_request req = {rc->method, rc->url, 0, hs, parse_headers(rc->headers, copy, sizeof(copy), hs),
                          rc->body, rc->body ? strlen(rc->body) : 0};
    crater_response *res;
    ASSERT_EQ_INT(inject_wait(&loop, inj, &req, &res), 0);
    if (spec_response_status(raw) != res->status)
      fprintf(stderr, "  %s %s\n", rc->method, rc->url);
    ASSERT_EQ_INT(spec_response_status(raw), res->status);
    for (size_t k = 0; k < sizeof(compared) / sizeof(compared[0]); k++) {
      char a[512], b[512];
      spec_response_header(raw, compared[k], a, sizeof(a));
      response_header(res, compared[k], b, sizeof(b));
      ASSERT_EQ_STR(a, b);
    }
    if (rc->compare_body) {
      char body[4096], a[4096], b[4096], mine[4096];
      spec_response_body(raw, len, body, sizeof(body));
      snprintf(mine, sizeof(mine), "%s", res->body);
      blank_times(body);
      blank_times(mine);
      if (!same_json(body, mine)) {
        canon_json(body, a, sizeof(a));
        canon_json(mine, b, sizeof(b));
        ASSERT_EQ_STR(a, b); /* prints both */
      }
    }
    ASSERT_EQ_INT(res->truncated, 0);
    crater_response_free(res);
    free(raw);
  }
  crater_stats st;
  crater_get_stats(inj, &st);
  ASSERT_EQ_INT(st.requests_injected, n);
  crater_server *both[2] = {sock, inj};
  ASSERT_EQ_INT(close_and_free(&loop, both, 2), 2);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

TEST(embed_inject_matches_socket) {
  compare_inject_with_socket(HELLO_APP, hello_routes, sizeof(hello_routes) / sizeof(hello_routes[0]));
}

#define JSON_CT "Content-Type: application/json\r\n"

/* Every route of the todo API, with the answers schemas give: coercion,
 * defaults, 422/400/415, shaping, 404/409, 204. */
static const route_case todo_routes[] = {
  {"GET", "/todos", NULL, NULL, 1},
  {"POST", "/todos", JSON_CT, "{\"title\":\"milk\",\"tags\":[\"shop\"]}", 1},
  {"POST", "/todos", JSON_CT, "{\"title\":\"bread\"}", 1},
  {"POST", "/todos", JSON_CT "X-Dry-Run: true\r\n", "{\"title\":\"eggs\"}", 1},
  {"POST", "/todos", JSON_CT, "{\"title\":\"milk\"}", 1},
  {"POST", "/todos", JSON_CT, "{\"title\":\"\",\"done\":\"x\",\"tags\":[1]}", 1},
  {"POST", "/todos", JSON_CT, "{\"title\":", 1},
  {"POST", "/todos", "Content-Type: text/plain\r\n", "title=milk", 1},
  {"GET", "/todos?done=false&tag=shop&limit=5", NULL, NULL, 1},
  {"GET", "/todos?limit=0&offset=-1", NULL, NULL, 1},
  {"GET", "/todos/1", NULL, NULL, 1},
  {"GET", "/todos/abc", NULL, NULL, 1},
  {"GET", "/todos/99", NULL, NULL, 1},
  {"PUT", "/todos/2", JSON_CT, "{\"title\":\"rye bread\",\"done\":true}", 1},
  {"PUT", "/todos/2", JSON_CT, "{\"title\":\"milk\"}", 1},
  {"PATCH", "/todos/1", JSON_CT, "{\"done\":true}", 1},
  {"PATCH", "/todos/1", JSON_CT, "{}", 1},
  {"DELETE", "/todos/2", NULL, NULL, 1},
  {"DELETE", "/todos/2", NULL, NULL, 1},
  {"HEAD", "/todos/1", NULL, NULL, 1},
  {"OPTIONS", "/todos/1", NULL, NULL, 1},
  {"POST", "/todos/1", JSON_CT, "{}", 1},
  {"GET", "/openapi.json", NULL, NULL, 1},
};

TEST(embed_inject_matches_socket_todo_api) {
  setenv("DATABASE_URL", "sqlite::memory:", 1); /* each server its own, not a file in the tree */
  compare_inject_with_socket(CRATER_SOURCE_DIR "/examples/todo-api/app.lua", todo_routes,
                             sizeof(todo_routes) / sizeof(todo_routes[0]));
}

TEST(embed_inject_checks_and_limits) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = quiet_config();
  cfg.max_body_bytes = 4;
  cfg.max_uri_bytes = 8;
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  crater_response *res = NULL;
  crater_request req = {"GET", "/", 0, NULL, 0, NULL, 0};
  ASSERT_EQ_INT(crater_inject_sync(srv, &req, &res), 0); /* no app: 503 problem */
  ASSERT_EQ_INT(res->status, 503);
  ASSERT_EQ_STR(res->headers[0].value, "application/problem+json");
  ASSERT_TRUE(strstr(res->body, "no application loaded") != NULL);
  crater_response_free(res);
  ASSERT_EQ_INT(load_named(srv, "x"), 0);
  req.method = "get";
  ASSERT_EQ_INT(crater_inject_sync(srv, &req, &res), CRATER_EINVAL);
  ASSERT_TRUE(strstr(crater_last_error(srv), "upper case") != NULL);
  req.method = "GET";
  req.url = "no-slash";
  ASSERT_EQ_INT(crater_inject_sync(srv, &req, &res), CRATER_EINVAL);
  req.url = "/a b";
  ASSERT_EQ_INT(crater_inject_sync(srv, &req, &res), CRATER_EINVAL);
  crater_header bad = CRATER_HEADER("X-Bad", "a\r\nb");
  req.url = "/";
  req.headers = &bad;
  req.nheaders = 1;
  ASSERT_EQ_INT(crater_inject_sync(srv, &req, &res), CRATER_EINVAL);
  req.headers = NULL;
  req.nheaders = 0;
  req.method = "POST";
  req.body = "too long";
  req.body_len = 8;
  ASSERT_EQ_INT(crater_inject_sync(srv, &req, &res), 0);
  ASSERT_EQ_INT(res->status, 413);
  crater_response_free(res);
  /* The target's limit (max_uri_bytes) as over a socket: 414. */
  req.method = "GET";
  req.body = NULL;
  req.body_len = 0;
  req.url = "/1234567";
  ASSERT_EQ_INT(crater_inject_sync(srv, &req, &res), 0);
  ASSERT_TRUE(res->status != 414);
  crater_response_free(res);
  req.url = "/12345678";
  ASSERT_EQ_INT(crater_inject_sync(srv, &req, &res), 0);
  ASSERT_EQ_INT(res->status, 414);
  ASSERT_TRUE(strstr(res->body, "--max-uri") != NULL);
  crater_response_free(res);
  crater_free(srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* ===================================================================== */

typedef struct {
  int calls;
  int status;
  int http_status;
  char body[128];
} inject_result;

static void on_injected(crater_server *srv, int status, const crater_response *res, void *udata) {
  (void)srv;
  inject_result *r = udata;
  r->calls++;
  r->status = status;
  if (res != NULL) {
    r->http_status = res->status;
    snprintf(r->body, sizeof(r->body), "%s", res->body);
  }
}

TEST(embed_inject_async_and_close) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = quiet_config();
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  ASSERT_EQ_INT(crater_load(srv, HELLO_APP), 0);
  inject_result r = {0};
  crater_header h = CRATER_HEADER("Content-Type", "application/json");
  char url[] = "/notes";
  char body[] = "{\"text\":\"queued\"}";
  crater_request req = {"POST", url, 0, &h, 1, body, strlen(body)};
  ASSERT_EQ_INT(crater_inject(srv, &req, on_injected, &r), 0);
  memset(body, 'x', strlen(body)); /* the request was copied */
  memset(url, 'x', strlen(url));
  ASSERT_EQ_INT(r.calls, 0);       /* never inside the call */
  int closed = 0;
  crater_set_data(srv, &closed);
  ASSERT_EQ_INT(crater_close(srv, count_closed), 0); /* waits for the queued injection */
  ASSERT_EQ_INT(crater_inject(srv, &req, on_injected, &r), CRATER_ESTATE);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ_INT(r.calls, 1);
  ASSERT_EQ_INT(r.status, 0);
  ASSERT_EQ_INT(r.http_status, 201);
  ASSERT_TRUE(strstr(r.body, "queued") != NULL);
  ASSERT_EQ_INT(closed, 1);
  crater_free(srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* ===================================================================== */

typedef struct {
  int64_t value;
} counter;

static int counter_get(lua_State *L) {
  counter *c = crater_lua_context(L);
  lua_pushnumber(L, (lua_Number)c->value);
  return 1;
}

static int counter_add(lua_State *L) {
  counter *c = crater_lua_context(L);
  c->value += (int64_t)luaL_checknumber(L, 1);
  return 0;
}

/* A module opened by a luaopen-style function: reports its server's stats. */
static int server_stats(lua_State *L) {
  crater_server *srv = crater_lua_server(L);
  crater_stats st;
  crater_get_stats(srv, &st);
  lua_createtable(L, 0, 3);
  lua_pushnumber(L, (lua_Number)st.connections_open);
  lua_setfield(L, -2, "open");
  lua_pushnumber(L, (lua_Number)st.generation);
  lua_setfield(L, -2, "generation");
  lua_pushboolean(L, crater_get_data(srv) == (void *)&server_stats);
  lua_setfield(L, -2, "has_data");
  return 1;
}

static int open_stats(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, server_stats);
  lua_setfield(L, -2, "get");
  return 1;
}

static const char counter_app[] =
    "local crater = require 'crater'\n"
    "local counter = require 'host.counter'\n"
    "local stats = require 'host.stats'\n"
    "local app = crater.app()\n"
    "app:get('/n', function() return { n = counter.get() } end)\n"
    "app:post('/add', function(req) counter.add(tonumber(req.body)) return { n = counter.get() } end)\n"
    "app:get('/stats', function() return stats.get() end)\n"
    "return app\n";

static int inject_get(crater_server *srv, const char *method, const char *url, const char *body,
                      char *out, size_t cap) {
  crater_request req = {method, url, 0, NULL, 0, body, body ? strlen(body) : 0};
  crater_response *res;
  if (crater_inject_sync(srv, &req, &res) != 0) return -1;
  snprintf(out, cap, "%s", res->body);
  int status = res->status;
  crater_response_free(res);
  return status;
}

TEST(embed_register_modules) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = quiet_config();
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  crater_set_data(srv, (void *)&server_stats);
  counter c = {5};
  static const luaL_Reg fns[] = {{"get", counter_get}, {"add", counter_add}, {NULL, NULL}};
  ASSERT_EQ_INT(crater_register_module(srv, "host.counter", fns, &c), 0);
  ASSERT_EQ_INT(crater_register(srv, "host.stats", open_stats), 0);
  ASSERT_EQ_INT(crater_register(srv, "crater.mine", open_stats), CRATER_EINVAL);
  ASSERT_EQ_INT(crater_register(srv, "", open_stats), CRATER_EINVAL);
  ASSERT_EQ_INT(crater_load_string(srv, "counter_app", counter_app, sizeof(counter_app) - 1), 0);
  char body[256];
  ASSERT_EQ_INT(inject_get(srv, "GET", "/n", NULL, body, sizeof(body)), 200);
  ASSERT_EQ_STR(body, "{\"n\":5}");
  ASSERT_EQ_INT(inject_get(srv, "POST", "/add", "3", body, sizeof(body)), 200);
  ASSERT_EQ_STR(body, "{\"n\":8}");
  ASSERT_EQ_INT(c.value, 8);
  /* A new generation gets the registrations again. */
  ASSERT_EQ_INT(crater_load_string(srv, "counter_app", counter_app, sizeof(counter_app) - 1), 0);
  ASSERT_EQ_INT(inject_get(srv, "GET", "/n", NULL, body, sizeof(body)), 200);
  ASSERT_EQ_STR(body, "{\"n\":8}");
  ASSERT_EQ_INT(inject_get(srv, "GET", "/stats", NULL, body, sizeof(body)), 200);
  ASSERT_TRUE(strstr(body, "\"generation\":2") != NULL);
  ASSERT_TRUE(strstr(body, "\"has_data\":true") != NULL);
  /* Over a socket the stats see the connection. */
  ASSERT_EQ_INT(crater_listen(srv, "127.0.0.1", 0), 0);
  size_t len;
  char *raw = socket_request(&loop, crater_bound_port(srv), "GET", "/stats", NULL, NULL, &len);
  ASSERT_TRUE(raw != NULL && strstr(raw, "\"open\":1") != NULL);
  free(raw);
  /* A string app's errors name its chunk. */
  ASSERT_EQ_INT(crater_load_string(srv, "broken", "return nil +", 12), CRATER_ELOAD);
  ASSERT_TRUE(strstr(crater_last_error(srv), "broken:1:") != NULL);
  ASSERT_EQ_INT(close_and_free(&loop, &srv, 1), 1);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* ===================================================================== */

static int port_of(uv_tcp_t *t) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  uv_tcp_getsockname(t, (struct sockaddr *)&ss, &len);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

TEST(embed_listen_fd_and_several_listeners) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = quiet_config();
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  ASSERT_EQ_INT(load_named(srv, "many"), 0);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ_INT(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  ASSERT_EQ_INT(listen(fd, 16), 0);
  ASSERT_EQ_INT(crater_listen_fd(srv, fd), 0);
  ASSERT_EQ_INT(crater_listen(srv, "127.0.0.1", 0), 0);
  (void)crater_listen(srv, "::1", 0); /* a third, if IPv6 is on here: not required */
  ASSERT_EQ_INT(crater_listen_fd(srv, -1), CRATER_EINVAL);
  for (int i = 0; i < 2; i++) {
    size_t len;
    char *raw = socket_request(&loop, port_of(srv->listeners[i]), "GET", "/", NULL, NULL, &len);
    ASSERT_TRUE(raw != NULL);
    char body[64];
    spec_response_body(raw, len, body, sizeof(body));
    free(raw);
    ASSERT_EQ_STR(body, "many");
  }
  crater_stats st;
  crater_get_stats(srv, &st);
  ASSERT_EQ_INT(st.requests_total, 2);
  ASSERT_EQ_INT(st.connections_total, 2);
  ASSERT_EQ_INT(close_and_free(&loop, &srv, 1), 1);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* ===================================================================== */

typedef struct {
  int lines;
  int saw_refusal;
} log_seen;

static void collect_log(void *udata, crater_log_level level, const char *line) {
  log_seen *s = udata;
  s->lines++;
  if (level == CRATER_LOG_ERROR && strstr(line, "refused 503") != NULL) s->saw_refusal = 1;
}

TEST(embed_log_cb_gets_every_line) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  log_seen seen = {0, 0};
  crater_config cfg = crater_config_default();
  cfg.log_cb = collect_log;
  cfg.log_udata = &seen;
  cfg.log_level = CRATER_LOG_DEBUG;
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  char body[256];
  ASSERT_EQ_INT(inject_get(srv, "GET", "/", NULL, body, sizeof(body)), 503);
  ASSERT_EQ_INT(seen.saw_refusal, 1);
  int before = seen.lines;
  ASSERT_EQ_INT(crater_load(srv, HELLO_APP), 0);   /* a debug line */
  ASSERT_EQ_INT(inject_get(srv, "GET", "/boom", NULL, body, sizeof(body)), 500); /* the traceback */
  ASSERT_TRUE(seen.lines >= before + 2);
  crater_stats st;
  crater_get_stats(srv, &st);
  ASSERT_EQ_INT(st.requests_total, 2);
  ASSERT_EQ_INT(st.requests_injected, 2);
  ASSERT_EQ_INT(st.requests_refused, 1);
  ASSERT_EQ_INT(st.connections_open, 0);
  crater_free(srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* ===================================================================== */

TEST(embed_lua_path_config_and_env) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = quiet_config();
  cfg.lua_path = "/nonexistent/crater-lua";
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  ASSERT_EQ_INT(crater_load(srv, HELLO_APP), CRATER_ELOAD);
  ASSERT_TRUE(strstr(crater_last_error(srv), "/nonexistent/crater-lua/crater.lua") != NULL);
  crater_free(srv);
  /* The environment variable applies when the config leaves it unset... */
  setenv("CRATER_LUA_PATH", "/nonexistent/from-env", 1);
  cfg.lua_path = NULL;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  int rc = crater_load(srv, HELLO_APP);
  int named = strstr(crater_last_error(srv), "/nonexistent/from-env/crater.lua") != NULL;
  crater_free(srv);
  /* ...and the config wins over it. */
  cfg.lua_path = CRATER_SOURCE_DIR "/lua";
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  int rc2 = crater_load(srv, HELLO_APP);
  crater_free(srv);
  unsetenv("CRATER_LUA_PATH");
  ASSERT_EQ_INT(rc, CRATER_ELOAD);
  ASSERT_TRUE(named);
  ASSERT_EQ_INT(rc2, 0);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* ===================================================================== */

static const char nested_app[] =
    "local crater = require 'crater'\n"
    "local app = crater.app()\n"
    "app:get('/inner', function(req) return 'inner ' .. (req.query.n or '') end)\n"
    "app:get('/outer', function()\n"
    "  local res = require('crater.test').client():get('/inner', { query = { n = 1 } })\n"
    "  return 'outer(' .. res.status .. ' ' .. res.body .. ')'\n"
    "end)\n"
    "app:get('/broken-stream', function()\n"
    "  return crater.stream(function(write) write('first;') error('stream broke') end)\n"
    "end)\n"
    "return app\n";

TEST(embed_inject_nested_and_truncated_stream) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = quiet_config();
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  ASSERT_EQ_INT(crater_load_string(srv, "nested", nested_app, sizeof(nested_app) - 1), 0);
  /* A handler injecting into its own server (a coroutine inside a coroutine). */
  char body[256];
  ASSERT_EQ_INT(inject_get(srv, "GET", "/outer", NULL, body, sizeof(body)), 200);
  ASSERT_EQ_STR(body, "outer(200 inner 1)");
  crater_request req = {"GET", "/broken-stream", 0, NULL, 0, NULL, 0};
  crater_response *res;
  ASSERT_EQ_INT(crater_inject_sync(srv, &req, &res), 0);
  ASSERT_EQ_INT(res->status, 200);
  ASSERT_EQ_INT(res->truncated, 1);
  ASSERT_EQ_STR(res->body, "first;");
  crater_response_free(res);
  /* The server still answers afterwards. */
  ASSERT_EQ_INT(inject_get(srv, "GET", "/inner", NULL, body, sizeof(body)), 200);
  crater_stats st;
  crater_get_stats(srv, &st);
  ASSERT_EQ_INT(st.requests_injected, 4);
  crater_free(srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* The log lines, joined, for the watchdog's test. */
typedef struct {
  char text[4096];
  size_t len;
} log_lines;

static void keep_log(void *udata, crater_log_level level, const char *line) {
  log_lines *l = udata;
  (void)level;
  int n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s\n", line);
  if (n > 0 && l->len + (size_t)n < sizeof(l->text)) l->len += (size_t)n;
}

/* stuck_timeout_ms: a handler looping in the interpreter is interrupted at
 * its line (500), the log names the request, its route and both file:lines,
 * and the server goes on; 0 runs no watchdog thread at all. */
TEST(embed_watchdog_interrupts_a_stuck_handler) {
  static const char app[] =
      "local app = require('crater').app()\n"
      "app:get('/spin', function() jit.off(true, true) local n = 0 while true do n = n + 1 end end)\n"
      "app:get('/ok', function() return 'ok' end)\n"
      "return app\n";
  uv_loop_t loop;
  uv_loop_init(&loop);
  log_lines log;
  memset(&log, 0, sizeof(log));
  crater_config cfg = crater_config_default();
  cfg.log_cb = keep_log;
  cfg.log_udata = &log;
  cfg.stuck_timeout_ms = 100;
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  ASSERT_EQ_INT(crater_load_string(srv, "spinner", app, sizeof(app) - 1), 0);
  crater_response *res;
  crater_request spin = {"GET", "/spin", 0, NULL, 0, NULL, 0};
  ASSERT_EQ_INT(crater_inject_sync(srv, &spin, &res), 0);
  ASSERT_EQ_INT(res->status, 500);
  crater_response_free(res);
  crater_request ok = {"GET", "/ok", 0, NULL, 0, NULL, 0};
  ASSERT_EQ_INT(crater_inject_sync(srv, &ok, &res), 0);
  ASSERT_EQ_STR(res->body, "ok");
  crater_response_free(res);
  ASSERT_TRUE(strstr(log.text, "route GET /spin (spinner:2): stuck for over 0.1 s without returning "
                               "to the event loop, at spinner:2: interrupted") != NULL);
  crater_free(srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);

  cfg.stuck_timeout_ms = 0;
  uv_loop_init(&loop);
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  ASSERT_TRUE(srv->watchdog == NULL);
  crater_free(srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}
