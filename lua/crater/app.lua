--- crater.app: the application object -- routes, hooks, error handlers,
--- named schemas, lifecycle hooks -- and what the C core calls on it:
--- entry (the dispatcher, crater.dispatch), describe, lifecycle, save_state.

local router = require "crater.router"
local json = require "crater.json"
local route_schema = require "crater.route_schema"
local openapi = require "crater.openapi"
local dispatch = require "crater.dispatch"
local urls = require "crater.urls"
local session = require "crater.session"
local group = require "crater.group"
local compress = require "crater.compress"

local type, pairs, ipairs, tostring, error = type, pairs, ipairs, tostring, error
local setmetatable, getmetatable, pcall, next = setmetatable, getmetatable, pcall, next
local format, upper, gsub, rep = string.format, string.upper, string.gsub, string.rep
local concat, sort = table.concat, table.sort
local getinfo = debug.getinfo
local json_encode = json.encode

local _M = { version = "0.1.0" }

local App = {}
App.__index = App

--- Creates an application. `openapi` configures the document and docs
--- pages (docs/openapi.md); `schemas` registers named schemas (App:schema).
---@param opts? { title?: string, version?: string, description?: string, openapi?: table|false, schemas?: table, deadline?: number, trailing_slash?: "redirect"|false, compress?: boolean|table, assert_formats?: boolean }
---@return table app
function _M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then error("crater.app: options must be a table", 2) end
  opts = opts or {}
  if opts.deadline ~= nil and (type(opts.deadline) ~= "number" or not (opts.deadline > 0)) then
    error("crater.app: deadline must be a number of seconds > 0", 2)
  end
  local slash_why = urls.check_policy(opts.trailing_slash)
  if slash_why then error(slash_why, 2) end
  local cok, cerr = compress.check(opts.compress)
  if not cok then error("crater.app: " .. cerr, 2) end
  if opts.assert_formats ~= nil and type(opts.assert_formats) ~= "boolean" then
    error("crater.app: assert_formats must be a boolean", 2)
  end
  local app = setmetatable({
    title = opts.title or "Crater app",
    version = opts.version or "0.1.0",
    description = opts.description,
    deadline = opts.deadline,  -- seconds a handler may take, else 504 (docs/async.md)
    compress = opts.compress,  -- response compression: nil (defaults), false, or options (docs/compression.md)
    state = {}, -- handed to the next generation on reload (see docs/reload.md)
    _router = router.new(),
    _routes = {},
    _before = {},
    _after = {},
    _errors = {},
    _methods = {},
    _openapi = opts.openapi,   -- crater.openapi's options (false: no document, no docs pages)
    _schemas = {},             -- name -> schema table (components), see App:schema
    _schema_names = {},        -- the names in the order they were registered
    _error_docs = {},          -- status -> { schema, content_type, description } of app:error handlers
    _trailing_slash = opts.trailing_slash, -- "redirect" or nil (crater.urls)
    _assert_formats = opts.assert_formats, -- false: route schemas' `format` is an annotation
    -- the absolute folder of the file that called crater.app (nil: not a file)
    root = urls.root(2),
  }, App)
  if opts.schemas ~= nil then
    if type(opts.schemas) ~= "table" then error("crater.app: schemas must be a table of name = schema", 2) end
    local names = {}
    for name in pairs(opts.schemas) do names[#names + 1] = name end
    sort(names)
    for _, name in ipairs(names) do app:schema(name, opts.schemas[name]) end
  end
  return app
end

-- Does the work of App:route and the verb methods. `level` 3 makes errors
-- and the recorded file:line point at the app's own call. A group's routes
-- (crater.group) give their level, their file:line and what the group adds
-- to the record (`extra`).
local function add_route(self, method, path, opts, handler, level, where, extra)
  level = level or 3
  if handler == nil then opts, handler = nil, opts end
  if type(handler) ~= "function" then error("route handler must be a function", level) end
  if opts ~= nil and type(opts) ~= "table" then error("route options must be a table", level) end
  if type(path) ~= "string" then error("route path must be a string", level) end
  local dl = opts and opts.deadline
  if dl ~= nil and dl ~= false and (type(dl) ~= "number" or not (dl > 0)) then
    error("route " .. path .. ": deadline must be a number of seconds > 0, or false", level)
  end
  local cok, cerr = compress.check(opts and opts.compress)
  if not cok then error("route " .. path .. ": " .. cerr, 3) end
  local methods = type(method) == "table" and method or { method }
  if where == nil then
    local info = getinfo(3, "Sl")
    where = info and (info.short_src .. ":" .. (info.currentline or 0)) or "?"
  end
  local name_why = urls.name_route(self, opts, path, where)
  if name_why then error(name_why, level) end
  local user_handler, schemas = handler
  do
    local ok, h, sc = pcall(route_schema.prepare, self, opts or {}, handler, path)
    if not ok then error(format("route %s: %s", path, tostring(h)), level) end
    handler, schemas = h, sc
  end
  for _, m in ipairs(methods) do
    if type(m) ~= "string" or m == "" then error("route method must be a string", level) end
    m = upper(m)
    local rec = { method = m, path = path, handler = handler, opts = opts or {}, where = where,
                  schemas = schemas, user_handler = user_handler,
                  big = schemas ~= nil and schemas.body ~= nil } -- see crater.request.new
    if extra then for k, v in pairs(extra) do rec[k] = v end end
    local ok, err = pcall(self._router.add, self._router, m, path, rec)
    if not ok then error((tostring(err):gsub("^[^:]+:%d+: ", "")), level) end
    self._routes[#self._routes + 1] = rec
    self._methods[m] = true
  end
  return self
end

--- Adds a route. `opts` is optional: app:route("GET", "/x", fn).
---@param method string|string[] an HTTP method or a list of them
---@param path string a path template, e.g. "/users/{id}" or "/static/{path...}"
---@param opts? table route options (summary, tags, name, ...)
---@param handler fun(req: table): any
---@return table app
function App:route(method, path, opts, handler)
  local app = add_route(self, method, path, opts, handler) -- not a tail call: keeps the level
  return app
end

for _, m in ipairs({ "get", "post", "put", "patch", "delete", "options", "head" }) do
  local M = upper(m)
  App[m] = function(self, path, opts, handler)
    local app = add_route(self, M, path, opts, handler)
    return app
  end
end

--- The path of the route named `name` (its `name` or `operationId`
--- option) with `params` percent-encoded into its template and `query`
--- appended: app:url_for("user", { id = 42 }) is "/users/42". Raises,
--- naming the route, for an unknown name or a missing or extra param.
---@param name string
---@param params? table<string, string|number>
---@param query? table<string, string|number|boolean|(string|number)[]>
---@return string
App.url_for = urls.url_for

--- Sessions in signed cookies as req.session (docs/cookies-and-sessions.md):
--- secret (at least 32 bytes) or secrets = { newest, older, ... } (key
--- rotation: signs with the first, accepts any), cookie (name, "session"),
--- max_age (seconds, 14 days; false: until the browser closes), secure,
--- same_site ("Lax"), http_only (true), path ("/"), domain, and store
--- ({ get, set, delete }: the data server-side, the cookie an id).
---@param opts { secret?: string, secrets?: string[], cookie?: string, max_age?: integer|false, secure?: boolean, same_site?: string, http_only?: boolean, path?: string, domain?: string, store?: { get: fun(id: string): string|nil, set: fun(id: string, data: string, max_age?: integer), delete: fun(id: string) } }
---@return table app
function App:sessions(opts)
  session.configure(self, opts)
  return self
end

--- Serves the files of a folder under a URL prefix, from the C core:
--- app:static("/assets", "public", { max_age = 3600 }). See crater.static
--- and docs/static-files.md for the options.
---@param url_prefix string
---@param folder string relative to the file that calls app:static
---@param opts? table index, max_age, cache_control, types, precompressed, follow_symlinks
---@return table app
App.static = require("crater.static").mount

--- Runs fn(req) before every handler. A non-nil return is the response and
--- the handler is skipped (auth, rate limits, CORS preflight).
---@param fn fun(req: table): any
function App:before(fn)
  if type(fn) ~= "function" then error("before hook must be a function", 2) end
  self._before[#self._before + 1] = fn
  return self
end

--- Runs fn(req, res) after every handler (and error handler) with the
--- response object; it may change res (add headers) or return a new response.
---@param fn fun(req: table, res: table): any
function App:after(fn)
  if type(fn) ~= "function" then error("after hook must be a function", 2) end
  self._after[#self._after + 1] = fn
  return self
end

--- Handles errors: `status` is an HTTP status (404, 405, 500, ...) or "*"
--- for any. fn(req, err) gets err = { status, title, detail, message? } and
--- returns a response like a handler does. `doc` tells the OpenAPI document
--- what the handler answers: { schema = tbl, content_type = "...", description = "..." }.
---@param status integer|string
---@param fn fun(req: table, err: table): any
---@param doc? { schema?: table, content_type?: string, description?: string }
function App:error(status, fn, doc)
  if type(fn) ~= "function" then error("error handler must be a function", 2) end
  if type(status) ~= "number" and status ~= "*" then
    error("app:error: status must be an HTTP status number or \"*\"", 2)
  end
  if doc ~= nil and type(doc) ~= "table" then error("app:error: doc must be a table", 2) end
  self._errors[status] = fn
  self._error_docs[status] = doc
  return self
end

--- Registers a named schema: the OpenAPI document lists it under
--- components.schemas and refers to it with $ref wherever this table is
--- used; route schemas can $ref it by name. Returns the schema.
---@param name string
---@param schema table
---@return table schema
function App:schema(name, schema)
  if type(name) ~= "string" or not name:find("^[%w%.%-_]+$") then
    error("app:schema: name must be a string of letters, digits, '.', '-' or '_'", 2)
  end
  if type(schema) ~= "table" then error("app:schema: schema must be a table", 2) end
  if self._schemas[name] == nil then self._schema_names[#self._schema_names + 1] = name end
  self._schemas[name] = schema
  local ok, mod = pcall(require, "crater.schema")
  if ok and mod.define then mod.define(name, schema) end -- so it keeps its name where it is used
  return schema
end

-- Level 3 blames the app's line; so the App:on_* methods below must not
-- tail-call this (a tail call drops their frame and the level).
local function add_hook(self, event, fn)
  if type(fn) ~= "function" then error("on_" .. event .. " hook must be a function", 3) end
  local hooks = self._hooks
  if hooks == nil then
    hooks = { start = {}, reload = {}, stop = {} }
    self._hooks = hooks
  end
  hooks[event][#hooks[event] + 1] = fn
  return self
end

--- Runs fn(info) when this generation of the app starts serving: at
--- startup and after every successful reload. info.generation is its
--- number; info.previous the generation it replaces (nil at startup).
--- An error here fails the start (or the reload: the old code keeps serving).
---@param fn fun(info: { generation: integer, previous?: integer })
function App:on_start(fn)
  local app = add_hook(self, "start", fn)
  return app
end

--- Runs fn(info) on the new generation when a reload replaces an older one,
--- before on_start and before it takes requests. info.state is a copy of the
--- old generation's app.state (copied as JSON; nil when empty or not
--- encodable); info.previous is the old generation's number. An error here
--- fails the reload: the old generation keeps serving.
---@param fn fun(info: { generation: integer, previous: integer, state?: table })
function App:on_reload(fn)
  local app = add_hook(self, "reload", fn)
  return app
end

--- Runs fn(info) when this generation is closed: after a reload, once its
--- last request in flight has finished (info.reason "reload"), or when the
--- server shuts down (info.reason "shutdown"). Errors are logged.
---@param fn fun(info: { generation: integer, reason: string })
function App:on_stop(fn)
  local app = add_hook(self, "stop", fn)
  return app
end

-- --------------------------------------------------------------------------
-- What the C core calls: entry (the dispatcher), describe, and for hot
-- reload (see reload.c) lifecycle and save_state
-- --------------------------------------------------------------------------

--- Returns the dispatcher for an app (called once per generation): see
--- crater.dispatch for what it takes and returns.
---@param app table
---@param path string the app file, for messages
function _M.entry(app, path)
  if getmetatable(app) ~= App then
    error(format("%s must return a crater app (crater.app{...}), got %s", path, type(app)), 0)
  end
  -- `return crater.app()` is a tail call: crater.app could not see the file
  if app.root == nil then app.root = urls.root_of(path) end
  session.install(app)
  openapi.mount(app)
  return dispatch.new(app)
end

-- Characters of UTF-8 text (its bytes less the continuation bytes): a
-- column of paths like "/café" lines up on a terminal.
local function chars(s)
  local _, cont = gsub(s, "[\128-\191]", "")
  return #s - cont
end

--- Text descriptions for the CLI: "routes" lists METHOD PATH (file:line);
--- "openapi" is the OpenAPI document (crater.openapi).
function _M.describe(app, what)
  if what == "openapi" then return openapi.encode(app) end
  if what ~= "routes" then error("unknown description: " .. tostring(what), 2) end
  local rows, w = {}, 3
  for _, rec in ipairs(app._routes) do
    rows[#rows + 1] = rec
    if #rec.method > w then w = #rec.method end
  end
  local pw = 4
  for _, rec in ipairs(rows) do if chars(rec.path) > pw then pw = chars(rec.path) end end
  local out = {}
  for _, rec in ipairs(rows) do
    out[#out + 1] = format("%-" .. w .. "s  %s%s  (%s)", rec.method, rec.path,
      rep(" ", pw - chars(rec.path)), rec.where)
    if rec.group then out[#out] = out[#out] .. "  [" .. group.label(rec.group) .. "]" end
  end
  out[#out + 1] = ""
  return concat(out, "\n")
end

--- Runs the hooks for event ("start", "reload", "stop", or nil for none) in
--- the order they were added, and returns the app's route count.
---@param app table
---@param event? string
---@param info table
---@return integer
function _M.lifecycle(app, event, info)
  if info.state_json ~= nil then
    info.state = json.decode(info.state_json)
    info.state_json = nil
  end
  local hooks = event and app._hooks and app._hooks[event]
  if hooks then
    for i = 1, #hooks do hooks[i](info) end
  end
  return #app._routes
end

--- app.state as JSON for the next generation, or nil when it is empty.
---@param app table
---@return string|nil
function _M.save_state(app)
  local st = app.state
  if type(st) ~= "table" or next(st) == nil then return nil end
  return json_encode(st)
end

group.install(App, add_route) -- app:group, app:mount (docs/groups.md)
require("crater.cors").install(App) -- app:cors, group:cors (docs/cors.md)
require("crater.security").install(App) -- app:security_scheme, app:security (docs/security.md)
require("crater.websocket").install(App, add_route) -- app:websocket (docs/websockets.md)

_M.App = App
return _M
