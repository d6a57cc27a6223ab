/* watch.c - reload when the app's Lua files change.
 *
 * inotify (under uv_fs_event) is not recursive on Linux, so there is one
 * uv_fs_event per directory of the tree. Watching directories rather than
 * files is what makes every way of saving work: an editor that writes in
 * place shows up as IN_MODIFY on the file's name, and one that writes a new
 * file and renames it over the old one (the inode changes, so a watch on the
 * old file would go silent) shows up as IN_MOVED_TO or IN_CREATE of the same
 * name in the directory.
 *
 * Saves come in bursts (truncate, write, write, chmod; or several files at
 * once), so events only arm a short timer; when it fires the tree is
 * rescanned (new directories get a watch, removed or replaced ones lose
 * theirs) and the server reloads once.
 *
 * Modules the app requires from outside its tree (a package.path entry of
 * its own, a sibling folder of shared code) are watched too: each rescan
 * asks the current generation which files it loaded and watches their
 * directories, not recursively. The framework's own files and anything
 * under /usr (Debian's Lua packages) are left alone.
 *
 * NOTE: the scan is synchronous. It is meant for an app's source tree (tens
 * of directories); CRATER__WATCH_MAX_DIRS bounds the damage when pointed at
 * something huge. */
#include "watch.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "log.h"
#include "server.h"
#include "vm.h"

#define CRATER__WATCH_MAX_DIRS 1024
#define CRATER__WATCH_MAX_DEPTH 16

typedef struct dirwatch {
  uv_fs_event_t ev;            /* ev.data points at the crater__watch */
  struct dirwatch *next;
  dev_t dev;                   /* identity of the directory being watched: a */
  ino_t ino;                   /* directory replaced under the same name needs a new watch */
  int seen;                    /* found by the current rescan */
  char path[];
} dirwatch;

struct crater__watch {
  crater_server *srv;
  uv_loop_t *loop;
  char *root;                  /* the app's directory */
  char *root_real;             /* ...and its realpath(), to tell modules inside from outside */
  char *lua_real;              /* realpath() of the framework's Lua directory, or NULL */
  dirwatch *dirs;
  int ndirs;
  uv_timer_t debounce;
  uint64_t burst_start;        /* loop time of the first change not yet reloaded; 0: none */
  int open_handles;            /* closing handles; the struct is freed at 0 */
  int stopping;
};

static int rescan(crater__watch *w);
static void on_module_file(void *ud, const char *path);
static void walk(crater__watch *w, const char *path, int depth);
static int add_dir(crater__watch *w, const char *path, const struct stat *st);
static void drop_dir(crater__watch *w, dirwatch *d);
static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status);
static void on_debounce(uv_timer_t *t);
static void on_handle_closed(uv_handle_t *h);

/* ===================================================================== */
/*  Entry points                                                           */
/* ===================================================================== */

int crater__watch_start(crater_server *srv, const char *app_path, crater__watch **out) {
  crater__watch *w = crater__calloc(1, sizeof(*w));
  if (w == NULL) return CRATER_ENOMEM;
  w->srv = srv;
  w->loop = srv->loop;
  const char *slash = strrchr(app_path, '/');
  w->root = slash ? crater__malloc((size_t)(slash - app_path) + 2) : crater__strdup(".");
  if (w->root == NULL) goto failed_alloc;
  if (slash) {
    size_t n = slash == app_path ? 1 : (size_t)(slash - app_path); /* "/app.lua": root "/" */
    memcpy(w->root, app_path, n);
    w->root[n] = '\0';
  }
  w->root_real = realpath(w->root, NULL);
  w->lua_real = srv->lua_path ? realpath(srv->lua_path, NULL) : NULL;
  uv_timer_init(w->loop, &w->debounce);
  w->debounce.data = w;
  if (rescan(w) != 0 || w->dirs == NULL) {
    crater__log(srv, CRATER_LOG_ERROR, "--reload: cannot watch %s", w->root);
    crater__watch_stop(w);
    return CRATER_EINVAL;
  }
  crater__log(srv, CRATER_LOG_INFO, "watching %s (%d director%s) for changes to *.lua and templates",
              w->root, w->ndirs, w->ndirs == 1 ? "y" : "ies");
  *out = w;
  return 0;

failed_alloc:
  crater__free(w);
  return CRATER_ENOMEM;
}

void crater__watch_stop(crater__watch *w) {
  if (w == NULL || w->stopping) return;
  w->stopping = 1;
  while (w->dirs != NULL) drop_dir(w, w->dirs);
  w->open_handles++;
  uv_close((uv_handle_t *)&w->debounce, on_handle_closed);
}

/* ===================================================================== */
/*  Events                                                                 */
/* ===================================================================== */

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status) {
  (void)events;
  crater__watch *w = h->data;
  if (w->stopping) return;
  if (status < 0) {
    crater__log(w->srv, CRATER_LOG_WARN, "--reload: watching %s: %s",
                ((dirwatch *)h)->path, uv_strerror(status));
    return;
  }
  /* Editors' swap and backup files (.app.lua.swp, app.lua~, 4913) are not
   * worth a reload; Lua files, templates (crater.template caches them per
   * generation) and directories (a new package) are. */
  int relevant = filename == NULL || ends_with(filename, ".lua") || ends_with(filename, ".html") ||
                 ends_with(filename, ".htm") || ends_with(filename, ".etlua");
  if (!relevant) {
    char p[4096];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", ((dirwatch *)h)->path, filename);
    relevant = filename[0] != '.' && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
  }
  if (!relevant) return;
  uint64_t now = uv_now(w->loop);
  if (w->burst_start == 0) w->burst_start = now;
  /* Trailing debounce, but never pushed past the burst's max delay. */
  uint64_t waited = now - w->burst_start;
  uint64_t delay = CRATER__WATCH_DEBOUNCE_MS;
  if (waited + delay > CRATER__WATCH_MAX_DELAY_MS)
    delay = waited >= CRATER__WATCH_MAX_DELAY_MS ? 0 : CRATER__WATCH_MAX_DELAY_MS - waited;
  uv_timer_start(&w->debounce, on_debounce, delay, 0);
}

static void on_debounce(uv_timer_t *t) {
  crater__watch *w = t->data;
  w->burst_start = 0;
  crater_reload(w->srv); /* logs its own success or failure */
  rescan(w);             /* after: the new generation may require other modules */
}

/* ===================================================================== */
/*  The set of watched directories                                         */
/* ===================================================================== */

static int rescan(crater__watch *w) {
  for (dirwatch *d = w->dirs; d != NULL; d = d->next) d->seen = 0;
  walk(w, w->root, 0);
  if (w->srv->gen != NULL) crater__gen_module_files(w->srv->gen, on_module_file, w);
  dirwatch *d = w->dirs;
  while (d != NULL) {
    dirwatch *next = d->next;
    if (!d->seen) drop_dir(w, d);
    d = next;
  }
  return 0;
}

static int under(const char *path, const char *dir) {
  size_t n = dir ? strlen(dir) : 0;
  return n > 0 && strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0' || dir[n - 1] == '/');
}

static void on_module_file(void *ud, const char *path) {
  crater__watch *w = ud;
  char *real = realpath(path, NULL);
  if (real == NULL) return;
  char *slash = strrchr(real, '/');
  if (slash != NULL && slash != real) *slash = '\0';
  if (!under(real, w->root_real) && !under(real, w->lua_real) && !under(real, "/usr")) {
    int before = w->ndirs;
    walk(w, real, CRATER__WATCH_MAX_DEPTH); /* this directory only */
    if (w->ndirs > before)
      crater__log(w->srv, CRATER_LOG_INFO, "--reload: also watching %s (the app requires %s)", real,
                  path);
  }
  free(real);
}

static void walk(crater__watch *w, const char *path, int depth) {
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return;
  dirwatch *found = NULL;
  for (dirwatch *d = w->dirs; d != NULL; d = d->next)
    if (strcmp(d->path, path) == 0) found = d;
  if (found != NULL && (found->dev != st.st_dev || found->ino != st.st_ino)) {
    drop_dir(w, found); /* replaced by another directory of the same name */
    found = NULL;
  }
  if (found != NULL) found->seen = 1;
  else if (add_dir(w, path, &st) != 0) return;
  if (depth >= CRATER__WATCH_MAX_DEPTH) return;
  DIR *dir = opendir(path);
  if (dir == NULL) return;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] == '.') continue; /* ., .., .git, editors' hidden files */
    if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
    char child[4096];
    int n = snprintf(child, sizeof(child), "%s/%s", strcmp(path, "/") == 0 ? "" : path, e->d_name);
    if (n < 0 || (size_t)n >= sizeof(child)) continue;
    walk(w, child, depth + 1);
  }
  closedir(dir);
}

static int add_dir(crater__watch *w, const char *path, const struct stat *st) {
  if (w->ndirs >= CRATER__WATCH_MAX_DIRS) {
    crater__log(w->srv, CRATER_LOG_WARN, "--reload: more than %d directories; not watching %s",
                CRATER__WATCH_MAX_DIRS, path);
    return -1;
  }
  size_t n = strlen(path);
  dirwatch *d = crater__calloc(1, sizeof(*d) + n + 1);
  if (d == NULL) return -1;
  memcpy(d->path, path, n + 1);
  d->dev = st->st_dev;
  d->ino = st->st_ino;
  d->seen = 1;
  uv_fs_event_init(w->loop, &d->ev);
  d->ev.data = w;
  int rc = uv_fs_event_start(&d->ev, on_fs_event, path, 0);
  if (rc != 0) {
    crater__log(w->srv, CRATER_LOG_WARN, "--reload: cannot watch %s: %s", path, uv_strerror(rc));
    w->open_handles++;
    uv_close((uv_handle_t *)&d->ev, on_handle_closed);
    return -1;
  }
  d->next = w->dirs;
  w->dirs = d;
  w->ndirs++;
  return 0;
}

static void drop_dir(crater__watch *w, dirwatch *d) {
  dirwatch **pp = &w->dirs;
  while (*pp != d) pp = &(*pp)->next;
  *pp = d->next;
  w->ndirs--;
  w->open_handles++;
  uv_close((uv_handle_t *)&d->ev, on_handle_closed);
}

/* Frees a dirwatch (its handle is its first member) or, for the debounce
 * timer, nothing; the watcher goes once the last handle is closed. */
static void on_handle_closed(uv_handle_t *h) {
  crater__watch *w = h->data;
  if (h->type == UV_FS_EVENT) crater__free(h);
  if (--w->open_handles == 0 && w->stopping) {
    free(w->root_real); /* from realpath(): malloc'ed by libc */
    free(w->lua_real);
    crater__free(w->root);
    crater__free(w);
  }
}
