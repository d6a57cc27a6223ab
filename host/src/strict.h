/* strict.h - strict.c: what RFC 9112 and RFC 9110 require of a request
 * beyond what llhttp 8.1 checks, and what Crater answers when a request
 * breaks it. docs/limits.md lists every refusal beside its clause.
 *
 * llhttp is built in its strict mode (LLHTTP_STRICT_MODE, CMakeLists.txt):
 * it then refuses a CR that is not followed by LF anywhere in a message
 * (request line, header section, chunk size lines, trailer section), bytes
 * other than CRLF after chunk data, and request-target bytes outside
 * visible ASCII. What it does not check, Crater does here, in two parts:
 *
 *  - The transport-independent rules (the Host field, the request-target's
 *    form, CONNECT, OPTIONS *, trailing whitespace of field values):
 *    crater__strict_request, for a parsed request and an injected one
 *    alike (an injected request needs no Host field).
 *  - The rules of the wire, which only a parsed request has: the HTTP
 *    version, obs-fold (seen through llhttp's callbacks, see
 *    crater__strict below), Transfer-Encoding, trailer fields, and which
 *    status a parse error gets. conn.c calls these from its llhttp
 *    callbacks. */
#ifndef CRATER_STRICT_H
#define CRATER_STRICT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <llhttp.h>

#include "request.h"

/* What a connection's parser has seen of the current message that
 * llhttp's callbacks alone do not tell (conn.c keeps one per connection).
 *
 * obs-fold (RFC 9112 5.2): llhttp 8.1 joins a header line that starts with
 * SP or HTAB to the field before it. When the value so far is not empty,
 * the joined part comes as one more on_header_value piece of the same
 * field; unlike a piece that continues a value cut by the end of a read,
 * the piece before it ended inside the input (at the CR). When the value
 * so far is empty (`Transfer-Encoding:` CRLF SP `chunked`), llhttp skips
 * the fold as whitespace without a callback, so the bytes between a
 * field's colon and its value are read here, across reads if need be. */
typedef struct {
  const char *end;      /* end of the input llhttp is parsing now (crater__strict_input) */
  unsigned char gap;    /* reading the whitespace after a colon: GAP_* of strict.c */
  unsigned char cut;    /* the last value piece ended at the end of the input */
  unsigned char odd;    /* CRATER__STRICT_*: what makes the next field piece not plain */
  unsigned char te_tab; /* an HTAB before a Transfer-Encoding value */
  uint16_t head_flags;  /* llhttp's flags when the header section ended */
  size_t trailer;       /* bytes of trailer field names and values so far */
  /* The last Host value of this connection found valid (a client sends the
   * same one on each request): it need not be read byte by byte again. */
  unsigned char host_len; /* 0: none */
  char host[31];
} crater__strict;

#define CRATER__STRICT_FOLD    1 /* an obs-fold */
#define CRATER__STRICT_TAB     2 /* an HTAB before the current field's value */
#define CRATER__STRICT_TRAILER 4 /* past the header section: fields are trailer fields */

/* The details the core's answers give (also what tests look for). */
#define CRATER__STRICT_OBS_FOLD "obsolete line folding (a header line starting with a space or tab) is not accepted (RFC 9112 5.2)"

/* Sets up a request parser for these rules: HTTP/1.x versions above 1.1
 * reach on_headers_complete, which serves them as 1.1 (RFC 9112 2.3). */
void crater__strict_parser_init(llhttp_t *p);

/* Reads the whitespace after a field's colon (from p to end, the input's
 * end): sets CRATER__STRICT_FOLD when a line break in it is followed by SP
 * or HTAB, CRATER__STRICT_TAB for an HTAB; leaves s->gap set when the
 * input ends inside it. */
void crater__strict_gap(crater__strict *s, const char *p, const char *end);

/* Before llhttp_execute: the bytes it is about to parse. */
static inline void crater__strict_input(crater__strict *s, const char *data, size_t len) {
  s->end = data + len;
  if (s->gap) crater__strict_gap(s, data, s->end);
}

/* on_message_begin. */
static inline void crater__strict_begin(crater__strict *s) {
  s->gap = 0;
  s->cut = 0;
  s->odd = 0;
  s->te_tab = 0;
  s->trailer = 0;
}

/* on_header_field (also for trailer fields): a piece of a field name.
 * Returns 1 when there is nothing more to see; 0 when it ends at the colon
 * and the whitespace after it must be read (obs-fold, HTAB): then call
 * crater__strict_name_gap. */
static inline int crater__strict_name(const crater__strict *s, const char *at, size_t len) {
  const char *colon = at + len;
  if (colon >= s->end || *colon != ':') return 1; /* the name goes on in the next read */
  /* Nearly always `Name: value`: the value starts after one SP. */
  return colon + 2 < s->end && colon[1] == ' ' && (unsigned char)colon[2] > ' ';
}

/* After crater__strict_name returned 0. */
void crater__strict_name_gap(crater__strict *s, const char *at, size_t len);

/* on_header_value: a piece of a field value; `more` is 1 when the last
 * callback was a piece of the same value. Returns 0 for a plain piece of a
 * header field, else CRATER__STRICT_* bits: FOLD (the message has an
 * obs-fold: answer 400 and close; it outweighs the others), TAB (the first
 * piece of a value with an HTAB before it: call crater__strict_tab),
 * TRAILER (a trailer field's). */
static inline int crater__strict_value(crater__strict *s, const char *at, size_t len, int more) {
  /* more, with the piece before ending inside the input (at a CR, not at
   * the end of a read): llhttp joined a folded line to it. */
  int odd = s->odd | (more & !s->cut);
  s->cut = at + len == s->end;
  return odd;
}

/* After CRATER__STRICT_TAB: notes whether that value is a Transfer-Encoding
 * field's (r's last field; r NULL for a trailer field). */
void crater__strict_tab(crater__strict *s, const crater__request *r);

/* A trailer field's piece (on_header_field/value after the header
 * section; name: the piece of a name, NULL for one of a value): trailer
 * fields are read, checked (by llhttp, and a name must be a token as in
 * the header section), and dropped: never stored, never seen by the app
 * (RFC 9110 6.5.1). Their bytes count toward max_header_bytes with the
 * header section's. Returns 0, or 400 / 431 with *why. */
int crater__strict_trailer(crater__strict *s, const crater__request *r, const char *name, size_t len,
                           const char **why);

/* crater__strict_head's every check, for a request its fast path does not
 * vouch for. */
int crater__strict_head_slow(crater__strict *s, llhttp_t *p, crater__request *r, const char **why);

/* Reads the Host value v (n bytes) and, when valid and short, keeps it in
 * s as the connection's: 1 when valid. */
int crater__strict_host_read(crater__strict *s, const char *v, size_t n);

/* 1 when the 4 bytes at name are "host" in any case. */
static inline int crater__strict_is_host(const char *name) {
  uint32_t w, want;
  memcpy(&w, name, 4);
  memcpy(&want, "host", 4);
  return (w | 0x20202020u) == want;
}

/* 1 when the n bytes at a and b are equal: two overlapping word loads for
 * the usual Host value, 8 to 16 bytes, memcmp else. */
static inline int crater__strict_same(const char *a, const char *b, size_t n) {
  uint64_t x, y, u, v;
  if (n < 8 || n > 16) return memcmp(a, b, n) == 0;
  memcpy(&x, a, 8);
  memcpy(&y, b, 8);
  memcpy(&u, a + n - 8, 8);
  memcpy(&v, b + n - 8, 8);
  return ((x ^ y) | (u ^ v)) == 0;
}

/* on_headers_complete: the version (505), field names (400),
 * Transfer-Encoding (400, 501), then the rules of crater__strict_request
 * with a Host field required from HTTP/1.1 on. r->method must be set.
 * Returns 0 when the request may go on, else the status to refuse it with
 * and close, with *why.
 *
 * Inline, as it runs for every request: the usual request (HTTP/1.x, no
 * fold, one Host field whose value is the one this connection sent last,
 * no Transfer-Encoding or Expect field, not CONNECT, an origin-form target
 * without '#', no trailing whitespace in a value) is told apart here;
 * anything else is crater__strict_head_slow's. */
static inline int crater__strict_head(crater__strict *s, llhttp_t *p, crater__request *r, const char **why) {
  unsigned flags = p->flags;
  const char *head = r->head.data;
  /* (llhttp gives no empty target: head[0] is the target's.) */
  if (p->http_major != 1 || (s->odd & CRATER__STRICT_FOLD) || r->bad_name || (flags & F_TRANSFER_ENCODING) ||
      p->method == HTTP_CONNECT || head[0] != '/')
    return crater__strict_head_slow(s, p, r, why);
  const crater__field *host = NULL;
  int odd = 0, hosts = 0;
  for (int i = 0; i < r->nfields; i++) {
    const crater__field *f = &r->fields[i];
    /* Trailing whitespace: a value's last byte is at most ' ' only then
     * (llhttp lets no other control character into a value); an empty
     * value's "last byte" is its name's, a token's. */
    odd |= (unsigned char)head[f->value_off + f->value_len - 1] <= ' ';
    if (f->name_len == 4) {
      if (crater__strict_is_host(head + f->name_off)) {
        hosts++;
        host = f;
      }
    } else {
      odd |= f->name_len == 17 || f->name_len == 6; /* Transfer-Encoding, Expect: a closer look */
    }
  }
  if (odd || hosts != 1 || host->value_len != s->host_len ||
      !crater__strict_same(head + host->value_off, s->host, host->value_len) || r->target_hash)
    return crater__strict_head_slow(s, p, r, why);
  /* Never a switch of protocols (RFC 9110 7.8: a server may ignore
   * Upgrade), nor a tunnel for CONNECT: llhttp goes on parsing HTTP/1.1,
   * so the request is answered once and the one behind it is read. */
  p->upgrade = 0;
  s->head_flags = (uint16_t)flags;
  s->odd |= CRATER__STRICT_TRAILER;
  return 0;
}

/* on_message_complete, first: llhttp's flags as the header section left
 * them, so that trailer fields (Connection: close, say) change neither
 * keep-alive nor llhttp's own framing (RFC 9110 6.5.1). */
static inline void crater__strict_message_complete(const crater__strict *s, llhttp_t *p) {
  p->flags = s->head_flags;
}

/* The status for a request llhttp stopped on with err (not one a callback
 * refused), and its detail in *why: 501 for a well-formed request line
 * whose method llhttp does not know, 505 for the HTTP/2 connection
 * preface, else 400. [start, end): the input llhttp was given. */
int crater__strict_parse_error(const llhttp_t *p, llhttp_errno_t err, const char *start, const char *end,
                               const char **why);

/* ---- The rules for any request, parsed or injected -------------------- */

/* r, stored: trims trailing whitespace from field values (RFC 9110 5.5),
 * checks the Host field (RFC 9112 3.2: at most one, a valid value, and one
 * required when need_host) and the request-target's form (RFC 9112 3.2).
 * An absolute-form target (http://host/path) sets r->target_off to its
 * path and makes the Host field the app sees its authority (RFC 9112
 * 3.2.2); `OPTIONS *` and CONNECT are given r->answer (200, 501: answered
 * without the app). Returns 0, or the status to refuse r with and *why. */
int crater__strict_request(crater__request *r, int need_host, const char **why);

/* 1 when s (n bytes) is a valid Host field value: uri-host [ ":" port ]
 * (RFC 9110 7.2, RFC 3986 3.2.2); empty is valid (RFC 9112 3.2). */
int crater__strict_host_ok(const char *s, size_t n);

/* The Transfer-Encoding codings of r's fields (all of them, as one list):
 * 0 when they are `chunked` alone (any case, OWS around commas), 400 when
 * chunked is not the last coding, comes twice, or the list is malformed
 * (RFC 9112 6.1, 6.3), 501 for a coding Crater does not implement before
 * a final chunked (RFC 9112 6.1), with *why. */
int crater__strict_transfer_encoding(const crater__request *r, const char **why);

/* For an unknown method: 1 when the bytes from p (where llhttp stopped, in
 * the method token; in_method: after some of its bytes) to end make a
 * well-formed request line, or the start of one with at least the method
 * and the space after it; else 0. Judged on what has arrived: a method
 * whose space is still to come is not yet a request line (400). */
int crater__strict_request_line_ok(const char *p, const char *end, int in_method);

#endif
