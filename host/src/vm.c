/* vm.c - generations: create a lua_State, load the app, call its dispatcher
 * inside a coroutine, and close the state when its last request is done. */
#include "vm.h"

#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "alloc.h"
#include "json.h"
#include "reload.h"

static int set_package_path(lua_State *L, const char *lua_dir, const char *app_path);
static int traceback(lua_State *L);
static int load_chunk(lua_State *L, const char *name, const char *code, size_t len);
static int get_thread(crater__gen *g, lua_State **T, int *ref);
static int load_gen(crater_server *srv, const char *path, const char *code, size_t len, int script,
                    crater__gen **out);

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
  if (g->refs <= 0) return 0; /* lua_close runs finalizers: do not re-arm */
  int kb = lua_gc(L, LUA_GCCOUNT, 0);
  int pause = kb > 0 ? (int)(((long long)kb + GC_HEADROOM_KB) * 100 / kb) : 1000;
  if (pause < 200) pause = 200;
  if (pause > 1000) pause = 1000;
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

int crater__gen_load(crater_server *srv, const char *path, crater__gen **out) {
  return load_gen(srv, path, NULL, 0, 0, out);
}

int crater__gen_load_string(crater_server *srv, const char *name, const char *code, size_t len,
                            crater__gen **out) {
  return load_gen(srv, name, code, len, 0, out);
}

int crater__gen_run_script(crater_server *srv, const char *path) {
  crater__gen *g;
  int rc = load_gen(srv, path, NULL, 0, 1, &g);
  if (rc == 0) crater__gen_unref(g);
  return rc;
}

/* path names the app: the file read when code is NULL, else the chunk name.
 * A script (`crater test`) runs like an app but need not return one. */
static int load_gen(crater_server *srv, const char *path, const char *code, size_t len, int script,
                    crater__gen **out) {
  crater__gen *g = crater__calloc(1, sizeof(*g));
  if (g == NULL) return CRATER_ENOMEM;
  g->srv = srv;
  g->refs = 1;
  g->dispatch_ref = LUA_NOREF;
  g->app_path = crater__strdup(path);
  g->from_string = code != NULL;
  g->L = luaL_newstate();
  if (g->L == NULL || g->app_path == NULL) goto failed_alloc;
  lua_State *L = g->L;
  luaL_openlibs(L);
  gc_sentinel_arm(L, g);

  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, crater__json_open);
  lua_setfield(L, -2, "crater._json");
  lua_pushlightuserdata(L, g);
  lua_pushcclosure(L, crater__binding_open, 1);
  lua_setfield(L, -2, "crater.host");
  lua_pop(L, 2);
  crater__registry_apply(srv, L); /* the embedder's C modules, in every new state */
  if (set_package_path(L, srv->lua_path, code ? "." : path) != 0) goto failed_alloc;

  /* Load the file, run it, and hand its result to crater.app's entry(),
   * which checks it is an app and returns the dispatcher. */
  lua_pushcfunction(L, traceback);
  if (script) {
    /* crater.spec_runner decides how (busted when installed, else a plain
     * script) and raises when a test fails. */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "crater.spec_runner");
    if (lua_pcall(L, 1, 1, 1) != 0) {
      crater__set_error(srv, "%s", lua_tostring(L, -1));
      goto failed_lua;
    }
    lua_getfield(L, -1, "run");
    lua_pushstring(L, path);
    if (lua_pcall(L, 1, 2, 1) != 0) {
      crater__set_error(srv, "%s", lua_tostring(L, -1));
      goto failed_lua;
    }
    if (!lua_toboolean(L, -2)) { /* failed tests, already reported: no traceback */
      crater__set_error(srv, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "tests failed");
      goto failed_lua;
    }
    lua_settop(L, 0);
    *out = g;
    return 0;
  }
  if ((code ? load_chunk(L, path, code, len) : luaL_loadfile(L, path)) != 0) {
    crater__set_error(srv, "%s", lua_tostring(L, -1));
    goto failed_lua;
  }
  if (lua_pcall(L, 0, 1, 1) != 0) {
    crater__set_error(srv, "%s", lua_tostring(L, -1));
    goto failed_lua;
  }
  lua_getglobal(L, "require");
  lua_pushliteral(L, "crater.app");
  if (lua_pcall(L, 1, 1, 1) != 0) {
    crater__set_error(srv, "%s", lua_tostring(L, -1));
    goto failed_lua;
  }
  lua_getfield(L, -1, "entry");
  lua_pushvalue(L, -3);
  lua_pushstring(L, path);
  if (lua_pcall(L, 2, 1, 1) != 0) {
    crater__set_error(srv, "%s", lua_tostring(L, -1));
    goto failed_lua;
  }
  g->dispatch_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 2);
  g->app_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 0);
  g->id = ++srv->gen_count;
  *out = g;
  return 0;

failed_lua:
  g->refs = 0; /* so the GC sentinel's finalizer does not re-arm in lua_close */
  lua_close(g->L);
  crater__free(g->idle); /* the chunk may have run requests (crater.test) */
  crater__free(g->app_path);
  crater__free(g);
  return CRATER_ELOAD;
failed_alloc:
  g->refs = 0;
  if (g->L != NULL) lua_close(g->L);
  crater__free(g->app_path);
  crater__free(g);
  crater__set_error(srv, "out of memory");
  return CRATER_ENOMEM;
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

void crater__gen_unref(crater__gen *g) {
  if (--g->refs > 0) return;
  crater__reload_stop(g); /* the app's on_stop hooks, if it ever served */
  lua_close(g->L);
  crater__free(g->idle);
  crater__free(g->app_path);
  crater__free(g);
}

int crater__gen_call(crater__gen *g, const crater__reqinfo *ri, crater__response *res) {
  return crater__gen_call_ref(g, g->dispatch_ref, ri, res);
}

int crater__gen_call_ref(crater__gen *g, int fn_ref, const crater__reqinfo *ri, crater__response *res) {
  lua_State *T;
  int ref;
  if (get_thread(g, &T, &ref) != 0) return CRATER_ENOMEM;
  lua_rawgeti(T, LUA_REGISTRYINDEX, fn_ref);
  lua_pushstring(T, ri->method);
  lua_pushlstring(T, ri->path, ri->path_len);
  lua_pushlstring(T, ri->query, ri->query_len);
  lua_pushlightuserdata(T, ri->conn);
  lua_pushnumber(T, (lua_Number)ri->seq);
  int st = lua_resume(T, 5);
  res->T = T;
  res->thread_ref = ref;
  res->streaming = 0;
  if (st == LUA_YIELD && lua_gettop(T) >= 4 && lua_isnumber(T, 1) && lua_isboolean(T, 2)) {
    /* yield(status, false, content_type, headers) starts a streamed body. */
    res->status = (int)lua_tointeger(T, 1);
    res->body = NULL;
    res->body_len = 0;
    res->ctype = lua_tolstring(T, 3, &res->ctype_len);
    res->nheaders = lua_istable(T, 4) ? (int)lua_objlen(T, 4) / 2 : 0;
    res->streaming = 1;
    if (res->status < 100 || res->status > 999) res->status = 500;
    return 0;
  }
  if (st == 0) {
    res->status = (int)lua_tointeger(T, 1);
    res->body = lua_tolstring(T, 2, &res->body_len);
    res->ctype = lua_tolstring(T, 3, &res->ctype_len);
    res->nheaders = lua_istable(T, 4) ? (int)lua_objlen(T, 4) / 2 : 0;
    if (res->status < 100 || res->status > 999) res->status = 500;
    if (res->body == NULL) res->body_len = 0;
    return 0;
  }
  /* The dispatcher catches handler errors itself, so reaching here means the
   * framework failed (or a handler yielded, which nothing supports yet). */
  const char *msg = st == LUA_YIELD ? "handler yielded outside a supported operation"
                                    : lua_tostring(T, -1);
  luaL_traceback(g->L, T, msg ? msg : "(error object is not a string)", 0);
  crater__log(g->srv, CRATER_LOG_ERROR, "dispatcher failed: %s", lua_tostring(g->L, -1));
  lua_pop(g->L, 1);
  luaL_unref(g->L, LUA_REGISTRYINDEX, ref); /* a dead or suspended coroutine can't be reused */
  res->T = NULL;
  return CRATER_EHANDLER;
}

int crater__gen_resume(crater__gen *g, crater__response *res, const char **chunk, size_t *len) {
  lua_State *T = res->T;
  lua_settop(T, 0);
  int st = lua_resume(T, 0);
  if (st == LUA_YIELD) {
    *chunk = lua_tolstring(T, 1, len);
    if (*chunk == NULL) {
      *chunk = "";
      *len = 0;
    }
    return 1;
  }
  if (st == 0) {
    /* The dispatcher returns -1 when the stream failed after the head was sent. */
    int failed = lua_gettop(T) >= 1 && lua_tonumber(T, 1) == -1;
    crater__gen_done(g, res);
    return failed ? -1 : 0;
  }
  const char *msg = lua_tostring(T, -1);
  luaL_traceback(g->L, T, msg ? msg : "(error object is not a string)", 0);
  crater__log(g->srv, CRATER_LOG_ERROR, "stream failed: %s", lua_tostring(g->L, -1));
  lua_pop(g->L, 1);
  crater__gen_abandon(g, res);
  return -1;
}

void crater__gen_abandon(crater__gen *g, crater__response *res) {
  if (res->T == NULL) return;
  luaL_unref(g->L, LUA_REGISTRYINDEX, res->thread_ref);
  res->T = NULL;
}

void crater__gen_header(const crater__response *res, int i, const char **name, size_t *nlen,
                        const char **value, size_t *vlen) {
  lua_State *T = res->T;
  lua_rawgeti(T, 4, 2 * i + 1);
  lua_rawgeti(T, 4, 2 * i + 2);
  /* The table at index 4 keeps both strings alive after the pop. */
  *name = lua_tolstring(T, -2, nlen);
  *value = lua_tolstring(T, -1, vlen);
  if (*name == NULL) *nlen = 0;
  if (*value == NULL) *vlen = 0;
  lua_pop(T, 2);
}

void crater__gen_done(crater__gen *g, crater__response *res) {
  if (res->T == NULL) return;
  lua_settop(res->T, 0);
  if (g->spare == NULL) {
    g->spare = res->T;
    g->spare_ref = res->thread_ref;
    res->T = NULL;
    return;
  }
  if (g->nidle == g->capidle) {
    int cap = g->capidle ? g->capidle * 2 : 16;
    int *p = cap <= MAX_IDLE_THREADS ? crater__realloc(g->idle, sizeof(int) * (size_t)cap) : NULL;
    if (p == NULL) {
      luaL_unref(g->L, LUA_REGISTRYINDEX, res->thread_ref);
      res->T = NULL;
      return;
    }
    g->idle = p;
    g->capidle = cap;
  }
  g->idle[g->nidle++] = res->thread_ref;
  res->T = NULL;
}

/* A coroutine that returned normally can be resumed again with a new
 * function (LuaJIT allows it through the C API), which saves creating a
 * thread per request. */
static int get_thread(crater__gen *g, lua_State **T, int *ref) {
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

/* A string app's chunk name: "=name" makes messages read "name:3: ...". */
static int load_chunk(lua_State *L, const char *name, const char *code, size_t len) {
  if (name[0] == '=' || name[0] == '@') return luaL_loadbuffer(L, code, len, name);
  lua_pushfstring(L, "=%s", name);
  int rc = luaL_loadbuffer(L, code, len, lua_tostring(L, -1));
  lua_remove(L, -2);
  return rc;
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
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
  lua_pushcfunction(L, traceback);
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
