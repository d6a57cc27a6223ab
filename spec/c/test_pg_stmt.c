/* test_pg_stmt.c - pg_stmt.c: statements found by SQL text, names never
 * given twice on a connection (a forgotten statement may still exist on the
 * server), forgetting one or all those before an id, the limit. */
#include <stdio.h>
#include <string.h>

#include "pg_stmt.h"
#include "test.h"

static int find(const crater__pg_stmts *s, const char *sql) {
  return crater__pg_stmt_find(s, sql, strlen(sql));
}

static int add(crater__pg_stmts *s, const char *sql) {
  return crater__pg_stmt_add(s, sql, strlen(sql));
}

TEST(pg_stmt_ids_are_never_reused) {
  crater__pg_stmts s;
  memset(&s, 0, sizeof(s));
  ASSERT_EQ_INT(find(&s, "SELECT 1"), -1);
  int a = add(&s, "SELECT 1"), b = add(&s, "SELECT 2"), c = add(&s, "SELECT 3");
  ASSERT_EQ_INT(find(&s, "SELECT 2"), b);
  ASSERT_EQ_INT((int)s.items[a].id, 0);
  ASSERT_EQ_INT((int)s.items[c].id, 2);
  ASSERT_EQ_INT(find(&s, "SELECT 1 "), -1); /* the exact text */
  /* stale after DDL: forgotten, and prepared again under a new name */
  crater__pg_stmt_forget(&s, 1);
  ASSERT_EQ_INT(find(&s, "SELECT 2"), -1);
  ASSERT_EQ_INT(s.n, 2);
  ASSERT_EQ_INT(find(&s, "SELECT 3") >= 0, 1);
  crater__pg_stmt_forget(&s, 42); /* unknown: nothing */
  ASSERT_EQ_INT(s.n, 2);
  int again = add(&s, "SELECT 2");
  ASSERT_EQ_INT((int)s.items[again].id, 3);
  /* DISCARD ALL seen by a batch that prepared id 3 after it: that one stays */
  crater__pg_stmt_forget_before(&s, 3);
  ASSERT_EQ_INT(s.n, 1);
  ASSERT_EQ_INT(find(&s, "SELECT 2"), 0);
  ASSERT_EQ_INT(find(&s, "SELECT 1"), -1);
  crater__pg_stmt_forget_before(&s, s.next_id);
  ASSERT_EQ_INT(s.n, 0);
  ASSERT_EQ_INT((int)s.items[add(&s, "SELECT 1")].id, 4);
  crater__pg_stmt_free(&s);
  ASSERT_EQ_INT(s.n, 0);
}

TEST(pg_stmt_limit) {
  crater__pg_stmts s;
  memset(&s, 0, sizeof(s));
  char sql[32];
  for (int i = 0; i < CRATER__PG_STMT_MAX; i++) {
    snprintf(sql, sizeof(sql), "SELECT %d", i);
    ASSERT_EQ_INT(add(&s, sql), i);
  }
  ASSERT_EQ_INT(add(&s, "SELECT -1"), -1);
  ASSERT_EQ_INT(find(&s, "SELECT 255"), 255);
  crater__pg_stmt_forget(&s, 0); /* room again */
  ASSERT_EQ_INT(add(&s, "SELECT -1") >= 0, 1);
  crater__pg_stmt_free(&s);
}
