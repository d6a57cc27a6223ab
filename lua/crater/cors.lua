--- crater.cors: Cross-Origin Resource Sharing (the Fetch standard's CORS
--- protocol) for an app or a group: app:cors{...} / group:cors{...}.
--- See docs/cors.md.
--
-- The dispatcher asks answer_preflight() first for an OPTIONS request that
-- carries Origin and Access-Control-Request-Method; it answers it without
-- running hooks or handlers. Every other answer, errors included, passes
-- through decorate() just before it is sent, so a browser can read a 404
-- or a 422 problem as well as a 200.

local type, ipairs, pairs, error, tostring, pcall, rawget = type, ipairs, pairs, error, tostring, pcall, rawget
local format, lower, upper, find, gsub = string.format, string.lower, string.upper, string.find, string.gsub
local concat = table.concat
local response = require "crater.response"
local request = require "crater.request"
local group = require "crater.group"

local header = request.header
local new_response = response.new

local _M = { version = "0.1.0" }

local DEFAULT_METHODS = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" }
local OPTS = { origins = true, methods = true, headers = true, expose = true, credentials = true,
               max_age = true }
local TOKEN = "^[!#$%%&'*+%-.^_`|~%w]+$"

local function names(v, what, case)
  if v == nil then return nil end
  if type(v) ~= "table" then error(format("cors: %s must be a list of names", what), 0) end
  local list, set = {}, {}
  for i, n in ipairs(v) do
    if type(n) ~= "string" or not find(n, TOKEN) then
      error(format("cors: %s[%d] must be a header or method name (a token), got %s", what, i, tostring(n)), 0)
    end
    n = case(n)
    list[#list + 1] = n
    set[lower(n)] = true
  end
  return list, set
end

local function keep(s) return s end

--- Checks CORS options and returns the policy the dispatcher uses. Raises
--- (level 0) with what is wrong.
---@param opts { origins: string|string[]|fun(origin: string): boolean, methods?: string[], headers?: string[], expose?: string[], credentials?: boolean, max_age?: integer }
---@return table policy
function _M.config(opts)
  if type(opts) ~= "table" then error("cors: options must be a table", 0) end
  for k in pairs(opts) do
    if not OPTS[k] then error(format("cors: unknown option %s", tostring(k)), 0) end
  end
  local o = opts.origins
  local p = { credentials = opts.credentials == true }
  if opts.credentials ~= nil and type(opts.credentials) ~= "boolean" then
    error("cors: credentials must be true or false", 0)
  end
  if o == "*" then
    if p.credentials then
      error("cors: origins = \"*\" with credentials = true is refused by browsers (the Fetch standard):"
        .. " list the origins, or give a function(origin)", 0)
    end
    p.any = true
  elseif type(o) == "function" then
    p.fn = o
  elseif type(o) == "table" then
    p.set = {}
    for i, v in ipairs(o) do
      if type(v) ~= "string" or not (find(v, "^https?://[^/%s]+$") or v == "null") then
        error(format("cors: origins[%d] must be an origin like \"https://a.example\" or \"http://localhost:3000\""
          .. " (scheme://host[:port], no path, no trailing '/'), got %s", i, tostring(v)), 0)
      end
      p.set[lower(v)] = true -- browsers send scheme and host in lower case
    end
  else
    error("cors: origins must be \"*\", a list of origins, or a function(origin) returning true or false", 0)
  end
  local m = names(opts.methods or DEFAULT_METHODS, "methods", upper)
  p.methods = concat(m, ", ")
  p.method_set = {}
  for _, v in ipairs(m) do p.method_set[v] = true end
  local hl, hs = names(opts.headers, "headers", keep)
  p.headers, p.header_set = hl and concat(hl, ", "), hs
  local el = names(opts.expose, "expose", keep)
  p.expose = el and #el > 0 and concat(el, ", ") or nil
  local ma = opts.max_age
  if ma ~= nil and (type(ma) ~= "number" or ma < 0 or ma % 1 ~= 0) then
    error("cors: max_age must be a whole number of seconds >= 0", 0)
  end
  p.max_age = ma and tostring(ma)
  return p
end

--- Whether any CORS policy is set on the app or one of its groups.
---@param app table
---@return boolean
function _M.enabled(app)
  if app._cors then return true end
  for _, g in ipairs(app._groups or {}) do if g._cors then return true end end
  return false
end

-- The policy of a route: its innermost group's, else the app's.
local function policy_of_group(app, g)
  while g do
    if g._cors then return g._cors end
    g = g._parent
  end
  return app._cors
end

--- The policy for a request: its route's, or (no route matched) that of the
--- group whose prefix the path starts with, else the app's; nil for none.
---@param app table
---@param req table
---@return table|nil
function _M.policy(app, req)
  local route = req.route
  if route then return policy_of_group(app, route.group) end
  return policy_of_group(app, group.by_prefix(app, req.path))
end

-- What a refusal's detail may quote of the request: printable ASCII of a
-- sane length (the problem is JSON, and UTF-8).
local function shown(v)
  if #v <= 200 and find(v, "^[ -~]*$") then return v end
  return "(not shown: not printable ASCII, or too long)"
end

local function allowed(p, origin)
  if p.any then return true end
  if p.set then return p.set[origin] == true end
  local ok = p.fn(origin)
  return ok == true
end

-- The Access-Control-Allow-Origin value: "*" only for any origin without
-- credentials; else the request's origin, exactly.
local function allow_origin(p, origin)
  if p.any and not p.credentials then return "*" end
  return origin
end

--- The answer to a preflight (OPTIONS with Origin and
--- Access-Control-Request-Method), or nil when no CORS policy covers the
--- path (then the request is routed as any OPTIONS). A refused preflight
--- (origin, method or a header not allowed) is a 403 problem without CORS
--- headers, so the browser fails the request it was asked about.
---@param app table
---@param req table
---@param route_for fun(method: string): table|nil the route for the requested method
---@param refuse fun(detail: string): table the 403 answer
---@return table|nil res
function _M.preflight(app, req, route_for, refuse)
  local origin = header(req, "origin")
  local want = header(req, "access-control-request-method")
  if origin == nil or want == nil then return nil end
  local route = route_for(want)
  local p = route and policy_of_group(app, route.group) or _M.policy(app, req)
  if p == nil then return nil end
  req._cors_preflight = true
  local vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
  if not allowed(p, origin) then
    local res = refuse("origin " .. shown(origin) .. " is not allowed")
    res:header("Vary", vary)
    return res
  end
  if not p.method_set[upper(want)] then
    local res = refuse("method " .. shown(want) .. " is not allowed for cross-origin requests")
    res:header("Vary", vary)
    return res
  end
  local asked = header(req, "access-control-request-headers")
  if asked and find(asked, "%S") then
    asked = gsub(gsub(asked, "^%s+", ""), "%s+$", "")
    for name in asked:gmatch("[^,%s]+") do
      if not find(name, TOKEN) or (p.header_set and not p.header_set[lower(name)]) then
        local res = refuse("request header " .. shown(name) .. " is not allowed for cross-origin requests")
        res:header("Vary", vary)
        return res
      end
    end
  else
    asked = nil
  end
  local res = new_response(nil, 204)
  res:header("Access-Control-Allow-Origin", allow_origin(p, origin))
  res:header("Access-Control-Allow-Methods", p.methods)
  if asked then res:header("Access-Control-Allow-Headers", asked) end
  if p.credentials then res:header("Access-Control-Allow-Credentials", "true") end
  if p.max_age then res:header("Access-Control-Max-Age", p.max_age) end
  res:header("Vary", vary)
  return res
end

--- Adds the CORS headers to an answer of a request that is not a preflight:
--- Vary: Origin always, Access-Control-Allow-Origin (with -Credentials and
--- -Expose-Headers) when the request's Origin is allowed.
---@param app table
---@param req table
---@param res table a response object
--
-- The headers go straight into the response's list: finish() checks every
-- header of a response object before it is sent, so res:header's own check
-- would be a second one (the origin is the request's, the rest the policy's).
function _M.decorate(app, req, res)
  if rawget(req, "_cors_preflight") then return end
  local p = _M.policy(app, req)
  if p == nil then return end
  local h = res._h
  local n = #h
  h[n + 1], h[n + 2] = "Vary", "Origin"
  local origin = header(req, "origin")
  if origin == nil or not allowed(p, origin) then return end
  h[n + 3], h[n + 4] = "Access-Control-Allow-Origin", allow_origin(p, origin)
  n = n + 4
  if p.credentials then h[n + 1], h[n + 2], n = "Access-Control-Allow-Credentials", "true", n + 2 end
  if p.expose then h[n + 1], h[n + 2] = "Access-Control-Expose-Headers", p.expose end
end

--- Gives crater.app its app:cors{...} and groups their group:cors{...}
--- (docs/cors.md).
---@param App table
function _M.install(App)
  --- Sets the group's CORS policy; it replaces the app's (and the outer
  --- groups') for the group's routes.
  ---@param opts table as for app:cors
  ---@return table group
  function group.Group:cors(opts)
    local ok, p = pcall(_M.config, opts)
    if not ok then error(p, 2) end
    self._cors = p
    return self
  end

  --- Sets the app's CORS policy; a group's own (group:cors) replaces it for
  --- that group's routes.
  ---@param opts { origins: string|string[]|fun(origin: string): boolean, methods?: string[], headers?: string[], expose?: string[], credentials?: boolean, max_age?: integer }
  ---@return table app
  function App:cors(opts)
    local ok, p = pcall(_M.config, opts)
    if not ok then error(p, 2) end
    self._cors = p
    return self
  end
end

return _M
