--- crater.response: a response object, for when returning `status, body,
--- headers` is not enough (cookies, several headers of one name, building a
--- response in an `after` hook).
--
--   local res = crater.response({ id = 1 }, 201)
--   res:header("Location", "/items/1")
--   res:set_cookie("session", "abc", { http_only = true, path = "/" })
--   return res

local json = require "crater.json"

local type, tostring, setmetatable, getmetatable, error, pairs, ipairs =
  type, tostring, setmetatable, getmetatable, error, pairs, ipairs
local find, lower, format = string.find, string.lower, string.format
local json_encode = json.encode
local c_encode = require("crater._json").encode -- per answer: no wrapper

local _M = { version = "0.1.0" }

local TEXT = "text/plain; charset=utf-8"
local JSON = "application/json"

local Response = {}
local mt = { __index = Response }
_M.mt = mt

--- Creates a response. body: string (text/plain), table (JSON) or nil.
---@param body? string|table
---@param status? integer default 200
---@param headers? table<string, string|string[]>
---@return table res
local function new(body, status, headers)
  local res = setmetatable({ status = status or 200, body = body, _h = {}, content_type = nil }, mt)
  if headers ~= nil then
    for k, v in pairs(headers) do
      if type(v) == "table" then
        for i = 1, #v do res:header(k, v[i]) end
      else
        res:header(k, v)
      end
    end
  end
  return res
end
_M.new = new

local function check_header(name, value)
  if type(name) ~= "string" or name == "" or find(name, "[%c: ]") then
    error("invalid header name: " .. tostring(name), 3)
  end
  value = tostring(value)
  if find(value, "[\r\n%z]") then error("header value for " .. name .. " contains CR, LF or NUL", 3) end
  return value
end

--- Adds a header (a name may repeat). Content-Type sets res.content_type.
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

--- Adds a Set-Cookie header.
---@param name string
---@param value string
---@param opts? { path?: string, domain?: string, max_age?: integer, expires?: string, secure?: boolean, http_only?: boolean, same_site?: string }
---@return table res
function Response:set_cookie(name, value, opts)
  if type(name) ~= "string" or find(name, "[%c%s=;,]") then error("invalid cookie name", 2) end
  value = tostring(value)
  if find(value, "[%c%s;,\"\\]") then error("invalid cookie value for " .. name, 2) end
  local parts = { name .. "=" .. value }
  opts = opts or {}
  if opts.path then parts[#parts + 1] = "Path=" .. opts.path end
  if opts.domain then parts[#parts + 1] = "Domain=" .. opts.domain end
  if opts.max_age then parts[#parts + 1] = "Max-Age=" .. math.floor(opts.max_age) end
  if opts.expires then parts[#parts + 1] = "Expires=" .. opts.expires end
  if opts.secure then parts[#parts + 1] = "Secure" end
  if opts.http_only then parts[#parts + 1] = "HttpOnly" end
  if opts.same_site then parts[#parts + 1] = "SameSite=" .. opts.same_site end
  return self:header("Set-Cookie", table.concat(parts, "; "))
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
--- than the handler, so memory stays bounded.
---@param fn fun(write: fun(chunk: string), req: table)
---@param status? integer default 200
---@param headers? table<string, string|string[]>
---@return table res
function _M.stream(fn, status, headers)
  if type(fn) ~= "function" then error("crater.stream: expects a function", 2) end
  local res = new(nil, status, headers)
  res._stream = fn
  return res
end

-- A status the core cannot send is an error (the handler answered wrongly);
-- Node and Go refuse these too, and 200.5 would go out as 200.
local function check_status(status)
  if type(status) ~= "number" or status < 100 or status > 999 or status % 1 ~= 0 then
    error(format("a handler answered with status %s (an HTTP status is an integer from 100 to 999)",
      tostring(status)), 0)
  end
end

-- A handler's headers table ({ Name = value or { values } }) as the core's
-- flat list; a Content-Type in it replaces `ctype`.
local function flatten_headers(h, ctype)
  local flat, n = {}, 0
  for k, v in pairs(h) do
    if type(k) == "string" then
      -- only a 12-byte name can be Content-Type: spare lower() for the rest
      if #k == 12 and (k == "Content-Type" or lower(k) == "content-type") then
        ctype = tostring(v)
      elseif type(v) == "table" then
        for _, one in ipairs(v) do flat[n + 1], flat[n + 2], n = k, tostring(one), n + 2 end
      else
        flat[n + 1], flat[n + 2], n = k, tostring(v), n + 2
      end
    end
  end
  return flat, ctype
end

--- What a handler answered -- a response object, or `body`, or `status,
--- body, headers?` -- as the C core takes it: status, body text, content
--- type (nil for none), and the headers as a flat list { name1, value1,
--- ... } or nil. A string body is text/plain, a table (or number, or
--- boolean) JSON, nil empty (and a lone nil is 204). Raises (level 0) for a
--- status or a body the core cannot send.
--
-- This is the dispatcher's per-request path: one function, no table made
-- unless there are headers to flatten.
---@return integer status
---@return string body
---@return string|nil content_type
---@return string[]|nil headers
function _M.finish(a, b, c)
  local status, body, headers, ctype, flat = 200, a, nil, nil, nil
  if type(a) == "number" then
    status, body, headers = a, b, c
    check_status(status)
  elseif getmetatable(a) == mt then
    status, body, ctype = a.status, a.body, a.content_type
    check_status(status)
    if #a._h > 0 then flat = a._h end
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
  else
    error("a handler answered with a " .. t .. " as body (a body is a string, a table or nil)", 0)
  end
  if headers ~= nil then flat, ctype = flatten_headers(headers, ctype) end
  return status, body, ctype, flat
end

--- What a handler answered as a response object (for after hooks): a
--- response object is itself; `status, body, headers?` and `body` make a
--- new one (a lone nil is 204).
---@return table res
function _M.from_result(a, b, c)
  if getmetatable(a) == mt then return a end
  if type(a) == "number" then return new(b, a, c) end
  return new(a, a == nil and 204 or 200)
end

return _M
