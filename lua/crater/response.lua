--- crater.response: a response object, for when returning `status, body,
--- headers` is not enough (cookies, several headers of one name, building a
--- response in an `after` hook).
--
--   local res = crater.response({ id = 1 }, 201)
--   res:header("Location", "/items/1")
--   res:set_cookie("session", "abc", { http_only = true, path = "/" })
--   return res

local json = require "crater.json"

local type, tostring, setmetatable, getmetatable, error, pairs =
  type, tostring, setmetatable, getmetatable, error, pairs
local find, lower, format, byte, sub, gsub = string.find, string.lower, string.format, string.byte,
  string.sub, string.gsub
local json_encode = json.encode
local c_encode = require("crater._json").encode -- per answer: no wrapper
local cookie = require "crater.cookie"
local cookie_serialize, cookie_deletion = cookie.serialize, cookie.deletion
-- A file answer of app:static (crater.static) is a body the core sends itself.
local has_static, c_static = pcall(require, "crater._static")
local is_file = has_static and c_static.is_file or function() return false end

local _M = { version = "0.1.0" }

local TEXT = "text/plain; charset=utf-8"
local JSON = "application/json"
local PROBLEM = "application/problem+json"

local Response = {}
local mt = { __index = Response }
_M.mt = mt

-- What a header may hold (RFC 9110 5.6.2, 5.5), as the C core checks it
-- again before anything goes out (http.c's crater__http_response_header_use):
-- a name is a token; a value is visible ASCII, obs-text, SP and HTAB.
local NOT_TCHAR = "[^%w!#$%%&'*+%-.^_`|~]"
local NOT_FIELD_CHAR = "[%z\1-\8\10-\31\127]"
local CONTROL = { [0] = "NUL", [10] = "LF", [11] = "VT", [12] = "FF", [13] = "CR", [127] = "DEL" }

-- A name or value as a message shows it: quoted, at most 40 bytes, control
-- bytes, '"' and '\' as \xHH (nothing raw reaches a log line or a body).
local function shown(s)
  local long = #s > 40
  if long then s = sub(s, 1, 40) end
  s = gsub(s, "[%c\"\\]", function(c) return format("\\x%02X", byte(c)) end)
  return '"' .. s .. (long and '"...' or '"')
end

--- Why a response header cannot be sent, or nil when it can: the one rule
--- for every header of every answer (the name a token, the value visible
--- ASCII / obs-text / SP / HTAB; Content-Length and Transfer-Encoding are
--- the core's, Connection may only be "close").
---@param name any
---@param value any a string (numbers are made strings before this)
---@return string|nil why
local function header_error(name, value)
  if type(name) ~= "string" then
    return format("a response header's name is a %s, not a string", type(name))
  end
  if name == "" or find(name, NOT_TCHAR) then
    return format("response header name %s is not a token (letters, digits and !#$%%&'*+-.^_`|~)",
      shown(name))
  end
  if type(value) ~= "string" then
    return format("response header %s: its value is a %s (a string or a number)", name, type(value))
  end
  local at = find(value, NOT_FIELD_CHAR)
  if at then
    local b = byte(value, at)
    return format("response header %s: %s at byte %d of its value %s (a header value is visible "
      .. "ASCII, obs-text, spaces and tabs)", name, CONTROL[b] or format("control byte 0x%02X", b), at,
      shown(value))
  end
  local n = #name
  if n == 14 or n == 17 then
    local ln = lower(name)
    if ln == "content-length" or ln == "transfer-encoding" then
      return format("response header %s: the core frames every answer itself (Content-Length, "
        .. "Transfer-Encoding); a handler cannot set it", name)
    end
  elseif n == 10 and lower(name) == "connection" and lower(value) ~= "close" then
    return format('response header Connection: %s: only "close" can be asked for (whether a '
      .. "connection is kept alive is the core's to decide)", shown(value))
  end
  return nil
end
_M.header_error = header_error

-- A header value as a response holds it: a string (a number is made one);
-- anything else is kept as it is for finish() to refuse.
local function as_value(v)
  if type(v) == "number" then return tostring(v) end
  return v
end

local function check_header(name, value)
  value = as_value(value)
  local why = header_error(name, value)
  if why then error(why, 3) end
  return value
end

-- Why a response object cannot be sent as it is, or nil: its headers
-- (made by build() from what a handler returned, or set on it directly)
-- and its content type.
local function object_error(res)
  if res._bad then return res._bad end
  local ctype = res.content_type
  if ctype ~= nil and ctype ~= TEXT and ctype ~= JSON and ctype ~= PROBLEM then
    local why = header_error("Content-Type", ctype)
    if why then return why end
  end
  local h = res._h
  for i = 1, #h, 2 do
    local why = header_error(h[i], h[i + 1])
    if why then return why end
  end
  return nil
end

--- A response object from a body, a status and a headers table, refusing
--- nothing: what a handler returned becomes one without raising, and
--- finish() refuses what cannot be sent (as the handler's error).
---@param body? string|table
---@param status? integer default 200
---@param headers? table<string, string|number|(string|number)[]>
---@return table res
local function build(body, status, headers)
  local res = setmetatable({ status = status or 200, body = body, _h = {}, content_type = nil }, mt)
  if headers == nil then return res end
  if type(headers) ~= "table" then
    res._bad = format("the headers are a %s (a table: name = value or { values })", type(headers))
    return res
  end
  local h = res._h
  for k, v in pairs(headers) do
    if type(k) == "string" and #k == 12 and lower(k) == "content-type" then
      res.content_type = as_value(v)
    elseif type(v) == "table" then
      for i = 1, #v do h[#h + 1], h[#h + 2] = k, as_value(v[i]) end
    else
      h[#h + 1], h[#h + 2] = k, as_value(v)
    end
  end
  return res
end
_M.build = build

--- Creates a response. body: string (text/plain), table (JSON) or nil.
--- Raises for a header the core would refuse (see header_error).
---@param body? string|table
---@param status? integer default 200
---@param headers? table<string, string|number|(string|number)[]>
---@return table res
local function new(body, status, headers)
  local res = build(body, status, headers)
  if headers ~= nil then
    local why = object_error(res)
    if why then error(why, 2) end
  end
  return res
end
_M.new = new

--- Adds a header (a name may repeat). Content-Type sets res.content_type.
--- Raises for a header the core would refuse (see header_error).
---@param name string
---@param value string|number
---@return table res
function Response:header(name, value)
  value = check_header(name, value)
  if lower(name) == "content-type" then
    self.content_type = value
    return self
  end
  local h = self._h
  h[#h + 1] = name
  h[#h + 1] = value
  return self
end

--- Replaces every header of this name (case-insensitive) with one value.
---@param name string
---@param value string|number
---@return table res
function Response:set_header(name, value)
  value = check_header(name, value)
  local ln, h, out = lower(name), self._h, {}
  for i = 1, #h, 2 do
    if lower(h[i]) ~= ln then out[#out + 1], out[#out + 2] = h[i], h[i + 1] end
  end
  self._h = out
  return self:header(name, value)
end

--- The first value of a response header, or nil.
---@param name string
---@return string|nil
function Response:get_header(name)
  local ln, h = lower(name), self._h
  if ln == "content-type" then return self.content_type end
  for i = 1, #h, 2 do if lower(h[i]) == ln then return h[i + 1] end end
  return nil
end

--- Adds a Set-Cookie header (crater.cookie.serialize; docs/cookies-and-sessions.md).
--- Raises, naming the cookie, for a name, value or option the header could
--- not carry as given: the name a token; the value cookie-octets (no space,
--- '"', ',', ';', '\' or control), bare or in double quotes; path, domain
--- and expires without ';' or controls (domain a host name, expires a string
--- or epoch seconds); same_site Strict, Lax or None (None and partitioned
--- need secure); priority Low, Medium or High; max_age an integer; an
--- unknown option.
---@param name string
---@param value string|number
---@param opts? { path?: string, domain?: string, max_age?: integer, expires?: number|string, secure?: boolean, http_only?: boolean, same_site?: string, partitioned?: boolean, priority?: string }
---@return table res
function Response:set_cookie(name, value, opts)
  local v = cookie_serialize(name, value, opts, 2)
  return self:header("Set-Cookie", v)
end

--- Adds a Set-Cookie header that deletes a cookie (empty, Max-Age=0,
--- Expires in 1970). opts must give the path and domain it was set with
--- (a browser deletes only that one); max_age and expires are refused.
---@param name string
---@param opts? { path?: string, domain?: string, secure?: boolean, http_only?: boolean, same_site?: string, partitioned?: boolean }
---@return table res
function Response:delete_cookie(name, opts)
  local v = cookie_deletion(name, opts, 2)
  return self:header("Set-Cookie", v)
end

--- Sets a JSON body.
---@param value any
---@return table res
function Response:json(value)
  self.body = json_encode(value)
  self.content_type = self.content_type or JSON
  return self
end

--- Sets a text body (text/plain unless a Content-Type is set).
---@param s string
---@return table res
function Response:text(s)
  self.body = tostring(s)
  self.content_type = self.content_type or TEXT
  return self
end

--- A streamed response: fn(write, req) calls write(chunk) for each piece of
--- the body; the client receives each chunk as it is written
--- (Transfer-Encoding: chunked). write waits while the client is slower
--- than the handler, so memory stays bounded. write returns true, or nil,
--- "closed" once the client went away (the wait fn is in then returns
--- nil, "closed" too: docs/sse.md, "When the client goes away").
---@param fn fun(write: fun(chunk: string): true|nil, string?, req: table)
---@param status? integer default 200
---@param headers? table<string, string|string[]>
---@return table res
function _M.stream(fn, status, headers)
  if type(fn) ~= "function" then error("crater.stream: expects a function", 2) end
  local res = build(nil, status, headers)
  local why = headers ~= nil and object_error(res)
  if why then error(why, 2) end
  res._stream = fn
  return res
end

-- A status the core cannot send is an error (the handler answered wrongly);
-- Node and Go refuse these too, and 200.5 would go out as 200. A 1xx is an
-- interim answer, never a final one: 101 Switching Protocols followed by
-- more HTTP on the same connection would confuse any client.
local function check_status(status)
  if type(status) ~= "number" or status < 200 or status > 999 or status % 1 ~= 0 then
    error(format("a handler answered with status %s (a final status is an integer from 200 to 999%s)",
      tostring(status), type(status) == "number" and status >= 100 and status < 200
        and "; 1xx are interim answers" or ""), 0)
  end
end

-- A handler's headers table ({ Name = value or { values } }) as the core's
-- flat list, each header checked; a Content-Type in it replaces `ctype`.
local function flatten_headers(h, ctype)
  if type(h) ~= "table" then
    error(format("the headers are a %s (a table: name = value or { values })", type(h)), 0)
  end
  local flat, n = {}, 0
  for k, v in pairs(h) do
    -- only a 12-byte name can be Content-Type: spare lower() for the rest
    if type(k) == "string" and #k == 12 and (k == "Content-Type" or lower(k) == "content-type") then
      ctype = as_value(v)
      local why = header_error(k, ctype)
      if why then error(why, 0) end
    elseif type(v) == "table" then
      for i = 1, #v do
        local one = as_value(v[i])
        local why = header_error(k, one)
        if why then error(why, 0) end
        flat[n + 1], flat[n + 2], n = k, one, n + 2
      end
    else
      v = as_value(v)
      local why = header_error(k, v)
      if why then error(why, 0) end
      flat[n + 1], flat[n + 2], n = k, v, n + 2
    end
  end
  return flat, ctype
end

--- What a handler answered -- a response object, or `body`, or `status,
--- body, headers?` -- as the C core takes it: status, body text, content
--- type (nil for none), and the headers as a flat list { name1, value1,
--- ... } or nil. A string body is text/plain, a table (or number, or
--- boolean) JSON, nil empty (and a lone nil is 204). Raises (level 0) for a
--- status, a body or a header the core cannot send: every answer passes
--- here (a stream's head too), so this is where a bad one becomes the
--- handler's error.
--
-- This is the dispatcher's per-request path: one function, no table made
-- unless there are headers to flatten, no header checked unless the
-- handler gave some.
---@return integer status
---@return string body
---@return string|nil content_type
---@return string[]|nil headers
function _M.finish(a, b, c)
  local status, body, headers, ctype, flat, explicit = 200, a, nil, nil, nil, nil
  if type(a) == "number" then
    status, body, headers = a, b, c
    check_status(status)
  elseif getmetatable(a) == mt then
    status, body, ctype = a.status, a.body, a.content_type
    explicit = ctype
    check_status(status)
    local n = #a._h
    if n > 0 or a._bad or (ctype ~= nil and ctype ~= PROBLEM and ctype ~= TEXT and ctype ~= JSON) then
      local why = object_error(a)
      if why then error(why, 0) end
      if n > 0 then flat = a._h end
    end
  elseif a == nil then
    status = 204
  end
  local t = type(body)
  if t == "string" then
    ctype = ctype or TEXT
  elseif t == "table" or t == "number" or t == "boolean" then
    body = c_encode(body)
    ctype = ctype or JSON
  elseif body == nil then
    body = ""
  elseif t == "userdata" and is_file(body) then -- luacheck: ignore 542
    -- crater.static's file answer: the core sends the file (its type is in the headers)
  else
    error("a handler answered with a " .. t .. " as body (a body is a string, a table or nil)", 0)
  end
  if headers ~= nil then
    local given
    flat, given = flatten_headers(headers, nil)
    if given ~= nil then ctype, explicit = given, given end
  end
  if status == 204 or status == 304 then
    -- no content (RFC 9110 15.3.5, 15.4.5): whatever body the handler gave
    -- is dropped, and so is the type it implied; a 304 keeps a type set on
    -- purpose (it describes the representation the client already has)
    body = ""
    if status == 204 or explicit == nil then ctype = nil end
  end
  return status, body, ctype, flat
end

--- What a handler answered as a response object (for after hooks): a
--- response object is itself; `status, body, headers?` and `body` make a
--- new one (a lone nil is 204). Raises for nothing: finish() refuses what
--- cannot be sent.
---@return table res
function _M.from_result(a, b, c)
  if getmetatable(a) == mt then return a end
  if type(a) == "number" then return build(b, a, c) end
  return build(a, a == nil and 204 or 200)
end

--- The after hooks on `res`: the route's groups' (inner to outer), then the
--- app's; a hook that returns something replaces the response with it.
--- Shared by the dispatcher and a WebSocket's 101.
---@param app table
---@param req table
---@param res table
---@return table res
function _M.after_hooks(app, req, res)
  local gafter = req.route and req.route.gafter
  if gafter then
    for i = 1, #gafter do
      local r = gafter[i](req, res)
      if r ~= nil then res = _M.from_result(r) end
    end
  end
  local after = app._after
  for i = 1, #after do
    local r = after[i](req, res)
    if r ~= nil then res = _M.from_result(r) end
  end
  return res
end

return _M
