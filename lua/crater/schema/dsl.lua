--- crater.schema.dsl: the functions that build schema tables (s.string,
--- s.object, ...), and the names s.define gives them.
--
-- Each builder returns a plain JSON Schema table: no metatables but the
-- array marker on lists, no hidden fields. So a schema can be printed with
-- json.encode, put in an OpenAPI document, or mixed with raw JSON Schema
-- tables, and the compiler needs nothing from this module. The rules are in
-- docs/schemas.md ("The DSL").

local values = require "crater.schema.values"

local type, pairs, next, error, select = type, pairs, next, error, select
local setmetatable, getmetatable = setmetatable, getmetatable
local find, sort = string.find, table.sort
local null, mark, is_seq = values.null, values.mark, values.is_seq

local _M = { version = "0.2.0" }

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

--- The builders alone (what the façade also copies onto crater.schema).
local dsl = {}
_M.dsl = dsl

--- `{type="string"}` plus `opts` (minLength, maxLength, pattern, format, default, ...).
---@type fun(opts?: table): table
dsl.string = scalar("string", "s.string")
--- `{type="integer"}` plus `opts` (minimum, maximum, exclusiveMinimum, multipleOf, ...).
---@type fun(opts?: table): table
dsl.integer = scalar("integer", "s.integer")
--- `{type="number"}` plus `opts`.
---@type fun(opts?: table): table
dsl.number = scalar("number", "s.number")
--- `{type="boolean"}` plus `opts`.
---@type fun(opts?: table): table
dsl.boolean = scalar("boolean", "s.boolean")
--- `{type="null"}` plus `opts`.
---@type fun(opts?: table): table
dsl.null = scalar("null", "s.null")

--- Any value: `{}` plus `opts`.
---@param opts? table
---@return table
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
---@param list any[]
---@param opts? table
---@return table
function dsl.enum(list, opts)
  if type(list) ~= "table" then error("s.enum: a list of values expected", 2) end
  local e = {}
  for i = 1, #list do e[i] = list[i] end
  return with({ enum = mark(e) }, opts, "s.enum")
end

--- Exactly this value (`nil` means JSON null).
---@param v any
---@param opts? table
---@return table
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
--- `{anyOf = list}`: valid against at least one of the schemas.
---@type fun(list: table[], opts?: table): table
dsl.any_of = combinator("anyOf", "s.any_of")
--- `{oneOf = list}`: valid against exactly one of the schemas.
---@type fun(list: table[], opts?: table): table
dsl.one_of = combinator("oneOf", "s.one_of")
--- `{allOf = list}`: valid against all of the schemas.
---@type fun(list: table[], opts?: table): table
dsl.all_of = combinator("allOf", "s.all_of")

--- Anything but what `x` accepts.
---@type fun(x: table|boolean, opts?: table): table
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

return _M
