/* config.c - the defaults every limit and timeout starts from, and the copy
 * a server keeps of a caller's crater_config (whose size may be older). */
#include "config.h"

#include <stddef.h>
#include <string.h>

/* The first published crater_config ended with log_level: a smaller size
 * cannot come from any crater.h. */
#define CONFIG_V1_SIZE (offsetof(crater_config, log_level) + sizeof(crater_log_level))

static crater_config defaults(void) {
  crater_config c;
  memset(&c, 0, sizeof(c));
  c.size = sizeof(c);
  c.max_header_bytes = 16 * 1024;
  c.max_body_bytes = 1024 * 1024;
  c.header_timeout_ms = 10 * 1000;
  c.idle_timeout_ms = 75 * 1000;
  c.grace_ms = 10 * 1000;
  c.max_connections = 10000;
  c.dev = 0;
  c.reuseport = 0;
  c.lua_path = NULL;
  c.log_cb = NULL;
  c.log_udata = NULL;
  c.log_level = CRATER_LOG_INFO;
  c.stuck_timeout_ms = 30 * 1000;
  c.max_uri_bytes = 8 * 1024;
  c.send_timeout_ms = 60 * 1000;
  c.body_timeout_ms = 60 * 1000;
  c.max_memory_bytes = (size_t)1024 * 1024 * 1024;
  c.max_upload_bytes = (size_t)100 * 1024 * 1024;
  c.max_upload_file_bytes = (size_t)100 * 1024 * 1024;
  c.max_upload_field_bytes = 1024 * 1024;
  c.max_upload_parts = 1000;
  c.upload_memory_bytes = 64 * 1024;
  c.upload_dir = NULL;
  c.ws_max_message_bytes = 1024 * 1024;
  return c;
}

void crater_config_init(crater_config *cfg, size_t size) {
  if (cfg == NULL || size < sizeof(cfg->size)) return;
  crater_config d = defaults();
  memcpy(cfg, &d, size < sizeof(d) ? size : sizeof(d));
  cfg->size = size;
}

int crater__config_copy(crater_config *dst, const crater_config *src) {
  *dst = defaults();
  if (src == NULL) return 0;
  if (src->size < CONFIG_V1_SIZE) return CRATER_EINVAL;
  /* A newer caller's fields beyond ours are unknown to this library. */
  size_t n = src->size < sizeof(*dst) ? src->size : sizeof(*dst);
  memcpy(dst, src, n);
  dst->size = sizeof(*dst);
  return 0;
}
