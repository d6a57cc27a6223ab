-- crater.websocket: app:websocket(path, opts, fn), a GET route whose
-- handler gets a WebSocket (RFC 6455) once the upgrade is done
-- (docs/websockets.md). The upgrade's fields are checked and answered in C
-- (host/src/ws.c), which also reads and writes the frames; this file picks
-- the subprotocol, checks the origin and runs the handler.
local host = require "crater.host"
local response = require "crater.response"
local errors = require "crater.errors"

local ws_handshake, ws_upgrade = host.ws_handshake, host.ws_upgrade
local type, error, xpcall, ipairs, pairs, tostring, format = type, error, xpcall, ipairs, pairs, tostring, string.format
local lower, gmatch, rawset, setmetatable = string.lower, string.gmatch, rawset, setmetatable
local build, header_error = response.build, response.header_error
local traceback, failed = errors.traceback, errors.failed

local _M = {}

--- Messages over this many bytes (each frame too) close the socket with 1009,
--- unless a route says otherwise (max_message): the server's --ws-max-message.
_M.MAX_MESSAGE = host.ws_max_message or 1024 * 1024

-- The options of app:websocket that are not route options.
local OWN = { origins = true, protocols = true, max_message = true, ping_interval = true, deflate = true }

--- permessage-deflate's defaults (RFC 7692): a small window and memLevel keep
--- zlib's state near 40 KiB a socket instead of zlib's ~300 KiB (docs/websockets.md).
_M.DEFLATE = { level = 6, memlevel = 4, max_window_bits = 12 }

-- Each field of a `deflate` table: its range.
local DEFLATE_RANGE = { level = { 1, 9 }, memlevel = { 1, 9 }, max_window_bits = { 9, 15 } }

-- Headers the 101 never takes from the hooks: its own (the upgrade's
-- fields), the hop-by-hop ones, and those that describe a body it has not.
local NOT_ON_101 = {
  ["connection"] = true, ["upgrade"] = true, ["keep-alive"] = true, ["proxy-connection"] = true,
  ["te"] = true, ["trailer"] = true, ["transfer-encoding"] = true, ["content-length"] = true,
  ["content-type"] = true, ["content-encoding"] = true,
  ["sec-websocket-accept"] = true, ["sec-websocket-protocol"] = true,
  ["sec-websocket-extensions"] = true, ["sec-websocket-version"] = true,
}

--- What a WebSocket route's handler returns once the socket is open, with
--- the socket and its function: `OPEN, ws, fn`. The dispatcher then ends
--- with `return run(app, req, ws, fn)`, a tail call: while the socket's
--- function waits, the request's coroutine holds its frames only, not the
--- dispatcher's (a smaller stack per idle socket).
_M.OPEN = setmetatable({}, { __tostring = function() return "websocket open" end })

--- Runs the WebSocket's function fn(ws, req) to its end, then closes: 1000,
--- or 1011 when it raised (logged as any handler's error). Returns what the
--- dispatcher returns (the core sends nothing more: the 101 went out).
---@param app table
---@param req table
---@param ws table
---@param fn fun(ws: table, req: table)
function _M.run(app, req, ws, fn)
  local ok, err = xpcall(fn, traceback, ws, req)
  if not ok then
    ws:close(1011, "the server's handler failed")
    failed(app, req, err) -- logged; its answer cannot be sent
  else
    ws:close(1000)
  end
  return 200, "", nil, nil, false
end

-- The route's after hooks (its groups', inner to outer, then the app's, as
-- for any answer) run on the 101: the headers they set go out with it. A
-- hook may replace the answer: unless the replacement is a 101 too, it is
-- sent instead and there is no upgrade. Returns the headers as a flat list
-- (nil for none), or the replacement.
local function on_101(app, req)
  local res = build(nil, 101)
  rawset(req, "_after_done", true) -- the dispatcher runs them no more for this request
  res = response.after_hooks(app, req, res)
  if res.status ~= 101 then return nil, res end
  local h, flat, n = res._h, nil, 0
  for i = 1, #h, 2 do
    local name, value = h[i], h[i + 1]
    if type(name) ~= "string" or not NOT_ON_101[lower(name)] then
      local why = header_error(name, value)
      if why then error(why, 0) end
      flat = flat or {}
      flat[n + 1], flat[n + 2], n = name, value, n + 2
    end
  end
  return flat
end

local function http_error(status, detail, headers)
  error({ crater_http_error = true, status = status, detail = detail, headers = headers }, 0)
end

-- The first of the server's protocols that the client offers.
local function pick_protocol(offered, protocols)
  if not offered or not protocols then return nil end
  local set = {}
  for p in gmatch(offered, "[^,%s]+") do set[p] = true end
  for _, p in ipairs(protocols) do
    if set[p] then return p end
  end
  return nil
end

local function check_opts(path, opts)
  if opts.origins ~= nil and type(opts.origins) ~= "table" then
    return "origins must be a list of origins, e.g. { \"https://example.com\" }"
  end
  if opts.protocols ~= nil and type(opts.protocols) ~= "table" then
    return "protocols must be a list of subprotocol names"
  end
  local m = opts.max_message
  if m ~= nil and (type(m) ~= "number" or m < 1 or m % 1 ~= 0) then
    return "max_message must be a whole number of bytes >= 1"
  end
  local d = opts.deflate
  if d ~= nil and d ~= false and d ~= true and type(d) ~= "table" then
    return "deflate must be false, true or { level=, memlevel=, max_window_bits= }"
  end
  if type(d) == "table" then
    for k, v in pairs(d) do
      local range = DEFLATE_RANGE[k]
      if not range then return "deflate: unknown option " .. tostring(k) end
      if type(v) ~= "number" or v % 1 ~= 0 or v < range[1] or v > range[2] then
        return format("deflate.%s must be a whole number from %d to %d", k, range[1], range[2])
      end
    end
  end
  local pi = opts.ping_interval
  if pi ~= nil and (type(pi) ~= "number" or not (pi > 0) or pi > 1e9) then
    return "ping_interval must be a number of seconds > 0"
  end
  return nil
end

--- Installs app:websocket on the App class (crater.app).
---@param App table
---@param add_route function crater.app's route adder
function _M.install(App, add_route)
  --- A WebSocket route: GET `path`, whose before-hooks and params/query
  --- schemas run as any route's; then the upgrade (101) and fn(ws, req).
  --- When fn returns the connection closes (a close frame 1000 first, if
  --- fn sent none). opts: params, query (schemas), origins (the Origin
  --- values allowed, else 403; a request without Origin passes),
  --- protocols (subprotocols in the server's order of preference),
  --- max_message (bytes, --ws-max-message), ping_interval (seconds: a
  --- ping each interval; a client silent for one is closed), deflate
  --- (permessage-deflate: on by default, false turns it off, or a table
  --- { level=, memlevel=, max_window_bits= }), and any route option.
  ---@param path string
  ---@param opts? { params?: table, query?: table, origins?: string[], protocols?: string[], max_message?: integer, ping_interval?: number, deflate?: boolean|{ level?: integer, memlevel?: integer, max_window_bits?: integer } }
  ---@param fn fun(ws: table, req: table)
  ---@return table app
  function App:websocket(path, opts, fn)
    if fn == nil then opts, fn = nil, opts end
    if type(fn) ~= "function" then error("app:websocket: the handler must be a function", 2) end
    if opts ~= nil and type(opts) ~= "table" then error("app:websocket: options must be a table", 2) end
    opts = opts or {}
    local why = check_opts(path, opts)
    if why then error(format("app:websocket %s: %s", tostring(path), why), 2) end
    local route_opts = { deadline = false } -- a socket may stay open for hours
    for k, v in pairs(opts) do
      if not OWN[k] then route_opts[k] = v end
    end
    local origins
    if opts.origins then
      origins = {}
      for _, o in ipairs(opts.origins) do origins[lower(o)] = true end
    end
    local protocols, max = opts.protocols, opts.max_message or _M.MAX_MESSAGE
    local level, memlevel, bits = 0, nil, nil -- level 0: permessage-deflate off
    if opts.deflate ~= false then
      local d = type(opts.deflate) == "table" and opts.deflate or {}
      level = d.level or _M.DEFLATE.level
      memlevel = d.memlevel or _M.DEFLATE.memlevel
      bits = d.max_window_bits or _M.DEFLATE.max_window_bits
    end
    local function handler(req)
      local accept, status, detail = ws_handshake(req._conn, req._seq)
      if not accept then
        http_error(status, detail, status == 426 and
          { Upgrade = "websocket", ["Sec-WebSocket-Version"] = "13" } or nil)
      end
      if origins then
        local origin = req:header("origin")
        if origin and not origins[lower(origin)] then
          http_error(403, "this WebSocket does not accept connections from origin " .. origin)
        end
      end
      local proto = pick_protocol(req:header("sec-websocket-protocol"), protocols)
      local headers, instead
      if #self._after > 0 or (req.route and req.route.gafter) then
        headers, instead = on_101(self, req)
        if instead then return instead end
      end
      local ws = ws_upgrade(req._conn, req._seq, accept, proto, max, opts.ping_interval,
        level, memlevel, bits, headers)
      return _M.OPEN, ws, fn
    end
    local app = add_route(self, "GET", path, route_opts, handler)
    return app
  end
end

return _M
