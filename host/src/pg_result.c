/* pg_result.c - PostgreSQL results as Lua values (see pg_result.h): the
 * built-in types pg.c converts itself, and what it leaves as text for
 * pg.lua (json, bytea, arrays). */
#include "pg_result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

static void set_field(lua_State *L, const char *k, const char *v) {
  if (v == NULL) return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

void crater__pg_push_error(lua_State *L, const PGresult *r) {
  lua_createtable(L, 0, 8);
  set_field(L, "code", PQresultErrorField(r, PG_DIAG_SQLSTATE));
  set_field(L, "message", PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
  set_field(L, "detail", PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL));
  set_field(L, "hint", PQresultErrorField(r, PG_DIAG_MESSAGE_HINT));
  set_field(L, "constraint", PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME));
  set_field(L, "table", PQresultErrorField(r, PG_DIAG_TABLE_NAME));
  set_field(L, "column", PQresultErrorField(r, PG_DIAG_COLUMN_NAME));
  const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
  set_field(L, "severity", sev ? sev : PQresultErrorField(r, PG_DIAG_SEVERITY));
  const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
  if (pos) {
    lua_pushnumber(L, atof(pos));
    lua_setfield(L, -2, "position");
  }
}


enum { K_STR, K_NUM, K_BOOL, K_INT8, K_NUMERIC, K_LUA };

typedef struct {
  Oid oid;
  const char *name;
  int kind;
} pg_type;

/* The built-in types' OIDs are fixed (pg_type.dat). K_LUA: converted by
 * pg.lua (json, bytea, arrays). */
static const pg_type TYPES[] = {
  {16, "bool", K_BOOL},        {17, "bytea", K_LUA},         {18, "char", K_STR},
  {19, "name", K_STR},         {20, "int8", K_INT8},         {21, "int2", K_NUM},
  {23, "int4", K_NUM},         {25, "text", K_STR},          {26, "oid", K_NUM},
  {114, "json", K_LUA},        {700, "float4", K_NUM},       {701, "float8", K_NUM},
  {1042, "bpchar", K_STR},     {1043, "varchar", K_STR},     {1082, "date", K_STR},
  {1083, "time", K_STR},       {1114, "timestamp", K_STR},   {1184, "timestamptz", K_STR},
  {1186, "interval", K_STR},   {1266, "timetz", K_STR},      {1700, "numeric", K_NUMERIC},
  {2950, "uuid", K_STR},       {3802, "jsonb", K_LUA},       {869, "inet", K_STR},
  {650, "cidr", K_STR},        {2278, "void", K_STR},        {705, "unknown", K_STR},
  {1000, "bool[]", K_LUA},     {1001, "bytea[]", K_LUA},     {1005, "int2[]", K_LUA},
  {1007, "int4[]", K_LUA},     {1016, "int8[]", K_LUA},      {1009, "text[]", K_LUA},
  {1015, "varchar[]", K_LUA},  {1014, "bpchar[]", K_LUA},    {1021, "float4[]", K_LUA},
  {1022, "float8[]", K_LUA},   {1231, "numeric[]", K_LUA},   {2951, "uuid[]", K_LUA},
  {199, "json[]", K_LUA},      {3807, "jsonb[]", K_LUA},     {1182, "date[]", K_LUA},
  {1115, "timestamp[]", K_LUA}, {1185, "timestamptz[]", K_LUA}, {1028, "oid[]", K_LUA},
  {1003, "name[]", K_LUA},     {1183, "time[]", K_LUA},      {1187, "interval[]", K_LUA},
};

static const pg_type *type_of(Oid oid) {
  for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++)
    if (TYPES[i].oid == oid) return &TYPES[i];
  return NULL;
}

/* A numeric with at most 15 digits prints back the same from a double;
 * longer ones stay exact as strings. */
static int numeric_fits(const char *s) {
  int digits = 0;
  for (; *s; s++) {
    if (*s >= '0' && *s <= '9') digits++;
    else if (*s != '-' && *s != '.' && *s != '+') return 0; /* NaN, Infinity, exponent */
  }
  return digits > 0 && digits <= 15;
}

static void push_value(lua_State *L, int kind, const char *v, int len) {
  switch (kind) {
  case K_NUM:
    lua_pushnumber(L, strtod(v, NULL));
    return;
  case K_BOOL:
    lua_pushboolean(L, v[0] == 't');
    return;
  case K_INT8: {
    long long n = strtoll(v, NULL, 10);
    if (n <= 9007199254740992LL && n >= -9007199254740992LL) lua_pushnumber(L, (lua_Number)n);
    else lua_pushlstring(L, v, (size_t)len);
    return;
  }
  case K_NUMERIC:
    if (numeric_fits(v)) lua_pushnumber(L, strtod(v, NULL));
    else lua_pushlstring(L, v, (size_t)len);
    return;
  default:
    lua_pushlstring(L, v, (size_t)len);
  }
}

/* rows.columns and, for the columns pg.lua converts, rows.convert. */
static void push_columns(lua_State *L, PGresult *r, int rows, const int *kinds, int ncols) {
  lua_createtable(L, ncols, 0);
  int nconv = 0;
  for (int j = 0; j < ncols; j++) {
    const pg_type *t = type_of(PQftype(r, j));
    if (kinds[j] == K_LUA) nconv++;
    lua_createtable(L, 0, 2);
    lua_pushstring(L, PQfname(r, j));
    lua_setfield(L, -2, "name");
    if (t) {
      lua_pushstring(L, t->name);
    } else {
      char buf[24];
      snprintf(buf, sizeof(buf), "%u", (unsigned)PQftype(r, j));
      lua_pushstring(L, buf);
    }
    lua_setfield(L, -2, "type");
    lua_rawseti(L, -2, j + 1);
  }
  lua_setfield(L, rows, "columns");
  if (nconv) {
    lua_createtable(L, nconv, 0);
    int k = 0;
    for (int j = 0; j < ncols; j++) {
      if (kinds[j] != K_LUA) continue;
      lua_pushinteger(L, j + 1);
      lua_rawseti(L, -2, ++k);
    }
    lua_setfield(L, rows, "convert");
  }
}

/* rows (array of tables keyed by column name), rows.columns, rows.affected_rows.
 * null is at index nullidx. K_LUA columns hold text for pg.lua to convert:
 * rows.convert lists their indexes. */
void crater__pg_push_rows(lua_State *L, PGresult *r, int nullidx, int like) {
  int nrows = PQntuples(r), ncols = PQnfields(r);
  lua_createtable(L, nrows, 3);
  int rows = lua_gettop(L);
  int kinds[ncols > 0 ? ncols : 1];
  for (int j = 0; j < ncols; j++) {
    const pg_type *t = type_of(PQftype(r, j));
    kinds[j] = t ? t->kind : K_STR;
  }
  if (like) {
    lua_getfield(L, like, "columns");
    lua_setfield(L, rows, "columns");
    lua_getfield(L, like, "convert");
    lua_setfield(L, rows, "convert");
  } else {
    push_columns(L, r, rows, kinds, ncols);
  }
  const char *affected = PQcmdTuples(r);
  lua_pushnumber(L, affected && *affected ? atof(affected) : 0);
  lua_setfield(L, rows, "affected_rows");
  /* The column names once on the stack: interning each again for every
   * row was a hash and a lookup per value. */
  int names = 0;
  if (ncols > 0 && lua_checkstack(L, ncols + 4)) {
    names = lua_gettop(L) + 1;
    for (int j = 0; j < ncols; j++) lua_pushstring(L, PQfname(r, j));
  }
  for (int i = 0; i < nrows; i++) {
    lua_createtable(L, 0, ncols);
    for (int j = 0; j < ncols; j++) {
      if (names) lua_pushvalue(L, names + j);
      else lua_pushstring(L, PQfname(r, j));
      if (PQgetisnull(r, i, j)) lua_pushvalue(L, nullidx);
      else push_value(L, kinds[j], PQgetvalue(r, i, j), PQgetlength(r, i, j));
      lua_rawset(L, -3);
    }
    lua_rawseti(L, rows, i + 1);
  }
  if (names) lua_settop(L, names - 1);
}
