/* request.h - request.c: one request as the core holds it once it has
 * arrived, whichever transport brought it (a socket's parser, an
 * injection), plus what the pipeline keeps while answering it.
 *
 * Lua refers to a request as (pointer, seq). Request memory is pooled until
 * the server is freed (a connection's own request lives in the pooled
 * connection; injected ones in the server's request pool), and seq changes
 * when a request starts and when it ends, so a pair Lua kept is always safe
 * to check and never reads another request. */
#ifndef CRATER_REQUEST_H
#define CRATER_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crater.h"
#include "task.h"

typedef struct crater__request crater__request;
typedef struct crater__sink crater__sink;   /* pipeline.h */
typedef struct crater__gen crater__gen;     /* vm.h */
typedef struct crater__upload crater__upload; /* upload.h */

/* Header fields live in request->head as offsets (the buffer may move). */
typedef struct {
  uint32_t name_off, name_len;
  uint32_t value_off, value_len;
} crater__field;

/* What storing part of a request can run into. */
typedef enum {
  CRATER__REQ_OK = 0,
  CRATER__REQ_NOMEM,           /* out of memory: 503 */
  CRATER__REQ_HEAD_TOO_BIG,    /* request line + headers over max_header_bytes: 431 */
  CRATER__REQ_URI_TOO_LONG,    /* request target over max_uri_bytes: 414 */
  CRATER__REQ_TOO_MANY_FIELDS, /* more than CRATER__MAX_FIELDS: 431 */
  CRATER__REQ_BODY_TOO_BIG,    /* body over max_body_bytes: 413 */
  CRATER__REQ_UPLOAD_REFUSED   /* a multipart body refused (upload.c): r->upload_status */
} crater__req_err;

#define CRATER__MAX_FIELDS 128

/* Pipeline states (crater__request.state). */
enum {
  CRATER__REQ_IDLE = 0,  /* not in flight */
  CRATER__REQ_RUNNING,   /* its Lua runs, or the pipeline works on it */
  CRATER__REQ_WAITING,   /* suspended: its handler waits (task.h) */
  CRATER__REQ_DRAINING   /* a streamed body waits for its sink (crater__pipeline_drained) */
};

struct crater__request {
  crater_server *srv;
  uint64_t seq;                  /* changes when a request starts and ends (see above) */
  crater__request *next;         /* the server's pool of injected requests */

  /* What arrived (request.c), filled by the transport. */
  const char *method;            /* a constant (llhttp's names) or method_buf */
  char method_buf[40];
  int head_only;                 /* HEAD: the answer has no body */
  crater__buf head;              /* the URL, then header names and values back to back */
  size_t url_len;
  int target_hash;               /* the URL holds a '#' (noted as it is stored, for strict.c) */
  crater__field *fields;
  int nfields, capfields;
  int bad_name;                  /* a field name is empty */
  size_t target_off;             /* where the path starts in the URL: after an absolute-form
                                    target's scheme and authority (strict.c), else 0 */
  int expect_continue;           /* Expect: 100-continue (strict.c) */
  int answer;                    /* nonzero: the core answers with this status, not the app
                                    (OPTIONS *: 200, CONNECT: 501; strict.c) */
  const char *answer_why;        /* its detail (a refusal's) */
  crater__buf body;
  crater__upload *upload;        /* a multipart/form-data body's parts, instead of body */
  int upload_status;             /* the status its refusal is answered with */
  const char *upload_why;        /* and its detail; without upload: why a multipart body
                                    could not be parsed (its form is refused when read) */
  char peer[64];                 /* "ip:port" of the client, or "inject" */

  /* The answer in progress (pipeline.c), while in flight. */
  const crater__sink *sink;      /* where the answer goes */
  void *sink_ctx;                /* the transport's (a conn, an injection) */
  crater__gen *gen;              /* the generation it runs on: referenced */
  crater__task task;             /* its Lua: task.main.L is its coroutine */
  struct crater__deadline *deadline; /* its route's deadline timer, or NULL (pipeline.c) */
  struct crater__encoder *enc;   /* gzip of its streamed body, or NULL (compress.c) */
  int state;                     /* CRATER__REQ_* above */
  unsigned pflags;               /* CRATER__P_* of pipeline.c */
  int file_fd;                   /* a file answer's file (static_file.h) being sent, or -1:
                                    owned by the pipeline, closed when the request ends */
  int64_t file_off;              /* its next byte to send */
  uint64_t file_left;            /* bytes still to send */
};

/* A request from the server's pool (zeroed, its seq kept), or NULL when
 * memory runs out; crater__request_put returns it. */
crater__request *crater__request_get(crater_server *srv);
void crater__request_put(crater__request *r);
/* Frees the pool (crater_free). */
void crater__request_pool_free(crater_server *srv);

/* Prepares r (zeroed memory, or a finished request) for a new request. */
void crater__request_begin(crater__request *r, crater_server *srv);
/* Frees r's buffers (the struct itself is the owner's). */
void crater__request_free_buffers(crater__request *r);
/* Cuts r's buffers down to what they hold: r will store nothing more (a
 * WebSocket's upgrade request, kept for its handler's whole life). */
void crater__request_fit(crater__request *r);

/* Store parts of the request, within the server's limits. field_name with
 * `next` 1 starts a new field, else continues the current one's name. */
crater__req_err crater__request_url(crater__request *r, const char *at, size_t len);
crater__req_err crater__request_field_name(crater__request *r, const char *at, size_t len, int next);
crater__req_err crater__request_field_value(crater__request *r, const char *at, size_t len);
crater__req_err crater__request_body(crater__request *r, const char *at, size_t len);
/* The head is complete, the body comes next: a multipart/form-data one is
 * parsed as it arrives (upload.c). body_end: it is complete. */
crater__req_err crater__request_body_begin(crater__request *r);
crater__req_err crater__request_body_end(crater__request *r);
/* The most body bytes the request may send (a Content-Length over it: 413). */
size_t crater__request_body_limit(const crater__request *r);
/* Removes a multipart body's temporary files, frees its parts: the request
 * has ended. */
void crater__request_body_release(crater__request *r);

/* 1 when no field name stored is empty; else 0 with the 400 answer's
 * detail in *why. A name's bytes must be a token (RFC 9110 5.1): llhttp
 * (built strict: no whitespace before the colon either, RFC 9112 5.1)
 * checks a parsed one, inject.c an injected one; an empty name is the one
 * fault llhttp lets through (`: value`), so both transports ask here. */
static inline int crater__request_names_ok(const crater__request *r, const char **why) {
  if (!r->bad_name) return 1;
  *why = "Invalid header token"; /* llhttp's words for the same fault */
  return 0;
}

/* The status and detail a refused request is answered with. */
int crater__request_refusal(crater__req_err e, const char **why);
/* The same, knowing the request (a refused upload's own status and detail). */
int crater__request_refusal_of(const crater__request *r, crater__req_err e, const char **why);

/* For the Lua bindings: 1 when (r, seq) is the request in flight. */
int crater__request_valid(const crater__request *r, uint64_t seq);
void crater__request_field(const crater__request *r, int i, const char **name, size_t *nlen,
                           const char **value, size_t *vlen);
const char *crater__request_body_data(const crater__request *r, size_t *len);

#endif
