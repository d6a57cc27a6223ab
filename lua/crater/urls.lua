--- crater.urls: answers that send the client elsewhere and the URLs they
--- name -- crater.redirect, route names and app:url_for, the app's
--- trailing-slash policy -- and app.root (docs/routing.md, "Redirects,
--- URLs and the app's folder").

local response = require "crater.response"

local type, tostring, error, pairs, ipairs, pcall, require = type, tostring, error, pairs, ipairs, pcall,
  require
local byte, sub, find, format, gsub, gmatch, match = string.byte, string.sub, string.find, string.format,
  string.gsub, string.gmatch, string.match
local concat, sort = table.concat, table.sort
local getinfo = debug.getinfo
local io_open = io.open
local header_error = response.header_error

local _M = { version = "0.1.0" }

-- --------------------------------------------------------------------------
-- crater.redirect
-- --------------------------------------------------------------------------

local REDIRECT = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }

--- A redirect to `url` (a path or an absolute URL): its status (302 by
--- default; 301, 303, 307 or 308), a Location header and a one-line text
--- body for clients that show it. 303 turns a POST into a GET; 307 and 308
--- keep the method and body; 301 and 308 are cached as permanent.
---@param url string
---@param status? integer
---@return table res a crater.response object
function _M.redirect(url, status)
  status = status or 302
  if not REDIRECT[status] then
    error(format("crater.redirect: status %s is not a redirect (301, 302, 303, 307 or 308)", tostring(status)), 2)
  end
  if type(url) ~= "string" or url == "" then
    error("crater.redirect: the URL must be a non-empty string", 2)
  end
  local why = header_error("Location", url)
  if why then error("crater.redirect: " .. why, 2) end
  local res = response.new("Redirecting to " .. url .. "\n", status)
  res:header("Location", url)
  return res
end

-- --------------------------------------------------------------------------
-- Route names and url_for
-- --------------------------------------------------------------------------

--- Notes a route's name (opts.name, else opts.operationId) for url_for.
--- Returns why it cannot be named so, or nil: a name is a string, and one
--- name is one path (several methods on that path may share it).
---@param app table
---@param opts? table the route's options
---@param path string its template
---@param where string file:line of the route, for messages
---@return string|nil why
function _M.name_route(app, opts, path, where)
  local name = opts and (opts.name or opts.operationId)
  if name == nil then return nil end
  if type(name) ~= "string" or name == "" then
    return format("route %s: name must be a non-empty string", path)
  end
  local names = app._names
  if names == nil then names = {}; app._names = names end
  local old = names[name]
  if old and old.path ~= path then
    if opts.name == nil then
      -- two operationIds alike: crater.openapi refuses the document; here
      -- url_for refuses the name
      old.twice = where
      return nil
    end
    return format("route %s: name %q is already the name of %s (%s)", path, name, old.path, old.where)
  end
  names[name] = { path = path, where = where }
  return nil
end

-- RFC 3986 unreserved characters stay; every other byte is %XX.
local function encode(s)
  return (gsub(s, "[^%w%-%._~]", function(c) return format("%%%02X", byte(c)) end))
end

-- level: where the error points, counted from param_text's caller
local function param_text(route, name, v, level)
  local t = type(v)
  if t == "number" then return tostring(v) end
  if t ~= "string" then
    error(format("app:url_for: route %q: %s is a %s (a string or a number)", route, name, t), level + 1)
  end
  return v
end

local function encode_query(route, query)
  if type(query) ~= "table" then
    error(format("app:url_for: route %q: the query is a %s (a table)", route, type(query)), 3)
  end
  local keys = {}
  for k in pairs(query) do
    if type(k) ~= "string" then
      error(format("app:url_for: route %q: a query key is a %s (a string)", route, type(k)), 3)
    end
    keys[#keys + 1] = k
  end
  sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = query[k]
    local list = type(v) == "table" and v or { v }
    for _, one in ipairs(list) do
      if type(one) == "boolean" then one = one and "true" or "false" end
      parts[#parts + 1] = encode(k) .. "=" .. encode(param_text(route, "query " .. k, one, 3))
    end
  end
  if #parts == 0 then return "" end
  return "?" .. concat(parts, "&")
end

--- The path of the route named `name` with `params` put in its template,
--- each percent-encoded (a {rest...} param keeps its '/'s), and `query`
--- (name = value or { values }) after a '?', keys sorted. Raises naming the
--- route for an unknown name, a missing or an extra param.
---@param app table
---@param name string
---@param params? table<string, string|number>
---@param query? table<string, string|number|boolean|(string|number)[]>
---@return string
function _M.url_for(app, name, params, query)
  local rec = app._names and app._names[name]
  if rec == nil then
    error(format("app:url_for: no route is named %s (a route's name or operationId option)",
      type(name) == "string" and format("%q", name) or tostring(name)), 2)
  end
  if rec.twice then
    error(format("app:url_for: %q is the operationId of two routes (%s, %s)", name, rec.where, rec.twice), 2)
  end
  if params ~= nil and type(params) ~= "table" then
    error(format("app:url_for: route %q: params is a %s (a table)", name, type(params)), 2)
  end
  params = params or {}
  local used, out = {}, {}
  for seg in gmatch(rec.path, "/([^/]*)") do -- "/a/{b}/": "a", "{b}", ""
    local pname = match(seg, "^{([%w_]+)}$")
    local rest = match(seg, "^{([%w_]+)%.%.%.}$")
    local key = pname or rest
    if key then
      local v = params[key]
      if v == nil then
        error(format("app:url_for: route %q (%s) needs param %s", name, rec.path, key), 2)
      end
      v = param_text(name, "param " .. key, v, 2)
      used[key] = true
      if pname then
        if v == "" then
          error(format("app:url_for: route %q (%s): param %s is empty (a segment cannot be)", name, rec.path,
            key), 2)
        end
        out[#out + 1] = encode(v)
      else
        out[#out + 1] = (gsub(v, "[^/]+", encode))
      end
    else
      -- a literal written as text ("/café") goes out as clients send it
      out[#out + 1] = (gsub(seg, "[\128-\255]", function(c) return format("%%%02X", byte(c)) end))
    end
  end
  for k in pairs(params) do
    if not used[k] then
      error(format("app:url_for: route %q (%s) has no param %s", name, rec.path, tostring(k)), 2)
    end
  end
  local path = "/" .. concat(out, "/")
  if query ~= nil then path = path .. encode_query(name, query) end
  return path
end

-- --------------------------------------------------------------------------
-- The trailing-slash policy
-- --------------------------------------------------------------------------

--- Checks crater.app's trailing_slash option: nil, false or "redirect".
---@return string|nil why
function _M.check_policy(v)
  if v == nil or v == false or v == "redirect" then return nil end
  return format('crater.app: trailing_slash must be "redirect" (or false), got %s',
    type(v) == "string" and format("%q", v) or tostring(v))
end

--- For an app with trailing_slash = "redirect": a function(method, path,
--- raw_query) that, when `path` matched no route but the same path with its
--- trailing '/' removed (or one added) does, returns the redirect there
--- (301 for GET and HEAD, 308 for the others: they keep their method and
--- body), keeping the query. nil for other apps.
---@param app table
---@return (fun(method: string, path: string, q: string): table|nil)|nil
function _M.slash_redirector(app)
  if app._trailing_slash ~= "redirect" then return nil end
  local r = app._router
  return function(method, path, q)
    local n = #path
    local other
    if n > 1 and byte(path, n) == 47 then other = sub(path, 1, n - 1)
    else other = path .. "/" end
    -- "//host" would be a protocol-relative URL: another site
    if byte(other, 2) == 47 or find(other, "\\", 1, true) then return nil end
    local route = r:match(method, other)
    if route == nil then return nil end
    local url = other
    if q ~= nil and q ~= "" then url = url .. "?" .. q end
    local res = response.new("Redirecting to " .. url .. "\n",
      (method == "GET" or method == "HEAD") and 301 or 308)
    res._h[1], res._h[2] = "Location", url -- the path and query as received: no CR, LF or NUL
    return res
  end
end

-- --------------------------------------------------------------------------
-- app.root
-- --------------------------------------------------------------------------

local ffi_ok, ffi = pcall(require, "ffi")
if ffi_ok then
  -- Each alone: another module may have declared one of them already.
  pcall(ffi.cdef, "char *realpath(const char *path, char *resolved_path);")
  pcall(ffi.cdef, "void free(void *ptr);")
end

local function absolute(dir)
  if not ffi_ok then return nil end
  local ok, p = pcall(ffi.C.realpath, dir, nil)
  if not ok or p == nil then return nil end
  local s = ffi.string(p)
  ffi.C.free(p)
  return s
end

--- The absolute folder of the file that called the function `level` frames
--- up (crater.app's caller: the app file), symlinks resolved; nil when
--- that code was not loaded from a file (crater_load_string, a REPL).
---@param level integer
---@return string|nil
function _M.root(level)
  local info = getinfo(level + 1, "S")
  local src = info and info.source
  if type(src) ~= "string" or byte(src, 1) ~= 64 then return nil end -- "@file"
  return _M.root_of(sub(src, 2))
end

--- The absolute folder of a file (symlinks resolved), or nil when there is
--- no such folder (a chunk name like "=inline" is not a file).
---@param file string
---@return string|nil
function _M.root_of(file)
  if type(file) ~= "string" or byte(file, 1) == 61 then return nil end -- "="
  local f = io_open(file, "r")
  if f == nil then return nil end -- a name, not a file ("crater.test")
  f:close()
  local dir = match(file, "^(.*)/[^/]*$")
  if dir == nil then dir = "."
  elseif dir == "" then dir = "/" end
  return absolute(dir)
end

return _M
