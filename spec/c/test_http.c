#include "http.h"
#include "test.h"

TEST(http_reason) {
  ASSERT_EQ_STR(crater__http_reason(200), "OK");
  ASSERT_EQ_STR(crater__http_reason(431), "Request Header Fields Too Large");
  ASSERT_EQ_STR(crater__http_reason(799), "Unknown");
}

TEST(http_status_line) {
  crater__buf b = {0};
  crater__http_status_line(&b, 404, "Sun, 06 Nov 1994 08:49:37 GMT");
  crater__buf_append(&b, "", 1);
  ASSERT_EQ_STR(b.data,
                "HTTP/1.1 404 Not Found\r\nServer: crater\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
  crater__buf_free(&b);
}

/* A refusal as the pipeline makes it: a problem body, framed by the one
 * serializer, closing the connection. */
static int problem_answer(crater__buf *out, int status, const char *detail, const char *date) {
  crater__buf body = {0};
  if (crater__http_problem_body(&body, status, detail, strlen(detail), 0) != 0) return -1;
  crater_header ct = CRATER_HEADER("Content-Type", "application/problem+json");
  crater__response res = {status, &ct, 1, body.data, body.len, CRATER__RES_CLOSE};
  crater__http_framing f = {1, 0, 1, 0};
  int rc = crater__http_response(out, &res, date, &f);
  crater__buf_free(&body);
  return rc;
}

TEST(http_problem) {
  crater__buf b = {0};
  ASSERT_EQ_INT(problem_answer(&b, 413, "too big", "D"), 0);
  crater__buf_append(&b, "", 1);
  ASSERT_TRUE(strstr(b.data, "HTTP/1.1 413 Content Too Large\r\n") == b.data);
  ASSERT_TRUE(strstr(b.data, "Content-Type: application/problem+json\r\n") != NULL);
  ASSERT_TRUE(strstr(b.data, "Connection: close\r\n") != NULL);
  const char *body = strstr(b.data, "\r\n\r\n") + 4;
  ASSERT_EQ_STR(body, "{\"type\":\"about:blank\",\"title\":\"Content Too Large\",\"status\":413,\"detail\":\"too big\"}");
  crater__buf_free(&b);
}

TEST(http_date_cached) {
  crater__http_date d = {0};
  const char *a = crater__http_date_get(&d);
  ASSERT_EQ_INT(strlen(a), 29);
  ASSERT_TRUE(strstr(a, " GMT") != NULL);
  ASSERT_TRUE(crater__http_date_get(&d) == a);
}

/* The value rule (RFC 9110 5.5) for every byte, at every offset of values
 * from 1 to 24 bytes: the 8-bytes-at-a-time path and the byte loop must
 * agree, and bad_at must say where. */
TEST(http_field_value_every_byte) {
  char v[24];
  for (int c = 0; c < 256; c++) {
    int want = c == '\t' || (c >= 0x20 && c != 0x7f);
    for (size_t n = 1; n <= sizeof(v); n++) {
      for (size_t at = 0; at < n; at++) {
        memset(v, 'a', n);
        v[at] = (char)c;
        if (crater__http_field_value_ok(v, n) != want) {
          fprintf(stderr, "  byte 0x%02X at %zu of %zu: ok %d, want %d\n", c, at, n,
                  crater__http_field_value_ok(v, n), want);
          ASSERT_TRUE(0);
        }
        ASSERT_EQ_INT(crater__http_field_value_bad_at(v, n), want ? n : at);
      }
    }
  }
  ASSERT_TRUE(crater__http_field_value_ok("", 0));
  ASSERT_TRUE(crater__http_field_value_ok("text/html; charset=\xC3\xA9t\xC3\xA9", 24));
}

/* What the core does with each header a handler returns. */
TEST(http_response_header_use) {
#define USE(n, v) crater__http_response_header_use(n, sizeof(n) - 1, v, sizeof(v) - 1)
  ASSERT_EQ_INT(USE("X-Ok", "a b\tc"), CRATER__HDR_COPY);
  ASSERT_EQ_INT(USE("X-Obs", "caf\xE9"), CRATER__HDR_COPY);
  ASSERT_EQ_INT(USE("", "x"), CRATER__HDR_BAD_NAME);
  ASSERT_EQ_INT(USE("X-A: b", "x"), CRATER__HDR_BAD_NAME);
  ASSERT_EQ_INT(USE("X A", "x"), CRATER__HDR_BAD_NAME);
  ASSERT_EQ_INT(USE("X-\xE9", "x"), CRATER__HDR_BAD_NAME);
  ASSERT_EQ_INT(USE("X-A", "a\r\nSet-Cookie: x=1"), CRATER__HDR_BAD_VALUE);
  ASSERT_EQ_INT(USE("X-A", "a\x0b"), CRATER__HDR_BAD_VALUE);
  ASSERT_EQ_INT(USE("X-A", "a\x7f"), CRATER__HDR_BAD_VALUE);
  ASSERT_EQ_INT(crater__http_response_header_use("X-A", 3, "a\0b", 3), CRATER__HDR_BAD_VALUE);
  ASSERT_EQ_INT(USE("content-LENGTH", "5"), CRATER__HDR_FRAMING);
  ASSERT_EQ_INT(USE("Transfer-Encoding", "chunked"), CRATER__HDR_FRAMING);
  ASSERT_EQ_INT(USE("Connection", "Close"), CRATER__HDR_CLOSE);
  ASSERT_EQ_INT(USE("connection", "keep-alive"), CRATER__HDR_CONNECTION);
  ASSERT_EQ_INT(USE("Connection", "upgrade"), CRATER__HDR_CONNECTION);
  ASSERT_TRUE(!CRATER__HDR_REFUSED(CRATER__HDR_CLOSE) && CRATER__HDR_REFUSED(CRATER__HDR_CONNECTION));
#undef USE
}
