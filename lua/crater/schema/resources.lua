--- crater.schema.resources: the schema resources of a document (JSON
--- Schema 2020-12 section 9.1) -- the base URI of every subschema, the
--- resources `$id` makes, their `$anchor`s and `$dynamicAnchor`s -- found
--- by one walk, so the compiler resolves each `$ref` by a table lookup.
--
-- Only keywords that hold schemas are walked: an `$id` inside `enum`,
-- `const` or an unknown keyword is data, not a resource (the spec's
-- optional/id.json and optional/unknownKeyword.json).

local uri = require "crater.schema.uri"

local type, pairs, ipairs, error = type, pairs, ipairs, error

local _M = { version = "0.1.0" }

local ONE = { additionalProperties = true, items = true, contains = true, propertyNames = true,
  ["if"] = true, ["then"] = true, ["else"] = true, ["not"] = true, unevaluatedItems = true,
  unevaluatedProperties = true, contentSchema = true }
local LIST = { allOf = true, anyOf = true, oneOf = true, prefixItems = true }
-- `definitions` is not a 2020-12 keyword, but older schemas keep their
-- subschemas there and $ref them; walked as $defs is.
local MAP = { properties = true, patternProperties = true, ["$defs"] = true, definitions = true,
  dependentSchemas = true }

local function bad(msg)
  error({ crater_schema_error = true, message = msg }, 0)
end

--- A new, empty index (what `scan` fills).
---@return table
function _M.index()
  return {
    resources = {},   -- absolute URI (no fragment) -> resource root
    anchors = {},     -- URI "#" name -> subschema ($anchor and $dynamicAnchor)
    dynamic = {},     -- resource URI -> { name -> subschema with that $dynamicAnchor }
    base = {},        -- subschema -> its base URI
    resource = {},    -- subschema -> the URI of the resource it belongs to
    roots = {},       -- resource root -> true
    order = {},       -- resource URIs in the order found
  }
end

local function add_resource(ix, u, node)
  if ix.resources[u] == nil then
    ix.resources[u] = node
    ix.order[#ix.order + 1] = u
  end
  ix.roots[node] = true
end

--- Walks `doc`, whose retrieval URI is `base`, into the index `ix`.
--- Subschemas already indexed keep what they have (a table shared by two
--- documents belongs to the first).
---@param ix table
---@param doc any
---@param base string
---@param extra? fun(node: table, walk: fun(sub: any)) walks more (OpenAPI components)
function _M.scan(ix, doc, base, extra)
  local function walk(node, b, res)
    if type(node) ~= "table" or ix.base[node] ~= nil then return end
    local id = node["$id"]
    if type(id) == "string" then
      b = uri.split(uri.resolve(b, id))
      res = b
      add_resource(ix, b, node)
    end
    ix.base[node], ix.resource[node] = b, res
    local a = node["$anchor"]
    if type(a) == "string" then
      local key = res .. "#" .. a
      if ix.anchors[key] ~= nil and ix.anchors[key] ~= node then
        bad("invalid schema at /: $anchor '" .. a .. "' is defined twice" .. (res == "" and "" or " in " .. res))
      end
      ix.anchors[key] = node
    end
    local d = node["$dynamicAnchor"]
    if type(d) == "string" then
      local key = res .. "#" .. d
      if ix.anchors[key] == nil then ix.anchors[key] = node end
      local t = ix.dynamic[res]
      if t == nil then t = {}; ix.dynamic[res] = t end
      if t[d] == nil then t[d] = node end
    end
    for k, v in pairs(node) do
      if ONE[k] then walk(v, b, res)
      elseif LIST[k] and type(v) == "table" then
        for _, sub in ipairs(v) do walk(sub, b, res) end
      elseif MAP[k] and type(v) == "table" then
        for _, sub in pairs(v) do walk(sub, b, res) end
      end
    end
  end
  base = uri.split(base or "")
  if type(doc) == "table" then add_resource(ix, base, doc) end
  walk(doc, base, base)
  if extra then extra(doc, function(sub) walk(sub, ix.base[doc] or base, ix.resource[doc] or base) end) end
end

--- Indexes `node`, reached by a JSON Pointer through keywords the walk
--- does not know, as a subschema of the resource `res` with base `b`.
---@param ix table
---@param node any
---@param b string
---@param res string
function _M.adopt(ix, node, b, res)
  if type(node) ~= "table" or ix.base[node] ~= nil then return end
  -- A throwaway index walks it; only what is new is kept.
  local sub = _M.index()
  _M.scan(sub, node, b)
  for n, nb in pairs(sub.base) do
    if ix.base[n] == nil then
      ix.base[n] = nb
      ix.resource[n] = (n == node) and res or sub.resource[n]
    end
  end
  ix.base[node], ix.resource[node] = b, res
end

return _M
