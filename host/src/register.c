/* register.c - C modules the embedder exposes to Lua.
 *
 * A registration is recorded on the server, not pushed into a Lua state,
 * because states come and go: every generation (first load, each reload) is
 * a fresh lua_State, and crater__registry_apply() installs the whole list
 * into package.preload of each one as it is created. Entries are allocated
 * one by one and live until crater_free(), so a preload closure may point
 * at its entry for as long as any state can call it. */
#include <string.h>

#include "register.h"

#include <lauxlib.h>

#include "alloc.h"
#include "log.h"
#include "server.h"

typedef struct {
  char *name;
  lua_CFunction open;   /* crater_register: the module's opener */
  luaL_Reg *fns;        /* crater_register_module: copied list, NULL-terminated */
  char *names;          /* storage for the copied function names */
  void *ctx;
} reg_entry;

struct crater__registry {
  reg_entry **items;
  int n, cap;
};

/* The registry key under which each state keeps its server: the address of
 * a constant, unique in the process and never written. */
static const char server_key = 0;

static int check_name(crater_server *srv, const char *name);
static reg_entry *new_entry(crater_server *srv, const char *name);
static int open_module(lua_State *L);

int crater_register(crater_server *srv, const char *name, lua_CFunction open) {
  if (srv == NULL) return CRATER_EINVAL;
  if (open == NULL) return crater__fail(srv, CRATER_EINVAL, "crater_register: no open function");
  if (check_name(srv, name) != 0) return CRATER_EINVAL;
  reg_entry *e = new_entry(srv, name);
  if (e == NULL) return crater__fail(srv, CRATER_ENOMEM, "out of memory");
  e->open = open;
  return 0;
}

int crater_register_module(crater_server *srv, const char *name, const luaL_Reg *fns, void *ctx) {
  if (srv == NULL) return CRATER_EINVAL;
  if (fns == NULL) return crater__fail(srv, CRATER_EINVAL, "crater_register_module: no function list");
  if (check_name(srv, name) != 0) return CRATER_EINVAL;
  size_t n = 0, text = 0;
  for (const luaL_Reg *f = fns; f->name != NULL; f++, n++) {
    if (f->func == NULL) {
      crater__set_error(srv, "crater_register_module: %s.%s has no function", name, f->name);
      return CRATER_EINVAL;
    }
    text += strlen(f->name) + 1;
  }
  luaL_Reg *copy = crater__calloc(n + 1, sizeof(*copy));
  char *names = crater__malloc(text ? text : 1);
  reg_entry *e = (copy && names) ? new_entry(srv, name) : NULL;
  if (e == NULL) {
    crater__free(copy);
    crater__free(names);
    return crater__fail(srv, CRATER_ENOMEM, "out of memory");
  }
  char *p = names;
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(fns[i].name) + 1;
    memcpy(p, fns[i].name, len);
    copy[i].name = p;
    copy[i].func = fns[i].func;
    p += len;
  }
  e->fns = copy;
  e->names = names;
  e->ctx = ctx;
  return 0;
}

void *crater_lua_context(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }

crater_server *crater_lua_server(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&server_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  crater_server *srv = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return srv;
}

void crater__registry_apply(crater_server *srv, lua_State *L) {
  lua_pushlightuserdata(L, (void *)&server_key);
  lua_pushlightuserdata(L, srv);
  lua_rawset(L, LUA_REGISTRYINDEX);
  struct crater__registry *r = srv->registry;
  if (r == NULL) return;
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  /* Later registrations of a name replace earlier ones: apply in order. */
  for (int i = 0; i < r->n; i++) {
    reg_entry *e = r->items[i];
    if (e->open != NULL) {
      lua_pushcfunction(L, e->open);
    } else {
      lua_pushlightuserdata(L, e);
      lua_pushcclosure(L, open_module, 1);
    }
    lua_setfield(L, -2, e->name);
  }
  lua_pop(L, 2);
}

void crater__registry_free(crater_server *srv) {
  struct crater__registry *r = srv->registry;
  if (r == NULL) return;
  for (int i = 0; i < r->n; i++) {
    crater__free(r->items[i]->name);
    crater__free(r->items[i]->fns);
    crater__free(r->items[i]->names);
    crater__free(r->items[i]);
  }
  crater__free(r->items);
  crater__free(r);
  srv->registry = NULL;
}

/* package.preload loader of a crater_register_module() module: a fresh
 * table per state, each function closing over the embedder's ctx. */
static int open_module(lua_State *L) {
  const reg_entry *e = lua_touserdata(L, lua_upvalueindex(1));
  lua_newtable(L);
  for (const luaL_Reg *f = e->fns; f->name != NULL; f++) {
    lua_pushlightuserdata(L, e->ctx);
    lua_pushcclosure(L, f->func, 1);
    lua_setfield(L, -2, f->name);
  }
  return 1;
}

static int check_name(crater_server *srv, const char *name) {
  if (name == NULL || name[0] == '\0') {
    crater__set_error(srv, "a module name must not be empty");
    return -1;
  }
  if (strcmp(name, "crater") == 0 || strncmp(name, "crater.", 7) == 0) {
    crater__set_error(srv, "module name %s is reserved for the framework", name);
    return -1;
  }
  return 0;
}

static reg_entry *new_entry(crater_server *srv, const char *name) {
  struct crater__registry *r = srv->registry;
  if (r == NULL) {
    r = crater__calloc(1, sizeof(*r));
    if (r == NULL) return NULL;
    srv->registry = r;
  }
  if (r->n == r->cap) {
    int cap = r->cap ? r->cap * 2 : 8;
    reg_entry **items = crater__realloc(r->items, sizeof(*items) * (size_t)cap);
    if (items == NULL) return NULL;
    r->items = items;
    r->cap = cap;
  }
  reg_entry *e = crater__calloc(1, sizeof(*e));
  if (e == NULL) return NULL;
  e->name = crater__strdup(name);
  if (e->name == NULL) {
    crater__free(e);
    return NULL;
  }
  r->items[r->n++] = e;
  return e;
}
