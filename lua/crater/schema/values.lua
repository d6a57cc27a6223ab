--- crater.schema.values: JSON values in Lua, as crater.schema reads them.
--
-- null is `json.null` (a lightuserdata, lua-cjson's cjson.null too); an
-- array is a table with `json.array_mt` (crater.json's decode marks every
-- array) or a non-empty table with keys 1..n; anything else that is a table
-- is an object. Without crater.json (stock luajit with Debian's lua-cjson
-- 2.1.0, whose decode marks nothing) an empty unmarked table cannot be told
-- apart, so it is accepted as both an array and an object: see "Null and
-- arrays" in docs/schemas.md. Every other schema module takes these from
-- here, so they all speak the same flavour.

local type, next, pcall, require = type, next, pcall, require
local setmetatable, getmetatable = setmetatable, getmetatable

local _M = { version = "0.2.0" }

local null, array_mt, marked
do
  local ok, cj = pcall(require, "crater.json")
  if ok then
    null, array_mt, marked = cj.null, cj.array_mt, true
  else
    local ok2, cjson = pcall(require, "cjson")
    if ok2 then
      null = cjson.null
      array_mt = cjson.array_mt                 -- OpenResty's lua-cjson has one
      marked = array_mt ~= nil and cjson.decode_array_with_array_mt ~= nil
      if marked then cjson.decode_array_with_array_mt(true) end
    end
    null = null or setmetatable({}, { __tostring = function() return "null" end })
    array_mt = array_mt or { __name = "crater.schema.array" }
  end
end

--- The value JSON null is (crater.json.null / cjson.null).
_M.null = null
--- The metatable that marks a table as a JSON array.
_M.array_mt = array_mt
--- True when decoded arrays carry `array_mt`, so `[]` and `{}` differ.
_M.marked = marked == true

--- Marks `t` as a JSON array and returns it.
---@generic T: table
---@param t T
---@return T
function _M.mark(t) return setmetatable(t, array_mt) end

--- A table that is a sequence 1..n with no other keys. Without a marking
--- decoder an empty table counts too (it may have been `[]`).
---@param t table
---@return boolean
local function is_seq(t)
  local n = #t
  if n == 0 then return not marked and next(t) == nil end
  local c = 0
  for _ in next, t do c = c + 1 end
  return c == n
end
_M.is_seq = is_seq

--- Whether `x` is a JSON array.
---@param x any
---@return boolean
local function is_array(x)
  if type(x) ~= "table" then return false end
  local mt = getmetatable(x)
  if mt == array_mt then return true end
  return is_seq(x)
end
_M.is_array = is_array

--- Whether `x` is a JSON object.
---@param x any
---@return boolean
function _M.is_object(x)
  if type(x) ~= "table" or getmetatable(x) == array_mt then return false end
  return x[1] == nil or not is_seq(x)
end

--- Deep equality with JSON's meaning: 1 == 1.0, [] ~= {}, key order ignored.
---@param a any
---@param b any
---@return boolean
local function equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  local aa, ba = is_array(a), is_array(b)
  if aa ~= ba then
    -- Without marks an empty table may have been [] or {}: equal to both.
    return not marked and next(a) == nil and next(b) == nil
  end
  if aa then
    local n = #a
    if #b ~= n then return false end
    for i = 1, n do
      if not equal(a[i], b[i]) then return false end
    end
    return true
  end
  for k, v in next, a do
    local w = b[k]
    if w == nil or not equal(v, w) then return false end
  end
  for k in next, b do
    if a[k] == nil then return false end
  end
  return true
end
_M.equal = equal

--- A deep copy of `v` in which arrays stay arrays (for defaults, which no
--- two validations may share).
---@param v any
---@return any
local function copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in next, v do t[k] = copy(x) end
  if getmetatable(v) == array_mt then setmetatable(t, array_mt) end
  return t
end
_M.copy = copy

--- A copy of one level of `t`, still an array if `t` was one (the shaper's
--- copy on write).
---@param t table
---@return table
function _M.shallow(t)
  local c = {}
  for k, x in next, t do c[k] = x end
  if getmetatable(t) == array_mt then setmetatable(c, array_mt) end
  return c
end

return _M
