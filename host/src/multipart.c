/* multipart.c - an incremental multipart/form-data parser (see multipart.h).
 *
 * The delimiter is CRLF "--" boundary. A boundary holds no CR (RFC 2046's
 * bchars), so CR is only ever the delimiter's first byte: on a mismatch the
 * bytes matched so far are part data and matching restarts at the byte that
 * failed, with no other partial match to remember. The body is parsed as if
 * a CRLF came before it, so a first delimiter at its very start matches. */
#include "multipart.h"

#include <string.h>

enum {
  S_PREAMBLE = 0, /* before the first delimiter: ignored */
  S_AFTER_DELIM,  /* transport padding, then CRLF (a part) or "--" (the end) */
  S_DASH,         /* one '-' of the closing "--" seen */
  S_LF,           /* the CR ending a delimiter line seen */
  S_HEAD,         /* a part's header section */
  S_BODY,         /* a part's bytes */
  S_EPILOGUE,     /* after the closing delimiter: ignored */
  S_ERROR
};

static int lower(int ch) { return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch; }

static int ieq(const char *a, size_t alen, const char *b) {
  size_t blen = strlen(b);
  if (alen != blen) return 0;
  for (size_t i = 0; i < alen; i++)
    if (lower((unsigned char)a[i]) != b[i]) return 0;
  return 1;
}

static int is_ows(char ch) { return ch == ' ' || ch == '\t'; }

/* RFC 2046 5.1.1's bchars. */
static int is_bchar(unsigned char ch) {
  if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) return 1;
  return ch != '\0' && strchr("'()+_,-./:=? ", ch) != NULL;
}

/* One parameter of a header value: `;` name `=` (token | quoted-string).
 * *p advances past it. Returns 1 with the name and the value (unquoted into
 * out, which holds at least end - *p bytes), 0 at the end, -1 when bad. */
static int next_param(const char **p, const char *end, const char **name, size_t *nlen, char *out,
                      size_t *olen) {
  const char *s = *p;
  while (s < end && (is_ows(*s) || *s == ';')) s++;
  if (s == end) return 0;
  *name = s;
  while (s < end && *s != '=' && *s != ';' && !is_ows(*s)) s++;
  *nlen = (size_t)(s - *name);
  while (s < end && is_ows(*s)) s++;
  if (s == end || *s != '=' || *nlen == 0) return -1;
  s++;
  while (s < end && is_ows(*s)) s++;
  size_t n = 0;
  if (s < end && *s == '"') {
    s++;
    for (;;) {
      if (s == end) return -1; /* no closing quote */
      if (*s == '"') break;
      if (*s == '\\' && s + 1 < end) s++;
      out[n++] = *s++;
    }
    s++;
  } else {
    while (s < end && *s != ';' && !is_ows(*s)) out[n++] = *s++;
  }
  *olen = n;
  *p = s;
  return 1;
}

int crater__mp_content_type(const char *value, size_t vlen, const char **boundary, size_t *len,
                            char *scratch, size_t scratch_len, const char **why) {
  const char *p = value, *end = value + vlen;
  while (p < end && is_ows(*p)) p++;
  const char *type = p;
  while (p < end && *p != ';' && !is_ows(*p)) p++;
  if (!ieq(type, (size_t)(p - type), "multipart/form-data")) return 0;
  *boundary = NULL;
  *why = "the Content-Type of a multipart/form-data body is too long";
  if (scratch_len < vlen) return 1;
  *why = "multipart/form-data without a boundary parameter";
  const char *name;
  size_t nlen, olen;
  int got;
  while ((got = next_param(&p, end, &name, &nlen, scratch, &olen)) == 1) {
    if (!ieq(name, nlen, "boundary")) continue;
    *why = "multipart/form-data boundary is not 1 to 70 characters of RFC 2046's set";
    if (olen == 0 || olen > CRATER__MP_BOUNDARY_MAX || scratch[olen - 1] == ' ') return 1;
    for (size_t i = 0; i < olen; i++)
      if (!is_bchar((unsigned char)scratch[i])) return 1;
    *boundary = scratch;
    *len = olen;
    return 1;
  }
  if (got < 0) *why = "malformed parameters in the Content-Type of a multipart/form-data body";
  return 1;
}

void crater__mp_init(crater__mp *mp, const char *boundary, size_t len) {
  mp->state = S_PREAMBLE;
  memcpy(mp->delim, "\r\n--", 4);
  memcpy(mp->delim + 4, boundary, len);
  mp->delim_len = len + 4;
  mp->match = 2; /* the CRLF before the body */
  mp->head_len = 0;
  mp->why = NULL;
}

int crater__mp_done(const crater__mp *mp) { return mp->state == S_EPILOGUE; }

static int fail(crater__mp *mp, const char *why) {
  mp->state = S_ERROR;
  mp->why = why;
  return -1;
}

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  ch = lower(ch);
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return -1;
}

/* RFC 8187's ext-value (charset'language'pct-encoded), UTF-8 only: decoded
 * in place. Returns its length, or -1 for another charset or bad escapes. */
static long ext_value(char *s, size_t n) {
  char *q1 = memchr(s, '\'', n);
  if (q1 == NULL || !ieq(s, (size_t)(q1 - s), "utf-8")) return -1;
  char *q2 = memchr(q1 + 1, '\'', n - (size_t)(q1 + 1 - s));
  if (q2 == NULL) return -1;
  const char *in = q2 + 1, *end = s + n;
  size_t o = 0;
  while (in < end) {
    if (*in == '%') {
      if (end - in < 3 || hexval(in[1]) < 0 || hexval(in[2]) < 0) return -1;
      s[o++] = (char)(hexval(in[1]) * 16 + hexval(in[2]));
      in += 3;
    } else {
      s[o++] = *in++;
    }
  }
  return (long)o;
}

/* Content-Disposition: form-data; name="..."[; filename="..."][; filename*=...] */
static int disposition(crater__mp *mp, const char *v, const char *end, crater__mp_part *part,
                       size_t *used) {
  const char *p = v;
  while (p < end && is_ows(*p)) p++;
  const char *type = p;
  while (p < end && *p != ';' && !is_ows(*p)) p++;
  if (!ieq(type, (size_t)(p - type), "form-data"))
    return fail(mp, "a part's Content-Disposition is not form-data");
  const char *name;
  size_t nlen, olen;
  int got, star = 0;
  while ((got = next_param(&p, end, &name, &nlen, mp->vals + *used, &olen)) == 1) {
    char *val = mp->vals + *used;
    if (ieq(name, nlen, "name")) {
      part->name = val;
      part->name_len = olen;
    } else if (ieq(name, nlen, "filename") && !star) {
      part->filename = val;
      part->filename_len = olen;
    } else if (ieq(name, nlen, "filename*")) {
      long n = ext_value(val, olen);
      if (n < 0) continue; /* not one we can read: the plain filename stands */
      part->filename = val;
      part->filename_len = (size_t)n;
      star = 1;
    } else {
      continue;
    }
    *used += olen;
  }
  if (got < 0) return fail(mp, "malformed parameters in a part's Content-Disposition");
  return 0;
}

/* The header section is complete (it ends with CRLF CRLF, or is one CRLF). */
static int head_done(crater__mp *mp, const crater__mp_callbacks *cb, void *ud) {
  crater__mp_part part = {NULL, 0, NULL, 0, "", 0};
  size_t used = 0; /* vals holds decoded values, each no longer than its source */
  int seen_cd = 0;
  const char *p = mp->head, *end = mp->head + mp->head_len;
  while (p < end) {
    const char *eol = memchr(p, '\r', (size_t)(end - p));
    if (eol == NULL) eol = end;
    if (eol == p) break; /* the empty line */
    if (is_ows(*p)) return fail(mp, "a part's header field is folded (obs-fold)");
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (colon == NULL) return fail(mp, "a part's header field has no colon");
    const char *v = colon + 1, *ve = eol;
    while (v < ve && is_ows(*v)) v++;
    while (ve > v && is_ows(ve[-1])) ve--;
    if (ieq(p, (size_t)(colon - p), "content-disposition")) {
      if (seen_cd++) return fail(mp, "a part has two Content-Disposition fields");
      if (disposition(mp, v, ve, &part, &used) != 0) return -1;
    } else if (ieq(p, (size_t)(colon - p), "content-type")) {
      memcpy(mp->vals + used, v, (size_t)(ve - v));
      part.content_type = mp->vals + used;
      part.content_type_len = (size_t)(ve - v);
      used += (size_t)(ve - v);
    }
    p = eol + 2;
  }
  if (part.name == NULL) return fail(mp, "a part has no Content-Disposition: form-data with a name");
  mp->state = S_BODY;
  mp->match = 0;
  return cb->part_begin(ud, &part);
}

/* Bytes matched of the delimiter were part data after all. */
static int give_back(crater__mp *mp, const crater__mp_callbacks *cb, void *ud) {
  size_t m = mp->match;
  mp->match = 0;
  return mp->state == S_BODY ? cb->part_data(ud, mp->delim, m) : 0;
}

int crater__mp_feed(crater__mp *mp, const char *data, size_t len, const crater__mp_callbacks *cb,
                    void *ud) {
  const char *p = data, *end = data + len;
  int rc;
  while (p < end) {
    switch (mp->state) {
      case S_PREAMBLE:
      case S_BODY:
        if (mp->match == 0) {
          /* The usual case: a CR that starts no delimiter is data, so the
           * data runs on to the next delimiter (or its start at the end of
           * the piece) and goes out in one call. */
          const char *q = p, *cr;
          size_t m = 0;
          while ((cr = memchr(q, '\r', (size_t)(end - q))) != NULL) {
            m = (size_t)(end - cr) < mp->delim_len ? (size_t)(end - cr) : mp->delim_len;
            if (memcmp(cr, mp->delim, m) == 0) break;
            q = cr + 1;
          }
          const char *stop = cr ? cr : end;
          if (mp->state == S_BODY && stop > p && (rc = cb->part_data(ud, p, (size_t)(stop - p))) != 0)
            return rc;
          if (cr == NULL) {
            p = end;
          } else if (m < mp->delim_len) {
            mp->match = m; /* held back: the next piece tells */
            p = end;
          } else {
            p = cr + m;
            if (mp->state == S_BODY && (rc = cb->part_end(ud)) != 0) return rc;
            mp->state = S_AFTER_DELIM;
          }
        } else if (*p == mp->delim[mp->match]) {
          p++;
          if (++mp->match < mp->delim_len) break;
          mp->match = 0;
          if (mp->state == S_BODY && (rc = cb->part_end(ud)) != 0) return rc;
          mp->state = S_AFTER_DELIM;
        } else if ((rc = give_back(mp, cb, ud)) != 0) {
          return rc; /* the byte that failed is looked at again */
        }
        break;
      case S_AFTER_DELIM:
        if (*p == '-') mp->state = S_DASH;
        else if (*p == '\r') mp->state = S_LF;
        else if (!is_ows(*p)) return fail(mp, "a boundary line goes on after the boundary");
        p++;
        break;
      case S_DASH:
        if (*p != '-') return fail(mp, "a boundary line goes on after the boundary");
        mp->state = S_EPILOGUE;
        p++;
        break;
      case S_LF:
        if (*p != '\n') return fail(mp, "a boundary line ends in CR without LF");
        mp->state = S_HEAD;
        mp->head_len = 0;
        p++;
        break;
      case S_HEAD: {
        /* Up to the end of the section or of this piece, whichever first. */
        while (p < end) {
          if (mp->head_len == CRATER__MP_HEAD_MAX)
            return fail(mp, "a part's header section is larger than 8 KiB");
          char ch = *p++;
          mp->head[mp->head_len++] = ch;
          if (ch != '\n') continue;
          size_t n = mp->head_len;
          if (n < 2 || mp->head[n - 2] != '\r') return fail(mp, "a part's header line ends in LF without CR");
          if (n == 2 || (n >= 4 && memcmp(mp->head + n - 4, "\r\n\r\n", 4) == 0)) {
            if ((rc = head_done(mp, cb, ud)) != 0) return rc;
            break;
          }
        }
        break;
      }
      case S_EPILOGUE:
        return 0;
      default:
        return -1;
    }
  }
  return 0;
}
