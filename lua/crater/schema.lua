--- crater.schema: JSON Schema 2020-12 for Lua -- a DSL that builds schema
--- tables, a validator compiler and a response shaper.
--
-- This module is the one face of five that each do one thing (none of them
-- requires this one, and none requires another in a cycle):
--   crater.schema.values   JSON values in Lua: null, arrays, equality
--   crater.schema.dsl      s.string, s.object, ... and s.define's names
--   crater.schema.compile  schema -> generated Lua source -> validate
--   crater.schema.runtime  the helpers generated code calls
--   crater.schema.shape    the shaper (drops what a schema does not declare)
--   crater.schema.registry schema documents known by URI, for $ref
-- (crater.schema.writer is the buffer the generated source is written to.)
-- The rules -- keywords, error list, coercion, defaults, shaping, null and
-- arrays, the regex dialect -- are in docs/schemas.md.

local values = require "crater.schema.values"
local dsl = require "crater.schema.dsl"
local compile = require "crater.schema.compile"
local shape = require "crater.schema.shape"
local registry = require "crater.schema.registry"

local pairs = pairs

local _M = { version = "0.2.0" }

--- The value JSON null is (crater.json.null / cjson.null). (`s.null` is the DSL.)
_M.json_null = values.null
--- The metatable that marks a table as a JSON array.
_M.array_mt = values.array_mt
--- True when decoded arrays carry `array_mt`, so `[]` and `{}` differ.
_M.arrays_marked = values.marked
--- Whether a value is a JSON array / object (see "Null and arrays").
_M.is_array, _M.is_object = values.is_array, values.is_object
--- Deep equality with JSON's meaning: 1 == 1.0, [] ~= {}, key order ignored.
_M.equal = values.equal

--- The DSL functions, also copied onto this module (`s.string`, ...).
_M.dsl = dsl.dsl
for k, f in pairs(dsl.dsl) do _M[k] = f end
_M.name_of = dsl.name_of
_M.collect = dsl.collect

_M.compile = compile.compile
_M.source = compile.source
_M.check = compile.check
_M.shaper = shape.shaper

--- A new registry of schema documents known by URI, for compile's
--- `registry` option: `r:register(doc [, uri])` adds one (known by its
--- `$id` when no URI is given); `opts.resolve(uri)` is asked for the rest.
--- The draft 2020-12 meta-schemas are always known.
---@param opts? { resolve?: fun(uri: string): (table|boolean|nil) }
---@return crater.schema.registry
function _M.registry(opts)
  return registry.new(opts)
end

--- The URI of the draft 2020-12 meta-schema, which every registry knows.
_M.metaschema_uri = "https://json-schema.org/draft/2020-12/schema"

return _M
