/* http.c - status lines, Date caching and problem+json for refusals. */
#include "http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

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
int crater__http_status_line(crater__buf *out, int status, const char *date) {
  if (status < 100 || status > 999) status = 500;
  const char *reason = crater__http_reason(status);
  size_t rlen = strlen(reason), dlen = strlen(date);
  if (crater__buf_reserve(out, 9 + 4 + rlen + 24 + dlen + 2) != 0) return -1;
  char *p = out->data + out->len;
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
  p += 2;
  out->len = (size_t)(p - out->data);
  return 0;
}

/* detail is produced by the core itself, never from request bytes, so it
 * needs no JSON escaping beyond what we control; still, refuse quotes. */
int crater__http_problem_body(crater__buf *out, int status, const char *detail) {
  char body[512];
  int blen = snprintf(body, sizeof(body),
                      "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%d,\"detail\":\"%s\"}",
                      crater__http_reason(status), status, detail);
  if (blen < 0 || (size_t)blen >= sizeof(body)) return -1;
  return crater__buf_append(out, body, (size_t)blen);
}

int crater__http_problem(crater__buf *out, int status, const char *detail,
                         const char *date, int close) {
  crater__buf body = {0};
  if (crater__http_problem_body(&body, status, detail) != 0) {
    crater__buf_free(&body);
    return -1;
  }
  char head[256];
  int hlen = snprintf(head, sizeof(head),
                      "Content-Type: application/problem+json\r\nContent-Length: %zu\r\n%s\r\n",
                      body.len, close ? "Connection: close\r\n" : "");
  int rc = crater__http_status_line(out, status, date);
  if (rc == 0) rc = crater__buf_append(out, head, (size_t)hlen);
  if (rc == 0) rc = crater__buf_append(out, body.data, body.len);
  crater__buf_free(&body);
  return rc;
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
  if (nlen == 0 || crater__http_has_crlf(name, nlen) || crater__http_has_crlf(value, vlen))
    return CRATER__HDR_UNSAFE;
  if (crater__http_is_header(name, nlen, "content-length") ||
      crater__http_is_header(name, nlen, "transfer-encoding"))
    return CRATER__HDR_FRAMING;
  if (crater__http_is_header(name, nlen, "connection")) return CRATER__HDR_CONNECTION;
  return CRATER__HDR_COPY;
}
