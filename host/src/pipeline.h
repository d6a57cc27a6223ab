/* pipeline.h - pipeline.c: the life of a request once it has arrived, the
 * same for every transport: pinning a generation, the no-app and --dev
 * stale answers, refusals, stats, calling the app's dispatcher in a
 * coroutine, turning what it answers into one crater__response, the
 * header policy, suspending while the handler waits or a streamed body
 * waits for its client, and the release.
 *
 * Transports are sinks: the pipeline hands them the answer and never
 * touches a socket; they hand it requests and never touch Lua. */
#ifndef CRATER_PIPELINE_H
#define CRATER_PIPELINE_H

#include <stdint.h>

#include "http.h"
#include "request.h"

struct crater__ws;      /* ws.h */
struct crater__ws_io_s; /* ws.h */

/* Where an answer goes. Each function is called on the loop thread, for
 * one request at a time, in this order: respond once, chunk any number of
 * times (only after a respond with CRATER__RES_STREAM), done once; flush
 * whenever the handler starts waiting. */
struct crater__sink {
  /* The answer's head and, unless it streams, its whole body. res and what
   * it points to are valid only during the call: copy what is kept. */
  void (*respond)(void *ctx, crater__request *r, const crater__response *res);
  /* One chunk of a streamed body (never empty). Returns 0 to receive more
   * now, or 1 when the pipeline must wait until the sink calls
   * crater__pipeline_drained() (backpressure). */
  int (*chunk)(void *ctx, crater__request *r, const char *data, size_t len);
  /* The handler waits (task.h): send what is queued now, as nothing more
   * comes for a while. May be NULL. */
  void (*flush)(void *ctx, crater__request *r);
  /* Part of a file answer's body straight from the file (sendfile(2)):
   * sends what it can of the *left bytes at *off of fd without blocking,
   * moving both on. Returns 0 when all is sent, 1 when the pipeline must
   * wait for crater__pipeline_drained(), -1 when the connection failed.
   * May be NULL: the pipeline then reads the file into chunk(). */
  int (*file)(void *ctx, crater__request *r, int fd, int64_t *off, uint64_t *left);
  /* The request is over: ok 1 after a complete answer, 0 when a streamed
   * body broke off midway (the client must be told, e.g. by closing). The
   * request is no longer in flight: the transport may reuse it at once. */
  void (*done)(void *ctx, crater__request *r, int ok);
  /* The handler upgrades r to a WebSocket (ws.c): from now on the
   * transport hands its input to ws and writes what ws gives it through
   * *io with ctx *io_ctx; respond and chunk take nothing more for r, and
   * done ends the connection. Returns 0, or -1 when the transport cannot
   * (NULL: none can, e.g. an injected request). */
  int (*upgrade)(void *ctx, crater__request *r, struct crater__ws *ws,
                 const struct crater__ws_io_s **io, void **io_ctx);
};

/* Answers r, which the transport has filled (crater__request_*), with the
 * server's serving generation. Every path ends in sink->done, now or later
 * (when what the handler waits for is done: task.h; or the sink drained),
 * or never when the transport calls crater__pipeline_abort first. */
void crater__pipeline_start(crater__request *r, const crater__sink *sink, void *ctx);

/* The same with g's dispatcher at registry ref fn_ref (crater.test's
 * client of an app object): not counted as a request of the server, and
 * never given the --dev stale answer. */
void crater__pipeline_start_in(crater__request *r, const crater__sink *sink, void *ctx,
                               crater__gen *g, int fn_ref);

/* Answers r with a refusal of the core (problem+json, logged, counted),
 * then done: a request the transport could not take (limits, bad syntax)
 * or could not store. */
void crater__pipeline_refuse(crater__request *r, const crater__sink *sink, void *ctx,
                             int status, const char *why);

/* 1 while r is in flight (started, done not yet called). */
int crater__pipeline_busy(const crater__request *r);

/* The transport is gone (client closed, server shutting down): ends r
 * without calling its sink again. Cancels what its handler and the threads
 * it spawned wait for (their coroutines are dropped: no Lua of theirs runs
 * again), unpins its generation. Nothing when r is not in flight. */
void crater__pipeline_abort(crater__request *r);

/* The transport lost r's client (closed, reset, a write failed) while r
 * is in flight. Once a streamed body's head went out, r lives on: its
 * handler's wait in progress, and its later writes, return nil, "closed",
 * and r ends when the handler returns or its grace (5 s, or its deadline
 * when sooner) is over, with the sink's done(ok = 0) as usual: the
 * transport keeps r's memory until then, and the sink is called for
 * nothing else. Returns 1 then; otherwise r was aborted
 * (crater__pipeline_abort) and it returns 0. A later
 * crater__pipeline_abort ends r at once (the server's grace is over). */
int crater__pipeline_gone(crater__request *r);

/* The sink took what it had queued: a streamed body goes on. */
void crater__pipeline_drained(crater__request *r);

/* The handler of r must have answered within ms (its route's deadline, set
 * by the dispatcher once routed). If it still waits then, what it and its
 * threads wait for is cancelled and it is answered 504 problem+json (or, if
 * a streamed body has begun, the body is broken off). Returns 0, or -1
 * when out of memory (then there is no deadline). */
int crater__pipeline_deadline(crater__request *r, uint64_t ms);

#endif
