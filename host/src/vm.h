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
  char *app_path;
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

/* The crater.host module (binding.c). */
int crater__binding_open(lua_State *L);

#endif
