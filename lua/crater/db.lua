--- crater.db: a database handle from a URL, so an app switches databases
--- with one environment variable (docs/database.md).
--
--   sqlite:todo.db        a file, relative to the app's folder
--   sqlite:/var/db/x.db   an absolute path (sqlite:///var/db/x.db too)
--   sqlite::memory:       a private in-memory database
--   postgres://...        PostgreSQL (crater.pg, docs/postgres.md); postgresql:// too
--
-- Every handle has the same API: db:query(sql, ...), db:transaction(fn).

local sqlite = require "crater.sqlite"

local type, error = type, error
local match, sub = string.match, string.sub

local _M = { version = "0.1.0" }

--- Opens the database `url` names (see the module's comment); `opts` go to
--- the driver (crater.sqlite.open's).
---@param url string
---@param opts? table
---@return crater.db.Database
function _M.connect(url, opts)
  if type(url) ~= "string" then error("crater.db: url must be a string, got " .. type(url), 2) end
  if sub(url, 1, 7) == "sqlite:" then
    local path = sub(url, 8)
    if sub(path, 1, 2) == "//" then path = sub(path, 3) end
    if path == "" then error("crater.db: " .. url .. ": no path after sqlite:", 2) end
    return sqlite.open(path, opts)
  end
  if match(url, "^postgres://") or match(url, "^postgresql://") then
    -- Required here, not at the top: an app on SQLite never loads libpq's side.
    return require("crater.pg").connect(url, opts)
  end
  error("crater.db: unknown database URL '" .. url .. "': sqlite:PATH, sqlite::memory: or postgres://", 2)
end

return _M
