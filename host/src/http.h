/* http.h - http.c: HTTP/1.1 on the wire, minus the parsing (llhttp's): the
 * one response serializer every answer goes through (status line, headers,
 * Content-Length / chunked / close-delimited framing, HEAD and bodyless
 * statuses), the Date cache, the policy for headers a handler sets, what a
 * request's header fields may hold, and the problem+json bodies of the
 * answers the core gives itself. */
#ifndef CRATER_HTTP_H
#define CRATER_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "crater.h"

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

/* An answer, whoever made it (the app, a refusal, the --dev stale answer)
 * and wherever it goes (a socket, an injected request's response). */
typedef struct {
  int status;
  const crater_header *headers;  /* as they go out, Content-Type first when there is
                                    one; each a token and a valid value, never
                                    Content-Length, Transfer-Encoding or Connection
                                    (see crater__http_response_header_use) */
  size_t nheaders;
  const char *body;              /* the whole body; unused with CRATER__RES_STREAM */
  size_t body_len;
  unsigned flags;                /* CRATER__RES_* */
} crater__response;

#define CRATER__RES_STREAM 0x1u  /* the body follows in chunks (crater__http_chunk) */
#define CRATER__RES_CLOSE  0x2u  /* the connection ends after this answer */
#define CRATER__RES_FILE   0x4u  /* body_len bytes of a file follow (chunk or the sink's file);
                                    body is unused */

/* How an answer is framed on its connection. */
typedef struct {
  int http_minor;  /* in: the request's HTTP/1.x minor version */
  int head_only;   /* in: a HEAD request: headers only */
  int keep_alive;  /* in: the connection may stay open; out: whether it does */
  int chunked;     /* out: a streamed body goes out chunked (else it ends at close) */
} crater__http_framing;

/* Appends the answer's head (status line, Server, Date, headers, framing
 * headers) and, unless it streams, is bodyless or answers HEAD, its body.
 * Updates f. Returns 0, or -1 when memory runs out (out is unchanged). */
int crater__http_response(crater__buf *out, const crater__response *res, const char *date,
                          crater__http_framing *f);

/* Appends one chunk of a streamed body (chunked: with its size line). */
int crater__http_chunk(crater__buf *out, const char *data, size_t len, int chunked);

/* Appends the end of a chunked body. */
int crater__http_last_chunk(crater__buf *out);

/* Appends the interim answer to "Expect: 100-continue". */
int crater__http_continue(crater__buf *out);

/* Appends a problem+json body (RFC 9457) for an answer the core gives
 * itself: about:blank, the status's reason as title, and `detail` (dlen
 * bytes, any bytes: JSON-escaped through json.c), plus "stale":true for
 * the --dev answer after a failed reload. Returns 0 or -1 (out of memory). */
int crater__http_problem_body(crater__buf *out, int status, const char *detail, size_t dlen,
                              int stale);

/* 1 when the header name (nlen bytes) is want, ignoring case. */
int crater__http_is_header(const char *name, size_t nlen, const char *want);

/* 1 when s holds CR, LF or NUL: such a header from Lua would split the response. */
int crater__http_has_crlf(const char *s, size_t n);

/* What a header field may hold (RFC 9110 5.1, 5.5), in a request and in an
 * answer alike: a name is a non-empty token; a value has no control
 * character but HTAB, and no DEL (visible ASCII, obs-text, SP, HTAB).
 * llhttp (built strict) checks a parsed request's fields so; inject.c an
 * injected one's and the serializer every answer's with these. Each returns
 * 1 when acceptable. The value check reads 8 bytes at a time: every
 * answer's Content-Type goes through it. */
int crater__http_field_name_ok(const char *name, size_t n);

/* 1 for the bytes a token may hold (tchar), 0 for the others. */
extern const unsigned char crater__http_tchar[256];
int crater__http_field_value_ok(const char *value, size_t n);

/* The offset of the first byte a field value may not hold, or n when there
 * is none (for messages: which byte, where). */
size_t crater__http_field_value_bad_at(const char *value, size_t n);

/* What the core does with a header a handler put in its answer: the one
 * rule every answer's headers go through (pipeline.c's
 * respond_from_stack(), before anything reaches a sink), whatever made
 * them. The framework refuses the same headers first, as the handler's
 * error (crater.response's finish): a refusal here means something went
 * around it, and the core answers 500 itself. */
typedef enum {
  CRATER__HDR_COPY = 0,    /* goes out as it is */
  CRATER__HDR_CLOSE,       /* Connection: close (any case): the connection ends after
                              this answer; not copied (the serializer writes it) */
  CRATER__HDR_BAD_NAME,    /* refused: the name is not a token (empty, space, ':', ...) */
  CRATER__HDR_BAD_VALUE,   /* refused: a control character but HTAB (CR, LF, NUL, VT, ...) or DEL */
  CRATER__HDR_FRAMING,     /* refused: Content-Length, Transfer-Encoding (the core frames) */
  CRATER__HDR_CONNECTION   /* refused: Connection with a value other than close */
} crater__hdr_use;

/* 1 for the uses above that refuse the answer. */
#define CRATER__HDR_REFUSED(use) ((use) >= CRATER__HDR_BAD_NAME)

crater__hdr_use crater__http_response_header_use(const char *name, size_t nlen,
                                                 const char *value, size_t vlen);

/* 1 when a response with this status has no body (1xx, 204, 304). */
static inline int crater__http_bodyless(int status) {
  return status < 200 || status == 204 || status == 304;
}

#endif
