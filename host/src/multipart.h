/* multipart.h - multipart.c: an incremental multipart/form-data parser
 * (RFC 7578 on RFC 2046's framing), fed a body in pieces of any size as they
 * arrive. It keeps no part's bytes: it hands each part's head, then its
 * bytes, then its end, to callbacks (upload.c stores them). No I/O, no Lua. */
#ifndef CRATER_MULTIPART_H
#define CRATER_MULTIPART_H

#include <stddef.h>

/* RFC 2046 5.1.1: a boundary is 1 to 70 characters. */
#define CRATER__MP_BOUNDARY_MAX 70
/* A part's header section (its fields, their CRLFs) is kept while it is read. */
#define CRATER__MP_HEAD_MAX 8192

/* What a part's head says; the strings live in the parser until the part's
 * end (filename NULL: a field, not a file). */
typedef struct {
  const char *name;
  size_t name_len;
  const char *filename;
  size_t filename_len;
  const char *content_type; /* "" when the part has no Content-Type */
  size_t content_type_len;
} crater__mp_part;

/* Each returns 0 to go on, or nonzero to stop: crater__mp_feed then
 * returns that value. */
typedef struct {
  int (*part_begin)(void *ud, const crater__mp_part *part);
  int (*part_data)(void *ud, const char *at, size_t len);
  int (*part_end)(void *ud);
} crater__mp_callbacks;

typedef struct {
  int state;
  size_t match;                 /* bytes of the delimiter matched, held back from a part */
  char delim[CRATER__MP_BOUNDARY_MAX + 4]; /* CRLF "--" boundary */
  size_t delim_len;
  char head[CRATER__MP_HEAD_MAX]; /* the current part's header section */
  size_t head_len;
  char vals[CRATER__MP_HEAD_MAX]; /* its name, filename and type, decoded */
  const char *why;              /* what was wrong, when crater__mp_feed returned -1 */
} crater__mp;

/* Finds the boundary parameter in a Content-Type value. Returns 1 when the
 * type is multipart/form-data (any case), 0 when it is another type;
 * with 1, *boundary and *len are the boundary, or *boundary is NULL and *why says
 * why it is missing or not valid. */
int crater__mp_content_type(const char *value, size_t vlen, const char **boundary, size_t *len,
                            char *scratch, size_t scratch_len, const char **why);

/* Starts parsing a body with this boundary (valid: crater__mp_content_type). */
void crater__mp_init(crater__mp *mp, const char *boundary, size_t len);

/* Parses the next piece of the body. Returns 0; -1 for a malformed body
 * (mp->why); or a callback's nonzero value. After an error, feed no more. */
int crater__mp_feed(crater__mp *mp, const char *data, size_t len, const crater__mp_callbacks *cb,
                    void *ud);

/* 1 when the closing delimiter was seen (the body is complete). */
int crater__mp_done(const crater__mp *mp);

#endif
