--- crater.security: OpenAPI security schemes (API keys, HTTP bearer and
--- basic, OAuth2, OpenID Connect) that Crater both documents and checks.
--- See docs/security.md.
--
--   app:security_scheme("api_key", { type = "apiKey", ["in"] = "header", name = "X-API-Key" },
--     function(req, key, scopes) return users_by_key[key] end)
--   app:security { "api_key" }              -- every route, unless it says otherwise
--   v1 = app:group("/v1", { security = { { bearer = { "read" } } } })
--   app:get("/health", { security = {} }, fn) -- public
--
-- A requirement list is what OpenAPI's `security` is: alternatives (any one
-- suffices), each a set of schemes that must all pass. A name alone stands
-- for { [name] = {} }. The dispatcher runs the route's check before the
-- before hooks; it sets req.auth to what the check returned.

local json = require "crater.json"
local errors = require "crater.errors"
local request = require "crater.request"

local type, ipairs, pairs, error, tostring, next, pcall = type, ipairs, pairs, error, tostring, next, pcall
local setmetatable = setmetatable
local format, find, match, lower, gsub, byte, char, sub =
  string.format, string.find, string.match, string.lower, string.gsub, string.byte, string.char, string.sub
local concat, sort = table.concat, table.sort
local bit = require "bit"
local band, bor, lshift, rshift = bit.band, bit.bor, bit.lshift, bit.rshift
local array_mt = json.array_mt
local header = request.header
local error_answer = errors.answer

local _M = { version = "0.1.0" }

local TYPES = { apiKey = true, http = true, oauth2 = true, openIdConnect = true, mutualTLS = true }
local KEY_IN = { header = true, query = true, cookie = true }

-- ---------------------------------------------------------------------------
-- Declaring schemes and requirements
-- ---------------------------------------------------------------------------

local function check_spec(name, spec)
  if type(spec) ~= "table" then error("security_scheme: the scheme must be a table (an OpenAPI Security Scheme Object)", 0) end
  local t = spec.type
  if not TYPES[t] then
    error(format("security_scheme %s: type must be apiKey, http, oauth2, openIdConnect or mutualTLS, got %s",
      name, tostring(t)), 0)
  end
  if t == "apiKey" then
    if not KEY_IN[spec["in"]] then error(format("security_scheme %s: apiKey needs [\"in\"] = header, query or cookie", name), 0) end
    if type(spec.name) ~= "string" or spec.name == "" then error(format("security_scheme %s: apiKey needs a name", name), 0) end
  elseif t == "http" then
    if type(spec.scheme) ~= "string" or not find(spec.scheme, "^[%w!#$%%&'*+%-.^_`|~]+$") then
      error(format("security_scheme %s: http needs a scheme (\"bearer\", \"basic\", ...)", name), 0)
    end
  elseif t == "oauth2" then
    if type(spec.flows) ~= "table" or next(spec.flows) == nil then
      error(format("security_scheme %s: oauth2 needs flows (implicit, password, clientCredentials, authorizationCode)", name), 0)
    end
  elseif t == "openIdConnect" then
    if type(spec.openIdConnectUrl) ~= "string" then error(format("security_scheme %s: openIdConnect needs openIdConnectUrl", name), 0) end
  end
end

--- A requirement list in OpenAPI form: { { name = { scopes } }, ... }.
--- Raises (level 0) for a malformed one.
---@param v table
---@return table
function _M.normalize(v)
  if type(v) ~= "table" then error("security must be a list: names, or { name = { scopes } } tables", 0) end
  local out = setmetatable({}, array_mt)
  for i, alt in ipairs(v) do
    if type(alt) == "string" then
      out[i] = { [alt] = setmetatable({}, array_mt) }
    elseif type(alt) == "table" then
      local req = {}
      for name, scopes in pairs(alt) do
        if type(name) ~= "string" then error(format("security[%d]: keys must be scheme names", i), 0) end
        if type(scopes) ~= "table" then error(format("security[%d].%s must be a list of scopes", i, name), 0) end
        local s = setmetatable({}, array_mt)
        for j, sc in ipairs(scopes) do
          if type(sc) ~= "string" then error(format("security[%d].%s[%d] must be a string", i, name, j), 0) end
          s[j] = sc
        end
        req[name] = s
      end
      out[i] = req
    else
      error(format("security[%d] must be a scheme name or { name = { scopes } }", i), 0)
    end
  end
  return out
end

-- ---------------------------------------------------------------------------
-- Reading credentials
-- ---------------------------------------------------------------------------

local B64 = {}
do
  local a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  for i = 1, 64 do B64[byte(a, i)] = i - 1 end
end

-- Base64 (RFC 4648, padding optional) to bytes; nil when malformed.
local function b64_decode(s)
  s = gsub(s, "=+$", "")
  if #s % 4 == 1 then return nil end
  local out, acc, bits = {}, 0, 0
  for i = 1, #s do
    local v = B64[byte(s, i)]
    if v == nil then return nil end
    acc, bits = bor(lshift(acc, 6), v), bits + 6
    if bits >= 8 then
      bits = bits - 8
      out[#out + 1] = char(band(rshift(acc, bits), 255))
      acc = band(acc, lshift(1, bits) - 1)
    end
  end
  return concat(out)
end
_M.b64_decode = b64_decode

local function cookie(req, name)
  local h = header(req, "cookie")
  if h == nil then return nil end
  for pair in h:gmatch("[^;]+") do
    local k, v = match(pair, "^%s*([^=]-)%s*=%s*(.-)%s*$")
    if k == name then
      if sub(v, 1, 1) == '"' and sub(v, -1) == '"' and #v >= 2 then v = sub(v, 2, -2) end
      return v
    end
  end
  return nil
end

-- Authorization: <scheme> <credentials>, the scheme's name in any case.
local function authorization(req, scheme)
  local h = header(req, "authorization")
  if h == nil then return nil end
  local s, rest = match(h, "^(%S+)%s+(.-)%s*$")
  if s == nil or lower(s) ~= lower(scheme) or rest == "" then return nil end
  return rest
end

-- The credential a request carries for a scheme: a string (an API key, a
-- bearer token), a { user, password } table (basic); nil when it carries
-- none, false when it is malformed.
local function credential(req, spec)
  local t = spec.type
  if t == "apiKey" then
    local w = spec["in"]
    local v
    if w == "header" then v = header(req, spec.name)
    elseif w == "query" then
      v = req.query[spec.name]
      if type(v) == "table" then v = v[1] end
    else v = cookie(req, spec.name) end
    if v == "" then return nil end
    return v
  elseif t == "http" and lower(spec.scheme) == "basic" then
    local raw = authorization(req, "basic")
    if raw == nil then return nil end
    local text = b64_decode(raw)
    if text == nil then return false end
    local user, password = match(text, "^([^:]*):(.*)$")
    if user == nil then return false end
    return { user = user, password = password }
  elseif t == "http" then
    return authorization(req, spec.scheme)
  end
  return authorization(req, "bearer") -- oauth2, openIdConnect: the access token
end

local function where_sent(spec)
  local t = spec.type
  if t == "apiKey" then return format("the %s %s", spec.name, spec["in"] == "query" and "query parameter" or spec["in"]) end
  if t == "http" then return "an Authorization: " .. spec.scheme:sub(1, 1):upper() .. spec.scheme:sub(2) .. " header" end
  return "an Authorization: Bearer header"
end

local function quoted(s)
  return '"' .. gsub(gsub(tostring(s), '[%c"\\]', ""), "[\128-\255]", "") .. '"'
end

-- The WWW-Authenticate challenge for a scheme (RFC 9110 11.6.1).
local function challenge(spec, realm, invalid)
  local t = spec.type
  if t == "apiKey" then
    return format("ApiKey realm=%s, in=%s, name=%s", realm, quoted(spec["in"]), quoted(spec.name))
  end
  local scheme = t == "http" and spec.scheme or "Bearer"
  scheme = scheme:sub(1, 1):upper() .. scheme:sub(2)
  local c = scheme .. " realm=" .. realm
  if lower(scheme) == "basic" then c = c .. ', charset="UTF-8"' end
  if invalid and lower(scheme) == "bearer" then c = c .. ', error="invalid_token"' end
  return c
end

-- ---------------------------------------------------------------------------
-- The check a route runs
-- ---------------------------------------------------------------------------

-- The requirement list of a route: its own, else its innermost group's,
-- else the app's; nil when none applies.
local function requirement_of(app, rec)
  if rec.opts.security ~= nil then return rec.opts.security, "route" end
  local g = rec.group
  while g do
    if g._security ~= nil then return g._security, "group" end
    g = g._parent
  end
  return app._security, "app"
end

--- The function the dispatcher runs first for a route, or nil when the
--- route needs no credentials. Raises (level 0) for a requirement naming a
--- scheme the app did not declare.
---@param app table
---@param rec table a route record
---@return (fun(req: table): table|nil)|nil
function _M.hook(app, rec)
  local list = requirement_of(app, rec)
  if list == nil then return nil end
  local ok, reqs = pcall(_M.normalize, list)
  if not ok then error(format("route %s %s (%s): %s", rec.method, rec.path, rec.where, reqs), 0) end
  if #reqs == 0 then return nil end
  local schemes = app._security_schemes or {}
  for _, alt in ipairs(reqs) do
    for name in pairs(alt) do
      if schemes[name] == nil then
        error(format("route %s %s (%s): security scheme %q is not declared (app:security_scheme)",
          rec.method, rec.path, rec.where, name), 0)
      end
    end
  end
  -- Each alternative's checked schemes, in name order. An alternative made
  -- only of schemes Crater does not check (check = false) is met elsewhere
  -- (a proxy): Crater cannot tell, so it checks nothing for this route.
  local alts = {}
  for i, alt in ipairs(reqs) do
    local names = {}
    for name in pairs(alt) do
      if schemes[name].check then names[#names + 1] = name end
    end
    if #names == 0 then return nil end
    sort(names)
    alts[i] = { names = names, scopes = alt }
  end
  local nalts = #alts
  local realm = quoted(app.title or "crater")

  -- The 401: one challenge per scheme that failed first in an alternative;
  -- `fails` holds name, whether its credential was missing, ...
  local function refuse(req, fails)
    local challenges, seen, missing, invalid = {}, {}, {}, false
    for i = 1, #fails, 2 do
      local name, absent = fails[i], fails[i + 1]
      local spec = schemes[name].spec
      if absent then missing[#missing + 1] = where_sent(spec) else invalid = true end
      if not seen[name] then
        seen[name] = true
        challenges[#challenges + 1] = challenge(spec, realm, not absent)
      end
    end
    local detail
    if invalid then detail = "the credentials are not valid"
    else detail = "credentials are required: " .. concat(missing, " or ") end
    return error_answer(app, req, 401, detail, { ["WWW-Authenticate"] = challenges })
  end

  return function(req)
    local fails
    for i = 1, nalts do
      local a = alts[i]
      local names, auth, passed = a.names, nil, true
      local one = #names == 1
      for j = 1, #names do
        local name = names[j]
        local s = schemes[name]
        local v = credential(req, s.spec)
        local result = v and s.check(req, v, a.scopes[name])
        if not result then
          fails = fails or {}
          fails[#fails + 1], fails[#fails + 2] = name, v == nil
          passed = false
          break
        end
        if one then auth = result
        else
          auth = auth or {}
          auth[name] = result
        end
      end
      if passed then
        req.auth = auth
        return nil
      end
    end
    return refuse(req, fails)
  end
end

-- ---------------------------------------------------------------------------
-- The OpenAPI document
-- ---------------------------------------------------------------------------

local function copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = copy(x) end
  return t
end

--- The operation's `security` when its route or group sets one (the app's
--- is the document's top-level one), else nil.
---@param app table
---@param rec table
---@return table|nil
function _M.operation(app, rec)
  local list, from = requirement_of(app, rec)
  if list == nil or from == "app" then return nil end
  return _M.normalize(list)
end

--- Whether Crater checks credentials for a route (so it may answer 401).
---@param app table
---@param rec table
---@return boolean
function _M.checked(app, rec)
  local ok, f = pcall(_M.hook, app, rec)
  return ok and f ~= nil
end

--- Adds components.securitySchemes and the top-level security to a document.
---@param app table
---@param doc table
function _M.document(app, doc)
  local names = app._security_names
  if names and #names > 0 then
    doc.components = doc.components or {}
    local out = {}
    for _, n in ipairs(names) do out[n] = copy(app._security_schemes[n].spec) end
    doc.components.securitySchemes = out
  end
  if app._security ~= nil then doc.security = _M.normalize(app._security) end
end

--- Gives crater.app app:security_scheme(name, spec, check) and
--- app:security(requirements).
---@param App table
function _M.install(App)
  --- Declares a security scheme (an OpenAPI Security Scheme Object) and
  --- how to check it: check(req, credential, scopes) returns what req.auth
  --- becomes, or nil/false for credentials that are not valid (401). The
  --- credential is the API key or bearer token (a string), or for HTTP
  --- basic { user = ..., password = ... }. `false` instead of a function
  --- only documents the scheme: Crater checks nothing.
  ---@param name string
  ---@param spec table
  ---@param check (fun(req: table, credential: string|table, scopes: string[]): any)|false
  ---@return table app
  function App:security_scheme(name, spec, check)
    if type(name) ~= "string" or not find(name, "^[%w%.%-_]+$") then
      error("app:security_scheme: name must be a string of letters, digits, '.', '-' or '_'", 2)
    end
    local ok, err = pcall(check_spec, name, spec)
    if not ok then error("app:" .. err, 2) end
    if check ~= false and type(check) ~= "function" then
      error(format("app:security_scheme %s: give a check function(req, credential, scopes)"
        .. " (or false to document the scheme without checking it)", name), 2)
    end
    if check and spec.type == "mutualTLS" then
      error(format("app:security_scheme %s: Crater cannot check mutualTLS (give false to document it)", name), 2)
    end
    self._security_schemes = self._security_schemes or {}
    self._security_names = self._security_names or {}
    if self._security_schemes[name] == nil then self._security_names[#self._security_names + 1] = name end
    self._security_schemes[name] = { spec = spec, check = check or nil }
    return self
  end

  --- The security every route needs unless its group or itself says
  --- otherwise: scheme names (any one suffices) or the OpenAPI form
  --- { { a = {}, b = { "scope" } }, ... }.
  ---@param requirements table
  ---@return table app
  function App:security(requirements)
    local ok, err = pcall(_M.normalize, requirements)
    if not ok then error("app:security: " .. err, 2) end
    self._security = requirements
    return self
  end
end

return _M
