/* alloc.h - alloc.c: every allocation of the C core goes through these
 * wrappers, so a test can count or fail them in one place. */
#ifndef CRATER_ALLOC_H
#define CRATER_ALLOC_H

#include <stddef.h>

void *crater__malloc(size_t n);
void *crater__calloc(size_t count, size_t n);
void *crater__realloc(void *p, size_t n);
void crater__free(void *p);
char *crater__strdup(const char *s);

#ifdef CRATER_FAULT_INJECTION
/* Test builds only (the ASan core): makes allocations fail. After this
 * call, allocation number `nth` (1 = the next one) fails, and with `sticky`
 * every one after it too; nth 0 turns failing off. crater__alloc_failed()
 * counts the failures since the last call. The state is per thread: a
 * test's server and client threads do not disturb each other. */
void crater__alloc_fail(long nth, int sticky);
long crater__alloc_failed(void);
#endif

#endif
