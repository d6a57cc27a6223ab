/* cli_serve.c - one serving process: a loop, a server, and the signals that
 * stop it gracefully. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "cli_serve.h"
#include "watch.h"

typedef struct {
  crater_server *srv;
  uv_signal_t sigterm, sigint, sighup;
  int stopping;
  crater__watch *watch;     /* --reload; NULL otherwise */
} serve_state;

static void on_closed(crater_server *srv) {
  serve_state *st = crater_get_data(srv);
  /* The signal handles were the last thing keeping the loop running. */
  uv_close((uv_handle_t *)&st->sigterm, NULL);
  uv_close((uv_handle_t *)&st->sigint, NULL);
  uv_close((uv_handle_t *)&st->sighup, NULL);
  crater__watch_stop(st->watch);
}

static void on_stop_signal(uv_signal_t *h, int signum) {
  serve_state *st = h->data;
  if (st->stopping) return;
  st->stopping = 1;
  fprintf(stderr, "crater[%d]: %s received, finishing requests in flight\n", (int)getpid(),
          signum == SIGTERM ? "SIGTERM" : "SIGINT");
  crater_close(st->srv, on_closed); /* a second signal is ignored; --grace bounds the wait */
}

static void on_hup(uv_signal_t *h, int signum) {
  serve_state *st = h->data;
  (void)signum;
  if (!st->stopping) crater_reload(st->srv); /* logs the outcome; a failure keeps the old app */
}

int crater_cli_serve(const crater_cli_opts *o, int worker) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  signal(SIGPIPE, SIG_IGN);
  crater_config cfg = o->cfg;
  if (worker > 0) cfg.reuseport = 1;
  serve_state st = {0};
  int rc = crater_new(&st.srv, &loop, &cfg);
  if (rc != 0) {
    fprintf(stderr, "crater: %s\n", crater_strerror(rc));
    return 1;
  }
  rc = crater_load(st.srv, o->app);
  if (rc != 0) {
    fprintf(stderr, "crater: failed to load %s:\n%s\n", o->app, crater_last_error(st.srv));
    crater_free(st.srv);
    uv_loop_close(&loop);
    return 1;
  }
  rc = crater_listen(st.srv, o->host, o->port);
  if (rc != 0) {
    fprintf(stderr, "crater: %s\n", crater_last_error(st.srv));
    uv_run(&loop, UV_RUN_DEFAULT); /* lets the failed listener's close complete */
    crater_free(st.srv);
    uv_loop_close(&loop);
    return 1;
  }
  crater_set_data(st.srv, &st);
  uv_signal_init(&loop, &st.sigterm);
  uv_signal_init(&loop, &st.sigint);
  uv_signal_init(&loop, &st.sighup);
  st.sigterm.data = st.sigint.data = st.sighup.data = &st;
  uv_signal_start(&st.sigterm, on_stop_signal, SIGTERM);
  uv_signal_start(&st.sigint, on_stop_signal, SIGINT);
  uv_signal_start(&st.sighup, on_hup, SIGHUP);
  if (o->reload && crater__watch_start(st.srv, o->app, &st.watch) != 0)
    fprintf(stderr, "crater: --reload: not watching %s (see above); SIGHUP still reloads\n", o->app);
  if (worker > 0)
    fprintf(stderr, "crater[%d]: worker %d serving %s on http://%s:%d\n", (int)getpid(), worker,
            o->app, o->host, crater_bound_port(st.srv));
  else
    fprintf(stderr, "crater: serving %s on http://%s:%d\n", o->app, o->host,
            crater_bound_port(st.srv));
  fflush(stderr);
  uv_run(&loop, UV_RUN_DEFAULT);
  crater_free(st.srv);
  uv_loop_close(&loop);
  return 0;
}
