--- crater.schema.runtime: what the generated validators and shapers call
--- at run time, and the loading of their source.
--
-- Generated code reaches these through the locals its prelude binds (from
-- the one list HELPERS below, so the names cannot drift apart). The error
-- path keeps allocation low: error records are made at compile time and
-- shared (see crater.schema.compile), so these helpers copy a record or a
-- list before they would change it.

local values = require "crater.schema.values"

local type, next, error, load, setmetatable, getmetatable = type, next, error, load, setmetatable, getmetatable
local floor, abs, huge, fmod = math.floor, math.abs, math.huge, math.fmod
local byte, find, gsub, tonumber, tostring = string.byte, string.find, string.gsub, tonumber, tostring
local concat = table.concat
local new_tab = (function()
  local ok, f = pcall(require, "table.new")
  return ok and f or function() return {} end
end)()
local equal = values.equal

local _M = { version = "0.2.0" }

--- A key as a JSON Pointer segment (RFC 6901: `~` is `~0`, `/` is `~1`).
---@param k any
---@return string
local function esc(k)
  k = tostring(k)
  if find(k, "[~/]") then k = gsub(gsub(k, "~", "~0"), "/", "~1") end
  return k
end
_M.esc = esc

-- With all_errors = false a function that fails returns a list made at
-- compile time, one per place that can fail, so stopping at the first
-- error allocates nothing. Those lists are read-only: code that would
-- change one copies it first (prefix, the anyOf/oneOf branch errors), and
-- this metatable makes a caller's append an error rather than a change
-- every later validation would see.
local shared_list_mt = {
  __newindex = function()
    error("crater.schema: the error list of a validator with all_errors = false is shared and "
      .. "read-only; copy it to change it", 2)
  end,
}

--- The shared read-only one-record list of `r` (all_errors = false).
---@param r crater.schema.error
---@return crater.schema.error[]
local function shared_list(r)
  return setmetatable({ r }, shared_list_mt)
end
_M.shared_list = shared_list

-- Records may be shared: a longer pointer means a new record, never a
-- changed one. Returns the list, a new one when E is a shared list.
local function prefix(E, from, seg)
  if getmetatable(E) == shared_list_mt then
    local own = {}
    for i = 1, #E do own[i] = E[i] end
    E = own
  end
  for i = from + 1, #E do
    local r = E[i]
    E[i] = { pointer = seg .. r.pointer, keyword = r.keyword, message = r.message }
  end
  return E
end

-- The record of array index i at a site whose pointer has one index:
-- C = { p = before, s = after, k = keyword, m = message, max = last index
-- kept }. Made on the first error there and kept in C[i].
local function index_record(C, i)
  local r = { pointer = C.p .. (i - 1) .. C.s, keyword = C.k, message = C.m }
  if i <= C.max then C[i] = r end
  return r
end

-- The shared one-record list of index i (all_errors = false), made on the
-- first error there; L.rec is the site's record cache (index_record).
local function index_list(L, i)
  local l = shared_list(L.rec[i] or index_record(L.rec, i))
  if i <= L.rec.max then L[i] = l end
  return l
end

-- Unicode code points in a UTF-8 string: bytes that are not continuation bytes.
local function ulen(s)
  local n = 0
  for i = 1, #s do
    local b = byte(s, i)
    if b < 0x80 or b >= 0xC0 then n = n + 1 end
  end
  return n
end

-- true, or false and the 1-based indexes of the first two equal items.
local function unique(a)
  local n = #a
  for i = 1, n - 1 do
    local x = a[i]
    for j = i + 1, n do
      local y = a[j]
      if x == y or (type(x) == "table" and type(y) == "table" and equal(x, y)) then
        return false, i, j
      end
    end
  end
  return true
end

-- Strings as query/path/header values give numbers when they are written the
-- way JSON writes numbers (no hex, no "inf", no spaces).
local function str_number(s)
  if not find(s, "^%-?%d+%.?%d*[eE]?[-+]?%d*$") and not find(s, "^%-?%.%d+$") then return nil end
  local n = tonumber(s)
  if n == nil or n ~= n or n == huge or n == -huge then return nil end
  return n
end

-- multipleOf with a fraction (an integer divisor is an exact fmod in the
-- generated code).
local function multiple_of(v, m)
  local q = v / m
  -- A quotient past the doubles (1e308 / 0.5): fmod is exact, and finite.
  if q == huge or q == -huge then return fmod(v, m) == 0 end
  if q ~= q then return false end
  if q == floor(q) then return true end
  -- Binary floating point: 0.0075 / 0.0001 is 74.99999999999999. A quotient
  -- within 1e-9 of an integer counts (ajv's multipleOfPrecision idea).
  local r = abs(q - floor(q + 0.5))
  return r < 1e-9 * (abs(q) > 1 and abs(q) or 1)
end

-- The shaper's list of dropped pointers.
local function drop(D, p)
  if D == nil then D = {} end
  D[#D + 1] = p
  return D
end

local function prefix_list(D, from, seg)
  for i = from + 1, #D do D[i] = seg .. D[i] end
end

-- $dynamicRef: the first (outermost) resource in the dynamic scope's
-- stack DS that `pick` has an entry for (resource number -> F index).
local function dyn(DS, pick)
  for i = 1, DS.n do
    local f = pick[DS[i]]
    if f then return f end
  end
  return nil
end

-- Name, value: the locals of every generated chunk, in this order.
local HELPERS = {
  "type", type, "next", next, "getmetatable", getmetatable, "setmetatable", setmetatable,
  "floor", floor, "fmod", fmod, "new_tab", new_tab,
  "null", values.null, "AMT", values.array_mt, "is_array", values.is_array,
  "is_object", values.is_object, "is_seq", values.is_seq, "deq", equal, "copy", values.copy,
  "mark", values.mark, "shallow", values.shallow,
  "esc", esc, "prefix", prefix, "irec", index_record, "ilist", index_list,
  "ulen", ulen, "unique", unique, "str_number", str_number, "multiple_of", multiple_of,
  "drop", drop, "prefix_list", prefix_list, "dyn", dyn,
}

local R, prelude = {}, { "local R, K, F = ..." }
do
  local line_names, line_values = {}, {}
  for i = 1, #HELPERS, 2 do
    local name = HELPERS[i]
    R[name] = HELPERS[i + 1]
    line_names[#line_names + 1] = name
    line_values[#line_values + 1] = "R." .. name
    if #line_names == 6 or i + 2 > #HELPERS then
      prelude[#prelude + 1] = "local " .. concat(line_names, ", ") .. " = " .. concat(line_values, ", ")
      line_names, line_values = {}, {}
    end
  end
end

--- The helpers by name, as generated code receives them (its `R`).
_M.helpers = R

--- The first lines of every generated chunk: `R, K, F` from the chunk's
--- arguments (helpers, constants, functions), then a local per helper.
_M.prelude = concat(prelude, "\n")

--- Loads generated source and runs it with the helpers, the constants `K`
--- and a new function table, which it returns (its F[n] are the functions).
--- A load error is a bug of the compiler, never of the schema.
---@param src string
---@param name string chunk name (shows in tracebacks)
---@param K table constants of the chunk
---@return table<integer, function>
function _M.load(src, name, K)
  local f, e = load(src, "=" .. name)
  if not f then error("crater.schema: generated code does not load (a bug): " .. e, 0) end
  local F = {}
  f(R, K, F)
  return F
end

return _M
