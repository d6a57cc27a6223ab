/* conn_idle.c - the list of idle keep-alive connections (see conn_idle.h).
 * conn.c keeps it: a connection joins when it has answered and waits, and
 * leaves when the next request begins or it closes. */
#include "conn_idle.h"

#include "conn.h"

/* Connections at the head may still be writing their last answer to a
 * client that does not read: skipping that many at most keeps a full
 * server's accept from walking the whole list. */
#define OLDEST_SCAN 64

void crater__idle_push(crater_server *srv, crater__conn *c) {
  if (c->idle_linked) {
    if (srv->idle_tail == c) return;
    crater__idle_remove(srv, c);
  }
  c->idle_next = NULL;
  c->idle_prev = srv->idle_tail;
  if (srv->idle_tail != NULL) srv->idle_tail->idle_next = c;
  else srv->idle_head = c;
  srv->idle_tail = c;
  c->idle_linked = 1;
}

void crater__idle_remove(crater_server *srv, crater__conn *c) {
  if (!c->idle_linked) return;
  if (c->idle_prev != NULL) c->idle_prev->idle_next = c->idle_next;
  else srv->idle_head = c->idle_next;
  if (c->idle_next != NULL) c->idle_next->idle_prev = c->idle_prev;
  else srv->idle_tail = c->idle_prev;
  c->idle_next = c->idle_prev = NULL;
  c->idle_linked = 0;
}

crater__conn *crater__idle_oldest(crater_server *srv) {
  int n = 0;
  for (crater__conn *c = srv->idle_head; c != NULL && n < OLDEST_SCAN; c = c->idle_next, n++) {
    if (c->state == CONN_IDLE && c->out.len == 0 &&
        !(c->flags & (CONN_F_WRITING | CONN_F_INFLIGHT | CONN_F_CLOSED | CONN_F_FINISH | CONN_F_OUT_FULL)))
      return c;
  }
  return NULL;
}
