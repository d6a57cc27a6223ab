/* cli_test.c - `crater test SPEC.lua...`: runs each spec as a script in a
 * fresh Crater VM (crater.host, crater.test and the framework on the path),
 * where crater.test's client injects requests through the C core. A spec
 * passes when it runs to its end; an error fails it with file:line and a
 * traceback. Exit status 0 when all pass. */
#include <stdio.h>

#include "cli_test.h"
#include "load.h"

int crater_cli_test(const crater_cli_opts *o, int nspecs, char **specs) {
  int failed = 0;
  for (int i = 0; i < nspecs; i++) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    crater_server *srv;
    int rc = crater_new(&srv, &loop, &o->cfg);
    if (rc != 0) {
      fprintf(stderr, "crater: %s\n", crater_strerror(rc));
      uv_loop_close(&loop);
      return 1;
    }
    rc = crater__load_specs(srv, specs[i]);
    if (rc == 0) {
      printf("ok   %s\n", specs[i]);
    } else {
      printf("FAIL %s\n%s\n", specs[i], crater_last_error(srv));
      failed++;
    }
    fflush(stdout);
    uv_run(&loop, UV_RUN_DEFAULT); /* injections a spec queued, if any */
    crater_free(srv);
    uv_loop_close(&loop);
  }
  printf("%d passed, %d failed\n", nspecs - failed, failed);
  return failed == 0 ? 0 : 1;
}
