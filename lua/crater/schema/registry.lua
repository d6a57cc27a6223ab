--- crater.schema.registry: schema documents known by URI, for `$ref`s that
--- leave the schema being compiled. A registry holds documents added with
--- `register` and may have a loader (`resolve`) asked for the rest; the
--- draft 2020-12 meta-schemas are always known. Nothing is ever fetched
--- from a network: a URI nobody knows is a compile error.

local uri = require "crater.schema.uri"

local type, error, setmetatable, getmetatable, require = type, error, setmetatable, getmetatable, require

local _M = { version = "0.1.0" }

---@class crater.schema.registry
---@field docs table<string, table|boolean> documents by absolute URI (no fragment)
---@field loader? fun(uri: string): (table|boolean|nil)
local Registry = {}
Registry.__index = Registry

--- Adds a schema document, known by `name` when given, else by its `$id`.
--- Returns the registry (calls chain).
---@param doc table|boolean the schema document (decoded JSON or DSL)
---@param name? string the URI it is known by (absolute, or any string)
---@return crater.schema.registry
function Registry:register(doc, name)
  if type(doc) ~= "table" and type(doc) ~= "boolean" then
    error("crater.schema.registry: register: a schema expected, got " .. type(doc), 2)
  end
  if name == nil and type(doc) == "table" then name = doc["$id"] end
  if type(name) ~= "string" then
    error("crater.schema.registry: register: the schema has no $id: pass its URI", 2)
  end
  self.docs[(uri.split(name))] = doc
  return self
end

--- The document known by `u` (no fragment): registered, then the loader's,
--- then the built-in meta-schemas. nil when nobody knows it.
---@param u string
---@return table|boolean|nil
function Registry:get(u)
  local d = self.docs[u]
  if d ~= nil then return d end
  if self.loader then
    d = self.loader(u)
    if d ~= nil then
      self.docs[u] = d
      return d
    end
  end
  return _M.builtin(u)
end

--- A new registry. `opts.resolve(uri)` returns the document for a URI the
--- registry does not hold (read from a file, a table...), or nil.
---@param opts? { resolve?: fun(uri: string): (table|boolean|nil) }
---@return crater.schema.registry
function _M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("crater.schema.registry: options must be a table", 2)
  end
  local loader = opts and opts.resolve
  if loader ~= nil and type(loader) ~= "function" then
    error("crater.schema.registry: resolve must be a function", 2)
  end
  return setmetatable({ docs = {}, loader = loader }, Registry)
end

--- True for a registry made by `new`.
---@param x any
---@return boolean
function _M.is(x)
  return type(x) == "table" and getmetatable(x) == Registry
end

--- The draft 2020-12 meta-schema or vocabulary meta-schema at `u`, or nil.
---@param u string
---@return table|nil
function _M.builtin(u)
  -- Loaded on first use: most apps never $ref a meta-schema.
  return require("crater.schema.metaschema").documents[u]
end

return _M
