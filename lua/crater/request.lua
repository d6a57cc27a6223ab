--- crater.request: the request object a handler receives.
--
-- Built once per request from what the C core passes (method, path, raw
-- query, and a handle on the connection). Everything that costs something to
-- build -- parsed query, headers table, body, remote address -- is computed on
-- first access and cached in the object, so a handler pays only for what it
-- reads.

local host = require "crater.host"
local json = require "crater.json"
local cookie_parse = require("crater.cookie").parse
local session_load = require("crater.session").load
local form = require "crater.form"

local setmetatable, rawset, rawget, type = setmetatable, rawset, rawget, type
local char, find, gsub, lower, sub = string.char, string.find, string.gsub, string.lower, string.sub
local tonumber, format = tonumber, string.format
local utf8_error = require("crater._json").utf8_error
local host_header, host_headers, host_body, host_remote = host.header, host.headers, host.body, host.remote

local _M = { version = "0.1.0" }

local function unescape(s)
  if find(s, "+", 1, true) then s = gsub(s, "+", " ") end
  if find(s, "%", 1, true) then
    s = gsub(s, "%%(%x%x)", function(h) return char(tonumber(h, 16)) end)
  end
  return s
end
_M.unescape = unescape

-- Where decoded text is not valid UTF-8: nil, or the 1-based offset of
-- the first bad byte. Plain ASCII (nearly every key and value) costs one find.
local function bad_utf8(s)
  if not find(s, "[\128-\255]") then return nil end
  return utf8_error(s)
end
_M.bad_utf8 = bad_utf8

--- Parses "a=1&b=2&a=3" into { a = {"1", "3"}, b = "2" }: a key seen once is a
--- string, a repeated key an array of strings in order; "flag" alone is "".
--- A key or value that is not valid UTF-8 once decoded is kept, and the
--- first such key is returned second (with the byte offset third), for
--- the caller to refuse.
---@param q string
---@return table<string, string|string[]> t
---@return string|nil bad_key
---@return integer|nil offset
function _M.parse_query(q)
  local t = {}
  if q == nil or q == "" then return t end
  local pos, n = 1, #q
  local bad, bad_at
  while pos <= n do
    local amp = find(q, "&", pos, true) or n + 1
    if amp > pos then
      local pair = sub(q, pos, amp - 1)
      local eq = find(pair, "=", 1, true)
      local k, v
      if eq then k, v = unescape(sub(pair, 1, eq - 1)), unescape(sub(pair, eq + 1))
      else k, v = unescape(pair), "" end
      if bad == nil then
        local at = bad_utf8(k)
        if at then bad, bad_at = k, at
        else
          at = bad_utf8(v)
          if at then bad, bad_at = k, at end
        end
      end
      local old = t[k]
      if old == nil then t[k] = v
      elseif type(old) == "table" then old[#old + 1] = v
      else t[k] = { old, v } end
    end
    pos = amp + 1
  end
  return t, bad, bad_at
end

-- A name as a message shows it: printable ASCII as is, any other byte as
-- \xHH (the text is not valid UTF-8, and the answer is JSON).
local function shown(s)
  return (gsub(s, "[^\32-\126]", function(c) return format("\\x%02X", c:byte()) end))
end
_M.shown = shown

--- The 400 a request gets for percent-decoded text that is not UTF-8:
--- `where` names the part ("query parameter", "path parameter", "form
--- field"), `name` the key, `at` the byte offset.
function _M.refuse_utf8(where, name, at)
  error({ crater_http_error = true, status = 400,
          detail = format('%s "%s" is not valid UTF-8 once percent-decoded (byte %d)', where, shown(name), at) },
    0)
end

-- Header lookups ignore case: req.headers["Content-Type"] works too.
local headers_mt = {
  __index = function(t, k)
    if type(k) ~= "string" then return nil end
    local lk = lower(k)
    if lk == k then return nil end
    return rawget(t, lk)
  end,
}

local function build_headers(conn, seq)
  local flat = host_headers(conn, seq)
  local t = {}
  for i = 1, #flat, 2 do
    local k, v = lower(flat[i]), flat[i + 1]
    local old = t[k]
    if old == nil then t[k] = v
    elseif k == "cookie" then t[k] = old .. "; " .. v
    else t[k] = old .. ", " .. v end
  end
  return setmetatable(t, headers_mt)
end

local lazy = {
  query = function(r)
    local t, bad, at = _M.parse_query(r.raw_query)
    if bad then _M.refuse_utf8("query parameter", bad, at) end
    return t
  end,
  headers = function(r) return build_headers(r._conn, r._seq) end,
  body = function(r) return host_body(r._conn, r._seq) end,
  remote_addr = function(r) return host_remote(r._conn, r._seq) end,
  -- RFC 6265 5.4; every Cookie field, joined with "; " (as build_headers does)
  cookies = function(r)
    local h = rawget(r, "headers")
    if h then return cookie_parse(h.cookie) end
    return cookie_parse(host_header(r._conn, r._seq, "cookie", "; "))
  end,
  -- nil unless the app has sessions (crater.session's before hook sets _sess)
  session = function(r)
    local st = rawget(r, "_sess")
    if st == nil then return nil end
    return session_load(r, st)
  end,
  form = function(r) return form.fields(r, _M) end,
  files = function(r) return form.files(r, _M) end,
}

local Request = {}

local request_mt = {
  __index = function(r, k)
    local m = Request[k]
    if m ~= nil then return m end
    local f = lazy[k]
    if f == nil then return nil end
    local v = f(r)
    rawset(r, k, v)
    return v
  end,
  -- `req.session = nil` (or a new table) before the session was read: noted
  -- for crater.session, which cannot see an assignment that stores nothing
  __newindex = function(r, k, v)
    if k == "session" then rawset(r, "_session_set", true) end
    rawset(r, k, v)
  end,
}

--- Value of one request header (case-insensitive), repeated fields joined
--- with ", "; nil when absent.
---@param name string
---@return string|nil
function Request:header(name)
  local h = rawget(self, "headers")
  if h then return h[lower(name)] end
  return host_header(self._conn, self._seq, name)
end

--- The body decoded as JSON. Raises a 400 error (answered as problem+json)
--- when the body is not valid JSON.
---@return any
function Request:json()
  local cached = rawget(self, "_json")
  if cached ~= nil then return cached end
  local body = self.body
  local v, err, offset = json.decode(body)
  if v == nil and err ~= nil then
    -- the same answer as a route with a body schema gives
    error({ crater_http_error = true, status = 400, detail = "malformed JSON body: " .. err,
            extra = { offset = offset } }, 0)
  end
  rawset(self, "_json", v)
  return v
end

--- Creates the request object for one call of the dispatcher. `route` is
--- the matched route record (nil when none matched); `big` asks for room
--- for the fields a route with a body schema adds (body, raw_body, _json),
--- so filling them does not grow the table.
--
-- The constructors have constant keys and values, so LuaJIT copies them
-- from a template (keys hashed once, at load) and the stores below hit
-- existing slots. The lazy fields' slots are emptied again: a nil value
-- still sends req.body to __index, and a later rawset reuses the slot.
function _M.new(method, path, raw_query, params, conn, seq, route, big)
  local r
  if big then
    r = { method = false, path = false, raw_query = false, params = false, _conn = false,
          _seq = false, route = false, body = false, raw_body = false, _json = false }
    r.body, r.raw_body, r._json = nil, nil, nil
  else
    r = { method = false, path = false, raw_query = false, params = false, _conn = false,
          _seq = false, route = false }
  end
  r.method, r.path, r.raw_query, r.params, r._conn, r._seq, r.route =
    method, path, raw_query, params, conn, seq, route
  return setmetatable(r, request_mt)
end

--- Request:header as a plain function, header(req, name): for the
--- framework's own per-request lookups, which skip the method lookup.
_M.header = Request.header

--- The metatable of request (and crater.test response) header tables:
--- lookups ignore case.
_M.headers_mt = headers_mt

return _M
