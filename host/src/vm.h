/* vm.h - vm.c: generations. A generation is one lua_State with one loaded
 * application; this file creates, runs and closes them, keeps their pool of
 * request coroutines, and counts the requests in flight on each. What to do
 * when a replaced generation's count reaches zero (its on_stop hooks, then
 * closing it) is its owner's business: reload.c. */
#ifndef CRATER_VM_H
#define CRATER_VM_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "buf.h"
#include "crater.h"
#include "vm_mem.h"

typedef struct crater__gen crater__gen;

#define CRATER__GEN_KNOWN_TYPES 3

struct crater__gen {
  crater_server *srv;
  lua_State *L;
  uint64_t id;            /* 1 for the first generation, then 2, ...; 0 for a script */
  int refs;               /* requests in flight on it (pipeline.c) */
  int retiring;           /* replaced by a newer one: reload.c closes it at refs 0 */
  int closing;            /* lua_close is running (finalizers must not re-arm) */
  int dispatch_ref;       /* registry ref: function(method, path, query, request, seq) */
  int app_ref;            /* registry ref: the app table the file returned */
  int *idle;              /* registry refs of finished coroutines, kept for reuse */
  int nidle, capidle;
  lua_State *spare;       /* the last finished coroutine (registry ref spare_ref), or NULL: */
  int spare_ref;          /* reused first, without a registry lookup */
  char *app_path;
  int from_string;        /* loaded by crater_load_string: there is no file to reload */
  int started;            /* its on_start hooks ran, so on_stop runs when it is closed */
  const char *stop_reason;/* "reload" once a newer generation replaced it; else "shutdown" */
  crater__vm_mem mem;     /* its memory ceiling (mem.limit 0: none) */
  int mem_exhausted;      /* full even after a collection: a fresh generation should serve */
  int (*renew)(crater_server *srv); /* builds a fresh generation of the same app and makes
                                       it serve (load.c sets crater_reload); NULL: no file */
  const char *known_types[CRATER__GEN_KNOWN_TYPES]; /* see crater__gen_known_type */
  lua_State *running_T;   /* holds crater.host.running at index 1, for the watchdog's thread
                             (watchdog.c); NULL before crater.host is loaded */
};

/* 1 when s is one of the content types crater.response answers with
 * (text/plain; charset=utf-8, application/json, application/problem+json)
 * as a string of g's state: they are interned there and anchored when g is
 * made, and a Lua state holds one string per content, so the address
 * tells them; pipeline.c spares them the header value check on every
 * answer. */
static inline int crater__gen_known_type(const crater__gen *g, const char *s) {
  return s == g->known_types[0] || s == g->known_types[1] || s == g->known_types[2];
}

/* A fresh state with the standard libraries and package.path set for the
 * app at `name` (a file, or the chunk name of a string app): the caller
 * adds its preloads, then runs the app with crater__gen_run. Returns 0, or
 * CRATER_ENOMEM (message in srv->last_error). */
int crater__gen_new(crater_server *srv, const char *name, int from_string, crater__gen **out);

/* Runs the app (the file at g->app_path, or `code` when not NULL) and
 * hands its result to crater.app's entry(), which checks it is an app and
 * gives the dispatcher. Numbers the generation. Returns 0, or CRATER_ELOAD
 * with "file:line: message" and a traceback in srv->last_error. */
int crater__gen_run(crater__gen *g, const char *code, size_t len);

/* Runs g->app_path as specs (`crater test`: crater.spec_runner). Returns 0,
 * or CRATER_ELOAD with the failures in srv->last_error. */
int crater__gen_run_specs(crater__gen *g);

/* Closes the state and frees g. No request may be in flight on it. */
void crater__gen_close(crater__gen *g);

/* Requests in flight: pipeline.c pins the generation a request runs on. */
void crater__gen_ref(crater__gen *g);
int crater__gen_unref(crater__gen *g); /* returns the references left */

/* A coroutine for one request: from the pool, or new. Returns 0, or -1
 * when out of memory. thread_done returns one that finished normally to
 * the pool; thread_drop releases one that failed or was left suspended. */
int crater__gen_thread(crater__gen *g, lua_State **T, int *ref);
void crater__gen_thread_done(crater__gen *g, lua_State *T, int ref);
void crater__gen_thread_drop(crater__gen *g, int ref);

/* After a request on g ran into its memory ceiling (g->mem.hit): a full
 * collection, logged; when the VM stays full, g->mem_exhausted is set. */
void crater__gen_after_oom(crater__gen *g);

/* A message handler for lua_pcall: the message and a traceback. */
int crater__gen_traceback(lua_State *L);

/* The error value on top of T, a coroutine of g that failed, becomes the
 * string its __tostring gives when it is not a string (a database error
 * object): T cannot run the metamethod itself, g's main state does. */
void crater__gen_error_tostring(crater__gen *g, lua_State *T);

/* Asks crater.app to describe the app ("routes", "openapi"): appends the
 * text to out. Returns 0, or CRATER_ELOAD with the error in last_error. */
int crater__gen_describe(crater__gen *g, const char *what, crater__buf *out);

/* Calls fn with the path of every Lua file the generation's app has
 * required (package.loaded names found on package.path), for --reload to
 * watch modules that live outside the app's directory. */
void crater__gen_module_files(crater__gen *g, void (*fn)(void *ud, const char *path), void *ud);

#endif
