/* ws.h - ws.c: one WebSocket after its upgrade (RFC 6455): the handshake's
 * checks and answer, frames in and out through its transport, the close
 * handshake, and the Lua object its handler holds (docs/websockets.md).
 *
 * The socket stays the transport's (conn.c): it hands the bytes it reads
 * here and writes what this file gives it through crater__ws_io. The
 * WebSocket lives inside the request that upgraded: its handler runs in
 * the request's task, so it keeps the request's generation pinned until
 * the handler returns, and waits (receive, a send to a slow client) with
 * task.h. */
#ifndef CRATER_WS_H
#define CRATER_WS_H

#include <stddef.h>

#include <lua.h>

#include "crater.h"

typedef struct crater__ws crater__ws;

/* What the transport does for a WebSocket. */
typedef struct crater__ws_io_s {
  /* Queues alen bytes at a, then blen at b (a frame's head and payload:
   * one send for both), for the client. Returns 0; 1 when the client is
   * behind (crater__ws_drained follows once it has caught up); -1 when
   * the connection is gone. */
  int (*write)(void *ctx, const char *a, size_t alen, const char *b, size_t blen);
  /* on 1: hand input to crater__ws_input (what arrived after the
   * handshake first); on 0: stop reading for now (backpressure). */
  void (*read)(void *ctx, int on);
} crater__ws_io;

/* Bytes the client sent. They are unmasked where they are: data is the
 * transport's buffer, changed here. */
void crater__ws_input(crater__ws *ws, char *data, size_t len);
/* The client's side ended (EOF or a read error): closed, 1006 unless a
 * close frame came first. */
void crater__ws_eof(crater__ws *ws);
/* What was written has gone: a send waiting on a slow client goes on. */
void crater__ws_drained(crater__ws *ws);
/* The server stops: a close frame 1001 goes out, receive returns closed. */
void crater__ws_going_away(crater__ws *ws);
/* The request ended (its handler returned, or the connection closed after
 * its task was ended): frees ws. */
void crater__ws_free(crater__ws *ws);

/* Adds ws_handshake and ws_upgrade to the `crater.host` table on top of
 * L's stack (closures over srv). */
void crater__ws_register(lua_State *L, crater_server *srv);

#endif
