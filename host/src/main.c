/* main.c - the `crater` command: parse flags, then serve, list routes or
 * supervise workers. It uses libcrater like any embedder does; signals are
 * its business, not the library's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_serve.h"
#include "cli_test.h"
#include "cli_validate.h"
#include "cli_workers.h"
#include "crater.h"
#include "server.h"
#include "vm.h"
#include "watchdog.h"

static const char usage[] =
    "usage: crater [options] APP.lua        serve the app\n"
    "       crater test PATH...             run specs in a Crater VM (busted when installed)\n"
    "       crater routes APP.lua           list routes: METHOD PATH (file:line)\n"
    "       crater openapi APP.lua          print the app's OpenAPI 3.1 document\n"
    "       crater validate --schema SCHEMA.json DATA.json...\n"
    "                                       check JSON files against a JSON Schema\n"
    "       crater validate --emit SCHEMA.json\n"
    "                                       print the Lua code the schema compiles to\n"
    "       crater --help | --version\n"
    "\n"
    "options:\n"
    "  --host ADDR            address to listen on (default 127.0.0.1)\n"
    "  --port N               port (default 8080; 0 picks a free one)\n"
    "  --workers N            N worker processes sharing the port with SO_REUSEPORT\n"
    "                         (default 1: serve in this process)\n"
    "  --dev                  development mode: tracebacks in 500 responses\n"
    "  --reload               reload when a .lua file under the app's directory changes\n"
    "                         (SIGHUP reloads too, with or without this flag)\n"
    "  --max-header SIZE      request line + headers limit, else 431 (default 16k)\n"
    "  --max-uri SIZE         request target (URI) limit, else 414 (default 8k)\n"
    "  --max-body SIZE        request body limit, else 413 (default 1m)\n"
    "  --header-timeout TIME  time to receive a request's line and headers, else 408\n"
    "                         (default 10s)\n"
    "  --body-timeout TIME    time to receive a request's body once its headers are in,\n"
    "                         else 408 (default 60s)\n"
    "  --idle-timeout TIME    keep-alive idle time before closing (default 75s)\n"
    "  --grace TIME           on SIGTERM/SIGINT, time given to requests in flight (default 10s);\n"
    "                         a process still there 1s later (a stuck handler) is killed\n"
    "  --stuck-timeout TIME   Lua running this long without returning to the event loop is\n"
    "                         interrupted (500); what cannot be (a JIT-compiled loop) ends the\n"
    "                         process, which --workers' parent replaces (default 30s; 0: off)\n"
    "  --max-connections N    open connections; more are closed at accept (default 10000)\n"
    "  --max-memory SIZE      memory one Lua VM may hold; a request that needs more\n"
    "                         fails with 500 (default 1g)\n"
    "  --send-timeout TIME    a client that reads nothing of its answer for this long is\n"
    "                         disconnected (default 60s)\n"
    "  --ws-max-message SIZE  a WebSocket message's limit, else close 1009 (default 1m)\n"
    "  --max-upload SIZE      multipart/form-data body limit, else 413 (default 100m)\n"
    "  --max-upload-file SIZE one uploaded file's limit, else 413 (default 100m)\n"
    "  --max-upload-field SIZE one text field's limit in a multipart body, else 413\n"
    "                         (default 1m)\n"
    "  --max-upload-parts N   parts of a multipart body, else 413 (default 1000)\n"
    "  --upload-memory SIZE   uploaded files up to this size stay in memory, larger ones\n"
    "                         go to a temporary file (default 64k)\n"
    "  --upload-dir DIR       folder of those temporary files (default $TMPDIR or /tmp)\n"
    "  --log-level LEVEL      error, warn, info or debug (default info)\n"
    "  --assets DIR           folder holding the npm packages swagger-ui-dist and redoc,\n"
    "                         served for /docs and /redoc (same as CRATER_ASSETS=DIR)\n"
    "\n"
    "SIZE is bytes with an optional k, m or g suffix (16k); TIME is seconds with an\n"
    "optional ms or s suffix (10s, 500ms).\n";

/* Returns 0 and sets *out, or -1 when text is not a size. */
static int parse_size(const char *text, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno != 0 || end == text || text[0] == '-') return -1;
  if (*end == 'k' || *end == 'K') v *= 1024, end++;
  else if (*end == 'm' || *end == 'M') v *= 1024 * 1024, end++;
  else if (*end == 'g' || *end == 'G') v *= 1024 * 1024 * 1024, end++;
  if (*end != '\0' || v == 0) return -1;
  *out = (size_t)v;
  return 0;
}

static int parse_time_ms(const char *text, uint64_t *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno != 0 || end == text || v <= 0) return -1;
  if (strcmp(end, "ms") == 0) *out = (uint64_t)v;
  else if (strcmp(end, "s") == 0 || *end == '\0') *out = (uint64_t)(v * 1000);
  else return -1;
  return *out > 0 ? 0 : -1;
}

static int parse_int(const char *text, long min, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > max) return -1;
  *out = v;
  return 0;
}

static int bad_value(const char *flag, const char *value, const char *want) {
  fprintf(stderr, "crater: invalid value for %s: '%s' (expected %s)\n", flag, value, want);
  return 2;
}

/* Parses argv into opts. Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, crater_cli_opts *o) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (o->command == NULL && o->app == NULL && strcmp(a, "test") == 0) {
      o->command = a; /* `crater test SPEC...`: every later argument is a spec */
      continue;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      return 0;
    }
    if (strcmp(a, "--version") == 0) {
      printf("crater %s\n", crater_version());
      return 0;
    }
    if (strcmp(a, "--dev") == 0) {
      o->cfg.dev = 1;
      continue;
    }
    if (strcmp(a, "--reload") == 0) {
      o->reload = 1;
      continue;
    }
    if (a[0] == '-' && a[1] == '-') {
      if (i + 1 >= argc) {
        fprintf(stderr, "crater: %s needs a value\n", a);
        return 2;
      }
      const char *v = argv[++i];
      long n;
      if (strcmp(a, "--host") == 0) o->host = v;
      else if (strcmp(a, "--port") == 0) {
        if (parse_int(v, 0, 65535, &n) != 0) return bad_value(a, v, "a port 0-65535");
        o->port = (int)n;
      } else if (strcmp(a, "--workers") == 0) {
        if (parse_int(v, 1, 256, &n) != 0) return bad_value(a, v, "a number 1-256");
        o->workers = (int)n;
      } else if (strcmp(a, "--max-header") == 0) {
        if (parse_size(v, &o->cfg.max_header_bytes) != 0) return bad_value(a, v, "a size like 16k");
      } else if (strcmp(a, "--max-uri") == 0) {
        if (parse_size(v, &o->cfg.max_uri_bytes) != 0) return bad_value(a, v, "a size like 8k");
      } else if (strcmp(a, "--max-body") == 0) {
        if (parse_size(v, &o->cfg.max_body_bytes) != 0) return bad_value(a, v, "a size like 1m");
      } else if (strcmp(a, "--header-timeout") == 0) {
        if (parse_time_ms(v, &o->cfg.header_timeout_ms) != 0) return bad_value(a, v, "a time like 10s");
      } else if (strcmp(a, "--idle-timeout") == 0) {
        if (parse_time_ms(v, &o->cfg.idle_timeout_ms) != 0) return bad_value(a, v, "a time like 75s");
      } else if (strcmp(a, "--stuck-timeout") == 0) {
        if (strcmp(v, "0") == 0) o->cfg.stuck_timeout_ms = 0;
        else if (parse_time_ms(v, &o->cfg.stuck_timeout_ms) != 0)
          return bad_value(a, v, "a time like 30s, or 0 for off");
      } else if (strcmp(a, "--grace") == 0) {
        if (parse_time_ms(v, &o->cfg.grace_ms) != 0) return bad_value(a, v, "a time like 10s");
      } else if (strcmp(a, "--max-connections") == 0) {
        if (parse_int(v, 1, 10000000, &n) != 0) return bad_value(a, v, "a number >= 1");
        o->cfg.max_connections = (unsigned)n;
      } else if (strcmp(a, "--body-timeout") == 0) {
        if (parse_time_ms(v, &o->cfg.body_timeout_ms) != 0) return bad_value(a, v, "a time like 60s");
      } else if (strcmp(a, "--max-memory") == 0) {
        if (parse_size(v, &o->cfg.max_memory_bytes) != 0) return bad_value(a, v, "a size like 512m");
      } else if (strcmp(a, "--ws-max-message") == 0) {
        if (parse_size(v, &o->cfg.ws_max_message_bytes) != 0 || o->cfg.ws_max_message_bytes == 0)
          return bad_value(a, v, "a size like 1m");
      } else if (strcmp(a, "--send-timeout") == 0) {
        if (parse_time_ms(v, &o->cfg.send_timeout_ms) != 0) return bad_value(a, v, "a time like 60s");
      } else if (strcmp(a, "--max-upload") == 0) {
        if (parse_size(v, &o->cfg.max_upload_bytes) != 0) return bad_value(a, v, "a size like 100m");
      } else if (strcmp(a, "--max-upload-file") == 0) {
        if (parse_size(v, &o->cfg.max_upload_file_bytes) != 0) return bad_value(a, v, "a size like 100m");
      } else if (strcmp(a, "--max-upload-field") == 0) {
        if (parse_size(v, &o->cfg.max_upload_field_bytes) != 0) return bad_value(a, v, "a size like 1m");
      } else if (strcmp(a, "--max-upload-parts") == 0) {
        if (parse_int(v, 1, 1000000, &n) != 0) return bad_value(a, v, "a number 1-1000000");
        o->cfg.max_upload_parts = (unsigned)n;
      } else if (strcmp(a, "--upload-memory") == 0) {
        if (parse_size(v, &o->cfg.upload_memory_bytes) != 0) return bad_value(a, v, "a size like 64k");
      } else if (strcmp(a, "--upload-dir") == 0) {
        struct stat st;
        if (stat(v, &st) != 0 || !S_ISDIR(st.st_mode)) return bad_value(a, v, "an existing directory");
        o->cfg.upload_dir = v;
      } else if (strcmp(a, "--log-level") == 0) {
        if (strcmp(v, "error") == 0) o->cfg.log_level = CRATER_LOG_ERROR;
        else if (strcmp(v, "warn") == 0) o->cfg.log_level = CRATER_LOG_WARN;
        else if (strcmp(v, "info") == 0) o->cfg.log_level = CRATER_LOG_INFO;
        else if (strcmp(v, "debug") == 0) o->cfg.log_level = CRATER_LOG_DEBUG;
        else return bad_value(a, v, "error, warn, info or debug");
      } else if (strcmp(a, "--assets") == 0) {
        /* The app looks for the packages when it loads (crater/openapi.lua);
         * the environment is how the flag reaches it, and every worker. */
        struct stat st;
        if (stat(v, &st) != 0 || !S_ISDIR(st.st_mode)) return bad_value(a, v, "an existing directory");
        if (setenv("CRATER_ASSETS", v, 1) != 0) return bad_value(a, v, "a directory path");
      } else {
        fprintf(stderr, "crater: unknown option %s (see crater --help)\n", a);
        return 2;
      }
      continue;
    }
    if (o->command == NULL && o->app == NULL &&
        (strcmp(a, "routes") == 0 || strcmp(a, "openapi") == 0)) {
      o->command = a;
      continue;
    }
    if (o->app != NULL && !(o->command != NULL && strcmp(o->command, "test") == 0)) {
      fprintf(stderr, "crater: more than one app given ('%s' and '%s')\n", o->app, a);
      return 2;
    }
    o->app = a;
  }
  if (o->app == NULL) {
    fputs(usage, stderr);
    return 2;
  }
  return -1;
}

static int describe_app(crater_cli_opts *o) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crater_server *srv;
  int rc = crater_new(&srv, &loop, &o->cfg);
  if (rc == 0) crater__watchdog_on_stuck(srv, crater_cli_exit_stuck_load, NULL);
  if (rc == 0) rc = crater_load(srv, o->app);
  crater__buf out = {0};
  if (rc == 0) rc = crater__gen_describe(srv->gen, o->command, &out);
  if (rc != 0) fprintf(stderr, "crater: %s\n", srv ? crater_last_error(srv) : crater_strerror(rc));
  else fwrite(out.data, 1, out.len, stdout);
  crater__buf_free(&out);
  crater_free(srv);
  uv_loop_close(&loop);
  return rc == 0 ? 0 : 1;
}

/* `crater test`: every non-option argument after "test" is a spec. */
static int run_tests(int argc, char **argv, crater_cli_opts *o) {
  char **specs = calloc((size_t)argc, sizeof(*specs));
  int n = 0, seen = 0;
  if (specs == NULL) return 1;
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-' && argv[i][1] == '-') {
      if (strcmp(argv[i], "--dev") != 0) i++; /* its value */
      continue;
    }
    if (!seen && strcmp(argv[i], "test") == 0) {
      seen = 1;
      continue;
    }
    specs[n++] = argv[i];
  }
  int rc = crater_cli_test(o, n, specs);
  free(specs);
  return rc;
}

int main(int argc, char **argv) {
  crater_cli_opts o;
  memset(&o, 0, sizeof(o));
  o.cfg = crater_config_default();
  o.host = "127.0.0.1";
  o.port = 8080;
  o.workers = 1;
  if (argc > 1 && strcmp(argv[1], "validate") == 0) return crater_cli_validate(argc - 1, argv + 1);
  int rc = parse_args(argc, argv, &o);
  if (rc >= 0) return rc;
  if (o.command != NULL && strcmp(o.command, "test") == 0) return run_tests(argc, argv, &o);
  if (access(o.app, R_OK) != 0) {
    fprintf(stderr, "crater: cannot read app '%s': %s\n", o.app, strerror(errno));
    return 1;
  }
  if (o.command != NULL) return describe_app(&o);
  if (o.workers > 1) return crater_cli_supervise(&o);
  return crater_cli_serve(&o, 0);
}
