/* httpc.c - reading an HTTP/1.1 response from an upstream server, for
 * crater.http (lua/crater/http.lua): llhttp in response mode behind a
 * small Lua object. The Lua side owns the socket; it feeds what it reads
 * and asks where the parse stands.
 *
 *   local p = host.http_parser(head, max_body)  -- head: a HEAD request (no body)
 *   p:feed(bytes) -> "more" | "headers" | "done" | nil, err
 *   p:eof()       -> "done" | nil, err        (the peer closed)
 *   p:status(), p:headers() ({ name, value, ... }), p:body(), p:take(),
 *   p:keepalive(), p:rest() (bytes after the message)
 *   p:response(mt) -> status, { lowercase name = value, ... } (crater.http's res.headers)
 *   p:result()     -> body, reusable (done, keep-alive, nothing after it)
 *   p:reset(head, max_body): ready for the next response (parsers are reused)
 */
#include "httpc.h"

#include <string.h>

#include <lauxlib.h>
#include <llhttp.h>

#include "alloc.h"
#include "buf.h"

#define PARSER_MT "crater.http_parser"
#define MAX_FIELDS 256
#define MAX_HEAD (64 * 1024) /* bytes of header names and values */
#define KEEP_BUF (64 * 1024)  /* a reused parser keeps buffers up to this size */

typedef struct {
  llhttp_t parser;
  llhttp_settings_t settings;
  crater__buf head;          /* header names and values back to back */
  struct {
    uint32_t name_off, name_len, value_off, value_len;
  } fields[MAX_FIELDS];
  int nfields;
  int in_value;
  crater__buf body;
  size_t max_body;
  size_t body_total;         /* over the whole message, also what take() handed out */
  int head_request;
  int headers_done, done;
  const char *error;         /* a limit of ours; llhttp's errors come from llhttp */
  crater__buf rest;          /* bytes after the message */
} parser;

static int too_big(parser *ps, size_t len) {
  if (ps->head.len + len <= MAX_HEAD) return 0;
  ps->error = "response head too large";
  return 1;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  parser *ps = (parser *)p;
  if (ps->in_value || ps->nfields == 0) {
    if (ps->nfields == MAX_FIELDS) {
      ps->error = "too many header fields in the response";
      return -1;
    }
    ps->fields[ps->nfields].name_off = (uint32_t)ps->head.len;
    ps->fields[ps->nfields].name_len = 0;
    ps->fields[ps->nfields].value_off = 0;
    ps->fields[ps->nfields].value_len = 0;
    ps->nfields++;
    ps->in_value = 0;
  }
  if (too_big(ps, len)) return -1;
  if (crater__buf_append(&ps->head, at, len) != 0) return -1;
  ps->fields[ps->nfields - 1].name_len += (uint32_t)len;
  ps->fields[ps->nfields - 1].value_off = (uint32_t)ps->head.len;
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  parser *ps = (parser *)p;
  ps->in_value = 1;
  if (too_big(ps, len)) return -1;
  if (crater__buf_append(&ps->head, at, len) != 0) return -1;
  ps->fields[ps->nfields - 1].value_len += (uint32_t)len;
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  parser *ps = (parser *)p;
  /* A 1xx is not the response: llhttp goes on to the next message (which
   * may come in a later read: the state stays "more" until it does). */
  int status = llhttp_get_status_code(p);
  if (status >= 100 && status < 200) return 0;
  ps->headers_done = 1;
  /* 1 tells llhttp there is no body (the answer to a HEAD request). */
  return ps->head_request ? 1 : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  parser *ps = (parser *)p;
  ps->body_total += len;
  if (ps->max_body > 0 && ps->body_total > ps->max_body) {
    ps->error = "body too large";
    return -1;
  }
  return crater__buf_append(&ps->body, at, len) == 0 ? 0 : -1;
}

static int on_message_begin(llhttp_t *p) {
  parser *ps = (parser *)p;
  /* An interim 1xx response came first: forget its fields. */
  ps->head.len = 0;
  ps->nfields = 0;
  ps->in_value = 0;
  ps->headers_done = 0;
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  parser *ps = (parser *)p;
  if (llhttp_get_status_code(p) >= 100 && llhttp_get_status_code(p) < 200) return 0;
  ps->done = 1;
  return HPE_PAUSED;
}

static parser *check(lua_State *L) { return luaL_checkudata(L, 1, PARSER_MT); }

static int state(lua_State *L, parser *ps) {
  lua_pushstring(L, ps->done ? "done" : ps->headers_done ? "headers" : "more");
  return 1;
}

static int fail(lua_State *L, parser *ps, llhttp_errno_t err) {
  lua_pushnil(L);
  if (ps->error != NULL) lua_pushstring(L, ps->error);
  else if (err == HPE_USER) lua_pushliteral(L, "out of memory");
  else lua_pushfstring(L, "malformed response: %s", llhttp_get_error_reason(&ps->parser));
  return 2;
}

static int p_feed(lua_State *L) {
  parser *ps = check(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  if (ps->done) {
    crater__buf_append(&ps->rest, data, len);
    return state(L, ps);
  }
  llhttp_errno_t err = llhttp_execute(&ps->parser, data, len);
  if (err == HPE_PAUSED && ps->done) {
    const char *pos = llhttp_get_error_pos(&ps->parser);
    if (pos != NULL && pos >= data && pos < data + len)
      crater__buf_append(&ps->rest, pos, (size_t)(data + len - pos));
    return state(L, ps);
  }
  if (err != HPE_OK) return fail(L, ps, err);
  return state(L, ps);
}

static int p_eof(lua_State *L) {
  parser *ps = check(L);
  if (ps->done) return state(L, ps);
  /* A body that ends at close completes here (llhttp calls
   * on_message_complete); anything else cut off is an error. */
  llhttp_errno_t err = llhttp_finish(&ps->parser);
  if (err != HPE_OK && err != HPE_PAUSED && err != HPE_INVALID_EOF_STATE) return fail(L, ps, err);
  if (ps->done) return state(L, ps);
  lua_pushnil(L);
  lua_pushliteral(L, "closed before the response was complete");
  return 2;
}

static int p_status(lua_State *L) {
  parser *ps = check(L);
  lua_pushinteger(L, ps->headers_done ? llhttp_get_status_code(&ps->parser) : 0);
  return 1;
}

static int p_headers(lua_State *L) {
  parser *ps = check(L);
  lua_createtable(L, ps->nfields * 2, 0);
  for (int i = 0; i < ps->nfields; i++) {
    lua_pushlstring(L, ps->head.data + ps->fields[i].name_off, ps->fields[i].name_len);
    lua_rawseti(L, -2, 2 * i + 1);
    lua_pushlstring(L, ps->fields[i].value_len ? ps->head.data + ps->fields[i].value_off : "",
                    ps->fields[i].value_len);
    lua_rawseti(L, -2, 2 * i + 2);
  }
  return 1;
}

static int p_body(lua_State *L) {
  parser *ps = check(L);
  lua_pushlstring(L, ps->body.len ? ps->body.data : "", ps->body.len);
  return 1;
}

/* The body read so far, handed over and forgotten (a streamed read). */
static int p_take(lua_State *L) {
  parser *ps = check(L);
  lua_pushlstring(L, ps->body.len ? ps->body.data : "", ps->body.len);
  ps->body.len = 0;
  return 1;
}

static int p_keepalive(lua_State *L) {
  parser *ps = check(L);
  lua_pushboolean(L, ps->done && llhttp_should_keep_alive(&ps->parser));
  return 1;
}

static int p_rest(lua_State *L) {
  parser *ps = check(L);
  lua_pushlstring(L, ps->rest.len ? ps->rest.data : "", ps->rest.len);
  return 1;
}

/* The head for the app: status, and the fields in a table by lowercase
 * name (lowercased in place: p:headers() says them so afterwards), a
 * repeated one's values joined with ", "; with metatable mt if given. */
static int p_response(lua_State *L) {
  parser *ps = check(L);
  lua_pushinteger(L, ps->headers_done ? llhttp_get_status_code(&ps->parser) : 0);
  lua_createtable(L, 0, ps->nfields);
  int repeated = 0;
  for (int i = 0; i < ps->nfields; i++) {
    char *name = ps->head.data + ps->fields[i].name_off;
    uint32_t len = ps->fields[i].name_len;
    for (uint32_t j = 0; j < len; j++)
      if ((unsigned char)(name[j] - 'A') < 26) name[j] = (char)(name[j] + ('a' - 'A'));
    for (int k = 0; k < i && !repeated; k++)
      repeated = ps->fields[k].name_len == len && memcmp(ps->head.data + ps->fields[k].name_off, name, len) == 0;
  }
  for (int i = 0; i < ps->nfields; i++) {
    const char *value = ps->fields[i].value_len ? ps->head.data + ps->fields[i].value_off : "";
    lua_pushlstring(L, ps->head.data + ps->fields[i].name_off, ps->fields[i].name_len);
    if (repeated) { /* a name seen before: its values are joined */
      lua_pushvalue(L, -1);
      lua_rawget(L, -3);
      if (!lua_isnil(L, -1)) {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, value, ps->fields[i].value_len);
        lua_concat(L, 3);
        lua_rawset(L, -3);
        continue;
      }
      lua_pop(L, 1);
    }
    lua_pushlstring(L, value, ps->fields[i].value_len);
    lua_rawset(L, -3);
  }
  if (lua_istable(L, 2)) {
    lua_pushvalue(L, 2);
    lua_setmetatable(L, -2);
  }
  return 2;
}

/* The whole body, and whether the connection may carry another request:
 * the response is done, keeps the connection alive, and nothing followed. */
static int p_result(lua_State *L) {
  parser *ps = check(L);
  lua_pushlstring(L, ps->body.len ? ps->body.data : "", ps->body.len);
  lua_pushboolean(L, ps->done && ps->rest.len == 0 && llhttp_should_keep_alive(&ps->parser));
  return 2;
}

/* Ready for another response (a parser is reused): what it holds is
 * forgotten, its buffers kept unless they grew big. */
static void begin(parser *ps, int head, lua_Number max_body) {
  crater__buf *bufs[3] = {&ps->head, &ps->body, &ps->rest};
  for (int i = 0; i < 3; i++) {
    if (bufs[i]->cap > KEEP_BUF) crater__buf_free(bufs[i]);
    bufs[i]->len = 0;
  }
  ps->nfields = 0;
  ps->in_value = 0;
  ps->body_total = 0;
  ps->headers_done = ps->done = 0;
  ps->error = NULL;
  ps->head_request = head;
  ps->max_body = max_body > 0 ? (size_t)max_body : 0;
  llhttp_init(&ps->parser, HTTP_RESPONSE, &ps->settings);
}

static int p_reset(lua_State *L) {
  parser *ps = check(L);
  begin(ps, lua_toboolean(L, 2), luaL_optnumber(L, 3, 0));
  return 0;
}

static int p_gc(lua_State *L) {
  parser *ps = lua_touserdata(L, 1);
  crater__buf_free(&ps->head);
  crater__buf_free(&ps->body);
  crater__buf_free(&ps->rest);
  return 0;
}

int crater__httpc_parser(lua_State *L) {
  int head = lua_toboolean(L, 1);
  lua_Number max_body = luaL_optnumber(L, 2, 0);
  parser *ps = lua_newuserdata(L, sizeof(*ps));
  memset(ps, 0, sizeof(*ps));
  if (luaL_newmetatable(L, PARSER_MT)) {
    static const luaL_Reg methods[] = {
      {"feed", p_feed},   {"eof", p_eof},           {"status", p_status}, {"headers", p_headers},
      {"body", p_body},   {"take", p_take},         {"rest", p_rest},     {"keepalive", p_keepalive},
      {"response", p_response}, {"result", p_result}, {"reset", p_reset}, {NULL, NULL},
    };
    lua_createtable(L, 0, 11);
    for (const luaL_Reg *m = methods; m->name; m++) {
      lua_pushcfunction(L, m->func);
      lua_setfield(L, -2, m->name);
    }
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, p_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  llhttp_settings_init(&ps->settings);
  ps->settings.on_message_begin = on_message_begin;
  ps->settings.on_header_field = on_header_field;
  ps->settings.on_header_value = on_header_value;
  ps->settings.on_headers_complete = on_headers_complete;
  ps->settings.on_body = on_body;
  ps->settings.on_message_complete = on_message_complete;
  begin(ps, head, max_body);
  return 1;
}
