/* err.c - error names and messages, generated from CRATER_ERRNO_MAP. */
#include "crater.h"

const char *crater_version(void) { return CRATER_VERSION_STRING; }

const char *crater_strerror(int err) {
  switch (err) {
    case CRATER_OK: return "success";
#define XX(name, code, msg) case CRATER_##name: return msg;
    CRATER_ERRNO_MAP(XX)
#undef XX
  }
  return "unknown error";
}

const char *crater_err_name(int err) {
  switch (err) {
    case CRATER_OK: return "OK";
#define XX(name, code, msg) case CRATER_##name: return #name;
    CRATER_ERRNO_MAP(XX)
#undef XX
  }
  return "UNKNOWN";
}
