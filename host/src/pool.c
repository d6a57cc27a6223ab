/* pool.c - a pool of connections kept alive for reuse (see pool.h): two
 * intrusive lists, the idle connections (most recently put back first) and
 * the queued connects (first come first), and the count of connections. */
#include "pool.h"

#include <assert.h>
#include <string.h>

static void unlink_idle(crater__pool_conn *pc);

void crater__pool_init(crater__pool *p, const char *name, size_t len) {
  memcpy(p->name, name, len);
  p->name[len] = '\0';
  p->size = CRATER__POOL_SIZE;
  p->backlog = -1;
}

crater__pool_conn *crater__pool_take(crater__pool *p) {
  crater__pool_conn *pc = p->idle_head;
  if (pc != NULL) unlink_idle(pc);
  return pc;
}

int crater__pool_full(const crater__pool *p) { return p->backlog >= 0 && p->conns >= p->size; }

void crater__pool_join(crater__pool *p, crater__pool_conn *pc) {
  assert(pc->pool == NULL);
  pc->pool = p;
  pc->idle = 0;
  p->conns++;
}

void crater__pool_leave(crater__pool_conn *pc) {
  crater__pool *p = pc->pool;
  if (p == NULL) return;
  if (pc->idle) unlink_idle(pc);
  pc->pool = NULL;
  p->conns--;
  /* Its slot goes to the first queued connect, if the limit allows. */
  crater__pool_waiter *w = p->wait_head;
  if (w != NULL && !crater__pool_full(p)) {
    crater__pool_unwait(w);
    w->wake(w, NULL);
  }
}

void crater__pool_put(crater__pool_conn *pc) {
  crater__pool *p = pc->pool;
  assert(p != NULL && !pc->idle);
  crater__pool_waiter *w = p->wait_head;
  if (w != NULL) {
    crater__pool_unwait(w);
    w->wake(w, pc);
    return;
  }
  pc->idle = 1;
  pc->prev = NULL;
  pc->next = p->idle_head;
  if (p->idle_head != NULL) p->idle_head->prev = pc;
  else p->idle_tail = pc;
  p->idle_head = pc;
  p->nidle++;
  while (p->nidle > p->size && p->idle_tail != NULL) {
    crater__pool_conn *lru = p->idle_tail;
    unlink_idle(lru);
    lru->close(lru); /* leaves the pool */
  }
}

int crater__pool_wait(crater__pool *p, crater__pool_waiter *w) {
  if (p->nwaiting >= p->backlog) return -1;
  w->pool = p;
  w->next = NULL;
  w->prev = p->wait_tail;
  if (p->wait_tail != NULL) p->wait_tail->next = w;
  else p->wait_head = w;
  p->wait_tail = w;
  p->nwaiting++;
  return 0;
}

void crater__pool_unwait(crater__pool_waiter *w) {
  crater__pool *p = w->pool;
  if (p == NULL) return;
  if (w->prev != NULL) w->prev->next = w->next;
  else p->wait_head = w->next;
  if (w->next != NULL) w->next->prev = w->prev;
  else p->wait_tail = w->prev;
  w->prev = w->next = NULL;
  w->pool = NULL;
  p->nwaiting--;
}

void crater__pool_drain(crater__pool *p) {
  p->size = 0;
  while (p->idle_head != NULL) {
    crater__pool_conn *pc = p->idle_head;
    unlink_idle(pc);
    pc->close(pc);
  }
  assert(p->wait_head == NULL && p->conns == 0);
}

static void unlink_idle(crater__pool_conn *pc) {
  crater__pool *p = pc->pool;
  if (pc->prev != NULL) pc->prev->next = pc->next;
  else p->idle_head = pc->next;
  if (pc->next != NULL) pc->next->prev = pc->prev;
  else p->idle_tail = pc->prev;
  pc->prev = pc->next = NULL;
  pc->idle = 0;
  p->nidle--;
}
