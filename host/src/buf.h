/* buf.h - a growable byte buffer: the unit of request and response storage. */
#ifndef CRATER_BUF_H
#define CRATER_BUF_H

#include <stddef.h>

typedef struct {
  char *data;  /* NULL until the first append */
  size_t len;  /* bytes in use */
  size_t cap;  /* bytes allocated */
} crater__buf;

/* Each returns 0, or -1 when memory runs out (the buffer is left intact). */
int crater__buf_reserve(crater__buf *b, size_t extra);
int crater__buf_append(crater__buf *b, const void *p, size_t n);
int crater__buf_appendz(crater__buf *b, const char *s);
int crater__buf_append_u64(crater__buf *b, unsigned long long v);
void crater__buf_free(crater__buf *b);

#endif
