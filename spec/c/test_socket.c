/* test_socket.c - the pure parts of socket.c's reading: finding a
 * receiveuntil pattern in bytes that arrive in pieces, and splitting lines.
 * (The sockets themselves: spec/e2e/test_socket.py.) */
#include <string.h>

#include "socket.h"
#include "test.h"

#define NONE ((size_t)-1)

static size_t find(const char *data, const char *pat, size_t from, size_t *safe) {
  return crater__socket_find(data, strlen(data), pat, strlen(pat), from, safe);
}

TEST(socket_find_match_and_safe_prefix) {
  size_t safe;
  ASSERT_EQ_INT(find("abc--X--def", "--X--", 0, &safe), 3);
  ASSERT_EQ_INT(safe, 3);
  ASSERT_EQ_INT(find("--X--", "--X--", 0, &safe), 0);
  ASSERT_EQ_INT(find("abc", "--X--", 0, &safe), NONE);
  ASSERT_EQ_INT(safe, 3); /* no tail begins the pattern */
  ASSERT_EQ_INT(find("abc--X", "--X--", 0, &safe), NONE);
  ASSERT_EQ_INT(safe, 3); /* "--X" may become one */
  ASSERT_EQ_INT(find("abc-", "--X--", 0, &safe), NONE);
  ASSERT_EQ_INT(safe, 3);
  ASSERT_EQ_INT(find("ab-X-", "--X--", 0, &safe), NONE);
  ASSERT_EQ_INT(safe, 4); /* "-X-" is no beginning; "-" is */
  ASSERT_EQ_INT(find("", "ab", 0, &safe), NONE);
  ASSERT_EQ_INT(safe, 0);
  /* Overlapping beginnings: "aab" in "aaab". */
  ASSERT_EQ_INT(find("aaab", "aab", 0, &safe), 1);
  /* A one-byte pattern. */
  ASSERT_EQ_INT(find("xy\nz", "\n", 0, &safe), 2);
  ASSERT_EQ_INT(find("xyz", "\n", 0, &safe), NONE);
  ASSERT_EQ_INT(safe, 3);
  /* Searching from an offset skips what was searched. */
  ASSERT_EQ_INT(find("--X--abc--X--", "--X--", 1, &safe), 8);
}

/* The data arrives in pieces of every size; the search goes on from
 * *safe each time, as a waiting receiveuntil does: the match is found at
 * the same place as in one piece, as soon as its last byte is there. */
TEST(socket_find_across_pieces) {
  static const char *pats[] = {"--BOUNDARY--", "\r\n", "aab", "x", "abab"};
  static const char *texts[] = {
    "part one--BOUNDARY-X---BOUNDARY--rest",
    "line one\r\r\nline two",
    "aaaaaaab",
    "yyyyx",
    "abaabababab",
  };
  for (int t = 0; t < 5; t++) {
    const char *text = texts[t], *pat = pats[t];
    size_t len = strlen(text), plen = strlen(pat);
    size_t safe0, want = crater__socket_find(text, len, pat, plen, 0, &safe0);
    ASSERT_TRUE(want != NONE);
    for (size_t piece = 1; piece <= len; piece++) {
      size_t have = 0, from = 0, got = NONE;
      while (got == NONE && have < len) {
        have = have + piece < len ? have + piece : len;
        size_t safe;
        got = crater__socket_find(text, have, pat, plen, from, &safe);
        ASSERT_TRUE(safe <= have);
        ASSERT_TRUE(got != NONE || safe <= want); /* nothing of the match is given out */
        from = safe;
      }
      ASSERT_EQ_INT(got, want);
      ASSERT_TRUE(have >= want + plen && have < want + plen + piece);
    }
  }
}

TEST(socket_line_splits_lf_and_crlf) {
  size_t n;
  ASSERT_EQ_INT(crater__socket_line("abc\r\ndef", 8, 0, &n), 5);
  ASSERT_EQ_INT(n, 3);
  ASSERT_EQ_INT(crater__socket_line("abc\ndef", 7, 0, &n), 4);
  ASSERT_EQ_INT(n, 3);
  ASSERT_EQ_INT(crater__socket_line("\n", 1, 0, &n), 1);
  ASSERT_EQ_INT(n, 0);
  ASSERT_EQ_INT(crater__socket_line("\r\n", 2, 0, &n), 2);
  ASSERT_EQ_INT(n, 0);
  ASSERT_EQ_INT(crater__socket_line("a\rb\n", 4, 0, &n), 4);
  ASSERT_EQ_INT(n, 3); /* only the \r before the \n goes */
  ASSERT_EQ_INT(crater__socket_line("abc\r", 4, 0, &n), 0);
  ASSERT_EQ_INT(crater__socket_line("", 0, 0, &n), 0);
  ASSERT_EQ_INT(crater__socket_line("ab\ncd", 5, 3, &n), 0); /* from: past the \n */
  ASSERT_EQ_INT(crater__socket_line("abc\r\n", 5, 4, &n), 5);
  ASSERT_EQ_INT(n, 3);
}
