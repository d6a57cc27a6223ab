-- crater.sqlite inside `crater test` (no socket): the spec's own code runs
-- statements at once (it cannot wait), handlers called by crater.test's
-- client wait for theirs; errors, transactions and savepoints both ways.
local crater = require "crater"
local sqlite = require "crater.sqlite"
local client = require("crater.test").client

local db = crater.db("sqlite::memory:")
db:query("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE, n REAL)")

local app = crater.app()
app:post("/t/{v}", function(req)
  return 201, db:query("INSERT INTO t (v) VALUES ($1) RETURNING id, v", req.params.v)[1]
end)
app:get("/t", function() return db:query("SELECT id, v FROM t ORDER BY id") end)
app:post("/tx/{v}", function(req)
  return db:transaction(function(tx)
    tx:query("INSERT INTO t (v) VALUES ($1)", req.params.v)
    if req.query.fail then crater.abort(409, "undone") end
    return { n = tx:query("SELECT count(*) AS n FROM t")[1].n }
  end)
end)

local c = client(app)
local res = c:post("/t/a")
assert(res.status == 201 and res:json().id == 1 and res:json().v == "a", res.body)
res = c:post("/t/a")
assert(res.status == 500, res.body)
res = c:post("/tx/b")
assert(res.status == 200 and res:json().n == 2, res.body)
res = c:post("/tx/c?fail=1")
assert(res.status == 409, res.body)
res = c:get("/t")
local list = res:json()
assert(#list == 2 and list[1].v == "a" and list[2].v == "b", res.body)

-- The spec's own code: at once.
local rows = db:query("SELECT v FROM t WHERE v = $1", "a")
assert(#rows == 1 and rows[1].v == "a" and rows.affected_rows == 0)
assert(rows.columns[1].name == "v" and rows.columns[1].type == "TEXT")

local ok, e = pcall(db.query, db, "INSERT INTO t (v) VALUES ('a')")
assert(not ok and sqlite.is_error(e), tostring(e))
assert(e.code == "SQLITE_CONSTRAINT_UNIQUE" and e.constraint == "t.v", e.code)
assert(tostring(e) == "SQLITE_CONSTRAINT_UNIQUE: UNIQUE constraint failed: t.v", tostring(e))

local got = db:transaction(function(tx)
  tx:query("INSERT INTO t (v) VALUES ('d')")
  local inner_ok = pcall(tx.transaction, tx, function(inner)
    inner:query("INSERT INTO t (v) VALUES ('e')")
    error("inner fails")
  end)
  assert(not inner_ok)
  return "committed"
end)
assert(got == "committed")
ok, e = pcall(db.transaction, db, function(tx)
  tx:query("INSERT INTO t (v) VALUES ('f')")
  error("outer fails", 0)
end)
assert(not ok and e == "outer fails", tostring(e))
local vs = {}
for _, r in ipairs(db:query("SELECT v FROM t ORDER BY id")) do vs[#vs + 1] = r.v end
assert(table.concat(vs, ",") == "a,b,d", table.concat(vs, ","))

-- Values that JSON cannot tell apart come back as SQLite has them.
rows = db:query("SELECT $1 AS i, $2 AS f, $3 AS b, $4 AS n, $5 AS big", 3, 0.5, true, nil, 2^60)
assert(rows[1].i == 3 and rows[1].f == 0.5 and rows[1].b == 1 and rows[1].n == crater.json.null)
assert(rows[1].big == "1152921504606846976", rows[1].big)
