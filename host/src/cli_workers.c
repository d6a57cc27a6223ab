/* cli_workers.c - the parent of `crater --workers N`: forks workers that each
 * bind the port with SO_REUSEPORT and run their own loop and VM, restarts a
 * worker that dies, and forwards SIGTERM/SIGINT/SIGHUP to all of them. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_serve.h"
#include "cli_workers.h"

#define MAX_FAST_DEATHS 5 /* workers dying within a second of start, in a row */

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

int crater_cli_supervise(const crater_cli_opts *o) {
  pid_t pids[256];
  time_t started[256];
  int n = o->workers, fast_deaths = 0, stopping = 0, status_out = 0;

  /* Load once here so a broken app fails fast with its message instead of
   * N workers failing in a restart loop. */
  {
    uv_loop_t loop;
    crater_server *srv;
    uv_loop_init(&loop);
    int rc = crater_new(&srv, &loop, &o->cfg);
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

  for (int i = 0; i < n; i++) {
    pids[i] = spawn(o, i + 1, &saved);
    started[i] = time(NULL);
  }
  fprintf(stderr, "crater[%d]: supervising %d workers on http://%s:%d\n", (int)getpid(), n,
          o->host, o->port);

  int alive = n;
  while (alive > 0) {
    int sig = sigwaitinfo(&wanted, NULL);
    if (sig < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (sig != SIGCHLD) {
      if (sig == SIGTERM || sig == SIGINT) stopping = 1;
      else if (stopping) continue; /* no reload for workers on their way out */
      for (int i = 0; i < n; i++)
        if (pids[i] > 0) kill(pids[i], sig);
      continue;
    }
    /* One SIGCHLD may stand for several children. */
    int wstatus;
    pid_t pid;
    while (alive > 0 && (pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
      for (int i = 0; i < n; i++) {
        if (pids[i] != pid) continue;
        pids[i] = 0;
        alive--;
        if (stopping) break;
        if (WIFSIGNALED(wstatus))
          fprintf(stderr, "crater: worker %d (pid %d) killed by signal %d, restarting\n", i + 1,
                  (int)pid, WTERMSIG(wstatus));
        else
          fprintf(stderr, "crater: worker %d (pid %d) exited with status %d, restarting\n", i + 1,
                  (int)pid, WEXITSTATUS(wstatus));
        fast_deaths = time(NULL) - started[i] < 1 ? fast_deaths + 1 : 0;
        if (fast_deaths >= MAX_FAST_DEATHS) {
          fprintf(stderr, "crater: workers keep dying at start; giving up\n");
          stopping = 1;
          status_out = 1;
          for (int j = 0; j < n; j++)
            if (pids[j] > 0) kill(pids[j], SIGTERM);
          break;
        }
        pids[i] = spawn(o, i + 1, &saved);
        started[i] = time(NULL);
        alive++;
        break;
      }
    }
  }
  /* The workers are gone. A signal still pending (a SIGHUP relayed just
   * after the SIGTERM, say) would take its default action the moment the
   * mask is restored and kill the parent with it: the parent is done, so
   * they are ignored (pending ignored signals are discarded). */
  signal(SIGHUP, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  sigprocmask(SIG_SETMASK, &saved, NULL);
  return status_out;
}
