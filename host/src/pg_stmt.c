/* pg_stmt.c - prepared statements by SQL text (see pg_stmt.h). A linear
 * scan over hashes: a connection prepares a few dozen statements at most in
 * a typical app, and the scan is cheap next to a round trip. */
#include "pg_stmt.h"

#include <string.h>

#include "alloc.h"

static uint32_t hash(const char *s, size_t len) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 16777619u;
  }
  return h;
}

int crater__pg_stmt_find(const crater__pg_stmts *s, const char *sql, size_t len) {
  uint32_t h = hash(sql, len);
  for (int i = 0; i < s->n; i++) {
    const crater__pg_stmt *st = &s->items[i];
    if (st->hash == h && st->len == len && memcmp(st->sql, sql, len) == 0) return i;
  }
  return -1;
}

int crater__pg_stmt_add(crater__pg_stmts *s, const char *sql, size_t len) {
  if (s->n >= CRATER__PG_STMT_MAX) return -1;
  if (s->n == s->cap) {
    int cap = s->cap ? s->cap * 2 : 16;
    crater__pg_stmt *items = crater__realloc(s->items, (size_t)cap * sizeof(*items));
    if (items == NULL) return -1;
    s->items = items;
    s->cap = cap;
  }
  char *copy = crater__malloc(len + 1);
  if (copy == NULL) return -1;
  memcpy(copy, sql, len);
  copy[len] = '\0';
  s->items[s->n] = (crater__pg_stmt){copy, len, hash(sql, len), s->next_id++, 0};
  return s->n++;
}

void crater__pg_stmt_forget(crater__pg_stmts *s, uint32_t id) {
  for (int i = 0; i < s->n; i++) {
    if (s->items[i].id != id) continue;
    crater__free(s->items[i].sql);
    s->items[i] = s->items[--s->n];
    return;
  }
}

void crater__pg_stmt_forget_before(crater__pg_stmts *s, uint32_t id) {
  int k = 0;
  for (int i = 0; i < s->n; i++) {
    if (s->items[i].id < id) crater__free(s->items[i].sql);
    else s->items[k++] = s->items[i];
  }
  s->n = k;
}

void crater__pg_stmt_free(crater__pg_stmts *s) {
  for (int i = 0; i < s->n; i++) crater__free(s->items[i].sql);
  s->n = 0;
  crater__free(s->items);
  s->items = NULL;
  s->cap = 0;
}
