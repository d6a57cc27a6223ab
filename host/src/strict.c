/* strict.c - what RFC 9112 / RFC 9110 require of a request beyond what
 * llhttp checks (see strict.h). Everything here runs for every request:
 * the common case (one Host field, an origin-form target, no
 * Transfer-Encoding) costs a pass over the fields and the target. */
#include "strict.h"

#include <string.h>

#include "http.h"
#include "server.h"

/* crater__strict.gap: where the bytes after a field's colon stand. */
#define GAP_OWS 1 /* in the whitespace (SP, HTAB, a CR) before the value */
#define GAP_LF  2 /* just after an LF: SP or HTAB next is an obs-fold */

static inline int ows(unsigned char c) { return c == ' ' || c == '\t'; }

void crater__strict_parser_init(llhttp_t *p) {
  /* Without it llhttp refuses versions other than 0.9, 1.0, 1.1 and 2.0
   * with a 400 of its own; with it every DIGIT.DIGIT reaches
   * crater__strict_head, which decides (505 for a major other than 1). */
  p->lenient_flags |= LENIENT_VERSION;
}

void crater__strict_gap(crater__strict *s, const char *p, const char *end) {
  unsigned gap = s->gap;
  for (; p < end; p++) {
    unsigned char c = (unsigned char)*p;
    if (gap == GAP_LF) {
      if (ows(c)) s->odd |= CRATER__STRICT_FOLD;
      gap = 0;
      break;
    }
    if (c == '\t') {
      s->odd |= CRATER__STRICT_TAB;
    } else if (c == '\n') {
      gap = GAP_LF;
    } else if (c != ' ' && c != '\r') {
      gap = 0;
      break;
    }
  }
  s->gap = (unsigned char)gap;
}

void crater__strict_name_gap(crater__strict *s, const char *at, size_t len) {
  if (crater__strict_name(s, at, len)) return;
  s->gap = GAP_OWS;
  crater__strict_gap(s, at + len + 1, s->end);
}

void crater__strict_tab(crater__strict *s, const crater__request *r) {
  s->odd &= (unsigned char)~CRATER__STRICT_TAB;
  if (s->odd & CRATER__STRICT_TRAILER) r = NULL;
  const crater__field *f = r != NULL && r->nfields > 0 ? &r->fields[r->nfields - 1] : NULL;
  if (f != NULL && f->name_len == 17 && crater__http_name_eq(r->head.data + f->name_off, "transfer-encoding", 17))
    s->te_tab = 1;
}

int crater__strict_trailer(crater__strict *s, const crater__request *r, const char *name, size_t len,
                           const char **why) {
  for (size_t i = 0; name != NULL && i < len; i++) { /* a piece: may be empty */
    if (!crater__http_tchar[(unsigned char)name[i]]) {
      *why = "Invalid header token"; /* RFC 9112 5.1: no whitespace before the colon, here too */
      return 400;
    }
  }
  s->trailer += len;
  if (r->head.len + s->trailer <= r->srv->cfg.max_header_bytes) return 0;
  *why = "request line, header and trailer fields larger than the limit (--max-header)";
  return 431;
}

/* How a request is checked by check_request. */
typedef struct {
  int need_host;          /* a Host field is required (HTTP/1.1 over a socket) */
  int connect;            /* the method is CONNECT */
  int parsed;             /* llhttp has checked the target's bytes already */
  int te;                 /* out: how many Transfer-Encoding fields */
  int te_tab;             /* out: an HTAB in one of their values */
  crater__strict *cache;  /* the connection's valid Host, or NULL */
} checking;

static int check_request(crater__request *r, checking *k, const char **why);
static inline int host_valid(crater__strict *cache, const char *v, size_t n);

int crater__strict_head_slow(crater__strict *s, llhttp_t *p, crater__request *r, const char **why) {
  if (p->http_major != 1) {
    /* RFC 9112 2.3: a 1.x minor version above 1 is served as 1.1. */
    *why = "only HTTP/1.x is supported";
    return 505;
  }
  if (s->odd & CRATER__STRICT_FOLD) {
    *why = CRATER__STRICT_OBS_FOLD;
    return 400;
  }
  if (!crater__request_names_ok(r, why)) return 400;
  checking k = {p->http_minor >= 1, p->method == HTTP_CONNECT, 1, 0, 0, s};
  int status = check_request(r, &k, why);
  /* llhttp sets F_TRANSFER_ENCODING only for a value it read: an empty
   * Transfer-Encoding field is counted by check_request. The framing
   * comes before the rest: it is why the connection cannot go on. */
  if (k.te > 0 || (p->flags & F_TRANSFER_ENCODING)) {
    if (p->http_minor == 0) {
      /* RFC 9112 6.1: the framing of such a message is faulty. */
      *why = "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1)";
      return 400;
    }
    if (s->te_tab || k.te_tab) {
      /* HTAB is whitespace to RFC 9110 (5.6.3), but llhttp takes
       * `chunked<HTAB>` for another coding and some front ends take
       * `<HTAB>chunked` so too: a Transfer-Encoding that two parsers may read
       * differently is refused whole. */
      *why = "a tab in Transfer-Encoding";
      return 400;
    }
    int te = crater__strict_transfer_encoding(r, why);
    if (te != 0) return te;
  }
  if (k.connect && ((p->flags & F_TRANSFER_ENCODING) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0))) {
    *why = "a CONNECT request has no content (RFC 9110 9.3.6)";
    return 400;
  }
  if (status != 0) return status;
  p->upgrade = 0; /* see crater__strict_head */
  s->head_flags = p->flags;
  s->odd |= CRATER__STRICT_TRAILER;
  return 0;
}

/* ===================================================================== */
/*  Parse errors                                                           */
/* ===================================================================== */

int crater__strict_request_line_ok(const char *p, const char *end, int in_method) {
  const char *method = p;
  while (p < end && crater__http_tchar[(unsigned char)*p]) p++; /* the rest of the method */
  if (p == end || *p != ' ' || (p == method && !in_method)) return 0;
  const char *target = ++p;
  while (p < end && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f) p++;
  if (p == end) return 1;
  if (p == target || *p != ' ') return 0;
  p++;
  static const char version[] = "HTTP/9.9"; /* 9: any digit */
  for (const char *v = version; *v; v++, p++) {
    if (p == end) return 1;
    if (*v == '9' ? (*p < '0' || *p > '9') : *p != *v) return 0;
  }
  if (p < end && *p == '\r') p++;
  return p == end || *p == '\n';
}

int crater__strict_parse_error(const llhttp_t *p, llhttp_errno_t err, const char *start, const char *end,
                               const char **why) {
  const char *reason = llhttp_get_error_reason(p);
  *why = reason != NULL ? reason : llhttp_errno_name(err);
  if (err == HPE_INVALID_METHOD) {
    /* llhttp knows a list of methods and stops at the first byte that
     * leaves it. An unknown method in a well-formed request line is not
     * implemented (RFC 9110 9.1: 501); anything else is a bad request line
     * (RFC 9112 3: 400). */
    const char *pos = llhttp_get_error_pos(p);
    /* The method began before pos when the byte before it (if this input
     * has it) belongs to a token: llhttp stopped inside `PROPFIN`, not at
     * a space that starts the line. */
    int in_method = pos != NULL && pos > start && crater__http_tchar[(unsigned char)pos[-1]];
    if (pos != NULL && pos >= start && pos < end && crater__strict_request_line_ok(pos, end, in_method)) {
      *why = "unknown request method";
      return 501;
    }
    *why = "malformed request line";
    return 400;
  }
  if (err == HPE_PAUSED_H2_UPGRADE) {
    *why = "HTTP version not supported: the HTTP/2 connection preface (RFC 9113 3.4) on an HTTP/1.x port";
    return 505;
  }
  return 400;
}

/* ===================================================================== */
/*  Any request: fields, Host, the request-target                          */
/* ===================================================================== */

/* reg-name's bytes besides pct-encoded (RFC 3986 3.2.2): unreserved and
 * sub-delims. */
static const unsigned char host_char[256] = {
  ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
  ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
  ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
  ['Y'] = 1, ['Z'] = 1,
  ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
  ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
  ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
  ['y'] = 1, ['z'] = 1,
  ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
  ['8'] = 1, ['9'] = 1,
  ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1,
  ['!'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1,
  [','] = 1, [';'] = 1, ['='] = 1,
};

/* The bytes a request-target may hold: visible ASCII (what llhttp's strict
 * mode lets through; an injected target is checked here) but '#': a
 * fragment is not part of any request-target form (RFC 9112 3.2). */
static const unsigned char target_char[256] = {
#define R16(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
  R16(0), R16(0),                               /* 0x00-0x1f */
  0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* SP ! " # $ ... */
  R16(1), R16(1), R16(1), R16(1),               /* 0x30-0x6f */
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x70-0x7e, DEL */
#undef R16
};

static inline int is_hex(unsigned char c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Where the uri-host of s ends (at its port's ':' or n), or n + 1 when it
 * is not a valid uri-host. */
static size_t host_end(const char *s, size_t n) {
  size_t i = 0;
  if (n > 0 && s[0] == '[') { /* IP-literal: IPv6address or IPvFuture, loosely */
    for (i = 1; i < n && s[i] != ']'; i++) {
      if (!host_char[(unsigned char)s[i]] && s[i] != ':') return n + 1;
    }
    if (i == n || i == 1) return n + 1;
    return i + 1;
  }
  for (; i < n && s[i] != ':'; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%') {
      if (i + 2 >= n || !is_hex((unsigned char)s[i + 1]) || !is_hex((unsigned char)s[i + 2])) return n + 1;
      i += 2;
    } else if (!host_char[c]) {
      return n + 1;
    }
  }
  return i;
}

/* 1 when s[i..n) is empty or ":" *DIGIT (with at least one digit when
 * need_digit). */
static int port_ok(const char *s, size_t i, size_t n, int need_digit) {
  if (i == n) return !need_digit;
  if (s[i] != ':') return 0;
  if (++i == n) return !need_digit;
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
  }
  return 1;
}

int crater__strict_host_ok(const char *s, size_t n) {
  size_t h = host_end(s, n);
  return h <= n && port_ok(s, h, n, 0);
}

int crater__strict_transfer_encoding(const crater__request *r, const char **why) {
  const char *head = r->head.data;
  int chunked = 0, others = 0, last_chunked = 0, bad = 0;
  for (int k = 0; k < r->nfields; k++) {
    const crater__field *f = &r->fields[k];
    if (f->name_len != 17 || !crater__http_name_eq(head + f->name_off, "transfer-encoding", 17)) continue;
    const char *v = head + f->value_off;
    size_t n = f->value_len;
    for (size_t i = 0; i <= n;) { /* one list element (RFC 9110 5.6.1) per turn */
      size_t a = i, b = i;
      while (b < n && v[b] != ',') b++;
      i = b + 1;
      while (a < b && ows((unsigned char)v[a])) a++;
      while (b > a && ows((unsigned char)v[b - 1])) b--;
      if (a == b) continue; /* an empty element */
      size_t t = a;
      while (t < b && crater__http_tchar[(unsigned char)v[t]]) t++;
      int params = 0;
      if (t == a) {
        bad = 1;
      } else if (t < b) { /* transfer-coding = token *( OWS ";" OWS transfer-parameter ) */
        size_t u = t;
        while (u < b && ows((unsigned char)v[u])) u++;
        if (u < b && v[u] == ';') params = 1;
        else bad = 1;
      }
      last_chunked = t - a == 7 && crater__http_name_eq(v + a, "chunked", 7);
      if (last_chunked) {
        chunked++;
        bad |= params; /* chunked has no parameters */
      } else {
        others++;
      }
    }
  }
  if (bad || chunked + others == 0) {
    *why = "malformed Transfer-Encoding (RFC 9112 6.1)";
    return 400;
  }
  if (!last_chunked || chunked > 1) {
    *why = "Transfer-Encoding without chunked once, as the final coding: the body length is unknown (RFC 9112 6.3)";
    return 400;
  }
  if (others > 0) {
    *why = "a transfer coding other than chunked is not implemented (RFC 9112 6.1)";
    return 501;
  }
  return 0;
}

/* 1 when the n bytes at a and b are equal (n <= 31): word loads, the last
 * one overlapping, rather than a call to memcmp. */
/* The request-target's form (RFC 9112 3.2); the Host field is `host` (an
 * index, or -1). */
static int target(crater__request *r, const checking *k, int host, const char **why) {
  const char *u = r->head.data;
  size_t n = r->url_len;
  if (n > 0 && u[0] == '/' && !k->connect) { /* origin-form: nearly every request */
    if (k->parsed) {
      if (!r->target_hash) return 0;
    } else {
      size_t i = 0;
      while (i < n && target_char[(unsigned char)u[i]]) i++;
      if (i == n) return 0;
    }
  }
  for (size_t i = 0; i < n; i++) {
    if (!target_char[(unsigned char)u[i]]) {
      *why = u[i] == '#' ? "a fragment (#) in the request target (RFC 9112 3.2)"
                         : "a byte in the request target that is not visible ASCII: percent-encode it "
                           "(RFC 9112 3.2, RFC 3986 2.1)";
      return 400;
    }
  }
  if (k->connect) { /* authority-form, host:port (RFC 9112 3.2.3) */
    size_t h = host_end(u, n);
    if (h == 0 || h > n || !port_ok(u, h, n, 1)) {
      *why = "a CONNECT request's target must be host:port (RFC 9112 3.2.3)";
      return 400;
    }
    r->answer = 501;
    r->answer_why = "CONNECT is not implemented: Crater is not a proxy (RFC 9110 9.3.6)";
    return 0;
  }
  if (n > 0 && u[0] == '/') return 0; /* origin-form */
  if (n == 1 && u[0] == '*') {        /* asterisk-form: the server as a whole */
    if (strcmp(r->method, "OPTIONS") == 0) {
      r->answer = 200;
      return 0;
    }
    *why = "the target * is only for OPTIONS (RFC 9112 3.2.4)";
    return 400;
  }
  /* absolute-form, of an http or https URI only: Crater is an origin
   * server, not a proxy. */
  size_t a = 0;
  if (n > 7 && crater__http_name_eq(u, "http://", 7)) a = 7;
  else if (n > 8 && crater__http_name_eq(u, "https://", 8)) a = 8;
  if (a == 0) {
    *why = "the request target must be /path, http://host/path or * (RFC 9112 3.2)";
    return 400;
  }
  size_t b = a;
  while (b < n && u[b] != '/' && u[b] != '?') b++;
  if (memchr(u + a, '@', b - a) != NULL) {
    *why = "user information (user@) in the request target (RFC 9110 4.2.4)";
    return 400;
  }
  size_t h = host_end(u + a, b - a);
  if (h == 0 || h > b - a || !port_ok(u + a, h, b - a, 0)) {
    *why = "an empty or invalid host in the request target (RFC 9110 4.2.1)";
    return 400;
  }
  /* RFC 9112 3.2.2: the target's authority, not the Host field, is the
   * host: the app sees it as the Host field (added when there is none,
   * HTTP/1.0 or injected), and routes the path after it. */
  if (host < 0) {
    crater__req_err e = crater__request_field_name(r, "Host", 4, 1);
    if (e != CRATER__REQ_OK) return crater__request_refusal(e, why);
    host = r->nfields - 1;
  }
  r->fields[host].value_off = (uint32_t)a;
  r->fields[host].value_len = (uint32_t)(b - a);
  r->target_off = b;
  return 0;
}

/* The connection's last valid Host value (cache, or NULL) saves reading
 * an unchanged one again. */
int crater__strict_host_read(crater__strict *cache, const char *v, size_t n) {
  if (!crater__strict_host_ok(v, n)) return 0;
  if (cache != NULL && n < sizeof(cache->host)) {
    memcpy(cache->host, v, n);
    cache->host_len = (unsigned char)n;
  }
  return 1;
}

static inline int host_valid(crater__strict *cache, const char *v, size_t n) {
  if (cache != NULL && n == cache->host_len && crater__strict_same(v, cache->host, n)) return 1;
  return crater__strict_host_read(cache, v, n);
}

/* Trims the values' trailing whitespace (RFC 9110 5.5: a value has none at
 * either end; llhttp and inject.c drop the leading one), finds the Host,
 * Transfer-Encoding and Expect fields, checks Host (RFC 9112 3.2: 400 for
 * more than one, an invalid one, or none when one is required), then the
 * target. */
static int check_request(crater__request *r, checking *k, const char **why) {
  const char *head = r->head.data;
  int host = -1, hosts = 0;
  for (int i = 0; i < r->nfields; i++) {
    crater__field *f = &r->fields[i];
    int te = f->name_len == 17 && crater__http_name_eq(head + f->name_off, "transfer-encoding", 17);
    if (te) {
      k->te++;
      k->te_tab |= memchr(head + f->value_off, '\t', f->value_len) != NULL;
    }
    while (f->value_len > 0 && ows((unsigned char)head[f->value_off + f->value_len - 1])) f->value_len--;
    if (f->name_len == 4 && crater__strict_is_host(head + f->name_off)) {
      host = i;
      hosts++;
    } else if (f->name_len == 6 && f->value_len == 12 && crater__http_name_eq(head + f->name_off, "expect", 6) &&
               crater__http_name_eq(head + f->value_off, "100-continue", 12)) {
      r->expect_continue = 1;
    }
  }
  if (hosts != 1) {
    if (hosts > 1) {
      *why = "more than one Host field (RFC 9112 3.2)";
      return 400;
    }
    if (k->need_host) {
      *why = "an HTTP/1.1 request without a Host field (RFC 9112 3.2)";
      return 400;
    }
  } else if (!host_valid(k->cache, head + r->fields[host].value_off, r->fields[host].value_len)) {
    *why = "an invalid Host field value (RFC 9112 3.2, RFC 9110 7.2)";
    return 400;
  }
  return target(r, k, host, why);
}

int crater__strict_request(crater__request *r, int need_host, const char **why) {
  checking k = {need_host, r->method[0] == 'C' && strcmp(r->method, "CONNECT") == 0, 0, 0, 0, NULL};
  return check_request(r, &k, why);
}
