#include "buf.h"

#include <string.h>

#include "alloc.h"

int crater__buf_reserve(crater__buf *b, size_t extra) {
  if (b->cap - b->len >= extra) return 0;
  size_t want = b->len + extra;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < want) cap *= 2;
  char *p = crater__realloc(b->data, cap);
  if (p == NULL) return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

int crater__buf_append(crater__buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (crater__buf_reserve(b, n) != 0) return -1;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int crater__buf_appendz(crater__buf *b, const char *s) {
  return crater__buf_append(b, s, strlen(s));
}

int crater__buf_append_u64(crater__buf *b, unsigned long long v) {
  char tmp[24];
  size_t i = sizeof(tmp);
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  return crater__buf_append(b, tmp + i, sizeof(tmp) - i);
}

void crater__buf_free(crater__buf *b) {
  crater__free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
