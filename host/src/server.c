/* server.c - the crater_server object: create, load, listen, close. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "conn.h"
#include "reload.h"
#include "vm.h"

static void on_connection(uv_stream_t *listener, int status);
static void listener_closed(uv_handle_t *h);
static void grace_timer_cb(uv_timer_t *t);

int crater_new(crater_server **out, uv_loop_t *loop, const crater_config *cfg) {
  if (out == NULL || loop == NULL) return CRATER_EINVAL;
  crater_server *srv = crater__calloc(1, sizeof(*srv));
  if (srv == NULL) return CRATER_ENOMEM;
  srv->loop = loop;
  srv->cfg = cfg ? *cfg : crater_config_default();
  srv->lua_path = crater__lua_dir(srv->cfg.lua_path);
  if (srv->lua_path == NULL) {
    crater__free(srv);
    return CRATER_ENOMEM;
  }
  srv->cfg.lua_path = srv->lua_path;
  *out = srv;
  return 0;
}

/* The common end of crater_load() and crater_load_string(): rc and g from
 * crater__gen_load*(), name for messages, t0 when loading began. */
static int install_loaded(crater_server *srv, int rc, crater__gen *g, const char *name,
                          uint64_t t0) {
  if (rc != 0) {
    crater__log(srv, CRATER_LOG_ERROR, "failed to load %s: %s", name, srv->last_error);
    return rc;
  }
  rc = crater__reload_install(srv, g, NULL); /* hooks, if serving already; then the swap */
  if (rc != 0) {
    crater__log(srv, CRATER_LOG_ERROR, "failed to start %s: %s", name, srv->last_error);
    return rc;
  }
  crater__log(srv, CRATER_LOG_DEBUG, "loaded %s as generation %llu in %.1f ms", name,
              (unsigned long long)g->id, (double)(uv_hrtime() - t0) / 1e6);
  return 0;
}

int crater_load(crater_server *srv, const char *path) {
  if (srv == NULL || path == NULL) return CRATER_EINVAL;
  srv->last_error[0] = '\0';
  crater__gen *g = NULL;
  uint64_t t0 = uv_hrtime();
  int rc = crater__gen_load(srv, path, &g);
  return install_loaded(srv, rc, g, path, t0);
}

const char *crater_last_error(const crater_server *srv) { return srv->last_error; }

int crater_listen(crater_server *srv, const char *host, int port) {
  if (srv == NULL || host == NULL || port < 0 || port > 65535) return CRATER_EINVAL;
  if (srv->closing || srv->nlisteners == CRATER__MAX_LISTENERS) return CRATER_ESTATE;
  if (crater__reload_start(srv) != 0) return CRATER_ELOAD; /* the app's on_start hooks */
  struct sockaddr_storage ss;
  if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
    crater__set_error(srv, "not an IP address: %s", host);
    return CRATER_EINVAL;
  }
  uv_tcp_t *t = crater__calloc(1, sizeof(*t));
  if (t == NULL) return CRATER_ENOMEM;
  int rc = uv_tcp_init_ex(srv->loop, t, ss.ss_family);
  if (rc != 0) {
    crater__free(t);
    crater__set_error(srv, "socket: %s", uv_strerror(rc));
    return CRATER_ELISTEN;
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
    crater__set_error(srv, "listen on %s:%d: %s", host, port, uv_strerror(rc));
    uv_close((uv_handle_t *)t, (uv_close_cb)crater__free);
    return CRATER_ELISTEN;
  }
  srv->listeners[srv->nlisteners++] = t;
  return 0;
}

int crater_bound_port(const crater_server *srv) {
  if (srv->nlisteners == 0) return -1;
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  if (uv_tcp_getsockname(srv->listeners[0], (struct sockaddr *)&ss, &len) != 0) return -1;
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

int crater_close(crater_server *srv, crater_close_cb cb) {
  if (srv == NULL) return CRATER_EINVAL;
  if (srv->closing) return CRATER_ESTATE;
  srv->closing = 1;
  srv->close_cb = cb;
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

static void grace_closed(uv_handle_t *h) {
  crater_server *srv = h->data;
  srv->open_handles--;
  if (srv->open_handles == 0 && srv->conns == NULL && srv->close_cb) {
    crater_close_cb cb = srv->close_cb;
    srv->close_cb = NULL;
    cb(srv);
  }
}

static void grace_timer_cb(uv_timer_t *t) {
  crater_server *srv = t->data;
  int n = 0;
  for (crater__conn *c = srv->conns; c != NULL; c = c->next) n++;
  if (n > 0)
    crater__log(srv, CRATER_LOG_WARN, "grace period over: closing %d connection(s)", n);
  crater__conn *c = srv->conns;
  while (c != NULL) {
    crater__conn *next = c->next;
    crater__conn_close(c);
    c = next;
  }
}

void crater__server_maybe_done(crater_server *srv) {
  if (!srv->closing || srv->conns != NULL) return;
  if (crater__inject_pending(srv)) return; /* the last injection calls back here */
  /* Only the grace timer left: close it; its callback finishes the close. */
  if (srv->open_handles == 1 && !uv_is_closing((uv_handle_t *)&srv->grace_timer)) {
    uv_close((uv_handle_t *)&srv->grace_timer, grace_closed);
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
  if (srv->gen) crater__gen_unref(srv->gen);
  crater__conn *c = srv->free_conns;
  while (c != NULL) {
    crater__conn *next = c->next;
    crater__free(c);
    c = next;
  }
  crater__registry_free(srv);
  crater__free(srv->read_buf);
  crater__free(srv->lua_path);
  crater__free(srv->stale_error);
  crater__free(srv);
}

void crater_get_stats(const crater_server *srv, crater_stats *out) { *out = srv->stats; }

void crater_set_data(crater_server *srv, void *data) { srv->data = data; }

void *crater_get_data(const crater_server *srv) { return srv->data; }

/* ===================================================================== */
/*  Embedding: more ways to load and to listen                             */
/* ===================================================================== */

int crater_load_string(crater_server *srv, const char *chunkname, const char *code, size_t len) {
  if (srv == NULL || chunkname == NULL || code == NULL) return CRATER_EINVAL;
  srv->last_error[0] = '\0';
  crater__gen *g = NULL;
  uint64_t t0 = uv_hrtime();
  int rc = crater__gen_load_string(srv, chunkname, code, len, &g);
  return install_loaded(srv, rc, g, chunkname, t0);
}

int crater_listen_fd(crater_server *srv, int fd) {
  if (srv == NULL || fd < 0) return CRATER_EINVAL;
  if (srv->closing || srv->nlisteners == CRATER__MAX_LISTENERS) {
    close(fd);
    return CRATER_ESTATE;
  }
  if (crater__reload_start(srv) != 0) { /* the app's on_start hooks */
    close(fd);
    return CRATER_ELOAD;
  }
  uv_tcp_t *t = crater__calloc(1, sizeof(*t));
  if (t == NULL) {
    close(fd);
    return CRATER_ENOMEM;
  }
  int rc = uv_tcp_init(srv->loop, t);
  if (rc != 0) {
    crater__free(t);
    close(fd);
    crater__set_error(srv, "socket: %s", uv_strerror(rc));
    return CRATER_ELISTEN;
  }
  t->data = srv;
  rc = uv_tcp_open(t, fd);
  if (rc != 0) close(fd); /* not the handle's yet */
  if (rc == 0) rc = uv_listen((uv_stream_t *)t, 1024, on_connection);
  if (rc != 0) {
    crater__set_error(srv, "listen on fd %d: %s", fd, uv_strerror(rc));
    uv_close((uv_handle_t *)t, (uv_close_cb)crater__free);
    return CRATER_ELISTEN;
  }
  srv->listeners[srv->nlisteners++] = t;
  return 0;
}
