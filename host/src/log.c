/* log.c - one record per event, to the host's callback or to stderr; and
 * the message crater_last_error() returns. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server.h"

static const char *level_name(crater_log_level level) {
  switch (level) {
    case CRATER_LOG_ERROR: return "error";
    case CRATER_LOG_WARN: return "warn";
    case CRATER_LOG_INFO: return "info";
    case CRATER_LOG_DEBUG: return "debug";
  }
  return "?";
}

void crater__log(crater_server *srv, crater_log_level level, const char *fmt, ...) {
  /* After the close callback the host may have freed log_udata. */
  if (level > srv->cfg.log_level || srv->closed) return;
  char line[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (srv->cfg.log_cb != NULL) {
    srv->cfg.log_cb(srv->cfg.log_udata, level, line);
    return;
  }
  char ts[32];
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
  fprintf(stderr, "%s [%s] %s\n", ts, level_name(level), line);
}

static void set_error_v(crater_server *srv, const char *fmt, va_list ap) {
  vsnprintf(srv->last_error, sizeof(srv->last_error), fmt, ap);
}

void crater__set_error(crater_server *srv, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_error_v(srv, fmt, ap);
  va_end(ap);
}

int crater__fail(crater_server *srv, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_error_v(srv, fmt, ap);
  va_end(ap);
  return rc;
}

size_t crater__msg_head_len(const char *msg) {
  if (msg == NULL) return 0;
  const char *tb = strstr(msg, "\nstack traceback:");
  return tb ? (size_t)(tb - msg) : strlen(msg);
}
