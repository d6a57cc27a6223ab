#include "alloc.h"

#include <stdlib.h>
#include <string.h>

void *crater__malloc(size_t n) { return malloc(n); }

void *crater__calloc(size_t count, size_t n) { return calloc(count, n); }

void *crater__realloc(void *p, size_t n) { return realloc(p, n); }

void crater__free(void *p) { free(p); }

char *crater__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = crater__malloc(n);
  if (d != NULL) memcpy(d, s, n);
  return d;
}
