/*
 * crater.h - the public embedding API of libcrater.
 *
 * A crater_server serves Lua routes over HTTP on a libuv loop that the caller
 * owns. Everything the `crater` command does, it does through this header.
 *
 * Conventions:
 *  - Functions that can fail return 0 or a negative CRATER_E* code; the
 *    message for a code is crater_strerror(code). Details of the last load
 *    error (file:line: message) are available from crater_last_error(srv).
 *  - Handles are opaque. A server belongs to the thread running its loop: no
 *    function here may be called on one server from two threads at once.
 *    Different servers on different loops/threads are independent (the
 *    library keeps no global mutable state).
 *  - The library never installs signal handlers, never calls exit().
 *  - Callbacks never run inside the call that registers them.
 */
#ifndef CRATER_H
#define CRATER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CRATER_BUILDING)
#define CRATER_EXTERN __attribute__((visibility("default")))
#else
#define CRATER_EXTERN
#endif

#define CRATER_VERSION_MAJOR 0
#define CRATER_VERSION_MINOR 1
#define CRATER_VERSION_PATCH 0

/* Error codes: one list gives the enum, crater_err_name and crater_strerror. */
#define CRATER_ERRNO_MAP(XX)                                              \
  XX(EINVAL, -1, "invalid argument")                                      \
  XX(ENOMEM, -2, "out of memory")                                         \
  XX(ELOAD, -3, "the Lua application failed to load")                     \
  XX(ELISTEN, -4, "could not listen on the address")                      \
  XX(ESTATE, -5, "operation not valid in the server's current state")     \
  XX(ENOAPP, -6, "no application is loaded")                              \
  XX(EHANDLER, -7, "the request handler failed")

typedef enum {
  CRATER_OK = 0,
#define XX(name, code, msg) CRATER_##name = code,
  CRATER_ERRNO_MAP(XX)
#undef XX
} crater_err;

/* Log severities for crater_log_cb. */
typedef enum { CRATER_LOG_ERROR = 0, CRATER_LOG_WARN, CRATER_LOG_INFO, CRATER_LOG_DEBUG } crater_log_level;

typedef struct crater_server crater_server;

/* Receives every log line (no trailing newline). Runs on the loop thread. */
typedef void (*crater_log_cb)(void *udata, crater_log_level level, const char *line);

/* Runs once the server has closed every handle; then it may be freed. */
typedef void (*crater_close_cb)(crater_server *srv);

/* Configuration. Obtain defaults from crater_config_default(), then change
 * fields; the server copies it in crater_new(). Sizes in bytes, times in ms. */
typedef struct {
  size_t max_header_bytes;      /* request line + headers; over it: 431. Default 16 KiB. */
  size_t max_body_bytes;        /* request body; over it: 413. Default 1 MiB. */
  uint64_t header_timeout_ms;   /* until headers are complete; then 408. Default 10000. */
  uint64_t idle_timeout_ms;     /* idle keep-alive connection is closed. Default 75000. */
  uint64_t grace_ms;            /* crater_shutdown(): time in-flight requests get. Default 10000. */
  unsigned max_connections;     /* further connections are closed at accept. Default 10000. */
  int dev;                      /* 1: tracebacks in 500 bodies, extra checks. Default 0. */
  int reuseport;                /* 1: SO_REUSEPORT on listeners (for workers). Default 0. */
  const char *lua_path;         /* directory holding the crater/ Lua modules; NULL: built-in default. */
  crater_log_cb log_cb;         /* NULL: lines go to stderr. */
  void *log_udata;
  crater_log_level log_level;   /* lines above this level are dropped. Default INFO. */
} crater_config;

/* Status, for monitoring. */
typedef struct {
  uint64_t connections_open;
  uint64_t connections_total;
  uint64_t requests_total;
  uint64_t requests_refused;    /* answered 4xx/5xx by the C core before Lua */
  uint64_t generation;          /* number of the serving Lua generation, 0 if none */
} crater_stats;

CRATER_EXTERN const char *crater_version(void);
CRATER_EXTERN const char *crater_strerror(int err);
CRATER_EXTERN const char *crater_err_name(int err);

/* Fills in the defaults documented on crater_config. */
CRATER_EXTERN crater_config crater_config_default(void);

/* Creates a server on `loop` (not owned). Copies *cfg (NULL: defaults).
 * Returns 0 and sets *out, or CRATER_EINVAL / CRATER_ENOMEM. */
CRATER_EXTERN int crater_new(crater_server **out, uv_loop_t *loop, const crater_config *cfg);

/* Loads a Lua application (a file returning an app) as a new generation.
 * On failure the previous generation, if any, keeps serving and
 * crater_last_error() says file:line and why. */
CRATER_EXTERN int crater_load(crater_server *srv, const char *path);

/* Reloads the app from the serving generation's file: builds a new
 * generation (fresh lua_State and package.loaded, app loaded, hooks run)
 * beside the serving one. Only if that succeeds do new requests go to it;
 * requests in flight finish on the old one, which is closed after the last.
 * On failure returns CRATER_ELOAD (or CRATER_ENOMEM), the old generation
 * keeps serving, and crater_last_error() says file:line and why. Returns
 * CRATER_ENOAPP when nothing is loaded, CRATER_ESTATE while closing.
 * Safe to call from any callback on the loop, also while requests run. */
CRATER_EXTERN int crater_reload(crater_server *srv);

/* Message for the last failed call on this server ("" if none). Valid until the next call. */
CRATER_EXTERN const char *crater_last_error(const crater_server *srv);

/* Starts listening on host:port (IPv4 or IPv6 literal, or "localhost").
 * May be called several times for several listeners. On failure the handle
 * it opened closes on the loop's next run: run the loop before freeing.
 * The first listen starts the loaded app: its on_start hooks run, and if
 * one fails this returns CRATER_ELOAD (crater_last_error() says why). */
CRATER_EXTERN int crater_listen(crater_server *srv, const char *host, int port);

/* Stops accepting, lets in-flight requests finish (cfg.grace_ms at most),
 * closes idle connections. close_cb (may be NULL) runs once all are closed;
 * after that crater_free() may be called. */
CRATER_EXTERN int crater_close(crater_server *srv, crater_close_cb close_cb);

/* Frees a server whose close callback has run (or that never listened). */
CRATER_EXTERN void crater_free(crater_server *srv);

/* A pointer for the embedder's own use (e.g. in close_cb). */
CRATER_EXTERN void crater_set_data(crater_server *srv, void *data);
CRATER_EXTERN void *crater_get_data(const crater_server *srv);

/* Fills *out with counters. */
CRATER_EXTERN void crater_get_stats(const crater_server *srv, crater_stats *out);

/* Number of the first port the server listens on (useful with port 0). */
CRATER_EXTERN int crater_bound_port(const crater_server *srv);

#ifdef __cplusplus
}
#endif
#endif /* CRATER_H */
