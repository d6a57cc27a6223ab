--- crater.problem: the problem+json format (RFC 9457) Crater answers errors
--- with: building a problem (`new`), encoding it (`encode`), and the same
--- format described as JSON Schema (`Problem`, `ValidationError`).
--
-- crater.errors answers with these bodies; crater.route_schema adds the
-- `errors` of a 422 and the `offset` of a 400. The schemas are what the
-- OpenAPI document declares for those answers, and spec/e2e/test_openapi.py
-- validates real answers against them, so the two cannot drift apart.

local json = require "crater.json"

local type, pairs, tostring, pcall, getmetatable = type, pairs, tostring, pcall, getmetatable
local concat, sort = table.concat, table.sort
local array, array_mt = json.array, json.array_mt
-- the codec itself, for the calls made on every answer: one Lua frame less
local c_encode = require("crater._json").encode

local _M = { version = "0.1.0" }

_M.CONTENT_TYPE = "application/problem+json"

-- --------------------------------------------------------------------------
-- Problems as JSON text
-- --------------------------------------------------------------------------

-- Every status's reason phrase, from the list the C core writes status
-- lines from (http.h's CRATER_HTTP_STATUS_MAP, through status.c): one table,
-- so a problem's title is always its status line's phrase.
local TITLES = require "crater._status"

-- The members of a problem in the order RFC 9457 lists them; extensions
-- follow in name order, so the same problem always encodes the same way.
local PROBLEM_KEYS = { "type", "title", "status", "detail", "instance" }
local PROBLEM_SET = { type = true, title = true, status = true, detail = true, instance = true }

-- '"type":"about:blank","title":"...","status":N' per status: most problems
-- start so, and JSON-encoding those three members one call at a time was
-- most of the cost of answering a 404 or a 422.
local heads = {}

-- Validation errors print their members in one order (in, pointer, message,
-- keyword, then any others sorted), so answers are stable and diffable.
local ERROR_KEYS = { "in", "pointer", "message", "keyword" }
local ERROR_SET = { ["in"] = true, pointer = true, message = true, keyword = true }

-- The JSON text of short strings problems repeat (titles, details,
-- pointers, messages, keywords): a table lookup instead of a call into the
-- encoder. Bounded: emptied when full; long strings are not kept.
local str_json, str_json_n = {}, 0

local function enc(v)
  if type(v) ~= "string" or #v > 96 then return c_encode(v) end
  local j = str_json[v]
  if j == nil then
    j = c_encode(v)
    if str_json_n >= 512 then str_json, str_json_n = {}, 0 end
    str_json_n = str_json_n + 1
    str_json[v] = j
  end
  return j
end

local encode_errors -- below; it and encode_members call each other

-- A problem or one of its errors in the general case: the members `keys`
-- lists, in that order, when present; then the others in name order (a
-- problem's `errors` through encode_errors). nil when those names cannot be
-- sorted (a number beside a string).
local function encode_members(t, keys, known, is_problem)
  local parts, n = {}, 0
  for i = 1, #keys do
    local k = keys[i]
    if t[k] ~= nil then n = n + 1; parts[n] = '"' .. k .. '":' .. enc(t[k]) end
  end
  local extra, m = nil, 0
  for k in pairs(t) do
    if not known[k] then
      m = m + 1
      if m == 1 then extra = { k } else extra[m] = k end
    end
  end
  if m > 1 and not pcall(sort, extra) then return nil end
  for i = 1, m do
    local k = extra[i]
    local v = t[k]
    n = n + 1
    if is_problem and k == "errors" and type(v) == "table" then
      parts[n] = '"errors":' .. encode_errors(v)
    else
      parts[n] = enc(tostring(k)) .. ":" .. enc(v)
    end
  end
  return "{" .. concat(parts, ",") .. "}"
end

function encode_errors(list)
  local mt = getmetatable(list)
  if mt ~= nil and mt ~= array_mt then return c_encode(list) end
  local n = #list
  local out = n > 1 and {} or nil
  local one
  for i = 1, n do
    local e = list[i]
    if type(e) ~= "table" then return c_encode(list) end
    local ein, ptr, msg, kw = e["in"], e.pointer, e.message, e.keyword
    local s
    if ein ~= nil and ptr ~= nil and msg ~= nil and kw ~= nil then
      -- nearly every error: the four members and nothing else
      for k in pairs(e) do
        if not ERROR_SET[k] then s = false; break end
      end
      if s == nil then
        s = '{"in":' .. enc(ein) .. ',"pointer":' .. enc(ptr) .. ',"message":' .. enc(msg)
          .. ',"keyword":' .. enc(kw) .. "}"
      end
    end
    if not s then
      s = encode_members(e, ERROR_KEYS, ERROR_SET, false)
      if s == nil then return c_encode(list) end
    end
    if out then out[i] = s else one = s end
  end
  if out then return "[" .. concat(out, ",") .. "]" end
  if one then return "[" .. one .. "]" end
  return "[]"
end

-- Any problem: members in RFC order when present, extensions sorted.
local function encode_general(p)
  return encode_members(p, PROBLEM_KEYS, PROBLEM_SET, true) or c_encode(p)
end

-- The problems Crater answers itself: about:blank, the status's own title,
-- at most one extension (errors, offset, traceback). Built with one
-- concatenation, no tables.
local function encode(p)
  local status = p.status
  if p.type ~= "about:blank" or type(status) ~= "number" or p.title == nil
    or p.title ~= TITLES[status] then
    return encode_general(p)
  end
  local ext
  for k in pairs(p) do
    if not PROBLEM_SET[k] then
      if ext ~= nil then return encode_general(p) end
      ext = k
    end
  end
  local head = heads[status]
  if head == nil then
    head = '"type":"about:blank","title":' .. enc(p.title) .. ',"status":' .. c_encode(status)
    heads[status] = head
  end
  local detail, instance = p.detail, p.instance
  local dk, dv, ik, iv, xk, xv = "", "", "", "", "", ""
  if detail ~= nil then dk, dv = ',"detail":', enc(detail) end
  if instance ~= nil then ik, iv = ',"instance":', enc(instance) end
  if ext ~= nil then
    local v = p[ext]
    if ext == "errors" and type(v) == "table" then
      xk, xv = ',"errors":', encode_errors(v)
    else
      xk, xv = "," .. enc(ext) .. ":", enc(v)
    end
  end
  return "{" .. head .. dk .. dv .. ik .. iv .. xk .. xv .. "}"
end

--- The JSON text of a problem table: members in RFC 9457's order, then the
--- extensions in name order (a 422's `errors` entries likewise: in,
--- pointer, message, keyword, then the rest), so one problem always
--- encodes to the same text.
---@param p table
---@return string
_M.encode = encode

--- The reason phrase of every status the core knows ([418] = "I'm a teapot"):
--- problem titles, status lines and OpenAPI response descriptions.
---@type table<integer, string>
_M.TITLES = TITLES

--- A problem (RFC 9457) as a Lua table: about:blank, the status's title,
--- `detail`, and the members of `extra` (errors, offset, traceback, ...).
---@param status integer
---@param detail? string
---@param extra? table
---@return table
function _M.new(status, detail, extra)
  local p = { type = "about:blank", title = TITLES[status] or "Error", status = status, detail = detail }
  if extra then for k, v in pairs(extra) do p[k] = v end end
  return p
end

-- --------------------------------------------------------------------------
-- The format as JSON Schema
-- --------------------------------------------------------------------------

--- One entry of a 422's `errors`: where the bad value was, a JSON Pointer to
--- it inside that part, and what is wrong with it.
_M.ValidationError = {
  type = "object",
  required = array { "in", "pointer", "message" },
  properties = {
    ["in"] = { type = "string", enum = array { "params", "query", "headers", "body" },
               description = "the part of the request holding the bad value" },
    pointer = { type = "string", description = "JSON Pointer (RFC 6901) to the value within that part" },
    message = { type = "string" },
    keyword = { type = "string", description = "the JSON Schema keyword that failed" },
  },
}

--- The body of every error Crater answers itself (400, 404, 405, 413, 415,
--- 422, 500, ...) unless the app installs its own error handler.
_M.Problem = {
  type = "object",
  description = "An error, as RFC 9457 problem details",
  required = array { "type", "title", "status" },
  properties = {
    type = { type = "string", description = "a URI naming the problem type; about:blank when it is only the status" },
    title = { type = "string", description = "the status's reason phrase" },
    status = { type = "integer", minimum = 100, maximum = 599 },
    detail = { type = "string", description = "what went wrong with this request" },
    instance = { type = "string" },
    errors = { type = "array", items = _M.ValidationError,
               description = "422: every invalid value in the request, not only the first" },
    offset = { type = "integer", minimum = 1,
               description = "400 for malformed JSON: the 1-based byte offset of the error in the body" },
  },
}

return _M
