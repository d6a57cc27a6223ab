/* upload.c - a multipart/form-data body stored part by part (see upload.h).
 *
 * The body itself is never kept: each part's bytes go to its field's or
 * file's storage as multipart.c finds them, so what a request holds in
 * memory is bounded by max_body_bytes whatever the body's size. A file is
 * kept in memory up to upload_memory_bytes; past that (or past the memory
 * bound) it moves to a temporary file created with mkstemp in upload_dir
 * ($TMPDIR, else /tmp), written as its bytes arrive, WRITE_CHUNK at a time.
 * The loop writes those files itself: a write to the page cache costs about
 * what the copy into memory would. */
#include "upload.h"

#include <errno.h>
#include <fcntl.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "multipart.h"
#include "server.h"

/* A spooled file's bytes gather in its data buffer up to this, then go to
 * its file in one write. */
#define WRITE_CHUNK (64 * 1024)

typedef struct {
  crater__buf strings;  /* name, filename, content type, back to back */
  size_t name_len, filename_len, type_len;
  int is_file;
  size_t size;
  crater__buf data;     /* its bytes while in memory; once spooled, those not yet written */
  int fd;               /* its temporary file while it is written, else -1 */
  char *path;           /* its temporary file, or NULL */
} part;

struct crater__upload {
  crater__mp mp;        /* first: it holds two 8 KiB buffers, the rest is small */
  crater_server *srv;
  part *parts;
  unsigned nparts, cap;
  size_t total;         /* body bytes so far */
  size_t in_memory;     /* part bytes held in memory */
  crater__up_err err;   /* set by the callbacks */
  const char *why;
};

crater__upload *crater__upload_new(crater_server *srv, const char *boundary, size_t len) {
  crater__upload *u = crater__calloc(1, sizeof(*u));
  if (u == NULL) return NULL;
  u->srv = srv;
  crater__mp_init(&u->mp, boundary, len);
  return u;
}

static void part_free(part *p) {
  if (p->fd >= 0) close(p->fd);
  if (p->path != NULL) {
    unlink(p->path); /* gone already if the handler moved it */
    crater__free(p->path);
  }
  crater__buf_free(&p->strings);
  crater__buf_free(&p->data);
}

void crater__upload_free(crater__upload *u) {
  if (u == NULL) return;
  for (unsigned i = 0; i < u->nparts; i++) part_free(&u->parts[i]);
  crater__free(u->parts);
  crater__free(u);
}

static int stop(crater__upload *u, crater__up_err e, const char *why) {
  u->err = e;
  u->why = why;
  return 1;
}

static int part_begin(void *ud, const crater__mp_part *mp) {
  crater__upload *u = ud;
  const crater_config *cfg = &u->srv->cfg;
  if (u->nparts >= cfg->max_upload_parts)
    return stop(u, CRATER__UP_TOO_BIG, "more parts than the limit (--max-upload-parts)");
  if (u->nparts == u->cap) {
    unsigned cap = u->cap ? u->cap * 2 : 8;
    part *ps = crater__realloc(u->parts, sizeof(*ps) * cap);
    if (ps == NULL) return stop(u, CRATER__UP_NOMEM, "out of memory storing an upload");
    u->parts = ps;
    u->cap = cap;
  }
  part *p = &u->parts[u->nparts];
  memset(p, 0, sizeof(*p));
  p->fd = -1;
  p->is_file = mp->filename != NULL;
  p->name_len = mp->name_len;
  p->filename_len = mp->filename_len;
  p->type_len = mp->content_type_len;
  size_t n = mp->name_len + mp->filename_len + mp->content_type_len;
  if (crater__buf_reserve(&p->strings, n + 1) != 0)
    return stop(u, CRATER__UP_NOMEM, "out of memory storing an upload");
  u->nparts++; /* from here part_free cleans it */
  crater__buf_append(&p->strings, mp->name, mp->name_len);
  if (p->is_file) crater__buf_append(&p->strings, mp->filename, mp->filename_len);
  crater__buf_append(&p->strings, mp->content_type, mp->content_type_len);
  return 0;
}

static int write_all(int fd, const char *at, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, at, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    at += n;
    len -= (size_t)n;
  }
  return 0;
}

/* A file's bytes so far move from memory to a new temporary file. */
static int spool(crater__upload *u, part *p) {
  const char *dir = u->srv->cfg.upload_dir;
  if (dir == NULL || dir[0] == '\0') dir = getenv("TMPDIR");
  if (dir == NULL || dir[0] == '\0') dir = "/tmp";
  size_t n = strlen(dir) + sizeof("/crater-upload-XXXXXX");
  p->path = crater__malloc(n);
  if (p->path == NULL) return stop(u, CRATER__UP_NOMEM, "out of memory storing an upload");
  snprintf(p->path, n, "%s/crater-upload-XXXXXX", dir);
  p->fd = mkstemp(p->path);
  if (p->fd < 0) {
    crater__free(p->path);
    p->path = NULL;
    return stop(u, CRATER__UP_IO, "could not create a temporary file for an upload (--upload-dir)");
  }
  /* Not for the programs a handler might start. */
  fcntl(p->fd, F_SETFD, FD_CLOEXEC);
  u->in_memory -= p->data.len; /* from here it is a write buffer, bounded by WRITE_CHUNK */
  return 0;
}

/* A spooled file's buffered bytes to its file. */
static int flush(crater__upload *u, part *p) {
  if (p->data.len > 0 && write_all(p->fd, p->data.data, p->data.len) != 0)
    return stop(u, CRATER__UP_IO, "could not write an upload's temporary file (--upload-dir)");
  p->data.len = 0;
  return 0;
}

static int part_data(void *ud, const char *at, size_t len) {
  crater__upload *u = ud;
  const crater_config *cfg = &u->srv->cfg;
  part *p = &u->parts[u->nparts - 1];
  p->size += len;
  if (!p->is_file) {
    if (p->size > cfg->max_upload_field_bytes)
      return stop(u, CRATER__UP_TOO_BIG, "a form field larger than the limit (--max-upload-field)");
    if (u->in_memory + len > cfg->max_body_bytes)
      return stop(u, CRATER__UP_TOO_BIG, "form fields larger together than the limit (--max-body)");
  } else {
    if (p->size > cfg->max_upload_file_bytes)
      return stop(u, CRATER__UP_TOO_BIG, "an uploaded file larger than the limit (--max-upload-file)");
    if (p->fd < 0 && p->path == NULL &&
        (p->size > cfg->upload_memory_bytes || u->in_memory + len > cfg->max_body_bytes) &&
        spool(u, p) != 0)
      return 1;
    if (p->fd >= 0) {
      if (p->data.len + len > WRITE_CHUNK && flush(u, p) != 0) return 1;
      if (len >= WRITE_CHUNK) {
        if (write_all(p->fd, at, len) != 0)
          return stop(u, CRATER__UP_IO, "could not write an upload's temporary file (--upload-dir)");
        return 0;
      }
      if (crater__buf_append(&p->data, at, len) != 0)
        return stop(u, CRATER__UP_NOMEM, "out of memory storing an upload");
      return 0;
    }
  }
  if (crater__buf_append(&p->data, at, len) != 0)
    return stop(u, CRATER__UP_NOMEM, "out of memory storing an upload");
  u->in_memory += len;
  return 0;
}

static int part_end(void *ud) {
  crater__upload *u = ud;
  part *p = &u->parts[u->nparts - 1];
  if (p->fd >= 0) {
    if (flush(u, p) != 0) return 1;
    crater__buf_free(&p->data);
    int rc = close(p->fd);
    p->fd = -1;
    if (rc != 0) return stop(u, CRATER__UP_IO, "could not write an upload's temporary file (--upload-dir)");
  }
  return 0;
}

static const crater__mp_callbacks callbacks = {part_begin, part_data, part_end};

crater__up_err crater__upload_feed(crater__upload *u, const char *data, size_t len, const char **why) {
  if (u->total + len > u->srv->cfg.max_upload_bytes) {
    *why = "multipart body larger than the limit (--max-upload)";
    return CRATER__UP_TOO_BIG;
  }
  u->total += len;
  int rc = crater__mp_feed(&u->mp, data, len, &callbacks, u);
  if (rc == 0) return CRATER__UP_OK;
  if (rc < 0) {
    *why = u->mp.why;
    return CRATER__UP_MALFORMED;
  }
  *why = u->why;
  return u->err;
}

crater__up_err crater__upload_end(crater__upload *u, const char **why) {
  if (crater__mp_done(&u->mp)) return CRATER__UP_OK;
  *why = "multipart body ends before its closing boundary";
  return CRATER__UP_MALFORMED;
}

void crater__upload_push(lua_State *L, const crater__upload *u) {
  lua_createtable(L, 0, 0);
  lua_createtable(L, 0, 0);
  int nfields = 0, nfiles = 0;
  for (unsigned i = 0; i < u->nparts; i++) {
    const part *p = &u->parts[i];
    const char *s = p->strings.data ? p->strings.data : "";
    const char *data = p->data.data ? p->data.data : "";
    if (!p->is_file) {
      lua_pushlstring(L, s, p->name_len);
      lua_rawseti(L, -3, ++nfields);
      lua_pushlstring(L, data, p->data.len);
      lua_rawseti(L, -3, ++nfields);
      continue;
    }
    lua_createtable(L, 0, 5);
    lua_pushlstring(L, s, p->name_len);
    lua_setfield(L, -2, "name");
    lua_pushlstring(L, s + p->name_len, p->filename_len);
    lua_setfield(L, -2, "filename");
    lua_pushlstring(L, s + p->name_len + p->filename_len, p->type_len);
    lua_setfield(L, -2, "content_type");
    lua_pushnumber(L, (lua_Number)p->size);
    lua_setfield(L, -2, "size");
    if (p->path != NULL) lua_pushstring(L, p->path);
    else lua_pushlstring(L, data, p->data.len);
    lua_setfield(L, -2, p->path != NULL ? "path" : "data");
    lua_rawseti(L, -2, ++nfiles);
  }
}
