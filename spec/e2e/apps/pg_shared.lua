-- The app of spec/e2e/test_pg_shared.py: crater.pg with pipeline on, so
-- the single queries of concurrent requests share connections.
local crater = require "crater"
local app = crater.app()

local url = assert(os.getenv("DATABASE_URL"), "DATABASE_URL is needed")
local db = assert(crater.pg.connect({ url = url, pool_size = 2, pipeline = true, query_timeout = 5 }))
local slow = assert(crater.pg.connect({ url = url, pool_size = 1, pipeline = true, query_timeout = 0.5 }))

local function err_table(e)
  if crater.pg.is_error(e) then return { code = e.code, message = e.message } end
  return { message = tostring(e) }
end

local function try(h, ...)
  local ok, rows = pcall(h.query, h, ...)
  if not ok then return 400, err_table(rows) end
  return rows
end

app:get("/echo", function(req)
  local v = tonumber(req.query.v)
  local rows, e = try(db, "SELECT $1::int AS v, pg_backend_pid() AS pid", v)
  if rows == 400 then return 400, e end
  return rows[1]
end)

app:post("/insert", function(req)
  local rows, e = try(db, "INSERT INTO items (v) VALUES ($1) RETURNING id, v", tonumber(req.query.v))
  if rows == 400 then return 400, e end
  return rows[1]
end)

app:get("/div", function(req)
  local rows, e = try(db, "SELECT 100 / $1::int AS q", tonumber(req.query.d))
  if rows == 400 then return 400, e end
  return rows[1]
end)

app:get("/star", function()
  local rows, e = try(db, "SELECT * FROM migrating")
  if rows == 400 then return 400, e end
  local names = {}
  for i, c in ipairs(rows.columns) do names[i] = c.name end
  return { columns = names }
end)

app:get("/slow", function(req)
  local rows, e = try(slow, "SELECT pg_sleep($1::float8) AS s, $2::int AS v", tonumber(req.query.s),
    tonumber(req.query.v) or 0)
  if rows == 400 then return 400, e end
  return { v = rows[1].v }
end)

app:get("/stats", function()
  local total, idle, waiting, shared = db:pool_stats()
  return { total = total, idle = idle, waiting = waiting, shared = shared }
end)

return app
