/* server.c - the crater_server object: create, listen, close, free. */
#include "server.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "compress.h"
#include "config.h"
#include "conn.h"
#include "inject.h"
#include "log.h"
#include "luadir.h"
#include "register.h"
#include "reload.h"
#include "sqlite.h"
#include "request.h"
#include "timer.h"
#include "watchdog.h"

static int add_listener(crater_server *srv, uv_tcp_t *t, const char *what);
static void on_connection(uv_stream_t *listener, int status);
static void listener_closed(uv_handle_t *h);
static void grace_timer_cb(uv_timer_t *t);
static void grace_closed(uv_handle_t *h);

int crater_new(crater_server **out, uv_loop_t *loop, const crater_config *cfg) {
  if (out == NULL || loop == NULL) return CRATER_EINVAL;
  crater_server *srv = crater__calloc(1, sizeof(*srv));
  if (srv == NULL) return CRATER_ENOMEM;
  srv->loop = loop;
  if (crater__config_copy(&srv->cfg, cfg) != 0) {
    crater__free(srv);
    return CRATER_EINVAL;
  }
  srv->lua_path = crater__lua_dir(srv->cfg.lua_path);
  if (srv->lua_path == NULL) {
    crater__free(srv);
    return CRATER_ENOMEM;
  }
  srv->cfg.lua_path = srv->lua_path;
  int nomem = 0;
  if (srv->cfg.upload_dir != NULL) {
    size_t n = strlen(srv->cfg.upload_dir) + 1;
    srv->upload_dir = crater__malloc(n);
    if (srv->upload_dir != NULL) memcpy(srv->upload_dir, srv->cfg.upload_dir, n);
    else nomem = 1;
    srv->cfg.upload_dir = srv->upload_dir;
  }
  if (nomem || crater__watchdog_start(srv) != 0) {
    crater__free(srv->upload_dir);
    crater__free(srv->lua_path);
    crater__free(srv);
    return CRATER_ENOMEM;
  }
  *out = srv;
  return 0;
}

const char *crater_last_error(const crater_server *srv) { return srv ? srv->last_error : ""; }

int crater_listen(crater_server *srv, const char *host, int port) {
  if (srv == NULL) return CRATER_EINVAL;
  if (host == NULL || port < 0 || port > 65535)
    return crater__fail(srv, CRATER_EINVAL, "crater_listen: no host, or port %d not in 0-65535", port);
  if (srv->closing) return crater__fail(srv, CRATER_ESTATE, "crater_listen: the server is closing");
  if (srv->nlisteners == CRATER__MAX_LISTENERS)
    return crater__fail(srv, CRATER_ESTATE, "crater_listen: %d listeners already", CRATER__MAX_LISTENERS);
  /* The address first: nothing of the app runs for a call that cannot work. */
  struct sockaddr_storage ss;
  if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
    return crater__fail(srv, CRATER_EINVAL, "not an IP address: %s", host);
  uv_tcp_t *t = crater__calloc(1, sizeof(*t));
  if (t == NULL) return crater__fail(srv, CRATER_ENOMEM, "out of memory");
  int rc = uv_tcp_init_ex(srv->loop, t, ss.ss_family);
  if (rc != 0) {
    crater__free(t);
    return crater__fail(srv, rc, "socket: %s", uv_strerror(rc));
  }
  t->data = srv;
  if (srv->cfg.reuseport) {
    /* libuv 1.44 has no UV_TCP_REUSEPORT; set it on the fd before bind so
     * every worker can bind the same port and the kernel spreads connections. */
    uv_os_fd_t fd;
    int one = 1;
    if (uv_fileno((uv_handle_t *)t, &fd) == 0)
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  }
  rc = uv_tcp_bind(t, (struct sockaddr *)&ss, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)t, 1024, on_connection);
  if (rc != 0) {
    uv_close((uv_handle_t *)t, (uv_close_cb)crater__free);
    return crater__fail(srv, rc, "listen on %s:%d: %s", host, port, uv_strerror(rc));
  }
  return add_listener(srv, t, host);
}

int crater_listen_fd(crater_server *srv, int fd) {
  if (srv == NULL) return CRATER_EINVAL;
  if (fd < 0) return crater__fail(srv, CRATER_EINVAL, "crater_listen_fd: bad fd %d", fd);
  if (srv->closing || srv->nlisteners == CRATER__MAX_LISTENERS) {
    close(fd);
    return crater__fail(srv, CRATER_ESTATE, "crater_listen_fd: closing, or %d listeners already",
                        CRATER__MAX_LISTENERS);
  }
  uv_tcp_t *t = crater__calloc(1, sizeof(*t));
  if (t == NULL) {
    close(fd);
    return crater__fail(srv, CRATER_ENOMEM, "out of memory");
  }
  int rc = uv_tcp_init(srv->loop, t);
  if (rc != 0) {
    crater__free(t);
    close(fd);
    return crater__fail(srv, rc, "socket: %s", uv_strerror(rc));
  }
  t->data = srv;
  rc = uv_tcp_open(t, fd);
  if (rc != 0) close(fd); /* not the handle's yet */
  if (rc == 0) rc = uv_listen((uv_stream_t *)t, 1024, on_connection);
  if (rc != 0) {
    uv_close((uv_handle_t *)t, (uv_close_cb)crater__free);
    return crater__fail(srv, rc, "listen on fd %d: %s", fd, uv_strerror(rc));
  }
  return add_listener(srv, t, "fd");
}

/* The listener works: now the app starts serving (its on_start hooks run
 * at the first listen). If a hook fails, the listener goes again. */
static int add_listener(crater_server *srv, uv_tcp_t *t, const char *what) {
  (void)what;
  if (crater__reload_start(srv) != 0) {
    crater__timer_cancel(srv, srv->gen->id); /* what the failed hooks started */
    uv_close((uv_handle_t *)t, (uv_close_cb)crater__free);
    return CRATER_ELOAD; /* the hook's message is in last_error */
  }
  srv->listeners[srv->nlisteners++] = t;
  return 0;
}

int crater_bound_port(const crater_server *srv) {
  if (srv == NULL) return CRATER_EINVAL;
  if (srv->nlisteners == 0) return CRATER_ESTATE;
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  int rc = uv_tcp_getsockname(srv->listeners[0], (struct sockaddr *)&ss, &len);
  if (rc != 0) return rc;
  if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void on_connection(uv_stream_t *listener, int status) {
  crater_server *srv = listener->data;
  if (status != 0) {
    crater__log(srv, CRATER_LOG_WARN, "accept: %s", uv_strerror(status));
    return;
  }
  crater__conn_accept(srv, listener);
}

/* ===================================================================== */
/*  Closing                                                                */
/* ===================================================================== */

int crater_close(crater_server *srv, crater_close_cb cb) {
  if (srv == NULL) return CRATER_EINVAL;
  if (srv->closing) return crater__fail(srv, CRATER_ESTATE, "crater_close: called already");
  srv->closing = 1;
  srv->close_cb = cb;
  if (srv->gen != NULL) crater__timer_expire(srv, srv->gen->id); /* premature runs */
  srv->drop_pending = NULL; /* its listener closes below */
  for (int i = 0; i < srv->nlisteners; i++) {
    srv->open_handles++;
    srv->listeners[i]->data = srv;
    uv_close((uv_handle_t *)srv->listeners[i], listener_closed);
  }
  srv->nlisteners = 0;
  uv_timer_init(srv->loop, &srv->grace_timer);
  srv->grace_timer.data = srv;
  srv->open_handles++;
  uv_timer_start(&srv->grace_timer, grace_timer_cb, srv->cfg.grace_ms, 0);
  uv_unref((uv_handle_t *)&srv->grace_timer);
  crater__conn *c = srv->conns;
  while (c != NULL) {
    crater__conn *next = c->next;
    crater__conn_drain(c);
    c = next;
  }
  crater__server_maybe_done(srv);
  return 0;
}

static void listener_closed(uv_handle_t *h) {
  crater_server *srv = h->data;
  crater__free(h);
  srv->open_handles--;
  crater__server_maybe_done(srv);
}

/* The grace period is over: what is still running is cut off. */
static void grace_timer_cb(uv_timer_t *t) {
  crater_server *srv = t->data;
  int n = 0;
  for (crater__conn *c = srv->conns; c != NULL; c = c->next) n++;
  if (n > 0) crater__log(srv, CRATER_LOG_WARN, "grace period over: closing %d connection(s)", n);
  crater__conn *c = srv->conns;
  while (c != NULL) {
    crater__conn *next = c->next;
    crater__conn_close(c);
    c = next;
  }
  crater__inject_abort_all(srv);
  crater__timer_kill_all(srv);
}

void crater__server_maybe_done(crater_server *srv) {
  if (!srv->closing || srv->conns != NULL || srv->injecting > 0 || srv->drop_busy ||
      crater__timer_running(srv) > 0)
    return;
  /* Only the grace timer left: close it; its callback finishes the close. */
  if (srv->open_handles == 1 && !uv_is_closing((uv_handle_t *)&srv->grace_timer))
    uv_close((uv_handle_t *)&srv->grace_timer, grace_closed);
}

/* Everything is closed: the app's last Lua runs (on_stop), then the
 * embedder hears of it. After close_cb nothing of this server runs. */
static void grace_closed(uv_handle_t *h) {
  crater_server *srv = h->data;
  srv->open_handles--;
  if (srv->open_handles != 0 || srv->conns != NULL || srv->closed) return;
  crater__reload_retire_serving(srv);
  crater__sqlite_close_all(srv); /* after the last Lua: no statement can be asked any more */
  srv->closed = 1;
  if (srv->close_cb) {
    crater_close_cb cb = srv->close_cb;
    srv->close_cb = NULL;
    cb(srv);
  }
}

void crater__server_conn_closed(crater_server *srv, crater__conn *c) {
  if (c->prev) c->prev->next = c->next;
  else srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  srv->stats.connections_open--;
  c->next = srv->free_conns;
  c->prev = NULL;
  srv->free_conns = c;
  crater__server_maybe_done(srv);
}

void crater_free(crater_server *srv) {
  if (srv == NULL) return;
  crater__watchdog_stop(srv); /* first: its thread reads what the rest frees */
  crater__reload_retire_serving(srv); /* a server that never listened: its state */
  crater__sqlite_close_all(srv);
  crater__conn_pool_free(srv);
  crater__request_pool_free(srv);
  crater__registry_free(srv);
  crater__compress_free(srv);
  crater__free(srv->read_buf);
  crater__free(srv->lua_path);
  crater__free(srv->upload_dir);
  crater__free(srv->stale_error);
  crater__free(srv);
}

void crater_get_stats(const crater_server *srv, crater_stats *out) { *out = srv->stats; }

void crater_set_data(crater_server *srv, void *data) { srv->data = data; }

void *crater_get_data(const crater_server *srv) { return srv->data; }
