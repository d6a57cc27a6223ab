--- crater.group: route groups (blueprints) -- a path prefix with its own
--- tags, hooks, error handlers, deadline and security, nestable, and
--- buildable in another module without the app (crater.group{...}) then
--- mounted with app:mount(prefix, group). See docs/groups.md.
--
-- A group made by app:group (or by a group that is itself in an app) adds
-- its routes to the app at once, so a bad route is refused at its own line.
-- A detached group (crater.group{...}, and the groups made from it) is a
-- template: it keeps its route definitions, with the file:line each was
-- written at, and each mount makes an instance of it in the app (so one
-- blueprint can be mounted in several apps, or twice in one: a spec file
-- that loads the app again gets the module's group from package.loaded).
-- An instance reads the template's fields (hooks, error handlers, tags,
-- deadline, security, CORS) through its metatable, so what the template
-- gains after the mount applies to it too -- except routes and groups,
-- which must be defined before the first mount.

local type, ipairs, pairs, error, pcall, tostring = type, ipairs, pairs, error, pcall, tostring
local setmetatable, getmetatable = setmetatable, getmetatable
local format, find, sub, upper = string.format, string.find, string.sub, string.upper
local getinfo = debug.getinfo

local _M = { version = "0.1.0" }

local Group = {}
Group.__index = Group
_M.Group = Group

-- A mounted template: its own prefix, parent and app; the rest is the
-- template's.
local Instance = {
  __index = function(t, k)
    local m = Group[k]
    if m ~= nil then return m end
    return rawget(t, "_template")[k]
  end,
}

-- Set by install(): crater.app's route adder, so this module needs nothing
-- from crater.app (which requires this one).
local add_route

local OPTS = { tags = true, before = true, after = true, deadline = true, security = true,
               name = true }

local function fn_list(v, what, level)
  if v == nil then return {} end
  if type(v) == "function" then return { v } end
  if type(v) ~= "table" then error(format("group option %s must be a function or a list of them", what), level) end
  local out = {}
  for i, f in ipairs(v) do
    if type(f) ~= "function" then error(format("group option %s[%d] must be a function", what, i), level) end
    out[i] = f
  end
  return out
end

-- Tags are names, or { name = ..., description = ... } for the document's
-- top-level tags list.
local function tag_list(v, level)
  if v == nil then return {}, {} end
  if type(v) ~= "table" then error("group option tags must be a list of names", level) end
  local names, docs = {}, {}
  for i, t in ipairs(v) do
    if type(t) == "table" and type(t.name) == "string" then
      names[i] = t.name
      docs[#docs + 1] = t
    elseif type(t) == "string" then
      names[i] = t
    else
      error(format("group option tags[%d] must be a name or { name = ..., description = ... }", i), level)
    end
  end
  return names, docs
end

local function check_prefix(prefix, level)
  if type(prefix) ~= "string" then error("group prefix must be a string", level) end
  if prefix ~= "" and (sub(prefix, 1, 1) ~= "/" or sub(prefix, -1) == "/") then
    error(format("group prefix %q must start with '/' and not end with one (or be \"\")", prefix), level)
  end
end

local function new_group(prefix, opts, level)
  if opts ~= nil and type(opts) ~= "table" then error("group options must be a table", level) end
  opts = opts or {}
  for k in pairs(opts) do
    if not OPTS[k] then error(format("unknown group option %s", tostring(k)), level) end
  end
  local dl = opts.deadline
  if dl ~= nil and dl ~= false and (type(dl) ~= "number" or not (dl > 0)) then
    error("group option deadline must be a number of seconds > 0, or false", level)
  end
  local names, docs = tag_list(opts.tags, level + 1)
  local info = getinfo(level, "Sl")
  local g = setmetatable({
    _prefix = prefix or "",
    _name = opts.name,
    _tags = names,
    _tag_docs = docs,
    _before = fn_list(opts.before, "before", level + 1),
    _after = fn_list(opts.after, "after", level + 1),
    _errors = {},
    _deadline = dl,
    _security = opts.security,
    _pending = {},    -- a template's route definitions, registered at each mount
    _children = {},   -- a template's groups: { group, prefix }, mounted with it
    _where = info and (info.short_src .. ":" .. (info.currentline or 0)) or "?",
  }, Group)
  return g
end

--- A detached group (a blueprint): define its routes in any module, then
--- app:mount(prefix, group). Options as for app:group.
---@param opts? { tags?: (string|table)[], before?: function|function[], after?: function|function[], deadline?: number|false, security?: table, name?: string }
---@return table group
function _M.new(opts)
  local g = new_group("", opts, 3)
  return g
end

-- The full path of a route: "" is the prefix itself, "/" the prefix and a
-- slash (as FastAPI's routers do).
local function join(g, path, level)
  if type(path) ~= "string" then error("route path must be a string", level) end
  if path ~= "" and sub(path, 1, 1) ~= "/" then
    error(format("route path %q in a group must start with '/' (or be \"\")", path), level)
  end
  local full = g._full .. path
  if full == "" then full = "/" end
  return full
end

-- What a route of this group adds to its record: the group, its tags
-- (outer groups' first, then the route's own), its deadline.
local function extra_for(g, opts)
  local tags, seen = {}, {}
  local chain = {}
  local p = g
  while p do chain[#chain + 1] = p; p = p._parent end
  for i = #chain, 1, -1 do
    for _, t in ipairs(chain[i]._tags) do
      if not seen[t] then seen[t] = true; tags[#tags + 1] = t end
    end
  end
  if type(opts) == "table" and type(opts.tags) == "table" then
    for _, t in ipairs(opts.tags) do
      if not seen[t] then seen[t] = true; tags[#tags + 1] = t end
    end
  end
  local dl
  p = g
  while p and dl == nil do dl = p._deadline; p = p._parent end
  return { group = g, tags = #tags > 0 and tags or nil, group_deadline = dl }
end

local function register(g, def, level)
  local full = join(g, def.path, level)
  local opts, handler = def.opts, def.handler
  if handler == nil then opts, handler = nil, opts end
  add_route(g._app, def.method, full, opts, handler, level, def.where, extra_for(g, opts))
end

-- Puts a group in an app: g itself (made by app:group or group:group in an
-- app), or an instance of a template (mount); then the template's routes
-- and groups.
local function attach(g, app, parent, prefix, level)
  local tmpl
  if g._app == nil then
    tmpl = g
    tmpl._mounts = (tmpl._mounts or 0) + 1
    g = setmetatable({ _template = tmpl }, Instance)
  end
  g._app, g._parent, g._prefix = app, parent, prefix
  g._full = (parent and parent._full or "") .. prefix
  app._groups = app._groups or {}
  app._groups[#app._groups + 1] = g
  if tmpl then
    for _, def in ipairs(tmpl._pending) do
      local ok, err = pcall(register, g, def, 0)
      if not ok then error(format("%s: %s", def.where, tostring(err)), level) end
    end
    for _, c in ipairs(tmpl._children) do attach(c[1], app, g, c[2], level + 1) end
  end
  return g
end

-- A template mounted already takes no more routes or groups: its
-- instances would not get them.
local function check_open(g, level)
  if g._mounts then
    error("add routes and groups to a group made by crater.group before mounting it", level)
  end
end

local function add(g, method, path, opts, handler)
  local info = getinfo(3, "Sl")
  local def = { method = method, path = path, opts = opts, handler = handler,
                where = info and (info.short_src .. ":" .. (info.currentline or 0)) or "?" }
  if g._app then
    register(g, def, 5) -- add_route, register, add, Group:get, the app's line
  else
    check_open(g, 4) -- check_open, add, Group:get, the line
    if type(path) ~= "string" then error("route path must be a string", 3) end
    local h = handler == nil and opts or handler
    if type(h) ~= "function" then error("route handler must be a function", 3) end
    g._pending[#g._pending + 1] = def
  end
  return g
end

--- Adds a route under the group's prefix; as app:route.
---@param method string|string[]
---@param path string "" for the prefix itself
---@param opts? table
---@param handler fun(req: table): any
---@return table group
function Group:route(method, path, opts, handler)
  local g = add(self, method, path, opts, handler)
  return g
end

for _, m in ipairs({ "get", "post", "put", "patch", "delete", "options", "head" }) do
  local M = upper(m)
  Group[m] = function(self, path, opts, handler)
    local g = add(self, M, path, opts, handler)
    return g
  end
end

--- Runs fn(req) before the handlers of this group's routes, after the app's
--- before hooks and the outer groups'. A non-nil return is the response.
---@param fn fun(req: table): any
---@return table group
function Group:before(fn)
  if type(fn) ~= "function" then error("before hook must be a function", 2) end
  self._before[#self._before + 1] = fn
  return self
end

--- Runs fn(req, res) after the handler of this group's routes, before the
--- outer groups' after hooks and the app's.
---@param fn fun(req: table, res: table): any
---@return table group
function Group:after(fn)
  if type(fn) ~= "function" then error("after hook must be a function", 2) end
  self._after[#self._after + 1] = fn
  return self
end

--- Handles errors of this group's routes (status or "*"), tried before the
--- outer groups' handlers and the app's.
---@param status integer|string
---@param fn fun(req: table, err: table): any
---@return table group
function Group:error(status, fn)
  if type(fn) ~= "function" then error("error handler must be a function", 2) end
  if type(status) ~= "number" and status ~= "*" then
    error("group:error: status must be an HTTP status number or \"*\"", 2)
  end
  self._errors[status] = fn
  return self
end

--- A group inside this one: its prefix follows this group's.
---@param prefix string
---@param opts? table as for app:group
---@return table group
function Group:group(prefix, opts)
  check_prefix(prefix, 2)
  local c = new_group(prefix, opts, 3)
  if self._app then
    c._app = self._app -- made in an app: attached as itself, not as a template
    attach(c, self._app, self, prefix, 3)
  else
    check_open(self, 3)
    self._children[#self._children + 1] = { c, prefix }
  end
  return c
end

--- Mounts a detached group (crater.group{...}) under this group at prefix;
--- it can be mounted in several places (each mount is an instance of it).
---@param prefix string
---@param g table
---@return table group the mounted group
function Group:mount(prefix, g)
  if getmetatable(g) ~= Group or rawget(g, "_app") then
    error("mount: expects a group made by crater.group{...}", 2)
  end
  check_prefix(prefix, 2)
  if self._app then
    local inst = attach(g, self._app, self, prefix, 3) -- not a tail call: keeps the level
    return inst
  end
  check_open(self, 3)
  self._children[#self._children + 1] = { g, prefix }
  return g
end

-- --------------------------------------------------------------------------
-- What crater.app, the dispatcher, the errors and the document use
-- --------------------------------------------------------------------------

--- The label `crater routes` shows for a route's group: its name, else its
--- full prefix.
---@param g table
---@return string
function _M.label(g)
  return g._name or (g._full ~= "" and g._full or "/")
end

--- The before hooks (outer group first) and after hooks (inner group
--- first) of a route's groups, or nil when there are none.
---@param rec table a route record
---@return function[]|nil before
---@return function[]|nil after
function _M.hooks(rec)
  local chain, g = {}, rec.group
  while g do chain[#chain + 1] = g; g = g._parent end
  local before, after = {}, {}
  for i = #chain, 1, -1 do
    for _, f in ipairs(chain[i]._before) do before[#before + 1] = f end
  end
  for i = 1, #chain do
    for _, f in ipairs(chain[i]._after) do after[#after + 1] = f end
  end
  return #before > 0 and before or nil, #after > 0 and after or nil
end

--- The group whose literal prefix is the longest one starting `path` (for
--- answers that match no route), or nil.
---@param app table
---@param path string
---@return table|nil
function _M.by_prefix(app, path)
  local best, len = nil, -1
  for _, g in ipairs(app._groups or {}) do
    local pre = g._full
    if #pre > len and not find(pre, "{", 1, true) and sub(path, 1, #pre) == pre then
      local nxt = sub(path, #pre + 1, #pre + 1)
      if nxt == "" or nxt == "/" then best, len = g, #pre end
    end
  end
  return best
end

--- The descriptions of the groups' tags, name -> tag object, for the
--- document's top-level tags list.
---@param app table
---@return table<string, table>
function _M.tag_docs(app)
  local out = {}
  for _, g in ipairs(app._groups or {}) do
    for _, t in ipairs(g._tag_docs) do out[t.name] = out[t.name] or t end
  end
  return out
end

--- Gives crater.app its group methods: app:group(prefix, opts) and
--- app:mount(prefix, group). `adder` is crater.app's route adder:
--- adder(app, method, path, opts, handler, level, where, extra).
---@param App table crater.app's metatable
---@param adder function
function _M.install(App, adder)
  add_route = adder

  --- A group of routes under prefix, with its own tags, hooks, error
  --- handlers, deadline and security (docs/groups.md).
  ---@param prefix string e.g. "/v1"
  ---@param opts? { tags?: (string|table)[], before?: function|function[], after?: function|function[], deadline?: number|false, security?: table, name?: string }
  ---@return table group
  function App:group(prefix, opts)
    check_prefix(prefix, 2)
    local g = new_group(prefix, opts, 3)
    g._app = self -- attached as itself, not as a template
    attach(g, self, nil, prefix, 3)
    return g
  end

  --- Mounts a group made with crater.group{...} (in any module) at prefix.
  --- Returns the mounted instance (its own prefix; the template's routes,
  --- hooks and handlers); the same group may be mounted again elsewhere.
  ---@param prefix string
  ---@param g table
  ---@return table group the mounted group
  function App:mount(prefix, g)
    if getmetatable(g) ~= Group or rawget(g, "_app") then
      error("app:mount: expects a group made by crater.group{...} (a group made by app:group is in its app already)", 2)
    end
    check_prefix(prefix, 2)
    local inst = attach(g, self, nil, prefix, 3)
    return inst
  end
end

return _M
