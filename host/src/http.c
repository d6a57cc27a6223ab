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

int crater__http_status_line(crater__buf *out, int status, const char *date) {
  char line[128];
  int n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\nServer: crater\r\nDate: %s\r\n",
                   status, crater__http_reason(status), date);
  return crater__buf_append(out, line, (size_t)n);
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
  return nlen == wlen && strncasecmp(name, want, wlen) == 0;
}

int crater__http_has_crlf(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 1;
  return 0;
}
