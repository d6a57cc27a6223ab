--- crater.schema: JSON Schema 2020-12 for Lua -- a DSL that builds schema
--- tables, a validator compiler and a response shaper.
--
-- Both compile() and shaper() generate Lua source for the schema and load()
-- it once, the way ajv does for JavaScript: a request pays for the checks
-- its schema has, never for walking the schema. The rules (keywords, error
-- list, coercion, defaults, shaping, null and arrays, the regex dialect)
-- are in docs/schemas.md.
--
-- JSON values in Lua: null is `json.null` (a lightuserdata, lua-cjson's
-- cjson.null too); an array is a table with `json.array_mt` (crater.json's
-- decode marks every array) or a non-empty table with keys 1..n; anything
-- else that is a table is an object. Without crater.json (stock luajit with
-- Debian's lua-cjson 2.1.0, whose decode marks nothing) an empty unmarked
-- table cannot be told apart, so it is accepted as both an array and an
-- object: see "Null and arrays" in docs/schemas.md.

local regex = require "crater.regex"
local formats = require "crater.formats"

local type, pairs, ipairs, next, tostring, tonumber, error, select =
  type, pairs, ipairs, next, tostring, tonumber, error, select
local setmetatable, getmetatable, load, pcall = setmetatable, getmetatable, load, pcall
local floor, abs, huge = math.floor, math.abs, math.huge
local format, byte, find, gsub, sub = string.format, string.byte, string.find, string.gsub, string.sub
local concat, sort = table.concat, table.sort
local new_tab = (function()
  local ok, f = pcall(require, "table.new")
  return ok and f or function() return {} end
end)()

local _M = { version = "0.1.0" }

-- --------------------------------------------------------------------------
-- JSON flavour: which null and which array marker we speak
-- --------------------------------------------------------------------------

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

--- The value JSON null is (crater.json.null / cjson.null). (`s.null` is the DSL.)
_M.json_null = null
--- The metatable that marks a table as a JSON array.
_M.array_mt = array_mt
--- True when decoded arrays carry `array_mt`, so `[]` and `{}` differ.
_M.arrays_marked = marked

local function mark(t) return setmetatable(t, array_mt) end

-- A table that is a sequence 1..n with no other keys. Without a marking
-- decoder an empty table counts too (it may have been `[]`).
local function is_seq(t)
  local n = #t
  if n == 0 then return not marked and next(t) == nil end
  local c = 0
  for _ in next, t do c = c + 1 end
  return c == n
end

local function is_array(x)
  if type(x) ~= "table" then return false end
  local mt = getmetatable(x)
  if mt == array_mt then return true end
  return is_seq(x)
end

local function is_object(x)
  if type(x) ~= "table" or getmetatable(x) == array_mt then return false end
  return x[1] == nil or not is_seq(x)
end

_M.is_array, _M.is_object = is_array, is_object

-- Deep equality with JSON's meaning: 1 == 1.0, [] ~= {}, key order ignored.
local function deep_equal(a, b)
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
      if not deep_equal(a[i], b[i]) then return false end
    end
    return true
  end
  for k, v in next, a do
    local w = b[k]
    if w == nil or not deep_equal(v, w) then return false end
  end
  for k in next, b do
    if a[k] == nil then return false end
  end
  return true
end
_M.equal = deep_equal

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in next, v do t[k] = deep_copy(x) end
  local mt = getmetatable(v)
  if mt == array_mt then setmetatable(t, array_mt) end
  return t
end

-- --------------------------------------------------------------------------
-- The DSL: each function returns a plain JSON Schema table
-- --------------------------------------------------------------------------

-- Schemas given names with s.define, weakly, so a name never keeps a schema
-- alive and no app sees another's tables. This is the module's only state.
local names = setmetatable({}, { __mode = "k" })
local OPTIONAL = { __name = "crater.schema.optional" }

-- Keys whose values are JSON arrays: marked so they encode as [] when empty.
local ARRAY_KEYS = { required = true, enum = true, prefixItems = true, anyOf = true,
                     allOf = true, oneOf = true, examples = true, type = false }

local function with(base, opts, who)
  if opts ~= nil then
    if type(opts) ~= "table" then error(who .. ": options must be a table", 3) end
    for k, v in pairs(opts) do
      if base[k] == nil then base[k] = v end
    end
  end
  for k in pairs(ARRAY_KEYS) do
    local v = base[k]
    if type(v) == "table" and getmetatable(v) == nil then mark(v) end
  end
  return base
end

local function check_schema_arg(x, who, level)
  if type(x) ~= "table" and type(x) ~= "boolean" then
    error(who .. ": schema expected, got " .. type(x), level + 1)
  end
  if getmetatable(x) == OPTIONAL then
    error(who .. ": s.optional() only makes sense as a property of s.object", level + 1)
  end
  return x
end

local function scalar(t, who)
  return function(opts) return with({ type = t }, opts, who) end
end

local dsl = {}
_M.dsl = dsl

--- `{type="string"}` plus `opts` (minLength, maxLength, pattern, format, default, ...).
dsl.string = scalar("string", "s.string")
--- `{type="integer"}` plus `opts` (minimum, maximum, exclusiveMinimum, multipleOf, ...).
dsl.integer = scalar("integer", "s.integer")
--- `{type="number"}` plus `opts`.
dsl.number = scalar("number", "s.number")
--- `{type="boolean"}` plus `opts`.
dsl.boolean = scalar("boolean", "s.boolean")
--- `{type="null"}` plus `opts`.
dsl.null = scalar("null", "s.null")

--- Any value: `{}` plus `opts`.
---@param opts? table
function dsl.any(opts) return with({}, opts, "s.any") end

--- An array of `items`; `opts` adds minItems, maxItems, uniqueItems, default...
--- A `default` given as a Lua list (`{}` included) becomes a JSON array.
---@param items? table|boolean
---@param opts? table
function dsl.array(items, opts)
  local t = { type = "array" }
  if items ~= nil then t.items = check_schema_arg(items, "s.array", 2) end
  t = with(t, opts, "s.array")
  local d = t.default
  if type(d) == "table" and getmetatable(d) == nil and (next(d) == nil or is_seq(d)) then
    local copy = {}
    for i = 1, #d do copy[i] = d[i] end
    t.default = mark(copy)
  end
  return t
end

--- An object with these properties, all required except those wrapped in
--- s.optional() and those whose schema has a `default` (a client may leave
--- them out; compile's `defaults` option fills them in, as pydantic does).
--- `opts` adds additionalProperties, minProperties, ...
---@param props? table<string, table>
---@param opts? table
function dsl.object(props, opts)
  local properties, required = {}, {}
  if props ~= nil and type(props) ~= "table" then error("s.object: properties must be a table", 2) end
  for name, p in pairs(props or {}) do
    if type(name) ~= "string" then error("s.object: property names must be strings", 2) end
    if type(p) == "table" and getmetatable(p) == OPTIONAL then
      properties[name] = p[1]
    else
      properties[name] = check_schema_arg(p, "s.object: property '" .. name .. "'", 2)
      if type(p) ~= "table" or p.default == nil then required[#required + 1] = name end
    end
  end
  sort(required)
  local t = { type = "object", properties = properties }
  if #required > 0 then t.required = required end
  return with(t, opts, "s.object")
end

--- Marks an s.object property as not required.
---@param x table
function dsl.optional(x)
  return setmetatable({ check_schema_arg(x, "s.optional", 2) }, OPTIONAL)
end

--- One of these values (compared as JSON values).
---@param values any[]
---@param opts? table
function dsl.enum(values, opts)
  if type(values) ~= "table" then error("s.enum: a list of values expected", 2) end
  local e = {}
  for i = 1, #values do e[i] = values[i] end
  return with({ enum = mark(e) }, opts, "s.enum")
end

--- Exactly this value.
function dsl.const(v, opts)
  if v == nil then v = null end
  return with({ const = v }, opts, "s.const")
end

local function combinator(key, who)
  return function(list, opts)
    if type(list) ~= "table" then error(who .. ": a list of schemas expected", 2) end
    local l = {}
    for i = 1, #list do l[i] = check_schema_arg(list[i], who, 2) end
    return with({ [key] = mark(l) }, opts, who)
  end
end
dsl.any_of = combinator("anyOf", "s.any_of")
dsl.one_of = combinator("oneOf", "s.one_of")
dsl.all_of = combinator("allOf", "s.all_of")

--- Anything but what `x` accepts.
dsl["not"] = function(x, opts) return with({ ["not"] = check_schema_arg(x, "s.not", 2) }, opts, "s.not") end

--- `x` or null. A schema with one `type` gets `"null"` added to it (and to its
--- enum); others (named ones, combinators) become `anyOf: [x, {type: null}]`.
---@param x table
function dsl.nullable(x)
  check_schema_arg(x, "s.nullable", 2)
  if type(x) == "table" and type(x.type) == "string" and names[x] == nil and x.const == nil
      and x["$ref"] == nil then
    local t = {}
    for k, v in pairs(x) do t[k] = v end
    t.type = mark({ x.type, "null" })
    if x.enum then
      local e = mark({})
      for i = 1, #x.enum do e[i] = x.enum[i] end
      e[#e + 1] = null
      t.enum = e
    end
    return t
  end
  return { anyOf = mark({ x, { type = "null" } }) }
end

--- A reference to the named schema `name`: `{"$ref": "#/components/schemas/<name>"}`.
--- compile() resolves it through `opts.components`.
---@param name string
function dsl.ref(name)
  if type(name) ~= "string" then error("s.ref: a schema name expected", 2) end
  return { ["$ref"] = "#/components/schemas/" .. name }
end

--- Names a schema (for OpenAPI's components.schemas) and returns it.
---@param name string
---@param x table
---@return table
function dsl.define(name, x)
  if type(name) ~= "string" or not find(name, "^[%w%.%-_]+$") then
    error("s.define: name must match [A-Za-z0-9._-]+", 2)
  end
  check_schema_arg(x, "s.define", 2)
  if type(x) ~= "table" then error("s.define: a table schema expected", 2) end
  names[x] = name
  if x.title == nil then x.title = name end
  return x
end
dsl.named = dsl.define

--- The name given to `x` by s.define, or nil.
---@param x any
---@return string|nil
function _M.name_of(x) return names[x] end

--- Finds every named schema reachable from `roots` (a schema or a list of
--- schemas): a table name -> schema, for compile's `components`. Raises if
--- two different schemas share a name.
---@param ... table
---@return table<string, table>
function _M.collect(...)
  local out, seen = {}, {}
  local function walk(x)
    if type(x) ~= "table" or seen[x] then return end
    seen[x] = true
    local n = names[x]
    if n then
      if out[n] and out[n] ~= x then error("crater.schema: two schemas named '" .. n .. "'", 3) end
      out[n] = x
    end
    for k, v in pairs(x) do
      if k ~= "enum" and k ~= "const" and k ~= "default" and k ~= "examples" then walk(v) end
    end
  end
  for i = 1, select("#", ...) do walk((select(i, ...))) end
  return out
end

for k, f in pairs(dsl) do _M[k] = f end

-- --------------------------------------------------------------------------
-- Code generation: shared pieces
-- --------------------------------------------------------------------------

-- Runtime helpers the generated code receives.
local function esc(k)
  k = tostring(k)
  if find(k, "[~/]") then k = gsub(gsub(k, "~", "~0"), "/", "~1") end
  return k
end

local function add_error(E, pointer, keyword, message)
  if E == nil then E = {} end
  E[#E + 1] = { pointer = pointer, keyword = keyword, message = message }
  return E
end

-- With all_errors = false a function that fails returns a list made at
-- compile time, one per place that can fail (see Compiler:emit_errors), so
-- stopping at the first error allocates nothing. Those lists are read-only:
-- code that would change one copies it first (prefix, the anyOf/oneOf
-- branch errors), and this metatable makes a caller's append an error
-- rather than a change every later validation would see.
local shared_list_mt = {
  __newindex = function()
    error("crater.schema: the error list of a validator with all_errors = false is shared and "
      .. "read-only; copy it to change it", 2)
  end,
}

local function shared_list(r)
  return setmetatable({ r }, shared_list_mt)
end

-- Records may be shared (see Compiler:emit_errors): a longer pointer means
-- a new record, never a changed one. Returns the list, a new one when E is
-- a shared list.
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

local function unique(a)
  local n = #a
  for i = 1, n - 1 do
    local x = a[i]
    for j = i + 1, n do
      local y = a[j]
      if x == y or (type(x) == "table" and type(y) == "table" and deep_equal(x, y)) then
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

local function multiple_of(v, m)
  local q = v / m
  if q == huge or q == -huge or q ~= q then return false end
  if q == floor(q) then return true end
  -- Binary floating point: 0.0075 / 0.0001 is 74.99999999999999. A quotient
  -- within 1e-9 of an integer counts (ajv's multipleOfPrecision idea).
  local r = abs(q - floor(q + 0.5))
  return r < 1e-9 * (abs(q) > 1 and abs(q) or 1)
end

local function shallow(t)
  local c = {}
  for k, x in next, t do c[k] = x end
  if getmetatable(t) == array_mt then setmetatable(c, array_mt) end
  return c
end

local function add_dropped(D, p)
  if D == nil then D = {} end
  D[#D + 1] = p
  return D
end

local RT = {
  type = type, next = next, getmetatable = getmetatable, setmetatable = setmetatable,
  floor = floor, null = null, AMT = array_mt, is_array = is_array, is_object = is_object,
  is_seq = is_seq, deq = deep_equal, copy = deep_copy, err = add_error, prefix = prefix,
  esc = esc, ulen = ulen, unique = unique, str_number = str_number,
  multiple_of = multiple_of, fmod = math.fmod, mark = mark, new_tab = new_tab, shallow = shallow, drop = add_dropped,
  irec = index_record, ilist = index_list,
  prefix_list = function(D, from, seg) for i = from + 1, #D do D[i] = seg .. D[i] end end,
}

local PRELUDE = [[
local R, K, F = ...
local type, next, getmetatable, setmetatable, floor = R.type, R.next, R.getmetatable, R.setmetatable, R.floor
local null, AMT, is_array, is_object, is_seq, deq = R.null, R.AMT, R.is_array, R.is_object, R.is_seq, R.deq
local copy, err, prefix, esc, ulen, unique = R.copy, R.err, R.prefix, R.esc, R.ulen, R.unique
local str_number, multiple_of, mark = R.str_number, R.multiple_of, R.mark
local fmod = R.fmod
local shallow, drop, prefix_list, new_tab, irec, ilist = R.shallow, R.drop, R.prefix_list, R.new_tab, R.irec, R.ilist
]]

local function lit_string(s) return format("%q", s) end

-- --------------------------------------------------------------------------
-- Schema checks at compile time (a bad schema is the programmer's error)
-- --------------------------------------------------------------------------

local function bad(path, msg)
  error({ crater_schema_error = true, message = "invalid schema at " .. (path == "" and "/" or path) .. ": " .. msg }, 0)
end

local function is_nonneg_int(x) return type(x) == "number" and x >= 0 and x == floor(x) end

-- --------------------------------------------------------------------------
-- The compiler
-- --------------------------------------------------------------------------

local Compiler = {}
Compiler.__index = Compiler

-- Splits a Lua expression at its top-level occurrences of `sep` (a comma
-- or " .. "), skipping string literals and parenthesised parts. Returns the
-- parts and the index just past the expression (its closing parenthesis
-- when `stop_at_paren`).
local function split_top(src, i, sep, stop_at_paren)
  local parts, depth, start, n, ls = {}, 0, i, #src, #sep
  while i <= n do
    local ch = sub(src, i, i)
    if ch == '"' then
      i = i + 1
      while sub(src, i, i) ~= '"' do
        if sub(src, i, i) == "\\" then i = i + 1 end
        i = i + 1
      end
    elseif ch == "(" then depth = depth + 1
    elseif ch == ")" then
      if depth == 0 and stop_at_paren then break end
      depth = depth - 1
    elseif depth == 0 and sub(src, i, i + ls - 1) == sep then
      parts[#parts + 1] = sub(src, start, i - 1)
      i = i + ls - 1
      start = i + 1
    end
    i = i + 1
  end
  parts[#parts + 1] = sub(src, start, i - 1)
  return parts, i
end

-- The value of a generated string literal ("..." from %q), or nil when
-- `e` is not one literal alone.
local function literal(e)
  if sub(e, 1, 1) ~= '"' or sub(e, -1) ~= '"' then return nil end
  local i, n = 2, #e
  while i < n do
    local ch = sub(e, i, i)
    if ch == "\\" then i = i + 1 elseif ch == '"' then return nil end
    i = i + 1
  end
  local f = load("return " .. e, "=literal", "t", {})
  return f and f()
end

-- Error records whose pointer holds one array index are made once per
-- index and site, up to this index; past it each error gets a new record.
local MAX_CACHED_INDEX = 128

-- Rewrites every `E = \1err(E, pointer, keyword, message)` of the generated
-- code into the statements themselves. (The \1 byte cannot occur in the
-- generated code otherwise: string literals come from %q, which escapes it.)
-- A shared err() function called from everywhere becomes a hot root trace
-- of its own, and LuaJIT's side traces out of it then run into the callers'
-- loops and give up ("loop unroll limit"), which sent the whole error path
-- back to the interpreter.
--
-- The record an error appends is, by the shape of its pointer:
--   * all constant ("/name", "/shipping/zip"): one record made now, shared
--     by every validation (a constant of the chunk);
--   * constant but for one array index ("/lines/" .. (i - 1) .. "/sku"):
--     one record per index, made on the first error there and kept
--     (K[n][i]; up to MAX_CACHED_INDEX);
--   * anything else (object keys, two indexes, a message naming values):
--     a new table per error.
-- An invalid value then costs the error list and little else: tables and
-- strings made per error were most of the time of the error path (LuaJIT's
-- collector is not generational, so short-lived garbage is not cheap). The
-- price: records are shared, so they are read-only (docs/schemas.md).
function Compiler:emit_errors(src, fast)
  local out, pos = {}, 1
  while true do
    local a, b = find(src, "E = \1err(E, ", pos, true)
    if not a then break end
    out[#out + 1] = sub(src, pos, a - 1)
    local args, stop = split_top(src, b + 1, ", ", true)
    local ptr, kw, msg = args[1], args[2], args[3]
    local kwv, msgv = literal(kw), literal(msg)
    local rec, list
    if kwv and msgv then
      -- Constant runs of the pointer merged; `(iN - 1)` is an index.
      local parts, consts, idx = split_top(ptr, 1, " .. ", false), { "" }, nil
      local ok = true
      for _, part in ipairs(parts) do
        local lv = literal(part)
        if lv then
          consts[#consts] = consts[#consts] .. lv
        elseif idx == nil and find(part, "^%(i%d+ %- 1%)$") then
          idx = part:match("^%((i%d+) %- 1%)$")
          consts[#consts + 1] = ""
        else
          ok = false
          break
        end
      end
      if ok and idx == nil then
        local key = consts[1] .. "\0" .. kwv .. "\0" .. msgv
        local r = self.records[key]
        if r == nil then
          r = { pointer = consts[1], keyword = kwv, message = msgv }
          self.records[key] = r
        end
        rec = self:const(r)
        if fast then
          local l = self.lists[r]
          if l == nil then l = shared_list(r); self.lists[r] = l end
          list = self:const(l)
        end
      elseif ok then
        local Ct = { p = consts[1], s = consts[2], k = kwv, m = msgv, max = MAX_CACHED_INDEX }
        local C = self:const(Ct)
        rec = "(" .. C .. "[" .. idx .. "] or irec(" .. C .. ", " .. idx .. "))"
        if fast then
          local L = self:const({ rec = Ct })
          list = "(" .. L .. "[" .. idx .. "] or ilist(" .. L .. ", " .. idx .. "))"
        end
      end
    end
    rec = rec or ("{ pointer = " .. ptr .. ", keyword = " .. kw .. ", message = " .. msg .. " }")
    if fast then
      -- E is nil unless an anyOf/oneOf collects its branches' errors into a
      -- list of its own (Compiler:combinators): only then is one appended to.
      out[#out + 1] = "do if E == nil then return " .. (list or ("{ " .. rec .. " }")) .. " end; E[#E + 1] = "
        .. rec .. "; return E end"
    else
      out[#out + 1] = "if E == nil then E = new_tab(4, 0) end; ne = ne + 1; E[ne] = " .. rec
    end
    pos = stop + 1
  end
  out[#out + 1] = sub(src, pos)
  src = concat(out)
  if not fast then
    -- `ne` counts E's records, so appending needs no length operator (a
    -- call in compiled code); it is read again after each call that may
    -- have added some.
    src = gsub(src, "^(F%[%d+%] = function%(v, E%))", "%1 local ne = E and #E or 0", 1)
    src = gsub(src, "E = F%[%d+%]%([%w_]+, E%)", "%0; ne = E and #E or 0")
  end
  return src
end

local TYPES = { string = true, number = true, integer = true, boolean = true, null = true,
                array = true, object = true }

local function new_compiler(root, opts)
  local c = setmetatable({
    root = root,
    opts = opts,
    components = opts.components or {},
    formats = opts.formats or {},
    K = {}, kindex = {}, records = {}, lists = {},
    src = {}, nfun = 0, fid = {},
    nv = 0, depth = 0, open = {}, fast = opts.all_errors == false,
  }, Compiler)
  return c
end

function Compiler:const(v)
  local i = self.kindex[v]
  if i then return "K[" .. i .. "]" end
  i = #self.K + 1
  self.K[i] = v
  if type(v) == "table" or type(v) == "function" then self.kindex[v] = i end
  return "K[" .. i .. "]"
end

function Compiler:lit(v)
  local t = type(v)
  if t == "string" then return lit_string(v) end
  if t == "number" then
    if v ~= v then return "(0/0)" end
    if v == huge then return "(1/0)" elseif v == -huge then return "(-1/0)" end
    if v == floor(v) and abs(v) < 2 ^ 53 then return format("%d", v) end
    return format("%.17g", v)
  end
  if t == "boolean" then return tostring(v) end
  if v == null then return "null" end
  return self:const(v)
end

function Compiler:var(base)
  self.nv = self.nv + 1
  return (base or "x") .. self.nv
end

-- The subschema with `"$anchor": name`, searched once through the whole
-- document. The values of `enum`, `const`, `default` and `examples` are
-- data, not schemas, and are skipped; in a map of schemas (`properties`,
-- `$defs`...) those names are property names and are not. Anchors must be
-- unique in a document.
local DATA_KEYWORDS = { enum = true, const = true, default = true, examples = true }
local SCHEMA_MAPS = { properties = true, patternProperties = true, ["$defs"] = true,
  definitions = true, dependentSchemas = true, schemas = true }
function Compiler:anchor(name)
  if self.anchors == nil then
    local anchors, seen = {}, {}
    local function walk(node, is_map)
      if type(node) ~= "table" or seen[node] then return end
      seen[node] = true
      local a = not is_map and node["$anchor"]
      if type(a) == "string" then
        if anchors[a] ~= nil and anchors[a] ~= node then
          bad("", "$anchor '" .. a .. "' is defined twice")
        end
        anchors[a] = node
      end
      for k, v in pairs(node) do
        if is_map or not DATA_KEYWORDS[k] then walk(v, not is_map and SCHEMA_MAPS[k] == true) end
      end
    end
    walk(self.root, false)
    walk(self.components, true)
    self.anchors = anchors
  end
  return self.anchors[name]
end

-- Resolves a $ref string to the schema table it names.
function Compiler:resolve(ref, path)
  if type(ref) ~= "string" then bad(path, "$ref must be a string") end
  local name = ref:match("^#/components/schemas/(.+)$")
  if name then
    name = gsub(gsub(name, "~1", "/"), "~0", "~")
    local t = self.components[name]
    if t == nil and type(self.root) == "table" and type(self.root.components) == "table"
        and type(self.root.components.schemas) == "table" then
      t = self.root.components.schemas[name]
    end
    if t == nil then bad(path, "$ref to unknown component '" .. name .. "' (pass it in opts.components)") end
    return t
  end
  if sub(ref, 1, 1) ~= "#" then bad(path, "only local $ref ('#...') is supported: " .. ref) end
  local node = self.root
  local p = sub(ref, 2)
  if p == "" then return node end
  if sub(p, 1, 1) ~= "/" then
    local found = self:anchor(p)
    if found == nil then bad(path, "$ref '" .. ref .. "': no subschema has \"$anchor\": \"" .. p .. "\"") end
    return found
  end
  for seg in (p:sub(2) .. "/"):gmatch("([^/]*)/") do
    seg = gsub(seg, "%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
    seg = gsub(gsub(seg, "~1", "/"), "~0", "~")
    if type(node) ~= "table" then bad(path, "$ref '" .. ref .. "' does not resolve") end
    local nx = node[seg]
    if nx == nil and find(seg, "^%d+$") then nx = node[tonumber(seg) + 1] end
    node = nx
  end
  if node == nil then bad(path, "$ref '" .. ref .. "' does not resolve") end
  return node
end

-- The schema at a location, following $ref chains (for coercion and
-- defaults, which need to know the declared type).
function Compiler:deref(s, path)
  local n = 0
  while type(s) == "table" and s["$ref"] ~= nil and n < 32 do
    s = self:resolve(s["$ref"], path)
    n = n + 1
  end
  return s
end

-- Keywords that make a schema need its own function rather than inline code.
local COMPLEX = { properties = true, patternProperties = true, additionalProperties = true,
  items = true, prefixItems = true, allOf = true, anyOf = true, oneOf = true, ["not"] = true,
  ["if"] = true, ["$ref"] = true, dependentSchemas = true, propertyNames = true,
  contains = true, unevaluatedProperties = true, unevaluatedItems = true, ["$defs"] = false }

local function is_simple(s)
  if type(s) ~= "table" then return true end
  for k in pairs(s) do
    if COMPLEX[k] then return false end
  end
  return true
end

-- mode: "full" applies coercion/defaults as opts say; "pure" never changes
-- the value (subschemas of anyOf/oneOf/not/if, whose outcome is discarded).
-- `fast` functions stop at the first error: those behind anyOf, oneOf,
-- not, if and contains (only validity counts there), and every function
-- when compile's all_errors is false. Default: the current function's.
function Compiler:fn(s, mode, path, fast)
  if fast == nil then fast = self.fast end
  local key = fast and (mode .. ":fast") or mode
  local byMode = self.fid[s]
  if byMode == nil then byMode = {}; self.fid[s] = byMode end
  local id = byMode[key]
  if id then return id end
  self.nfun = self.nfun + 1
  id = self.nfun
  byMode[key] = id
  local out = {}
  out[#out + 1] = "F[" .. id .. "] = function(v, E)"
  -- A function inlines its subschemas (see Compiler:inline) afresh.
  local saved_depth, saved_open, saved_fast = self.depth, self.open, self.fast
  self.depth, self.open, self.fast = 0, { [s] = true }, fast
  self:body(s, "v", '""', mode, path, out)
  self.depth, self.open, self.fast = saved_depth, saved_open, saved_fast
  out[#out + 1] = "return E end"
  self.src[#self.src + 1] = self:emit_errors(concat(out, "\n"), fast)
  return id
end

-- Emits code that validates the child value in variable `x` (found at
-- pointer `P` .. `seg`) against `s`, inline when simple.
function Compiler:child(s, x, P, seg, mode, path, out)
  local Pc = P == '""' and seg or (P .. " .. " .. seg)
  if s == true then return end
  if self:inline(s, x, Pc, mode, path, out) then return end
  local id = self:fn(s, mode, path)
  local n0 = self:var("n")
  out[#out + 1] = "local " .. n0 .. " = E and #E or 0"
  out[#out + 1] = "E = F[" .. id .. "](" .. x .. ", E)"
  out[#out + 1] = "if E and #E > " .. n0 .. " then E = prefix(E, " .. n0 .. ", " .. Pc .. ") end"
  if self.fast then out[#out + 1] = "if E then return E end" end
end

-- Emits the checks of `s` right here when that is possible: always for a
-- schema without subschemas, else up to MAX_INLINE levels deep and never
-- for a schema already open above (a recursive $ref). Inlined code knows
-- the whole pointer of every error, so no error list needs rewriting, and
-- LuaJIT traces one function instead of following calls. Returns false
-- when the caller should call a function instead.
local MAX_INLINE, MAX_LINES = 8, 4000
function Compiler:inline(s, v, P, mode, path, out)
  if is_simple(s) then
    self:body(s, v, P, mode, path, out)
    return true
  end
  -- Lua limits a function's jumps and constants: past MAX_LINES, call.
  if self.depth >= MAX_INLINE or self.open[s] or #out > MAX_LINES then return false end
  self.depth = self.depth + 1
  self.open[s] = true
  self:body(s, v, P, mode, path, out)
  self.open[s] = nil
  self.depth = self.depth - 1
  return true
end

-- Same location, other schema (allOf, $ref).
function Compiler:here(s, v, P, mode, path, out)
  if s == true then return end
  if self:inline(s, v, P, mode, path, out) then return end
  local id = self:fn(s, mode, path)
  if P == '""' then
    out[#out + 1] = "E = F[" .. id .. "](" .. v .. ", E)"
  else
    local n0 = self:var("n")
    out[#out + 1] = "local " .. n0 .. " = E and #E or 0"
    out[#out + 1] = "E = F[" .. id .. "](" .. v .. ", E)"
    out[#out + 1] = "if E and #E > " .. n0 .. " then E = prefix(E, " .. n0 .. ", " .. P .. ") end"
  end
  if self.fast then out[#out + 1] = "if E then return E end" end
end

-- An isolated test: an expression true when `v` is valid against `s`,
-- with no side effects (for anyOf, oneOf, not, if, contains).
function Compiler:test(s, v, path)
  if s == true then return "true" end
  if s == false then return "false" end
  local id = self:fn(s, "pure", path, true)
  return "(F[" .. id .. "](" .. v .. ", nil) == nil)"
end

local TYPE_TEST = {
  string = function(v) return "type(" .. v .. ') == "string"' end,
  number = function(v) return "type(" .. v .. ') == "number"' end,
  integer = function(v) return "(type(" .. v .. ') == "number" and ' .. v .. " % 1 == 0)" end,
  boolean = function(v) return "type(" .. v .. ') == "boolean"' end,
  null = function(v) return v .. " == null" end,
  -- The common cases inline (a decoded array has AMT; a decoded object has
  -- no metatable and no [1]); the helpers settle the rest.
  array = function(v)
    return "(getmetatable(" .. v .. ") == AMT or is_array(" .. v .. "))"
  end,
  object = function(v)
    return "(type(" .. v .. ') == "table" and getmetatable(' .. v .. ") == nil and " .. v .. "[1] == nil or is_object(" .. v .. "))"
  end,
}

-- Emits coercion of the string in `x` to the declared type of `s`, then
-- `assign` (Lua code storing x back where it came from).
function Compiler:coerce(s, x, assign, path, out)
  s = self:deref(s, path)
  if type(s) ~= "table" or s.type == nil then return end
  local types = type(s.type) == "table" and s.type or { s.type }
  local has = {}
  for _, t in ipairs(types) do has[t] = true end
  if has.string then return end
  local lines = {}
  for _, t in ipairs(types) do
    if t == "integer" or t == "number" then
      local c = self:var("c")
      lines[#lines + 1] = "local " .. c .. " = str_number(" .. x .. ")"
      lines[#lines + 1] = "if " .. c .. (t == "integer" and (" and " .. c .. " % 1 == 0") or "")
        .. " then " .. x .. " = " .. c .. "; " .. assign .. " end"
    elseif t == "boolean" then
      lines[#lines + 1] = "if " .. x .. ' == "true" then ' .. x .. " = true; " .. assign ..
        " elseif " .. x .. ' == "false" then ' .. x .. " = false; " .. assign .. " end"
    elseif t == "null" then
      lines[#lines + 1] = "if " .. x .. ' == "" then ' .. x .. " = null; " .. assign .. " end"
    elseif t == "array" then
      lines[#lines + 1] = x .. " = setmetatable({ " .. x .. " }, AMT); " .. assign
    end
    -- Later types only apply when the earlier ones left a string.
    lines[#lines + 1] = "if type(" .. x .. ') == "string" then'
  end
  out[#out + 1] = "if type(" .. x .. ') == "string" then'
  for _, l in ipairs(lines) do out[#out + 1] = l end
  for _ = 1, #types do out[#out + 1] = "end" end
  out[#out + 1] = "end"
end

local function type_name_list(types)
  if #types == 1 then return types[1] end
  return concat(types, ", ", 1, #types - 1) .. " or " .. types[#types]
end

local function describe(v)
  local ok, json = pcall(require, "crater.json")
  if ok then
    local ok2, s = pcall(json.encode, v)
    if ok2 then return s end
  end
  if type(v) == "string" then return '"' .. v .. '"' end
  return tostring(v)
end

-- The checks of schema `s` on the value in variable `v`, at pointer `P`.
function Compiler:body(s, v, P, mode, path, out)
  if s == true then return end
  if s == false then
    out[#out + 1] = "E = \1err(E, " .. P .. ', "false", "no value is allowed here")'
    return
  end
  if type(s) ~= "table" then bad(path, "a schema must be an object or a boolean") end

  -- $ref: in 2020-12 it sits beside other keywords.
  if s["$ref"] ~= nil then
    local target = self:resolve(s["$ref"], path)
    self:here(target, v, P, mode, path .. "/$ref", out)
  end

  -- enum / const
  if s.enum ~= nil then
    if type(s.enum) ~= "table" then bad(path .. "/enum", "must be an array") end
    local alts = {}
    for i = 1, #s.enum do
      local e = s.enum[i]
      if type(e) == "table" then alts[#alts + 1] = "deq(" .. v .. ", " .. self:const(e) .. ")"
      else alts[#alts + 1] = v .. " == " .. self:lit(e) end
    end
    if #alts == 0 then alts[1] = "false" end
    local shown = {}
    for i = 1, #s.enum do shown[i] = describe(s.enum[i]) end
    out[#out + 1] = "if not (" .. concat(alts, " or ") .. ") then E = \1err(E, " .. P .. ', "enum", '
      .. lit_string("must be one of: " .. concat(shown, ", ")) .. ") end"
  end
  if s.const ~= nil then
    local c = s.const
    local test = type(c) == "table" and ("deq(" .. v .. ", " .. self:const(c) .. ")") or (v .. " == " .. self:lit(c))
    out[#out + 1] = "if not (" .. test .. ") then E = \1err(E, " .. P .. ', "const", '
      .. lit_string("must be " .. describe(c)) .. ") end"
  end

  -- type
  local types, tset, known
  if s.type ~= nil then
    types = type(s.type) == "table" and s.type or { s.type }
    tset = {}
    if #types == 0 and type(s.type) == "table" then bad(path .. "/type", "must not be empty") end
    for _, t in ipairs(types) do
      if not TYPES[t] then bad(path .. "/type", "unknown type '" .. tostring(t) .. "'") end
      tset[t] = true
    end
    local tests = {}
    for _, t in ipairs(types) do
      if not (t == "integer" and tset.number) then tests[#tests + 1] = TYPE_TEST[t](v) end
    end
    out[#out + 1] = "if not (" .. concat(tests, " or ") .. ") then E = \1err(E, " .. P ..
      ', "type", "must be ' .. (#types == 1 and "" or "one of ") .. type_name_list(types) .. '")'
    -- With one type, the keywords for that type need no guard of their own.
    if #types == 1 then known = types[1]; out[#out + 1] = "else" else out[#out + 1] = "end" end
  end

  self:string_checks(s, v, P, path, out, known == "string")
  self:number_checks(s, v, P, path, out, known == "number" or known == "integer")
  self:object_checks(s, v, P, mode, path, out, known == "object")
  self:array_checks(s, v, P, mode, path, out, known == "array")
  if known then out[#out + 1] = "end" end
  self:combinators(s, v, P, mode, path, out)
end

function Compiler:string_checks(s, v, P, path, out, known)
  local minL, maxL, pat, fmt = s.minLength, s.maxLength, s.pattern, s.format
  if minL == nil and maxL == nil and pat == nil and fmt == nil then return end
  out[#out + 1] = known and "do" or ("if type(" .. v .. ') == "string" then')
  if minL ~= nil or maxL ~= nil then
    local n = self:var("len")
    out[#out + 1] = "local " .. n .. " = #" .. v
    if minL ~= nil then
      if not is_nonneg_int(minL) then bad(path .. "/minLength", "must be a non-negative integer") end
      -- Bytes >= code points >= bytes / 4: count only when it can matter.
      out[#out + 1] = format("if %s < %d or (%s < %d and ulen(%s) < %d) then E = \1err(E, %s, \"minLength\", %s) end",
        n, minL, n, 4 * minL, v, minL, P,
        lit_string(format("must have at least %d character%s", minL, minL == 1 and "" or "s")))
    end
    if maxL ~= nil then
      if not is_nonneg_int(maxL) then bad(path .. "/maxLength", "must be a non-negative integer") end
      out[#out + 1] = format("if %s > %d and ulen(%s) > %d then E = \1err(E, %s, \"maxLength\", %s) end",
        n, maxL, v, maxL, P,
        lit_string(format("must have at most %d character%s", maxL, maxL == 1 and "" or "s")))
    end
  end
  if pat ~= nil then
    if type(pat) ~= "string" then bad(path .. "/pattern", "must be a string") end
    local ok, re = pcall(regex.compile, pat)
    if not ok then bad(path .. "/pattern", tostring(re):gsub("^.-: ", "", 1)) end
    out[#out + 1] = "if not " .. self:const(re.test) .. "(" .. v .. ") then E = \1err(E, " .. P
      .. ', "pattern", ' .. lit_string("must match the pattern " .. pat) .. ") end"
  end
  if fmt ~= nil then
    if type(fmt) ~= "string" then bad(path .. "/format", "must be a string") end
    local check = self.formats[fmt] or formats[fmt]
    if check ~= nil then
      out[#out + 1] = "if not " .. self:const(check) .. "(" .. v .. ") then E = \1err(E, " .. P
        .. ', "format", ' .. lit_string("must be a valid " .. fmt) .. ") end"
    elseif self.opts.strict_formats then
      bad(path .. "/format", "unknown format '" .. fmt .. "'")
    end
  end
  out[#out + 1] = "end"
end

local function num_kw(s, k, path)
  local x = s[k]
  if x ~= nil and type(x) ~= "number" then bad(path .. "/" .. k, "must be a number") end
  return x
end

function Compiler:number_checks(s, v, P, path, out, known)
  local mn, mx = num_kw(s, "minimum", path), num_kw(s, "maximum", path)
  local emn, emx = num_kw(s, "exclusiveMinimum", path), num_kw(s, "exclusiveMaximum", path)
  local mul = num_kw(s, "multipleOf", path)
  if mn == nil and mx == nil and emn == nil and emx == nil and mul == nil then return end
  out[#out + 1] = known and "do" or ("if type(" .. v .. ') == "number" then')
  local function cmp(op, lim, kw, msg)
    out[#out + 1] = "if " .. v .. " " .. op .. " " .. self:lit(lim) .. " then E = \1err(E, " .. P .. ', "'
      .. kw .. '", ' .. lit_string(msg .. " " .. describe(lim)) .. ") end"
  end
  if mn ~= nil then cmp("<", mn, "minimum", "must be >=") end
  if mx ~= nil then cmp(">", mx, "maximum", "must be <=") end
  if emn ~= nil then cmp("<=", emn, "exclusiveMinimum", "must be >") end
  if emx ~= nil then cmp(">=", emx, "exclusiveMaximum", "must be <") end
  if mul ~= nil then
    if mul <= 0 then bad(path .. "/multipleOf", "must be > 0") end
    local test
    if mul == floor(mul) and mul < 2 ^ 53 then
      -- An integer divisor has an exact answer: fmod is exact on doubles, as
      -- JavaScript's % is. The 1e-9 tolerance is for fractions only: with it,
      -- 2^53 passed as a multiple of 10 and 10.0000000001 as one of 5.
      test = "(fmod(" .. v .. ", " .. self:lit(mul) .. ") == 0)"
    else
      test = "multiple_of(" .. v .. ", " .. self:lit(mul) .. ")"
    end
    out[#out + 1] = "if not " .. test .. " then E = \1err(E, " .. P .. ', "multipleOf", '
      .. lit_string("must be a multiple of " .. describe(mul)) .. ") end"
  end
  out[#out + 1] = "end"
end

-- The checks of the properties in `list` of object `v` (see object_checks).
function Compiler:property_checks(list, props, reqset, v, P, mode, path, out)
  local fill = mode == "full" and self.opts.defaults
  local coerce = mode == "full" and self.opts.coerce
  for _, name in ipairs(list) do
    local ps = props[name]
    local ppath = path .. "/properties/" .. esc(name)
    local x = self:var()
    local key = lit_string(name)
    out[#out + 1] = "do local " .. x .. " = " .. v .. "[" .. key .. "]"
    out[#out + 1] = "if " .. x .. " == nil then"
    local target = fill and self:deref(ps, ppath)
    if fill and type(target) == "table" and target.default ~= nil then
      local d = target.default
      if type(d) == "table" then
        out[#out + 1] = v .. "[" .. key .. "] = copy(" .. self:const(d) .. ")"
      else
        out[#out + 1] = v .. "[" .. key .. "] = " .. self:lit(d)
      end
    elseif reqset[name] then
      out[#out + 1] = "E = \1err(E, " .. (P == '""' and "" or P .. " .. ") .. lit_string("/" .. esc(name))
        .. ', "required", "is required")'
    end
    out[#out + 1] = "else"
    if coerce then self:coerce(ps, x, v .. "[" .. key .. "] = " .. x, ppath, out) end
    self:child(ps, x, P, lit_string("/" .. esc(name)), mode, ppath, out)
    out[#out + 1] = "end end"
  end
end

local PROPS_PER_FN = 64

local OBJECT_KW = { "properties", "required", "additionalProperties", "patternProperties",
  "minProperties", "maxProperties", "propertyNames", "dependentRequired", "dependentSchemas",
  "unevaluatedProperties" }

function Compiler:object_checks(s, v, P, mode, path, out, known)
  local any = false
  for _, k in ipairs(OBJECT_KW) do if s[k] ~= nil then any = true break end end
  if not any then return end
  local props, req = s.properties, s.required
  if props ~= nil and type(props) ~= "table" then bad(path .. "/properties", "must be an object") end
  if req ~= nil and type(req) ~= "table" then bad(path .. "/required", "must be an array") end
  props = props or {}
  out[#out + 1] = known and "do" or ("if is_object(" .. v .. ") then")

  local reqset = {}
  for _, name in ipairs(req or {}) do
    if type(name) ~= "string" then bad(path .. "/required", "must hold strings") end
    reqset[name] = true
  end
  -- Properties in a stable order, so generated code is reproducible.
  local pnames = {}
  for name in pairs(props) do pnames[#pnames + 1] = name end
  sort(pnames)
  -- Lua limits how long one control structure may be: objects with many
  -- properties check them in functions of PROPS_PER_FN properties each.
  if #pnames <= PROPS_PER_FN then
    self:property_checks(pnames, props, reqset, v, P, mode, path, out)
  else
    for first = 1, #pnames, PROPS_PER_FN do
      local slice = {}
      for j = first, math.min(first + PROPS_PER_FN - 1, #pnames) do slice[#slice + 1] = pnames[j] end
      self.nfun = self.nfun + 1
      local id = self.nfun
      local fout = { "F[" .. id .. "] = function(v, E)" }
      local saved_depth, saved_open = self.depth, self.open
      self.depth, self.open = 0, { [props] = true }
      self:property_checks(slice, props, reqset, "v", '""', mode, path, fout)
      self.depth, self.open = saved_depth, saved_open
      fout[#fout + 1] = "return E end"
      self.src[#self.src + 1] = self:emit_errors(concat(fout, "\n"), self.fast)
      local n0 = self:var("n")
      out[#out + 1] = "local " .. n0 .. " = E and #E or 0"
      out[#out + 1] = "E = F[" .. id .. "](" .. v .. ", E)"
      if P ~= '""' then out[#out + 1] = "if E and #E > " .. n0 .. " then E = prefix(E, " .. n0 .. ", " .. P .. ") end" end
      if self.fast then out[#out + 1] = "if E then return E end" end
    end
  end
  for _, name in ipairs(req or {}) do
    if props[name] == nil then
      out[#out + 1] = "if " .. v .. "[" .. lit_string(name) .. "] == nil then E = \1err(E, "
        .. (P == '""' and "" or P .. " .. ") .. lit_string("/" .. esc(name)) .. ', "required", "is required") end'
    end
  end

  if s.dependentRequired ~= nil then
    for name, list in pairs(s.dependentRequired) do
      for _, other in ipairs(list) do
        out[#out + 1] = "if " .. v .. "[" .. lit_string(name) .. "] ~= nil and " .. v .. "[" .. lit_string(other)
          .. "] == nil then E = \1err(E, " .. (P == '""' and "" or P .. " .. ") .. lit_string("/" .. esc(other))
          .. ', "dependentRequired", ' .. lit_string("is required when " .. name .. " is present") .. ") end"
      end
    end
  end
  if s.dependentSchemas ~= nil then
    for name, sub_s in pairs(s.dependentSchemas) do
      out[#out + 1] = "if " .. v .. "[" .. lit_string(name) .. "] ~= nil then"
      self:here(sub_s, v, P, mode, path .. "/dependentSchemas/" .. esc(name), out)
      out[#out + 1] = "end"
    end
  end

  local ap, pp, pn = s.additionalProperties, s.patternProperties, s.propertyNames
  local minP, maxP = s.minProperties, s.maxProperties
  local up = s.unevaluatedProperties
  if minP ~= nil and not is_nonneg_int(minP) then bad(path .. "/minProperties", "must be a non-negative integer") end
  if maxP ~= nil and not is_nonneg_int(maxP) then bad(path .. "/maxProperties", "must be a non-negative integer") end
  if ap ~= nil or pp ~= nil or pn ~= nil or minP ~= nil or maxP ~= nil or up ~= nil then
    local cnt = self:var("count")
    out[#out + 1] = "local " .. cnt .. " = 0"
    -- Unique names: a subschema's own key loop, generated inside this one,
    -- must not shadow the key that this level's error pointers are made of
    -- (P and seg are expressions, evaluated only when an error is recorded).
    local k, x = self:var("k"), self:var("x")
    out[#out + 1] = "for " .. k .. ", " .. x .. " in next, " .. v .. " do"
    out[#out + 1] = cnt .. " = " .. cnt .. " + 1"
    local seg = '"/" .. esc(' .. k .. ')'
    if pn ~= nil then
      self:child(pn, k, P, seg, "pure", path .. "/propertyNames", out)
    end
    local matched = self:var("m")
    out[#out + 1] = "local " .. matched .. " = false"
    if #pnames > 0 then
      local tests = {}
      if #pnames <= 8 then
        for _, name in ipairs(pnames) do tests[#tests + 1] = k .. " == " .. lit_string(name) end
        out[#out + 1] = "if " .. concat(tests, " or ") .. " then " .. matched .. " = true end"
      else
        local set = {}
        for _, name in ipairs(pnames) do set[name] = true end
        out[#out + 1] = "if " .. self:const(set) .. "[" .. k .. "] then " .. matched .. " = true end"
      end
    end
    if pp ~= nil then
      if type(pp) ~= "table" then bad(path .. "/patternProperties", "must be an object") end
      local pats = {}
      for pat in pairs(pp) do pats[#pats + 1] = pat end
      sort(pats)
      for _, pat in ipairs(pats) do
        local ok, re = pcall(regex.compile, pat)
        if not ok then bad(path .. "/patternProperties", tostring(re)) end
        out[#out + 1] = "if type(" .. k .. ") == \"string\" and " .. self:const(re.test) .. "(" .. k .. ") then " .. matched .. " = true"
        self:child(pp[pat], x, P, seg, mode == "full" and "pure" or mode, path .. "/patternProperties/" .. esc(pat), out)
        out[#out + 1] = "end"
      end
    end
    if ap ~= nil then
      out[#out + 1] = "if not " .. matched .. " then"
      if ap == false then
        out[#out + 1] = "E = \1err(E, " .. (P == '""' and "" or P .. " .. ") .. seg ..
          ', "additionalProperties", "is not allowed (additional property)")'
      else
        self:child(ap, x, P, seg, mode == "full" and "pure" or mode, path .. "/additionalProperties", out)
      end
      out[#out + 1] = "end"
    end
    -- With additionalProperties beside it, every key is evaluated by this
    -- schema's own properties, patternProperties or additionalProperties
    -- (a key additionalProperties fails on is already an error), so
    -- unevaluatedProperties has nothing left to check.
    if up ~= nil and ap == nil then
      local ev = self:evaluated_test(s, v, path, k)
      out[#out + 1] = "if not " .. matched .. " and not (" .. ev .. ") then"
      if up == false then
        out[#out + 1] = "E = \1err(E, " .. (P == '""' and "" or P .. " .. ") .. seg ..
          ', "unevaluatedProperties", "is not allowed (unevaluated property)")'
      else
        self:child(up, x, P, seg, "pure", path .. "/unevaluatedProperties", out)
      end
      out[#out + 1] = "end"
    end
    out[#out + 1] = "end"
    if minP ~= nil then
      out[#out + 1] = format('if %s < %d then E = \1err(E, %s, "minProperties", %s) end', cnt, minP, P,
        lit_string(format("must have at least %d propert%s", minP, minP == 1 and "y" or "ies")))
    end
    if maxP ~= nil then
      out[#out + 1] = format('if %s > %d then E = \1err(E, %s, "maxProperties", %s) end', cnt, maxP, P,
        lit_string(format("must have at most %d propert%s", maxP, maxP == 1 and "y" or "ies")))
    end
  end
  out[#out + 1] = "end"
end

-- For unevaluatedProperties/unevaluatedItems: an expression true when what
-- own(sub_s, p) tests (a key, an item) was evaluated by `s` or by a
-- subschema applied in place: allOf always; anyOf/oneOf branches the value
-- is valid against; if/then/else as they apply; dependentSchemas whose
-- property is present; $ref, beside the other keywords (not instead of
-- them). own returns true (everything is evaluated) or a list of
-- expressions for sub_s's own keywords.
function Compiler:evaluated_by(s, v, path, own)
  local function covers(sub_s, p, depth)
    if type(sub_s) ~= "table" or depth > 8 then return "false" end
    local e = own(sub_s, p)
    if e == true then return "true" end
    for _, kw in ipairs({ "allOf", "anyOf", "oneOf" }) do
      if type(sub_s[kw]) == "table" then
        for i, b in ipairs(sub_s[kw]) do
          local bp = p .. "/" .. kw .. "/" .. (i - 1)
          local inner = covers(b, bp, depth + 1)
          if inner ~= "false" then
            if kw == "allOf" then e[#e + 1] = inner
            else e[#e + 1] = "(" .. self:test(b, v, bp) .. " and " .. inner .. ")" end
          end
        end
      end
    end
    if sub_s["if"] ~= nil then
      local cond = self:test(sub_s["if"], v, p .. "/if")
      for _, part in ipairs({ { sub_s["if"], "/if", cond }, { sub_s["then"], "/then", cond },
                              { sub_s["else"], "/else", "not " .. cond } }) do
        if part[1] ~= nil then
          local inner = covers(part[1], p .. part[2], depth + 1)
          if inner ~= "false" then e[#e + 1] = "(" .. part[3] .. " and " .. inner .. ")" end
        end
      end
    end
    if type(sub_s.dependentSchemas) == "table" then
      for name, ds in pairs(sub_s.dependentSchemas) do
        local inner = covers(ds, p .. "/dependentSchemas/" .. esc(name), depth + 1)
        if inner ~= "false" then
          e[#e + 1] = "(" .. v .. "[" .. lit_string(name) .. "] ~= nil and " .. inner .. ")"
        end
      end
    end
    if sub_s["$ref"] ~= nil then
      local inner = covers(self:resolve(sub_s["$ref"], p), p, depth + 1)
      if inner ~= "false" then e[#e + 1] = inner end
    end
    if #e == 0 then return "false" end
    return "(" .. concat(e, " or ") .. ")"
  end
  return covers(s, path, 0)
end

-- unevaluatedProperties: key `k` of object `v`. `properties`,
-- `patternProperties` and `additionalProperties` of `s` itself are already
-- in the `matched` flag, so they are left out here.
function Compiler:evaluated_test(s, v, path, k)
  local own = {}
  for key, val in pairs(s) do
    if key ~= "properties" and key ~= "patternProperties" and key ~= "additionalProperties"
        and key ~= "unevaluatedProperties" then
      own[key] = val
    end
  end
  return self:evaluated_by(own, v, path, function(sub_s)
    if sub_s.additionalProperties ~= nil or sub_s.unevaluatedProperties ~= nil then return true end
    local e = {}
    if type(sub_s.properties) == "table" then
      local set = {}
      for name in pairs(sub_s.properties) do set[name] = true end
      e[#e + 1] = self:const(set) .. "[" .. k .. "]"
    end
    if type(sub_s.patternProperties) == "table" then
      for pat in pairs(sub_s.patternProperties) do
        e[#e + 1] = "(type(" .. k .. ") == \"string\" and " .. self:const(regex.compile(pat).test) .. "(" .. k .. "))"
      end
    end
    return e
  end)
end

-- unevaluatedItems: item `x` at index `i` of array `v`, evaluated by
-- prefixItems, items or contains. s's own unevaluatedItems must not count.
function Compiler:items_evaluated(s, v, i, x, path)
  local own = {}
  for key, val in pairs(s) do if key ~= "unevaluatedItems" then own[key] = val end end
  return self:evaluated_by(own, v, path, function(sub_s, p)
    if sub_s.items ~= nil or sub_s.unevaluatedItems ~= nil then return true end
    local e = {}
    if type(sub_s.prefixItems) == "table" and #sub_s.prefixItems > 0 then
      e[#e + 1] = "(" .. i .. " <= " .. #sub_s.prefixItems .. ")"
    end
    if sub_s.contains ~= nil then e[#e + 1] = self:test(sub_s.contains, x, p .. "/contains") end
    return e
  end)
end

function Compiler:array_checks(s, v, P, mode, path, out, known)
  local items, prefixItems = s.items, s.prefixItems
  local minI, maxI, uniq = s.minItems, s.maxItems, s.uniqueItems
  local contains, ui = s.contains, s.unevaluatedItems
  if items == nil and prefixItems == nil and minI == nil and maxI == nil and not uniq and contains == nil
      and ui == nil then
    return
  end
  if minI ~= nil and not is_nonneg_int(minI) then bad(path .. "/minItems", "must be a non-negative integer") end
  if maxI ~= nil and not is_nonneg_int(maxI) then bad(path .. "/maxItems", "must be a non-negative integer") end
  local coerce = mode == "full" and self.opts.coerce
  out[#out + 1] = known and "do" or ("if is_array(" .. v .. ") then")
  local n = self:var("n")
  out[#out + 1] = "local " .. n .. " = #" .. v
  if minI ~= nil then
    out[#out + 1] = format('if %s < %d then E = \1err(E, %s, "minItems", %s) end', n, minI, P,
      lit_string(format("must have at least %d item%s", minI, minI == 1 and "" or "s")))
  end
  if maxI ~= nil then
    out[#out + 1] = format('if %s > %d then E = \1err(E, %s, "maxItems", %s) end', n, maxI, P,
      lit_string(format("must have at most %d item%s", maxI, maxI == 1 and "" or "s")))
  end
  local np = 0
  if prefixItems ~= nil then
    if type(prefixItems) ~= "table" then bad(path .. "/prefixItems", "must be an array") end
    np = #prefixItems
    for i, ps in ipairs(prefixItems) do
      local x = self:var()
      out[#out + 1] = "if " .. n .. " >= " .. i .. " then local " .. x .. " = " .. v .. "[" .. i .. "]"
      if coerce then self:coerce(ps, x, v .. "[" .. i .. "] = " .. x, path, out) end
      self:child(ps, x, P, lit_string("/" .. (i - 1)), mode, path .. "/prefixItems/" .. (i - 1), out)
      out[#out + 1] = "end"
    end
  end
  if items ~= nil and items ~= true then
    if items == false then
      out[#out + 1] = format('if %s > %d then E = \1err(E, %s, "items", %s) end', n, np,
        (P == '""' and "" or P .. " .. ") .. lit_string("/" .. np),
        lit_string(np == 0 and "no items are allowed" or format("must have at most %d item%s", np, np == 1 and "" or "s")))
    else
      local i, x = self:var("i"), self:var()
      out[#out + 1] = "for " .. i .. " = " .. (np + 1) .. ", " .. n .. " do local " .. x .. " = " .. v .. "[" .. i .. "]"
      if coerce then self:coerce(items, x, v .. "[" .. i .. "] = " .. x, path .. "/items", out) end
      self:child(items, x, P, '"/" .. (' .. i .. " - 1)", mode, path .. "/items", out)
      out[#out + 1] = "end"
    end
  end
  if contains ~= nil then
    local c, i = self:var("c"), self:var("i")
    local minC, maxC = s.minContains or 1, s.maxContains
    out[#out + 1] = "local " .. c .. " = 0"
    out[#out + 1] = "for " .. i .. " = 1, " .. n .. " do if " .. self:test(contains, v .. "[" .. i .. "]", path .. "/contains")
      .. " then " .. c .. " = " .. c .. " + 1 end end"
    out[#out + 1] = format('if %s < %d then E = \1err(E, %s, "contains", %s) end', c, minC, P,
      lit_string(format("must contain at least %d matching item%s", minC, minC == 1 and "" or "s")))
    if maxC ~= nil then
      out[#out + 1] = format('if %s > %d then E = \1err(E, %s, "maxContains", %s) end', c, maxC, P,
        lit_string(format("must contain at most %d matching item%s", maxC, maxC == 1 and "" or "s")))
    end
  end
  if ui ~= nil then
    local i, x = self:var("i"), self:var()
    out[#out + 1] = "for " .. i .. " = 1, " .. n .. " do local " .. x .. " = " .. v .. "[" .. i .. "]"
    out[#out + 1] = "if not (" .. self:items_evaluated(s, v, i, x, path) .. ") then"
    if ui == false then
      out[#out + 1] = "E = \1err(E, " .. (P == '""' and "" or P .. " .. ") .. '"/" .. (' .. i .. " - 1)"
        .. ', "unevaluatedItems", "is not allowed (unevaluated item)")'
    else
      self:child(ui, x, P, '"/" .. (' .. i .. " - 1)", "pure", path .. "/unevaluatedItems", out)
    end
    out[#out + 1] = "end end"
  end
  if uniq == true then
    local ok, a, b = self:var("u"), self:var("a"), self:var("b")
    out[#out + 1] = "local " .. ok .. ", " .. a .. ", " .. b .. " = unique(" .. v .. ")"
    out[#out + 1] = "if not " .. ok .. " then E = \1err(E, " .. P .. ', "uniqueItems", "must not contain duplicates (items " .. ('
      .. a .. " - 1) .. \" and \" .. (" .. b .. ' - 1) .. " are equal)") end'
  end
  out[#out + 1] = "end"
end

function Compiler:combinators(s, v, P, mode, path, out)
  if s.allOf ~= nil then
    if type(s.allOf) ~= "table" or #s.allOf == 0 then bad(path .. "/allOf", "must be a non-empty array") end
    for i, b in ipairs(s.allOf) do
      self:here(b, v, P, mode, path .. "/allOf/" .. (i - 1), out)
    end
  end
  for _, kw in ipairs({ "anyOf", "oneOf" }) do
    local list = s[kw]
    if list ~= nil then
      if type(list) ~= "table" or #list == 0 then bad(path .. "/" .. kw, "must be a non-empty array") end
      local c = self:var("c")
      out[#out + 1] = "local " .. c .. " = 0"
      local ids = {}
      for i, b in ipairs(list) do
        local bp = path .. "/" .. kw .. "/" .. (i - 1)
        if b == true or b == false then
          if b then out[#out + 1] = c .. " = " .. c .. " + 1" end
          ids[i] = false
        else
          ids[i] = self:fn(b, "pure", bp, true)
          if kw == "anyOf" and i > 1 then
            out[#out + 1] = "if " .. c .. " == 0 and F[" .. ids[i] .. "](" .. v .. ", nil) == nil then " .. c .. " = 1 end"
          else
            out[#out + 1] = "if F[" .. ids[i] .. "](" .. v .. ", nil) == nil then " .. c .. " = " .. c .. " + 1 end"
          end
        end
      end
      -- On failure, say why each branch failed (the error path may be slower).
      local branch_errors = {}
      for _, id in ipairs(ids) do
        if id then
          branch_errors[#branch_errors + 1] = "E = F[" .. id .. "](" .. v .. ", E)"
        end
      end
      local fail_first = function()
        local n0 = self:var("n")
        out[#out + 1] = "local " .. n0 .. " = E and #E or 0"
        -- The branches append to a list that is ours: alone, a branch could
        -- return a shared one (all_errors = false).
        out[#out + 1] = "if E == nil then E = new_tab(4, 0) end"
        for _, l in ipairs(branch_errors) do out[#out + 1] = l end
        if P ~= '""' then out[#out + 1] = "if E and #E > " .. n0 .. " then E = prefix(E, " .. n0 .. ", " .. P .. ") end" end
      end
      out[#out + 1] = "if " .. c .. " == 0 then"
      fail_first()
      out[#out + 1] = "E = \1err(E, " .. P .. ', "' .. kw .. '", "must match ' ..
        (kw == "anyOf" and "at least one" or "exactly one") .. ' schema in ' .. kw .. '")'
      if kw == "oneOf" then
        out[#out + 1] = "elseif " .. c .. " > 1 then E = \1err(E, " .. P .. ', "oneOf", "must match exactly one schema in oneOf (matches " .. '
          .. c .. ' .. ")")'
      end
      out[#out + 1] = "end"
      -- In "full" mode, coercion and defaults of the branch that matched are
      -- not applied: the branches ran pure. Documented in docs/schemas.md.
    end
  end
  if s["not"] ~= nil then
    out[#out + 1] = "if " .. self:test(s["not"], v, path .. "/not") .. " then E = \1err(E, " .. P
      .. ', "not", "must not be valid against the schema in not") end'
  end
  if s["if"] ~= nil and (s["then"] ~= nil or s["else"] ~= nil) then
    out[#out + 1] = "if " .. self:test(s["if"], v, path .. "/if") .. " then"
    if s["then"] ~= nil then self:here(s["then"], v, P, mode, path .. "/then", out) end
    out[#out + 1] = "else"
    if s["else"] ~= nil then self:here(s["else"], v, P, mode, path .. "/else", out) end
    out[#out + 1] = "end"
  end
end

local function load_chunk(src, name, K)
  local f, e = load(src, "=" .. name)
  if not f then error("crater.schema: generated code does not load (a bug): " .. e, 0) end
  local F = {}
  f(RT, K, F)
  return F
end

local function check_opts(opts, who)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(who .. ": options must be a table", 3) end
  for k in pairs(opts) do
    if k ~= "coerce" and k ~= "defaults" and k ~= "components" and k ~= "formats" and k ~= "name"
        and k ~= "strict_formats" and k ~= "all_errors" then
      error(who .. ": unknown option '" .. tostring(k) .. "'", 3)
    end
  end
  return opts
end

local function rethrow(e, who, level)
  if type(e) == "table" and e.crater_schema_error then error(who .. ": " .. e.message, level + 1) end
  error(e, 0)
end

---@class crater.schema.error
---@field pointer string RFC 6901 JSON Pointer to the bad value ("" is the value itself)
---@field keyword string the JSON Schema keyword that failed ("type", "required", ...)
---@field message string what is wrong, in English ("must be string")

--- Compiles a schema (DSL or raw JSON Schema table, or a boolean) into
--- `validate(value) -> ok, errors, value`. `errors` is nil when ok, else a
--- list of `{ pointer, keyword, message }`, every error found. `value` is
--- the value, coerced and with defaults filled in when those options are
--- on (tables are changed in place). Raises on an invalid schema.
---@param s table|boolean
---@param opts? { coerce?: boolean, defaults?: boolean, all_errors?: boolean, components?: table<string, table>, formats?: table<string, fun(s: string): boolean>, strict_formats?: boolean, name?: string }
---@return fun(value: any): boolean, crater.schema.error[]|nil, any
---@return string source the generated Lua code
function _M.compile(s, opts)
  opts = check_opts(opts, "crater.schema.compile")
  if type(s) ~= "table" and type(s) ~= "boolean" then
    error("crater.schema.compile: schema expected, got " .. type(s), 2)
  end
  local c = new_compiler(s, opts)
  local ok, e = pcall(function()
    local root = c:fn(s, "full", "")
    local out = { "F[0] = function(v)", "local E" }
    if opts.coerce then c:coerce(s, "v", "", "", out) end
    out[#out + 1] = "E = F[" .. root .. "](v, nil)"
    out[#out + 1] = "if E == nil then return true, nil, v end"
    out[#out + 1] = "return false, E, v end"
    c.src[#c.src + 1] = concat(out, "\n")
  end)
  if not ok then rethrow(e, "crater.schema.compile", 2) end
  local src = PRELUDE .. concat(c.src, "\n")
  local F = load_chunk(src, opts.name or "crater.schema", c.K)
  return F[0], src
end

--- Checks a schema without keeping the validator: true, or nil and a message.
---@param s table|boolean
---@param opts? table
---@return boolean|nil ok
---@return string|nil err
function _M.check(s, opts)
  local ok, e = pcall(_M.compile, s, opts)
  if ok then return true end
  return nil, (tostring(e):gsub("^crater%.schema%.compile: ", ""))
end

-- --------------------------------------------------------------------------
-- The shaper: drop what the schema does not declare
-- --------------------------------------------------------------------------

-- The object view of a schema for shaping: declared properties (merged
-- over allOf and $ref), patterns, and whether other keys are kept.
function Compiler:object_view(s, path, view, depth)
  view = view or { props = {}, names = {}, patterns = {}, keep = false, any = false }
  s = self:deref(s, path)
  if type(s) ~= "table" or depth > 16 then return view end
  if s.properties ~= nil then
    view.any = true
    local ns = {}
    for name in pairs(s.properties) do ns[#ns + 1] = name end
    sort(ns)
    for _, name in ipairs(ns) do
      if view.props[name] == nil then view.names[#view.names + 1] = name end
      view.props[name] = view.props[name] or s.properties[name]
    end
  end
  if s.patternProperties ~= nil then
    view.any = true
    for pat, ps in pairs(s.patternProperties) do view.patterns[#view.patterns + 1] = { pat, ps } end
  end
  if s.additionalProperties ~= nil and s.additionalProperties ~= false then
    view.keep = view.keep or s.additionalProperties
  end
  if s.type == "object" or (type(s.type) == "table" and (function()
      for _, t in ipairs(s.type) do if t == "object" then return true end end end)()) then
    view.any = true
  end
  if type(s.allOf) == "table" then
    for i, b in ipairs(s.allOf) do self:object_view(b, path .. "/allOf/" .. (i - 1), view, depth + 1) end
  end
  return view
end

-- Emits a shaper function for schema `s`: F[id](v, D) -> v2, D.
function Compiler:shape_fn(s, path)
  local id = self.fid[s] and self.fid[s].shape
  if id then return id end
  self.fid[s] = self.fid[s] or {}
  self.nfun = self.nfun + 1
  id = self.nfun
  self.fid[s].shape = id
  local out = { "F[" .. id .. "] = function(v, D)" }
  local d = self:deref(s, path)
  if type(d) == "table" then
    -- anyOf/oneOf: shape with the first branch the value is valid against.
    for _, kw in ipairs({ "oneOf", "anyOf" }) do
      if type(d[kw]) == "table" then
        for i, b in ipairs(d[kw]) do
          local bp = path .. "/" .. kw .. "/" .. (i - 1)
          local vid = self:fn(b, "pure", bp, true)
          local sid = self:shape_fn(b, bp)
          out[#out + 1] = "if F[" .. vid .. "](v, nil) == nil then return F[" .. sid .. "](v, D) end"
        end
      end
    end
    local view = self:object_view(d, path, nil, 0)
    if view.any then
      out[#out + 1] = "if is_object(v) then local o = nil"
      out[#out + 1] = "for k, x in next, v do"
      local first = true
      for _, name in ipairs(view.names) do
        local ps = view.props[name]
        out[#out + 1] = (first and "if" or "elseif") .. " k == " .. lit_string(name) .. " then"
        first = false
        if self:shapes_anything(ps, path, 0) then
          local cid = self:shape_fn(ps, path .. "/properties/" .. esc(name))
          out[#out + 1] = "local n0 = D and #D or 0; local y; y, D = F[" .. cid .. "](x, D)"
          out[#out + 1] = "if D and #D > n0 then prefix_list(D, n0, " .. lit_string("/" .. esc(name)) .. ") end"
          out[#out + 1] = "if y ~= x then o = o or shallow(v); o[k] = y end"
        end
      end
      for _, pe in ipairs(view.patterns) do
        local re = regex.compile(pe[1])
        out[#out + 1] = (first and "if" or "elseif") .. " type(k) == \"string\" and " .. self:const(re.test) .. "(k) then"
        first = false
        if self:shapes_anything(pe[2], path, 0) then
          local cid = self:shape_fn(pe[2], path .. "/patternProperties")
          out[#out + 1] = "local n0 = D and #D or 0; local y; y, D = F[" .. cid .. "](x, D)"
          out[#out + 1] = "if D and #D > n0 then prefix_list(D, n0, \"/\" .. esc(k)) end"
          out[#out + 1] = "if y ~= x then o = o or shallow(v); o[k] = y end"
        end
      end
      if view.keep then
        if not first then out[#out + 1] = "else" end
        if view.keep ~= true and self:shapes_anything(view.keep, path, 0) then
          local cid = self:shape_fn(view.keep, path .. "/additionalProperties")
          out[#out + 1] = "local n0 = D and #D or 0; local y; y, D = F[" .. cid .. "](x, D)"
          out[#out + 1] = "if D and #D > n0 then prefix_list(D, n0, \"/\" .. esc(k)) end"
          out[#out + 1] = "if y ~= x then o = o or shallow(v); o[k] = y end"
        end
        if not first then out[#out + 1] = "end" end
      else
        out[#out + 1] = (first and "do" or "else") .. " o = o or shallow(v); o[k] = nil; D = drop(D, \"/\" .. esc(k))"
        out[#out + 1] = "end"
      end
      out[#out + 1] = "end"
      out[#out + 1] = "return o or v, D end"
    end
    local items, pitems = d.items, d.prefixItems
    local is_arr_schema = d.type == "array" or items ~= nil or pitems ~= nil
    if is_arr_schema then
      out[#out + 1] = "if type(v) == \"table\" and getmetatable(v) ~= AMT and next(v) == nil then return setmetatable({}, AMT), D end"
      local parts = {}
      if type(pitems) == "table" then
        for i, ps in ipairs(pitems) do
          if self:shapes_anything(ps, path, 0) then parts[#parts + 1] = { i, i, self:shape_fn(ps, path .. "/prefixItems/" .. (i - 1)) } end
        end
      end
      if type(items) == "table" and self:shapes_anything(items, path, 0) then
        parts[#parts + 1] = { (type(pitems) == "table" and #pitems or 0) + 1, nil, self:shape_fn(items, path .. "/items") }
      end
      if #parts > 0 then
        out[#out + 1] = "if is_array(v) then local o = nil"
        for _, pt in ipairs(parts) do
          out[#out + 1] = "for i = " .. pt[1] .. ", " .. (pt[2] or "#v") .. " do local x = v[i]"
          out[#out + 1] = "local n0 = D and #D or 0; local y; y, D = F[" .. pt[3] .. "](x, D)"
          out[#out + 1] = "if D and #D > n0 then prefix_list(D, n0, \"/\" .. (i - 1)) end"
          out[#out + 1] = "if y ~= x then o = o or shallow(v); o[i] = y end end"
        end
        out[#out + 1] = "return o or v, D end"
      end
    end
  end
  out[#out + 1] = "return v, D end"
  self.src[#self.src + 1] = concat(out, "\n")
  return id
end

-- Whether shaping with `s` can change anything (else children are skipped).
function Compiler:shapes_anything(s, path, depth)
  s = self:deref(s, path)
  if type(s) ~= "table" or depth > 16 then return false end
  if s.properties ~= nil or s.patternProperties ~= nil or s.type == "object" or s.type == "array"
      or s.items ~= nil or s.prefixItems ~= nil or s.anyOf ~= nil or s.oneOf ~= nil or s.allOf ~= nil then
    return true
  end
  if type(s.type) == "table" then
    for _, t in ipairs(s.type) do if t == "object" or t == "array" then return true end end
  end
  return false
end

--- Compiles a shaper: `shape(value) -> new_value, dropped`. Object keys the
--- schema does not declare (in properties, patternProperties, or by an
--- additionalProperties that is not false) are removed, at every depth.
--- The input is never changed: what changes is copied (copy on write), so
--- a value with nothing to drop comes back as the same table. `dropped` is
--- nil or the list of JSON Pointers removed. Empty tables where the
--- schema says array become marked arrays (so they encode as `[]`).
---@param s table|boolean
---@param opts? { components?: table<string, table>, formats?: table, name?: string }
---@return fun(value: any): any, string[]|nil
function _M.shaper(s, opts)
  opts = check_opts(opts, "crater.schema.shaper")
  local c = new_compiler(s, opts)
  local root
  local ok, e = pcall(function() root = c:shape_fn(s, "") end)
  if not ok then rethrow(e, "crater.schema.shaper", 2) end
  local F = load_chunk(PRELUDE .. concat(c.src, "\n"), opts.name or "crater.schema.shaper", c.K)
  local f = F[root]
  return function(v) return f(v, nil) end
end

return _M
