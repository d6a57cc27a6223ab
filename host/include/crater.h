/*
 * crater.h - the public embedding API of libcrater.
 *
 * A crater_server serves Lua routes over HTTP on a libuv loop that the caller
 * owns. Everything the `crater` command does, it does through this header.
 *
 * Conventions:
 *  - Functions that can fail return 0 or a negative code: one of the
 *    CRATER_E* codes below, or, when a system call failed, libuv's code for
 *    the cause (UV_EADDRINUSE, UV_EACCES, ...: uv_strerror's codes). The two
 *    ranges do not overlap; crater_strerror() and crater_err_name() name
 *    both. Every failed call on a server also leaves its own message
 *    (file:line for a Lua error) in crater_last_error(srv).
 *  - Strings passed in are copied unless a function says otherwise; the
 *    caller may free them when the call returns.
 *  - Handles are opaque. Thread safety: a server belongs to the thread
 *    running its loop; call its functions, and expect its callbacks, on that
 *    thread only (no function here may be called on one server from two
 *    threads at once). Different servers on different loops/threads are
 *    independent: the library keeps no global mutable state. The functions
 *    taking no server (crater_version, crater_strerror, crater_err_name,
 *    crater_config_init, crater_config_default) are safe from any thread.
 *  - The library never installs signal handlers, never calls exit().
 *  - Callbacks never run inside the call that registers them.
 */
#ifndef CRATER_H
#define CRATER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* LuaJIT's headers have no C++ guard of their own. */
#ifdef __cplusplus
extern "C" {
#endif
#include <lua.h>
#include <lauxlib.h>
#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CRATER_BUILDING)
#define CRATER_EXTERN __attribute__((visibility("default")))
#else
#define CRATER_EXTERN
#endif

#define CRATER_VERSION_MAJOR 0
#define CRATER_VERSION_MINOR 2
#define CRATER_VERSION_PATCH 0

/* Error codes: one list gives the enum, crater_err_name and crater_strerror.
 * They lie below -30000, apart from libuv's (negated errno values and
 * UV_EAI_*), which calls return as they are when a system call failed. */
#define CRATER_ERRNO_MAP(XX)                                              \
  XX(EINVAL, -30001, "invalid argument")                                  \
  XX(ENOMEM, -30002, "out of memory")                                     \
  XX(ELOAD, -30003, "the Lua application failed to load")                 \
  XX(ESTATE, -30005, "operation not valid in the server's current state") \
  XX(ENOAPP, -30006, "no application is loaded")                          \
  XX(EHANDLER, -30007, "the request handler failed")

typedef enum {
  CRATER_OK = 0,
#define XX(name, code, msg) CRATER_##name = code,
  CRATER_ERRNO_MAP(XX)
#undef XX
} crater_err;

/* Log severities for crater_log_cb. */
typedef enum { CRATER_LOG_ERROR = 0, CRATER_LOG_WARN, CRATER_LOG_INFO, CRATER_LOG_DEBUG } crater_log_level;

typedef struct crater_server crater_server;

/* Receives every log record: one call per event, no trailing newline. A
 * record is one line except when it carries a Lua traceback or a load
 * error's context, whose further lines follow after '\n' in the same call
 * (so an error and its traceback never interleave with other records).
 * Runs on the loop thread, never after the server's close callback. */
typedef void (*crater_log_cb)(void *udata, crater_log_level level, const char *record);

/* Runs once the server has closed every handle; then it may be freed. */
typedef void (*crater_close_cb)(crater_server *srv);

/* Configuration. Obtain defaults from crater_config_default() (or
 * crater_config_init()), then change fields; the server copies it in
 * crater_new(). Sizes in bytes, times in ms.
 *
 * ABI: fields are only ever added at the end. `size` records how big the
 * struct was in the header the caller was compiled with, so a program built
 * against an older crater.h keeps working with a newer library: the library
 * reads only the first `size` bytes and uses defaults for the rest. */
typedef struct {
  size_t size;                  /* sizeof(crater_config) for the caller: set by crater_config_init(). */
  size_t max_header_bytes;      /* request line + headers; over it: 431. Default 16 KiB. */
  size_t max_body_bytes;        /* request body; over it: 413. Default 1 MiB. */
  uint64_t header_timeout_ms;   /* from a request's first byte until its head is complete;
                                   then 408. Default 10000. */
  uint64_t idle_timeout_ms;     /* idle keep-alive connection is closed. Default 75000. */
  uint64_t grace_ms;            /* crater_close(): time in-flight requests get. Default 10000. */
  unsigned max_connections;     /* at it, a new connection takes the place of the least recently
                                   used idle keep-alive one; with none idle it is closed at
                                   accept. Default 10000. */
  int dev;                      /* 1: tracebacks in 500 bodies, extra checks. Default 0. */
  int reuseport;                /* 1: SO_REUSEPORT on listeners (for workers). Default 0. */
  const char *lua_path;         /* directory holding the crater/ Lua modules; NULL: built-in default. */
  crater_log_cb log_cb;         /* NULL: records go to stderr. */
  void *log_udata;
  crater_log_level log_level;   /* records above this level are dropped. Default INFO. */
  uint64_t stuck_timeout_ms;    /* Lua running this long without returning to the event loop
                                   (a stuck handler) is interrupted: an error at its current
                                   line, so the request answers 500. Code a hook cannot
                                   interrupt (a loop LuaJIT compiled, C) stays stuck; see
                                   docs/deployment.md. A thread per server watches. 0: off.
                                   Default 30000. */
  size_t max_uri_bytes;         /* request target (URI); over it: 414. Default 8 KiB. */
  uint64_t send_timeout_ms;     /* an answer none of which the client reads for this long: its
                                   connection is closed, logged. Default 60000. */
  uint64_t body_timeout_ms;     /* from the end of the head until the body is complete; then
                                   408. Default 60000. */
  size_t max_memory_bytes;      /* what one generation's Lua VM may hold; past it an
                                   allocation fails ("not enough memory"). 0: no ceiling.
                                   Default 1 GiB. */
  /* multipart/form-data bodies (docs/forms.md) are parsed as they arrive and
   * not kept whole, so they have limits of their own; over one: 413. */
  size_t max_upload_bytes;      /* a multipart body. Default 100 MiB. */
  size_t max_upload_file_bytes; /* one file of it. Default 100 MiB. */
  size_t max_upload_field_bytes; /* one text field of it (all of them together, with the files
                                   kept in memory: max_body_bytes). Default 1 MiB. */
  unsigned max_upload_parts;    /* parts of it. Default 1000. */
  size_t upload_memory_bytes;   /* a file up to this size is kept in memory, a larger one in a
                                   temporary file. Default 64 KiB. */
  const char *upload_dir;       /* where those temporary files go (copied by crater_new);
                                   NULL: $TMPDIR, else /tmp. */
  size_t ws_max_message_bytes;  /* a WebSocket message, and any frame of it; over it the socket
                                   is closed with 1009. A route's max_message overrides it
                                   (docs/websockets.md). Default 1 MiB. */
} crater_config;

/* Status, for monitoring. */
typedef struct {
  uint64_t connections_open;
  uint64_t connections_total;
  uint64_t requests_total;
  uint64_t requests_refused;    /* answered 4xx/5xx by the C core before Lua */
  uint64_t generation;          /* number of the serving Lua generation, 0 if none */
  uint64_t requests_injected;   /* of requests_total, those that came through crater_inject*() */
} crater_stats;

CRATER_EXTERN const char *crater_version(void);
CRATER_EXTERN const char *crater_strerror(int err);
CRATER_EXTERN const char *crater_err_name(int err);

/* Fills the first `size` bytes of *cfg with the defaults documented on
 * crater_config and sets cfg->size = size. Pass sizeof(crater_config). */
CRATER_EXTERN void crater_config_init(crater_config *cfg, size_t size);

/* The defaults, as a value. Inline, so the size recorded is the caller's. */
static inline crater_config crater_config_default(void) {
  crater_config c;
  crater_config_init(&c, sizeof(c));
  return c;
}

/* Creates a server on `loop` (not owned). Copies *cfg (NULL: defaults), of
 * which it reads cfg->size bytes. Returns 0 and sets *out, or CRATER_EINVAL
 * (a NULL out or loop, or a cfg->size smaller than the first published
 * crater_config) / CRATER_ENOMEM. */
CRATER_EXTERN int crater_new(crater_server **out, uv_loop_t *loop, const crater_config *cfg);

/* Loads a Lua application (a file returning an app) as a new generation.
 * While a generation serves, this is the same swap as crater_reload(): on
 * failure the previous generation keeps serving, crater_last_error() says
 * file:line and why, and with cfg.dev requests are answered with that error
 * until a load succeeds. Returns 0, CRATER_EINVAL, CRATER_ENOMEM,
 * CRATER_ELOAD, or CRATER_ESTATE once crater_close() was called. */
CRATER_EXTERN int crater_load(crater_server *srv, const char *path);

/* Reloads the app from the serving generation's file: builds a new
 * generation (fresh lua_State and package.loaded, app loaded, hooks run)
 * beside the serving one. Only if that succeeds do new requests go to it;
 * requests in flight finish on the old one, which is closed after the last.
 * On failure returns CRATER_ELOAD (or CRATER_ENOMEM), the old generation
 * keeps serving, and crater_last_error() says file:line and why. Returns
 * CRATER_ENOAPP when nothing is loaded, CRATER_ESTATE while closing or when
 * the app came from crater_load_string() (call that again instead: loading
 * while serving is the same swap, hooks included).
 * Safe to call from any callback on the loop, also while requests run. */
CRATER_EXTERN int crater_reload(crater_server *srv);

/* Message for the last failed call on this server ("" if none has failed).
 * Every call that fails sets it, so it never shows an older failure's
 * message. Valid until the next call on the server. */
CRATER_EXTERN const char *crater_last_error(const crater_server *srv);

/* Starts listening on host:port (IPv4 or IPv6 literal, or "localhost").
 * May be called several times for several listeners. The address is
 * checked (CRATER_EINVAL) and the socket bound (libuv's code on failure:
 * UV_EADDRINUSE, UV_EACCES, ...) before anything of the app runs. Then the
 * first listen starts the loaded app: its on_start hooks run, and if one
 * fails the listener is closed and this returns CRATER_ELOAD
 * (crater_last_error() says why). CRATER_ESTATE while closing or with 16
 * listeners. On failure a handle it opened closes on the loop's next run:
 * run the loop before freeing. */
CRATER_EXTERN int crater_listen(crater_server *srv, const char *host, int port);

/* Stops accepting, lets in-flight requests finish (cfg.grace_ms at most),
 * closes idle connections. Once every connection and queued injection is
 * done, the app's on_stop hooks run and its Lua states are closed; then
 * close_cb (may be NULL) runs, on a later loop iteration. No Lua code and no
 * log callback of this server runs after close_cb, so the host may free
 * what it registered (module contexts, log udata) there; after it,
 * crater_free() may be called. CRATER_ESTATE when called twice. */
CRATER_EXTERN int crater_close(crater_server *srv, crater_close_cb close_cb);

/* Frees a server whose close callback has run, or one that never listened
 * (then its app's Lua state is closed here; on_stop hooks run only for an
 * app that started serving). NULL is ignored. */
CRATER_EXTERN void crater_free(crater_server *srv);

/* A pointer for the embedder's own use (e.g. in close_cb). */
CRATER_EXTERN void crater_set_data(crater_server *srv, void *data);
CRATER_EXTERN void *crater_get_data(const crater_server *srv);

/* Fills *out with counters. */
CRATER_EXTERN void crater_get_stats(const crater_server *srv, crater_stats *out);

/* Number of the first port the server listens on (useful with port 0), or
 * a negative code: CRATER_EINVAL (srv NULL), CRATER_ESTATE (no listener), or
 * libuv's code when the socket's address cannot be read. */
CRATER_EXTERN int crater_bound_port(const crater_server *srv);

/* ------------------------------------------------------------------------ */
/*  Loading and listening, more ways                                          */
/* ------------------------------------------------------------------------ */

/* Like crater_load() for an app held in memory: `code` (`len` bytes) is the
 * source of a chunk returning an app. `chunkname` names it in error messages
 * ("name:3: ..."); `require` of the app's own modules searches the current
 * directory. Both are copied. While serving, this is the same swap as
 * crater_reload() (hooks, --dev stale answers on failure). Returns 0,
 * CRATER_EINVAL, CRATER_ENOMEM, CRATER_ELOAD or CRATER_ESTATE. */
CRATER_EXTERN int crater_load_string(crater_server *srv, const char *chunkname, const char *code,
                                     size_t len);

/* Serves on a socket the caller already bound and put in listening state
 * (socket activation, privileged ports). The server owns fd from then on and
 * closes it in crater_close(), also when this call fails. Can be mixed with
 * crater_listen(); 16 listeners at most. Starts the app like crater_listen. */
CRATER_EXTERN int crater_listen_fd(crater_server *srv, int fd);

/* ------------------------------------------------------------------------ */
/*  Exposing C to Lua                                                         */
/* ------------------------------------------------------------------------ */

/* Makes `require(name)` in the app call open(L) (with the name as argument 1)
 * and return its result, like package.preload. Registrations are applied to
 * every Lua state the server creates from then on: the next crater_load() and
 * every reload. `name` is copied. Names "crater" and "crater.*" are reserved
 * (CRATER_EINVAL). Registering a name again replaces it for later
 * generations. */
CRATER_EXTERN int crater_register(crater_server *srv, const char *name, lua_CFunction open);

/* Makes `require(name)` return a table of the functions in fns (terminated
 * by {NULL, NULL}; the list and its names are copied, so they need not
 * outlive the call; `name` is copied too). Each function gets `ctx` as its
 * first upvalue: crater_lua_context(L) returns it. ctx is not copied: it
 * must stay valid until the server's close callback has run (or until
 * crater_free() for a server that never listened). */
CRATER_EXTERN int crater_register_module(crater_server *srv, const char *name, const luaL_Reg *fns,
                                         void *ctx);

/* Inside a function registered with crater_register_module(): its ctx. */
CRATER_EXTERN void *crater_lua_context(lua_State *L);

/* The server whose Lua state L (or a coroutine of it) is; NULL for a state
 * the library did not create. With crater_get_data() this reaches the host's
 * context from any C function, registered through either call. */
CRATER_EXTERN crater_server *crater_lua_server(lua_State *L);

/* ------------------------------------------------------------------------ */
/*  C functions that complete later                                           */
/* ------------------------------------------------------------------------ */

/* A C function registered for Lua (crater_register, crater_register_module)
 * can wait without blocking the server: Lua calls it like any function,
 * the request (or timer) that called it is suspended, the loop serves
 * others, and when the host completes the operation the caller receives
 * the results as the function's return values.
 *
 *   static int fetch(lua_State *L) {
 *     my_op *op = ...;
 *     op->async = crater_async_begin(L, on_cancel, op);
 *     if (op->async == NULL) { free(op); return lua_error(L); }  // cannot wait here
 *     start_work(op);                                     // on the loop, or a thread
 *     return crater_async_yield(L);
 *   }
 *   // later, on the loop thread:
 *   lua_State *T = crater_async_state(op->async);
 *   if (T) lua_pushstring(T, result);
 *   crater_async_complete(op->async, T ? 1 : 0);
 *
 * The completion may also come at once, inside the function that began it
 * (the host had the answer cached): crater_async_yield then returns the
 * results as a plain call does.
 *
 * Rules: every call on a crater_async handle is made on the loop thread (work done on
 * another thread comes back with uv_async_send or uv_queue_work's
 * after_work callback). Each handle is completed exactly once, with
 * crater_async_complete or crater_async_fail, also after its cancel
 * callback ran; that completion only frees it then. */
typedef struct crater_async crater_async;

/* Called on the loop thread, at most once, when what waits is gone before
 * the completion: the client went away, the route's deadline passed, the
 * server closed, or crater.kill. The host may stop its work early; it must
 * still complete the handle (which then only frees it). */
typedef void (*crater_async_cancel_cb)(crater_async *a, void *udata);

/* Begins waiting in the C function running as L; the function must then
 * return crater_async_yield(L). cancel may be NULL. Returns NULL, with an
 * error message pushed on L, when L cannot wait: outside a request or
 * timer, inside a coroutine the app made itself, or out of memory; the
 * function then frees what it made and returns lua_error(L). */
CRATER_EXTERN crater_async *crater_async_begin(lua_State *L, crater_async_cancel_cb cancel,
                                               void *udata);

/* What the C function returns after crater_async_begin. */
CRATER_EXTERN int crater_async_yield(lua_State *L);

/* The Lua state to push the results on before crater_async_complete, or
 * NULL when the waiting Lua is gone (after the cancel callback). */
CRATER_EXTERN lua_State *crater_async_state(const crater_async *a);

/* Completes the operation: the waiting Lua resumes with the nresults values
 * the host pushed on crater_async_state(a). Frees the handle. */
CRATER_EXTERN void crater_async_complete(crater_async *a, int nresults);

/* Completes the operation with an expected failure: the Lua caller gets
 * nil and the message (copied). Frees the handle. */
CRATER_EXTERN void crater_async_fail(crater_async *a, const char *message);

/* ------------------------------------------------------------------------ */
/*  Requests without a socket                                                 */
/* ------------------------------------------------------------------------ */

/* One header field. Lengths are in bytes; strings need no NUL. */
typedef struct {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} crater_header;

/* For string literals: CRATER_HEADER("Accept", "application/json"). */
#define CRATER_HEADER(n, v) { (n), sizeof(n) - 1, (v), sizeof(v) - 1 }

/* An injected request. Everything is copied by the call that takes it. */
typedef struct {
  const char *method;            /* "GET", "POST", ...: an upper-case token */
  const char *url;               /* origin form, with the query: "/items?limit=2" */
  size_t url_len;                /* 0: strlen(url) */
  const crater_header *headers;  /* may be NULL when nheaders is 0 */
  size_t nheaders;
  const char *body;              /* may be NULL when body_len is 0 */
  size_t body_len;
} crater_request;

/* The answer, as a socket client would get it minus the framing: no Date,
 * Server, Content-Length, Transfer-Encoding or Connection fields, and a
 * streamed body already joined into one. Content-Type, when there is one, is
 * headers[0]. Strings are NUL-terminated too. Read-only. */
typedef struct {
  int status;
  const crater_header *headers;
  size_t nheaders;
  const char *body;
  size_t body_len;
  int truncated;                 /* 1: a streamed body failed midway (a socket
                                    client would see the connection close) */
} crater_response;

/* Called with status 0 and the response, or with a negative CRATER_E* code
 * and res NULL (then no response exists: CRATER_ENOMEM, or CRATER_ESTATE
 * when the server closed while the handler was still waiting). res is
 * valid only during the call. */
typedef void (*crater_inject_cb)(crater_server *srv, int status, const crater_response *res,
                                 void *udata);

/* Queues a request through the same pipeline as one read from a socket
 * (URL splitting, routing, hooks, error handlers, problem+json answers,
 * 503 without an app, the limits of crater_config with their 413/431, and
 * 400 for a header field a socket request could not carry, such as a name
 * with a space). The request is copied. cb runs on the loop thread, on a
 * later loop iteration, never inside this call; it is required (NULL:
 * CRATER_EINVAL). Counts in stats.requests_total and requests_injected;
 * crater_close() waits for queued injections (do not crater_free() a server
 * with injections queued: close it first). Returns 0, CRATER_EINVAL (bad
 * method, url, header pointers or CR/LF/NUL in a field, or a NULL
 * argument), CRATER_ENOMEM or CRATER_ESTATE (the server is closing). */
CRATER_EXTERN int crater_inject(crater_server *srv, const crater_request *req,
                                crater_inject_cb cb, void *udata);

/* Runs the request now, inside this call, and sets *out to a response the
 * caller frees with crater_response_free(). Needs no running loop (tests,
 * a request from a C function called by Lua). Returns 0, CRATER_EINVAL,
 * CRATER_ENOMEM, or CRATER_ESTATE when the handler waits for the loop (it
 * cannot finish inside this call: it is cancelled; use crater_inject()) or
 * once the server's close callback has run. */
CRATER_EXTERN int crater_inject_sync(crater_server *srv, const crater_request *req,
                                     crater_response **out);

/* Frees a response from crater_inject_sync(). NULL is ignored. */
CRATER_EXTERN void crater_response_free(crater_response *res);

#ifdef __cplusplus
}
#endif
#endif /* CRATER_H */
