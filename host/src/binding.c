/* binding.c - the `crater.host` Lua module: what Lua may ask the C core
 * about the request being handled, plus logging.
 *
 * Lua holds a request as (request, seq): a light userdata and the number
 * the request had when it started. Request memory is pooled until the
 * server is freed, so a stale pair is always safe to check, and a check
 * that fails raises "request is no longer active" instead of reading
 * another request (see request.h). */
#include "binding.h"

#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#include "compress.h"
#include "http.h"
#include "httpc.h"
#include "inject.h"
#include "log.h"
#include "pipeline.h"
#include "request.h"
#include "server.h"
#include "task.h"
#include "notify.h"
#include "sleep.h"
#include "timer.h"
#include "upload.h"
#include "vm.h"
#include "watchdog.h"
#include "ws.h"

static crater__request *check_request(lua_State *L) {
  crater__request *r = lua_touserdata(L, 1);
  uint64_t seq = (uint64_t)luaL_checknumber(L, 2);
  if (!crater__request_valid(r, seq)) luaL_error(L, "request is no longer active");
  return r;
}

/* header(conn, seq, name [, sep]) -> value | nil; name compared
 * case-insensitively. Repeated fields are joined with ", " (RFC 9110 5.3),
 * or with sep: Cookie fields are joined with "; " (RFC 9113 8.2.3). */
static int host_header(lua_State *L) {
  crater__request *c = check_request(L);
  size_t want_len, sep_len;
  const char *want = luaL_checklstring(L, 3, &want_len);
  const char *sep = luaL_optlstring(L, 4, ", ", &sep_len);
  int n = c->nfields, found = 0;
  luaL_Buffer b;
  const char *first = NULL;
  size_t first_len = 0;
  for (int i = 0; i < n; i++) {
    const char *name, *value;
    size_t nlen, vlen;
    crater__request_field(c, i, &name, &nlen, &value, &vlen);
    if (nlen != want_len || !crater__http_name_eq(name, want, nlen)) continue;
    /* Nearly always one field: pushed as it is, no buffer. */
    if (found == 0) {
      first = value;
      first_len = vlen;
    } else {
      if (found == 1) {
        luaL_buffinit(L, &b);
        luaL_addlstring(&b, first, first_len);
      }
      luaL_addlstring(&b, sep, sep_len);
      luaL_addlstring(&b, value, vlen);
    }
    found++;
  }
  if (found == 0) return 0;
  if (found == 1) lua_pushlstring(L, first, first_len);
  else luaL_pushresult(&b);
  return 1;
}

/* headers(conn, seq) -> { name1, value1, name2, value2, ... } as received. */
static int host_headers(lua_State *L) {
  crater__request *c = check_request(L);
  int n = c->nfields;
  lua_createtable(L, n * 2, 0);
  for (int i = 0; i < n; i++) {
    const char *name, *value;
    size_t nlen, vlen;
    crater__request_field(c, i, &name, &nlen, &value, &vlen);
    lua_pushlstring(L, name, nlen);
    lua_rawseti(L, -2, 2 * i + 1);
    lua_pushlstring(L, value, vlen);
    lua_rawseti(L, -2, 2 * i + 2);
  }
  return 1;
}

static int host_body(lua_State *L) {
  crater__request *c = check_request(L);
  size_t len;
  const char *body = crater__request_body_data(c, &len);
  lua_pushlstring(L, body, len);
  return 1;
}

/* multipart(request, seq) -> fields, files (upload.h); nil: the body is
 * not multipart/form-data; nil, why: it is, without a boundary to parse it. */
static int host_multipart(lua_State *L) {
  crater__request *c = check_request(L);
  if (c->upload == NULL) {
    if (c->upload_why == NULL) return 0;
    lua_pushnil(L);
    lua_pushstring(L, c->upload_why);
    return 2;
  }
  crater__upload_push(L, c->upload);
  return 2;
}

/* deadline(request, seq, ms): the route's deadline (pipeline.c). */
static int host_deadline(lua_State *L) {
  crater__request *c = check_request(L);
  lua_Number ms = luaL_checknumber(L, 3);
  if (!(ms >= 1) || ms > 1e12) return luaL_argerror(L, 3, "ms must be a number from 1 to 1e12");
  if (crater__pipeline_deadline(c, (uint64_t)ms) != 0) return luaL_error(L, "out of memory");
  return 0;
}

static int host_remote(lua_State *L) {
  crater__request *c = check_request(L);
  lua_pushstring(L, c->peer);
  return 1;
}

/* inject(dispatch|nil, method, url, headers, body)
 *   -> status, body, { name1, value1, ... }, truncated
 * crater.test's client: a request through the pipeline, now (see
 * crater__inject_run). */
static int host_inject(lua_State *L) {
  crater__gen *g = lua_touserdata(L, lua_upvalueindex(1));
  crater_server *srv = g->srv;
  int has_fn = lua_isfunction(L, 1);
  if (!has_fn && !lua_isnil(L, 1)) luaL_argerror(L, 1, "a dispatcher function or nil");
  crater_request req = {0};
  req.method = luaL_checkstring(L, 2);
  req.url = luaL_checklstring(L, 3, &req.url_len);
  req.body = luaL_optlstring(L, 5, "", &req.body_len);
  int nflat = lua_istable(L, 4) ? (int)lua_objlen(L, 4) : 0;
  if (nflat / 2 > CRATER__MAX_FIELDS) return luaL_error(L, "too many request headers");
  crater_header hs[CRATER__MAX_FIELDS];
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
  int rc = crater__inject_run(srv, has_fn ? g : NULL, ref, &req, &res);
  if (ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, ref);
  if (rc == CRATER_EINVAL) return luaL_error(L, "invalid request: %s", srv->last_error);
  if (rc != 0) return luaL_error(L, "inject failed: %s", srv->last_error);
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

static crater__gen *gen_of(lua_State *L) {
  return lua_touserdata(L, lua_upvalueindex(1));
}

/* log(level, message): level is "error", "warn", "info" or "debug". */
static int host_log(lua_State *L) {
  crater__gen *g = gen_of(L);
  const char *level = luaL_checkstring(L, 1);
  const char *msg = luaL_checkstring(L, 2);
  crater_log_level lv = CRATER_LOG_INFO;
  if (strcmp(level, "error") == 0) lv = CRATER_LOG_ERROR;
  else if (strcmp(level, "warn") == 0) lv = CRATER_LOG_WARN;
  else if (strcmp(level, "debug") == 0) lv = CRATER_LOG_DEBUG;
  crater__log(g->srv, lv, "%s", msg);
  return 0;
}

/* out_of_memory(): the app's Lua got "not enough memory" (errors.lua).
 * When the system refused, not the VM's ceiling, vm_mem.c could not tell:
 * the collection after the request is asked for here. */
static int host_out_of_memory(lua_State *L) {
  gen_of(L)->mem.hit = 1;
  return 0;
}

int crater__binding_open(lua_State *L) {
  crater__gen *g = lua_touserdata(L, lua_upvalueindex(1));
  static const luaL_Reg fns[] = {
    {"header", host_header},   {"headers", host_headers}, {"body", host_body},
    {"remote", host_remote},   {"deadline", host_deadline}, {"multipart", host_multipart},
    {"compress_policy", crater__compress_policy_new},
    {NULL, NULL},
  };
  lua_createtable(L, 0, 8);
  for (const luaL_Reg *f = fns; f->name; f++) {
    lua_pushcfunction(L, f->func);
    lua_setfield(L, -2, f->name);
  }
  lua_pushlightuserdata(L, g);
  lua_pushcclosure(L, host_log, 1);
  lua_setfield(L, -2, "log");
  lua_pushlightuserdata(L, g);
  lua_pushcclosure(L, host_inject, 1);
  lua_setfield(L, -2, "inject");
  lua_pushlightuserdata(L, g);
  lua_pushcclosure(L, host_out_of_memory, 1);
  lua_setfield(L, -2, "out_of_memory");
  lua_pushboolean(L, g->srv->cfg.dev);
  lua_setfield(L, -2, "dev");
  /* Waiting (task.c, sleep.c): closures over the server. */
  static const luaL_Reg async_fns[] = {
    {"sleep", crater__sleep}, {"now", crater__sleep_now},   {"spawn", crater__task_spawn},
    {"join", crater__task_join},    {"kill", crater__task_kill},  {"in_task", crater__task_in_task},
    {"waitable", crater__notify_new}, /* notify.c */
    {NULL, NULL},
  };
  for (const luaL_Reg *f = async_fns; f->name; f++) {
    lua_pushlightuserdata(L, g->srv);
    lua_pushcclosure(L, f->func, 1);
    lua_setfield(L, -2, f->name);
  }
  /* Background timers (timer.c): closures over the generation. */
  lua_pushlightuserdata(L, g);
  lua_pushcclosure(L, crater__timer_at, 1);
  lua_setfield(L, -2, "timer_at");
  lua_pushlightuserdata(L, g);
  lua_pushcclosure(L, crater__timer_every, 1);
  lua_setfield(L, -2, "timer_every");
  lua_pushcfunction(L, crater__httpc_parser);
  lua_setfield(L, -2, "http_parser");
  /* Where the dispatcher notes the route it runs, for the watchdog. */
  lua_createtable(L, 3, 0);
  crater__watchdog_track(g, L);
  lua_setfield(L, -2, "running");
  crater__ws_register(L, g->srv); /* ws_handshake, ws_upgrade (websocket.lua) */
  return 1;
}
