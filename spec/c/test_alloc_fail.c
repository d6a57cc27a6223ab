/* test_alloc_fail.c - allocation failure, swept: for every allocation the C
 * core makes while accepting, parsing, dispatching, answering (whole,
 * pipelined, streamed, injected) and reloading, that allocation is made to
 * fail (alloc.c's test hook), then every one after it. Each time the
 * server must not crash or leak (this runs in the ASan build, whose leak
 * check covers the whole sweep), must answer 500/503 or close that one
 * connection, and must serve the next request normally.
 *
 * The hook exists only in the fault-injection build (CRATER_FAULT_INJECTION:
 * the ASan core, `unit_asan`); elsewhere these tests only say so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "crater.h"
#include "test.h"

#ifdef CRATER_FAULT_INJECTION
#include "alloc.h"

static const char app_src[] =
    "local crater = require 'crater'\n"
    "local app = crater.app()\n"
    "app:get('/hello', function() return 'hello' end)\n"
    "app:get('/gz', function() return string.rep('code me ', 500) end)\n"
    "app:post('/echo', function(req) return req.body end)\n"
    "app:get('/stream', function()\n"
    "  return crater.stream(function(write)\n"
    "    for i = 1, 40 do write(string.rep('x', 2000)) end\n"
    "  end)\n"
    "end)\n"
    "return app\n";

static void quiet(void *udata, crater_log_level level, const char *line) {
  (void)udata;
  (void)level;
  (void)line;
}

typedef struct {
  uv_loop_t loop;
  crater_server *srv;
  int port;
  char path[64];  /* the app's file, for reloads */
} rig;

static int rig_start(rig *g) {
  uv_loop_init(&g->loop);
  snprintf(g->path, sizeof(g->path), "/tmp/crater-allocfail-XXXXXX.lua");
  int fd = mkstemps(g->path, 4);
  if (fd < 0) return -1;
  ssize_t n = write(fd, app_src, sizeof(app_src) - 1);
  close(fd);
  if (n != (ssize_t)sizeof(app_src) - 1) return -1;
  crater_config cfg = crater_config_default();
  cfg.log_cb = getenv("ALLOC_FAIL_LOG") ? NULL : quiet;
  cfg.grace_ms = 500;
  if (crater_new(&g->srv, &g->loop, &cfg) != 0) return -1;
  if (crater_load(g->srv, g->path) != 0 || crater_listen(g->srv, "127.0.0.1", 0) != 0) return -1;
  g->port = crater_bound_port(g->srv);
  return 0;
}

static void rig_stop(rig *g) {
  crater__alloc_fail(0, 0);
  crater_close(g->srv, NULL);
  uv_run(&g->loop, UV_RUN_DEFAULT);
  crater_free(g->srv);
  uv_loop_close(&g->loop);
  unlink(g->path);
}

/* A client that must be done within 3 s: a hang is a failure. */
static void watchdog_cb(uv_timer_t *t) {
  spec_client *c = t->data;
  c->error = UV_ETIMEDOUT;
  spec_client_reset(c);
}

static void run_client(rig *g, spec_client *c) {
  uv_timer_t dog;
  uv_timer_init(&g->loop, &dog);
  dog.data = c;
  uv_timer_start(&dog, watchdog_cb, 3000, 0);
  spec_run_until(&g->loop, &c->done);
  uv_close((uv_handle_t *)&dog, NULL);
  uv_run(&g->loop, UV_RUN_NOWAIT);
}

/* What a request under allocation failure may get: a whole answer of the
 * expected status, 500 or 503, or a closed connection (possibly cut off in
 * an answer). Returns 0 when acceptable. */
static int acceptable(const spec_client *c, int want) {
  if (c->error == UV_ETIMEDOUT) return -1;
  if (c->data == NULL || c->len == 0) return 0;
  int status = spec_response_status(c->data);
  return status == want || status == 500 || status == 503 || status < 0 ? 0 : -1;
}

typedef enum { GET_HELLO, POST_ECHO, PIPELINED, STREAM, INJECT_SYNC, INJECT_ASYNC, RELOAD, GZIP, BROTLI,
               GZIP_STREAM } step;

static void on_injected(crater_server *srv, int rc, const crater_response *res, void *udata) {
  (void)srv;
  int *out = udata;
  *out = rc == 0 ? res->status : rc;
}

/* Runs one step; returns 0 when its outcome is acceptable. */
static int run_step(rig *g, step s) {
  static char body[3000];
  spec_client c;
  int rc = 0;
  switch (s) {
    case GET_HELLO:
    case POST_ECHO:
    case STREAM:
      if (s == POST_ECHO) memset(body, 'b', sizeof(body) - 1);
      spec_client_start(&c, &g->loop, g->port, s == POST_ECHO ? "POST" : "GET",
                        s == GET_HELLO ? "/hello" : s == POST_ECHO ? "/echo" : "/stream", NULL,
                        s == POST_ECHO ? body : NULL);
      run_client(g, &c);
      rc = acceptable(&c, 200);
      spec_client_free(&c);
      return rc;
    case PIPELINED:
      spec_client_start_raw(&c, &g->loop, g->port,
                            "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
                            "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
      run_client(g, &c);
      rc = acceptable(&c, 200);
      spec_client_free(&c);
      return rc;
    case INJECT_SYNC: {
      crater_request req = {"POST", "/echo", 0, NULL, 0, "abc", 3};
      crater_response *res = NULL;
      rc = crater_inject_sync(g->srv, &req, &res);
      int ok = rc == CRATER_ENOMEM ||
               (rc == 0 && (res->status == 200 || res->status == 500 || res->status == 503));
      crater_response_free(res);
      return ok ? 0 : -1;
    }
    case INJECT_ASYNC: {
      crater_request req = {"GET", "/hello", 0, NULL, 0, NULL, 0};
      int got = 0;
      rc = crater_inject(g->srv, &req, on_injected, &got);
      if (rc == CRATER_ENOMEM) return 0;
      if (rc != 0) return -1;
      while (got == 0 && uv_run(&g->loop, UV_RUN_ONCE) != 0) {
      }
      return got == 200 || got == 500 || got == 503 || got == CRATER_ENOMEM ? 0 : -1;
    }
    case RELOAD:
      rc = crater_reload(g->srv);
      return rc == 0 || rc == CRATER_ENOMEM || rc == CRATER_ELOAD ? 0 : -1;
    case GZIP:
    case BROTLI:
    case GZIP_STREAM:
      /* Compression out of memory: the answer goes out uncoded (compress.c). */
      spec_client_start_raw(&c, &g->loop, g->port,
                            s == GZIP     ? "GET /gz HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n"
                                            "Connection: close\r\n\r\n"
                            : s == BROTLI ? "GET /gz HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br\r\n"
                                            "Connection: close\r\n\r\n"
                                          : "GET /stream HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n"
                                            "Connection: close\r\n\r\n");
      run_client(g, &c);
      rc = acceptable(&c, 200);
      spec_client_free(&c);
      return rc;
  }
  return -1;
}

/* The server still answers normally. */
static int healthy(rig *g) {
  spec_client c;
  spec_client_start(&c, &g->loop, g->port, "GET", "/hello", NULL, NULL);
  run_client(g, &c);
  int ok = c.data != NULL && spec_response_status(c.data) == 200 && strstr(c.data, "hello") != NULL;
  spec_client_free(&c);
  crater_stats st;
  crater_get_stats(g->srv, &st);
  return ok && st.connections_open == 0 ? 0 : -1;
}

static const char *step_name(step s) {
  static const char *names[] = {"GET", "POST", "pipelined", "stream", "inject_sync", "inject", "reload",
                                "gzip", "brotli", "gzip stream"};
  return names[s];
}

/* Fails allocation n (and with sticky every later one) during step s, for
 * n = 1, 2, ... until the step needs fewer allocations than n. With
 * fresh, each round gets a new server, so accepting is swept too (a
 * reused server has pooled connections and its read buffer already). */
static int sweep(step s, int sticky, int fresh, int *rounds) {
  rig g;
  int started = 0;
  for (long n = 1; n < 500; n++) {
    if (fresh || !started) {
      if (started) rig_stop(&g);
      if (rig_start(&g) != 0) return -1;
      started = 1;
    }
    crater__alloc_fail(n, sticky);
    int rc = run_step(&g, s);
    long failed = crater__alloc_failed();
    crater__alloc_fail(0, 0);
    (*rounds)++;
    if (rc != 0 || healthy(&g) != 0) {
      fprintf(stderr, "  %s: allocation %ld failing%s: %s\n", step_name(s), n,
                      sticky ? " (and all after)" : "", rc != 0 ? "unacceptable answer" : "not serving after");
      rig_stop(&g);
      return -1;
    }
    if (failed == 0) break; /* the step made fewer than n allocations: swept */
  }
  rig_stop(&g);
  return 0;
}

TEST(alloc_fail_sweep_every_allocation) {
  int rounds = 0;
  ASSERT_EQ_INT(sweep(GET_HELLO, 0, 1, &rounds), 0);
  ASSERT_EQ_INT(sweep(GET_HELLO, 1, 1, &rounds), 0);
  for (step s = POST_ECHO; s <= GZIP_STREAM; s++) {
    ASSERT_EQ_INT(sweep(s, 0, 0, &rounds), 0);
    ASSERT_EQ_INT(sweep(s, 1, 0, &rounds), 0);
  }
  printf("     (%d rounds of allocation failure)\n", rounds);
  ASSERT_TRUE(rounds > 40); /* the sweep really failed allocations */
}

#else

TEST(alloc_fail_sweep_every_allocation) {
  printf("     (allocation failures are swept in the fault-injection build: unit_asan)\n");
}

#endif
