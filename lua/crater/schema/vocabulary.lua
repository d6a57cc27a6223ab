--- crater.schema.vocabulary: what a schema's `$schema` says it uses
--- (JSON Schema 2020-12 section 8.1). A meta-schema other than the
--- standard one lists its vocabularies in `$vocabulary`; a required one
--- this validator does not know is a compile error, an optional one is
--- ignored, and without the validation vocabulary its keywords (type,
--- minimum, required...) are annotations only.

local type, pairs, error = type, pairs, error

local _M = { version = "0.1.0" }

local V = "https://json-schema.org/draft/2020-12/vocab/"
--- The vocabularies of draft 2020-12, by URI -> short name.
_M.KNOWN = {
  [V .. "core"] = "core", [V .. "applicator"] = "applicator", [V .. "unevaluated"] = "unevaluated",
  [V .. "validation"] = "validation", [V .. "meta-data"] = "meta-data",
  [V .. "format-annotation"] = "format-annotation", [V .. "content"] = "content",
  [V .. "format-assertion"] = "format-assertion",
}

-- The validation vocabulary's keywords (2020-12 Validation, section 6).
local VALIDATION = { type = true, enum = true, const = true, multipleOf = true, maximum = true,
  exclusiveMaximum = true, minimum = true, exclusiveMinimum = true, maxLength = true,
  minLength = true, pattern = true, maxItems = true, minItems = true, uniqueItems = true,
  maxContains = true, minContains = true, maxProperties = true, minProperties = true,
  required = true, dependentRequired = true }

local STANDARD = {
  ["https://json-schema.org/draft/2020-12/schema"] = true,
}

local function bad(msg)
  error({ crater_schema_error = true, message = "invalid schema at /$schema: " .. msg }, 0)
end

--- The vocabularies (short name -> true) the meta-schema `meta` uses, or
--- nil when they are all of 2020-12's: the standard meta-schema, a
--- meta-schema `get(uri)` does not know, or one without `$vocabulary`.
---@param meta any the value of `$schema`
---@param get fun(uri: string): any the document at a URI, or nil
---@return table<string, boolean>|nil
function _M.of(meta, get)
  if type(meta) ~= "string" then bad("must be a string") end
  local u = meta:gsub("#$", "")
  if STANDARD[u] then return nil end
  local doc = get(u)
  if type(doc) ~= "table" or type(doc["$vocabulary"]) ~= "table" then return nil end
  local set = {}
  for vu, required in pairs(doc["$vocabulary"]) do
    local name = _M.KNOWN[vu]
    if name then set[name] = true
    elseif required == true then
      bad("$schema " .. meta .. " requires the vocabulary " .. vu .. ", which crater.schema does not know")
    end
  end
  return set
end

--- A copy of schema `s` without the validation vocabulary's keywords.
---@param s table
---@return table
function _M.without_validation(s)
  local t = {}
  for k, v in pairs(s) do
    if not VALIDATION[k] then t[k] = v end
  end
  return t
end

return _M
