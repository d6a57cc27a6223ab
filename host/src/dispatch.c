/* dispatch.c - the part of answering a request that does not care where the
 * request came from: a socket (conn.c) or crater_inject (inject.c). Both
 * split the URL here and enter the generation here, so an injected request
 * meets the same routing, hooks and error handling as a socket one. */
#include <string.h>
#include <strings.h>

#include "vm.h"

void crater__reqinfo_init(crater__reqinfo *ri, const char *method, const char *url, size_t url_len,
                          crater__conn *conn, uint64_t seq) {
  /* absolute-form (GET http://host/path): keep only the path. */
  if (url_len > 7 && url[0] != '/' && (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0)) {
    const char *s = memchr(url + 8, '/', url_len - 8);
    size_t skip = s ? (size_t)(s - url) : url_len;
    url += skip;
    url_len -= skip;
    if (url_len == 0) {
      url = "/";
      url_len = 1;
    }
  }
  const char *q = memchr(url, '?', url_len);
  ri->method = method;
  ri->path = url;
  ri->path_len = q ? (size_t)(q - url) : url_len;
  ri->query = q ? q + 1 : "";
  ri->query_len = q ? url_len - ri->path_len - 1 : 0;
  const char *hash = memchr(ri->query, '#', ri->query_len);
  if (hash) ri->query_len = (size_t)(hash - ri->query);
  ri->conn = conn;
  ri->seq = seq;
}

int crater__dispatch(crater__gen *g, int fn_ref, const crater__reqinfo *ri, crater__response *res) {
  crater__gen_ref(g);
  int rc = crater__gen_call_ref(g, fn_ref == LUA_NOREF ? g->dispatch_ref : fn_ref, ri, res);
  if (rc != 0) crater__gen_unref(g);
  return rc;
}
