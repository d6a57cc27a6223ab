/* pg_connect.c - opening a PostgreSQL connection on the loop (see
 * pg_connect.h).
 *
 * libpq looks host names up with a blocking getaddrinfo inside
 * PQconnectPoll. So every host name of the list (from the connection
 * string, or PGHOST when it names none) is looked up with uv_getaddrinfo
 * first, and libpq is given hostaddr: a list parallel to host, one entry
 * per address with its host name repeated, so that libpq tries every
 * address in order as it would have, and still checks the server's
 * certificate (verify-full) and finds .pgpass lines by the name.
 *
 * libpq does not enforce its connect_timeout (per address) in
 * non-blocking mode, and has no call to skip to the next address. So when
 * one is set, an attempt that outlives it is given up here: libpq starts
 * again with the addresses after it. The caller's timer bounds the whole
 * connect. */
#include "pg_connect.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "alloc.h"

/* Addresses tried per host name: enough for dual-stack names, and a bound
 * on the list handed to libpq whatever a resolver answers. */
#define ADDRS_MAX 8

typedef struct {
  const char *host, *port; /* into the connector's copies of the lists */
  int lookup;              /* a name: looked up before connecting */
  int busy;                /* its lookup has not called back yet */
  uv_getaddrinfo_t req;
  int status;
  int naddrs;
  char addrs[ADDRS_MAX][INET6_ADDRSTRLEN];
} entry;

struct crater__pg_connector {
  uv_loop_t *loop;
  crater__pg_connected cb;
  void *data;
  int done; /* cb ran, or the connect was cancelled */
  /* Copies: the caller may free the target while names are looked up. */
  char **keys, **vals;
  char *hosts, *ports;
  entry *entries;
  int n, pending;
  /* The addresses, one per entry, into entries (xn of them, from the
   * lookups); libpq gets those from next on, and tries cur now. */
  const char **xh, **xa, **xp;
  int xn, next, cur;
  uint64_t attempt_ms;
  uv_timer_t *timer; /* an attempt's timeout */
  char note[192];    /* hosts that did not resolve, told if the rest fail too */
  char given_up[512]; /* addresses whose attempt timed out, likewise */
  PGconn *pq;
  /* libpq may close its socket and open another (the next address, or a
   * retry with or without TLS) under the same number: the poll follows
   * the socket itself, by device and inode. */
  uv_poll_t *poll;
  int fd;
  dev_t dev;
  ino_t ino;
  int closing; /* handles whose close has not called back yet */
};

static int is_name(const char *h) {
  unsigned char buf[16];
  if (h[0] == '\0' || h[0] == '/' || h[0] == '@') return 0; /* the default, or a unix socket */
  return inet_pton(AF_INET, h, buf) != 1 && inet_pton(AF_INET6, h, buf) != 1;
}

/* Cuts s at its commas (libpq's list syntax); returns the number of items. */
static int split(char *s, const char **out, int max) {
  int n = 0;
  for (;;) {
    char *comma = strchr(s, ',');
    if (out && n < max) out[n] = s;
    n++;
    if (comma == NULL) return n;
    if (out) *comma = '\0';
    s = comma + 1;
  }
}

static const char *opt_val(const PQconninfoOption *o, const char *key) {
  for (; o && o->keyword; o++)
    if (strcmp(o->keyword, key) == 0) return o->val && *o->val ? o->val : NULL;
  return NULL;
}

static void trim(char *s) {
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ')) s[--n] = '\0';
}

/* The lists libpq would use: the host the string names, else the one its
 * defaults (PGHOST, a service file named by PGSERVICE) name; none when a
 * hostaddr is given anyway. And connect_timeout (PGCONNECT_TIMEOUT). */
static int effective(crater__pg_target *t, const char *host, const char *port, const char *timeout) {
  PQconninfoOption *d = PQconndefaults();
  if (d == NULL) return -1;
  int rc = 0;
  if (timeout == NULL) timeout = opt_val(d, "connect_timeout");
  if (timeout) {
    t->attempt_s = atoi(timeout);
    if (t->attempt_s < 0) t->attempt_s = 0;
    if (t->attempt_s == 1) t->attempt_s = 2; /* as libpq: 1 s is too short to be meant */
  }
  const char *h = host ? host : opt_val(d, "host");
  const char *p = port ? port : opt_val(d, "port");
  if (opt_val(d, "hostaddr") == NULL && h) {
    t->hosts = crater__strdup(h);
    t->ports = crater__strdup(p ? p : "");
    if (t->hosts == NULL || t->ports == NULL) rc = -1;
  }
  PQconninfoFree(d);
  return rc;
}

int crater__pg_target_init(crater__pg_target *t, const char *info, char *err, size_t errlen) {
  memset(t, 0, sizeof(*t));
  char *perr = NULL;
  PQconninfoOption *opts = PQconninfoParse(info, &perr);
  if (opts == NULL) {
    snprintf(err, errlen, "%s", perr ? perr : "out of memory");
    trim(err);
    if (perr) PQfreemem(perr);
    return -1;
  }
  int n = 0;
  for (PQconninfoOption *o = opts; o->keyword; o++)
    if (o->val && *o->val) n++;
  t->keys = crater__calloc((size_t)n + 1, sizeof(char *));
  t->vals = crater__calloc((size_t)n + 1, sizeof(char *));
  int rc = t->keys && t->vals ? 0 : -1;
  for (int k = 0, i = 0; rc == 0 && opts[i].keyword; i++) {
    if (!(opts[i].val && *opts[i].val)) continue;
    t->keys[k] = crater__strdup(opts[i].keyword);
    t->vals[k] = crater__strdup(opts[i].val);
    if (t->keys[k] == NULL || t->vals[k] == NULL) rc = -1;
    k++;
  }
  /* A service named in the string may set the host in a file libpq reads
   * at connect time: then libpq looks it up (docs/postgres.md says so). */
  if (rc == 0 && opt_val(opts, "hostaddr") == NULL && opt_val(opts, "service") == NULL)
    rc = effective(t, opt_val(opts, "host"), opt_val(opts, "port"), opt_val(opts, "connect_timeout"));
  PQconninfoFree(opts);
  if (rc != 0) {
    crater__pg_target_free(t);
    snprintf(err, errlen, "out of memory");
  }
  return rc;
}

void crater__pg_target_free(crater__pg_target *t) {
  for (int i = 0; t->keys && t->keys[i]; i++) crater__free(t->keys[i]);
  for (int i = 0; t->vals && t->vals[i]; i++) crater__free(t->vals[i]);
  crater__free(t->keys);
  crater__free(t->vals);
  crater__free(t->hosts);
  crater__free(t->ports);
  memset(t, 0, sizeof(*t));
}

/* ---------------------------------------------------------------------- */

static void maybe_free(crater__pg_connector *k) {
  if (!k->done || k->pending || k->closing || k->poll || k->timer) return;
  for (int i = 0; k->keys && k->keys[i]; i++) crater__free(k->keys[i]);
  for (int i = 0; k->vals && k->vals[i]; i++) crater__free(k->vals[i]);
  crater__free(k->keys);
  crater__free(k->vals);
  crater__free(k->hosts);
  crater__free(k->ports);
  crater__free(k->entries);
  crater__free(k->xh);
  crater__free(k);
}

static void handle_closed(uv_handle_t *h) {
  crater__pg_connector *k = h->data;
  crater__free(h);
  k->closing--;
  maybe_free(k);
}

static void unwatch(crater__pg_connector *k) {
  if (k->poll == NULL) return;
  uv_poll_stop(k->poll);
  uv_close((uv_handle_t *)k->poll, handle_closed);
  k->poll = NULL;
  k->closing++;
}

static void timer_stop(crater__pg_connector *k) {
  if (k->timer == NULL) return;
  uv_timer_stop(k->timer);
  uv_close((uv_handle_t *)k->timer, handle_closed);
  k->timer = NULL;
  k->closing++;
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Watches fd; 1 when it is a socket not watched before (a new attempt),
 * 0, or -1 on failure. */
static int watch(crater__pg_connector *k, int fd, int events) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) return -1;
  if (k->poll && (k->fd != fd || k->dev != st.st_dev || k->ino != st.st_ino)) unwatch(k);
  int fresh = k->poll == NULL;
  if (fresh) {
    uv_poll_t *p = crater__malloc(sizeof(*p));
    if (p == NULL) return -1;
    if (uv_poll_init_socket(k->loop, p, fd) != 0) {
      crater__free(p);
      return -1;
    }
    p->data = k;
    k->poll = p;
    k->fd = fd;
    k->dev = st.st_dev;
    k->ino = st.st_ino;
  }
  return uv_poll_start(k->poll, events, on_poll) == 0 ? fresh : -1;
}

static void finish(crater__pg_connector *k, PGconn *pq, const char *err) {
  k->done = 1;
  unwatch(k);
  timer_stop(k);
  if (k->pq) PQfinish(k->pq);
  k->pq = NULL;
  k->cb(k->data, pq, err);
  maybe_free(k);
}

/* libpq names only the address it was handed (connection to server at
 * "10.0.0.5", port 5432 failed): the host's name goes back beside it. */
static void name_hosts(const crater__pg_connector *k, const char *in, char *out, size_t size) {
  size_t o = 0;
  while (*in && o + 1 < size) {
    int named = 0;
    for (int i = 0; i < k->xn && !named && strncmp(in, "at \"", 4) == 0; i++) {
      const char *a = k->xa[i];
      size_t al = strlen(a);
      if (al == 0 || strcmp(k->xh[i], a) == 0 || strncmp(in + 4, a, al) != 0 || in[4 + al] != '"') continue;
      int n = snprintf(out + o, size - o, "at \"%s\" (%s)", k->xh[i], a);
      if (n < 0 || (size_t)n >= size - o) break; /* no room: the rest as libpq wrote it */
      o += (size_t)n;
      in += 5 + al;
      named = 1;
    }
    if (!named) out[o++] = *in++;
  }
  out[o] = '\0';
}

/* The failure's text: the attempts given up here, then libpq's words. */
static void fail(crater__pg_connector *k, const char *why) {
  char text[768], named[1024], msg[1280];
  snprintf(text, sizeof(text), "%s%s", k->given_up, why);
  trim(text);
  name_hosts(k, text, named, sizeof(named));
  snprintf(msg, sizeof(msg), "crater.pg: cannot connect: %s%s%s%s", named, k->note[0] ? " (" : "", k->note,
           k->note[0] ? ")" : "");
  finish(k, NULL, msg);
}

/* The entry libpq tries now: the first from cur on with its address (or,
 * for a unix socket, its host) and port. */
static int locate(const crater__pg_connector *k) {
  const char *h = PQhost(k->pq), *a = PQhostaddr(k->pq), *p = PQport(k->pq);
  for (int i = k->cur; i < k->xn; i++) {
    if (p && *p && *k->xp[i] && strcmp(p, k->xp[i]) != 0) continue;
    if (a && *a && *k->xa[i] ? strcmp(a, k->xa[i]) == 0 : h && strcmp(h, k->xh[i]) == 0) return i;
  }
  return k->cur;
}

static void on_attempt_timeout(uv_timer_t *t);

static void step(crater__pg_connector *k, PostgresPollingStatusType st) {
  if (st == PGRES_POLLING_OK && PQsetnonblocking(k->pq, 1) != 0) st = PGRES_POLLING_FAILED;
  if (st == PGRES_POLLING_OK) {
    PGconn *pq = k->pq;
    k->pq = NULL;
    finish(k, pq, NULL);
    return;
  }
  if (st == PGRES_POLLING_FAILED) {
    fail(k, k->pq ? PQerrorMessage(k->pq) : "out of memory");
    return;
  }
  int fresh = watch(k, PQsocket(k->pq), st == PGRES_POLLING_READING ? UV_READABLE : UV_WRITABLE);
  if (fresh < 0) {
    fail(k, "cannot watch the connection's socket");
  } else if (fresh && k->timer) {
    k->cur = locate(k);
    uv_timer_start(k->timer, on_attempt_timeout, k->attempt_ms, 0);
  }
}

/* libpq goes on whichever way the socket became ready (or failed): it
 * asks for the next direction itself, through TLS's handshake too. */
static void on_poll(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  crater__pg_connector *k = h->data;
  if (k->done || h != k->poll) return;
  step(k, PQconnectPoll(k->pq));
}

/* Appends s to the list in to (at its end, *at), after a comma unless first. */
static void add(char *to, size_t *at, const char *s, int first) {
  if (!first) to[(*at)++] = ',';
  size_t n = strlen(s);
  memcpy(to + *at, s, n + 1);
  *at += n;
}

/* Hands libpq the addresses from k->next on (all of the string's others
 * as they are), and starts it. */
static void attempt(crater__pg_connector *k) {
  size_t hl = 1, al = 1, pl = 1;
  for (int i = k->next; i < k->xn; i++) {
    hl += strlen(k->xh[i]) + 1;
    al += strlen(k->xa[i]) + 1;
    pl += strlen(k->xp[i]) + 1;
  }
  char *hs = crater__malloc(hl), *as = crater__malloc(al), *ps = crater__malloc(pl);
  int nk = 0;
  while (k->keys[nk]) nk++;
  const char **keys = crater__calloc((size_t)nk + 4, sizeof(char *));
  const char **vals = crater__calloc((size_t)nk + 4, sizeof(char *));
  if (hs && as && ps && keys && vals) {
    size_t h = 0, a = 0, p = 0;
    hs[0] = as[0] = ps[0] = '\0';
    for (int i = k->next; i < k->xn; i++) {
      add(hs, &h, k->xh[i], i == k->next);
      add(as, &a, k->xa[i], i == k->next);
      add(ps, &p, k->xp[i], i == k->next);
    }
    int c = 0;
    for (int i = 0; i < nk; i++) {
      if (k->xn > 0 && (strcmp(k->keys[i], "host") == 0 || strcmp(k->keys[i], "hostaddr") == 0 ||
                        strcmp(k->keys[i], "port") == 0))
        continue;
      keys[c] = k->keys[i];
      vals[c++] = k->vals[i];
    }
    if (k->xn > 0) {
      keys[c] = "host", vals[c++] = hs;
      keys[c] = "hostaddr", vals[c++] = as;
      keys[c] = "port", vals[c++] = ps;
    }
    keys[c] = vals[c] = NULL;
    k->pq = PQconnectStartParams(keys, vals, 0); /* copies what it keeps */
  }
  crater__free(hs), crater__free(as), crater__free(ps), crater__free(keys), crater__free(vals);
  k->cur = k->next;
  if (k->pq == NULL || PQstatus(k->pq) == CONNECTION_BAD) step(k, PGRES_POLLING_FAILED);
  else step(k, PGRES_POLLING_WRITING); /* libpq's documented first wait */
}

/* The attempt on k->cur outlived libpq's connect_timeout: libpq starts
 * again on a new connection with the addresses after it. */
static void on_attempt_timeout(uv_timer_t *t) {
  crater__pg_connector *k = t->data;
  if (k->done) return;
  int cur = locate(k);
  size_t used = strlen(k->given_up);
  const char *a = k->xa[cur];
  snprintf(k->given_up + used, sizeof(k->given_up) - used,
           "connection to server at \"%s\"%s%s%s, port %s failed: timeout expired after %d s\n", k->xh[cur],
           *a ? " (" : "", a, *a ? ")" : "", k->xp[cur], (int)(k->attempt_ms / 1000));
  unwatch(k);
  PQfinish(k->pq);
  k->pq = NULL;
  if (cur + 1 >= k->xn) {
    fail(k, "");
    return;
  }
  k->next = cur + 1;
  attempt(k);
}

/* The names are looked up (or none was to be): one address per entry. */
static void begin(crater__pg_connector *k) {
  int total = 0;
  for (int i = 0; i < k->n; i++) total += k->entries[i].lookup ? k->entries[i].naddrs : 1;
  if (total > 0) {
    k->xh = crater__calloc((size_t)total * 3, sizeof(char *));
    if (k->xh == NULL) {
      fail(k, "out of memory");
      return;
    }
    k->xa = k->xh + total;
    k->xp = k->xa + total;
  }
  for (int i = 0; i < k->n; i++) {
    const entry *e = &k->entries[i];
    if (e->lookup && e->naddrs == 0) {
      if (k->note[0] == '\0')
        snprintf(k->note, sizeof(k->note), "cannot resolve %s: %s", e->host,
                 e->status ? uv_strerror(e->status) : "no address");
      continue;
    }
    /* a literal address is its own hostaddr; a socket folder has none */
    int literal = e->host[0] && e->host[0] != '/' && e->host[0] != '@';
    for (int j = 0; j < (e->lookup ? e->naddrs : 1); j++) {
      k->xh[k->xn] = e->host;
      k->xa[k->xn] = e->lookup ? e->addrs[j] : literal ? e->host : "";
      k->xp[k->xn++] = e->port;
    }
  }
  if (k->xn == 0 && k->n > 0) {
    char msg[256];
    snprintf(msg, sizeof(msg), "crater.pg: %s", k->note);
    finish(k, NULL, msg);
    return;
  }
  if (k->attempt_ms && k->xn > 0) {
    k->timer = crater__malloc(sizeof(*k->timer));
    if (k->timer == NULL) {
      fail(k, "out of memory");
      return;
    }
    uv_timer_init(k->loop, k->timer);
    k->timer->data = k;
  }
  attempt(k);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai) {
  crater__pg_connector *k = req->data;
  entry *e = (entry *)(void *)((char *)req - offsetof(entry, req));
  k->pending--;
  e->busy = 0;
  e->status = status;
  for (struct addrinfo *x = ai; status == 0 && x && e->naddrs < ADDRS_MAX; x = x->ai_next) {
    char ip[INET6_ADDRSTRLEN] = "";
    if (x->ai_family == AF_INET6)
      uv_ip6_name((const struct sockaddr_in6 *)(const void *)x->ai_addr, ip, sizeof(ip));
    else if (x->ai_family == AF_INET)
      uv_ip4_name((const struct sockaddr_in *)(const void *)x->ai_addr, ip, sizeof(ip));
    int seen = ip[0] == '\0';
    for (int j = 0; j < e->naddrs && !seen; j++) seen = strcmp(e->addrs[j], ip) == 0;
    if (!seen) memcpy(e->addrs[e->naddrs++], ip, sizeof(ip));
  }
  if (ai) uv_freeaddrinfo(ai);
  if (k->done) {
    maybe_free(k);
    return;
  }
  if (k->pending == 0) begin(k);
}

static char **strv_dup(char *const *v) {
  int n = 0;
  while (v[n]) n++;
  char **out = crater__calloc((size_t)n + 1, sizeof(char *));
  for (int i = 0; out && i < n; i++) {
    out[i] = crater__strdup(v[i]);
    if (out[i] == NULL) {
      while (i-- > 0) crater__free(out[i]);
      crater__free(out);
      return NULL;
    }
  }
  return out;
}

int crater__pg_connect_start(uv_loop_t *loop, const crater__pg_target *t, crater__pg_connected cb,
                             void *data, crater__pg_connector **out) {
  crater__pg_connector *k = crater__calloc(1, sizeof(*k));
  if (k == NULL) return -1;
  k->loop = loop;
  k->cb = cb;
  k->data = data;
  k->fd = -1;
  k->attempt_ms = (uint64_t)t->attempt_s * 1000;
  k->done = 1; /* until it starts: maybe_free frees a half-made one */
  k->keys = strv_dup(t->keys);
  k->vals = k->keys ? strv_dup(t->vals) : NULL;
  if (k->vals == NULL) {
    maybe_free(k);
    return -1;
  }
  if (t->hosts) {
    k->hosts = crater__strdup(t->hosts);
    k->ports = crater__strdup(t->ports ? t->ports : "");
    if (k->hosts == NULL || k->ports == NULL) {
      maybe_free(k);
      return -1;
    }
    int n = split(k->hosts, NULL, 0), np = split(k->ports, NULL, 0);
    /* ports: one for all, or one each; with any other count libpq gets
     * the lists as they are, and says so before looking anything up */
    if (np == 1 || np == n) {
      k->entries = crater__calloc((size_t)n, sizeof(entry));
      if (k->entries == NULL) {
        maybe_free(k);
        return -1;
      }
      const char *hosts[n], *ports[np];
      split(k->hosts, hosts, n);
      split(k->ports, ports, np);
      k->n = n;
      for (int i = 0; i < n; i++) {
        k->entries[i].host = hosts[i];
        k->entries[i].port = ports[np == 1 ? 0 : i];
        k->entries[i].lookup = is_name(hosts[i]);
      }
    }
  }
  k->done = 0;
  *out = k;
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  for (int i = 0; i < k->n; i++) {
    entry *e = &k->entries[i];
    if (!e->lookup) continue;
    e->req.data = k;
    e->status = uv_getaddrinfo(loop, &e->req, on_resolved, e->host, NULL, &hints);
    if (e->status == 0) e->busy = 1, k->pending++;
  }
  if (k->pending == 0) begin(k);
  return 0;
}

void crater__pg_connect_cancel(crater__pg_connector *k) {
  k->done = 1;
  unwatch(k);
  timer_stop(k);
  if (k->pq) PQfinish(k->pq);
  k->pq = NULL;
  for (int i = 0; i < k->n; i++)
    if (k->entries[i].busy) uv_cancel((uv_req_t *)&k->entries[i].req);
  maybe_free(k);
}
