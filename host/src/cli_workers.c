/* cli_workers.c - the parent of `crater --workers N`: forks workers that each
 * bind the port with SO_REUSEPORT and run their own loop and VM, restarts a
 * worker that dies (with a growing delay when it dies young), forwards
 * SIGTERM/SIGINT/SIGHUP to all of them, and kills those a stop leaves
 * running past its grace period. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_serve.h"
#include "cli_workers.h"
#include "watchdog.h"

/* A worker that dies sooner than STABLE_MS after it started is restarted
 * after a delay that doubles from BACKOFF_FIRST_MS up to BACKOFF_MAX_MS (a
 * crash on every request, an app file that no longer loads): the parent
 * never gives up while it is asked to run, and never spins. */
#define STABLE_MS 10000
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 30000
/* After SIGTERM/SIGINT, a worker still running grace + KILL_AFTER_MS later
 * (its loop stuck where even its own alarm did not end it) is SIGKILLed. */
#define KILL_AFTER_MS 2000

typedef struct {
  pid_t pid;          /* 0: not running */
  uint64_t started;   /* ms */
  uint64_t backoff;   /* ms before the next restart of this slot; 0: at once */
  uint64_t respawn_at;/* ms; 0: none pending */
} worker_slot;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The parent takes its signals synchronously (sigwaitinfo on a blocked
 * set): a flag set by a handler can be overwritten (SIGTERM then SIGHUP lost
 * the SIGTERM) or arrive just before a blocking waitpid and wait there for
 * the next child event. Blocked signals stay pending until taken, each kind
 * once. SIGCHLD needs a handler of its own: with the default disposition a
 * kernel may discard it even while blocked. */
static void on_child(int signum) { (void)signum; }

static pid_t spawn(const crater_cli_opts *o, int n, const sigset_t *parent_mask) {
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    /* Ignored, not default, until the worker's loop handles it: a reload
     * relayed while a worker starts must not kill it. */
    signal(SIGHUP, SIG_IGN);
    sigprocmask(SIG_SETMASK, parent_mask, NULL);
    _exit(crater_cli_serve(o, n));
  }
  return pid;
}

/* Starts the workers whose restart is due; returns how many. */
static int respawn_due(worker_slot *w, int n, const crater_cli_opts *o, const sigset_t *mask,
                       uint64_t now) {
  int started = 0;
  for (int i = 0; i < n; i++) {
    if (w[i].pid != 0 || w[i].respawn_at == 0 || w[i].respawn_at > now) continue;
    w[i].respawn_at = 0;
    w[i].pid = spawn(o, i + 1, mask);
    w[i].started = now_ms();
    if (w[i].pid > 0) {
      started++;
      continue;
    }
    /* fork failed (out of memory, process limit): try again later. */
    w[i].pid = 0;
    w[i].backoff = w[i].backoff == 0 ? BACKOFF_FIRST_MS
                   : w[i].backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w[i].backoff * 2;
    w[i].respawn_at = now + w[i].backoff;
    fprintf(stderr, "crater: cannot start worker %d (%s); retrying in %.1f s\n", i + 1, strerror(errno),
            (double)w[i].backoff / 1000);
  }
  return started;
}

/* Logs a worker's end and schedules its restart. */
static void worker_ended(worker_slot *w, int i, pid_t pid, int wstatus, uint64_t now) {
  uint64_t ran = now - w->started;
  w->backoff = ran >= STABLE_MS ? 0
               : w->backoff == 0 ? BACKOFF_FIRST_MS
               : w->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff * 2;
  char how[64];
  if (WIFSIGNALED(wstatus)) snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(wstatus));
  else snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(wstatus));
  char when[48] = "";
  if (w->backoff > 0) snprintf(when, sizeof(when), " in %.1f s", (double)w->backoff / 1000);
  fprintf(stderr, "crater: worker %d (pid %d) %s, restarting%s (it ran %.1f s)\n", i + 1, (int)pid,
          how, when, (double)ran / 1000);
  w->respawn_at = now + w->backoff;
}

int crater_cli_supervise(const crater_cli_opts *o) {
  worker_slot w[256];
  int n = o->workers, stopping = 0;
  uint64_t kill_at = 0;
  memset(w, 0, sizeof(w));

  /* Load once here so a broken app fails fast with its message instead of
   * N workers failing in a restart loop. */
  {
    uv_loop_t loop;
    crater_server *srv;
    uv_loop_init(&loop);
    int rc = crater_new(&srv, &loop, &o->cfg);
    if (rc == 0) crater__watchdog_on_stuck(srv, crater_cli_exit_stuck_load, NULL);
    if (rc == 0 && crater_load(srv, o->app) != 0) {
      fprintf(stderr, "crater: failed to load %s:\n%s\n", o->app, crater_last_error(srv));
      crater_free(srv);
      uv_loop_close(&loop);
      return 1;
    }
    crater_free(srv);
    uv_loop_close(&loop);
  }

  sigset_t wanted, saved;
  sigemptyset(&wanted);
  sigaddset(&wanted, SIGTERM);
  sigaddset(&wanted, SIGINT);
  sigaddset(&wanted, SIGHUP);
  sigaddset(&wanted, SIGCHLD);
  sigprocmask(SIG_BLOCK, &wanted, &saved);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_child;
  sigaction(SIGCHLD, &sa, NULL);

  uint64_t t0 = now_ms();
  for (int i = 0; i < n; i++) w[i].respawn_at = t0;
  int alive = respawn_due(w, n, o, &saved, t0);
  fprintf(stderr, "crater[%d]: supervising %d workers on http://%s:%d\n", (int)getpid(), n,
          o->host, o->port);

  while (!stopping || alive > 0) {
    /* The next thing due: a restart, or the end of a stop's grace. */
    uint64_t now = now_ms(), due = 0;
    for (int i = 0; i < n; i++)
      if (w[i].pid == 0 && w[i].respawn_at != 0 && (due == 0 || w[i].respawn_at < due))
        due = w[i].respawn_at;
    if (stopping) due = kill_at;
    int sig;
    if (due == 0) {
      sig = sigwaitinfo(&wanted, NULL);
    } else {
      uint64_t wait = due > now ? due - now : 0;
      struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000};
      sig = sigtimedwait(&wanted, NULL, &ts);
    }
    now = now_ms();
    if (sig < 0 && errno != EAGAIN) {
      if (errno == EINTR) continue;
      break;
    }
    if (sig < 0 && stopping && now >= kill_at) {
      for (int i = 0; i < n; i++) {
        if (w[i].pid <= 0) continue;
        fprintf(stderr, "crater: worker %d (pid %d) still running %.1f s after the stop: killed\n",
                i + 1, (int)w[i].pid, (double)(o->cfg.grace_ms + KILL_AFTER_MS) / 1000);
        kill(w[i].pid, SIGKILL);
      }
      kill_at = now + 60000; /* reaped below as SIGCHLDs come */
      continue;
    }
    if (sig < 0) {
      alive += respawn_due(w, n, o, &saved, now);
      continue;
    }
    if (sig != SIGCHLD) {
      if (sig == SIGTERM || sig == SIGINT) {
        if (!stopping) kill_at = now + o->cfg.grace_ms + KILL_AFTER_MS;
        stopping = 1;
      } else if (stopping) {
        continue; /* no reload for workers on their way out */
      }
      for (int i = 0; i < n; i++)
        if (w[i].pid > 0) kill(w[i].pid, sig);
      continue;
    }
    /* One SIGCHLD may stand for several children. */
    int wstatus;
    pid_t pid;
    while (alive > 0 && (pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
      for (int i = 0; i < n; i++) {
        if (w[i].pid != pid) continue;
        w[i].pid = 0;
        alive--;
        if (!stopping) worker_ended(&w[i], i, pid, wstatus, now);
        break;
      }
    }
    if (!stopping) alive += respawn_due(w, n, o, &saved, now);
  }
  /* The workers are gone. A signal still pending (a SIGHUP relayed just
   * after the SIGTERM, say) would take its default action the moment the
   * mask is restored and kill the parent with it: the parent is done, so
   * they are ignored (pending ignored signals are discarded). */
  signal(SIGHUP, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  sigprocmask(SIG_SETMASK, &saved, NULL);
  return 0;
}
