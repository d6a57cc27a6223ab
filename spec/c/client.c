/* client.c - see client.h. */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

static void closed_cb(uv_handle_t *h) {
  spec_client *c = h->data;
  c->done = 1;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  spec_client *c = s->data;
  if (n > 0) {
    c->data = realloc(c->data, c->len + (size_t)n + 1);
    memcpy(c->data + c->len, buf->base, (size_t)n);
    c->len += (size_t)n;
    c->data[c->len] = '\0';
  }
  free(buf->base);
  if (n < 0) {
    if (n != UV_EOF) c->error = (int)n;
    uv_close((uv_handle_t *)&c->tcp, closed_cb);
  }
}

static void write_cb(uv_write_t *w, int status) {
  spec_client *c = w->data;
  if (status != 0) c->error = status;
}

static void connect_cb(uv_connect_t *r, int status) {
  spec_client *c = r->data;
  if (status != 0) {
    c->error = status;
    uv_close((uv_handle_t *)&c->tcp, closed_cb);
    return;
  }
  uv_buf_t b = uv_buf_init(c->req, (unsigned)strlen(c->req));
  c->wreq.data = c;
  uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
  uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static void connect_to(spec_client *c, uv_loop_t *loop, int port);

void spec_client_start(spec_client *c, uv_loop_t *loop, int port, const char *method,
                       const char *path, const char *headers, const char *body) {
  memset(c, 0, sizeof(*c));
  size_t blen = body ? strlen(body) : 0;
  size_t cap = strlen(method) + strlen(path) + (headers ? strlen(headers) : 0) + blen + 128;
  c->req = malloc(cap);
  snprintf(c->req, cap, "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n%s",
           method, path, headers ? headers : "", blen, body ? body : "");
  connect_to(c, loop, port);
}

void spec_client_start_raw(spec_client *c, uv_loop_t *loop, int port, const char *raw) {
  memset(c, 0, sizeof(*c));
  c->req = strdup(raw);
  connect_to(c, loop, port);
}

void spec_client_reset(spec_client *c) {
  if (uv_is_closing((uv_handle_t *)&c->tcp)) return;
  uv_os_fd_t fd;
  struct linger lg = {1, 0}; /* close sends RST */
  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  uv_close((uv_handle_t *)&c->tcp, closed_cb);
}

static void connect_to(spec_client *c, uv_loop_t *loop, int port) {
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  c->creq.data = c;
  uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&addr, connect_cb);
}

void spec_client_free(spec_client *c) {
  free(c->data);
  free(c->req);
}

int spec_sock_open(spec_sock *s, int port) {
  memset(s, 0, sizeof(*s));
  s->data = calloc(1, 1);
  s->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (s->fd < 0 || s->data == NULL) return -1;
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", port, &addr);
  return connect(s->fd, (struct sockaddr *)&addr, sizeof(addr));
}

void spec_sock_send(spec_sock *s, uv_loop_t *loop, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = send(s->fd, data, len, MSG_NOSIGNAL);
    if (n < 0) break; /* the server closed: the test sees it in what it reads */
    data += n;
    len -= (size_t)n;
  }
  uv_run(loop, UV_RUN_NOWAIT);
}

/* Reads what is there without blocking. */
static void sock_read(spec_sock *s) {
  char buf[65536];
  for (;;) {
    ssize_t n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      s->eof = 1;
      return;
    }
    s->data = realloc(s->data, s->len + (size_t)n + 1);
    memcpy(s->data + s->len, buf, (size_t)n);
    s->len += (size_t)n;
    s->data[s->len] = '\0';
  }
}

int spec_sock_wait(spec_sock *s, uv_loop_t *loop, const char *want, uint64_t ms) {
  uint64_t end = uv_hrtime() + ms * 1000000;
  for (;;) {
    uv_run(loop, UV_RUN_NOWAIT);
    sock_read(s);
    if (want ? strstr(s->data, want) != NULL : s->eof) return 1;
    if (s->eof || uv_hrtime() > end) return 0;
    struct pollfd p = {s->fd, POLLIN, 0};
    poll(&p, 1, 1); /* a millisecond for the server's loop between looks */
  }
}

void spec_sock_close(spec_sock *s) {
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  free(s->data);
  s->data = NULL;
}

void spec_run_until(uv_loop_t *loop, const int *flag) {
  while (!*flag && uv_run(loop, UV_RUN_ONCE) != 0) {
  }
}

int spec_response_status(const char *raw) {
  int status = 0;
  if (raw == NULL || sscanf(raw, "HTTP/1.1 %d", &status) != 1) return -1;
  return status;
}

void spec_response_header(const char *raw, const char *name, char *out, size_t cap) {
  out[0] = '\0';
  const char *end = strstr(raw, "\r\n\r\n");
  size_t nlen = strlen(name);
  for (const char *p = strstr(raw, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
    const char *line = p + 2;
    if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
      const char *v = line + nlen + 1;
      while (*v == ' ') v++;
      const char *e = strstr(v, "\r\n");
      size_t n = (size_t)(e - v);
      size_t used = strlen(out);
      if (used > 0 && used + 2 < cap) { /* repeated: join with ", " like crater.test */
        strcat(out, ", ");
        used += 2;
      }
      if (used + n >= cap) n = cap - used - 1;
      memcpy(out + used, v, n);
      out[used + n] = '\0';
    }
  }
}

size_t spec_response_body(const char *raw, size_t len, char *out, size_t cap) {
  const char *start = strstr(raw, "\r\n\r\n");
  if (start == NULL) return 0;
  start += 4;
  const char *end = raw + len;
  char te[64];
  spec_response_header(raw, "Transfer-Encoding", te, sizeof(te));
  size_t n = 0;
  if (strcmp(te, "chunked") != 0) {
    n = (size_t)(end - start);
    if (n >= cap) n = cap - 1;
    memcpy(out, start, n);
    out[n] = '\0';
    return n;
  }
  const char *p = start;
  while (p < end) {
    size_t size = strtoul(p, NULL, 16);
    p = strstr(p, "\r\n");
    if (p == NULL || size == 0) break;
    p += 2;
    if (n + size >= cap) break;
    memcpy(out + n, p, size);
    n += size;
    p += size + 2;
  }
  out[n] = '\0';
  return n;
}
