--- crater.pg: a PostgreSQL client that waits without blocking the server
--- (libpq's asynchronous API on the loop: host/src/pg.c). The handle is
--- made once, anywhere; each query takes a pooled connection of this
--- worker, runs and puts it back:
--
--   local db = assert(crater.pg.connect("postgres://app:secret@127.0.0.1/app"))
--   app:get("/users/{id}", function(req)
--     local rows = db:query("SELECT id, name FROM users WHERE id = $1", req.params.id)
--     if not rows[1] then crater.abort(404) end
--     return rows[1]
--   end)
--
-- Errors are raised as error objects ({ code = SQLSTATE, message, ... }).
-- The guide is docs/postgres.md.

local json = require "crater.json"
local async = require "crater.async"

local type, tostring, tonumber, error, select, pcall = type, tostring, tonumber, error, select, pcall
local setmetatable, getmetatable, unpack = setmetatable, getmetatable, unpack
local byte, sub, find, format, gsub, char = string.byte, string.sub, string.find, string.format,
  string.gsub, string.char
local floor, huge, max = math.floor, math.huge, math.max
local null, array_mt = json.null, json.array_mt
local must_yield, now = async.must_yield, async.now

local C_ok, C = pcall(require, "crater._pg")
if C_ok then C.set_null(null) else C = nil end

local _M = { version = "0.1.0" }

--- Defaults for handles made after a change (the app may change them).
_M.defaults = {
  pool_size = 10,       -- connections per worker (and handle)
  connect_timeout = 5,  -- seconds to open a connection
  pool_timeout = 5,     -- seconds a query may wait for a free connection
  query_timeout = 30,   -- seconds a query may run (then its connection is closed)
  idle_timeout = 60,    -- seconds a pooled connection may stay idle
  max_lifetime = 3600,  -- seconds a connection is reused for
  prepare = true,       -- statements prepared per connection on first use
  pipeline = false,     -- db:query of concurrent requests share connections (docs/postgres.md)
}
local defaults = _M.defaults

-- --- errors -----------------------------------------------------------------------------

local Error = {}
Error.__index = Error
Error.__tostring = function(e)
  local s = "crater.pg: "
  if e.code then s = s .. e.code .. ": " end
  s = s .. tostring(e.message)
  if e.detail then s = s .. " (" .. e.detail .. ")" end
  return s
end

--- True when v is an error raised by crater.pg.
---@param v any
---@return boolean
function _M.is_error(v) return getmetatable(v) == Error end

local function raise(e)
  if type(e) ~= "table" then e = { message = tostring(e) } end
  error(setmetatable(e, Error), 0)
end

-- --- parameters -------------------------------------------------------------------------

local Bytea = {}

--- Marks binary data as a bytea parameter (sent as bytes, never as text).
---@param s string
---@return table
function _M.bytea(s)
  if type(s) ~= "string" then error("crater.pg.bytea: a string is needed", 2) end
  return setmetatable({ s }, Bytea)
end

local function param(v, i)
  local t = type(v)
  if t == "string" then return v, find(v, "\0", 1, true) ~= nil end
  if v == nil or v == null then return nil, false end
  if t == "number" then
    if v ~= v then return "NaN", false end
    if v == huge then return "Infinity", false end
    if v == -huge then return "-Infinity", false end
    if v % 1 == 0 and v >= -9007199254740992 and v <= 9007199254740992 then return format("%d", v), false end
    return format("%.17g", v), false
  end
  -- "1"/"0": PostgreSQL reads them as a boolean and as an integer, so the
  -- same app works on an INTEGER column as SQLite apps have
  if t == "boolean" then return v and "1" or "0", false end
  if t == "table" then
    if getmetatable(v) == Bytea then return v[1], true end
    return json.encode(v), false
  end
  error("crater.pg: parameter $" .. i .. " cannot be a " .. t, 4)
end

-- --- values -----------------------------------------------------------------------------

local function hexbyte(h) return char(tonumber(h, 16)) end

local function bytea(s)
  if sub(s, 1, 2) == "\\x" then return (gsub(sub(s, 3), "%x%x", hexbyte)) end
  return s -- the old escape format (bytea_output = 'escape') is left as it is
end

local function int8(s)
  local n = tonumber(s)
  if n and n <= 9007199254740992 and n >= -9007199254740992 then return n end
  return s
end

local function numeric(s)
  local _, digits = gsub(s, "%d", "")
  if digits <= 15 and not find(s, "[^%d%.%-+]") then return tonumber(s) end
  return s
end

local ELEMENT = {
  int2 = tonumber, int4 = tonumber, oid = tonumber, float4 = tonumber, float8 = tonumber,
  int8 = int8, numeric = numeric, bool = function(s) return s == "t" end,
  json = json.decode, jsonb = json.decode, bytea = bytea,
}

-- Parses the text form of an array ({1,2,NULL,"a \"b\""}) from position
-- i (at its "{"); returns the array and the position after its "}".
local function parse_array(s, i, conv)
  local arr = setmetatable({}, array_mt)
  local n = 0
  i = i + 1
  if byte(s, i) == 125 then return arr, i + 1 end -- "}"
  while true do
    local c = byte(s, i)
    local v
    if c == 123 then -- "{": a dimension more
      v, i = parse_array(s, i, conv)
    elseif c == 34 then -- '"'
      local parts, j = {}, i + 1
      while true do
        local q = find(s, '["\\]', j)
        if not q then error("crater.pg: a malformed array: " .. s) end
        parts[#parts + 1] = sub(s, j, q - 1)
        if byte(s, q) == 92 then
          parts[#parts + 1] = sub(s, q + 1, q + 1)
          j = q + 2
        else
          i = q + 1
          break
        end
      end
      v = table.concat(parts)
      if conv then v = conv(v) end
    else
      local e = find(s, "[,}]", i)
      if not e then error("crater.pg: a malformed array: " .. s) end
      v = sub(s, i, e - 1)
      i = e
      if v == "NULL" then v = null elseif conv then v = conv(v) end
    end
    n = n + 1
    arr[n] = v
    c = byte(s, i)
    if c == 125 then return arr, i + 1 end
    i = i + 1 -- ","
  end
end

local function array(s, elem)
  local i = 1
  if byte(s, 1) == 91 then i = (find(s, "=", 1, true) or 0) + 1 end -- [0:2]={...}
  return (parse_array(s, i, ELEMENT[elem]))
end

local CONVERT = { json = json.decode, jsonb = json.decode, bytea = bytea }

-- Values pg.c left as text: json, bytea, arrays.
local function convert(rows)
  local idx = rows.convert
  setmetatable(rows, array_mt)
  if not idx then return rows end
  rows.convert = nil
  local cols = rows.columns
  for k = 1, #idx do
    local col = cols[idx[k]]
    local name, ty = col.name, col.type
    local f = CONVERT[ty]
    local elem = not f and sub(ty, -2) == "[]" and sub(ty, 1, -3)
    for r = 1, #rows do
      local row = rows[r]
      local v = row[name]
      if v ~= null then
        if f then row[name] = f(v) else row[name] = array(v, elem) end
      end
    end
  end
  return rows
end

-- --- connections ------------------------------------------------------------------------

local function can_wait(level)
  if not C then error("crater.pg: only inside the Crater server", level + 1) end
  must_yield("crater.pg", level + 2)
end

-- A connection of this worker's pool for the running task (raises).
local function acquire(db, dedicated)
  local deadline = now() + db.pool_timeout
  while true do
    local lease, err = C.acquire(db.pool, db.connect_timeout, max(0, deadline - now()), dedicated)
    if lease ~= true then
      if not lease then raise(err) end
      return lease
    end
  end
end

-- A query or batch that failed on a stale prepared statement (its result
-- columns changed after DDL, or the server dropped the connection's
-- statements: DISCARD ALL, a pooler) comes with `stale`: pg.c forgot the
-- statement, so its next use prepares it anew. stale is the name of the
-- old statement when the server still has it (DEALLOCATE drops it: else
-- it stays until the connection closes), or true.
local function deallocate(lease, db, name)
  return C.query(lease, "DEALLOCATE " .. name, {}, 0, {}, db.query_timeout, false)
end

-- Whether to run it again, once: only outside a transaction (inside, the
-- failure aborted it), the stale statement dropped first. Its new one has
-- another name, so a failed DEALLOCATE only leaves the old one there.
local function rerun_stale(lease, db, stale)
  if C.txstatus(lease) ~= "idle" then return false end
  if type(stale) == "string" then pcall(deallocate, lease, db, stale) end
  return C.txstatus(lease) == "idle"
end

-- A stale statement not run again: dropped now outside a transaction,
-- else kept in tx.stale for when the transaction is over (drop_stale).
local function forget_stale(lease, db, stale, tx)
  if type(stale) ~= "string" then return end
  if tx then
    tx.stale[#tx.stale + 1] = stale
  elseif C.txstatus(lease) == "idle" then
    pcall(deallocate, lease, db, stale)
  end
end

-- Returns the rows, or nil and an error. tx: the transaction it runs in.
local function run(lease, db, sql, tx, ...)
  local n = select("#", ...)
  local params, binary = {}, {}
  for i = 1, n do
    params[i], binary[i] = param((select(i, ...)), i)
  end
  local rows, err, stale = C.query(lease, sql, params, n, binary, db.query_timeout, db.prepare)
  if stale and not tx and rerun_stale(lease, db, stale) then
    rows, err, stale = C.query(lease, sql, params, n, binary, db.query_timeout, db.prepare)
  end
  if stale then forget_stale(lease, db, stale, tx) end
  if not rows then return nil, err end
  return convert(rows)
end

local DB = {}
DB.__index = DB

--- Runs one statement with $1..$n parameters (strings, numbers, booleans,
--- nil or crater.json.null for NULL, tables as JSON, crater.pg.bytea(s)).
--- Returns the rows (an array of tables keyed by column name) with
--- rows.affected_rows and rows.columns ({ name =, type = }). Raises an
--- error object ({ code = SQLSTATE, message =, detail =, constraint = }).
---@param sql string
---@param ... any
---@return table rows
function DB:query(sql, ...)
  if type(sql) ~= "string" then error("crater.pg: db:query needs the SQL text", 2) end
  if C and not C.in_task() then
    -- while the app's file loads (creating tables): nothing can wait there
    local n = select("#", ...)
    local params, binary = {}, {}
    for i = 1, n do params[i], binary[i] = param((select(i, ...)), i) end
    local rows, err = C.exec_now(self.pool, sql, params, n, binary, self.connect_timeout)
    if not rows then raise(err) end
    return convert(rows)
  end
  can_wait(2)
  if self.pipeline then
    -- on a connection shared with other requests' queries (pg.c: "Shared
    -- connections"); true: not shared, run the usual way below
    local n = select("#", ...)
    local params, binary = {}, {}
    for i = 1, n do params[i], binary[i] = param((select(i, ...)), i) end
    local rows, err = C.shared(self.pool, sql, params, n, binary, self.query_timeout)
    if rows ~= true then
      if not rows then raise(err) end
      return convert(rows)
    end
  end
  local lease = acquire(self)
  local ok, rows, err = pcall(run, lease, self, sql, nil, ...)
  C.release(lease)
  if not ok then error(rows, 0) end
  if not rows then raise(err) end
  return rows
end

-- Runs a batch on lease: returns the array of rows, or raises the first
-- error. tx: the transaction it runs in, which keeps a stale statement's
-- name to drop (see rerun_stale).
local function run_batch(lease, db, list, level, tx)
  if type(list) ~= "table" or #list == 0 then error("crater.pg: a batch needs a list of queries", level) end
  -- flat: a table per query would cost a batch of twenty forty tables
  local sqls, counts, params, binary, k = {}, {}, {}, {}, 0
  for q = 1, #list do
    local item = list[q]
    if type(item) ~= "table" or type(item[1]) ~= "string" then
      error("crater.pg: batch item " .. q .. " must be { sql, params... }", level)
    end
    local n = (item.n or #item) - 1
    sqls[q], counts[q] = item[1], n
    for i = 1, n do
      k = k + 1
      params[k], binary[k] = param(item[i + 1], i)
    end
  end
  local nq = #list
  local results, first, stale, rerun = C.batch(lease, sqls, counts, params, binary, nq, db.query_timeout,
    db.prepare)
  if rerun and not tx and rerun_stale(lease, db, stale) then
    results, first, stale = C.batch(lease, sqls, counts, params, binary, nq, db.query_timeout, db.prepare)
  end
  if stale then forget_stale(lease, db, stale, tx) end
  if not results then raise(first) end
  if first > 0 then raise(results[first]) end
  for q = 1, #results do convert(results[q]) end
  return setmetatable(results, array_mt)
end

--- Runs several statements in one round trip (libpq's pipeline mode):
--- list is { { sql, params... }, ... } (crater.json.null for a NULL
--- parameter: nil would end the list). They run as one implicit
--- transaction: all or none. Returns an array of rows, one per statement;
--- raises the first error.
---@param list table
---@return table results
function DB:batch(list)
  can_wait(2)
  local lease = acquire(self)
  local ok, results = pcall(run_batch, lease, self, list, 4)
  C.release(lease)
  if not ok then error(results, 0) end
  return results
end

local TX = {}
TX.__index = TX

--- Runs a statement inside the transaction (as db:query).
---@param sql string
---@param ... any
---@return table rows
function TX:query(sql, ...)
  if not self.lease then error("crater.pg: this transaction is over", 2) end
  if type(sql) ~= "string" then error("crater.pg: tx:query needs the SQL text", 2) end
  local rows, err = run(self.lease, self.db, sql, self, ...)
  if not rows then raise(err) end
  return rows
end

--- Runs several statements in one round trip inside the transaction (as
--- db:batch); an error leaves the transaction failed.
---@param list table
---@return table results
function TX:batch(list)
  if not self.lease then error("crater.pg: this transaction is over", 2) end
  can_wait(2)
  return run_batch(self.lease, self.db, list, 3, self)
end

local function pack(...) return { n = select("#", ...), ... } end

--- A nested transaction (a savepoint): fn(tx) runs; when it raises, what
--- it did is rolled back and the error raised again, while the outer
--- transaction goes on if the caller catches it.
---@param fn fun(tx: table): ...
---@return ...
function TX:transaction(fn)
  if not self.lease then error("crater.pg: this transaction is over", 2) end
  if type(fn) ~= "function" then error("crater.pg: tx:transaction needs a function", 2) end
  can_wait(2)
  local depth = (self.depth or 0) + 1
  local name = "crater_sp" .. depth
  local rows, err = run(self.lease, self.db, "SAVEPOINT " .. name)
  if not rows then raise(err) end
  self.depth = depth
  local res = pack(pcall(fn, self))
  self.depth = depth - 1
  if res[1] and C.txstatus(self.lease) ~= "inerror" then
    rows, err = run(self.lease, self.db, "RELEASE SAVEPOINT " .. name)
    if not rows then raise(err) end
    return unpack(res, 2, res.n)
  end
  rows, err = run(self.lease, self.db, "ROLLBACK TO SAVEPOINT " .. name)
  if not rows then raise(err) end
  if res[1] then
    raise({ code = "25P02", message = "the nested transaction failed (an error inside it was caught) and was rolled back" })
  end
  error(res[2], 0)
end

-- Drops the stale statements a transaction met (rerun_stale), once it is
-- over; a failure leaves them to the connection's end.
local function drop_stale(lease, db, names)
  for i = 1, #names do
    if C.txstatus(lease) ~= "idle" then return end
    pcall(deallocate, lease, db, names[i])
  end
end

--- Runs fn(tx) in a transaction on one connection: COMMIT when fn returns
--- (its results are returned), ROLLBACK when it raises (the error is
--- raised again). The connection goes back to the pool only when idle.
---@param fn fun(tx: table): ...
---@return ...
function DB:transaction(fn)
  can_wait(2)
  if type(fn) ~= "function" then error("crater.pg: db:transaction needs a function", 2) end
  local lease = acquire(self)
  local ok, began, err = pcall(run, lease, self, "BEGIN")
  if not ok or not began then
    C.release(lease)
    if not ok then error(began, 0) end
    raise(err)
  end
  local tx = setmetatable({ lease = lease, db = self, stale = {} }, TX)
  local res = pack(pcall(fn, tx))
  tx.lease = nil
  if res[1] and C.txstatus(lease) == "inerror" then
    res = { false, setmetatable({ code = "25P02",
      message = "the transaction failed (an error inside it was caught) and was rolled back" }, Error) }
  end
  if res[1] then
    local cok, rows, err = pcall(run, lease, self, "COMMIT")
    drop_stale(lease, self, tx.stale)
    C.release(lease)
    if not cok then error(rows, 0) end
    if not rows then raise(err) end
    return unpack(res, 2, res.n)
  end
  if C.txstatus(lease) ~= "closed" then pcall(run, lease, self, "ROLLBACK") end
  drop_stale(lease, self, tx.stale)
  C.release(lease) -- closed instead when the ROLLBACK did not make it idle
  error(res[2], 0)
end

local Conn = {}
Conn.__index = Conn

--- Runs a statement on the held connection (as db:query).
---@param sql string
---@param ... any
---@return table rows
function Conn:query(sql, ...)
  if not self.lease then error("crater.pg: this connection was given back", 2) end
  if type(sql) ~= "string" then error("crater.pg: conn:query needs the SQL text", 2) end
  local rows, err = run(self.lease, self.db, sql, nil, ...)
  if not rows then raise(err) end
  return rows
end

--- Runs several statements in one round trip on the held connection (as
--- db:batch).
---@param list table
---@return table results
function Conn:batch(list)
  if not self.lease then error("crater.pg: this connection was given back", 2) end
  can_wait(2)
  return run_batch(self.lease, self.db, list, 3)
end

--- Runs fn(conn) with one connection of the pool held for all its
--- statements, then gives it back (to the pool when idle; closed when fn
--- left it inside a transaction). Each db:query waits for the pool on its
--- own, so a request running many statements one after another waits less
--- this way, and session state (SET, temporary tables) lasts across them.
--- Returns what fn returns; raises what it raises.
---@param fn fun(conn: table): ...
---@return ...
function DB:connection(fn)
  can_wait(2)
  if type(fn) ~= "function" then error("crater.pg: db:connection needs a function", 2) end
  local lease = acquire(self)
  local conn = setmetatable({ lease = lease, db = self }, Conn)
  local res = pack(pcall(fn, conn))
  conn.lease = nil
  C.release(lease)
  if not res[1] then error(res[2], 0) end
  return unpack(res, 2, res.n)
end

local Listener = {}
Listener.__index = Listener

local function quote_ident(s) return '"' .. gsub(s, '"', '""') .. '"' end

--- Waits for the next notification: { channel =, payload =, pid = }, or nil
--- and "timeout" after `timeout` seconds (none: no limit), or nil and an
--- error object when the connection is lost.
---@param timeout? number
---@return table|nil, any
function Listener:receive(timeout)
  can_wait(2)
  if not self.lease then return nil, "closed" end
  local msg, err = C.notifies(self.lease, timeout and max(timeout, 0.001) or 0)
  if msg then return msg end
  if err == "timeout" then return nil, "timeout" end
  return nil, setmetatable(err, Error)
end

--- Listens on one more channel.
---@param channel string
function Listener:listen(channel)
  local rows, err = run(self.lease, self.db, "LISTEN " .. quote_ident(channel))
  if not rows then raise(err) end
end

--- Stops listening on a channel.
---@param channel string
function Listener:unlisten(channel)
  local rows, err = run(self.lease, self.db, "UNLISTEN " .. quote_ident(channel))
  if not rows then raise(err) end
end

--- Closes the listener's connection.
function Listener:close()
  if self.lease then C.discard(self.lease) end
  self.lease = nil
end

--- A dedicated connection (not one of the pool's) listening on channel;
--- it closes when the request ends or on :close().
---@param channel string
---@return table listener
function DB:listen(channel)
  can_wait(2)
  if type(channel) ~= "string" or channel == "" then error("crater.pg: db:listen needs a channel name", 2) end
  local lease = acquire(self, true)
  local l = setmetatable({ lease = lease, db = self }, Listener)
  local ok, err = pcall(Listener.listen, l, channel)
  if not ok then l:close() error(err, 0) end
  return l
end

--- Sends a notification (pg_notify).
---@param channel string
---@param payload? string
function DB:notify(channel, payload)
  return self:query("SELECT pg_notify($1, $2)", channel, payload or "")
end

--- This worker's pool: total connections (connecting ones too), idle ones,
--- requests waiting for one, and the queries sent so far on shared
--- connections in segments of several (pipeline on).
---@return integer total, integer idle, integer waiting, number shared
function DB:pool_stats()
  return C.stats(self.pool)
end

local URL_OPTS = { "pool_size", "connect_timeout", "pool_timeout", "query_timeout", "idle_timeout",
  "max_lifetime" }

local function conninfo_of(opts)
  local parts = {}
  local function add(k, v)
    if v == nil then return end
    parts[#parts + 1] = k .. "='" .. gsub(tostring(v), "(['\\])", "\\%1") .. "'"
  end
  add("host", opts.host)
  add("port", opts.port)
  add("user", opts.user)
  add("password", opts.password)
  add("dbname", opts.database or opts.dbname)
  add("sslmode", opts.sslmode)
  add("sslrootcert", opts.sslrootcert)
  add("sslcert", opts.sslcert)
  add("sslkey", opts.sslkey)
  add("target_session_attrs", opts.target_session_attrs)
  add("application_name", opts.application_name)
  return table.concat(parts, " ")
end

--- A handle on a PostgreSQL database: url_or_opts is a postgres:// URL (or
--- a libpq key=value string), or a table { url = or host =, port =, user =,
--- password =, database =, sslmode =, sslrootcert =, sslcert =, sslkey =,
--- target_session_attrs =, application_name =, pool_size =, connect_timeout =, pool_timeout =,
--- query_timeout =, idle_timeout =, max_lifetime =, prepare =, pipeline = }. Nothing connects yet:
--- each worker opens connections when its requests first need them.
--- Returns the handle, or nil and an error message.
---@param url_or_opts? string|table nil: libpq's defaults (PGHOST, PGUSER... or the local socket)
---@param more? table options, when the first argument is a URL (crater.db passes them so)
---@return table|nil db, string|nil err
function _M.connect(url_or_opts, more)
  if not C then return nil, "crater.pg: only inside the Crater server" end
  local opts = url_or_opts
  if opts == nil then opts = "" end -- libpq's defaults: the PG* variables, the local socket
  if type(opts) == "string" then
    opts = { url = opts }
    if type(more) == "table" then
      for k, v in pairs(more) do if k ~= "url" then opts[k] = v end end
    end
  end
  if type(opts) ~= "table" then error("crater.pg.connect: a URL or a table of options is needed", 2) end
  local info = opts.url or conninfo_of(opts)
  local db = {}
  for _, k in ipairs(URL_OPTS) do
    local v = opts[k] == nil and defaults[k] or opts[k]
    if type(v) ~= "number" or v < 0 then error("crater.pg.connect: " .. k .. " must be a number >= 0", 2) end
    db[k] = v
  end
  if opts.prepare == nil then db.prepare = defaults.prepare else db.prepare = opts.prepare and true end
  if opts.pipeline == nil then db.pipeline = defaults.pipeline else db.pipeline = opts.pipeline and true end
  db.pool_size = floor(db.pool_size)
  if db.pool_size < 1 then error("crater.pg.connect: pool_size must be at least 1", 2) end
  local pool, err = C.pool(info, db.pool_size, db.idle_timeout, db.max_lifetime, db.pipeline)
  if not pool then return nil, err end
  db.pool = pool
  return setmetatable(db, DB)
end

return _M
