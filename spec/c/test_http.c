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
