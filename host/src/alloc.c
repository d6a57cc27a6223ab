/* alloc.c - the allocation wrappers (see alloc.h). */
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

#ifdef CRATER_FAULT_INJECTION
/* The one piece of mutable state outside a server, and only in test
 * builds: a per-thread countdown to the allocation that fails. */
static _Thread_local long fail_countdown; /* 0: off; 1: the next one fails */
static _Thread_local int fail_sticky;
static _Thread_local long fail_count;

void crater__alloc_fail(long nth, int sticky) {
  fail_countdown = nth > 0 ? nth : 0;
  fail_sticky = sticky;
  fail_count = 0;
}

long crater__alloc_failed(void) { return fail_count; }

/* 1 when this allocation must fail. */
static int should_fail(void) {
  if (fail_countdown == 0) return 0;
  if (fail_countdown > 1) {
    fail_countdown--;
    return 0;
  }
  if (!fail_sticky) fail_countdown = 0;
  fail_count++;
  return 1;
}
#define FAIL_HERE() should_fail()
#else
#define FAIL_HERE() 0
#endif

void *crater__malloc(size_t n) { return FAIL_HERE() ? NULL : malloc(n); }

void *crater__calloc(size_t count, size_t n) { return FAIL_HERE() ? NULL : calloc(count, n); }

void *crater__realloc(void *p, size_t n) { return FAIL_HERE() ? NULL : realloc(p, n); }

void crater__free(void *p) { free(p); }

char *crater__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = crater__malloc(n);
  if (d != NULL) memcpy(d, s, n);
  return d;
}
