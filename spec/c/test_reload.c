/* test_reload.c - crater_reload() through the public API: a good reload
 * swaps generations, a broken one keeps the old, both say so once. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

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

static void closed(crater_server *srv) { (void)srv; }

/* A listening server runs hooks: on_start at the first listen, on_reload and
 * on_start on the new generation at a reload; a failing hook fails the
 * reload and the old generation stays. */
TEST(reload_hooks_run_and_failing_hook_keeps_old) {
  char path[] = "/tmp/crater-reload-XXXXXX.lua";
  int fd = mkstemps(path, 4);
  ASSERT_TRUE(fd >= 0);
  close(fd);
  static const char failing_start[] =
      "local app = require('crater').app()\n"
      "app:get('/', function() return 'v1' end)\n"
      "app:on_start(function() error('no database') end)\n"
      "return app\n";
  static const char failing_reload[] =
      "local app = require('crater').app()\n"
      "app:get('/', function() return 'v2' end)\n"
      "app:on_reload(function(info) error('cannot take over from ' .. info.previous) end)\n"
      "return app\n";
  uv_loop_t loop;
  uv_loop_init(&loop);
  log_capture cap = {0};
  crater_config cfg = crater_config_default();
  cfg.log_cb = capture;
  cfg.log_udata = &cap;
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);

  ASSERT_EQ_INT(write_file(path, failing_start), 0);
  ASSERT_EQ_INT(crater_load(srv, path), 0); /* not serving yet: hooks wait for listen */
  ASSERT_EQ_INT(crater_listen(srv, "127.0.0.1", 0), CRATER_ELOAD);
  ASSERT_TRUE(strstr(crater_last_error(srv), ".lua:3: no database") != NULL);

  ASSERT_EQ_INT(write_file(path, app_v1), 0);
  ASSERT_EQ_INT(crater_load(srv, path), 0);
  ASSERT_EQ_INT(crater_listen(srv, "127.0.0.1", 0), 0);
  crater_stats st;
  crater_get_stats(srv, &st);
  ASSERT_EQ_INT(st.generation, 2);

  ASSERT_EQ_INT(write_file(path, failing_reload), 0);
  ASSERT_EQ_INT(crater_reload(srv), CRATER_ELOAD);
  ASSERT_TRUE(strstr(crater_last_error(srv), ".lua:3: cannot take over from 2") != NULL);
  crater_get_stats(srv, &st);
  ASSERT_EQ_INT(st.generation, 2);
  ASSERT_EQ_INT(cap.failed, 1);

  ASSERT_EQ_INT(crater_close(srv, closed), 0);
  ASSERT_EQ_INT(crater_reload(srv), CRATER_ESTATE);
  uv_run(&loop, UV_RUN_DEFAULT);
  crater_free(srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
  unlink(path);
}

static const char *body_of(crater_server *srv, const char *url, int *status, int *stale) {
  static char buf[512];
  crater_request req = {.method = "GET", .url = url};
  crater_response *res = NULL;
  buf[0] = '\0';
  *status = 0;
  *stale = 0;
  if (crater_inject_sync(srv, &req, &res) != 0) return buf;
  *status = res->status;
  for (size_t i = 0; i < res->nheaders; i++)
    if (strcmp(res->headers[i].name, "X-Crater-Stale") == 0) *stale = 1;
  snprintf(buf, sizeof(buf), "%.*s", (int)res->body_len, res->body);
  crater_response_free(res);
  return buf;
}

/* Where embedding meets reload: a string-loaded app swaps through the same
 * hooks, cannot be reloaded from a file it does not have, an already-open
 * listening fd starts the app like crater_listen, and injected requests get
 * the --dev stale answer as socket requests do. */
TEST(reload_with_strings_fds_and_injection) {
  static const char with_hooks[] =
      "local app = require('crater').app()\n"
      "app:get('/', function() return app.state.started and 'started' or 'cold' end)\n"
      "app:on_start(function() app.state.started = true end)\n"
      "return app\n";
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_config cfg = crater_config_default();
  cfg.dev = 1;
  cfg.log_level = CRATER_LOG_ERROR;
  crater_server *srv;
  ASSERT_EQ_INT(crater_new(&srv, &loop, &cfg), 0);
  ASSERT_EQ_INT(crater_load_string(srv, "=inline", with_hooks, sizeof(with_hooks) - 1), 0);
  int status, stale;
  ASSERT_EQ_STR(body_of(srv, "/", &status, &stale), "cold");

  /* An already-open listening socket runs on_start, as crater_listen does. */
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_TRUE(lfd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ_INT(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  ASSERT_EQ_INT(crater_listen_fd(srv, lfd), 0);
  ASSERT_EQ_STR(body_of(srv, "/", &status, &stale), "started");

  ASSERT_EQ_INT(crater_reload(srv), CRATER_ESTATE);
  ASSERT_TRUE(strstr(crater_last_error(srv), "loaded from a string") != NULL);

  /* Loading a string while serving is a swap with hooks: on_start runs at once. */
  ASSERT_EQ_INT(crater_load_string(srv, "=inline2", with_hooks, sizeof(with_hooks) - 1), 0);
  ASSERT_EQ_STR(body_of(srv, "/", &status, &stale), "started");
  crater_stats st;
  crater_get_stats(srv, &st);
  ASSERT_EQ_INT(st.generation, 2);

  /* A file app whose reload fails: injected requests get the stale answer. */
  char path[] = "/tmp/crater-reload-XXXXXX.lua";
  int fd = mkstemps(path, 4);
  ASSERT_TRUE(fd >= 0);
  close(fd);
  ASSERT_EQ_INT(write_file(path, app_v1), 0);
  ASSERT_EQ_INT(crater_load(srv, path), 0);
  ASSERT_EQ_STR(body_of(srv, "/", &status, &stale), "v1");
  ASSERT_EQ_INT(write_file(path, app_broken), 0);
  ASSERT_EQ_INT(crater_reload(srv), CRATER_ELOAD);
  const char *b = body_of(srv, "/", &status, &stale);
  ASSERT_EQ_INT(status, 500);
  ASSERT_EQ_INT(stale, 1);
  ASSERT_TRUE(strstr(b, ".lua:3:") != NULL);
  ASSERT_EQ_INT(write_file(path, app_v1), 0);
  ASSERT_EQ_INT(crater_reload(srv), 0);
  ASSERT_EQ_STR(body_of(srv, "/", &status, &stale), "v1");
  ASSERT_EQ_INT(stale, 0);

  ASSERT_EQ_INT(crater_close(srv, closed), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  crater_free(srv);
  ASSERT_EQ_INT(uv_loop_close(&loop), 0);
  unlink(path);
}
