/* task.h - task.c: Lua work that can wait. A task is one top-level piece
 * of Lua work on a generation -- a request (pipeline.c) or a background
 * timer's run (timer.c) -- made of light threads (uthreads): its main
 * coroutine, which its owner runs, and the threads it spawns
 * (crater.spawn), which this file runs.
 *
 * A C function that must wait (a sleep, a socket read, an embedder's async
 * function) calls crater__task_wait() for the uthread running now, starts
 * its work on the loop and returns lua_yield(L, 0). When the work is done, a
 * loop callback pushes the results on the uthread's coroutine (ut->L) and
 * calls crater__task_resume(): the function's caller gets them as its
 * return values. If the task ends first (client gone, deadline, shutdown,
 * crater.kill), the wait's cancel callback runs instead, exactly once, and
 * the work must not resume it. */
#ifndef CRATER_TASK_H
#define CRATER_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "crater.h"

typedef struct crater__task crater__task;
typedef struct crater__uthread crater__uthread;
typedef struct crater__task_cleanup crater__task_cleanup;
typedef struct crater__gen crater__gen; /* vm.h */

/* Uthread states. */
enum {
  CRATER__UT_IDLE = 0, /* not started, or its coroutine returned to the pool */
  CRATER__UT_RUNNING,  /* resumed (maybe with others above it: a spawn runs at once) */
  CRATER__UT_WAITING,  /* suspended in crater__task_wait */
  CRATER__UT_DONE,     /* returned: its results wait on its stack for crater.wait */
  CRATER__UT_FAILED,   /* raised: its message waits for crater.wait */
  CRATER__UT_KILLED    /* crater.kill, or its task ended first */
};

struct crater__uthread {
  crater__task *task;
  struct lua_State *L;        /* its coroutine; registry ref `ref` in the task's generation */
  int ref;
  int state;                  /* CRATER__UT_* */
  uint64_t wait_seq;          /* counts waits: a stale completion is recognised */
  void (*cancel)(void *data); /* while WAITING: stops what it waits for */
  void *cancel_data;
  crater__uthread *next;      /* the task's spawned threads */
  crater__uthread *joiner;    /* a uthread waiting in crater.wait for this one */
  int joined;                 /* crater.wait collected its results */
  int early;                  /* async.c: a wait completed inside the function that
                                 began it, with early - 1 results (0: none) */
  struct crater__uthread *wake_next; /* the server's queue of wakes (task.c's queue_wake) */
  uint64_t wake_seq;          /* the wait a queued wake is for */
  struct crater__uthread *told_next; /* its task's list of interrupted waits (crater__task_interrupt) */
  int handle_ref;             /* spawned: registry ref of its userdata, held by the task */
};

/* Something a task's end must release that outlives any one wait (a socket
 * the task opened). Its owner embeds it and sets fn; the task calls fn once
 * when it ends, after every wait was cancelled, unless it was removed
 * first. fn must not run Lua. */
struct crater__task_cleanup {
  void (*fn)(crater__task_cleanup *c);
  crater__task_cleanup *next, **pprev; /* the task's list (task.c) */
};

struct crater__task {
  crater_server *srv;
  crater__gen *gen;           /* the owner pins it for the task's life */
  crater__uthread main;       /* the owner's coroutine (the owner sets L, ref) */
  crater__uthread *spawned;   /* crater.spawn's threads, newest first */
  int nspawned;
  crater__task_cleanup *cleanups; /* run by crater__task_end, newest first */
  crater__uthread *told;      /* interrupted waits not resumed yet (crater__task_interrupt) */
  /* The owner resumes its main coroutine (results pushed on main.L). */
  void (*resume_main)(crater__task *t, int nresults);
  /* Names the task in a log line ("GET /path from 1.2.3.4:5", "timer ..."). */
  void (*describe)(crater__task *t, char *buf, size_t size);
};

/* Sets up t (zeroed) for an owner. */
void crater__task_init(crater__task *t, crater_server *srv, crater__gen *g,
                       void (*resume_main)(crater__task *, int),
                       void (*describe)(crater__task *, char *, size_t));

/* The uthread running now on this server, or NULL (no task runs). */
crater__uthread *crater__task_current(crater_server *srv);

/* Marks the uthread running L as waiting for work that will call
 * crater__task_resume (or, if the task ends first, cancel(data)). Returns
 * the uthread, or NULL with a message on L's stack when L cannot wait here
 * (outside any task, or inside a coroutine the app made itself). */
crater__uthread *crater__task_wait(crater_server *srv, struct lua_State *L,
                                   void (*cancel)(void *), void *data, const char **why);

/* A wait that ended before the C function that began it returned (no
 * yield needed): ut is running again, its cancel callback dropped. */
void crater__task_unwait(crater__uthread *ut);

/* The work a waiting uthread waited for is done: its results are pushed on
 * ut->L (nresults of them). Runs the uthread (or hands its main coroutine
 * to the owner). */
void crater__task_resume(crater__uthread *ut, int nresults);

/* Runs the main coroutine's L with nargs (the owner's resume, for it to
 * use around lua_resume): sets the running uthread. Returns lua_resume's. */
int crater__task_run_main(crater__task *t, int nargs);

/* The owner's task is over: threads still running are killed (a log line
 * says how many), failures nobody collected are logged, the main
 * uthread's wait, if any, is cancelled, then the cleanups run. Frees the
 * spawned threads. */
void crater__task_end(crater__task *t);

/* The owner's client went away (pipeline.c, a stream's): each wait in
 * progress of t's uthreads ends with nil, "closed" -- what it waits for is
 * cancelled, as when the task ends, and the uthread runs on -- but for a
 * crater.wait on another thread, which ends when that one does. Must be
 * called from the loop (no Lua running): resumes them before returning.
 * Later waits work as usual. */
void crater__task_interrupt(crater__task *t);

/* Adds c to t's cleanups; removes it (nothing when it is in no list). */
void crater__task_defer(crater__task *t, crater__task_cleanup *c);
void crater__task_undefer(crater__task_cleanup *c);

/* crater.spawn(fn, ...), crater.wait(t...), crater.kill(t) (lua_CFunction;
 * upvalue 1: the server, a light userdata). */
int crater__task_spawn(struct lua_State *L);
int crater__task_join(struct lua_State *L);
int crater__task_kill(struct lua_State *L);
int crater__task_in_task(struct lua_State *L);

#endif
