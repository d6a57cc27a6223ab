--- crater: the Lua framework of the Crater HTTP server.
--
--   local crater = require "crater"
--   local app = crater.app { title = "Shop" }
--   app:get("/hello/{name}", function(req) return "Hello, " .. req.params.name end)
--   return app

local app = require "crater.app"
local response = require "crater.response"
local json = require "crater.json"
local schema = require "crater.schema"
local problem = require "crater.problem"
local async = require "crater.async"
local socket = require "crater.socket"

local _M = { version = "0.1.0" }

_M.app = app.new
--- A route group made apart from the app (a blueprint): app:mount(prefix, group) (docs/groups.md).
_M.group = require("crater.group").new
_M.json = json
_M.response = response.new
_M.stream = response.stream
--- Server-Sent Events: crater.sse(function(send, req) ... end, opts?) (docs/sse.md).
_M.sse = require("crater.sse").new
--- A broadcast channel inside a worker: crater.channel(opts?) (docs/sse.md#channels).
_M.channel = require("crater.channel").new
_M.problem = problem.new
_M.schema = schema
--- The JSON Schema of the problem+json bodies Crater answers errors with
--- (for route `responses`, e.g. `[404] = crater.Problem`).
_M.Problem = problem.Problem

-- Handlers that wait (crater.async, docs/async.md).
_M.sleep = async.sleep
_M.now = async.now
_M.spawn = async.spawn
_M.wait = async.wait
_M.kill = async.kill
_M.timer = async.timer

--- Databases (docs/database.md): crater.db(url) opens the one a URL names
--- ("sqlite:app.db", "sqlite::memory:"); crater.sqlite.open(path) a file.
---@type fun(url: string, opts?: table): crater.db.Database
_M.db = require("crater.db").connect
_M.sqlite = require "crater.sqlite"

--- HTML templates compiled to Lua (docs/templates.md): crater.template.new{ root = "templates" }.
_M.template = require "crater.template"
--- A text/html response: crater.html(body, status?, headers?) (docs/templates.md).
_M.html = _M.template.response

--- Cosockets: crater.socket.tcp() (docs/sockets.md).
_M.socket = socket
--- An outbound HTTP/1.1 client on crater.socket (docs/http-client.md).
_M.http = require "crater.http"
--- A Redis client on crater.socket: commands, pipelines, pub/sub, pools (docs/redis.md).
_M.redis = require "crater.redis"
--- A PostgreSQL client (libpq on the loop): queries, transactions, LISTEN, pools (docs/postgres.md).
_M.pg = require "crater.pg"

--- A redirect response: crater.redirect(url [, status = 302]); 301, 302,
--- 303, 307 or 308 (docs/routing.md).
---@type fun(url: string, status?: integer): table
_M.redirect = require("crater.urls").redirect

--- Stops the handler and answers `status` with a problem+json body
--- (or the app's error handler for that status).
---@param status integer
---@param detail? string
---@param headers? table<string, string>
function _M.abort(status, detail, headers)
  if type(status) ~= "number" then error("crater.abort: status must be a number", 2) end
  error({ crater_http_error = true, status = status, detail = detail, headers = headers }, 0)
end

return _M
