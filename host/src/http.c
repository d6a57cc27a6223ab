/* http.c - HTTP/1.1 on the wire (see http.h): the response serializer,
 * Date caching, header policy and problem+json bodies. */
#include "http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "json.h"

const char *crater__http_reason(int status) {
  switch (status) {
#define XX(code, text) case code: return text;
    CRATER_HTTP_STATUS_MAP(XX)
#undef XX
  }
  return "Unknown";
}

const char *crater__http_date_get(crater__http_date *d) {
  time_t now = time(NULL);
  if (now != d->sec || d->text[0] == '\0') {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(d->text, sizeof(d->text), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    d->sec = now;
  }
  return d->text;
}

const char *crater__http_date_at(crater__http_date *d, uint64_t now_ms) {
  if (now_ms < d->until && d->text[0] != '\0') return d->text;
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
    d->until = 0;
    return crater__http_date_get(d);
  }
  if (ts.tv_sec != d->sec || d->text[0] == '\0') {
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(d->text, sizeof(d->text), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    d->sec = ts.tv_sec;
  }
  /* What is left of this second, counted from now_ms: now_ms is at or
   * before the real time, so this ends at or before the second does. */
  d->until = now_ms + (uint64_t)(1000 - ts.tv_nsec / 1000000);
  return d->text;
}

int crater__http_name_eq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x == y) continue;
    if ((x | 0x20) != (y | 0x20) || (unsigned char)((x | 0x20) - 'a') > 'z' - 'a') return 0;
  }
  return 1;
}

/* Every response starts here, so no snprintf: plain copies. */
/* Writes the status line, Server and Date at p (room reserved by the
 * caller) and returns the end. */
static inline char *put_status_line(char *p, int status, const char *reason, size_t rlen,
                                    const char *date, size_t dlen) {
  memcpy(p, "HTTP/1.1 ", 9);
  p[9] = (char)('0' + status / 100);
  p[10] = (char)('0' + status / 10 % 10);
  p[11] = (char)('0' + status % 10);
  p[12] = ' ';
  p += 13;
  memcpy(p, reason, rlen);
  p += rlen;
  memcpy(p, "\r\nServer: crater\r\nDate: ", 24);
  p += 24;
  memcpy(p, date, dlen);
  p += dlen;
  memcpy(p, "\r\n", 2);
  return p + 2;
}

#define STATUS_LINE_ROOM(rlen, dlen) (9 + 4 + (rlen) + 24 + (dlen) + 2)

int crater__http_status_line(crater__buf *out, int status, const char *date) {
  if (status < 100 || status > 999) status = 500;
  const char *reason = crater__http_reason(status);
  size_t rlen = strlen(reason), dlen = strlen(date);
  if (crater__buf_reserve(out, STATUS_LINE_ROOM(rlen, dlen)) != 0) return -1;
  char *p = put_status_line(out->data + out->len, status, reason, rlen, date, dlen);
  out->len = (size_t)(p - out->data);
  return 0;
}

/* Room for "\r\n" after n decimal digits of a 64-bit length. */
#define U64_DIGITS 20

static char *put_u64(char *p, uint64_t v) {
  char digits[U64_DIGITS];
  size_t i = sizeof(digits);
  do {
    digits[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  memcpy(p, digits + i, sizeof(digits) - i);
  return p + (sizeof(digits) - i);
}

/* Every answer goes through here, so the cost is a plain copy per part:
 * the room for all of it is reserved once, up front. */
int crater__http_response(crater__buf *out, const crater__response *res, const char *date,
                          crater__http_framing *f) {
  int status = res->status;
  int bodyless = crater__http_bodyless(status);
  int stream = (res->flags & CRATER__RES_STREAM) != 0;
  if (res->flags & CRATER__RES_CLOSE) f->keep_alive = 0;
  f->chunked = 0;
  if (stream) {
    /* HTTP/1.0 has no chunked coding: the body ends when the connection does. */
    if (f->http_minor == 0) f->keep_alive = 0;
    else if (!bodyless) f->chunked = 1;
  }
  int with_body = !stream && !bodyless && !f->head_only && !(res->flags & CRATER__RES_FILE);
  if (status < 100 || status > 999) status = 500;
  const char *reason = crater__http_reason(status);
  size_t rlen = strlen(reason), dlen = strlen(date);
  size_t need = STATUS_LINE_ROOM(rlen, dlen) + sizeof("Transfer-Encoding: chunked\r\n") +
                sizeof("Content-Length: \r\n") + U64_DIGITS + sizeof("Connection: keep-alive\r\n") + 2;
  for (size_t i = 0; i < res->nheaders; i++)
    need += res->headers[i].name_len + res->headers[i].value_len + 4;
  if (with_body) need += res->body_len;
  if (crater__buf_reserve(out, need) != 0) return -1;
  char *p = put_status_line(out->data + out->len, status, reason, rlen, date, dlen);
  for (size_t i = 0; i < res->nheaders; i++) {
    const crater_header *h = &res->headers[i];
    /* Checked before they got here (crater__http_response_header_use, in
     * pipeline.c's respond_from_stack); the core's own are constants. */
    memcpy(p, h->name, h->name_len);
    p += h->name_len;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, h->value, h->value_len);
    p += h->value_len;
    *p++ = '\r';
    *p++ = '\n';
  }
  if (f->chunked) {
    memcpy(p, "Transfer-Encoding: chunked\r\n", 28);
    p += 28;
  } else if (!stream && !bodyless) {
    memcpy(p, "Content-Length: ", 16);
    p = put_u64(p + 16, res->body_len);
    *p++ = '\r';
    *p++ = '\n';
  }
  if (!f->keep_alive) {
    memcpy(p, "Connection: close\r\n", 19);
    p += 19;
  } else if (f->http_minor == 0) {
    memcpy(p, "Connection: keep-alive\r\n", 24);
    p += 24;
  }
  *p++ = '\r';
  *p++ = '\n';
  if (with_body && res->body_len > 0) {
    memcpy(p, res->body, res->body_len);
    p += res->body_len;
  }
  out->len = (size_t)(p - out->data);
  return 0;
}

int crater__http_chunk(crater__buf *out, const char *data, size_t len, int chunked) {
  if (!chunked) return crater__buf_append(out, data, len);
  char size[24];
  int n = snprintf(size, sizeof(size), "%zx\r\n", len);
  if (crater__buf_reserve(out, (size_t)n + len + 2) != 0) return -1;
  crater__buf_append(out, size, (size_t)n);
  crater__buf_append(out, data, len);
  return crater__buf_append(out, "\r\n", 2);
}

int crater__http_last_chunk(crater__buf *out) { return crater__buf_append(out, "0\r\n\r\n", 5); }

int crater__http_continue(crater__buf *out) {
  static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
  return crater__buf_append(out, cont, sizeof(cont) - 1);
}

int crater__http_problem_body(crater__buf *out, int status, const char *detail, size_t dlen,
                              int stale) {
  const char *title = crater__http_reason(status);
  /* One reservation: the appends below cannot fail after it. */
  if (crater__buf_reserve(out, 96 + strlen(title) + dlen * 6 + 2 + 16) != 0) return -1;
  crater__buf_appendz(out, "{\"type\":\"about:blank\",\"title\":\"");
  crater__buf_appendz(out, title);
  crater__buf_appendz(out, "\",\"status\":");
  crater__buf_append_u64(out, (unsigned long long)(status > 0 ? status : 0));
  crater__buf_appendz(out, ",\"detail\":");
  out->len += crater__json_quote(out->data + out->len, detail, dlen);
  crater__buf_appendz(out, stale ? ",\"stale\":true}" : "}");
  return 0;
}

int crater__http_is_header(const char *name, size_t nlen, const char *want) {
  size_t wlen = strlen(want);
  return nlen == wlen && crater__http_name_eq(name, want, wlen);
}

int crater__http_has_crlf(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 1;
  return 0;
}

crater__hdr_use crater__http_response_header_use(const char *name, size_t nlen,
                                                 const char *value, size_t vlen) {
  if (!crater__http_field_name_ok(name, nlen)) return CRATER__HDR_BAD_NAME;
  if (!crater__http_field_value_ok(value, vlen)) return CRATER__HDR_BAD_VALUE;
  /* The names the core keeps for itself, told apart by length first. */
  switch (nlen) {
  case 10:
    if (crater__http_name_eq(name, "connection", 10))
      return vlen == 5 && crater__http_name_eq(value, "close", 5) ? CRATER__HDR_CLOSE
                                                                  : CRATER__HDR_CONNECTION;
    break;
  case 14:
    if (crater__http_name_eq(name, "content-length", 14)) return CRATER__HDR_FRAMING;
    break;
  case 17:
    if (crater__http_name_eq(name, "transfer-encoding", 17)) return CRATER__HDR_FRAMING;
    break;
  }
  return CRATER__HDR_COPY;
}

/* RFC 9110 5.6.2: tchar. A table: every request's field names go through it. */
const unsigned char crater__http_tchar[256] = {
  ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
  ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
  ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
  ['8'] = 1, ['9'] = 1,
  ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
  ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
  ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
  ['Y'] = 1, ['Z'] = 1,
  ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
  ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
  ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
  ['y'] = 1, ['z'] = 1,
};

int crater__http_field_name_ok(const char *name, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (!crater__http_tchar[(unsigned char)name[i]]) return 0;
  return 1;
}

/* A field value's bytes, one at a time: HTAB, SP to '~', obs-text. */
static inline int value_byte_ok(unsigned char c) { return c >= 0x20 ? c != 0x7f : c == '\t'; }

size_t crater__http_field_value_bad_at(const char *value, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!value_byte_ok((unsigned char)value[i])) return i;
  return n;
}

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static inline uint64_t load64(const unsigned char *p) {
  uint64_t w;
  memcpy(&w, p, 8);
  return w;
}

/* The high bit of each byte of the result is set when that byte of w is
 * SP to '~' (0x20..0x7e): on the low 7 bits, +0x60 carries into the high
 * bit from 0x20 up and +0x01 only for 0x7f, and neither carries into the
 * next byte; a byte with its own high bit set (obs-text) is left to the
 * byte loop. */
static inline uint64_t plain_bytes(uint64_t w) {
  uint64_t low7 = w & ~HIGHS;
  return (low7 + 0x6060606060606060ull) & ~((low7 + ONES) | w) & HIGHS;
}

int crater__http_field_value_ok(const char *value, size_t n) {
  const unsigned char *p = (const unsigned char *)value;
  if (n >= 8) {
    /* Words at 0, 8, ... and the last 8 bytes (overlapping): the usual
     * value is printable ASCII and costs a few instructions per 8 bytes. */
    uint64_t all = HIGHS;
    for (size_t i = 0; i + 8 < n; i += 8) all &= plain_bytes(load64(p + i));
    all &= plain_bytes(load64(p + n - 8));
    if (all == HIGHS) return 1;
  }
  return crater__http_field_value_bad_at(value, n) == n;
}
