--- crater.test: a test client that sends requests to an app without a
--- socket, through the C core's injection path (crater_inject): the same URL
--- splitting, routing, hooks, error handlers and refusals as a request read
--- from a socket, minus the HTTP framing.
--
--   local app = dofile("examples/hello/app.lua")
--   local client = require("crater.test").client(app)
--   local res = client:get("/hello/you")
--   assert(res.status == 200 and res.body == "Hello, you!\n")
--   res = client:post("/notes", { json = { text = "hi" } })
--   assert(res:json().id == 1)
--
-- It needs the C core's crater.host, so it runs inside a Crater VM: a spec
-- run with `crater test spec.lua`, or code inside a served app. See
-- docs/embedding.md ("Testing without a socket").

local host = require "crater.host"
local app_mod = require "crater.app"
local json = require "crater.json"

local type, pairs, ipairs, tostring, error = type, pairs, ipairs, tostring, error
local setmetatable, getmetatable, rawget = setmetatable, getmetatable, rawget
local lower, upper, gsub, format = string.lower, string.upper, string.gsub, string.format
local concat, sort = table.concat, table.sort
local inject = host.inject

local _M = { version = "0.1.0" }

local Client = {}
Client.__index = Client

local Response = {}
Response.__index = Response

--- The body decoded as JSON; raises an error naming the status and body
--- when it is not JSON.
---@return any
function Response:json()
  local v, err = json.decode(self.body)
  if v == nil and err ~= nil then
    error(format("response %d is not JSON (%s): %s", self.status, err, self.body:sub(1, 200)), 2)
  end
  return v
end

--- Every value of a response header (case-insensitive), in order.
---@param name string
---@return string[]
function Response:header_values(name)
  local ln, out = lower(name), {}
  local flat = self.header_list
  for i = 1, #flat, 2 do
    if lower(flat[i]) == ln then out[#out + 1] = flat[i + 1] end
  end
  return out
end

-- res.headers["Content-Type"] and res.headers["content-type"] both work.
local headers_mt = require("crater.request").headers_mt -- case-insensitive lookups

local function new_response(status, body, flat, truncated)
  local h = {}
  for i = 1, #flat, 2 do
    local k = lower(flat[i])
    h[k] = h[k] and (h[k] .. ", " .. flat[i + 1]) or flat[i + 1]
  end
  return setmetatable({
    status = status, body = body, headers = setmetatable(h, headers_mt),
    header_list = flat, truncated = truncated,
  }, Response)
end

local function escape(s)
  return (gsub(tostring(s), "[^%w%-%._~]", function(c) return format("%%%02X", c:byte()) end))
end

-- A query table in a stable (sorted) order, so URLs in failures are readable.
local function encode_query(q)
  local keys = {}
  for k in pairs(q) do keys[#keys + 1] = k end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = q[k]
    if type(v) == "table" then
      for _, one in ipairs(v) do parts[#parts + 1] = escape(k) .. "=" .. escape(one) end
    else
      parts[#parts + 1] = escape(k) .. "=" .. escape(v)
    end
  end
  return concat(parts, "&")
end

-- A multipart/form-data body of the fields (as encode_query takes them)
-- and the files ({ name =, filename =, content_type =, data = }).
local function encode_multipart(fields, files)
  local boundary = "crater-test-boundary-7e3c1f"
  local parts = {}
  local keys = {}
  for k in pairs(fields or {}) do keys[#keys + 1] = k end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local v = fields[k]
    for _, one in ipairs(type(v) == "table" and v or { v }) do
      parts[#parts + 1] = 'Content-Disposition: form-data; name="' .. tostring(k) .. '"\r\n\r\n' .. tostring(one)
    end
  end
  for i, f in ipairs(files) do
    if type(f) ~= "table" or type(f.name) ~= "string" or type(f.data) ~= "string" then
      error("files[" .. i .. "] must be a table with a name and data (strings)", 3)
    end
    parts[#parts + 1] = 'Content-Disposition: form-data; name="' .. f.name .. '"; filename="'
      .. (f.filename or f.name) .. '"\r\nContent-Type: ' .. (f.content_type or "application/octet-stream")
      .. "\r\n\r\n" .. f.data
  end
  local out = {}
  for i, p in ipairs(parts) do out[i] = "--" .. boundary .. "\r\n" .. p .. "\r\n" end
  out[#out + 1] = "--" .. boundary .. "--\r\n"
  return concat(out), "multipart/form-data; boundary=" .. boundary
end

--- Creates a client. `app` is an app object (crater.app{...}) in this VM;
--- without it the client talks to the server's loaded application.
---@param app? table
---@param opts? { headers?: table<string, string> } headers sent with every request
---@return table client
function _M.client(app, opts)
  if app ~= nil and getmetatable(app) ~= app_mod.App then
    error("crater.test.client: expects an app (crater.app{...}) or nil, got " .. type(app), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then error("crater.test.client: options must be a table", 2) end
  return setmetatable({
    _dispatch = app and app_mod.entry(app, "crater.test") or nil,
    headers = opts and opts.headers or {},
  }, Client)
end

--- Sends one request. opts: headers (name -> value), query (table, appended
--- to the path), body (string), json (any value: sent as the body with
--- Content-Type: application/json), form (name -> value or array of values:
--- an application/x-www-form-urlencoded body, or with files a multipart
--- one), files (an array of { name, data, filename?, content_type? }: a
--- multipart/form-data body).
---@param method string
---@param path string origin form, may carry a query: "/items?limit=2"
---@param opts? { headers?: table<string, string>, query?: table, body?: string, json?: any, form?: table, files?: table[] }
---@return { status: integer, headers: table<string, string>, body: string, json: fun(self): any }
function Client:request(method, path, opts)
  if type(method) ~= "string" then error("method must be a string", 2) end
  if type(path) ~= "string" then error("path must be a string", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("request options must be a table", 2) end
  opts = opts or {}
  local flat, seen = {}, {}
  local body = opts.body
  if opts.json ~= nil then
    if body ~= nil then error("give body or json, not both", 2) end
    body = json.encode(opts.json)
    flat[1], flat[2] = "Content-Type", "application/json"
    seen["content-type"] = true
  end
  if opts.form ~= nil or opts.files ~= nil then
    if body ~= nil then error("give body, json or form/files, not two of them", 2) end
    local ctype
    if opts.files ~= nil then body, ctype = encode_multipart(opts.form, opts.files)
    else body, ctype = encode_query(opts.form), "application/x-www-form-urlencoded" end
    flat[1], flat[2] = "Content-Type", ctype
    seen["content-type"] = true
  end
  for _, hs in ipairs({ opts.headers or {}, self.headers }) do
    for k, v in pairs(hs) do
      if not seen[lower(k)] then
        seen[lower(k)] = true
        flat[#flat + 1], flat[#flat + 2] = k, tostring(v)
      end
    end
  end
  if opts.query ~= nil then
    local q = encode_query(opts.query)
    if q ~= "" then path = path .. (path:find("?", 1, true) and "&" or "?") .. q end
  end
  if body ~= nil and type(body) ~= "string" then error("body must be a string (use json = ... for tables)", 2) end
  local status, rbody, rflat, truncated = inject(self._dispatch, upper(method), path, flat, body)
  return new_response(status, rbody, rflat, truncated)
end

for _, m in ipairs({ "get", "post", "put", "patch", "delete", "head", "options" }) do
  local M = upper(m)
  Client[m] = function(self, path, opts)
    return self:request(M, path, opts)
  end
end

return _M
