-- crater.json: JSON encode/decode with an exact round trip.
--
-- The codec is C (host/src/json.c, loaded as "crater._json"); this module
-- is its documented face. The rules -- which tables are arrays, what null
-- is, how numbers print, which errors mean what -- are in docs/json.md.
local core = require "crater._json"

local c_encode, c_decode, c_is_array = core.encode, core.decode, core.is_array
local array_mt = core.array_mt
local getmetatable, setmetatable, type, error = getmetatable, setmetatable, type, error

local _M = { version = "0.1.0" }

--- The value JSON `null` decodes to, and encodes from (so does `nil`).
--- A lightuserdata: `v == json.null` tests for it. The same value as
--- lua-cjson's `cjson.null`.
_M.null = core.null

--- The metatable that marks a table as a JSON array: decode gives it to
--- every array, and `json.array` sets it.
_M.array_mt = array_mt

--- Nested arrays/objects allowed, in both directions.
_M.max_depth = core.max_depth

-- The wrappers below end in tail calls, so errors raised by the C code
-- point at the caller's line, not at this file.

--- Encodes a Lua value as JSON text.
--- Raises an error naming what and where ("$.items[3].price") for values
--- JSON cannot hold: functions, userdata, NaN and infinities, invalid
--- UTF-8, keys that are not strings or numbers, nesting deeper than
--- `json.max_depth` (or a cycle).
---@param value any
---@return string
function _M.encode(value)
  return c_encode(value)
end

--- Decodes JSON text. Arrays come back as tables with `array_mt`, objects
--- as plain tables, `null` as `json.null`.
--- On malformed input returns nil, a message ending "at byte N", and N:
--- the 1-based position of the offending byte (`#text + 1` when the text
--- ends too early). Raises only when `text` is not a string.
---@param text string
---@return any value
---@return string|nil err
---@return integer|nil offset
function _M.decode(text)
  return c_decode(text)
end

--- Marks `t` (or a new empty table) as a JSON array, so it encodes as
--- `[...]` even when empty. Returns it.
---@param t? table
---@return table
function _M.array(t)
  if t == nil then return setmetatable({}, array_mt) end
  if type(t) ~= "table" then
    error("crater.json.array: table expected, got " .. type(t), 2)
  end
  local mt = getmetatable(t)
  if mt ~= nil and mt ~= array_mt then
    error("crater.json.array: the table already has a metatable", 2)
  end
  return setmetatable(t, array_mt)
end

--- True when `encode` would write `v` as a JSON array: a table with
--- `array_mt`, or a non-empty table whose keys are exactly 1..n.
---@param v any
---@return boolean
function _M.is_array(v)
  return c_is_array(v)
end

return _M
