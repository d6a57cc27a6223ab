/* test_vm.c - vm.c: generations built and run by hand, the way load.c's
 * build() does (crater__gen_new, the preloads, crater__gen_run), then
 * their numbering, failures, coroutine pool, request counts, descriptions,
 * module list and traceback handler. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

#include "crater.h"
#include "helpers.h"
#include "load.h"
#include "server.h"
#include "test.h"
#include "vm.h"

/* A generation with the preloads every state gets (crater__load_preloads),
 * running code (NULL: the file at
 * name). Returns crater__gen_run's code; on failure *out is the generation
 * still open, for the test to look at and close. */
static int build(crater_server *srv, const char *name, const char *code, crater__gen **out) {
  crater__gen *g;
  *out = NULL;
  int rc = crater__gen_new(srv, name, code != NULL, &g);
  if (rc != 0) return rc;
  crater__load_preloads(g);
  *out = g;
  return crater__gen_run(g, code, code ? strlen(code) : 0);
}

static const char small_app[] =
    "local app = require('crater').app()\n"
    "app:get('/', function() return 'hi' end)\n"
    "app:post('/items/{id}', function(req) return req.params.id end)\n"
    "return app\n";

/* One test's world: its loop, a server on it (quiet), and, when asked
 * for, a generation of small_app built by hand. */
typedef struct {
  uv_loop_t loop;
  crater_server *srv;
  crater__gen *g;
} world;

/* 0, or -1 when something failed (the test asserts it). */
static int world_up(world *w, int with_gen) {
  crater_config cfg = crater_config_default();
  cfg.log_cb = spec_quiet_log;
  w->g = NULL;
  uv_loop_init(&w->loop);
  if (crater_new(&w->srv, &w->loop, &cfg) != 0) return -1;
  return with_gen ? build(w->srv, "unit_app", small_app, &w->g) : 0;
}

/* Closes the generation (if any), frees the server; uv_loop_close's code. */
static int world_down(world *w) {
  crater__gen_close(w->g);
  crater_free(w->srv);
  return uv_loop_close(&w->loop);
}

/* ===================================================================== */

TEST(vm_gen_run_numbers_generations) {
  world w;
  ASSERT_EQ_INT(world_up(&w, 1), 0);
  crater_server *srv = w.srv;
  crater__gen *g1 = w.g, *g2;
  ASSERT_EQ_INT(build(srv, "unit_app", small_app, &g2), 0);
  ASSERT_EQ_INT(g1->id, 1);
  ASSERT_EQ_INT(g2->id, 2);
  ASSERT_EQ_INT(srv->gen_count, 2);
  /* What a run leaves: the app and its dispatcher referenced, a clean stack. */
  ASSERT_TRUE(g1->dispatch_ref != LUA_NOREF && g1->app_ref != LUA_NOREF);
  ASSERT_EQ_INT(lua_gettop(g1->L), 0);
  ASSERT_EQ_INT(g1->from_string, 1);
  ASSERT_EQ_STR(g1->app_path, "unit_app");
  ASSERT_TRUE(g1->L != g2->L);
  lua_rawgeti(g1->L, LUA_REGISTRYINDEX, g1->dispatch_ref);
  ASSERT_EQ_INT(lua_type(g1->L, -1), LUA_TFUNCTION);
  lua_pop(g1->L, 1);
  /* package.path: the framework's directory first. */
  lua_getglobal(g1->L, "package");
  lua_getfield(g1->L, -1, "path");
  ASSERT_TRUE(strncmp(lua_tostring(g1->L, -1), srv->lua_path, strlen(srv->lua_path)) == 0);
  lua_settop(g1->L, 0);
  crater__gen_close(g2);
  /* The count is the server's: crater_load_string goes on from it. */
  ASSERT_EQ_INT(crater_load_string(srv, "unit_app", small_app, sizeof(small_app) - 1), 0);
  ASSERT_EQ_INT(srv->gen->id, 3);
  crater_stats st;
  crater_get_stats(srv, &st);
  ASSERT_EQ_INT(st.generation, 3);
  ASSERT_EQ_INT(world_down(&w), 0);
}

/* Runs code that must fail: CRATER_ELOAD, last_error starting with want,
 * with a traceback when traceback is 1, no generation numbered and the
 * state's stack left clean. Closes the generation (ASan: nothing leaks). */
static void expect_failure(crater_server *srv, const char *name, const char *code, const char *want,
                           int traceback) {
  uint64_t count = srv->gen_count;
  crater__gen *g;
  ASSERT_EQ_INT(build(srv, name, code, &g), CRATER_ELOAD);
  ASSERT_TRUE(g != NULL);
  char head[256];
  snprintf(head, sizeof(head), "%.*s", (int)strlen(want), crater_last_error(srv));
  ASSERT_EQ_STR(head, want);
  ASSERT_EQ_INT(strstr(crater_last_error(srv), "stack traceback:") != NULL, traceback);
  ASSERT_EQ_INT(srv->gen_count, count);
  ASSERT_EQ_INT(g->id, 0);
  ASSERT_EQ_INT(lua_gettop(g->L), 0);
  crater__gen_close(g);
}

TEST(vm_gen_run_failure_names_the_line) {
  int failures = test_failures;
  world w;
  ASSERT_EQ_INT(world_up(&w, 0), 0);
  crater_server *srv = w.srv;
  expect_failure(srv, "unit_bad", "local crater = require 'crater'\n\nerror('boom')\n", "unit_bad:3: boom\n", 1);
  expect_failure(srv, "unit_bad", "local x = = 1\n", "unit_bad:1: unexpected symbol near '='", 0);
  expect_failure(srv, "unit_bad", "return 42\n",
                 "unit_bad must return a crater app (crater.app{...}), got number", 1);
  expect_failure(srv, "unit_bad", "require 'no_such_module_here'\n",
                 "unit_bad:1: module 'no_such_module_here' not found", 1);
  /* A file app: the file's path names the line. */
  char path[] = "/tmp/crater-unit-vm-XXXXXX.lua";
  int fd = mkstemps(path, 4);
  ASSERT_TRUE(fd >= 0);
  close(fd);
  ASSERT_EQ_INT(spec_write_file(path, "local app = require('crater').app()\nlocal n = nil + 1\nreturn app\n"), 0);
  char want[128];
  snprintf(want, sizeof(want), "%s:2: attempt to perform arithmetic on a nil value", path);
  expect_failure(srv, path, NULL, want, 1);
  unlink(path);
  expect_failure(srv, path, NULL, "cannot open", 0); /* gone */
  ASSERT_EQ_INT(test_failures, failures); /* expect_failure returns, not this test */
  /* Through the public call: nothing is installed, the next load is number 1. */
  ASSERT_EQ_INT(crater_load_string(srv, "unit_bad", "error('late')", 13), CRATER_ELOAD);
  ASSERT_TRUE(strncmp(crater_last_error(srv), "unit_bad:1: late", 16) == 0);
  ASSERT_TRUE(srv->gen == NULL);
  ASSERT_EQ_INT(crater_load_string(srv, "unit_app", small_app, sizeof(small_app) - 1), 0);
  ASSERT_EQ_INT(srv->gen->id, 1);
  ASSERT_EQ_INT(world_down(&w), 0);
}

/* ===================================================================== */
/*  The coroutine pool                                                   */
/* ===================================================================== */

/* Threads the test has seen, in a weak table: a thread the pool let go
 * disappears from it at the next full collection. */
static void seen_init(lua_State *L) {
  luaL_dostring(L, "unit_seen = setmetatable({}, { __mode = 'k' })");
}

static void seen_add(lua_State *L, int ref) {
  lua_getglobal(L, "unit_seen");
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

static int seen_has(lua_State *L, int ref) {
  lua_getglobal(L, "unit_seen");
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_rawget(L, -2);
  int has = lua_toboolean(L, -1);
  lua_pop(L, 2);
  return has;
}

/* Collects garbage, then counts the threads seen that are still alive. */
static int seen_alive(lua_State *L) {
  luaL_dostring(L, "collectgarbage() collectgarbage()\n"
                   "local n = 0 for _ in pairs(unit_seen) do n = n + 1 end return n");
  int n = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return n;
}

/* Runs code on T as a request would (lua_resume from the start): its one
 * result as an integer, or -1. */
static int run_on(lua_State *T, const char *code) {
  if (luaL_loadstring(T, code) != 0 || lua_resume(T, 0) != 0) return -1;
  return (int)lua_tointeger(T, -1);
}

TEST(vm_thread_pool_reuses_coroutines) {
  world w;
  ASSERT_EQ_INT(world_up(&w, 1), 0);
  crater__gen *g = w.g;
  lua_State *L = g->L;
  seen_init(L);

  lua_State *a, *b, *c;
  int ra, rb, rc;
  ASSERT_EQ_INT(crater__gen_thread(g, &a, &ra), 0);
  seen_add(L, ra);
  ASSERT_TRUE(a != L);
  ASSERT_EQ_INT(run_on(a, "return 6 * 7"), 42);
  crater__gen_thread_done(g, a, ra);
  ASSERT_TRUE(g->spare == a);
  /* The spare comes back first, and runs a new function from the start. */
  ASSERT_EQ_INT(crater__gen_thread(g, &b, &rb), 0);
  ASSERT_TRUE(b == a);
  ASSERT_EQ_INT(rb, ra);
  ASSERT_TRUE(g->spare == NULL);
  ASSERT_EQ_INT(lua_gettop(b), 0);
  ASSERT_EQ_INT(run_on(b, "return 1 + 1"), 2);
  /* Two at once: the second is new; both go back (spare, then idle list). */
  ASSERT_EQ_INT(crater__gen_thread(g, &c, &rc), 0);
  seen_add(L, rc);
  ASSERT_TRUE(c != b);
  crater__gen_thread_done(g, b, rb);
  crater__gen_thread_done(g, c, rc);
  ASSERT_TRUE(g->spare == b);
  ASSERT_EQ_INT(g->nidle, 1);
  lua_State *x, *y;
  int rx, ry;
  ASSERT_EQ_INT(crater__gen_thread(g, &x, &rx), 0);
  ASSERT_EQ_INT(crater__gen_thread(g, &y, &ry), 0);
  ASSERT_TRUE(x == b && y == c);
  ASSERT_EQ_INT(g->nidle, 0);
  ASSERT_EQ_INT(seen_alive(L), 2);
  /* Drop: a thread that failed (or stayed suspended) is let go. */
  ASSERT_EQ_INT(lua_resume(y, 0) == 0 ? 0 : -1, -1); /* nothing to run: an error */
  crater__gen_thread_drop(g, ry);
  ASSERT_EQ_INT(seen_alive(L), 1);
  ASSERT_TRUE(g->spare == NULL && g->nidle == 0);
  ASSERT_TRUE(luaL_loadstring(x, "coroutine.yield()") == 0);
  ASSERT_EQ_INT(lua_resume(x, 0), LUA_YIELD); /* left suspended */
  crater__gen_thread_drop(g, rx);
  ASSERT_EQ_INT(seen_alive(L), 0);
  ASSERT_EQ_INT(lua_gettop(L), 0);
  ASSERT_EQ_INT(world_down(&w), 0);
}

#define MANY 600

TEST(vm_thread_pool_many_threads) {
  world w;
  ASSERT_EQ_INT(world_up(&w, 1), 0);
  crater__gen *g = w.g;
  lua_State *L = g->L;
  seen_init(L);
  static lua_State *ts[MANY];
  static int refs[MANY];
  for (int i = 0; i < MANY; i++) {
    ASSERT_EQ_INT(crater__gen_thread(g, &ts[i], &refs[i]), 0);
    seen_add(L, refs[i]);
    for (int j = 0; j < i; j++) ASSERT_TRUE(ts[j] != ts[i] && refs[j] != refs[i]);
  }
  for (int i = 0; i < MANY; i++) crater__gen_thread_done(g, ts[i], refs[i]);
  /* The pool keeps a bounded number; the others are released. */
  ASSERT_TRUE(g->spare == ts[0]);
  ASSERT_TRUE(g->nidle > 0 && g->nidle < MANY - 1);
  int kept = 1 + g->nidle;
  ASSERT_EQ_INT(seen_alive(L), kept);
  /* Taken again: the kept ones first (the ones seen before), then new ones. */
  for (int i = 0; i < MANY; i++) {
    ASSERT_EQ_INT(crater__gen_thread(g, &ts[i], &refs[i]), 0);
    ASSERT_EQ_INT(seen_has(L, refs[i]), i < kept);
  }
  for (int i = 0; i < MANY; i++) crater__gen_thread_drop(g, refs[i]);
  ASSERT_EQ_INT(seen_alive(L), 0);
  ASSERT_EQ_INT(world_down(&w), 0);
}

/* probe.refs(): the requests in flight on the serving generation. */
static int lua_refs(lua_State *L) {
  lua_pushinteger(L, crater_lua_server(L)->gen->refs);
  return 1;
}

TEST(vm_ref_unref_counts) {
  world w;
  ASSERT_EQ_INT(world_up(&w, 1), 0);
  crater__gen *g = w.g;
  ASSERT_EQ_INT(g->refs, 0);
  crater__gen_ref(g);
  crater__gen_ref(g);
  crater__gen_ref(g);
  ASSERT_EQ_INT(g->refs, 3);
  ASSERT_EQ_INT(crater__gen_unref(g), 2);
  ASSERT_EQ_INT(crater__gen_unref(g), 1);
  crater__gen_ref(g);
  ASSERT_EQ_INT(crater__gen_unref(g), 1);
  ASSERT_EQ_INT(crater__gen_unref(g), 0);
  /* A request pins the generation it runs on while it runs. */
  static const luaL_Reg probe_fns[] = {{"refs", lua_refs}, {NULL, NULL}};
  static const char refs_app[] =
      "local app = require('crater').app()\n"
      "app:get('/refs', function() return tostring(require('probe').refs()) end)\n"
      "return app\n";
  ASSERT_EQ_INT(crater_register_module(w.srv, "probe", probe_fns, NULL), 0);
  ASSERT_EQ_INT(crater_load_string(w.srv, "refs_app", refs_app, sizeof(refs_app) - 1), 0);
  crater_request req = {"GET", "/refs", 0, NULL, 0, NULL, 0};
  crater_response *res;
  ASSERT_EQ_INT(crater_inject_sync(w.srv, &req, &res), 0);
  ASSERT_EQ_STR(res->body, "1");
  crater_response_free(res);
  ASSERT_EQ_INT(w.srv->gen->refs, 0);
  ASSERT_EQ_INT(world_down(&w), 0);
}

/* ===================================================================== */
/*  Describing, modules, tracebacks                                      */
/* ===================================================================== */

TEST(vm_describe_routes) {
  world w;
  ASSERT_EQ_INT(world_up(&w, 1), 0);
  crater__gen *g = w.g;
  crater__buf out = {0};
  ASSERT_EQ_INT(crater__gen_describe(g, "routes", &out), 0);
  ASSERT_TRUE(crater__buf_append(&out, "", 1) == 0);
  ASSERT_EQ_STR(out.data, "GET   /            (unit_app:2)\n"
                          "POST  /items/{id}  (unit_app:3)\n");
  ASSERT_EQ_INT(lua_gettop(g->L), 0);
  /* Appends; an unknown description is an error with its traceback. */
  out.len--;
  ASSERT_EQ_INT(crater__gen_describe(g, "nonsense", &out), CRATER_ELOAD);
  ASSERT_TRUE(strstr(crater_last_error(w.srv), "unknown description: nonsense") != NULL);
  ASSERT_TRUE(strstr(crater_last_error(w.srv), "stack traceback:") != NULL);
  ASSERT_EQ_INT(lua_gettop(g->L), 0);
  ASSERT_EQ_INT(crater__gen_describe(g, "openapi", &out), 0);
  ASSERT_TRUE(crater__buf_append(&out, "", 1) == 0);
  ASSERT_TRUE(strncmp(out.data, "GET ", 4) == 0); /* after the routes */
  ASSERT_TRUE(strstr(out.data, "  (unit_app:3)\n{\n  \"openapi\": \"3.1.0\"") != NULL);
  ASSERT_TRUE(strstr(out.data, "\"operationId\": \"postItemsById\"") != NULL);
  crater__buf_free(&out);
  ASSERT_EQ_INT(world_down(&w), 0);
}

typedef struct {
  char list[8192]; /* the paths, one a line */
  int count;
} file_list;

static void add_file(void *ud, const char *path) {
  file_list *fl = ud;
  size_t n = strlen(fl->list);
  snprintf(fl->list + n, sizeof(fl->list) - n, "%s\n", path);
  fl->count++;
}

/* 1 when path is one of the lines. */
static int listed(const file_list *fl, const char *path) {
  size_t n = strlen(path);
  for (const char *p = fl->list; (p = strstr(p, path)) != NULL; p++)
    if ((p == fl->list || p[-1] == '\n') && p[n] == '\n') return 1;
  return 0;
}

/* An app in dir/app requiring a module beside it and one in dir/lib, which
 * it adds to package.path itself. */
TEST(vm_module_files_lists_modules_from_other_directories) {
  char dir[] = "/tmp/crater-unit-vm-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir) != NULL);
  char app_dir[64], lib_dir[64], app[96], beside[96], lib[96], code[512];
  snprintf(app_dir, sizeof(app_dir), "%s/app", dir);
  snprintf(lib_dir, sizeof(lib_dir), "%s/lib", dir);
  snprintf(app, sizeof(app), "%s/app.lua", app_dir);
  snprintf(beside, sizeof(beside), "%s/unit_models.lua", app_dir);
  snprintf(lib, sizeof(lib), "%s/unit_lib.lua", lib_dir);
  snprintf(code, sizeof(code),
           "package.path = '%s/?.lua;' .. package.path\n"
           "local models, lib = require 'unit_models', require 'unit_lib'\n"
           "local app = require('crater').app()\n"
           "app:get('/', function() return models.name .. lib.name end)\n"
           "return app\n", lib_dir);
  ASSERT_EQ_INT(mkdir(app_dir, 0700), 0);
  ASSERT_EQ_INT(mkdir(lib_dir, 0700), 0);
  ASSERT_EQ_INT(spec_write_file(app, code), 0);
  ASSERT_EQ_INT(spec_write_file(beside, "return { name = 'models' }\n"), 0);
  ASSERT_EQ_INT(spec_write_file(lib, "return { name = 'lib' }\n"), 0);

  world w;
  ASSERT_EQ_INT(world_up(&w, 0), 0);
  int rc = build(w.srv, app, NULL, &w.g);
  if (rc != 0) fprintf(stderr, "  %s\n", crater_last_error(w.srv));
  ASSERT_EQ_INT(rc, 0);
  crater__gen *g = w.g;
  file_list fl = {"", 0};
  crater__gen_module_files(g, add_file, &fl);
  ASSERT_EQ_INT(lua_gettop(g->L), 0);
  ASSERT_TRUE(listed(&fl, beside));
  ASSERT_TRUE(listed(&fl, lib));
  char framework[1100];
  snprintf(framework, sizeof(framework), "%s/crater/app.lua", w.srv->lua_path);
  ASSERT_TRUE(listed(&fl, framework));
  /* Modules without a file (preloads, the standard library) are not. */
  ASSERT_TRUE(strstr(fl.list, "_json") == NULL);
  ASSERT_TRUE(strstr(fl.list, "string") == NULL);
  ASSERT_EQ_INT(world_down(&w), 0);
  unlink(app);
  unlink(beside);
  unlink(lib);
  rmdir(app_dir);
  rmdir(lib_dir);
  ASSERT_EQ_INT(rmdir(dir), 0);
}

/* pcall(code) with crater__gen_traceback as the message handler: the message. */
static const char *traceback_of(lua_State *L, const char *code, char *out, size_t cap) {
  lua_pushcfunction(L, crater__gen_traceback);
  out[0] = '\0';
  if (luaL_loadbuffer(L, code, strlen(code), "=tb") == 0 && lua_pcall(L, 0, 0, 1) == LUA_ERRRUN)
    snprintf(out, cap, "%s", lua_tostring(L, -1));
  lua_settop(L, 0);
  return out;
}

TEST(vm_traceback) {
  world w;
  ASSERT_EQ_INT(world_up(&w, 1), 0);
  crater__gen *g = w.g;
  char msg[2048];
  traceback_of(g->L, "local function inner() error('deep') end\n"
                     "local function outer() inner() end\n"
                     "outer()\n", msg, sizeof(msg));
  ASSERT_TRUE(strncmp(msg, "tb:1: deep\nstack traceback:\n", 28) == 0);
  ASSERT_TRUE(strstr(msg, "\n\ttb:1: in function") != NULL); /* inner */
  ASSERT_TRUE(strstr(msg, "\n\ttb:2: in function") != NULL); /* outer */
  ASSERT_TRUE(strstr(msg, "\n\ttb:3: in main chunk") != NULL);
  /* An error that is not a string still gets a message and a traceback. */
  traceback_of(g->L, "error({})", msg, sizeof(msg));
  ASSERT_TRUE(strncmp(msg, "(error object is not a string)\nstack traceback:\n", 48) == 0);
  ASSERT_EQ_INT(world_down(&w), 0);
}
