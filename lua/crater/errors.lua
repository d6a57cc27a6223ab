--- crater.errors: how a request that went wrong is answered -- through the
--- app's error handler for the status (app:error), else with problem+json.
--
-- The dispatcher answers its own errors (404, 405, a handler's error or
-- crater.abort) here, and so does crater.route_schema (415, 400, 422), so an
-- app that replaces the problem format with app:error(...) gets its format
-- for every one of them. Everything takes the app table as its first
-- argument, so this module needs nothing from crater.app.

local problem = require "crater.problem"
local response = require "crater.response"
local host = require "crater.host"

local type, tostring, xpcall = type, tostring, xpcall
local format, find = string.format, string.find
local traceback = debug.traceback
local new_problem, encode_problem = problem.new, problem.encode
local new_response, from_result = response.build, response.from_result
local log = host.log
local dev = host.dev

local _M = { version = "0.1.0" }

local PROBLEM = problem.CONTENT_TYPE

--- The message handler for running app code with xpcall: an error raised by
--- crater.abort (or any table with crater_http_error) is kept as it is,
--- anything else becomes { message, traceback }.
---@param err any
---@return table
local function handler_traceback(err)
  if type(err) == "table" and err.crater_http_error then return err end
  return { message = tostring(err), traceback = traceback(tostring(err), 2) }
end
_M.traceback = handler_traceback

--- Answers an error through the app's error handler for its status (or
--- "*"), or with the default problem+json. Returns a response object.
---@param app table the crater.app
---@param req table
---@param status integer
---@param detail? string
---@param headers? table<string, string|string[]>
---@param extra? table the problem's extension members (errors, offset, ...)
---@return table res
local function answer(app, req, status, detail, headers, extra)
  local err = new_problem(status, detail, extra)
  local h
  -- The route's groups' handlers first, inner to outer (docs/groups.md).
  local g = req and req.route and req.route.group
  while g and h == nil do
    h = g._errors[status] or g._errors["*"]
    g = g._parent
  end
  h = h or app._errors[status] or app._errors["*"]
  if h then
    local ok, a, b, c = xpcall(h, handler_traceback, req, err)
    if ok then
      local res = from_result(a, b, c)
      res._by = h -- a header it cannot send is blamed on it (dispatch.lua's refused)
      return res
    end
    a = _M.as_failure(a)
    log("error", "error handler for " .. status .. " failed: " .. (a.traceback or tostring(a.detail)))
    err = new_problem(500, "the error handler failed")
    status, headers = 500, nil
  end
  local res = new_response(encode_problem(err), status, headers)
  res.content_type = PROBLEM
  return res
end
_M.answer = answer

--- The default problem+json answer, without the app's error handler: for
--- when the error handler's own answer cannot be sent.
---@param status integer
---@param detail string
---@return table res
function _M.default(status, detail)
  local res = new_response(encode_problem(new_problem(status, detail)), status)
  res.content_type = PROBLEM
  return res
end

--- Answers app code that failed: `e` is what handler_traceback made of the
--- error. crater.abort's status is answered as asked; anything else is
--- logged and answered 500 (with the message and traceback under --dev).
---@param app table the crater.app
---@param req table
---@param e table
---@return table res
function _M.failed(app, req, e)
  if type(e) ~= "table" then e = _M.as_failure(e) end
  if e.crater_http_error then
    return answer(app, req, e.status, e.detail, e.headers, e.extra)
  end
  -- An error with no position (raised past a tail call, e.g. `return
  -- res:header(...)` that refused a header) is told by its route's.
  local route = req.route
  local at = ""
  if route and route.where and type(e.message) == "string" and not find(e.message, "^[^\n]-:%d+: ") then
    at = format(" (route %s %s at %s)", route.method, route.path, route.where)
  end
  log("error", format("handler for %s %s%s failed: %s", req.method, req.path, at, e.traceback))
  local detail = "the server failed to answer this request"
  local extra
  if dev then detail, extra = e.message, { traceback = e.traceback } end
  return answer(app, req, 500, detail, nil, extra)
end

--- What xpcall gave as handler_traceback's table. Its message handler does
--- not run for "not enough memory", and when it cannot run either (after a
--- stack overflow there is no room left for its frame) xpcall says "error
--- in error handling": a bare message, then, with no traceback.
---@param err any
---@return table
function _M.as_failure(err)
  if type(err) == "table" then return err end
  local msg = tostring(err)
  if msg == "not enough memory" then
    host.out_of_memory() -- a full collection after this request
  elseif msg == "error in error handling" then
    msg = "stack overflow, or an error while reporting an error (error in error handling)"
  end
  return { message = msg, traceback = msg .. " (no traceback)" }
end

return _M
