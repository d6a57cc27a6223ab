--- crater.dispatch: the function the C core calls once per request.
--
-- crater.app's entry() makes one dispatcher per generation of an app with
-- new(app). The dispatcher receives (method, path, raw_query, conn, seq) and
-- returns (status, body, content_type, headers) where headers is nil or a
-- flat array { name1, value1, name2, value2, ... }; the C core does the
-- framing. A streamed response instead yields (status, false, content_type,
-- headers), then one string per chunk, and returns -1 when the stream failed
-- midway. Both heads carry a fifth value: the compression policy of the
-- route (crater.compress; false: none).
--
-- Per request: the router matches, `before` hooks run, then the handler,
-- then `after` hooks; errors anywhere become answers through crater.errors.
-- With groups, CORS and security (crater.group, crater.cors,
-- crater.security): a CORS preflight is answered first, then the route's
-- credential check, the app's before hooks, its groups' (outer to inner),
-- the handler, the groups' after hooks (inner to outer), the app's; every
-- answer of a route a CORS policy covers gets its headers in respond().
-- A handler returning a string or a table, with no after hooks, goes
-- straight from its return to crater.response.finish: no response object.
-- A WebSocket route's handler returns crater.websocket.OPEN once the 101
-- (which took the after hooks) is out: the socket's function then runs in
-- a tail call (crater.websocket.run), so no dispatcher frame is kept for
-- the socket's life.

local request = require "crater.request"
local response = require "crater.response"
local errors = require "crater.errors"
local urls = require "crater.urls"
local host = require "crater.host"
local group = require "crater.group"
local cors = require "crater.cors"
local security = require "crater.security"
local compress = require "crater.compress"
local websocket = require "crater.websocket"
local WS_OPEN, ws_run = websocket.OPEN, websocket.run

local type, tostring, error, xpcall, pcall = type, tostring, error, xpcall, pcall
local setmetatable, getmetatable, rawget = setmetatable, getmetatable, rawget
local format, find = string.format, string.find
local yield = coroutine.yield
local new_request = request.new
local new_response, from_result, finish, response_mt = response.new, response.from_result, response.finish,
  response.mt
local handler_traceback, error_answer, handler_failed = errors.traceback, errors.answer, errors.failed
local default_answer = errors.default
local getinfo = debug.getinfo
local log = host.log
local host_deadline = host.deadline
-- Where the route each request runs is noted, for the watchdog that reports
-- a stuck handler (host/src/watchdog.c reads it from another thread).
local running = host.running
local ceil, ipairs, pairs = math.ceil, ipairs, pairs

local _M = { version = "0.1.0" }

local TEXT = "text/plain; charset=utf-8"

-- Methods the core answers 405 for (when the path exists); any other method
-- no route declares is answered 501 Not Implemented.
local STANDARD = { GET = true, HEAD = true, POST = true, PUT = true, DELETE = true,
                   PATCH = true, OPTIONS = true, TRACE = true, CONNECT = true }

local EMPTY_PARAMS = setmetatable({}, { __newindex = function() error("req.params is read-only here", 2) end })

-- write(chunk): true, or nil, "closed" once the client went away (the
-- core resumes it with either; an empty chunk still asks, so that it says
-- "closed" too).
local function write_chunk(chunk)
  if chunk == nil then chunk = "" end
  if type(chunk) ~= "string" then chunk = tostring(chunk) end
  return yield(chunk)
end

-- A streamed body: yield the head to the core (status, false, type,
-- headers: finish() checked them), then one yield per chunk; the core
-- resumes us when the client has taken the previous ones. Returns -1 when
-- the stream failed midway.
local function run_stream(req, res, status, ctype, h, policy)
  if res.content_type == nil and status ~= 204 and status ~= 304 then ctype = TEXT end
  yield(status, false, ctype, h, policy)
  local ok, err = xpcall(res._stream, handler_traceback, write_chunk, req)
  if not ok then
    err = errors.as_failure(err)
    log("error", format("stream for %s %s failed: %s", req.method, req.path,
      err.traceback or tostring(err.detail)))
    return -1
  end
end

-- Where a function was written, for a log line: "app.lua:12".
local function written_at(fn)
  local info = type(fn) == "function" and getinfo(fn, "S")
  return info and format("%s:%d", info.short_src, info.linedefined) or "?"
end

-- The answer to res as the core takes it. What cannot be sent (a status,
-- a body or a header: finish() says which) is the error of whoever made
-- it: a handler's or a hook's goes through the app's error handler like
-- any failure; an error handler's own is answered with the default
-- problem, so a bad error handler cannot loop.
local function respond(app, req, res)
  local cors_on = app._cors_on -- each answer sent, a replacement too, gets the CORS headers
  if cors_on then cors.decorate(app, req, res) end
  local ok, st, body, ctype, h = pcall(finish, res)
  if not ok and not res._by then
    local where = req.route and req.route.where
    res = handler_failed(app, req, handler_traceback(where and (where .. ": " .. st) or st))
    if cors_on then cors.decorate(app, req, res) end
    ok, st, body, ctype, h = pcall(finish, res)
  end
  if not ok then
    log("error", format("error handler%s for %s %s answered what cannot be sent: %s",
      res._by and (" at " .. written_at(res._by)) or "", req.method, req.path, st))
    res = default_answer(500, "the error handler's answer could not be sent")
    if cors_on then cors.decorate(app, req, res) end
    st, body, ctype, h = finish(res)
  end
  -- the route's compression, or the app's for an answer no route gave
  local policy = app._compress_policy
  if req.route then policy = req.route.compress_policy end
  if res._stream then return run_stream(req, res, st, ctype, h, policy) end
  return st, body, ctype, h, policy
end

-- A path parameter decoded from %XX escapes must be UTF-8 text: the 400
-- names it (a handler echoing it would otherwise fail in the JSON encoder).
local bad_utf8 = request.bad_utf8
local function check_params(app, req, params)
  for name, v in pairs(params) do
    local at = bad_utf8(v)
    if at then
      return error_answer(app, req, 400, format('path parameter "%s" is not valid UTF-8 once '
        .. "percent-decoded (byte %d)", name, at))
    end
  end
  return nil
end

-- Runs before hooks in order: the first answer one gives (or its
-- failure's), else nil.
local function run_before(app, req, hooks)
  for i = 1, #hooks do
    local ok, a, b, c = xpcall(hooks[i], handler_traceback, req)
    if not ok then return handler_failed(app, req, a) end
    if a ~= nil then return from_result(a, b, c) end
  end
  return nil
end

local run_after = response.after_hooks

-- The answer when no route matched: 404, 405 (OPTIONS: 204 with Allow) or
-- 501, as a response object.
local function unmatched(app, req, method, p, why, allow)
  if why == "method_not_allowed" then
    if method == "OPTIONS" then
      return new_response(nil, 204, { Allow = allow })
    elseif not STANDARD[method] and not app._methods[method] then
      return error_answer(app, req, 501, "method " .. method .. " is not implemented")
    end
    return error_answer(app, req, 405, "method " .. method .. " is not allowed here", { Allow = allow })
  elseif not STANDARD[method] and not app._methods[method] then
    return error_answer(app, req, 501, "method " .. method .. " is not implemented")
  end
  return error_answer(app, req, 404, "no route for " .. p)
end

--- The dispatcher for an app (one per generation): see the top of this file.
---@param app table the crater.app, its routes all added
---@return fun(method: string, path: string, raw_query: string, conn: any, seq: integer): integer, string|false, string|nil, string[]|nil, any
function _M.new(app)
  local r = app._router
  local match = r.match
  local before, after = app._before, app._after
  local nbefore = #before
  local slash_redirect = urls.slash_redirector(app) -- nil unless trailing_slash = "redirect"
  app._cors_on = cors.enabled(app)
  -- Each route's deadline in ms (its own, else its groups', else the app's;
  -- false: none); its groups' hooks and its security check; whether its
  -- handler's return can go straight to finish (no after hook, no CORS).
  local app_policy = compress.policy(app.compress, nil)
  app._compress_policy = app_policy -- for answers no route gave (respond)
  for _, rec in ipairs(app._routes) do
    rec.gbefore, rec.gafter = group.hooks(rec)
    rec.auth = security.hook(app, rec)
    rec.direct = #after == 0 and rec.gafter == nil and not app._cors_on
    local dl = rec.opts.deadline
    if dl == nil then dl = rec.group_deadline end
    if dl == nil then dl = app.deadline end
    rec.deadline_ms = dl and ceil(dl * 1000) or nil
    rec.label = rec.method .. " " .. rec.path .. " (" .. rec.where .. ")"
    -- a route without its own compress option shares the app's policy
    local c = rec.opts.compress
    if c == nil or c == true then rec.compress_policy = app_policy
    else rec.compress_policy = compress.policy(app.compress, c) end
  end

  return function(method, p, q, conn, seq)
    local route, params, allow = match(r, method, p)
    local req = new_request(method, p, q, params or EMPTY_PARAMS, conn, seq, route, route and route.big)
    local res
    if method == "OPTIONS" and app._cors_on then
      res = cors.preflight(app, req, function(m) return (match(r, m, p)) end,
        function(detail) return error_answer(app, req, 403, detail) end)
      if res then return respond(app, req, res) end
    end
    if route == nil then
      res = slash_redirect and params == "not_found" and slash_redirect(method, p, q)
        or unmatched(app, req, method, p, params, allow)
      if #after > 0 then
        local ok, r2 = xpcall(run_after, handler_traceback, app, req, res)
        if ok then res = r2 else res = handler_failed(app, req, r2) end
      end
      return respond(app, req, res)
    end
    if route.deadline_ms then host_deadline(conn, seq, route.deadline_ms) end
    if running then running[1], running[2], running[3] = route.label, conn, seq end
    if params ~= nil and find(p, "%", 1, true) then res = check_params(app, req, params) end
    local auth = route.auth
    if auth and res == nil then
      local ok, a = xpcall(auth, handler_traceback, req)
      if not ok then res = handler_failed(app, req, a) else res = a end
    end
    if res == nil and nbefore > 0 then res = run_before(app, req, before) end
    local gbefore = route.gbefore
    if res == nil and gbefore then res = run_before(app, req, gbefore) end
    if res == nil then
      local ok, a, b, c = xpcall(route.handler, handler_traceback, req)
      if not ok then
        res = handler_failed(app, req, a)
      elseif a == WS_OPEN then
        -- upgraded (the 101 took the after hooks): the socket's function
        -- runs in a tail call, so this frame is not kept for the socket's life
        return ws_run(app, req, b, c)
      elseif route.direct and not (getmetatable(a) == response_mt and a._stream) then
        local ok2, s, body, ctype, h = pcall(finish, a, b, c)
        if ok2 then return s, body, ctype, h, route.compress_policy end
        -- what the handler returned is wrong: say which handler
        res = handler_failed(app, req, handler_traceback(route.where and (route.where .. ": " .. s) or s))
      else
        res = from_result(a, b, c)
      end
    end
    if (#after > 0 or route.gafter) and not rawget(req, "_after_done") then
      local ok, r2 = xpcall(run_after, handler_traceback, app, req, res)
      if ok then res = r2 else res = handler_failed(app, req, r2) end
    end
    return respond(app, req, res)
  end
end

return _M
