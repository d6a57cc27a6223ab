/* test_reload.c - crater_reload() through the public API: a good reload
 * swaps generations, a broken one keeps the old, both say so once. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "crater.h"
#include "test.h"

typedef struct {
  int reloaded;            /* "reloaded ..." info lines */
  int failed;              /* "reload failed ..." error lines */
  char last[1024];
} log_capture;

static void capture(void *udata, crater_log_level level, const char *line) {
  log_capture *c = udata;
  if (level == CRATER_LOG_INFO && strncmp(line, "reloaded ", 9) == 0) c->reloaded++;
  if (level == CRATER_LOG_ERROR && strncmp(line, "reload failed", 13) == 0) c->failed++;
  snprintf(c->last, sizeof(c->last), "%s", line);
}

static int write_file(const char *path, const char *src) {
  FILE *f = fopen(path, "w");
  if (f == NULL) return -1;
  fputs(src, f);
  return fclose(f);
}

static const char app_v1[] =
    "local app = require('crater').app()\n"
    "app:get('/', function() return 'v1' end)\n"
    "return app\n";
static const char app_v2[] =
    "local app = require('crater').app()\n"
    "app:get('/', function() return 'v2' end)\n"
    "app:get('/more', function() return 'more' end)\n"
    "return app\n";
static const char app_broken[] =
    "local app = require('crater').app()\n"
    "app:get('/', function() return 'v3' end\n"
    "return app\n";

TEST(reload_swaps_generations_and_keeps_old_on_error) {
  char path[] = "/tmp/crater-reload-XXXXXX.lua";
  int fd = mkstemps(path, 4);
  ASSERT_TRUE(fd >= 0);
  close(fd);
  ASSERT_EQ_INT(write_file(path, app_v1), 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  log_capture cap = {0};
  crater_config cfg = crater_config_default();
  cfg.log_cb = capture;
  cfg.log_udata = &cap;
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  ASSERT_EQ_INT(crater_reload(srv), CRATER_ENOAPP); /* nothing loaded yet */
  ASSERT_EQ_INT(crater_load(srv, path), 0);
  crater_stats st;
  crater_get_stats(srv, &st);
  ASSERT_EQ_INT(st.generation, 1);

  ASSERT_EQ_INT(write_file(path, app_v2), 0);
  ASSERT_EQ_INT(crater_reload(srv), 0);
  crater_get_stats(srv, &st);
  ASSERT_EQ_INT(st.generation, 2);
  ASSERT_EQ_INT(cap.reloaded, 1);
  ASSERT_TRUE(strstr(cap.last, "generation 2") != NULL);
  ASSERT_TRUE(strstr(cap.last, "2 routes") != NULL);

  ASSERT_EQ_INT(write_file(path, app_broken), 0);
  ASSERT_EQ_INT(crater_reload(srv), CRATER_ELOAD);
  crater_get_stats(srv, &st);
  ASSERT_EQ_INT(st.generation, 2); /* the old generation keeps serving */
  ASSERT_EQ_INT(cap.failed, 1);
  ASSERT_TRUE(strstr(cap.last, "generation 2 keeps serving") != NULL);
  ASSERT_TRUE(strstr(cap.last, ".lua:3:") != NULL);
  ASSERT_TRUE(strstr(crater_last_error(srv), ".lua:3:") != NULL);

  /* The next good save recovers; generation numbers never repeat. */
  ASSERT_EQ_INT(write_file(path, app_v1), 0);
  ASSERT_EQ_INT(crater_reload(srv), 0);
  crater_get_stats(srv, &st);
  ASSERT_EQ_INT(st.generation, 3);
  ASSERT_EQ_INT(cap.reloaded, 2);

  crater_free(srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
  unlink(path);
}

TEST(reload_bad_arguments) {
  ASSERT_EQ_INT(crater_reload(NULL), CRATER_EINVAL);
}
