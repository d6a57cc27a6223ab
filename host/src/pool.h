/* pool.h - pool.c: a pool of connections kept alive for reuse (the
 * cosockets' setkeepalive). Its owner (socket.c: one pool per name and
 * generation) gives its memory and drains it when done.
 *
 * A pool counts the connections made under its name (idle or in use) and
 * keeps up to `size` idle ones, closing the least recently used beyond
 * that. With a backlog (>= 0), it also limits its connections to `size`:
 * a connect beyond the limit queues (at most `backlog` of them) until a
 * connection of the pool is put back (handed over) or closed (its slot).
 *
 * The pool knows nothing of sockets: a connection embeds a
 * crater__pool_conn and gives the callback that closes it; a queued connect
 * embeds a crater__pool_waiter and gives the callback that wakes it. The
 * pool calls them synchronously, from inside the call that frees the
 * connection or slot (another request's Lua may be running): a wake must
 * only record what it got and go on later, on the loop. */
#ifndef CRATER_POOL_H
#define CRATER_POOL_H

#include <stddef.h>

typedef struct crater__pool crater__pool;
typedef struct crater__pool_conn crater__pool_conn;
typedef struct crater__pool_waiter crater__pool_waiter;

struct crater__pool_conn {
  crater__pool *pool;              /* counted in it while set */
  crater__pool_conn *prev, *next;  /* its idle list, while idle */
  int idle;                        /* 1 while in the idle list */
  /* The pool drops it (evicted, or the pool's state is closing): close it;
   * closing calls crater__pool_leave. */
  void (*close)(crater__pool_conn *pc);
};

struct crater__pool_waiter {
  crater__pool *pool;              /* queued in it while set */
  crater__pool_waiter *prev, *next;
  /* Its turn: pc is a connection of the pool handed over (counted, not
   * idle: the waiter owns it now), or NULL: a connection may be made, and
   * the wake must crater__pool_join() it before returning. */
  void (*wake)(crater__pool_waiter *w, crater__pool_conn *pc);
};

struct crater__pool {
  int size;                        /* idle connections kept; with a backlog, the limit */
  int backlog;                     /* connects that may queue; -1: no limit, no queue */
  int conns;                       /* joined, not yet left (idle or in use) */
  int nidle;
  int nwaiting;
  crater__pool_conn *idle_head, *idle_tail;   /* most recently put back first */
  crater__pool_waiter *wait_head, *wait_tail; /* first come first */
  char name[];                     /* NUL-terminated */
};

#define CRATER__POOL_SIZE 30       /* a pool's size unless told otherwise */

/* Sets up p, zeroed memory of sizeof(*p) + len + 1 bytes, as the pool
 * called name, of size CRATER__POOL_SIZE and with no backlog. */
void crater__pool_init(crater__pool *p, const char *name, size_t len);

/* The owner is done with p: its idle connections are closed. No other
 * connection may be left in it, nor a connect queued. */
void crater__pool_drain(crater__pool *p);

/* The most recently put back idle connection (now in use), or NULL. */
crater__pool_conn *crater__pool_take(crater__pool *p);

/* 1 when a new connection would go over the pool's limit (backlog only). */
int crater__pool_full(const crater__pool *p);

/* pc, a new connection, counts in p from now. */
void crater__pool_join(crater__pool *p, crater__pool_conn *pc);

/* pc is closing: it no longer counts (nothing when it was in no pool). A
 * queued connect may get its slot. */
void crater__pool_leave(crater__pool_conn *pc);

/* pc is free for reuse: handed to the first queued connect, or kept idle
 * (and the least recently used beyond the size closed: pc itself when the
 * size is 0). */
void crater__pool_put(crater__pool_conn *pc);

/* Queues w for a connection of p. Returns 0, or -1 when `backlog` connects
 * are queued already. */
int crater__pool_wait(crater__pool *p, crater__pool_waiter *w);

/* w leaves its queue (nothing when it is in none). */
void crater__pool_unwait(crater__pool_waiter *w);

#endif
