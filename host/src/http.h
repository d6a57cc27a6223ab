/* http.h - HTTP/1.1 response framing: status lines, the Date cache, and the
 * problem+json answers the C core gives when it refuses a request. */
#ifndef CRATER_HTTP_H
#define CRATER_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

/* One list gives status codes and reason phrases. */
#define CRATER_HTTP_STATUS_MAP(XX)             \
  XX(100, "Continue")                          \
  XX(101, "Switching Protocols")               \
  XX(200, "OK")                                \
  XX(201, "Created")                           \
  XX(202, "Accepted")                          \
  XX(203, "Non-Authoritative Information")     \
  XX(204, "No Content")                        \
  XX(205, "Reset Content")                     \
  XX(206, "Partial Content")                   \
  XX(300, "Multiple Choices")                  \
  XX(301, "Moved Permanently")                 \
  XX(302, "Found")                             \
  XX(303, "See Other")                         \
  XX(304, "Not Modified")                      \
  XX(307, "Temporary Redirect")                \
  XX(308, "Permanent Redirect")                \
  XX(400, "Bad Request")                       \
  XX(401, "Unauthorized")                      \
  XX(402, "Payment Required")                  \
  XX(403, "Forbidden")                         \
  XX(404, "Not Found")                         \
  XX(405, "Method Not Allowed")                \
  XX(406, "Not Acceptable")                    \
  XX(408, "Request Timeout")                   \
  XX(409, "Conflict")                          \
  XX(410, "Gone")                              \
  XX(411, "Length Required")                   \
  XX(412, "Precondition Failed")               \
  XX(413, "Content Too Large")                 \
  XX(414, "URI Too Long")                      \
  XX(415, "Unsupported Media Type")            \
  XX(416, "Range Not Satisfiable")             \
  XX(417, "Expectation Failed")                \
  XX(418, "I'm a teapot")                      \
  XX(422, "Unprocessable Content")             \
  XX(423, "Locked")                            \
  XX(425, "Too Early")                         \
  XX(426, "Upgrade Required")                  \
  XX(428, "Precondition Required")             \
  XX(429, "Too Many Requests")                 \
  XX(431, "Request Header Fields Too Large")   \
  XX(451, "Unavailable For Legal Reasons")     \
  XX(500, "Internal Server Error")             \
  XX(501, "Not Implemented")                   \
  XX(502, "Bad Gateway")                       \
  XX(503, "Service Unavailable")               \
  XX(504, "Gateway Timeout")                   \
  XX(505, "HTTP Version Not Supported")

/* Reason phrase for a status ("Unknown" when not in the list). */
const char *crater__http_reason(int status);

/* The cached IMF-fixdate value for the Date header, refreshed at most once a
 * second: formatting a date per response costs more than the rest of a
 * plaintext response together. */
typedef struct {
  time_t sec;      /* second the text below is for */
  char text[32];   /* "Sun, 06 Nov 1994 08:49:37 GMT" */
  uint64_t until;  /* loop time (ms) before which text is still current; 0: unknown */
} crater__http_date;

const char *crater__http_date_get(crater__http_date *d);

/* The same, for code that knows the event loop's time (uv_now, ms): while
 * now_ms is before the end of the cached second, no clock is read at all.
 * The loop time is that of the loop iteration's start, so the Date of an
 * answer given late in a long iteration can lag by that iteration's length. */
const char *crater__http_date_at(crater__http_date *d, uint64_t now_ms);

/* 1 when the n bytes at a and b are equal ignoring ASCII case (header names
 * are tokens: no locale). */
int crater__http_name_eq(const char *a, const char *b, size_t n);

/* Appends "HTTP/1.1 <status> <reason>\r\nServer: crater\r\nDate: ...\r\n". */
int crater__http_status_line(crater__buf *out, int status, const char *date);

/* Appends a complete problem+json response (RFC 9457) with the given status
 * and detail, and "Connection: close" when close is set. */
int crater__http_problem(crater__buf *out, int status, const char *detail,
                         const char *date, int close);

/* 1 when the header name (nlen bytes) is want, ignoring case. */
int crater__http_is_header(const char *name, size_t nlen, const char *want);

/* 1 when s holds CR, LF or NUL: such a header from Lua would split the response. */
int crater__http_has_crlf(const char *s, size_t n);

/* What the core does with a header a handler put in its response. Framing
 * (Content-Length, Transfer-Encoding) is the core's; Connection is read for
 * "close" and not copied; a header that would split the response is dropped. */
typedef enum {
  CRATER__HDR_COPY = 0,
  CRATER__HDR_UNSAFE,      /* empty name, or CR/LF/NUL: dropped and logged */
  CRATER__HDR_FRAMING,     /* Content-Length, Transfer-Encoding: dropped */
  CRATER__HDR_CONNECTION   /* Connection: not copied */
} crater__hdr_use;

crater__hdr_use crater__http_response_header_use(const char *name, size_t nlen,
                                                 const char *value, size_t vlen);

/* 1 when a response with this status has no body (1xx, 204, 304). */
static inline int crater__http_bodyless(int status) {
  return status < 200 || status == 204 || status == 304;
}

/* Appends only the problem+json body of the above (injected requests). */
int crater__http_problem_body(crater__buf *out, int status, const char *detail);

#endif
