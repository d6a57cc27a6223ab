/* crypto.c - the `crater._crypto` Lua module (see crypto.h). */
#include "crypto.h"

#include <string.h>

#include <lauxlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

static int hmac_sha256(lua_State *L);
static int equal(lua_State *L);
static int random_bytes(lua_State *L);
static int b64url(lua_State *L);
static int unb64url(lua_State *L);

int crater__crypto_open(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"hmac_sha256", hmac_sha256}, {"equal", equal},       {"random", random_bytes},
    {"b64url", b64url},           {"unb64url", unb64url}, {NULL, NULL},
  };
  lua_createtable(L, 0, 5);
  for (const luaL_Reg *f = fns; f->name; f++) {
    lua_pushcfunction(L, f->func);
    lua_setfield(L, -2, f->name);
  }
  return 1;
}

static int hmac_sha256(lua_State *L) {
  size_t klen, mlen;
  const char *key = luaL_checklstring(L, 1, &klen);
  const char *msg = luaL_checklstring(L, 2, &mlen);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, md, &mdlen) == NULL)
    return luaL_error(L, "HMAC-SHA256 failed");
  lua_pushlstring(L, (const char *)md, mdlen);
  return 1;
}

/* Lengths are not secret (a signature's is fixed): only the bytes are
 * compared in constant time. */
static int equal(lua_State *L) {
  size_t alen, blen;
  const char *a = luaL_checklstring(L, 1, &alen);
  const char *b = luaL_checklstring(L, 2, &blen);
  lua_pushboolean(L, alen == blen && CRYPTO_memcmp(a, b, alen) == 0);
  return 1;
}

static int random_bytes(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  if (n < 1 || n > 256) return luaL_argerror(L, 1, "from 1 to 256 bytes");
  unsigned char buf[256];
  if (RAND_bytes(buf, (int)n) != 1) return luaL_error(L, "the random generator failed");
  lua_pushlstring(L, (const char *)buf, (size_t)n);
  return 1;
}

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url(lua_State *L) {
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
    char q[4] = {B64URL[v >> 18], B64URL[v >> 12 & 63], B64URL[v >> 6 & 63], B64URL[v & 63]};
    luaL_addlstring(&b, q, 4);
  }
  if (n - i == 1) {
    unsigned v = (unsigned)s[i] << 16;
    char q[2] = {B64URL[v >> 18], B64URL[v >> 12 & 63]};
    luaL_addlstring(&b, q, 2);
  } else if (n - i == 2) {
    unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8;
    char q[3] = {B64URL[v >> 18], B64URL[v >> 12 & 63], B64URL[v >> 6 & 63]};
    luaL_addlstring(&b, q, 3);
  }
  luaL_pushresult(&b);
  return 1;
}

static int sextet(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

/* Strict: a length of 4k+1, a byte outside the alphabet, or bits left over
 * in the last character (two encodings of one value) are all refused. */
static int unb64url(lua_State *L) {
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  if (n % 4 == 1) return 0;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = sextet(s[i]);
    if (v < 0) return 0; /* the buffer's partial result is dropped with the stack */
    acc = (acc << 6 | (unsigned)v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      luaL_addchar(&b, (char)(acc >> bits & 0xff));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return 0;
  luaL_pushresult(&b);
  return 1;
}
