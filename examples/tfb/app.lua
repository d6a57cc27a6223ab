-- examples/tfb/app.lua: TechEmpower Framework Benchmarks' test types on
-- PostgreSQL, so Crater can be measured beside the peers in
-- ../shared/bench/db (whose run.sh starts this file and whose check_tfb.py
-- checks it). /db, /queries, /fortunes and /updates read the TFB tables
-- `world` and `fortune`; /json and /plaintext need no database.
--
--   eval "$(../shared/bench/db/setup-postgres.sh)"
--   DATABASE_URL=postgres://benchmarkdbuser:benchmarkdbpass@127.0.0.1:$PGPORT/hello_world \
--     DB_POOL=8 build/crater examples/tfb/app.lua
--
-- DATABASE_URL names the database (unset: libpq's PG* variables decide);
-- DB_POOL is the number of connections of the worker (default 8, the
-- harness's setting: more backends than that only compete for 2 cores).
-- TFB_PIPELINE=0 sends the reads of /queries and /updates one after
-- another, as the peers in ../shared/bench/db do, for a like-for-like
-- measurement; by default they are pipelined (db:batch), which TFB allows.
-- TFB_SHARED=0 gives every query of /db and /fortunes a connection of its
-- own; by default the handle has pipeline on, so the single reads of
-- concurrent requests share connections (docs/postgres.md).
local crater = require "crater"

local app = crater.app { title = "tfb", version = "1.0.0" }

local pool = tonumber(os.getenv("DB_POOL")) or 8
local pipeline = os.getenv("TFB_PIPELINE") ~= "0"
-- crater.pg directly, not crater.db: the SQL below (unnest, int[]) is
-- PostgreSQL's, so the app would not run on SQLite anyway.
-- pipeline: the single reads of concurrent requests (/db, /fortunes) share
-- connections, several per round trip (docs/postgres.md, "Sharing
-- connections"); TFB_SHARED=0 gives each query a connection of its own.
local db = assert(crater.pg.connect(os.getenv("DATABASE_URL"),
  { pool_size = pool, pipeline = os.getenv("TFB_SHARED") ~= "0" }))

-- The statements are constants with $n parameters, so each connection
-- prepares each of them once and runs it by name afterwards.
local SELECT_WORLD = "SELECT id, randomnumber FROM world WHERE id = $1"
local SELECT_FORTUNES = "SELECT id, message FROM fortune"
-- All rows in one statement (TFB allows batching the writes). The ids come
-- sorted, so concurrent requests lock rows in the same order and never
-- deadlock each other.
local UPDATE_WORLDS = "UPDATE world SET randomnumber = v.r " ..
  "FROM (SELECT unnest($1::int[]) AS id, unnest($2::int[]) AS r) AS v WHERE world.id = v.id"

-- math.random is LuaJIT's own generator; seeding per process keeps workers
-- (and runs) from all drawing the same ids.
math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
local random = math.random

local function random_id()
  return random(1, 10000)
end

-- TFB's rule: missing, empty, not an integer or below 1 -> 1; above 500 -> 500.
local function count(req)
  local n = tonumber(req.query.queries)
  if not n or n ~= math.floor(n) or n < 1 then return 1 end
  if n > 500 then return 500 end
  return n
end

local function world(row)
  return { id = row.id, randomNumber = row.randomnumber }
end

-- n distinct random ids: /updates writes each row once, so its answer is
-- exactly what the table holds afterwards.
local function distinct_ids(n)
  local ids, seen = {}, {}
  while #ids < n do
    local id = random_id()
    if not seen[id] then
      seen[id] = true
      ids[#ids + 1] = id
    end
  end
  return ids
end

-- One SELECT per row, as TFB requires (no `WHERE id IN (...)`), on q (the
-- handle, or a connection held for the request). Pipelined by default: one
-- round trip for all N instead of N.
local function read_worlds(q, ids)
  local out = crater.json.array()
  if not pipeline then
    for i = 1, #ids do out[i] = world(q:query(SELECT_WORLD, ids[i])[1]) end
    return out
  end
  local list = {}
  for i = 1, #ids do list[i] = { SELECT_WORLD, ids[i] } end
  local results = q:batch(list)
  for i = 1, #results do out[i] = world(results[i][1]) end
  return out
end

-- The statements of a request on one connection, as the peers' are: each
-- db:query would wait for the pool on its own.
local function on_connection(fn, ids)
  return db:connection(function(conn) return fn(conn, ids) end)
end

app:get("/plaintext", function()
  return "Hello, World!"
end)

app:get("/json", function()
  return { message = "Hello, World!" }
end)

app:get("/db", function()
  return world(db:query(SELECT_WORLD, random_id())[1])
end)

app:get("/queries", function(req)
  local n, ids = count(req), {}
  for i = 1, n do ids[i] = random_id() end
  if pipeline then return read_worlds(db, ids) end -- one batch: one connection anyway
  return on_connection(read_worlds, ids)
end)

local ESCAPES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }
local find, gsub, concat = string.find, string.gsub, table.concat

-- Most messages need nothing. Five plain finds are compiled by LuaJIT's JIT;
-- a pattern's find or gsub is not, and cost 0.4 us per message (6 of the 8
-- us a page took to render).
local function escape(s)
  if not (find(s, "&", 1, true) or find(s, "<", 1, true) or find(s, ">", 1, true) or
          find(s, '"', 1, true) or find(s, "'", 1, true)) then
    return s
  end
  return (gsub(s, "[&<>\"']", ESCAPES))
end

-- By message, in place: an insertion sort is compiled too (table.sort's
-- calls of a Lua comparison from C are not), and 13 rows is a short list.
-- LuaJIT compares strings byte by byte: UTF-8's code point order, as TFB
-- wants.
local function sort_by_message(t)
  for i = 2, #t do
    local v = t[i]
    local m, j = v.message, i - 1
    while j >= 1 and m < t[j].message do
      t[j + 1] = t[j]
      j = j - 1
    end
    t[j + 1] = v
  end
end

local HEAD = "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>" ..
  "<tr><th>id</th><th>message</th></tr>"

app:get("/fortunes", function()
  local rows = db:query(SELECT_FORTUNES) -- a fresh table per query: ours to add to
  -- added in memory on every request, never stored (TFB's rule)
  rows[#rows + 1] = { id = 0, message = "Additional fortune added at request time." }
  sort_by_message(rows)
  local parts = { HEAD }
  for i = 1, #rows do
    local f = rows[i]
    -- an id is an integer: .. writes it without a fraction
    parts[i + 1] = "<tr><td>" .. f.id .. "</td><td>" .. escape(f.message) .. "</td></tr>"
  end
  parts[#parts + 1] = "</table></body></html>"
  return 200, concat(parts), { ["Content-Type"] = "text/html; charset=utf-8" }
end)

local function update_worlds(q, ids)
  local worlds = read_worlds(q, ids)
  local new_ids, new_numbers = {}, {}
  for i = 1, #worlds do
    worlds[i].randomNumber = random_id()
    new_ids[i], new_numbers[i] = worlds[i].id, worlds[i].randomNumber
  end
  -- int[] parameters in PostgreSQL's array text form: "{1,2,3}"
  q:query(UPDATE_WORLDS, "{" .. table.concat(new_ids, ",") .. "}",
    "{" .. table.concat(new_numbers, ",") .. "}")
  return worlds
end

app:get("/updates", function(req)
  local ids = distinct_ids(count(req))
  table.sort(ids)
  return on_connection(update_worlds, ids)
end)

return app
