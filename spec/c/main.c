/* main.c - runs the tests of test_list.h and reports like "N passed, N failed". */
#include "test.h"
#include "test_list.h"

int test_failures;

#define XX(name) void test_##name(void);
CRATER_TEST_LIST(XX)
#undef XX

int main(void) {
  int passed = 0, failed = 0;
#define XX(name)                                  \
  {                                               \
    int before = test_failures;                   \
    test_##name();                                \
    if (test_failures == before) {                \
      passed++;                                   \
      printf("ok   %s\n", #name);                 \
    } else {                                      \
      failed++;                                   \
      printf("FAIL %s\n", #name);                 \
    }                                             \
  }
  CRATER_TEST_LIST(XX)
#undef XX
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
