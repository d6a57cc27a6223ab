/* alloc.h - every allocation of the C core goes through these wrappers, so a
 * test can count or fail them in one place. */
#ifndef CRATER_ALLOC_H
#define CRATER_ALLOC_H

#include <stddef.h>

void *crater__malloc(size_t n);
void *crater__calloc(size_t count, size_t n);
void *crater__realloc(void *p, size_t n);
void crater__free(void *p);
char *crater__strdup(const char *s);

#endif
