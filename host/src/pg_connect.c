/* pg_connect.c - opening a PostgreSQL connection on the loop (see
 * pg_connect.h).
 *
 * libpq looks host names up with a blocking getaddrinfo inside
 * PQconnectPoll. So every host name of the list (from the connection
 * string, or PGHOST when it names none) is looked up with uv_getaddrinfo
 * first, and libpq is given hostaddr: a list parallel to host, one entry
 * per address with its host name repeated, so that libpq tries every
 * address in order as it would have, and still checks the server's
 * certificate (verify-full) and finds .pgpass lines by the name. The
 * caller's timer bounds the whole connect: libpq does not enforce
 * connect_timeout in non-blocking mode. */
#include "pg_connect.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
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
  char note[192]; /* hosts that did not resolve, told if the rest fail too */
  PGconn *pq;
  /* libpq may close its socket and open another (the next host, or a
   * retry with or without TLS) under the same number: the poll follows
   * the socket itself, by device and inode. */
  uv_poll_t *poll;
  int fd;
  dev_t dev;
  ino_t ino;
  int closing; /* polls whose close has not called back yet */
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

static int any_name(const char *list) {
  char *copy = crater__strdup(list);
  if (copy == NULL) return 0;
  int n = split(copy, NULL, 0);
  const char *items[n];
  split(copy, items, n);
  int found = 0;
  for (int i = 0; i < n && !found; i++) found = is_name(items[i]);
  crater__free(copy);
  return found;
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

/* The lists to look up, when libpq would look a name up itself: the host
 * the string names, else the one its defaults (PGHOST, a service file
 * named by PGSERVICE) name; none when a hostaddr is given anyway. */
static int lookup_lists(crater__pg_target *t, const char *host, const char *port) {
  PQconninfoOption *d = PQconndefaults();
  if (d == NULL) return -1;
  int rc = 0;
  if (opt_val(d, "hostaddr") == NULL) {
    const char *h = host ? host : opt_val(d, "host");
    const char *p = port ? port : opt_val(d, "port");
    if (h && any_name(h)) {
      t->hosts = crater__strdup(h);
      t->ports = crater__strdup(p ? p : "");
      if (t->hosts == NULL || t->ports == NULL) rc = -1;
    }
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
    rc = lookup_lists(t, opt_val(opts, "host"), opt_val(opts, "port"));
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
  if (!k->done || k->pending || k->closing || k->poll) return;
  for (int i = 0; k->keys && k->keys[i]; i++) crater__free(k->keys[i]);
  for (int i = 0; k->vals && k->vals[i]; i++) crater__free(k->vals[i]);
  crater__free(k->keys);
  crater__free(k->vals);
  crater__free(k->hosts);
  crater__free(k->ports);
  crater__free(k->entries);
  crater__free(k);
}

static void poll_closed(uv_handle_t *h) {
  crater__pg_connector *k = h->data;
  crater__free(h);
  k->closing--;
  maybe_free(k);
}

static void unwatch(crater__pg_connector *k) {
  if (k->poll == NULL) return;
  uv_poll_stop(k->poll);
  uv_close((uv_handle_t *)k->poll, poll_closed);
  k->poll = NULL;
  k->closing++;
}

static void on_poll(uv_poll_t *h, int status, int events);

static int watch(crater__pg_connector *k, int fd, int events) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) return -1;
  if (k->poll && (k->fd != fd || k->dev != st.st_dev || k->ino != st.st_ino)) unwatch(k);
  if (k->poll == NULL) {
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
  return uv_poll_start(k->poll, events, on_poll);
}

static void finish(crater__pg_connector *k, PGconn *pq, const char *err) {
  k->done = 1;
  unwatch(k);
  if (k->pq) PQfinish(k->pq);
  k->pq = NULL;
  k->cb(k->data, pq, err);
  maybe_free(k);
}

static void step(crater__pg_connector *k, PostgresPollingStatusType st) {
  if (st == PGRES_POLLING_OK && PQsetnonblocking(k->pq, 1) != 0) st = PGRES_POLLING_FAILED;
  if (st == PGRES_POLLING_OK) {
    PGconn *pq = k->pq;
    k->pq = NULL;
    finish(k, pq, NULL);
    return;
  }
  if (st == PGRES_POLLING_FAILED) {
    char why[512], msg[768];
    snprintf(why, sizeof(why), "%s", k->pq ? PQerrorMessage(k->pq) : "out of memory");
    trim(why);
    snprintf(msg, sizeof(msg), "crater.pg: cannot connect: %s%s%s%s", why, k->note[0] ? " (" : "",
             k->note, k->note[0] ? ")" : "");
    finish(k, NULL, msg);
    return;
  }
  if (watch(k, PQsocket(k->pq), st == PGRES_POLLING_READING ? UV_READABLE : UV_WRITABLE) != 0)
    finish(k, NULL, "crater.pg: cannot connect: cannot watch the connection's socket");
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

/* The names are looked up (or none was to be): hands libpq host, hostaddr
 * and port lists of the same length. */
static void begin(crater__pg_connector *k) {
  size_t hl = 1, al = 1, pl = 1;
  for (int i = 0; i < k->n; i++) {
    const entry *e = &k->entries[i];
    size_t copies = e->lookup ? (size_t)e->naddrs : 1;
    hl += copies * (strlen(e->host) + 1);
    al += copies * (INET6_ADDRSTRLEN + 1);
    pl += copies * (strlen(e->port) + 1);
  }
  char *hs = crater__malloc(hl), *as = crater__malloc(al), *ps = crater__malloc(pl);
  int nk = 0;
  while (k->keys[nk]) nk++;
  const char **keys = crater__calloc((size_t)nk + 4, sizeof(char *));
  const char **vals = crater__calloc((size_t)nk + 4, sizeof(char *));
  if (!hs || !as || !ps || !keys || !vals) {
    crater__free(hs), crater__free(as), crater__free(ps), crater__free(keys), crater__free(vals);
    finish(k, NULL, "crater.pg: cannot connect: out of memory");
    return;
  }
  size_t h = 0, a = 0, p = 0;
  int m = 0;
  for (int i = 0; i < k->n; i++) {
    const entry *e = &k->entries[i];
    if (e->lookup && e->naddrs == 0) {
      if (k->note[0] == '\0')
        snprintf(k->note, sizeof(k->note), "cannot resolve %s: %s", e->host,
                 e->status ? uv_strerror(e->status) : "no address");
      continue;
    }
    for (int j = 0; j < (e->lookup ? e->naddrs : 1); j++, m++) {
      /* a literal address is its own hostaddr; a socket folder has none */
      int literal = e->host[0] && e->host[0] != '/' && e->host[0] != '@';
      const char *addr = e->lookup ? e->addrs[j] : literal ? e->host : "";
      add(hs, &h, e->host, m == 0);
      add(as, &a, addr, m == 0);
      add(ps, &p, e->port, m == 0);
    }
  }
  if (m == 0 && k->n > 0) {
    char msg[256];
    snprintf(msg, sizeof(msg), "crater.pg: %s", k->note);
    crater__free(hs), crater__free(as), crater__free(ps), crater__free(keys), crater__free(vals);
    finish(k, NULL, msg);
    return;
  }
  int c = 0;
  for (int i = 0; i < nk; i++) {
    if (k->n > 0 && (strcmp(k->keys[i], "host") == 0 || strcmp(k->keys[i], "hostaddr") == 0 ||
                     strcmp(k->keys[i], "port") == 0))
      continue;
    keys[c] = k->keys[i];
    vals[c++] = k->vals[i];
  }
  if (k->n > 0) {
    keys[c] = "host", vals[c++] = hs;
    keys[c] = "hostaddr", vals[c++] = as;
    keys[c] = "port", vals[c++] = ps;
  }
  keys[c] = vals[c] = NULL;
  k->pq = PQconnectStartParams(keys, vals, 0); /* copies what it keeps */
  crater__free(hs), crater__free(as), crater__free(ps), crater__free(keys), crater__free(vals);
  if (k->pq == NULL || PQstatus(k->pq) == CONNECTION_BAD) step(k, PGRES_POLLING_FAILED);
  else step(k, PGRES_POLLING_WRITING); /* libpq's documented first wait */
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
  if (k->pq) PQfinish(k->pq);
  k->pq = NULL;
  for (int i = 0; i < k->n; i++)
    if (k->entries[i].busy) uv_cancel((uv_req_t *)&k->entries[i].req);
  maybe_free(k);
}
