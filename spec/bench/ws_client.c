/* spec/bench/ws_client.c - the WebSocket load client of spec/bench/ws_bench.py.
 *
 * Python cannot drive 10,000 sockets without being the bottleneck, so the
 * client is one libuv loop in C. Built by ws_bench.py:
 *   cc -O2 -o ws_client spec/bench/ws_client.c -luv
 *
 *   ws_client echo   PORT PATH CONNS SECONDS [DEPTH]
 *     CONNS sockets, each sends a 16-byte text message and sends the next when
 *     its echo is back (closed loop); after 1 s of warm-up, counts SECONDS.
 *     DEPTH (default 1, at most 64) messages are in flight per socket: the
 *     first DEPTH leave in one write, and the messages sent in answer to what
 *     one read brought leave together too (a client that pipelines).
 *     Prints: echo msgs_per_s=... p50_us=... p99_us=...
 *   ws_client fanout PORT PATH CONNS ROUNDS SERVER_PID
 *     CONNS sockets; RSS of SERVER_PID before and with all of them open and
 *     idle; then ROUNDS times one socket sends "all:<round>", which the server
 *     sends to every socket, and the time until every socket has it.
 *     Prints: fanout bytes_per_conn=... median_ms=... max_ms=...
 *
 * Client frames are masked, as RFC 6455 requires of clients.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define CBUF 4096
#define MAX_PENDING 200 /* handshakes in flight: more overflows the listen backlog */
#define MAX_DEPTH 64
#define OBUF (MAX_DEPTH * 32)

typedef struct conn {
  uv_tcp_t tcp;
  uv_connect_t creq;
  int idx, upgraded;
  uint64_t sent_ns[MAX_DEPTH]; /* send times of the messages in flight, oldest at head */
  int head, inflight;
  size_t len, olen;
  char buf[CBUF];
  char obuf[OBUF]; /* frames gathered while a read is handled: one write for all */
} conn_t;

static struct {
  uv_loop_t *loop;
  struct sockaddr_in addr;
  const char *path;
  int mode, conns, started, upgraded;
  conn_t *c;
  /* echo */
  int measuring, done, depth;
  uint64_t count;
  uint32_t *lat;
  size_t nlat, caplat;
  /* fanout */
  int round, rounds, got;
  uint64_t round_t0;
  double *round_ms;
  long rss_before;
  int pid;
} G;

static uint64_t now_ns(void) { return uv_hrtime(); }

static long rss_kib(int pid) {
  char path[64], line[256];
  long kib = -1;
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld", &kib) == 1) break;
  fclose(f);
  return kib;
}

static void on_write(uv_write_t *w, int status) {
  if (status) fprintf(stderr, "write: %s\n", uv_strerror(status));
  free(w);
}

/* Written at once when the socket takes it (most of the time), so the
 * client spends its core on the load, not on write requests. */
static void send_raw(conn_t *c, const char *data, size_t n) {
  uv_buf_t d = uv_buf_init((char *)data, (unsigned)n);
  int done = uv_try_write((uv_stream_t *)&c->tcp, &d, 1);
  if (done < 0) done = 0;
  if ((size_t)done == n) return;
  n -= (size_t)done;
  uv_write_t *w = malloc(sizeof *w + n);
  char *copy = (char *)(w + 1);
  memcpy(copy, data + done, n);
  uv_buf_t b = uv_buf_init(copy, (unsigned)n);
  uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_write);
}

static void flush_out(conn_t *c) {
  if (c->olen == 0) return;
  send_raw(c, c->obuf, c->olen);
  c->olen = 0;
}

/* Queues a masked text frame in obuf; flush_out sends what gathered. */
static void queue_text(conn_t *c, const char *msg) {
  size_t n = strlen(msg); /* < 26 here */
  char *f = c->obuf + c->olen;
  uint32_t r = (uint32_t)rand();
  f[0] = (char)0x81;
  f[1] = (char)(0x80 | n);
  memcpy(f + 2, &r, 4);
  for (size_t i = 0; i < n; i++) f[6 + i] = msg[i] ^ f[2 + (i & 3)];
  c->olen += 6 + n;
}

static void send_text(conn_t *c, const char *msg) {
  queue_text(c, msg);
  flush_out(c);
}

static void echo_queue(conn_t *c) {
  c->sent_ns[(c->head + c->inflight) % MAX_DEPTH] = now_ns();
  c->inflight++;
  queue_text(c, "hello, websocket");
}

static void fanout_round(void);

static void on_message(conn_t *c, const char *p, size_t n) {
  if (G.mode == 0) {
    uint64_t sent = c->sent_ns[c->head];
    c->head = (c->head + 1) % MAX_DEPTH;
    c->inflight--;
    if (G.measuring) {
      uint64_t us = (now_ns() - sent) / 1000;
      G.count++;
      if (G.nlat == G.caplat) {
        G.caplat = G.caplat ? G.caplat * 2 : 1 << 20;
        G.lat = realloc(G.lat, G.caplat * sizeof *G.lat);
      }
      G.lat[G.nlat++] = (uint32_t)us;
    }
    if (!G.done) echo_queue(c);
  } else {
    char want[32];
    snprintf(want, sizeof want, "all:%d", G.round);
    if (n == strlen(want) && memcmp(p, want, n) == 0 && ++G.got == G.conns) {
      G.round_ms[G.round] = (double)(now_ns() - G.round_t0) / 1e6;
      G.round++;
      fanout_round();
    }
  }
}

static void on_all_upgraded(void);

/* Frames from the server are not masked. */
static void parse(conn_t *c) {
  size_t off = 0;
  if (!c->upgraded) {
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) return;
    if (c->len < 12 || memcmp(c->buf + 9, "101", 3) != 0) {
      fprintf(stderr, "handshake refused: %.*s\n", (int)c->len, c->buf);
      exit(1);
    }
    off = (size_t)(end - c->buf) + 4;
    c->upgraded = 1;
    if (++G.upgraded == G.conns) on_all_upgraded();
  }
  for (;;) {
    if (c->len - off < 2) break;
    unsigned char *h = (unsigned char *)c->buf + off;
    size_t plen = h[1] & 0x7f, hl = 2;
    if (plen == 126) {
      if (c->len - off < 4) break;
      plen = (size_t)h[2] << 8 | h[3];
      hl = 4;
    } else if (plen == 127) {
      fprintf(stderr, "frame too long\n");
      exit(1);
    }
    if (c->len - off < hl + plen) break;
    if ((h[0] & 0x0f) == 1 || (h[0] & 0x0f) == 2) on_message(c, (char *)h + hl, plen);
    off += hl + plen;
  }
  memmove(c->buf, c->buf + off, c->len - off);
  c->len -= off;
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  conn_t *c = h->data;
  (void)sz;
  *b = uv_buf_init(c->buf + c->len, (unsigned)(CBUF - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  conn_t *c = s->data;
  (void)b;
  if (n < 0) {
    if (!G.done) {
      fprintf(stderr, "conn %d: %s\n", c->idx, uv_strerror((int)n));
      exit(1);
    }
    uv_read_stop(s);
    return;
  }
  c->len += (size_t)n;
  parse(c);
  flush_out(c);
  if (c->len == CBUF) {
    fprintf(stderr, "buffer full\n");
    exit(1);
  }
}

static void start_next(void);

static void on_connect(uv_connect_t *r, int status) {
  conn_t *c = r->data;
  char req[512];
  if (status) {
    fprintf(stderr, "connect %d: %s\n", c->idx, uv_strerror(status));
    exit(1);
  }
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   G.path);
  send_raw(c, req, (size_t)n);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void start_next(void) {
  while (G.started < G.conns && G.started - G.upgraded < MAX_PENDING) {
    conn_t *c = &G.c[G.started];
    c->idx = G.started++;
    uv_tcp_init(G.loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&G.addr, on_connect);
  }
}

static uv_timer_t tick, phase;

static void on_tick(uv_timer_t *t) {
  (void)t;
  if (G.started < G.conns) start_next();
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int echo_seconds;
static uint64_t measure_t0;

static void echo_stop(uv_timer_t *t) {
  double secs = (double)(now_ns() - measure_t0) / 1e9;
  G.measuring = 0;
  G.done = 1;
  qsort(G.lat, G.nlat, sizeof *G.lat, cmp_u32);
  printf("echo conns=%d depth=%d msgs_per_s=%.0f p50_us=%u p99_us=%u\n", G.conns, G.depth, (double)G.count / secs,
         G.nlat ? G.lat[G.nlat / 2] : 0, G.nlat ? G.lat[G.nlat * 99 / 100] : 0);
  fflush(stdout);
  uv_stop(t->loop);
}

static void echo_measure(uv_timer_t *t) {
  G.measuring = 1;
  measure_t0 = now_ns();
  uv_timer_start(t, echo_stop, (uint64_t)echo_seconds * 1000, 0);
}

static void fanout_round(void) {
  if (G.round == G.rounds) {
    qsort(G.round_ms, (size_t)G.rounds, sizeof *G.round_ms, cmp_dbl);
    printf("fanout conns=%d median_ms=%.1f max_ms=%.1f\n", G.conns, G.round_ms[G.rounds / 2],
           G.round_ms[G.rounds - 1]);
    fflush(stdout);
    G.done = 1;
    uv_stop(G.loop);
    return;
  }
  char msg[32];
  snprintf(msg, sizeof msg, "all:%d", G.round);
  G.got = 0;
  G.round_t0 = now_ns();
  send_text(&G.c[0], msg);
}

static void fanout_idle(uv_timer_t *t) {
  long rss = rss_kib(G.pid);
  (void)t;
  printf("fanout conns=%d rss_before_kib=%ld rss_idle_kib=%ld bytes_per_conn=%.0f\n", G.conns, G.rss_before, rss,
         (double)(rss - G.rss_before) * 1024.0 / G.conns);
  fflush(stdout);
  fanout_round();
}

static void on_all_upgraded(void) {
  if (G.mode == 0) {
    for (int i = 0; i < G.conns; i++) {
      for (int k = 0; k < G.depth; k++) echo_queue(&G.c[i]);
      flush_out(&G.c[i]);
    }
    uv_timer_start(&phase, echo_measure, 1000, 0);
  } else {
    uv_timer_start(&phase, fanout_idle, 2000, 0); /* let the server settle */
  }
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: ws_client echo PORT PATH CONNS SECONDS [DEPTH] | fanout PORT PATH CONNS ROUNDS SERVER_PID\n");
    return 2;
  }
  G.mode = strcmp(argv[1], "echo") == 0 ? 0 : 1;
  G.path = argv[3];
  G.conns = atoi(argv[4]);
  G.loop = uv_default_loop();
  uv_ip4_addr("127.0.0.1", atoi(argv[2]), &G.addr);
  G.c = calloc((size_t)G.conns, sizeof *G.c);
  if (G.mode == 0) {
    echo_seconds = atoi(argv[5]);
    G.depth = argc > 6 ? atoi(argv[6]) : 1;
    if (G.depth < 1 || G.depth > MAX_DEPTH) return 2;
  } else {
    if (argc < 7) return 2;
    G.rounds = atoi(argv[5]);
    G.pid = atoi(argv[6]);
    G.round_ms = calloc((size_t)G.rounds, sizeof *G.round_ms);
    G.rss_before = rss_kib(G.pid);
  }
  srand(42);
  uv_timer_init(G.loop, &tick);
  uv_timer_init(G.loop, &phase);
  uv_timer_start(&tick, on_tick, 0, 5);
  start_next();
  uv_run(G.loop, UV_RUN_DEFAULT);
  return 0;
}
