/* vm.c - generations (see vm.h): a lua_State per loaded app, its pool of
 * request coroutines, and its count of requests in flight. */
#include "vm.h"

#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "alloc.h"
#include "log.h"
#include "server.h"
#include "watchdog.h"

static int set_package_path(lua_State *L, const char *lua_dir, const char *app_path);
static int load_chunk(lua_State *L, const char *name, const char *code, size_t len);
static int failed(crater__gen *g, int base);
static int pcall_armed(crater__gen *g, int nargs, int nresults, int errfunc);

#define MAX_IDLE_THREADS 256

/* GC pacing. Lua starts a collection when the heap doubles (pause 200); a
 * small app's heap is small (the bench app's is 350 KiB), so it would mark
 * its whole heap every few hundred requests. A sentinel userdata, finalized
 * once per cycle, sets the next cycle to start after GC_HEADROOM_KB more
 * (never sooner than the doubling, never later than 10x): a few MiB at most
 * for a small app, Lua's own pacing for a big one. */
#define GC_HEADROOM_KB 1024
static void gc_sentinel_arm(lua_State *L, crater__gen *g);

static int gc_sentinel_gc(lua_State *L) {
  crater__gen *g = lua_touserdata(L, lua_upvalueindex(1));
  if (g->closing) return 0; /* lua_close runs finalizers: do not re-arm */
  int kb = lua_gc(L, LUA_GCCOUNT, 0);
  int pause = kb > 0 ? (int)(((long long)kb + GC_HEADROOM_KB) * 100 / kb) : 1000;
  if (pause < 200) pause = 200;
  if (pause > 1000) pause = 1000;
  /* Under a ceiling, the next cycle starts before it: garbage must not be
   * what makes an allocation fail. */
  size_t limit_kb = g->mem.limit / 1024;
  if (limit_kb > 0 && kb > 0 && (size_t)kb * (size_t)pause / 100 > limit_kb / 8 * 7) {
    pause = (int)(limit_kb / 8 * 7 * 100 / (size_t)kb);
    if (pause < 110) pause = 110;
  }
  lua_gc(L, LUA_GCSETPAUSE, pause);
  gc_sentinel_arm(L, g);
  return 0;
}

static void gc_sentinel_arm(lua_State *L, crater__gen *g) {
  lua_newuserdata(L, 1);
  lua_createtable(L, 0, 1);
  lua_pushlightuserdata(L, g);
  lua_pushcclosure(L, gc_sentinel_gc, 1);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
}

/* See crater__gen_known_type: each string stays in the registry, so its
 * address is its content's for the life of the state. */
static void intern_known_types(crater__gen *g) {
  static const char *const types[CRATER__GEN_KNOWN_TYPES] = {
      "text/plain; charset=utf-8", "application/json", "application/problem+json"};
  for (int i = 0; i < CRATER__GEN_KNOWN_TYPES; i++) {
    lua_pushstring(g->L, types[i]);
    g->known_types[i] = lua_tostring(g->L, -1);
    luaL_ref(g->L, LUA_REGISTRYINDEX);
  }
}

int crater__gen_new(crater_server *srv, const char *name, int from_string, crater__gen **out) {
  crater__gen *g = crater__calloc(1, sizeof(*g));
  if (g == NULL) goto failed_alloc;
  g->srv = srv;
  g->dispatch_ref = LUA_NOREF;
  g->app_ref = LUA_NOREF;
  g->from_string = from_string;
  g->app_path = crater__strdup(name);
  if (g->app_path == NULL) goto failed_path;
  g->L = luaL_newstate();
  if (g->L == NULL) goto failed_state;
  if (srv->cfg.max_memory_bytes > 0)
    crater__vm_mem_install(g->L, &g->mem, srv->cfg.max_memory_bytes, &srv->lua_armed);
  luaL_openlibs(g->L);
  gc_sentinel_arm(g->L, g);
  intern_known_types(g);
  crater__watchdog_bind(srv, g->L);
  if (set_package_path(g->L, srv->lua_path, from_string ? "." : name) != 0) {
    crater__gen_close(g);
    return crater__fail(srv, CRATER_EINVAL, "app path too long: %s", name);
  }
  *out = g;
  return 0;

failed_state:
  crater__free(g->app_path);
failed_path:
  crater__free(g);
failed_alloc:
  return crater__fail(srv, CRATER_ENOMEM, "out of memory");
}

/* os.exit in an app would end the whole server (every request in flight,
 * every worker's siblings' share of the load): an app's is an error. */
static int no_exit(lua_State *L) {
  return luaL_error(L, "os.exit is not available to an app: it would end the whole server "
                       "(raise an error or return an error status instead)");
}

/* Loading runs under the memory ceiling too: lua_pcall is protected, so
 * an allocation in it may fail (vm_mem.c). */
static int pcall_armed(crater__gen *g, int nargs, int nresults, int errfunc) {
  g->srv->lua_armed++;
  int rc = lua_pcall(g->L, nargs, nresults, errfunc);
  g->srv->lua_armed--;
  return rc;
}

int crater__gen_run(crater__gen *g, const char *code, size_t len) {
  lua_State *L = g->L;
  int base = lua_gettop(L);
  lua_getglobal(L, "os");
  if (lua_istable(L, -1)) {
    lua_pushcfunction(L, no_exit);
    lua_setfield(L, -2, "exit");
  }
  lua_settop(L, base);
  lua_pushcfunction(L, crater__gen_traceback);
  /* Run the chunk, then hand its result to crater.app's entry(), which
   * checks it is an app and returns the dispatcher. */
  if ((code ? load_chunk(L, g->app_path, code, len) : luaL_loadfile(L, g->app_path)) != 0)
    return failed(g, base);
  if (pcall_armed(g, 0, 1, base + 1) != 0) return failed(g, base);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "crater.app");
  if (pcall_armed(g, 1, 1, base + 1) != 0) return failed(g, base);
  lua_getfield(L, -1, "entry");
  lua_pushvalue(L, base + 2);
  lua_pushstring(L, g->app_path);
  if (pcall_armed(g, 2, 1, base + 1) != 0) return failed(g, base);
  g->dispatch_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, base + 2);
  g->app_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, base);
  g->id = ++g->srv->gen_count;
  return 0;
}

int crater__gen_run_specs(crater__gen *g) {
  lua_State *L = g->L;
  int base = lua_gettop(L);
  lua_pushcfunction(L, crater__gen_traceback);
  /* crater.spec_runner decides how (busted when installed, else a plain
   * script) and raises when a test fails. */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "crater.spec_runner");
  if (lua_pcall(L, 1, 1, base + 1) != 0) return failed(g, base);
  lua_getfield(L, -1, "run");
  lua_pushstring(L, g->app_path);
  if (lua_pcall(L, 1, 2, base + 1) != 0) return failed(g, base);
  if (!lua_toboolean(L, -2)) { /* failed tests, already reported: no traceback */
    crater__set_error(g->srv, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "tests failed");
    lua_settop(L, base);
    return CRATER_ELOAD;
  }
  lua_settop(L, base);
  return 0;
}

/* The message of the error on top of the stack (a traceback: see
 * crater__gen_traceback) becomes last_error. */
static int failed(crater__gen *g, int base) {
  const char *msg = lua_tostring(g->L, -1);
  crater__set_error(g->srv, "%s", msg ? msg : "(error object is not a string)");
  lua_settop(g->L, base);
  return CRATER_ELOAD;
}

void crater__gen_close(crater__gen *g) {
  if (g == NULL) return;
  g->closing = 1;
  if (g->L != NULL) {
    crater__vm_mem_uninstall(g->L, &g->mem);
    lua_close(g->L);
  }
  crater__free(g->idle);
  crater__free(g->app_path);
  crater__free(g);
}

void crater__gen_module_files(crater__gen *g, void (*fn)(void *ud, const char *path), void *ud) {
  lua_State *L = g->L;
  int top = lua_gettop(L);
  lua_getglobal(L, "package");
  if (!lua_istable(L, -1)) goto done;
  lua_getfield(L, -1, "searchpath");
  lua_getfield(L, -2, "path");
  lua_getfield(L, -3, "loaded");
  if (!lua_isfunction(L, -3) || !lua_isstring(L, -2) || !lua_istable(L, -1)) goto done;
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      lua_pushvalue(L, -4); /* searchpath */
      lua_pushvalue(L, -2); /* the module's name */
      lua_pushvalue(L, -5); /* package.path */
      if (lua_pcall(L, 2, 1, 0) == 0 && lua_type(L, -1) == LUA_TSTRING) fn(ud, lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  }
done:
  lua_settop(L, top);
}

void crater__gen_ref(crater__gen *g) { g->refs++; }

int crater__gen_unref(crater__gen *g) { return --g->refs; }

/* A coroutine that returned normally can be resumed again with a new
 * function (LuaJIT allows it through the C API), which saves creating a
 * thread per request. */
int crater__gen_thread(crater__gen *g, lua_State **T, int *ref) {
  lua_State *L = g->L;
  if (g->spare != NULL) {
    *T = g->spare;
    *ref = g->spare_ref;
    g->spare = NULL;
    return 0;
  }
  if (g->nidle > 0) {
    *ref = g->idle[--g->nidle];
    lua_rawgeti(L, LUA_REGISTRYINDEX, *ref);
    *T = lua_tothread(L, -1);
    lua_pop(L, 1);
    return 0;
  }
  *T = lua_newthread(L);
  if (*T == NULL) return -1;
  *ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

void crater__gen_thread_done(crater__gen *g, lua_State *T, int ref) {
  lua_settop(T, 0);
  if (g->spare == NULL) {
    g->spare = T;
    g->spare_ref = ref;
    return;
  }
  if (g->nidle == g->capidle) {
    int cap = g->capidle ? g->capidle * 2 : 16;
    int *p = cap <= MAX_IDLE_THREADS ? crater__realloc(g->idle, sizeof(int) * (size_t)cap) : NULL;
    if (p == NULL) {
      luaL_unref(g->L, LUA_REGISTRYINDEX, ref);
      return;
    }
    g->idle = p;
    g->capidle = cap;
  }
  g->idle[g->nidle++] = ref;
}

void crater__gen_thread_drop(crater__gen *g, int ref) {
  /* A dead or suspended coroutine can't be reused: the GC takes it. */
  luaL_unref(g->L, LUA_REGISTRYINDEX, ref);
}

/* A string app's chunk name: "=name" makes messages read "name:3: ...". */
static int load_chunk(lua_State *L, const char *name, const char *code, size_t len) {
  if (name[0] == '=' || name[0] == '@') return luaL_loadbuffer(L, code, len, name);
  lua_pushfstring(L, "=%s", name);
  int rc = luaL_loadbuffer(L, code, len, lua_tostring(L, -1));
  lua_remove(L, -2);
  return rc;
}

void crater__gen_after_oom(crater__gen *g) {
  crater__vm_mem *m = &g->mem;
  size_t before = m->used;
  int full = crater__vm_mem_recover(g->L, m);
  crater__log(g->srv, full ? CRATER_LOG_ERROR : CRATER_LOG_WARN,
              "generation %llu ran out of memory (--max-memory %zu MiB): %zu MiB before a full "
              "collection, %zu MiB after%s",
              (unsigned long long)g->id, m->limit >> 20, before >> 20, m->used >> 20,
              full ? "; what it holds is live: a fresh generation will serve" : "");
  if (full) g->mem_exhausted = 1;
}

int crater__gen_traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  /* An error object that can say what it is (a database error) says it. */
  if (msg == NULL && luaL_callmeta(L, 1, "__tostring")) msg = lua_tostring(L, -1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

static int error_tostring(lua_State *L) {
  lua_State *T = lua_touserdata(L, 1);
  lua_pushvalue(T, -1);
  lua_xmove(T, L, 1);
  if (luaL_callmeta(L, -1, "__tostring") && lua_isstring(L, -1)) {
    lua_xmove(L, T, 1);
    lua_replace(T, -2);
  }
  return 0;
}

void crater__gen_error_tostring(crater__gen *g, lua_State *T) {
  int t = lua_gettop(T) > 0 ? lua_type(T, -1) : LUA_TNIL;
  if (t != LUA_TTABLE && t != LUA_TUSERDATA) return;
  /* Protected: the metamethod may fail, or memory run out (then the value
   * stays as it is). */
  if (lua_cpcall(g->L, error_tostring, T) != 0) lua_pop(g->L, 1);
}

/* package.path: the framework first, so `crater.*` always resolves to ours
 * and not to a stray file beside the app, then the app's own directory (so
 * `require "models"` finds app/models.lua), then Lua's defaults. */
static int set_package_path(lua_State *L, const char *lua_dir, const char *app_path) {
  char dir[1024];
  const char *slash = strrchr(app_path, '/');
  size_t n = slash ? (size_t)(slash - app_path) : 1;
  if (n >= sizeof(dir)) return -1;
  if (slash) memcpy(dir, app_path, n); else dir[0] = '.';
  dir[n] = '\0';
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s/?.lua;%s/?/init.lua;", lua_dir, lua_dir, dir, dir);
  lua_getfield(L, -2, "path");
  lua_concat(L, 2);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  return 0;
}

int crater__gen_describe(crater__gen *g, const char *what, crater__buf *out) {
  lua_State *L = g->L;
  lua_pushcfunction(L, crater__gen_traceback);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "crater.app");
  if (lua_pcall(L, 1, 1, 1) != 0) goto failed;
  lua_getfield(L, -1, "describe");
  lua_rawgeti(L, LUA_REGISTRYINDEX, g->app_ref);
  lua_pushstring(L, what);
  lua_pushstring(L, g->app_path);
  if (lua_pcall(L, 3, 1, 1) != 0) goto failed;
  size_t n;
  const char *s = lua_tolstring(L, -1, &n);
  if (s != NULL) crater__buf_append(out, s, n);
  lua_settop(L, 0);
  return 0;
failed:
  crater__set_error(g->srv, "%s", lua_tostring(L, -1));
  lua_settop(L, 0);
  return CRATER_ELOAD;
}
