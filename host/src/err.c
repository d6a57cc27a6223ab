/* err.c - error names and messages: Crater's own codes from
 * CRATER_ERRNO_MAP, and libuv's, which calls pass on when a system call
 * failed (the two ranges do not overlap, see crater.h). */
#include <string.h>

#include "crater.h"

const char *crater_version(void) { return CRATER_VERSION_STRING; }

/* 1 when libuv has a name for err. Asked first because uv_strerror and
 * uv_err_name allocate (and never free) a message for a code they do not
 * know; for codes they know they return a constant. */
static int uv_knows(int err) {
  char name[64];
  if (err >= 0) return 0;
  uv_err_name_r(err, name, sizeof(name));
  return strncmp(name, "Unknown system error", 20) != 0;
}

const char *crater_strerror(int err) {
  switch (err) {
    case CRATER_OK: return "success";
#define XX(name, code, msg) case CRATER_##name: return msg;
    CRATER_ERRNO_MAP(XX)
#undef XX
  }
  return uv_knows(err) ? uv_strerror(err) : "unknown error";
}

const char *crater_err_name(int err) {
  switch (err) {
    case CRATER_OK: return "OK";
#define XX(name, code, msg) case CRATER_##name: return #name;
    CRATER_ERRNO_MAP(XX)
#undef XX
  }
  return uv_knows(err) ? uv_err_name(err) : "UNKNOWN";
}
