/* test.h - a tiny test runner: named tests in one list, ASSERT macros that
 * print both sides. */
#ifndef CRATER_TEST_H
#define CRATER_TEST_H

#include <stdio.h>
#include <string.h>

extern int test_failures;

#define TEST(name) void test_##name(void); void test_##name(void)

#define ASSERT_TRUE(cond)                                                        \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "  %s:%d: expected %s\n", __FILE__, __LINE__, #cond);      \
      test_failures++;                                                           \
      return;                                                                    \
    }                                                                            \
  } while (0)

#define ASSERT_EQ_INT(a, b)                                                      \
  do {                                                                           \
    long long a_ = (long long)(a), b_ = (long long)(b);                          \
    if (a_ != b_) {                                                              \
      fprintf(stderr, "  %s:%d: %s == %s: %lld != %lld\n", __FILE__, __LINE__,   \
              #a, #b, a_, b_);                                                   \
      test_failures++;                                                           \
      return;                                                                    \
    }                                                                            \
  } while (0)

#define ASSERT_EQ_STR(a, b)                                                      \
  do {                                                                           \
    const char *a_ = (a), *b_ = (b);                                             \
    if (strcmp(a_, b_) != 0) {                                                   \
      fprintf(stderr, "  %s:%d: %s == %s: \"%s\" != \"%s\"\n", __FILE__,         \
              __LINE__, #a, #b, a_, b_);                                         \
      test_failures++;                                                           \
      return;                                                                    \
    }                                                                            \
  } while (0)

#endif
