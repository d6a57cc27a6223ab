/* conn_idle.h - conn_idle.c: a server's idle keep-alive connections, least
 * recently used first: those a new connection may take the place of when
 * max_connections are open. */
#ifndef CRATER_CONN_IDLE_H
#define CRATER_CONN_IDLE_H

#include "server.h"

/* c has answered its requests and waits for the next one: it goes to the
 * end of the list (the most recently used). */
void crater__idle_push(crater_server *srv, crater__conn *c);
/* c is busy again or closing: off the list (nothing when it is not on it). */
void crater__idle_remove(crater_server *srv, crater__conn *c);
/* The least recently used connection on the list that has nothing left to
 * write, or NULL. Looks at a bounded number of them. */
crater__conn *crater__idle_oldest(crater_server *srv);

#endif
