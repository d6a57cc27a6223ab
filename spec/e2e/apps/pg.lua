-- The app of spec/e2e/test_pg.py: crater.pg against the throwaway
-- PostgreSQL at DATABASE_URL.
local crater = require "crater"
local json = require "crater.json"
local app = crater.app()

local url = assert(os.getenv("DATABASE_URL"), "DATABASE_URL is needed")
local pool_size = tonumber(os.getenv("PG_POOL_SIZE") or "4")
local db = assert(crater.pg.connect({ url = url, pool_size = pool_size, pool_timeout = 1,
  query_timeout = 5 }))

-- while the file loads: a blocking query on a connection of its own
db:query("CREATE TABLE IF NOT EXISTS made_at_load (n int)")
local at_load = db:query("SELECT $1::int + 1 AS n, current_user AS who", 41)[1]
at_load.pool_size = assert(crater.pg.connect(url, { pool_size = 2 })).pool_size -- crater.db's form
app:get("/at_load", function() return at_load end)

local function err_table(e)
  if crater.pg.is_error(e) then
    return { code = e.code, message = e.message, detail = e.detail, constraint = e.constraint,
      severity = e.severity, text = tostring(e) }
  end
  return { message = tostring(e) }
end

-- { sql =, params = [...] } -> { rows, affected_rows, columns } or 400 with the error
app:post("/query", function(req)
  local b = req:json()
  local params = b.params or {}
  local ok, rows = pcall(db.query, db, b.sql, unpack(params, 1, #params))
  if not ok then return 400, err_table(rows) end
  return { rows = rows, affected_rows = rows.affected_rows, columns = rows.columns }
end)

-- errors not caught: 500 problem+json
app:post("/raw", function(req)
  return db:query(req:json().sql)
end)

-- a unique violation as 409
app:post("/users", function(req)
  local ok, rows = pcall(db.query, db, "INSERT INTO users (name) VALUES ($1) RETURNING id, name",
    req:json().name)
  if not ok then
    if crater.pg.is_error(rows) and rows.code == "23505" then
      return 409, { error = "name taken", constraint = rows.constraint }
    end
    error(rows, 0)
  end
  return 201, rows[1]
end)

-- transactions: mode = commit | raise | sql_error | caught | abort | sleep
app:post("/tx", function(req)
  local mode = req:json().mode
  local ok, a, b = pcall(db.transaction, db, function(tx)
    tx:query("INSERT INTO ledger (note) VALUES ($1)", mode .. "-1")
    if mode == "sleep" then crater.sleep(tonumber(req:json().seconds or 0.5)) end
    if mode == "raise" then error("app failed", 0) end
    if mode == "sql_error" then tx:query("INSERT INTO nope VALUES (1)") end
    if mode == "caught" then pcall(tx.query, tx, "SELECT 1/0") end
    if mode == "abort" then crater.abort(418, "teapot") end
    if mode == "savepoint" then
      local ok = pcall(tx.transaction, tx, function()
        tx:query("INSERT INTO ledger (note) VALUES ('inner-failed')")
        tx:query("SELECT 1/0")
      end)
      assert(not ok)
      tx:transaction(function()
        tx:query("INSERT INTO ledger (note) VALUES ('inner-kept')")
      end)
    end
    if mode == "batch" then tx:batch({ { "INSERT INTO ledger (note) VALUES ($1)", "batch-b" }, { "SELECT 1/0" } }) end
    tx:query("INSERT INTO ledger (note) VALUES ($1)", mode .. "-2")
    local pid = tx:query("SELECT pg_backend_pid() AS pid")[1].pid
    return "done", pid
  end)
  if not ok then
    if type(a) == "table" and a.crater_http_error then error(a, 0) end
    return 400, err_table(a)
  end
  return { result = a, pid = b }
end)

app:get("/pid", function()
  return { pid = db:query("SELECT pg_backend_pid() AS pid")[1].pid }
end)

app:get("/sleep", function(req)
  local ok, e = pcall(db.query, db, "SELECT pg_sleep($1) AS slept", tonumber(req.query.s or "0.2"))
  if not ok then return 503, err_table(e) end
  return { ok = true }
end)

app:get("/stats", function()
  local total, idle, waiting = db:pool_stats()
  return { total = total, idle = idle, waiting = waiting }
end)

-- waits for one notification on channel
app:get("/listen", function(req)
  local l = db:listen(req.query.channel)
  local msg, err = l:receive(tonumber(req.query.timeout or "5"))
  l:close()
  if not msg then return 504, { error = type(err) == "table" and err_table(err) or err } end
  return msg
end)

app:post("/notify", function(req)
  db:notify(req:json().channel, req:json().payload)
  return { sent = true }
end)

-- a value sent and read back through a typed placeholder
app:post("/echo", function(req)
  local v = req:json().value
  if req:json().bytes then v = crater.pg.bytea(req:json().bytes) end
  local rows = db:query("SELECT $1::" .. req:json().type .. " AS v", v)
  return { v = rows[1].v, type = rows.columns[1].type }
end)

-- binary data: bytes 0..255 in and out
app:get("/bytea", function()
  local all = {}
  for i = 0, 255 do all[#all + 1] = string.char(i) end
  all = table.concat(all)
  local rows = db:query("SELECT $1::bytea AS b, length($1::bytea) AS n", crater.pg.bytea(all))
  return { same = rows[1].b == all, n = rows[1].n }
end)

-- the same statement three times on one connection, and what it prepared
app:get("/prepared", function()
  return db:transaction(function(tx)
    local sum = 0
    for i = 1, 3 do sum = sum + tx:query("SELECT $1::int AS n", i)[1].n end
    local p = tx:query("SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = $1",
      "SELECT $1::int AS n")
    return { sum = sum, prepared = p[1].n }
  end)
end)

-- { list = [[sql, params...], ...] } in one round trip
app:post("/batch", function(req)
  local ok, results = pcall(db.batch, db, req:json().list)
  if not ok then return 400, err_table(results) end
  return { results = results }
end)

-- A pool of one, taken by this request's transaction while a thread of it
-- queues for the connection; the request queries again the moment its
-- transaction ends. A freed connection goes to the first waiter, so the
-- order is always thread first.
local single = assert(crater.pg.connect({ url = url, pool_size = 1 }))
app:get("/handoff", function()
  local order = {}
  local waiter
  single:transaction(function(tx)
    tx:query("SELECT 1")
    waiter = crater.spawn(function()
      single:query("SELECT 2")
      order[#order + 1] = "waiter"
    end)
  end)
  single:query("SELECT 3")
  order[#order + 1] = "request"
  crater.wait(waiter)
  return order
end)

-- db:connection: one connection for several statements. ?mode=error raises
-- inside; ?mode=open leaves a transaction open (the connection is closed).
app:get("/held", function(req)
  local mode = req.query.mode
  local ok, out = pcall(db.connection, db, function(conn)
    local a = conn:query("SELECT pg_backend_pid() AS pid, $1::int + $2::int AS sum", 3, 4)[1]
    assert(a.sum == 7, "parameters reach the statement")
    a = a.pid
    conn:query("SET application_name = 'held'")
    local b = conn:batch({ { "SELECT pg_backend_pid() AS pid" },
      { "SELECT current_setting('application_name') AS name" } })
    if mode == "error" then conn:query("SELECT 1/0") end
    if mode == "open" then conn:query("BEGIN") end
    return { a = a, b = b[1][1].pid, name = b[2][1].name }, "second"
  end)
  if not ok then return 400, err_table(out) end
  local total, idle = db:pool_stats()
  return { out = out, idle = idle, total = total }
end)

-- { steps = [...] } on one connection (a handle of one, so that what one
-- step leaves on the connection, prepared statements, is there for the
-- next), each { query = sql, params = [...] } | { batch = [[sql, params...], ...] }
-- | { tx = [steps] } (run in db:transaction, the first error ending it);
-- answers each step's { rows =, columns = [names] } | { results = } |
-- { tx = [...] } and { error = } when it failed
local one = assert(crater.pg.connect({ url = url, pool_size = 1, pool_timeout = 5, query_timeout = 5 }))
local function step(h, st)
  if st.query then
    local params = st.params or {}
    local rows = h:query(st.query, unpack(params, 1, #params))
    local names = {}
    for i, c in ipairs(rows.columns) do names[i] = c.name end
    return { rows = rows, columns = names }
  elseif st.batch then
    return { results = h:batch(st.batch) }
  end
  local done = {}
  local ok, e = pcall(h.transaction, h, function(tx)
    for _, inner in ipairs(st.tx) do done[#done + 1] = step(tx, inner) end
  end)
  return { tx = done, error = not ok and err_table(e) or nil }
end
app:post("/steps", function(req)
  local out = {}
  for i, st in ipairs(req:json().steps) do
    local ok, r = pcall(step, one, st)
    out[i] = ok and r or { error = err_table(r) }
  end
  return { steps = out }
end)

-- a query on another handle: { url =, opts =, sql = } (handles cached by url and options)
local handles = {}
app:post("/other", function(req)
  local b = req:json()
  local key = b.url .. json.encode(b.opts or {})
  local h = handles[key]
  if not h then
    local opts = b.opts or {}
    opts.url = b.url
    local err
    h, err = crater.pg.connect(opts)
    if not h then return 400, { message = err } end
    handles[key] = h
  end
  local ok, rows = pcall(h.query, h, b.sql or "SELECT 1 AS one")
  if not ok then return 400, err_table(rows) end
  return { rows = rows }
end)

return app
