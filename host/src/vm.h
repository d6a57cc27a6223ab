/* vm.h - a generation: one lua_State with one loaded application.
 *
 * The server points at its newest generation. Each request takes a reference
 * on the generation it started on, so a reload can swap in a new one while
 * old requests finish on the old one; the last reference closes the state. */
#ifndef CRATER_VM_H
#define CRATER_VM_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "server.h"

struct crater__gen {
  crater_server *srv;
  lua_State *L;
  uint64_t id;            /* 1 for the first generation, then 2, ... */
  int refs;               /* the server's, plus one per request in flight */
  int dispatch_ref;       /* registry ref: function(method, path, query, conn, seq) */
  int app_ref;            /* registry ref: the app table the file returned */
  int *idle;              /* registry refs of finished coroutines, kept for reuse */
  int nidle, capidle;
  lua_State *spare;       /* the last finished coroutine (registry ref spare_ref), or NULL: */
  int spare_ref;          /* reused first, without a registry lookup */
  char *app_path;
  int from_string;        /* loaded by crater_load_string: there is no file to reload */
  int started;            /* its on_start hooks ran, so on_stop runs when it is closed */
  const char *stop_reason;/* "reload" once a newer generation replaced it; else "shutdown" */
};

/* What the core hands to Lua for one request. */
typedef struct {
  const char *method;
  const char *path;  size_t path_len;
  const char *query; size_t query_len;   /* without '?'; len 0 when absent */
  crater__conn *conn;
  uint64_t seq;
} crater__reqinfo;

/* What Lua answered. Pointers stay valid until crater__gen_done(). */
typedef struct {
  int status;
  const char *body;  size_t body_len;
  const char *ctype; size_t ctype_len;   /* NULL: no Content-Type */
  int nheaders;                          /* extra header pairs */
  int streaming;                         /* 1: the body follows as chunks, see crater__gen_resume() */
  lua_State *T;                          /* the request's coroutine */
  int thread_ref;
} crater__response;

/* Loads the app at path in a fresh state. On failure returns CRATER_ELOAD and
 * leaves "file:line: message" in srv->last_error. */
int crater__gen_load(crater_server *srv, const char *path, crater__gen **out);
void crater__gen_ref(crater__gen *g);
void crater__gen_unref(crater__gen *g);

/* Runs the app's dispatcher for one request. Returns 0 with *res filled, or
 * CRATER_EHANDLER (already logged) when the dispatcher itself failed. */
int crater__gen_call(crater__gen *g, const crater__reqinfo *ri, crater__response *res);
void crater__gen_header(const crater__response *res, int i, const char **name, size_t *nlen,
                        const char **value, size_t *vlen);
void crater__gen_done(crater__gen *g, crater__response *res);

/* For a streaming response: resumes the request's coroutine for its next
 * chunk. Returns 1 with *chunk set (valid until the next resume), 0 when the
 * stream ended (the coroutine is released), or -1 when it failed (logged; the
 * coroutine is released). */
int crater__gen_resume(crater__gen *g, crater__response *res, const char **chunk, size_t *len);

/* Releases a suspended stream's coroutine without finishing it (the client
 * went away). */
void crater__gen_abandon(crater__gen *g, crater__response *res);

/* Asks crater.app to describe the app ("routes"): appends the text to out.
 * Returns 0, or CRATER_ELOAD with the error in srv->last_error. */
int crater__gen_describe(crater__gen *g, const char *what, crater__buf *out);

/* dispatch.c: what socket and injected requests share. reqinfo_init splits
 * url into path and query (dropping an absolute-form's scheme and host and a
 * fragment). dispatch references g and runs its app's dispatcher (or the one
 * at registry ref fn_ref, unless LUA_NOREF): 0 with *res filled and g
 * referenced (the caller ends with crater__gen_done or the stream, then
 * crater__gen_unref); CRATER_EHANDLER or CRATER_ENOMEM (answer 500, g not
 * referenced). The caller counts the request and answers 503 without a g. */
void crater__reqinfo_init(crater__reqinfo *ri, const char *method, const char *url, size_t url_len,
                          crater__conn *conn, uint64_t seq);
int crater__dispatch(crater__gen *g, int fn_ref, const crater__reqinfo *ri, crater__response *res);

/* Like crater__gen_call with a dispatcher other than the app's: fn_ref is a
 * registry reference in g->L (crater.test's client of an app object). */
int crater__gen_call_ref(crater__gen *g, int fn_ref, const crater__reqinfo *ri, crater__response *res);

/* Loads an app from memory (crater_load_string). */
int crater__gen_load_string(crater_server *srv, const char *name, const char *code, size_t len,
                            crater__gen **out);

/* Runs a script (not an app) in a fresh state set up like a generation's,
 * with crater.host and the registered modules: `crater test`. Returns 0, or
 * CRATER_ELOAD with "file:line: message" and a traceback in last_error. */
int crater__gen_run_script(crater_server *srv, const char *path);

/* Calls fn with the path of every Lua file the generation's app has
 * required (package.loaded names found on package.path), for --reload to
 * watch modules that live outside the app's directory. */
void crater__gen_module_files(crater__gen *g, void (*fn)(void *ud, const char *path), void *ud);

/* register.c: preloads the embedder's modules into L and records the server
 * for crater_lua_server(). Called wherever a state is created. */
void crater__registry_apply(crater_server *srv, lua_State *L);
void crater__registry_free(crater_server *srv);

/* inject.c: crater.host.inject, for crater.test. */
int crater__inject_lua(lua_State *L);
/* inject.c: 1 while crater_inject jobs are queued (crater_close waits). */
int crater__inject_pending(const crater_server *srv);

/* The crater.host module (binding.c). */
int crater__binding_open(lua_State *L);

#endif
