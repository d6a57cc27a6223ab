--- crater.response: a response object, for when returning `status, body,
--- headers` is not enough (cookies, several headers of one name, building a
--- response in an `after` hook).
--
--   local res = crater.response({ id = 1 }, 201)
--   res:header("Location", "/items/1")
--   res:set_cookie("session", "abc", { http_only = true, path = "/" })
--   return res

local json = require "crater.json"

local type, tostring, setmetatable, error, pairs = type, tostring, setmetatable, error, pairs
local find, lower, format = string.find, string.lower, string.format
local json_encode = json.encode
local c_encode = require("crater._json").encode -- per answer: no wrapper

local _M = { version = "0.1.0" }

local Response = {}
local mt = { __index = Response }
_M.mt = mt

--- Creates a response. body: string (text/plain), table (JSON) or nil.
---@param body? string|table
---@param status? integer default 200
---@param headers? table<string, string|string[]>
---@return table res
function _M.new(body, status, headers)
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
  self.content_type = self.content_type or "application/json"
  return self
end

--- Sets a text body (text/plain unless a Content-Type is set).
---@param s string
---@return table res
function Response:text(s)
  self.body = tostring(s)
  self.content_type = self.content_type or "text/plain; charset=utf-8"
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
  local res = _M.new(nil, status, headers)
  res._stream = fn
  return res
end

-- A status the core cannot send is an error (the handler answered wrongly);
-- Node and Go refuse these too, and 200.5 would go out as 200.
function _M._check_status(status)
  if type(status) ~= "number" or status < 100 or status > 999 or status % 1 ~= 0 then
    error(format("a handler answered with status %s (an HTTP status is an integer from 100 to 999)",
      tostring(status)), 0)
  end
end

-- (status, body, content_type, flat headers) for the C core.
function Response:_finish()
  _M._check_status(self.status)
  local body, ctype = self.body, self.content_type
  local t = type(body)
  if t == "table" or t == "number" or t == "boolean" then
    body = c_encode(body)
    ctype = ctype or "application/json"
  elseif t == "string" then
    ctype = ctype or "text/plain; charset=utf-8"
  elseif body == nil then
    body = ""
  else
    error("response body must be a string or a table, not " .. t, 0)
  end
  local h = self._h
  return self.status, body, ctype, (#h > 0) and h or nil
end

return _M
