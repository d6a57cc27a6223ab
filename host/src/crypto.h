/* crypto.h - the `crater._crypto` Lua module: what signed cookies need
 * from libcrypto (already linked for TLS), for crater.session.
 *
 *   hmac_sha256(key, msg) -> 32 raw bytes
 *   equal(a, b)           -> boolean, in time that depends on the lengths
 *                            only (CRYPTO_memcmp): comparing a signature
 *                            must not tell how much of it was right
 *   random(n)             -> n bytes from RAND_bytes (1 <= n <= 256); raises
 *                            when the generator fails
 *   b64url(s)             -> s in base64url without padding (RFC 4648 5)
 *   unb64url(s)           -> the bytes, or nil when s is not unpadded
 *                            base64url */
#ifndef CRATER_CRYPTO_H
#define CRATER_CRYPTO_H

#include <lua.h>

/* Pushes the module table and returns 1. */
int crater__crypto_open(lua_State *L);

#endif
