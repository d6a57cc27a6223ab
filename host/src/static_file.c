/* static_file.c - opening files beneath a folder, and file answers (see
 * static_file.h).
 *
 * The Lua half (crater.static) has already refused every path with a '..'
 * segment, a NUL, a backslash or an encoded '/'; this file still checks the
 * path it gets (it is the one that opens), and then lets the kernel keep
 * the resolution beneath the folder: openat2(2) with RESOLVE_BENEATH
 * refuses any step out of the folder's descriptor, whether by '..' or by a
 * symlink (relative or absolute) pointing out, at the moment of opening.
 * Checking a path with realpath() first and opening it after would leave a
 * window in which a symlink can be swapped in; resolving in the open
 * itself leaves none. Kernels before 5.6 have no openat2: there each
 * segment is opened with O_NOFOLLOW below the previous one, so no symlink
 * is followed at all (safe, stricter). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_PATH, openat2 */
#endif
#include "static_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <lauxlib.h>

#ifdef __linux__
#include <linux/openat2.h>
#endif

#define ROOT_MT "crater.static.root"
#define FILE_MT "crater.static.file"

/* A folder app:static serves from: its descriptor (O_PATH), opened when
 * the app loads; a reload opens it again. */
typedef struct {
  int fd; /* -1 once closed */
} static_root;

/* A file answer: what the core sends of an open file. */
typedef struct {
  int fd;       /* -1 once taken by the core or closed */
  int64_t off;  /* first byte to send */
  uint64_t len; /* bytes to send */
} static_file;

static int root_new(lua_State *L);
static int root_gc(lua_State *L);
static int file_open(lua_State *L);
static int file_range(lua_State *L);
static int file_close(lua_State *L);
static int file_is(lua_State *L);
static int open_beneath(int root, const char *rel, int follow);
static int open_walk(int root, const char *rel);
static int rel_ok(const char *rel, size_t len);

#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

int crater__static_file_open(lua_State *L) {
  luaL_newmetatable(L, ROOT_MT);
  lua_pushcfunction(L, root_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, FILE_MT);
  lua_pushcfunction(L, file_close);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  lua_createtable(L, 0, 4);
  lua_pushcfunction(L, root_new);
  lua_setfield(L, -2, "root");
  lua_pushcfunction(L, file_open);
  lua_setfield(L, -2, "open");
  lua_pushcfunction(L, file_range);
  lua_setfield(L, -2, "range");
  lua_pushcfunction(L, file_close);
  lua_setfield(L, -2, "close");
  lua_pushcfunction(L, file_is);
  lua_setfield(L, -2, "is_file");
  return 1;
}

int crater__static_file_take(lua_State *L, int idx, int *fd, int64_t *off, uint64_t *len) {
  if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, FILE_MT);
  int is_file = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  if (!is_file) return 0;
  static_file *f = lua_touserdata(L, idx);
  *fd = f->fd;
  *off = f->off;
  *len = f->len;
  f->fd = -1;
  return 1;
}

/* root(folder) -> root | nil, message */
static int root_new(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  static_root *r = lua_newuserdata(L, sizeof(*r));
  r->fd = -1;
  luaL_getmetatable(L, ROOT_MT);
  lua_setmetatable(L, -2);
  r->fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (r->fd < 0) {
    lua_pushnil(L);
    lua_pushstring(L, strerror(errno));
    return 2;
  }
  return 1;
}

static int root_gc(lua_State *L) {
  static_root *r = luaL_checkudata(L, 1, ROOT_MT);
  if (r->fd >= 0) close(r->fd);
  r->fd = -1;
  return 0;
}

/* open(root, relpath, follow_symlinks) ->
 *   "file", file, size, mtime (s), mtime (ns part)
 *   "dir"
 *   nil, why   (not found, refused, not a regular file or directory) */
static int file_open(lua_State *L) {
  static_root *r = luaL_checkudata(L, 1, ROOT_MT);
  size_t len;
  const char *rel = luaL_checklstring(L, 2, &len);
  int follow = lua_toboolean(L, 3);
  if (r->fd < 0) return luaL_error(L, "crater.static: the folder is closed");
  if (!rel_ok(rel, len)) {
    lua_pushnil(L);
    lua_pushliteral(L, "refused path");
    return 2;
  }
  /* The userdata first: should it fail (memory), no descriptor is open. */
  static_file *f = lua_newuserdata(L, sizeof(*f));
  f->fd = -1;
  f->off = 0;
  f->len = 0;
  luaL_getmetatable(L, FILE_MT);
  lua_setmetatable(L, -2);
  int fd = open_beneath(r->fd, len == 0 ? "." : rel, follow);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    lua_pushnil(L);
    lua_pushstring(L, strerror(e));
    return 2;
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    lua_pushliteral(L, "dir");
    return 1;
  }
  if (!S_ISREG(st.st_mode)) { /* a FIFO, a device: never read from a request */
    close(fd);
    lua_pushnil(L);
    lua_pushliteral(L, "not a regular file");
    return 2;
  }
  f->fd = fd;
  f->len = (uint64_t)st.st_size;
  lua_pushliteral(L, "file");
  lua_insert(L, -2);
  lua_pushnumber(L, (lua_Number)st.st_size);
  lua_pushnumber(L, (lua_Number)st.st_mtim.tv_sec);
  lua_pushnumber(L, (lua_Number)st.st_mtim.tv_nsec);
  return 5;
}

/* range(file, offset, length): the part of the file the answer sends. */
static int file_range(lua_State *L) {
  static_file *f = luaL_checkudata(L, 1, FILE_MT);
  lua_Number off = luaL_checknumber(L, 2), len = luaL_checknumber(L, 3);
  if (!(off >= 0) || !(len >= 0)) return luaL_argerror(L, 2, "offset and length must be >= 0");
  f->off = (int64_t)off;
  f->len = (uint64_t)len;
  return 0;
}

/* close(file): also its __gc, for a file opened and then not answered. */
static int file_close(lua_State *L) {
  static_file *f = luaL_checkudata(L, 1, FILE_MT);
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
  return 0;
}

/* is_file(v): whether v is a file answer (crater.response lets it through
 * as a body). */
static int file_is(lua_State *L) {
  int is_file = 0;
  if (lua_type(L, 1) == LUA_TUSERDATA && lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, FILE_MT);
    is_file = lua_rawequal(L, -1, -2);
  }
  lua_pushboolean(L, is_file);
  return 1;
}

/* A relative path the open may take: not empty of meaning ("" is the
 * folder itself), no NUL inside, not absolute, no '..' or '.' segment, no
 * empty segment, no backslash (a separator elsewhere). */
static int rel_ok(const char *rel, size_t len) {
  if (len == 0) return 1;
  if (memchr(rel, '\0', len) != NULL || memchr(rel, '\\', len) != NULL || rel[0] == '/') return 0;
  const char *p = rel, *end = rel + len;
  while (p <= end) {
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *e = slash ? slash : end;
    size_t n = (size_t)(e - p);
    if (n == 0 && slash != NULL) return 0; /* "a//b"; a trailing '/' is the last segment, empty */
    if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return 0;
    if (slash == NULL) break;
    p = slash + 1;
  }
  return 1;
}

/* Opens rel beneath the folder root; follow: symlinks anywhere are
 * followed (app:static's follow_symlinks). Returns a descriptor, or -1
 * with errno. */
static int open_beneath(int root, const char *rel, int follow) {
  if (follow) return openat(root, rel, OPEN_FLAGS);
#if defined(SYS_openat2) && defined(RESOLVE_BENEATH)
  struct open_how how;
  memset(&how, 0, sizeof(how));
  how.flags = OPEN_FLAGS;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd;
  do {
    fd = (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));
  } while (fd < 0 && errno == EINTR);
  if (fd >= 0 || errno != ENOSYS) return fd;
#endif
  return open_walk(root, rel);
}

/* Without openat2: one segment at a time, none of them a symlink. */
static int open_walk(int root, const char *rel) {
  int dir = root;
  const char *p = rel;
  for (;;) {
    const char *slash = strchr(p, '/');
    char seg[256];
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n >= sizeof(seg)) {
      if (dir != root) close(dir);
      errno = ENAMETOOLONG;
      return -1;
    }
    memcpy(seg, p, n);
    seg[n] = '\0';
    int last = slash == NULL || slash[1] == '\0';
    int fd = openat(dir, n == 0 ? "." : seg,
                    last ? OPEN_FLAGS | O_NOFOLLOW : O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    if (dir != root) close(dir);
    if (fd < 0 || last) {
      errno = e;
      return fd;
    }
    dir = fd;
    p = slash + 1;
  }
}
