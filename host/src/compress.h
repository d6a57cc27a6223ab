/* compress.h - compress.c: content coding of the answers the app builds
 * from Lua bodies and streams (docs/compression.md): which coding the
 * client accepts (Accept-Encoding), whether the answer may be coded (its
 * type, size, status and headers, the app's and route's policy), and the
 * coding itself -- gzip (zlib) and brotli for a whole body, gzip for a
 * streamed one, flushed chunk by chunk.
 *
 * The pipeline asks here once per answer, before its sink sees it; answers
 * the core gives itself, and any other kind of answer (a file), never come
 * here. A coding that fails for want of memory leaves the answer as it
 * was: compression never loses an answer. */
#ifndef CRATER_COMPRESS_H
#define CRATER_COMPRESS_H

#include <stddef.h>

#include <lua.h>

#include "buf.h"
#include "http.h"
#include "request.h"

/* An app's policy (crater.compress builds it from the app's options): a
 * Lua userdata the dispatcher returns as the fifth value of an answer. */
typedef struct crater__compress_policy crater__compress_policy;

/* host.compress_policy(level, br_quality, min_size, types) -> userdata:
 * level 1..9 (gzip), br_quality 0 (no brotli) or 1..11, min_size in bytes,
 * types a list of media type patterns (crater.compress.TYPES: a type, a
 * top-level type then a star, or a star then a suffix such as +json).
 * Raises an error for a bad argument. */
int crater__compress_policy_new(lua_State *L);

/* The policy at index idx of L's stack, or NULL when there is none there
 * (nil, false, or anything that is not a policy). */
const crater__compress_policy *crater__compress_policy_at(lua_State *L, int idx);

/* A streamed body's coder (gzip), per request. */
typedef struct crater__encoder crater__encoder;

/* What crater__compress_answer changed, to release after the sink's
 * respond(): the coded body and a merged Vary value. */
typedef struct {
  crater__buf body;   /* the coded body of a whole answer */
  crater__buf vary;   /* "<the handler's Vary>, Accept-Encoding" */
  crater__buf etag;   /* W/"<the handler's strong ETag>" */
} crater__compress_job;

/* Codes res when the policy, the answer and r's Accept-Encoding allow it:
 * the body of a whole answer into job->body (res->body then points there),
 * or, for the head of a streamed one (CRATER__RES_STREAM), a new coder in
 * *enc (NULL when not coded). hs is res's header list (*nh of them, with
 * room for 2 more): Content-Encoding and Vary are added or merged there,
 * and res->headers / res->nheaders updated. An answer that may be coded
 * gets Vary: Accept-Encoding even when this client takes identity (or
 * asks with HEAD); a coded one's strong ETag becomes weak. */
void crater__compress_answer(const crater__request *r, const crater__compress_policy *pol,
                             crater__response *res, crater_header *hs, size_t *nh,
                             crater__compress_job *job, crater__encoder **enc);

/* Frees the server's gzip state for whole answers (crater_free). */
void crater__compress_free(crater_server *srv);

/* Releases what crater__compress_answer made. */
void crater__compress_job_free(crater__compress_job *job);

/* Codes one chunk of a streamed body, flushed so the client can decode
 * all of it now (finish 0: Z_SYNC_FLUSH), or the end of the body (finish
 * 1: data may be empty). *out (*out_len bytes) is valid until the next
 * call. Returns 0, or -1 when coding failed (then the stream must break
 * off: its head said gzip). */
int crater__encoder_push(crater__encoder *e, const char *data, size_t len, int finish,
                         const char **out, size_t *out_len);

/* Frees e (NULL is fine). */
void crater__encoder_free(crater__encoder *e);

#endif
