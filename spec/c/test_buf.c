#include "buf.h"
#include "test.h"

TEST(buf_append_grows) {
  crater__buf b = {0};
  for (int i = 0; i < 1000; i++) ASSERT_EQ_INT(crater__buf_append(&b, "abc", 3), 0);
  ASSERT_EQ_INT(b.len, 3000);
  ASSERT_TRUE(b.cap >= b.len);
  ASSERT_TRUE(memcmp(b.data + 2997, "abc", 3) == 0);
  crater__buf_free(&b);
  ASSERT_TRUE(b.data == NULL);
}

TEST(buf_append_u64) {
  crater__buf b = {0};
  crater__buf_append_u64(&b, 0);
  crater__buf_append(&b, ",", 1);
  crater__buf_append_u64(&b, 18446744073709551615ull);
  crater__buf_append(&b, "", 1);
  ASSERT_EQ_STR(b.data, "0,18446744073709551615");
  crater__buf_free(&b);
}
