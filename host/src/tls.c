/* tls.c - TLS clients through memory BIOs (see tls.h).
 *
 * The SSL object reads from one memory BIO, which crater__tls_feed fills
 * with what the connection received, and writes to another, which
 * crater__tls_output empties into what the connection sends: OpenSSL never
 * sees a file descriptor, so it never blocks, and the caller's loop does
 * all the I/O. The input BIO says "retry" when empty (not EOF): the end of
 * the connection is the caller's to notice.
 *
 * NOTE: OpenSSL allocates with its own allocator, not crater__malloc: its
 * allocator is process-wide, and a library must not replace it under its
 * embedder. */
#include "tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define READ_RESERVE 16384

struct crater__tls {
  SSL *ssl;
  BIO *in;   /* what was read from the connection (the SSL's read BIO) */
  BIO *out;  /* what must be sent to it (its write BIO) */
  int ready; /* the handshake is complete */
};

static void error_message(char *err, size_t errlen, const char *what);

crater__tls_ctx *crater__tls_context_new(const char *cafile, char *err, size_t errlen) {
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) goto failed;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* idle pooled connections hold less */
  int loaded = cafile ? SSL_CTX_load_verify_locations(ctx, cafile, NULL)
                      : SSL_CTX_set_default_verify_paths(ctx);
  if (!loaded) goto failed_ctx;
  return ctx;

failed_ctx:
  SSL_CTX_free(ctx);
failed:
  error_message(err, errlen, cafile ? "cafile" : "CA store");
  return NULL;
}

void crater__tls_context_free(crater__tls_ctx *ctx) { SSL_CTX_free(ctx); }

crater__tls *crater__tls_new(crater__tls_ctx *ctx, const char *server_name, int verify, char *err,
                             size_t errlen) {
  ERR_clear_error();
  crater__tls *t = OPENSSL_zalloc(sizeof(*t));
  if (t == NULL) goto failed;
  t->ssl = SSL_new(ctx);
  if (t->ssl == NULL) goto failed_tls;
  t->in = BIO_new(BIO_s_mem());
  t->out = BIO_new(BIO_s_mem());
  if (t->in == NULL || t->out == NULL) goto failed_bios;
  BIO_set_mem_eof_return(t->in, -1); /* empty is "retry", not EOF */
  SSL_set_bio(t->ssl, t->in, t->out);  /* the SSL owns them from here */
  SSL_set_connect_state(t->ssl);
  SSL_set_verify(t->ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  if (server_name != NULL) {
    unsigned char addr[16];
    int is_ip = inet_pton(AF_INET, server_name, addr) == 1 || inet_pton(AF_INET6, server_name, addr) == 1;
    /* SNI names hosts, never addresses (RFC 6066 3). */
    if (!is_ip && !SSL_set_tlsext_host_name(t->ssl, server_name)) goto failed_name;
    if (verify) {
      X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
      int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, server_name)
                     : X509_VERIFY_PARAM_set1_host(param, server_name, 0);
      if (!ok) goto failed_name;
    }
  }
  return t;

failed_bios:
  BIO_free(t->in);
  BIO_free(t->out);
failed_name:
  SSL_free(t->ssl); /* and the BIOs, once set */
failed_tls:
  OPENSSL_free(t);
failed:
  error_message(err, errlen, "tls");
  return NULL;
}

void crater__tls_free(crater__tls *t) {
  if (t == NULL) return;
  SSL_free(t->ssl);
  OPENSSL_free(t);
}

int crater__tls_handshake(crater__tls *t, char *err, size_t errlen) {
  if (t->ready) return CRATER__TLS_DONE;
  ERR_clear_error();
  int r = SSL_do_handshake(t->ssl);
  if (r == 1) {
    t->ready = 1;
    return CRATER__TLS_DONE;
  }
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return CRATER__TLS_MORE;
  unsigned long code = ERR_peek_error();
  if (ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    long vr = SSL_get_verify_result(t->ssl);
    snprintf(err, errlen, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
    ERR_clear_error();
    return CRATER__TLS_ERROR;
  }
  error_message(err, errlen, "handshake failed");
  return CRATER__TLS_ERROR;
}

int crater__tls_ready(const crater__tls *t) { return t->ready; }

int crater__tls_feed(crater__tls *t, const char *data, size_t len) {
  while (len > 0) {
    int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
    if (BIO_write(t->in, data, chunk) != chunk) return -1;
    data += chunk;
    len -= (size_t)chunk;
  }
  return 0;
}

int crater__tls_read(crater__tls *t, crater__buf *plain, char *err, size_t errlen) {
  for (;;) {
    if (crater__buf_reserve(plain, READ_RESERVE) != 0) {
      snprintf(err, errlen, "no memory");
      return CRATER__TLS_ERROR;
    }
    size_t room = plain->cap - plain->len;
    ERR_clear_error();
    int n = SSL_read(t->ssl, plain->data + plain->len, room > (1u << 30) ? (1 << 30) : (int)room);
    if (n > 0) {
      plain->len += (size_t)n;
      continue;
    }
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ) return CRATER__TLS_MORE;
    if (e == SSL_ERROR_ZERO_RETURN) return CRATER__TLS_EOF;
    error_message(err, errlen, "tls");
    return CRATER__TLS_ERROR;
  }
}

int crater__tls_write(crater__tls *t, const char *data, size_t len, char *err, size_t errlen) {
  ERR_clear_error();
  while (len > 0) {
    int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
    /* A memory BIO takes everything: SSL_write writes it all or fails. */
    if (SSL_write(t->ssl, data, chunk) != chunk) {
      error_message(err, errlen, "tls");
      return -1;
    }
    data += chunk;
    len -= (size_t)chunk;
  }
  return 0;
}

int crater__tls_output(crater__tls *t, crater__buf *out) {
  size_t n = BIO_ctrl_pending(t->out);
  if (n == 0) return 0;
  if (crater__buf_reserve(out, n) != 0) return -1;
  int got = BIO_read(t->out, out->data + out->len, (int)n);
  if (got > 0) out->len += (size_t)got;
  return 0;
}

/* "what: REASON" from OpenSSL's error queue (then cleared). */
static void error_message(char *err, size_t errlen, const char *what) {
  unsigned long code = ERR_get_error();
  const char *reason = code ? ERR_reason_error_string(code) : NULL;
  if (reason == NULL) reason = code ? "unknown error" : "the peer closed the connection";
  snprintf(err, errlen, "%s: %s", what, reason);
  ERR_clear_error();
}
