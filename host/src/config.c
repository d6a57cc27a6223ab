/* config.c - the defaults every limit and timeout starts from. */
#include "crater.h"

crater_config crater_config_default(void) {
  crater_config c = {0};
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
  return c;
}
