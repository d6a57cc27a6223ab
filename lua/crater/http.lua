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
-- Redirects are not followed unless `redirects = n` asks for it. The guide
-- is docs/http-client.md.

local host = require "crater.host"
local json = require "crater.json"
require "crater.socket" -- the socket object's methods (sslhandshake)
local request_mod = require "crater.request"

local type, tostring, error, pairs, setmetatable = type, tostring, error, pairs, setmetatable
local tonumber = tonumber
local find, lower, upper, match, sub, gsub = string.find, string.lower, string.upper, string.match,
  string.sub, string.gsub
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
local defaults = _M.defaults

local READ_SIZE = 64 * 1024
local SOCKET_TIMEOUT = 60000 -- ms: a new socket's timeouts (docs/sockets.md)
local TOKEN_BAD = "[^%w!#$%%&'*+%-.^_`|~]" -- a character that is not a tchar (RFC 9110)

local function bad_url(why, url) return nil, "bad url: " .. why .. ": " .. tostring(url) end

--- "https://user@host:8443/path?q#frag" -> scheme, host, port, target;
--- nil and an error ("bad url: ...") for what is not an absolute http(s) URL.
---@param url string
function _M.parse_url(url)
  if type(url) ~= "string" then return bad_url("not a string", url) end
  if find(url, "[%c ]") then return bad_url("a space or control character", url) end
  local scheme, rest = match(url, "^(%a[%w+.-]*)://(.*)$")
  if not scheme then return bad_url("not absolute", url) end
  scheme = lower(scheme)
  if scheme ~= "http" and scheme ~= "https" then return bad_url("unsupported scheme", url) end
  local authority, target = match(rest, "^([^/?#]*)(.*)$")
  target = match(target, "^([^#]*)")
  if target == "" or sub(target, 1, 1) == "?" then target = "/" .. target end
  authority = match(authority, "^[^@]*@(.*)$") or authority
  local h, port
  if sub(authority, 1, 1) == "[" then
    h, port = match(authority, "^%[([%x:.]+)%]:?(%d*)$")
  else
    h, port = match(authority, "^([^:]+):?(%d*)$")
  end
  if not h or h == "" then return bad_url("no host", url) end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  if port < 1 or port > 65535 then return bad_url("bad port", url) end
  return scheme, h, port, target
end
local parse_url = _M.parse_url

-- Parsed URLs, by URL: an app calls the same few again and again. Each
-- holds what every request to it repeats: the pool's name, the Host line.
local urls, nurls, MAX_URLS = {}, 0, 1024

local function url_info(url)
  local u = urls[url]
  if u ~= nil then return u end
  local scheme, h, port, target = parse_url(url)
  if not scheme then return nil, h end
  local default = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
  local hh = find(h, ":", 1, true) and "[" .. h .. "]" or h
  local pool = scheme .. ":" .. h .. ":" .. port
  u = { scheme = scheme, host = h, port = port, target = target, origin = scheme .. "://" .. hh .. ":" .. port,
    host_line = "Host: " .. hh .. (default and "" or ":" .. port) .. "\r\n", pool = pool }
  if nurls >= MAX_URLS then urls, nurls = {}, 0 end
  urls[url], nurls = u, nurls + 1
  return u
end

local Response = {}
local response_mt = { __index = Response }

--- The body decoded as JSON; nil and an error when it is not JSON (or the
--- response is streamed).
function Response:json()
  if self.body == nil then return nil, "no body: the response is streamed" end
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

-- The request's head (and body) as pieces for one send.
local function request_pieces(method, u, opts, body, ctype)
  local out = { method, " ", u.target, " HTTP/1.1\r\n" }
  local n, has = 4, nil
  local headers = opts.headers
  if headers ~= nil then
    if type(headers) ~= "table" then error("crater.http: headers must be a table", 3) end
    has = {}
    for k, v in pairs(headers) do
      if type(k) ~= "string" or k == "" or find(k, TOKEN_BAD) then
        error("crater.http: invalid header name " .. tostring(k), 3)
      end
      local values = type(v) == "table" and v or { v }
      for i = 1, #values do
        local one = tostring(values[i])
        if find(one, "[\r\n%z]") then error("crater.http: the value of header " .. k .. " holds CR, LF or NUL", 3) end
        out[n + 1], out[n + 2], out[n + 3], out[n + 4] = k, ": ", one, "\r\n"
        n = n + 4
      end
      has[lower(k)] = true
    end
  else
    has = {}
  end
  if not has.host then out[n + 1], n = u.host_line, n + 1 end
  if not has["user-agent"] then
    out[n + 1], out[n + 2], out[n + 3], n = "User-Agent: ", defaults.user_agent, "\r\n", n + 3
  end
  if ctype ~= nil and not has["content-type"] then
    out[n + 1], out[n + 2], out[n + 3], n = "Content-Type: ", ctype, "\r\n", n + 3
  end
  if not has["content-length"] and not has["transfer-encoding"] then
    if body ~= nil then
      out[n + 1], out[n + 2], out[n + 3], n = "Content-Length: ", #body, "\r\n", n + 3
    elseif method == "POST" or method == "PUT" or method == "PATCH" then
      out[n + 1], n = "Content-Length: 0\r\n", n + 1
    end
  end
  if opts.keepalive == false and not has.connection then out[n + 1], n = "Connection: close\r\n", n + 1 end
  out[n + 1] = "\r\n"
  if body ~= nil and body ~= "" then out[n + 2] = body end
  return out
end

-- The head of a plain GET (no headers of the caller's, no body), the same
-- every time: made once per URL.
local function plain_get(u)
  local head = u.get_head
  if head == nil or u.user_agent ~= defaults.user_agent then
    head = "GET " .. u.target .. " HTTP/1.1\r\n" .. u.host_line .. "User-Agent: " .. defaults.user_agent
      .. "\r\n\r\n"
    u.get_head, u.user_agent = head, defaults.user_agent
  end
  return head
end

-- The socket's C functions, called straight: this file checks what it
-- passes (crater.socket's methods check the app's arguments).
local C_ok, C = pcall(require, "crater._socket")
local c_new, c_connect, c_send, c_any, c_settimeouts, c_close, c_keepalive, c_reused
if C_ok then
  c_new, c_connect, c_send, c_any, c_settimeouts = C.new, C.connect, C.send, C.receiveany, C.settimeouts
  c_close, c_keepalive, c_reused = C.close, C.setkeepalive, C.reused
end

-- Reads into parser p until its state is `want` ("headers": the head is
-- there; after it, each read returns) or "done". Returns the state, or
-- nil, the error and whether any byte arrived.
local function read_until(sock, p, want)
  local got = false
  while true do
    local data, err = c_any(sock, READ_SIZE)
    local st
    if data then
      got = true
      st, err = p:feed(data)
    elseif err == "closed" then
      st, err = p:eof()
    end
    if not st then return nil, err, got end
    if st == "done" or st == want then return st end
  end
end

-- Parsers are reused: one is 4 KiB and more.
local spare, nspare = {}, 0

local function parser(head, max_body)
  if nspare == 0 then return new_parser(head, max_body) end
  local p = spare[nspare]
  spare[nspare], nspare = nil, nspare - 1
  p:reset(head, max_body)
  return p
end

-- Pools the connection of a response read to its end, else closes it.
local function release(sock, reusable, opts)
  if reusable and opts.keepalive ~= false then
    c_keepalive(sock, (opts.keepalive_idle or defaults.keepalive_idle) * 1000,
      opts.pool_size or defaults.pool_size)
  else
    c_close(sock)
  end
end

-- A streamed response's body.
local Reader = {}
Reader.__index = Reader

function Reader:next_piece()
  if self.released then return nil end
  local p = self.p
  local piece = p:take()
  while piece == "" and self.state ~= "done" do
    -- after the head the state stays "headers" until the end: one read
    local st, err = read_until(self.sock, p, "headers")
    if not st then
      self.released = true
      c_close(self.sock)
      return nil, err
    end
    self.state = st
    piece = p:take()
  end
  if piece ~= "" then return piece end
  self:stop()
  return nil
end

function Reader:stop()
  if self.released then return end
  self.released = true
  local p = self.p
  release(self.sock, self.state == "done" and p:keepalive() and p:rest() == "", self.opts)
end

-- A connection taken from a pool may have been closed by the server while
-- it was idle, the close still on its way: a request on it fails with
-- nothing received. Such a request is sent again on another connection
-- when the server cannot have acted on it (idempotent methods, RFC 9110).
local IDEMPOTENT = { GET = true, HEAD = true, OPTIONS = true, TRACE = true, PUT = true, DELETE = true }
local STALE = { closed = true, ["connection reset"] = true, ["broken pipe"] = true,
  ["closed before the response was complete"] = true }

-- One exchange on one connection: the response, or nil and an error (and
-- true when the request may be sent again on another connection).
local function exchange(u, opts, method, payload)
  if not c_new then error("crater.http: only inside the Crater server", 3) end
  local sock = c_new()
  local t = opts.timeout
  if t == nil then t = defaults.timeout end
  t = t * 1000
  if t ~= SOCKET_TIMEOUT then c_settimeouts(sock, t, t, t) end
  local https, pool = u.scheme == "https", u.pool
  local verify, cafile = opts.verify ~= false, opts.cafile
  if https and (not verify or cafile ~= nil) then
    -- a connection checked otherwise (or not at all) is not shared
    pool = pool .. (verify and "" or "|noverify") .. (cafile and "|" .. cafile or "")
  end
  local ok, err = c_connect(sock, u.host, u.port, pool)
  if not ok then return nil, err end
  local reused = c_reused(sock) > 0
  if https and not reused then
    ok, err = sock:sslhandshake({ server_name = u.host, verify = verify, cafile = cafile })
    if not ok then c_close(sock) return nil, err end
  end
  ok, err = c_send(sock, payload)
  if not ok then c_close(sock) return nil, err, reused and STALE[err] end
  local stream, max_body = opts.stream, opts.max_body
  if max_body == nil then max_body = stream and 0 or defaults.max_body end
  local p = parser(method == "HEAD", max_body or 0)
  local st, got
  st, err, got = read_until(sock, p, stream and "headers" or "done")
  if not st then
    c_close(sock)
    return nil, err, reused and not got and STALE[err] and IDEMPOTENT[method]
  end
  local status, headers = p:response(headers_mt)
  if stream then
    return setmetatable({ status = status, headers = headers,
      _stream = setmetatable({ sock = sock, p = p, opts = opts, state = st }, Reader) }, response_mt)
  end
  local body, reusable = p:result()
  release(sock, reusable, opts)
  if nspare < 16 then spare[nspare + 1], nspare = p, nspare + 1 end
  return setmetatable({ status = status, headers = headers, body = body }, response_mt)
end

local NO_OPTS = {} -- read only

local REDIRECT = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }
-- Request headers that do not follow a redirect to another origin, and
-- those that describe a body that a redirect to GET drops.
local CREDENTIALS = { authorization = true, cookie = true, ["proxy-authorization"] = true, host = true }
local BODY_HEADERS = { ["content-type"] = true, ["content-length"] = true, ["transfer-encoding"] = true }

local function without(headers, drop)
  if headers == nil then return nil end
  local t = {}
  for k, v in pairs(headers) do
    if type(k) ~= "string" or not drop[lower(k)] then t[k] = v end
  end
  return t
end

-- The absolute URL a Location names, from the URL it answered.
local function resolve(u, loc)
  if match(loc, "^%a[%w+.-]*://") then return loc end
  if sub(loc, 1, 2) == "//" then return u.scheme .. ":" .. loc end
  if sub(loc, 1, 1) == "/" then return u.origin .. loc end
  local path = match(u.target, "^[^?]*")
  if sub(loc, 1, 1) == "?" then return u.origin .. path .. loc end
  return u.origin .. gsub(path, "[^/]*$", "") .. loc
end

--- Sends one request and reads its response. opts: method ("GET"),
--- headers (name -> value or list of values), body (a string) or json (a
--- value sent as JSON), timeout (seconds for connect, send and each read;
--- default 60), keepalive (false: close after; default: pooled),
--- keepalive_idle (seconds), pool_size, max_body (bytes; more: nil, "body
--- too large"; 0: no limit), redirects (follow at most this many; default
--- 0), verify and cafile (https), stream (true: res:read() gives the body
--- piece by piece and res.body is nil). Returns { status, headers
--- (case-insensitive), body, :json() } or nil and an error.
---@param url string
---@param opts? table
---@return table|nil res, string|nil err
function _M.request(url, opts)
  if opts == nil then
    opts = NO_OPTS
  elseif type(opts) ~= "table" then
    error("crater.http.request: options must be a table", 2)
  end
  local method = opts.method
  if method == nil then
    method = "GET"
  else
    if type(method) ~= "string" or method == "" or find(method, TOKEN_BAD) then
      error("crater.http.request: method must be a token such as \"GET\"", 2)
    end
    method = upper(method)
  end
  local body, ctype = opts.body, nil
  if opts.json ~= nil then body, ctype = json.encode(opts.json), "application/json" end
  if body ~= nil and type(body) ~= "string" then error("crater.http.request: body must be a string", 2) end
  local left = opts.redirects or 0
  local u, err = url_info(url)
  if u == nil then return nil, err end
  while true do
    local res, again, payload
    if method == "GET" and body == nil and opts.headers == nil and opts.keepalive ~= false then
      payload = plain_get(u)
    else
      payload = request_pieces(method, u, opts, body, ctype)
    end
    for _ = 1, 1 + (opts.pool_size or defaults.pool_size) do
      res, err, again = exchange(u, opts, method, payload)
      if res or not again then break end
    end
    if not res then return nil, err end
    if left <= 0 or not REDIRECT[res.status] then return res end
    local loc = res.headers.location
    if loc == nil then return res end
    if opts.stream then res:close() end
    left = left - 1
    local next_u
    next_u, err = url_info(resolve(u, loc))
    if next_u == nil then return nil, err end
    if res.status == 303 and method ~= "HEAD"
      or (res.status == 301 or res.status == 302) and method == "POST" then
      method, body, ctype = "GET", nil, nil
      opts = setmetatable({ headers = without(opts.headers, BODY_HEADERS) }, { __index = opts })
    end
    if next_u.origin ~= u.origin and opts.headers ~= nil then
      opts = setmetatable({ headers = without(opts.headers, CREDENTIALS) }, { __index = opts })
    end
    u = next_u
  end
end
local request = _M.request

--- crater.http.request(url, opts) with method GET.
function _M.get(url, opts)
  if opts ~= nil and type(opts) ~= "table" then error("crater.http.get: options must be a table", 2) end
  if opts == nil or opts.method == nil then return request(url, opts) end
  return request(url, setmetatable({ method = "GET" }, { __index = opts }))
end

--- crater.http.request(url, opts) with method POST; a table body goes as JSON.
function _M.post(url, body, opts)
  if opts ~= nil and type(opts) ~= "table" then error("crater.http.post: options must be a table", 2) end
  local o = setmetatable({ method = "POST" }, { __index = opts })
  if type(body) == "table" then o.json = body else o.body = body end
  return request(url, o)
end

return _M
