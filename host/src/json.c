/* json.c - crater.json's codec: Lua values to JSON text and back.
 *
 * The contract (docs/json.md) is an exact round trip: [] stays an array and
 * {} an object, null survives as json.null, numbers keep every bit of their
 * double, strings are valid UTF-8 both ways. lua-cjson 2.1.0 breaks several
 * of these; both directions here are also faster than it (numbers in
 * docs/json.md, spec/bench/json_bench.lua measures them).
 *
 * Layout: the module table, the scratch buffer (the only memory we
 * allocate), the encoder, the decoder, helpers both use. Neither direction
 * calls back into Lua code (tables are read raw, metatables are only
 * compared), so a call runs to completion without yielding. */
#include "json.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#if defined(__GNUC__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define NORETURN __attribute__((noreturn))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#define NORETURN
#endif

#define MAX_DEPTH 1000          /* nested arrays/objects, both directions */
#define BUF_KEEP (1024 * 1024)  /* scratch kept between calls, in bytes */
#define BUF_MIN 4096            /* first allocation, in bytes */
#define PATH_MAX_CHARS 200      /* error paths are cut after this, with "..." */
#define TWO53 9007199254740992.0

/* Upvalues shared by encode, decode and is_array. */
#define UV_BUF lua_upvalueindex(1)      /* json_buf userdata */
#define UV_ARRAY_MT lua_upvalueindex(2) /* the array_mt table */

/* The encoder's output and the decoder's unescaping space. One lives in the
 * module's upvalue, so the memory is reused from call to call and freed by
 * __gc when the VM closes; a luaL_error in the middle of a call leaves it
 * owned by that userdata, so nothing leaks.
 *
 * It is allocated with the VM's lua_Alloc: the module build cannot link
 * alloc.c, and an embedder who gives Lua its own allocator sees ours too. */
typedef struct {
  char *data;  /* NULL until first use */
  size_t len;  /* bytes in use */
  size_t cap;  /* bytes allocated */
  int busy;    /* 1 while a call is using it; see buf_acquire() */
  int shared;  /* 1 for the module's buffer, 0 for a one-call buffer */
} json_buf;

typedef struct {
  lua_State *L;
  json_buf *b;
  int depth;   /* tables open now */
  char point;  /* the C library's decimal point (locale), 0 = not looked up */
  int guessing; /* inside a guessed array (encode_plain_table): no guess within */
  /* Where we are, for error messages: path[1..depth] is, per open table,
   * the array index (> 0) or minus the stack slot of the object key (< 0). */
  long long path[MAX_DEPTH + 1];
} encoder;

typedef struct {
  lua_State *L;
  json_buf *b;
  const unsigned char *start; /* the input, NUL-terminated (a Lua string) */
  const unsigned char *p;     /* next byte to read */
  const unsigned char *end;   /* start + length: *end == '\0' */
  int depth;                  /* arrays/objects open now */
  char point;                 /* as in encoder */
  const char *err;            /* NULL, or what went wrong ... */
  const char *err_after;      /* ... the rest of the message, after ... */
  int err_char;               /* ... the offending byte (or -1) ... */
  const unsigned char *err_at;/* ... and where */
} decoder;

static json_buf *buf_acquire(lua_State *L);
static void buf_release(lua_State *L, json_buf *b);
static int buf_grow(lua_State *L, json_buf *b, size_t need);
static int buf_gc(lua_State *L);

static int json_encode(lua_State *L);
static void encode_value(encoder *e, int idx);
static void encode_table(encoder *e, int idx);
static void encode_plain_table(encoder *e, int idx);
static void encode_array(encoder *e, int idx, size_t n);
static void encode_object(encoder *e, int idx);
static void encode_string(encoder *e, const char *s, size_t len, int is_key);
static void encode_number(encoder *e, double x);
static size_t format_double(encoder *e, char *out, double x);
#ifdef __SIZEOF_INT128__
static size_t format_fixed_exact(char *out, double x);
#endif
static size_t write_fixed(char *out, int neg, uint64_t d, int k);
static NORETURN void encode_fail(encoder *e, int path_len, const char *fmt, ...) PRINTF_LIKE(3, 4);

static int json_decode(lua_State *L);
static int decode_value(decoder *d);
static int decode_array(decoder *d);
static int decode_object(decoder *d);
static int decode_string(decoder *d);
static int decode_string_escaped(decoder *d, const unsigned char *s);
static int decode_number(decoder *d);
static int decode_literal(decoder *d, const char *word, size_t n);
static int decode_fail(decoder *d, const unsigned char *at, const char *what);
static int decode_fail_char(decoder *d, const unsigned char *at, const char *before,
                            const char *after);

static int json_is_array(lua_State *L);
static int json_utf8_error(lua_State *L);
static size_t sequence_length(lua_State *L, int idx);
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end);
static char decimal_point(void);
static inline void skip_ws(decoder *d);

/* 1 for the bytes a string scanner must stop at: '"', '\\', control
 * characters and non-ASCII (UTF-8 to validate); 0 for bytes copied as is.
 * NUL is 1, which also stops the decoder at the end of its input. */
static const unsigned char str_stop[256] = {
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* '"' */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* '\\' */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* Exact powers of ten: every one up to 1e22 is a double without rounding,
 * which is what makes the fast number paths below exact. */
static const double pow10_exact[23] = {
  1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static const char hex_digits[] = "0123456789abcdef";

/* Eight bytes at a time: nonzero when any of them is a str_stop byte
 * (< 0x20, '"', '\\' or >= 0x80). It may say yes for a word whose stop byte
 * is found later by the byte loop, never no for a word that holds one. */
static inline uint64_t word_has_stop(const unsigned char *p) {
  const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  uint64_t v;
  memcpy(&v, p, 8);
  uint64_t q = v ^ (ones * '"'), bs = v ^ (ones * '\\');
  uint64_t lt20 = (v - ones * 0x20) & ~v;
  uint64_t zq = (q - ones) & ~q, zbs = (bs - ones) & ~bs;
  return (lt20 | zq | zbs | v) & highs;
}

/* ---- module ------------------------------------------------------------- */

int crater__json_open(lua_State *L) {
  lua_createtable(L, 0, 8);

  json_buf *b = lua_newuserdata(L, sizeof(*b));
  memset(b, 0, sizeof(*b));
  b->shared = 1;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, buf_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);

  lua_createtable(L, 0, 0); /* array_mt: identity is all that matters */

  /* stack: M, buf, array_mt */
  lua_pushvalue(L, -2);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, json_encode, 2);
  lua_setfield(L, -4, "encode");
  lua_pushvalue(L, -2);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, json_decode, 2);
  lua_setfield(L, -4, "decode");
  lua_pushvalue(L, -2);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, json_is_array, 2);
  lua_setfield(L, -4, "is_array");
  lua_setfield(L, -3, "array_mt");
  lua_pop(L, 1);
  lua_pushcfunction(L, json_utf8_error);
  lua_setfield(L, -2, "utf8_error");

  /* The same null as lua-cjson's, so values cross between the two. */
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  lua_pushinteger(L, MAX_DEPTH);
  lua_setfield(L, -2, "max_depth");
  return 1;
}

#ifdef CRATER_JSON_MODULE
int luaopen_crater__json(lua_State *L);

__attribute__((visibility("default"))) int luaopen_crater__json(lua_State *L) {
  return crater__json_open(L);
}
#endif

/* ---- scratch buffer ----------------------------------------------------- */

/* Returns the module's buffer, emptied and marked busy. If it is busy
 * already we have been re-entered: the only way is a __gc finalizer run by
 * an allocation of ours (LuaJIT runs the GC step in lua_pushlstring before it
 * copies our bytes) that itself calls crater.json. That call gets a one-call
 * buffer of its own, a userdata left on the stack, so the outer call's bytes
 * stay intact.
 *
 * NOTE: a memory error raised by Lua itself (not by us) while busy leaves the
 * flag set; every later call then takes the one-call path. Correct, slower. */
static json_buf *buf_acquire(lua_State *L) {
  json_buf *b = lua_touserdata(L, UV_BUF);
  if (LIKELY(!b->busy)) {
    b->busy = 1;
    b->len = 0;
    return b;
  }
  json_buf *t = lua_newuserdata(L, sizeof(*t));
  memset(t, 0, sizeof(*t));
  t->busy = 1;
  lua_getmetatable(L, UV_BUF);
  lua_setmetatable(L, -2);
  return t;
}

/* Ends a call's use of b. A buffer grown past BUF_KEEP by one big document
 * is given back rather than held for the life of the VM. */
static void buf_release(lua_State *L, json_buf *b) {
  b->busy = 0;
  if (b->cap > BUF_KEEP || !b->shared) {
    void *ud;
    lua_Alloc f = lua_getallocf(L, &ud);
    f(ud, b->data, b->cap, 0);
    b->data = NULL;
    b->cap = 0;
  }
  b->len = 0;
}

/* Makes room for `need` more bytes after b->len. Returns 0, or -1 when
 * memory runs out (b stays consistent, possibly emptied). */
static int buf_grow(lua_State *L, json_buf *b, size_t need) {
  size_t cap = b->cap ? b->cap : BUF_MIN;
  if (need > SIZE_MAX / 2 - b->len) return -1;
  while (cap - b->len < need) cap *= 2;
  void *ud;
  lua_Alloc f = lua_getallocf(L, &ud);
  char *p;
  if (b->len == 0 && b->data != NULL) {
    /* Nothing to keep: skip realloc's copy of the old bytes. */
    f(ud, b->data, b->cap, 0);
    b->data = NULL;
    b->cap = 0;
  }
  p = f(ud, b->data, b->cap, cap);
  if (p == NULL) return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

static int buf_gc(lua_State *L) {
  json_buf *b = lua_touserdata(L, 1);
  if (b != NULL && b->data != NULL) {
    void *ud;
    lua_Alloc f = lua_getallocf(L, &ud);
    f(ud, b->data, b->cap, 0);
    b->data = NULL;
    b->cap = 0;
  }
  return 0;
}

/* ---- encoder ------------------------------------------------------------ */

static int json_encode(lua_State *L) {
  encoder e;
  lua_settop(L, 1);
  e.L = L;
  e.depth = 0;
  e.point = 0;
  e.guessing = 0;
  e.b = buf_acquire(L);
  encode_value(&e, 1);
  lua_pushlstring(L, e.b->data, e.b->len);
  buf_release(L, e.b);
  return 1;
}

/* Room for n more bytes; returns where to write them. */
static inline char *reserve(encoder *e, size_t n) {
  json_buf *b = e->b;
  if (UNLIKELY(b->cap - b->len < n) && buf_grow(e->L, b, n) != 0)
    encode_fail(e, -1, "out of memory");
  return b->data + b->len;
}

static inline void put(encoder *e, const char *s, size_t n) {
  memcpy(reserve(e, n), s, n);
  e->b->len += n;
}

static inline void put_char(encoder *e, char c) {
  *reserve(e, 1) = c;
  e->b->len++;
}

static void encode_value(encoder *e, int idx) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    encode_string(e, s, len, 0);
    return;
  }
  case LUA_TNUMBER:
    encode_number(e, lua_tonumber(L, idx));
    return;
  case LUA_TTABLE:
    encode_table(e, idx);
    return;
  case LUA_TBOOLEAN:
    if (lua_toboolean(L, idx))
      put(e, "true", 4);
    else
      put(e, "false", 5);
    return;
  case LUA_TNIL:
    put(e, "null", 4);
    return;
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) {
      put(e, "null", 4);
      return;
    }
    encode_fail(e, e->depth, "cannot encode a lightuserdata other than json.null");
  default:
    encode_fail(e, e->depth, "cannot encode a %s", lua_typename(L, lua_type(L, idx)));
  }
}

/* A table with array_mt is an array of t[1..#t]; any other table is
 * classified by its keys (encode_plain_table). Other metatables are ignored:
 * we read tables raw and never call metamethods. */
static void encode_table(encoder *e, int idx) {
  lua_State *L = e->L;
  if (UNLIKELY(e->depth >= MAX_DEPTH))
    encode_fail(e, e->depth, "nesting deeper than %d (a cycle?)", MAX_DEPTH);
  if (UNLIKELY(!lua_checkstack(L, 4))) encode_fail(e, e->depth, "Lua stack overflow");
  e->depth++;
  if (lua_getmetatable(L, idx)) {
    int marked = lua_rawequal(L, -1, UV_ARRAY_MT);
    lua_pop(L, 1);
    if (marked) {
      encode_array(e, idx, lua_objlen(L, idx));
      e->depth--;
      return;
    }
  }
  encode_plain_table(e, idx);
  e->depth--;
}

/* Empty is {}; keys exactly 1..n make an array; anything else an object.
 *
 * Deciding "exactly 1..n" needs every key, which would mean walking the
 * table twice. Instead we guess array when next() starts with key 1 and
 * encode while the keys keep coming as 2, 3, ...: that is the order of a
 * table whose integer keys sit in its array part, i.e. nearly every list.
 * If a key breaks the run we drop what we wrote and classify the slow way
 * (sequence_length). A first key that is a string means object at once.
 *
 * Tables inside a guess are classified the slow way: a dropped guess
 * encodes its values twice, and guesses within guesses made that 2^depth
 * (a chain of 30 tables with keys 1 and 3 took seconds). One guess at a
 * time keeps encoding linear in each table's depth. */
static void encode_plain_table(encoder *e, int idx) {
  lua_State *L = e->L;
  size_t mark = e->b->len;
  lua_pushnil(L);
  if (!lua_next(L, idx)) {
    put(e, "{}", 2);
    return;
  }
  if (lua_type(L, -2) == LUA_TSTRING) {
    lua_pop(L, 2);
    encode_object(e, idx);
    return;
  }
  if (!e->guessing && lua_type(L, -2) == LUA_TNUMBER && lua_tonumber(L, -2) == 1.0) {
    double expect = 1.0;
    e->guessing = 1;
    put_char(e, '[');
    for (;;) {
      e->path[e->depth] = (long long)expect;
      encode_value(e, lua_gettop(L));
      lua_pop(L, 1);
      if (!lua_next(L, idx)) {
        put_char(e, ']');
        e->guessing = 0;
        return;
      }
      expect += 1.0;
      if (lua_type(L, -2) != LUA_TNUMBER || lua_tonumber(L, -2) != expect) break;
      put_char(e, ',');
    }
    e->guessing = 0;
    e->b->len = mark;
  }
  lua_pop(L, 2);
  size_t n = sequence_length(L, idx);
  if (n > 0)
    encode_array(e, idx, n);
  else
    encode_object(e, idx);
}

static void encode_array(encoder *e, int idx, size_t n) {
  lua_State *L = e->L;
  put_char(e, '[');
  for (size_t i = 1; i <= n; i++) {
    if (i > 1) put_char(e, ',');
    e->path[e->depth] = (long long)i;
    lua_rawgeti(L, idx, (int)i);
    encode_value(e, lua_gettop(L));
    lua_pop(L, 1);
  }
  put_char(e, ']');
}

/* Keys: strings as they are, numbers written the way values are (so
 * t[1] is "1" and t[1.5] is "1.5"), anything else an error. The order is
 * next()'s, which is not sorted and not stable between runs. */
static void encode_object(encoder *e, int idx) {
  lua_State *L = e->L;
  int first = 1;
  put_char(e, '{');
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int key = lua_gettop(L) - 1;
    if (!first) put_char(e, ',');
    first = 0;
    e->path[e->depth] = -(long long)key;
    switch (lua_type(L, key)) {
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, key, &len);
      encode_string(e, s, len, 1);
      break;
    }
    case LUA_TNUMBER:
      /* Not lua_tostring: it would turn the key into a string in place,
       * which breaks next(). */
      put_char(e, '"');
      encode_number(e, lua_tonumber(L, key));
      put_char(e, '"');
      break;
    default:
      encode_fail(e, e->depth - 1, "cannot encode a %s key", lua_typename(L, lua_type(L, key)));
    }
    put_char(e, ':');
    encode_value(e, key + 1);
    lua_pop(L, 1);
  }
  put_char(e, '}');
}

/* Quotes and escapes the bytes p..end at out, which has room for
 * (end - p) * 6 + 2 bytes: '"', '\\' and control characters (as \n, \t, ...
 * or \u00XX); '/' and everything else, DEL and U+2028 included, is copied.
 * Returns the end of what it wrote. At a byte that does not start valid
 * UTF-8 it returns NULL with *bad set to its offset, or, with `replace`,
 * writes \ufffd for it and goes on (for text of unknown origin). Inline in
 * both callers, so the encoder's copy keeps no replace branch. */
static inline char *quote(char *out, const unsigned char *p, const unsigned char *end, int replace,
                          size_t *bad) {
  const unsigned char *start = p;
  *out++ = '"';
  for (;;) {
    const unsigned char *run = p;
    while (end - p >= 8 && !word_has_stop(p)) p += 8;
    while (p < end && !str_stop[*p]) p++;
    memcpy(out, run, (size_t)(p - run));
    out += p - run;
    if (p == end) break;
    unsigned char c = *p;
    if (c >= 0x80) {
      size_t n = utf8_sequence(p, end);
      if (UNLIKELY(n == 0)) {
        if (!replace) {
          *bad = (size_t)(p - start);
          return NULL;
        }
        memcpy(out, "\\ufffd", 6);
        out += 6;
        p++;
        continue;
      }
      memcpy(out, p, n);
      out += n;
      p += n;
      continue;
    }
    *out++ = '\\';
    switch (c) {
    case '"': *out++ = '"'; break;
    case '\\': *out++ = '\\'; break;
    case '\n': *out++ = 'n'; break;
    case '\t': *out++ = 't'; break;
    case '\r': *out++ = 'r'; break;
    case '\b': *out++ = 'b'; break;
    case '\f': *out++ = 'f'; break;
    default:
      memcpy(out, "u00", 3);
      out[3] = hex_digits[c >> 4];
      out[4] = hex_digits[c & 15];
      out += 5;
    }
    p++;
  }
  *out++ = '"';
  return out;
}

/* The encoder's strings: s must be valid UTF-8. */
static void encode_string(encoder *e, const char *s, size_t len, int is_key) {
  const unsigned char *p = (const unsigned char *)s;
  if (UNLIKELY(len > (SIZE_MAX - 2) / 6)) encode_fail(e, -1, "out of memory");
  /* Worst case every byte becomes \u00XX: reserve that once, so the loop
   * needs no checks. */
  char *out = reserve(e, len * 6 + 2);
  size_t bad = 0;
  out = quote(out, p, p + len, 0, &bad);
  if (UNLIKELY(out == NULL)) {
    encode_fail(e, is_key ? e->depth - 1 : e->depth, "invalid UTF-8 in %s (byte %zu of %zu)",
                is_key ? "a key" : "a string", bad + 1, len);
  }
  e->b->len = (size_t)(out - e->b->data);
}

#ifndef CRATER_JSON_MODULE
size_t crater__json_quote(char *out, const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t bad;
  return (size_t)(quote(out, p, p + len, 1, &bad) - out);
}
#endif

/* Writes u in decimal at out; returns the length. */
static size_t put_u64(char *out, uint64_t u) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u != 0);
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}

/* Integral values below 2^53 as integers ("42", "-7", "-0"); the rest as
 * the shortest of %.15g, %.16g and %.17g that reads back as the same double
 * (format_double). NaN and infinities have no JSON form. */
static void encode_number(encoder *e, double x) {
  char *out = reserve(e, 32);
  if (x > -TWO53 && x < TWO53) {
    int64_t i = (int64_t)x;
    if ((double)i == x) {
      size_t n = 0;
      if (i < 0 || (i == 0 && signbit(x))) out[n++] = '-';
      n += put_u64(out + n, i < 0 ? (uint64_t)-i : (uint64_t)i);
      e->b->len += n;
      return;
    }
  } else if (UNLIKELY(!isfinite(x))) {
    encode_fail(e, e->depth, "cannot encode %s", x != x ? "NaN" : x > 0 ? "inf" : "-inf");
  }
  e->b->len += format_double(e, out, x);
}

/* Writes x (finite, not an integer below 2^53) at out, at most 25 bytes:
 * the first of %.15g, %.16g and %.17g that strtod reads back as x. */
static size_t format_double(encoder *e, char *out, double x) {
  double ax = fabs(x);
  size_t n;
  if (ax >= 1e-4 && ax < 1e14) {
    /* Prices and the like: x = d / 10^k with few decimals. IEEE division
     * of exact integers is correctly rounded, so d / 10^k == x means the
     * decimal d/10^k (at most 15 digits) reads back as x, and it is then
     * what %.15g prints (trailing zeros aside): the same text as below. */
    static const double p10[] = {1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
    for (int k = 1; k <= 6; k++) {
      double t = ax * p10[k - 1];
      if (t >= 1e15) break;
      double d = (double)(int64_t)(t + 0.5);
      if (d / p10[k - 1] == ax) return write_fixed(out, x < 0, (uint64_t)d, k);
    }
  }
#ifdef __SIZEOF_INT128__
  if (ax >= 1e-4 && ax < 1e15 && (n = format_fixed_exact(out, x)) != 0) return n;
#endif
  /* snprintf and strtod both use the locale's decimal point, so the check
   * works in any locale; the point is made '.' afterwards. */
  int len = 0;
  for (int prec = 15; prec <= 17; prec++) {
    len = snprintf(out, 32, "%.*g", prec, x);
    if (prec == 17 || strtod(out, NULL) == x) break;
  }
  n = (size_t)len;
  if (e->point == 0) e->point = decimal_point();
  if (e->point != '.') {
    char *dot = memchr(out, e->point, n);
    if (dot != NULL) *dot = '.';
  }
  return n;
}

#ifdef __SIZEOF_INT128__
typedef unsigned __int128 u128;

static u128 pow10_u128(int k) {
  static const uint64_t p[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
    100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
    10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
    100000000000000000ULL, 1000000000000000000ULL, 10000000000000000000ULL,
  };
  return k < 20 ? (u128)p[k] : (u128)p[19] * 10;
}

/* format_double for 1e-4 <= |x| < 1e15, the range where %g writes fixed
 * notation, without snprintf or strtod: same output, about 10x faster.
 *
 * Exact integers throughout. x = f / 2^E (f the 53-bit significand, here
 * 3 <= E <= 66), so with S = 10^k, x * S = f*S / 2^E: shifting f*S (< 2^120)
 * right by E and rounding half to even on the bits shifted out gives the
 * correctly rounded decimal d / S, as printf does. d / S reads back as x iff
 * it lies within half a gap of x, ties going to the even significand; scaled
 * by 4 * S * 2^E the half gaps are 2S (S below a power of two, where the gap
 * under x halves). Returns 0 to leave the case to snprintf: only when
 * rounding up to 1e15 makes %.15g switch to exponent notation. */
static size_t format_fixed_exact(char *out, double x) {
  double ax = fabs(x);
  uint64_t bits;
  memcpy(&bits, &ax, sizeof(bits));
  uint64_t f = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
  int E = 1075 - (int)(bits >> 52);
  if (E < 1 || E > 66) return 0;

  /* X = floor(log10(ax)): a guess from the binary exponent (78913 / 2^18
   * is log10(2) rounded down), made exact by the integer test
   * 10^16 <= floor(ax * 10^(16 - X)) < 10^17. */
  int e2 = (int)(bits >> 52) - 1023;
  int X = e2 >= 0 ? (e2 * 78913) >> 18 : -((-e2 * 78913 + (1 << 18) - 1) >> 18);
  if (X < -4) X = -4;
  if (X > 14) X = 14;
  for (;;) {
    u128 q = ((u128)f * pow10_u128(16 - X)) >> E;
    if (q < pow10_u128(16) && X > -4) X--;
    else if (q >= pow10_u128(17) && X < 14) X++;
    else break;
  }

  for (int prec = 15; prec <= 17; prec++) {
    int k = prec - 1 - X; /* digits after the point: 0..20 */
    u128 S = pow10_u128(k), N = (u128)f * S;
    u128 d = N >> E, rest = N - (d << E), half = (u128)1 << (E - 1);
    if (rest > half || (rest == half && (d & 1))) d++;

    u128 A = d << E, diff, limit = 2 * S;
    if (A >= N) {
      diff = 4 * (A - N);
    } else {
      diff = 4 * (N - A);
      if (f == (1ULL << 52)) limit = S;
    }
    if (diff > limit || (diff == limit && (f & 1))) continue;
    if (d == pow10_u128(prec) && X + 1 >= prec) return 0;
    return write_fixed(out, x < 0, (uint64_t)d, k);
  }
  return 0; /* not reached: 17 digits always read back */
}
#endif

/* Writes (-)d / 10^k in fixed notation without trailing zeros. */
static size_t write_fixed(char *out, int neg, uint64_t d, int k) {
  char digits[24];
  size_t n = 0, nd;
  while (k >= 8 && d % 100000000 == 0) d /= 100000000, k -= 8;
  while (k >= 2 && d % 100 == 0) d /= 100, k -= 2;
  while (k > 0 && d % 10 == 0) d /= 10, k--;
  nd = put_u64(digits, d);
  if (neg) out[n++] = '-';
  if (k == 0) {
    memcpy(out + n, digits, nd);
    return n + nd;
  }
  if ((size_t)k >= nd) {
    out[n++] = '0';
    out[n++] = '.';
    for (size_t z = nd; z < (size_t)k; z++) out[n++] = '0';
    memcpy(out + n, digits, nd);
    return n + nd;
  }
  memcpy(out + n, digits, nd - (size_t)k);
  n += nd - (size_t)k;
  out[n++] = '.';
  memcpy(out + n, digits + nd - (size_t)k, (size_t)k);
  return n + (size_t)k;
}

/* Raises "crater.json.encode: <what> at <path>", where path names the
 * value in Lua terms ($.items[3].name) through the first path_len open
 * tables (-1: no path). Releases the buffer first: luaL_error does not
 * return. */
static void encode_fail(encoder *e, int path_len, const char *fmt, ...) {
  lua_State *L = e->L;
  char what[160], path[PATH_MAX_CHARS + 40];
  size_t n = 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  buf_release(L, e->b);
  if (path_len < 0) luaL_error(L, "crater.json.encode: %s", what);

  path[0] = '$';
  path[1] = '\0';
  for (int i = 1; i <= path_len && n < PATH_MAX_CHARS; i++) {
    long long k = e->path[i];
    int w;
    if (k >= 0) {
      w = snprintf(path + n, sizeof(path) - n, "[%lld]", k);
    } else if (lua_type(L, (int)-k) == LUA_TNUMBER) {
      w = snprintf(path + n, sizeof(path) - n, "[%.17g]", lua_tonumber(L, (int)-k));
    } else {
      const char *s = lua_tostring(L, (int)-k);
      size_t j = 0;
      int ident = (s[0] < '0' || s[0] > '9');
      for (; s[j] != '\0' && ident; j++) {
        char c = s[j];
        ident = (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
      }
      if (ident && j > 0)
        w = snprintf(path + n, sizeof(path) - n, ".%s", s);
      else
        w = snprintf(path + n, sizeof(path) - n, "[\"%s\"]", s);
    }
    if (w < 0) break;
    n += (size_t)w;
  }
  if (n >= PATH_MAX_CHARS) memcpy(path + PATH_MAX_CHARS, "...", 4);
  luaL_error(L, "crater.json.encode: %s at %s", what, path);
  abort(); /* not reached */
}

/* ---- decoder ------------------------------------------------------------ */

/* Returns the value, or nil, "<what> at byte N", N: N counts from 1, so
 * s:sub(N) starts at the offending byte; N = #s + 1 means the text ended
 * too early. Raises only for a non-string argument or no memory. */
static int json_decode(lua_State *L) {
  decoder d;
  size_t len;
  if (lua_type(L, 1) != LUA_TSTRING) return luaL_typerror(L, 1, "string");
  d.start = (const unsigned char *)lua_tolstring(L, 1, &len);
  lua_settop(L, 1);
  d.L = L;
  d.p = d.start;
  d.end = d.start + len;
  d.depth = 0;
  d.point = 0;
  d.err = NULL;
  d.err_after = "";
  d.err_char = -1;
  d.b = buf_acquire(L);
  if (decode_value(&d) == 0) {
    skip_ws(&d);
    if (d.p != d.end) decode_fail(&d, d.p, "unexpected data after the JSON value");
  }
  buf_release(L, d.b);
  if (LIKELY(d.err == NULL)) return 1;

  /* Only here, on the way out, is the message formatted. */
  char msg[200];
  lua_Integer at = (lua_Integer)(d.err_at - d.start) + 1;
  if (d.err_at == d.end)
    snprintf(msg, sizeof(msg), "unexpected end of input at byte %lld", (long long)at);
  else if (d.err_char >= 0x21 && d.err_char < 0x7f)
    snprintf(msg, sizeof(msg), "%s '%c'%s at byte %lld", d.err, d.err_char, d.err_after, (long long)at);
  else if (d.err_char >= 0)
    snprintf(msg, sizeof(msg), "%s 0x%02x%s at byte %lld", d.err, d.err_char, d.err_after, (long long)at);
  else
    snprintf(msg, sizeof(msg), "%s at byte %lld", d.err, (long long)at);
  lua_settop(L, 1);
  lua_pushnil(L);
  lua_pushstring(L, msg);
  lua_pushinteger(L, at);
  return 3;
}

/* Records the first error; returns -1 for the caller to return. */
static int decode_fail(decoder *d, const unsigned char *at, const char *what) {
  if (d->err == NULL) {
    d->err = what;
    d->err_at = at;
  }
  return -1;
}

/* As decode_fail, naming the byte at `at`: "<before> 'x'<after>". */
static int decode_fail_char(decoder *d, const unsigned char *at, const char *before,
                            const char *after) {
  if (d->err != NULL) return -1;
  d->err_char = *at;
  d->err_after = after;
  return decode_fail(d, at, before);
}

/* RFC 8259 whitespace only: no BOM, no form feed, no comments. */
static inline void skip_ws(decoder *d) {
  const unsigned char *p = d->p;
  while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
  d->p = p;
}

/* Pushes one value, whitespace before it skipped. 0, or -1 with d->err. */
static int decode_value(decoder *d) {
  skip_ws(d);
  switch (*d->p) {
  case '"': return decode_string(d);
  case '{': return decode_object(d);
  case '[': return decode_array(d);
  case '-': case '0': case '1': case '2': case '3': case '4':
  case '5': case '6': case '7': case '8': case '9':
    return decode_number(d);
  case 't':
    if (decode_literal(d, "true", 4) != 0) return -1;
    lua_pushboolean(d->L, 1);
    return 0;
  case 'f':
    if (decode_literal(d, "false", 5) != 0) return -1;
    lua_pushboolean(d->L, 0);
    return 0;
  case 'n':
    if (decode_literal(d, "null", 4) != 0) return -1;
    lua_pushlightuserdata(d->L, NULL);
    return 0;
  default:
    if (d->p == d->end) return decode_fail(d, d->p, "unexpected end of input");
    return decode_fail_char(d, d->p, "unexpected character", "");
  }
}

static int decode_literal(decoder *d, const char *word, size_t n) {
  const unsigned char *p = d->p;
  for (size_t i = 0; i < n; i++) {
    /* Stops at the terminating NUL at the latest: no read past the end. */
    if (p[i] != (unsigned char)word[i]) {
      if (p + i == d->end) return decode_fail(d, d->end, "unexpected end of input");
      return decode_fail(d, p, "invalid literal");
    }
  }
  d->p = p + n;
  return 0;
}

/* Arrays and objects are built on the Lua stack first, up to PENDING
 * values, so small ones get a table of exactly their size from one
 * lua_createtable instead of growing through rehashes. Bigger ones switch
 * to a table sized PENDING and fill it as they go. The stack budget keeps
 * the pending values of all open levels under LUAI_MAXCSTACK (8000 slots)
 * at the maximum depth. */
#define PENDING 32
#define STACK_BUDGET 4000

/* Moves the n values above `base` into a new table left at base + 1.
 * pairs: the values are key, value, key, value... */
static void flush_pending(lua_State *L, int base, int n, int pairs) {
  if (pairs) {
    lua_createtable(L, 0, n / 2);
    for (int i = 1; i <= n; i += 2) {
      lua_pushvalue(L, base + i);
      lua_pushvalue(L, base + i + 1);
      lua_rawset(L, -3); /* in order: with duplicate keys the last wins */
    }
  } else {
    lua_createtable(L, n, 0);
    for (int i = 1; i <= n; i++) {
      lua_pushvalue(L, base + i);
      lua_rawseti(L, -2, i);
    }
  }
  if (n > 0) {
    lua_replace(L, base + 1);
    lua_settop(L, base + 1);
  }
}

static int decode_array(decoder *d) {
  lua_State *L = d->L;
  int base = lua_gettop(L), n = 0, table = 0;
  if (UNLIKELY(++d->depth > MAX_DEPTH)) return decode_fail(d, d->p, "nesting deeper than 1000");
  d->p++;
  skip_ws(d);
  if (*d->p == ']') {
    d->p++;
    lua_createtable(L, 0, 0);
  } else {
    for (;;) {
      if (!table && (n == PENDING || base + n > STACK_BUDGET)) {
        flush_pending(L, base, n, 0);
        table = 1;
      }
      if (UNLIKELY(!lua_checkstack(L, 4))) return decode_fail(d, d->p, "Lua stack overflow");
      if (decode_value(d) != 0) return -1;
      n++;
      if (table) lua_rawseti(L, base + 1, n);
      skip_ws(d);
      if (*d->p == ',') {
        d->p++;
        continue;
      }
      if (*d->p == ']') break;
      if (d->p == d->end) return decode_fail(d, d->p, "unexpected end of input");
      return decode_fail_char(d, d->p, "unexpected character", " in array (expected ',' or ']')");
    }
    d->p++;
    if (!table) flush_pending(L, base, n, 0);
  }
  lua_pushvalue(L, UV_ARRAY_MT);
  lua_setmetatable(L, -2);
  d->depth--;
  return 0;
}

static int decode_object(decoder *d) {
  lua_State *L = d->L;
  int base = lua_gettop(L), n = 0, table = 0;
  if (UNLIKELY(++d->depth > MAX_DEPTH)) return decode_fail(d, d->p, "nesting deeper than 1000");
  d->p++;
  skip_ws(d);
  if (*d->p == '}') {
    d->p++;
    lua_createtable(L, 0, 0);
    d->depth--;
    return 0;
  }
  for (;;) {
    if (!table && (n == PENDING || base + n > STACK_BUDGET)) {
      flush_pending(L, base, n, 1);
      table = 1;
    }
    if (UNLIKELY(!lua_checkstack(L, 4))) return decode_fail(d, d->p, "Lua stack overflow");
    skip_ws(d);
    if (*d->p != '"') {
      if (d->p == d->end) return decode_fail(d, d->p, "unexpected end of input");
      return decode_fail_char(d, d->p, "unexpected character", " in object (expected a string key)");
    }
    if (decode_string(d) != 0) return -1;
    skip_ws(d);
    if (*d->p != ':') {
      if (d->p == d->end) return decode_fail(d, d->p, "unexpected end of input");
      return decode_fail_char(d, d->p, "unexpected character", " after object key (expected ':')");
    }
    d->p++;
    if (decode_value(d) != 0) return -1;
    n += 2;
    if (table) lua_rawset(L, base + 1);
    skip_ws(d);
    if (*d->p == ',') {
      d->p++;
      continue;
    }
    if (*d->p == '}') break;
    if (d->p == d->end) return decode_fail(d, d->p, "unexpected end of input");
    return decode_fail_char(d, d->p, "unexpected character", " in object (expected ',' or '}')");
  }
  d->p++;
  if (!table) flush_pending(L, base, n, 1);
  d->depth--;
  return 0;
}

/* Pushes the string at d->p (on its opening quote). One without escapes
 * is pushed straight from the input; one with escapes is unescaped into the
 * scratch buffer (decode_string_escaped). */
static int decode_string(decoder *d) {
  const unsigned char *start = d->p + 1, *s = start, *end = d->end;
  for (;;) {
    while (end - s >= 8 && !word_has_stop(s)) s += 8;
    while (!str_stop[*s]) s++;
    unsigned char c = *s;
    if (c == '"') break;
    if (c == '\\') return decode_string_escaped(d, s);
    if (c >= 0x80) {
      size_t n = utf8_sequence(s, end);
      if (UNLIKELY(n == 0)) return decode_fail(d, s, "invalid UTF-8");
      s += n;
      continue;
    }
    if (s == end) return decode_fail(d, s, "unexpected end of input");
    return decode_fail_char(d, s, "control character", " in string (escape it)");
  }
  lua_pushlstring(d->L, (const char *)start, (size_t)(s - start));
  d->p = s + 1;
  return 0;
}

static int hex4(const unsigned char *p) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else return -1; /* includes the NUL at the end: no read past it */
  }
  return v;
}

/* Writes code point cp as UTF-8; returns the length. */
static size_t put_utf8(char *out, unsigned cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* The \uXXXX escape at p (on the backslash), a surrogate pair taking two;
 * writes the UTF-8 at *out. Returns the escape's length in the input, or 0
 * with d->err. */
static size_t decode_unicode_escape(decoder *d, const unsigned char *p, char **out) {
  int cp = hex4(p + 2);
  if (cp < 0) {
    decode_fail(d, p, "invalid \\u escape (4 hex digits expected)");
    return 0;
  }
  if (cp >= 0xDC00 && cp <= 0xDFFF) {
    decode_fail(d, p, "lone UTF-16 low surrogate in \\u escape");
    return 0;
  }
  if (cp < 0xD800 || cp > 0xDBFF) {
    *out += put_utf8(*out, (unsigned)cp);
    return 6;
  }
  int lo = (p[6] == '\\' && p[7] == 'u') ? hex4(p + 8) : -1;
  if (lo < 0xDC00 || lo > 0xDFFF) {
    decode_fail(d, p, "lone UTF-16 high surrogate in \\u escape");
    return 0;
  }
  *out += put_utf8(*out, 0x10000 + (((unsigned)cp - 0xD800) << 10) + ((unsigned)lo - 0xDC00));
  return 12;
}

/* decode_string, from the first backslash at s on. */
static int decode_string_escaped(decoder *d, const unsigned char *s) {
  const unsigned char *start = d->p + 1, *end = d->end;
  json_buf *b = d->b;
  /* Unescaped text is never longer than its source: reserve the rest of the
   * input once and write without checks. */
  b->len = 0;
  if (b->cap < (size_t)(end - start) && buf_grow(d->L, b, (size_t)(end - start)) != 0) {
    buf_release(d->L, b);
    luaL_error(d->L, "crater.json.decode: out of memory");
  }
  char *out = b->data;
  memcpy(out, start, (size_t)(s - start));
  out += s - start;
  for (;;) {
    const unsigned char *run = s;
    while (end - s >= 8 && !word_has_stop(s)) s += 8;
    while (!str_stop[*s]) s++;
    memcpy(out, run, (size_t)(s - run));
    out += s - run;
    unsigned char c = *s;
    if (c == '"') break;
    if (c >= 0x80) {
      size_t n = utf8_sequence(s, end);
      if (UNLIKELY(n == 0)) return decode_fail(d, s, "invalid UTF-8");
      memcpy(out, s, n);
      out += n;
      s += n;
      continue;
    }
    if (c != '\\') {
      if (s == end) return decode_fail(d, s, "unexpected end of input");
      return decode_fail_char(d, s, "control character", " in string (escape it)");
    }
    switch (s[1]) {
    case '"': *out++ = '"'; break;
    case '\\': *out++ = '\\'; break;
    case '/': *out++ = '/'; break;
    case 'b': *out++ = '\b'; break;
    case 'f': *out++ = '\f'; break;
    case 'n': *out++ = '\n'; break;
    case 'r': *out++ = '\r'; break;
    case 't': *out++ = '\t'; break;
    case 'u': {
      size_t n = decode_unicode_escape(d, s, &out);
      if (n == 0) return -1;
      s += n;
      continue;
    }
    default:
      if (s + 1 == end) return decode_fail(d, end, "unexpected end of input");
      return decode_fail_char(d, s + 1, "invalid escape: backslash and", "");
    }
    s += 2;
  }
  lua_pushlstring(d->L, b->data, (size_t)(out - b->data));
  d->p = s + 1;
  return 0;
}

/* Pushes the number at d->p. The grammar is RFC 8259's, checked here:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
 * The value: up to 19 significant digits are collected in m; if m < 2^53
 * and the decimal exponent is within +-22, m * 10^e (or m / 10^-e) is one
 * correctly rounded operation on exact doubles, hence exactly strtod's
 * answer (Clinger's fast path). Everything else goes to strtod. */
static int decode_number(decoder *d) {
  const unsigned char *p = d->p, *start = p;
  uint64_t m = 0;
  int exp10 = 0, exact = 1, neg = 0;
  if (*p == '-') neg = 1, p++;
  if (*p == '0') {
    p++;
    if (*p >= '0' && *p <= '9') return decode_fail(d, start, "leading zero in number");
  } else if (*p >= '1' && *p <= '9') {
    for (; *p >= '0' && *p <= '9'; p++) {
      if (m < 100000000000000000ULL) m = m * 10 + (uint64_t)(*p - '0');
      else exact = 0;
    }
  } else {
    return decode_fail(d, start, "invalid number");
  }
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9') return decode_fail(d, start, "invalid number (no digit after '.')");
    for (; *p >= '0' && *p <= '9'; p++) {
      if (m < 100000000000000000ULL) m = m * 10 + (uint64_t)(*p - '0'), exp10--;
      else if (*p != '0') exact = 0;
    }
  }
  if (*p == 'e' || *p == 'E') {
    int eneg = 0, ev = 0;
    p++;
    if (*p == '+' || *p == '-') eneg = (*p == '-'), p++;
    if (*p < '0' || *p > '9') return decode_fail(d, start, "invalid number (no digit in exponent)");
    for (; *p >= '0' && *p <= '9'; p++)
      if (ev < 100000) ev = ev * 10 + (*p - '0');
    exp10 += eneg ? -ev : ev;
  }
  d->p = p;

  double v;
  if (exact && m <= (uint64_t)TWO53 && exp10 >= -22 && exp10 <= 22) {
    v = exp10 < 0 ? (double)m / pow10_exact[-exp10] : (double)m * pow10_exact[exp10];
    if (neg) v = -v;
  } else {
    /* Copy: the input may go on with text strtod would read (0x1p3), and
     * strtod wants the locale's decimal point. */
    char tmp[64], *text = tmp;
    size_t len = (size_t)(p - start);
    if (len >= sizeof(tmp)) {
      json_buf *b = d->b;
      if (b->cap < len + 1 && buf_grow(d->L, b, len + 1) != 0) {
        buf_release(d->L, b);
        luaL_error(d->L, "crater.json.decode: out of memory");
      }
      text = b->data;
    }
    memcpy(text, start, len);
    text[len] = '\0';
    if (d->point == 0) d->point = decimal_point();
    if (d->point != '.') {
      char *dot = memchr(text, '.', len);
      if (dot != NULL) *dot = d->point;
    }
    errno = 0;
    v = strtod(text, NULL);
    if (errno == ERANGE && isinf(v)) return decode_fail(d, start, "number out of range");
  }
  lua_pushnumber(d->L, v);
  return 0;
}

/* ---- shared helpers ----------------------------------------------------- */

/* is_array(v): true when encode would write v as a JSON array. */
static int json_is_array(lua_State *L) {
  int yes = 0;
  if (lua_type(L, 1) == LUA_TTABLE) {
    if (lua_getmetatable(L, 1)) {
      yes = lua_rawequal(L, -1, UV_ARRAY_MT);
      lua_pop(L, 1);
    }
    if (!yes) yes = sequence_length(L, 1) > 0;
  }
  lua_pushboolean(L, yes);
  return 1;
}

/* n when the table at idx has exactly the keys 1..n (n > 0), else 0. */
static size_t sequence_length(lua_State *L, int idx) {
  size_t count = 0;
  double max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    double k;
    if (lua_type(L, -2) != LUA_TNUMBER || (k = lua_tonumber(L, -2)) < 1 || k != floor(k) ||
        k > TWO53) {
      lua_pop(L, 2);
      return 0;
    }
    if (k > max) max = k;
    count++;
    lua_pop(L, 1);
  }
  return (double)count == max ? count : 0;
}

/* utf8_error(s): nil when the string s is valid UTF-8, else the 1-based
 * offset of the first byte that is not. Text a client percent-encoded
 * (path parameters, query values, form fields) is checked with it on the
 * way in, so bytes the encoder would refuse are the client's 400, not a
 * 500 when the handler's answer is encoded. */
static int json_utf8_error(lua_State *L) {
  size_t len;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
  const unsigned char *p = s, *end = s + len;
  while (p < end) {
    if (*p < 0x80) {
      p++;
      continue;
    }
    size_t n = utf8_sequence(p, end);
    if (n == 0) {
      lua_pushinteger(L, (lua_Integer)(p - s) + 1);
      return 1;
    }
    p += n;
  }
  lua_pushnil(L);
  return 1;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0:
 * overlong forms, surrogates (ED A0..BF) and code points above U+10FFFF
 * are invalid, as in RFC 3629. Reads nothing at or past end. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end) {
  unsigned char c = p[0];
  size_t avail = (size_t)(end - p);
  unsigned char lo = 0x80, hi = 0xBF;
  size_t n;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (avail < n || p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < n; i++)
    if ((p[i] & 0xC0) != 0x80) return 0;
  return n;
}

/* The decimal point snprintf and strtod use in the current locale: '.'
 * unless an embedder called setlocale(LC_NUMERIC or LC_ALL, ...). */
static char decimal_point(void) {
  const char *dp = localeconv()->decimal_point;
  return (dp != NULL && dp[0] != '\0') ? dp[0] : '.';
}
