/* fixed_seed.c - LD_PRELOAD shim for ab_bench.sh: the same "random" bytes in every
 * run, chosen by $CRATER_BENCH_SEED (a number, default 1).
 *
 * LuaJIT 2.1 seeds its PRNG from getrandom(2) (through glibc's syscall()) at each
 * lua_State's creation; the seed salts string hashing, so the string table's
 * collisions, and with them the instructions spent interning strings and collecting
 * garbage, differ from run to run (about 0.5% of the instructions per request of
 * GET /json under callgrind; POST /items with an invalid body even lands on one of
 * two levels about 5% apart, by seed). With this shim every getrandom(2) made
 * through syscall() returns bytes that depend on $CRATER_BENCH_SEED only, and two
 * runs of the same binary under callgrind with the same seed count the same
 * instructions to within a few thousand in 10^8.
 *
 * For measuring only: a server running with it has predictable hashes.
 *
 *   cc -shared -fPIC -O2 -o fixed_seed.so spec/bench/fixed_seed.c -ldl
 *   CRATER_BENCH_SEED=2 LD_PRELOAD=$PWD/fixed_seed.so valgrind --tool=callgrind build-release/crater ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

long syscall(long number, ...) {
  va_list ap;
  long a[6];
  va_start(ap, number);
  for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
  va_end(ap);
#ifdef SYS_getrandom
  if (number == SYS_getrandom) {
    unsigned char *buf = (unsigned char *)a[0];
    size_t len = (size_t)a[1];
    const char *env = getenv("CRATER_BENCH_SEED");
    uint64_t x = (env != NULL && env[0] != '\0') ? strtoull(env, NULL, 10) : 1;
    x = x * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull; /* spread the seed */
    for (size_t i = 0; i < len; i++) { /* xorshift64* */
      x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
      buf[i] = (unsigned char)((x * 0x2545F4914F6CDD1Dull) >> 56);
    }
    return (long)len;
  }
#endif
  static long (*real)(long, ...);
  if (real == NULL) real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
  return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
