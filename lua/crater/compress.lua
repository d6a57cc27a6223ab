--- crater.compress: the options of response compression (docs/compression.md).
---
--- The C core codes the answers (host/src/compress.c); this module checks an
--- app's and a route's `compress` option and turns them into the policy the
--- dispatcher hands the core with each answer (its fifth value).

local host = require "crater.host"

local type, pairs, ipairs, tostring, floor = type, pairs, ipairs, tostring, math.floor
local new_policy = host.compress_policy

local _M = { version = "0.1.0" }

--- The media types coded unless an app says otherwise: "text/*" is a whole
--- top-level type, "*+json" a structured syntax suffix (RFC 6839).
_M.TYPES = {
  "text/*", "application/json", "application/javascript", "application/xml",
  "application/x-ndjson", "application/wasm", "*+json", "*+xml",
}

--- The defaults of every option.
_M.DEFAULTS = { level = 6, br = 4, min_size = 1024 }

local KNOWN = { level = true, br = true, min_size = true, types = true }

local function is_int(v, lo, hi)
  return type(v) == "number" and v == floor(v) and v >= lo and v <= hi
end

--- Checks a `compress` option: nil or true (the defaults, or the app's for
--- a route), false (off), or a table { level=, br=, min_size=, types= }.
--- Returns true, or nil and what is wrong with it.
---@param v any
---@return true|nil ok
---@return string|nil err
function _M.check(v)
  if v == nil or v == true or v == false then return true end
  if type(v) ~= "table" then return nil, "compress must be true, false or a table of options" end
  for k in pairs(v) do
    if not KNOWN[k] then return nil, "unknown compress option " .. tostring(k) end
  end
  if v.level ~= nil and not is_int(v.level, 1, 9) then
    return nil, "compress.level must be an integer from 1 to 9 (gzip)"
  end
  if v.br ~= nil and v.br ~= false and not is_int(v.br, 1, 11) then
    return nil, "compress.br must be false or an integer from 1 to 11 (brotli quality)"
  end
  if v.min_size ~= nil and not is_int(v.min_size, 0, 2 ^ 40) then
    return nil, "compress.min_size must be a number of bytes >= 0"
  end
  if v.types ~= nil then
    if type(v.types) ~= "table" then return nil, "compress.types must be a list of media types" end
    for i, t in ipairs(v.types) do
      if type(t) ~= "string" or not t:find("^[%w!#$&^_.+*-]+/?[%w!#$&^_.+*-]*$") then
        return nil, "compress.types[" .. i .. "] must be a media type like \"text/*\" or \"*+json\""
      end
    end
  end
  return true
end

local function pick(route, app, key)
  local v
  if type(route) == "table" then v = route[key] end
  if v == nil and type(app) == "table" then v = app[key] end
  if v == nil then v = _M.DEFAULTS[key] end
  return v
end

--- The policy for answers under the app option `app` and a route's option
--- `route` (nil for answers no route gave: 404s...): false when either is
--- false, else a policy of the core, the route's fields over the app's.
--- Both options were checked (check).
---@param app any the app's compress option
---@param route any the route's compress option
---@return any policy a userdata of the core, or false
function _M.policy(app, route)
  if app == false or route == false then return false end
  local br = pick(route, app, "br")
  local types = pick(route, app, "types") or _M.TYPES
  return new_policy(pick(route, app, "level"), br or 0, pick(route, app, "min_size"), types)
end

return _M
