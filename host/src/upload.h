/* upload.h - upload.c: a multipart/form-data body stored as it streams in,
 * part by part (multipart.c parses it): text fields and small files in
 * memory, a file past upload_memory_bytes in a temporary file; the limits
 * of crater_config's max_upload_* fields; the temporary files removed when
 * the request ends. */
#ifndef CRATER_UPLOAD_H
#define CRATER_UPLOAD_H

#include <stddef.h>

#include "crater.h"

typedef struct crater__upload crater__upload;
typedef struct lua_State lua_State;

/* What storing an upload can run into (request.c turns each into its
 * crater__req_err and status). */
typedef enum {
  CRATER__UP_OK = 0,
  CRATER__UP_NOMEM,     /* 503 */
  CRATER__UP_TOO_BIG,   /* a limit: 413 */
  CRATER__UP_MALFORMED, /* 400 */
  CRATER__UP_IO         /* a temporary file could not be written: 503 */
} crater__up_err;

/* A new upload for a body with this boundary, or NULL when memory runs out. */
crater__upload *crater__upload_new(crater_server *srv, const char *boundary, size_t len);
/* Closes and removes its temporary files and frees it (NULL: nothing). */
void crater__upload_free(crater__upload *u);

/* The next piece of the body. *why says what went wrong (a static string). */
crater__up_err crater__upload_feed(crater__upload *u, const char *data, size_t len, const char **why);
/* The body is complete: malformed when its closing delimiter was missing. */
crater__up_err crater__upload_end(crater__upload *u, const char **why);

/* Pushes the fields, { name1, value1, name2, value2, ... } in the body's
 * order, and the files, an array of { name =, filename =, content_type =,
 * size =, data = | path = }. */
void crater__upload_push(lua_State *L, const crater__upload *u);

#endif
