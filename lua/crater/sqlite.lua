--- crater.sqlite: SQLite databases whose statements wait without blocking
--- the server (docs/database.md).
--
-- The C half (host/src/sqlite.c, the preload "crater._sqlite") runs each
-- statement on libuv's thread pool, one at a time per database file; this
-- module is the API: open, query, transaction, and the error object. The
-- same API as the database handles crater.db gives for other URLs.

local ok, core = pcall(require, "crater._sqlite")
if not ok then core = {} end -- stock luajit (the Lua specs): no databases
local json = require "crater.json"
local async = require "crater.async"

local type, select, error, pcall, setmetatable, getmetatable, unpack =
  type, select, error, pcall, setmetatable, getmetatable, unpack
local match = string.match
local c_open, c_query = core.open, core.query
local array_mt, encode = json.array_mt, json.encode
local must_yield = async.must_yield

local _M = { version = "0.1.0" }

--- What db:query raises when the database refuses a statement. `code` is
--- SQLite's extended result code name ("SQLITE_CONSTRAINT_UNIQUE"),
--- `constraint` what a constraint failure names ("todos.title"), if any.
---@class crater.db.Error
---@field code string
---@field message string
---@field constraint string|nil
local Error = {}
Error.__index = Error
Error.__tostring = function(e) return e.code .. ": " .. e.message end
_M.Error = Error

--- True when `v` is an error db:query raised.
---@param v any
---@return boolean
function _M.is_error(v)
  return type(v) == "table" and getmetatable(v) == Error
end

local function raise(code, message)
  local e = setmetatable({ code = code, message = message }, Error)
  e.constraint = match(message, "constraint failed: (.+)$")
  error(e, 0)
end

---@class crater.db.Database
local DB = {}
DB.__index = DB

-- Tables go in as JSON text; a copy of the arguments only when there is one.
local function bind_args(n, ...)
  for i = 1, n do
    if type((select(i, ...))) == "table" then
      local args = { ... }
      for k = i, n do
        if type(args[k]) == "table" then args[k] = encode(args[k]) end
      end
      return unpack(args, 1, n)
    end
  end
  return ...
end

--- Runs one SQL statement (or, without parameters, several separated by
--- `;`: the result is the last one's) with `$1 .. $n` (or `?`) bound to the
--- values given, never pasted into the SQL. Values: strings, numbers,
--- booleans (1/0), nil or crater.json.null (NULL), tables (as JSON text).
--- Returns an array of rows, each a table keyed by column name (SQL NULL is
--- crater.json.null), with `affected_rows`, `columns` ({ name =, type = })
--- and, after an insert, `last_insert_id`. Raises a crater.db.Error.
--- Inside a request or timer it waits (other requests go on); outside any
--- (the app's file loading, on_start) it runs at once.
---@param sql string
---@param ... any
---@return table rows
function DB:query(sql, ...)
  if type(sql) ~= "string" then error("db:query: sql must be a string, got " .. type(sql), 2) end
  must_yield("db:query")
  local rows, code, message = c_query(self._h, sql, bind_args(select("#", ...), ...))
  if rows == nil then raise(code, message) end
  setmetatable(rows.columns, array_mt)
  return setmetatable(rows, array_mt)
end

local function pack(...) return { n = select("#", ...), ... } end

--- Runs fn(tx) in a transaction (BEGIN IMMEDIATE): commits when fn returns
--- (and returns what it returned), rolls back when it raises (and raises
--- that error again). `tx` has query and transaction (a nested one is a
--- savepoint). Until it ends, other requests' statements on this database
--- wait for their turn.
---@param fn fun(tx: crater.db.Database): ...
---@return any ...
function DB:transaction(fn)
  if type(fn) ~= "function" then error("db:transaction: fn must be a function", 2) end
  local depth = self._depth or 0
  local savepoint = "crater_sp" .. (depth + 1)
  self:query(depth == 0 and "BEGIN IMMEDIATE" or "SAVEPOINT " .. savepoint)
  local tx = setmetatable({ _h = self._h, _depth = depth + 1, path = self.path }, DB)
  local r = pack(pcall(fn, tx))
  if r[1] then
    if depth > 0 then
      self:query("RELEASE " .. savepoint)
    else
      local ok, err = pcall(self.query, self, "COMMIT")
      if not ok then
        pcall(self.query, self, "ROLLBACK")
        error(err, 0)
      end
    end
    return unpack(r, 2, r.n)
  end
  if depth > 0 then
    pcall(self.query, self, "ROLLBACK TO " .. savepoint)
    pcall(self.query, self, "RELEASE " .. savepoint)
  else
    pcall(self.query, self, "ROLLBACK")
  end
  error(r[2], 0)
end

--- Opens the SQLite database at `path` (relative paths are relative to the
--- app's folder; the file is made if missing), or a private in-memory one
--- for ":memory:". Every open of one file in a server process shares one
--- connection (in WAL mode), kept until the server closes; `opts` applies
--- when it is made: `busy_timeout` (ms, default 5000) is how long a
--- statement waits for another process's lock.
---@param path string
---@param opts? { busy_timeout: number }
---@return crater.db.Database
function _M.open(path, opts)
  if type(path) ~= "string" or path == "" then
    error("crater.sqlite.open: path must be a non-empty string", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then error("crater.sqlite.open: opts must be a table", 2) end
  if c_open == nil then error("crater.sqlite.open: only inside a Crater server", 2) end
  local h, key = c_open(path, opts and opts.busy_timeout)
  return setmetatable({ _h = h, path = key or path }, DB)
end

return _M
