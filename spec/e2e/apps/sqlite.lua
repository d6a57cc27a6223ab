-- crater.sqlite over real sockets (spec/e2e/test_sqlite.py). The test copies
-- this file into a temporary folder: "sqlite:test.db" is made there.
local crater = require "crater"
local sqlite = require "crater.sqlite"
local json = crater.json

local app = crater.app()
local db = crater.db(os.getenv("SQLITE_TEST_URL") or "sqlite:test.db")

-- At load time statements run at once (nothing can wait yet).
db:query [[
  CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                                    qty INTEGER CONSTRAINT qty_positive CHECK (qty >= 0));
  CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS vals (id INTEGER PRIMARY KEY, v);
]]
-- Writes at load time only when needed: after a reload, a request may hold a
-- transaction, which code that cannot wait cannot wait for.
if #db:query("SELECT 1 FROM counters") == 0 then
  db:query("INSERT INTO counters VALUES ('c', 0)")
  db:query("INSERT INTO vals (v) VALUES ($1)", "loaded at first start")
end
local loads = db:query("SELECT count(*) AS n FROM vals")[1].n
-- The test asks for a write at load time by making this file.
local flag = io.open((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "write-at-load")
if flag then
  flag:close()
  db:query("INSERT INTO vals (v) VALUES ('written at load')")
end

-- A timer's run is a task: its statements wait like a request's.
db:query("CREATE TABLE IF NOT EXISTS timer_log (id INTEGER PRIMARY KEY, at TEXT)")
app:on_start(function()
  assert(crater.timer.at(0, function(premature)
    if premature then return end
    db:transaction(function(tx)
      tx:query("INSERT INTO timer_log (at) VALUES ('start')")
    end)
  end))
end)

-- Database errors in a timer and in a spawned thread say what they are.
app:post("/failing-timer", function()
  assert(crater.timer.at(0, function(premature)
    if not premature then db:query("SELECT * FROM no_such_table") end
  end))
  return 202
end)

app:get("/failing-thread", function()
  local t = crater.spawn(function() return db:query("SELECT * FROM no_such_table") end)
  local ok, err = crater.wait(t)
  return { ok = ok or false, err = err:match("[^\n]*") }
end)

app:get("/timer-log", function()
  return db:query("SELECT count(*) AS n FROM timer_log")[1]
end)

-- Any statement: { sql = ..., params = [...] } -> the rows and their metadata.
app:post("/sql", function(req)
  local b = req:json()
  local params = b.params or {}
  local rows = db:query(b.sql, unpack(params, 1, #params))
  return { rows = rows, affected_rows = rows.affected_rows, columns = rows.columns,
           last_insert_id = rows.last_insert_id }
end)

-- Values made in Lua, stored and read back: types Lua has and JSON has not.
app:get("/roundtrip", function()
  local cases = {
    { "int", 42 }, { "neg", -7 }, { "float", 1.25 }, { "big", 2^53 }, { "huge", 1e300 },
    { "str", "héllo\0world" }, { "empty", "" }, { "yes", true }, { "no", false },
    { "nil", nil }, { "null", json.null }, { "table", { a = { 1, 2 }, b = json.null } },
  }
  local out = {}
  for _, c in ipairs(cases) do
    local id = db:query("INSERT INTO vals (v) VALUES ($1)", c[2]).last_insert_id
    local r = db:query("SELECT v, typeof(v) AS t FROM vals WHERE id = ?", id)[1]
    out[c[1]] = { v = r.v, t = r.t, lua = type(r.v) }
  end
  local r = db:query("SELECT 9007199254740993 AS over, -9007199254740992 AS edge, "
    .. "X'00FF41' AS blob, CAST('x' AS BLOB) AS b2, NULL AS n, 0.5 AS f")[1]
  out.over = { v = r.over, lua = type(r.over) }
  out.edge = { v = r.edge, lua = type(r.edge) }
  out.blob = { hex = (r.blob:gsub(".", function(ch) return string.format("%02x", ch:byte()) end)) }
  out.b2, out.n_is_null, out.f = r.b2, r.n == json.null, r.f
  out.str_ok = out.str.v == "héllo\0world"
  out.str.v = nil
  return out
end)

app:post("/items", function(req)
  local b = req:json()
  local ok, err = pcall(db.query, db, "INSERT INTO items (name, qty) VALUES ($1, $2) RETURNING id",
    b.name, b.qty)
  if not ok then
    if sqlite.is_error(err) and err.code == "SQLITE_CONSTRAINT_UNIQUE" then
      crater.abort(409, "an item named " .. b.name .. " exists")
    end
    error(err, 0)
  end
  return 201, { id = err[1].id }
end)

app:get("/items", function()
  return db:query("SELECT id, name, qty FROM items ORDER BY id")
end)

app:get("/count", function()
  return db:query("SELECT count(*) AS n FROM items")[1]
end)

app:post("/raw-error", function()
  db:query("INSERT INTO items (name, qty) VALUES ('x', -1)")
end)

-- A transfer between two items: fails (and rolls back) when qty would go < 0.
app:post("/move", function(req)
  local q = req.query
  local n = tonumber(q.n)
  return db:transaction(function(tx)
    tx:query("UPDATE items SET qty = qty + $1 WHERE name = $2", n, q.to)
    if q.boom then error("boom mid-way") end
    tx:query("UPDATE items SET qty = qty - $1 WHERE name = $2", n, q.from)
    return { moved = n }
  end)
end)

-- What is running now, for GET /gen: the tests wait for it instead of
-- sleeping and hoping a transaction or a query has started by then.
-- (A request stopped mid-way leaves its mark: no test reads it after that.)
local open_tx -- /slow-tx's ?a= while its transaction is open
local queries = 0 -- /slow-query statements under way

-- Holds a transaction open while it waits: other requests' statements wait.
app:post("/slow-tx", { deadline = 5 }, function(req)
  local hold = tonumber(req.query.hold or "0.3")
  return db:transaction(function(tx)
    tx:query("INSERT INTO items (name, qty) VALUES ($1, 1)", req.query.a)
    open_tx = req.query.a
    crater.sleep(hold)
    tx:query("INSERT INTO items (name, qty) VALUES ($1, 1)", req.query.b)
    open_tx = nil
    return { ok = true }
  end)
end)

app:post("/stuck-tx", { deadline = 0.2 }, function(req)
  db:transaction(function(tx)
    tx:query("INSERT INTO items (name, qty) VALUES ($1, 1)", req.query.a)
    crater.sleep(5)
  end)
end)

-- Read-modify-write in a transaction: no increment is lost.
app:post("/incr", function()
  return db:transaction(function(tx)
    local n = tx:query("SELECT n FROM counters WHERE name = 'c'")[1].n
    crater.sleep(0)
    tx:query("UPDATE counters SET n = $1 WHERE name = 'c'", n + 1)
    return { n = n + 1 }
  end)
end)

app:get("/counter", function()
  return db:query("SELECT n FROM counters WHERE name = 'c'")[1]
end)

app:post("/nested", function()
  return db:transaction(function(tx)
    tx:query("INSERT INTO items (name, qty) VALUES ('outer', 1)")
    local ok = pcall(tx.transaction, tx, function(inner)
      inner:query("INSERT INTO items (name, qty) VALUES ('inner', 1)")
      error("undo the inner one")
    end)
    return { inner_failed = not ok }
  end)
end)

-- About a second of SQLite work on the thread pool.
local SLOW = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $1) "
  .. "SELECT count(*) AS n FROM c"
app:get("/slow-query", function(req)
  queries = queries + 1
  local rows = db:query(SLOW, tonumber(req.query.n or "3000000"))
  queries = queries - 1
  return rows[1]
end)
app:get("/slow-query-deadline", { deadline = 0.1 }, function(req)
  return db:query(SLOW, tonumber(req.query.n or "3000000"))[1]
end)

app:get("/gen", function() return { loads = loads, open = open_tx, queries = queries } end)

app:get("/loaded", function()
  return db:query("SELECT v FROM vals ORDER BY id")
end)

app:get("/memory", function()
  local m = crater.db("sqlite::memory:")
  m:query("CREATE TABLE t (x)")
  m:query("INSERT INTO t VALUES (1), (2)")
  return { n = m:query("SELECT sum(x) AS s FROM t")[1].s, path = m.path }
end)

app:get("/bad-url", function(req)
  local ok, err = pcall(crater.db, req.query.url)
  return { ok = ok, err = tostring(err) }
end)

-- Where a query cannot wait.
app:get("/cannot-wait", function()
  local _, in_co = coroutine.wrap(function() return pcall(db.query, db, "SELECT 1") end)()
  local in_gsub
  string.gsub("x", "x", function() _, in_gsub = pcall(db.query, db, "SELECT 1") end)
  return { coroutine = tostring(in_co), gsub = tostring(in_gsub) }
end)

app:get("/param-errors", function()
  local out = {}
  for name, args in pairs {
    too_few = { "SELECT $1 + $2", 1 },
    too_many = { "SELECT $1", 1, 2 },
    named = { "SELECT :x", 1 },
    two = { "SELECT $1; SELECT 2", 1 },
    func = { "SELECT $1", print },
  } do
    local ok, err = pcall(db.query, db, unpack(args, 1, table.maxn(args)))
    out[name] = ok and "no error" or (type(err) == "table" and err.code .. ": " .. err.message or tostring(err))
  end
  return out
end)

return app
