--- crater.http: an outbound HTTP/1.1 client that waits without blocking the
--- server (it runs on crater.socket). Inside a handler or a timer:
--
--   local res, err = crater.http.request("http://127.0.0.1:9000/items", {
--     method = "POST", json = { name = "x" }, timeout = 2,
--   })
--   if not res then return 502, { error = err } end
--   return res.status, res:json()
--
-- Responses are parsed by llhttp in C (host/src/httpc.c). Connections are
-- kept alive and pooled per scheme:host:port unless `keepalive = false`.
-- Redirects are not followed unless `redirects = n` asks for it.

local host = require "crater.host"
local json = require "crater.json"
local socket = require "crater.socket"
local request_mod = require "crater.request"

local type, tostring, tonumber, error, pairs, ipairs, setmetatable = type, tostring, tonumber, error,
  pairs, ipairs, setmetatable
local concat = table.concat
local find, lower, upper, match, sub, format = string.find, string.lower, string.upper, string.match,
  string.sub, string.format
local new_parser = host.http_parser
local headers_mt = request_mod.headers_mt

local _M = { version = "0.1.0" }

--- Defaults, which the app may change.
_M.defaults = {
  timeout = 60,                 -- seconds: connect, send, and each read
  max_body = 64 * 1024 * 1024,  -- bytes of a response body kept in memory
  keepalive_idle = 60,          -- seconds a pooled connection may stay idle
  pool_size = 32,               -- pooled connections per scheme:host:port
  user_agent = "crater",
}

local READ_SIZE = 64 * 1024

--- "https://user@host:8443/path?q#frag" -> scheme, host, port, target;
--- nil and an error for what is not an absolute http(s) URL.
---@param url string
function _M.parse_url(url)
  if type(url) ~= "string" then return nil, "the url must be a string" end
  local scheme, rest = match(url, "^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil, "not an absolute http(s) url: " .. url end
  scheme = lower(scheme)
  if scheme ~= "http" and scheme ~= "https" then return nil, "unsupported scheme: " .. scheme end
  local authority, target = match(rest, "^([^/?#]*)(.*)$")
  target = match(target, "^([^#]*)")
  if target == "" or sub(target, 1, 1) == "?" then target = "/" .. target end
  authority = match(authority, "^[^@]*@(.*)$") or authority
  local h, port
  if sub(authority, 1, 1) == "[" then
    h, port = match(authority, "^%[([^%]]+)%]:?(%d*)$")
  else
    h, port = match(authority, "^([^:]+):?(%d*)$")
  end
  if not h or h == "" then return nil, "no host in the url: " .. url end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  if port < 1 or port > 65535 then return nil, "bad port in the url: " .. url end
  return scheme, h, port, target
end
local parse_url = _M.parse_url

local function header_table(flat)
  local t = {}
  for i = 1, #flat, 2 do
    local k, v = lower(flat[i]), flat[i + 1]
    local old = t[k]
    t[k] = old == nil and v or old .. ", " .. v
  end
  return setmetatable(t, headers_mt)
end

local Response = {}
Response.__index = Response

--- The body decoded as JSON; nil and an error when it is not JSON.
function Response:json()
  return json.decode(self.body)
end

--- A streamed response's next piece of body; nil at its end; nil and an
--- error when the connection failed.
function Response:read()
  local s = self._stream
  if s == nil then return nil end
  return s:next_piece()
end

--- Ends a streamed response early: the connection is closed (a body read
--- to its end was pooled already).
function Response:close()
  local s = self._stream
  if s ~= nil then s:stop() end
end

local function request_text(method, h, port, scheme, target, opts, body, ctype)
  local lines = { method .. " " .. target .. " HTTP/1.1" }
  local has = {}
  if opts.headers ~= nil then
    if type(opts.headers) ~= "table" then error("crater.http: headers must be a table", 4) end
    for k, v in pairs(opts.headers) do
      if type(k) ~= "string" or find(k, "[%c: ]") or k == "" then
        error("crater.http: invalid header name " .. tostring(k), 4)
      end
      local values = type(v) == "table" and v or { v }
      for _, one in ipairs(values) do
        one = tostring(one)
        if find(one, "[\r\n%z]") then error("crater.http: the value of header " .. k .. " holds CR, LF or NUL", 4) end
        lines[#lines + 1] = k .. ": " .. one
      end
      has[lower(k)] = true
    end
  end
  if not has.host then
    local default = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
    local hh = find(h, ":", 1, true) and "[" .. h .. "]" or h
    lines[#lines + 1] = "Host: " .. hh .. (default and "" or ":" .. port)
  end
  if not has["user-agent"] then lines[#lines + 1] = "User-Agent: " .. _M.defaults.user_agent end
  if ctype ~= nil and not has["content-type"] then lines[#lines + 1] = "Content-Type: " .. ctype end
  if not has["content-length"] and not has["transfer-encoding"] then
    if body ~= nil then
      lines[#lines + 1] = "Content-Length: " .. #body
    elseif method == "POST" or method == "PUT" or method == "PATCH" then
      lines[#lines + 1] = "Content-Length: 0"
    end
  end
  if opts.keepalive == false and not has.connection then lines[#lines + 1] = "Connection: close" end
  lines[#lines + 1] = ""
  lines[#lines + 1] = body or ""
  return concat(lines, "\r\n")
end

-- Reads a response from sock into parser p.
local Reader = {}
Reader.__index = Reader

-- One read; the parse's new state, or nil, err.
function Reader:step()
  local data, err = self.sock:receiveany(READ_SIZE)
  local st, perr
  if data then
    st, perr = self.p:feed(data)
  elseif err == "closed" then
    st, perr = self.p:eof()
  else
    return nil, err
  end
  if not st then return nil, perr end
  self.state = st
  return st
end

function Reader:until_state(want)
  while self.state ~= want and self.state ~= "done" do
    local st, err = self:step()
    if not st then return nil, err end
  end
  return true
end

-- Pools the connection when the response ended cleanly, else closes it.
function Reader:release()
  if self.released then return end
  self.released = true
  local o = self.opts
  if self.state == "done" and o.keepalive ~= false and self.p:keepalive() and self.p:rest() == "" then
    self.sock:setkeepalive((o.keepalive_idle or _M.defaults.keepalive_idle) * 1000,
      o.pool_size or _M.defaults.pool_size)
  else
    self.sock:close()
  end
end

function Reader:next_piece()
  if self.released then return nil end
  local piece = self.p:take()
  while piece == "" and self.state ~= "done" do
    local st, err = self:step()
    if not st then self.state = "failed" self:release() return nil, err end
    piece = self.p:take()
  end
  if piece ~= "" then return piece end
  self:release()
  return nil
end

function Reader:stop()
  if self.state ~= "done" then self.state = "stopped" end
  self:release()
end

-- One exchange on one connection: the response, or nil and an error.
local function exchange(url, opts, method, body, ctype)
  local scheme, h, port, target = parse_url(url)
  if not scheme then return nil, h end
  local t = (opts.timeout or _M.defaults.timeout) * 1000
  local sock = socket.tcp()
  sock:settimeouts(t, t, t)
  local ok, err = sock:connect(h, port, { pool = format("%s:%s:%d", scheme, h, port) })
  if not ok then return nil, err end
  if scheme == "https" and sock:getreusedtimes() == 0 then
    ok, err = sock:sslhandshake({ server_name = h, verify = opts.verify ~= false, cafile = opts.cafile })
    if not ok then sock:close() return nil, err end
  end
  ok, err = sock:send(request_text(method, h, port, scheme, target, opts, body, ctype))
  if not ok then sock:close() return nil, err end
  local rd = setmetatable({ sock = sock, opts = opts, state = "more",
    p = new_parser(method == "HEAD", opts.max_body or _M.defaults.max_body) }, Reader)
  ok, err = rd:until_state("headers")
  if not ok then sock:close() return nil, err end
  local res = setmetatable({ status = rd.p:status(), headers = header_table(rd.p:headers()) }, Response)
  if opts.stream then
    res._stream = rd
    return res
  end
  ok, err = rd:until_state("done")
  if not ok then sock:close() return nil, err end
  res.body = rd.p:body()
  rd:release()
  return res
end

local REDIRECT = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }

--- Sends one request and reads its response. opts: method ("GET"),
--- headers (name -> value or list of values), body (a string) or json (a
--- value sent as JSON), timeout (seconds for connect, send and each read;
--- default 60), keepalive (false: close after; default: pooled), max_body
--- (bytes; more: nil, "body too large"), redirects (follow at most this
--- many; default 0), verify and cafile (https), stream (true: res:read()
--- gives the body piece by piece and res.body is nil). Returns { status,
--- headers (case-insensitive), body, :json() } or nil and an error.
---@param url string
---@param opts? table
---@return table|nil res, string|nil err
function _M.request(url, opts)
  if opts ~= nil and type(opts) ~= "table" then error("crater.http.request: options must be a table", 2) end
  opts = opts or {}
  local method = upper(opts.method or "GET")
  local body, ctype = opts.body, nil
  if opts.json ~= nil then body, ctype = json.encode(opts.json), "application/json" end
  if body ~= nil and type(body) ~= "string" then error("crater.http.request: body must be a string", 2) end
  local left = opts.redirects or 0
  while true do
    local res, err = exchange(url, opts, method, body, ctype)
    if not res then return nil, err end
    local loc = res.headers.location
    if left <= 0 or not REDIRECT[res.status] or loc == nil or opts.stream then return res end
    left = left - 1
    if not match(loc, "^%a[%w+.-]*://") then
      local scheme, h, port = parse_url(url)
      if sub(loc, 1, 1) ~= "/" then loc = "/" .. loc end
      loc = scheme .. "://" .. (find(h, ":", 1, true) and "[" .. h .. "]" or h) .. ":" .. port .. loc
    end
    url = loc
    if res.status == 303 or ((res.status == 301 or res.status == 302) and method == "POST") then
      method, body, ctype = "GET", nil, nil
    end
  end
end

--- crater.http.request(url, opts) with method GET.
function _M.get(url, opts)
  local o = setmetatable({ method = "GET" }, { __index = opts })
  local res, err = _M.request(url, o)
  return res, err
end

--- crater.http.request(url, opts) with method POST; a table body goes as JSON.
function _M.post(url, body, opts)
  local o = setmetatable({ method = "POST" }, { __index = opts })
  if type(body) == "table" then o.json = body else o.body = body end
  local res, err = _M.request(url, o)
  return res, err
end

return _M
