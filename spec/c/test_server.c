#include <stdlib.h>
#include <unistd.h>

#include "crater.h"
#include "test.h"

TEST(config_defaults) {
  crater_config c = crater_config_default();
  ASSERT_EQ_INT(c.max_header_bytes, 16 * 1024);
  ASSERT_EQ_INT(c.max_body_bytes, 1024 * 1024);
  ASSERT_EQ_INT(c.max_uri_bytes, 8 * 1024);
  ASSERT_EQ_INT(c.header_timeout_ms, 10000);
  ASSERT_EQ_INT(c.idle_timeout_ms, 75000);
  ASSERT_EQ_INT(c.max_connections, 10000);
  ASSERT_EQ_INT(c.stuck_timeout_ms, 30000);
  ASSERT_EQ_INT(c.send_timeout_ms, 60000);
  ASSERT_TRUE(c.max_memory_bytes == (size_t)1 << 30);
  ASSERT_EQ_INT(c.body_timeout_ms, 60000);
}

TEST(strerror_names) {
  ASSERT_EQ_STR(crater_err_name(CRATER_ELOAD), "ELOAD");
  ASSERT_EQ_STR(crater_strerror(CRATER_ENOMEM), "out of memory");
  ASSERT_EQ_STR(crater_strerror(12345), "unknown error");
}

TEST(server_new_free) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_server *srv = NULL;
  ASSERT_EQ_INT(crater_new(&srv, &loop, NULL), 0);
  ASSERT_TRUE(srv != NULL);
  ASSERT_EQ_INT(crater_new(NULL, &loop, NULL), CRATER_EINVAL);
  crater_free(srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

static void quiet(void *udata, crater_log_level level, const char *line) {
  (void)udata;
  (void)level;
  (void)line;
}

TEST(server_load_error_names_line) {
  char path[] = "/tmp/crater-unit-XXXXXX.lua";
  int fd = mkstemps(path, 4);
  ASSERT_TRUE(fd >= 0);
  const char src[] = "local x = 1\nlocal y = = 2\n";
  ASSERT_EQ_INT(write(fd, src, sizeof(src) - 1), sizeof(src) - 1);
  close(fd);
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = crater_config_default();
  cfg.log_cb = quiet;
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  ASSERT_EQ_INT(crater_load(srv, path), CRATER_ELOAD);
  ASSERT_TRUE(strstr(crater_last_error(srv), ":2:") != NULL);
  crater_free(srv);
  uv_loop_close(&loop);
  unlink(path);
}

TEST(server_listen_bad_host) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, NULL), 0);
  ASSERT_EQ_INT(crater_listen(srv, "not-an-ip", 8080), CRATER_EINVAL);
  ASSERT_TRUE(strstr(crater_last_error(srv), "not-an-ip") != NULL);
  crater_free(srv);
  uv_loop_close(&loop);
}
