/* cli_serve.c - one serving process: a loop, a server, the signals that
 * stop it gracefully, and its end when a stop outlives the grace period or
 * the watchdog finds a handler stuck where it cannot be interrupted. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli_serve.h"
#include "watch.h"
#include "watchdog.h"

/* The exit status of a process whose loop was stuck in code the watchdog
 * could not interrupt (EX_SOFTWARE). */
#define STUCK_EXIT 70

typedef struct {
  crater_server *srv;
  uv_signal_t sigterm, sigint, sighup;
  int stopping;
  crater__watch *watch;     /* --reload; NULL otherwise */
} serve_state;

/* The loop takes SIGTERM and SIGINT through libuv, so a loop stuck in a
 * handler never sees them. This handler runs in the signal itself, before
 * libuv's: it arms an alarm for the grace period and a second, and
 * on_stop_late ends the process then if the loop has not ended it first.
 * Process-level state, as signals are. */
static struct sigaction uv_stop_action[2]; /* libuv's handlers: SIGTERM, SIGINT */
static unsigned stop_deadline_s;
static volatile sig_atomic_t stop_armed;

static void on_stop_late(int signum) {
  (void)signum;
  static const char msg[] = "crater: still running 1 s after the grace period (a handler stuck in "
                            "code the watchdog cannot interrupt?): exiting with status 1\n";
  ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
  (void)w;
  _exit(1);
}

static void on_stop_raw(int signum, siginfo_t *info, void *uctx) {
  if (!stop_armed) {
    stop_armed = 1;
    alarm(stop_deadline_s);
  }
  struct sigaction *a = &uv_stop_action[signum == SIGTERM ? 0 : 1];
  if (a->sa_flags & SA_SIGINFO) a->sa_sigaction(signum, info, uctx);
  else if (a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN) a->sa_handler(signum);
}

static void chain_stop_signal(int signum, uint64_t grace_ms) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  stop_deadline_s = (unsigned)((grace_ms + 999) / 1000) + 1;
  if (sigaction(signum, NULL, &uv_stop_action[signum == SIGTERM ? 0 : 1]) != 0) return;
  sa.sa_sigaction = on_stop_raw;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  sigaction(signum, &sa, NULL);
  signal(SIGALRM, on_stop_late);
}

/* On the watchdog's thread: the loop is stuck in code nothing can interrupt,
 * so ending the process is all that is left. --workers' parent replaces it;
 * a single process is restarted by its supervisor (systemd). */
static void on_stuck(void *ud, const char *what) {
  char line[768];
  int n = snprintf(line, sizeof(line), "crater[%d]: %s%s; exiting with status %d to be replaced\n",
                   (int)getpid(), ud ? "worker: " : "", what, STUCK_EXIT);
  if (n > 0) {
    ssize_t w = write(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    (void)w;
  }
  _exit(STUCK_EXIT);
}

void crater_cli_exit_stuck_load(void *ud, const char *what) {
  (void)ud;
  char line[768];
  int n = snprintf(line, sizeof(line), "crater: %s; exiting\n", what);
  if (n > 0) {
    ssize_t w = write(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    (void)w;
  }
  _exit(1);
}

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
  crater__watchdog_on_stuck(st.srv, on_stuck, worker > 0 ? &st : NULL); /* the app's file too */
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
  chain_stop_signal(SIGTERM, cfg.grace_ms);
  chain_stop_signal(SIGINT, cfg.grace_ms);
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
