--- crater.openapi: the OpenAPI 3.1 document of an app, built from its
--- routes and their schemas, and the routes that serve it (/openapi.json)
--- with interactive docs pages (Swagger UI at /docs, ReDoc at /redoc).
--
-- The document is built once, on first request (or by `crater openapi`),
-- from what the routes declare: summary, description, tags, operationId,
-- params/query/headers (parameters), body (requestBody) and responses.
-- Schema tables that the app registered under a name (app:schema) are
-- written once under components.schemas and referenced with $ref wherever
-- the same table is used. The error answers Crater gives by itself (422 for
-- invalid input, 400 for malformed JSON, 415 for a wrong Content-Type) are
-- declared with the problem schema the server really sends (crater.problem)
-- or with the one the app declared for its own error handler.
--
-- The docs pages load their JavaScript and CSS from the npm packages
-- swagger-ui-dist and redoc when they are installed on the machine (see
-- find_assets), so they work offline; only when they are missing do the
-- pages point at a CDN.

local json = require "crater.json"
local problem = require "crater.problem"
local route_schema = require "crater.route_schema"
local security = require "crater.security"
local group = require "crater.group"
local uri = require "crater.schema.uri"

local type, pairs, ipairs, tostring, error, next = type, pairs, ipairs, tostring, error, next
local getmetatable, setmetatable, pcall, tonumber = getmetatable, setmetatable, pcall, tonumber
local format, gsub, lower, upper, sub, find, match, rep =
  string.format, string.gsub, string.lower, string.upper, string.sub, string.find, string.match, string.rep
local concat, sort = table.concat, table.sort
local io_open, getenv = io.open, os.getenv
local json_encode, json_null, array_mt = json.encode, json.null, json.array_mt

local _M = { version = "0.1.0" }

local OPENAPI_VERSION = "3.1.0"
local JSON = "application/json"

_M.DEFAULT_CDN = {
  swagger_ui = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5",
  redoc = "https://cdn.jsdelivr.net/npm/redoc@2/bundles",
}

local TITLES = problem.TITLES -- the one status table (crater.problem)

-- ---------------------------------------------------------------------------
-- Schema tables -> JSON Schema for the document
-- ---------------------------------------------------------------------------

-- Tables whose keys are written in a given order (paths in declaration
-- order, property names in name order); see write().
local ORDER = setmetatable({}, { __mode = "k" })

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- Keywords whose value is a schema, a map of name -> schema, or an array of
-- schemas. Everything else is data (enum, const, default, required, ...)
-- and is copied as it is.
local ONE = { items = true, additionalProperties = true, ["not"] = true, ["if"] = true,
              ["then"] = true, ["else"] = true, contains = true, propertyNames = true,
              unevaluatedItems = true, unevaluatedProperties = true }
local MAP = { properties = true, patternProperties = true, ["$defs"] = true,
              dependentSchemas = true }
local LIST = { prefixItems = true, allOf = true, anyOf = true, oneOf = true }
-- Data keywords that are always JSON arrays, even when empty.
local ARRAYS = { required = true, enum = true, examples = true }

-- crater.schema's s.define names tables; without that module only the
-- app's registered schemas have names.
local function schema_name_of()
  local ok, schema = pcall(require, "crater.schema")
  return ok and schema.name_of or nil
end

local function is_array(t)
  return getmetatable(t) == array_mt or (next(t) ~= nil and json.is_array(t))
end

local function copy_data(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy_data(x) end
  if is_array(v) then setmetatable(out, array_mt) end
  return out
end

-- Copies a schema for the document. A table with a component name (see
-- ctx.name) other than the one being exported as that component (`root`)
-- becomes a $ref. Keys starting with "_" are private annotations and are
-- left out, as are values JSON cannot hold.
local function export(s, ctx, root)
  if type(s) ~= "table" then return s end -- true / false schemas
  if s ~= root then
    local name = ctx.name(s)
    if name then
      ctx.used[name] = true
      return { ["$ref"] = "#/components/schemas/" .. name }
    end
  end
  -- A schema with $id changes the base its $refs resolve against. A
  -- component's own $id is dropped: it is bundled (OpenAPI 3.1 allows
  -- both), and every $ref to it, by URI or from inside it, is rewritten
  -- to #/components/schemas/Name (see ctx.ref).
  local saved_base = ctx.base
  local id = s["$id"]
  local bundled = false
  if type(id) == "string" then
    ctx.base = uri.split(uri.resolve(ctx.base or "", id))
    bundled = s == root and ctx.component_ids[ctx.base] ~= nil
  end
  local out = {}
  for k, v in pairs(s) do
    local tv = type(v)
    if k == "$id" and bundled then -- luacheck: ignore 542
    elseif type(k) ~= "string" or sub(k, 1, 1) == "_" then -- luacheck: ignore 542
    elseif tv == "function" or tv == "thread" or (tv == "userdata" and v ~= json_null) then -- luacheck: ignore 542
    elseif ONE[k] then
      out[k] = export(v, ctx)
    elseif MAP[k] and tv == "table" then
      local m = {}
      for name, sub_schema in pairs(v) do m[name] = export(sub_schema, ctx) end
      ORDER[m] = sorted_keys(m) -- names chosen by the app: plain name order
      out[k] = m
    elseif LIST[k] and tv == "table" then
      local l = setmetatable({}, array_mt)
      for i = 1, #v do l[i] = export(v[i], ctx) end
      out[k] = l
    elseif k == "$ref" and tv == "string" then
      out[k] = ctx.ref(v)
    else
      out[k] = copy_data(v)
      if tv == "table" and next(v) == nil and (ARRAYS[k] or (k == "default" and s.type == "array")) then
        setmetatable(out[k], array_mt)
      end
    end
  end
  if type(out.type) == "table" then setmetatable(out.type, array_mt) end
  ctx.base = saved_base
  return out
end

-- ---------------------------------------------------------------------------
-- Operations
-- ---------------------------------------------------------------------------

-- "/items/{id}" -> "getItemsById"; "/" -> "getRoot".
local function operation_id(method, path)
  local parts = { lower(method) }
  for seg in path:gmatch("[^/]+") do
    local name = match(seg, "^{([%w_]+)%.*}$")
    if name then parts[#parts + 1] = "By" .. upper(sub(name, 1, 1)) .. sub(name, 2)
    else
      for word in seg:gmatch("[%w]+") do parts[#parts + 1] = upper(sub(word, 1, 1)) .. sub(word, 2) end
    end
  end
  if #parts == 1 then parts[2] = "Root" end
  return (gsub(concat(parts), "_", ""))
end

-- OpenAPI has no catch-all: "{path...}" is documented as "{path}".
local function doc_path(template)
  return (gsub(template, "{([%w_]+)%.%.%.}", "{%1}"))
end

local function parameters(rec, ctx)
  local list = setmetatable({}, array_mt)
  local spec = rec.schemas or route_schema.normalize(rec.opts)
  for _, where in ipairs({ "params", "query", "headers" }) do
    local obj = spec[where]
    if obj then
      local req = {}
      for _, n in ipairs(obj.required or {}) do req[n] = true end
      local names = {}
      if where == "params" then
        for n in rec.path:gmatch("{([%w_]+)%.*}") do names[#names + 1] = n end
        for _, n in ipairs(sorted_keys(obj.properties or {})) do
          if not find(rec.path, "{" .. n .. "}", 1, true) and not find(rec.path, "{" .. n .. "...}", 1, true) then
            names[#names + 1] = n
          end
        end
      else
        names = sorted_keys(obj.properties or {})
      end
      for _, n in ipairs(names) do
        local s = (obj.properties or {})[n] or {}
        local p = { name = n, ["in"] = route_schema.IN[where], schema = export(s, ctx) }
        if where == "params" or req[n] then p.required = true end
        if type(s) == "table" and s.description then p.description = s.description end
        if type(s) == "table" and s.deprecated then p.deprecated = true end
        list[#list + 1] = p
      end
    elseif where == "params" then
      -- undeclared path parameters are still parameters: strings
      for n in rec.path:gmatch("{([%w_]+)%.*}") do
        list[#list + 1] = { name = n, ["in"] = "path", required = true, schema = { type = "string" } }
      end
    end
  end
  return list
end

local function content(schema_tbl, ctype, ctx)
  return { [ctype or JSON] = { schema = export(schema_tbl, ctx) } }
end

-- The error answer Crater gives for `status`, as the app's error handler
-- for it declares it (app:error(status, fn, { schema = ..., content_type = ... }))
-- or as crater.problem describes it.
local function error_response(app, status, ctx, detail)
  local doc = app._error_docs and (app._error_docs[status] or app._error_docs["*"])
  local handler = app._errors and (app._errors[status] or app._errors["*"])
  local r = { description = detail }
  if doc then
    if doc.description then r.description = doc.description end
    if doc.schema then r.content = content(doc.schema, doc.content_type or JSON, ctx) end
  elseif not handler then
    r.content = content(problem.Problem, problem.CONTENT_TYPE, ctx)
  end
  return r
end

-- One declared response: a schema table, a string (a description, no
-- body), false (no body), or { description =, schema =, content_type =,
-- headers = }.
local function response_object(app, status, v, ctx)
  local code = tonumber(status)
  local r = { description = (code and TITLES[code]) or "Response" }
  if v == false then return r end
  if type(v) == "string" then r.description = v return r end
  local s, ctype = v, nil
  if type(v) == "table" and v.schema ~= nil and v.type == nil and v["$ref"] == nil then
    s, ctype = v.schema, v.content_type
    if v.description then r.description = v.description end
  elseif type(v) == "table" and v.description then
    r.description = v.description
  end
  if ctype == nil then
    local edoc = app._error_docs and code and (app._error_docs[code] or app._error_docs["*"])
    if s == problem.Problem then ctype = problem.CONTENT_TYPE
    elseif edoc and s == edoc.schema then ctype = edoc.content_type or JSON end
  end
  if s ~= nil then r.content = content(s, ctype, ctx) end
  return r
end

local function operation(app, rec, ctx)
  local o = rec.opts
  local op = {}
  op.operationId = o.operationId or ctx.unique_id(operation_id(rec.method, rec.path))
  op.summary = o.summary
  op.description = o.description
  if o.deprecated then op.deprecated = true end
  local tags = rec.tags or o.tags -- rec.tags: its groups' and its own (crater.group)
  if tags then
    op.tags = setmetatable({}, array_mt)
    for i, t in ipairs(tags) do op.tags[i] = t; ctx.tag(t) end
  end
  op.security = security.operation(app, rec)
  local params = parameters(rec, ctx)
  if #params > 0 then op.parameters = params end
  local spec = rec.schemas or route_schema.normalize(o)
  local responses_form = false
  if spec.body ~= nil then
    op.requestBody = { required = true, content = content(spec.body, JSON, ctx) }
  end
  if spec.form then
    -- a form with files can only come as multipart
    local form_schema = require "crater.form_schema"
    local c = content(spec.form, form_schema.MULTIPART, ctx)
    if select(2, form_schema.split(spec.form)) == nil then
      c[form_schema.URLENCODED] = c[form_schema.MULTIPART]
    end
    op.requestBody = { required = true, content = c }
    responses_form = true
  end
  local responses = {}
  for status, v in pairs(o.responses or {}) do
    responses[tostring(status)] = response_object(app, status, v, ctx)
  end
  if next(responses) == nil then responses["200"] = { description = "OK" } end
  if spec.body ~= nil then
    responses["400"] = responses["400"] or error_response(app, 400, ctx, "Malformed JSON body")
    responses["415"] = responses["415"] or error_response(app, 415, ctx, "The body is not application/json")
  end
  if security.checked(app, rec) then
    responses["401"] = responses["401"] or error_response(app, 401, ctx, "Missing or invalid credentials")
  end
  if responses_form then
    responses["400"] = responses["400"] or error_response(app, 400, ctx, "Malformed multipart/form-data body")
    responses["413"] = responses["413"] or error_response(app, 413, ctx, "The body, a part or a file is over its limit")
    responses["415"] = responses["415"] or error_response(app, 415, ctx, "The body is not a form")
  end
  if spec.params or spec.query or spec.headers or spec.body ~= nil or spec.form then
    responses["422"] = responses["422"] or error_response(app, 422, ctx, "Invalid input: every error, with where it is")
  end
  op.responses = responses
  for k, v in pairs(o) do
    if type(k) == "string" and sub(k, 1, 2) == "x-" then op[k] = copy_data(v) end
  end
  return op
end

-- ---------------------------------------------------------------------------
-- The document
-- ---------------------------------------------------------------------------

-- Which keys come first when the document is written; the rest follow in
-- name order. Paths keep the order the routes were declared in.
local KEY_RANK = {}
for i, k in ipairs({
  "openapi", "info", "jsonSchemaDialect", "servers", "tags", "paths", "components", "name", "in",
  "$ref", "type", "title", "summary", "version", "description", "operationId", "deprecated",
  "required", "parameters", "requestBody", "responses", "schema", "content",
  "enum", "const", "format", "properties", "items",
}) do KEY_RANK[k] = i end


--- The OpenAPI 3.1.0 document of an app, as a Lua table.
---@param app table a crater.app
---@return table doc
function _M.document(app)
  local cfg = type(app._openapi) == "table" and app._openapi or {}
  -- Components: name -> table, and table -> name. The app's registered
  -- schemas come first, always listed; then the built-in problem schemas
  -- and tables named with s.define, listed when something uses them.
  local by_name, names, comp_order = {}, {}, {}
  local ctx = { used = {}, ids = {} }
  local function add_component(n, t)
    if by_name[n] ~= nil and by_name[n] ~= t then
      error(format("two different schemas are named %q", n), 0)
    end
    if by_name[n] == nil then comp_order[#comp_order + 1] = n end
    by_name[n], names[t] = t, n
  end
  for _, n in ipairs(app._schema_names or {}) do add_component(n, app._schemas[n]) end
  for _, n in ipairs({ "Problem", "ValidationError" }) do
    if by_name[n] == nil then add_component(n, problem[n]) end
  end
  local name_of = schema_name_of()
  ctx.name = function(t)
    local n = names[t]
    if n == nil and name_of then
      n = name_of(t)
      if n then add_component(n, t) end
    end
    return n
  end
  -- Registered schemas with an $id, by that URI (app:schema: route
  -- schemas may $ref them by URI).
  ctx.component_ids = {}
  for _, n in ipairs(app._schema_names or {}) do
    local id = type(app._schemas[n]) == "table" and app._schemas[n]["$id"]
    if type(id) == "string" then ctx.component_ids[(uri.split(id))] = n end
  end
  ctx.ref = function(ref)
    local c = match(ref, "^#/components/schemas/([^/]+)$")
    if c then ctx.used[c] = true end
    if ctx.base == nil and sub(ref, 1, 1) == "#" then return ref end
    local res, frag = uri.split(uri.resolve(ctx.base or "", ref))
    local name = ctx.component_ids[res]
    if name == nil then return ref end -- another resource: kept as written
    ctx.used[name] = true
    local to = "#/components/schemas/" .. name
    if frag == nil or frag == "" then return to end
    if sub(frag, 1, 1) == "/" then return to .. frag end
    return "#" .. frag -- an anchor: bundled, it is the document's
  end
  ctx.unique_id = function(id)
    local base, i = id, 1
    while ctx.ids[id] do i = i + 1; id = base .. i end
    ctx.ids[id] = true
    return id
  end
  local tags, tag_list = {}, setmetatable({}, array_mt)
  for _, t in ipairs(cfg.tags or {}) do
    tags[t.name] = true
    tag_list[#tag_list + 1] = copy_data(t)
  end
  local group_tags = group.tag_docs(app)
  ctx.tag = function(name)
    if not tags[name] then tags[name] = true; tag_list[#tag_list + 1] = copy_data(group_tags[name] or { name = name }) end
  end
  -- operationIds given by the app are taken before generated ones
  for _, rec in ipairs(app._routes) do
    if rec.opts.operationId then
      if ctx.ids[rec.opts.operationId] then
        error(format("operationId %q is used by two routes (%s)", rec.opts.operationId, rec.where), 0)
      end
      ctx.ids[rec.opts.operationId] = true
    end
  end

  local paths, path_order = {}, {}
  for _, rec in ipairs(app._routes) do
    if not rec.opts.hidden then
      local p = doc_path(rec.path)
      if not paths[p] then paths[p] = {}; path_order[#path_order + 1] = p end
      paths[p][lower(rec.method)] = operation(app, rec, ctx)
    end
  end
  ORDER[paths] = path_order

  local info = { title = app.title, version = app.version, description = app.description }
  for k, v in pairs(cfg.info or {}) do info[k] = copy_data(v) end
  local doc = { openapi = OPENAPI_VERSION, info = info, paths = paths }
  if #tag_list > 0 then doc.tags = tag_list end
  -- OpenAPI's own default, written out: linters (redocly's recommended
  -- rules) want a servers list, and "/" is where the document is served.
  if cfg.servers ~= false then doc.servers = cfg.servers and copy_data(cfg.servers) or { { url = "/" } } end

  -- Exporting a component may use more of them: go until nothing is new.
  local registered = {}
  for _, n in ipairs(app._schema_names or {}) do registered[n] = true end
  local schemas, listed = {}, {}
  local again = true
  while again do
    again = false
    for _, n in ipairs(comp_order) do
      if schemas[n] == nil and (registered[n] or ctx.used[n]) then
        schemas[n] = export(by_name[n], ctx, by_name[n])
        again = true
      end
    end
  end
  for _, n in ipairs(comp_order) do
    if schemas[n] ~= nil then listed[#listed + 1] = n end
  end
  if #listed > 0 then
    ORDER[schemas] = listed
    doc.components = { schemas = schemas }
  end
  security.document(app, doc)
  return doc
end

-- Writes JSON with two-space indentation and a stable key order.
local function write(v, indent, out)
  if type(v) ~= "table" then
    out[#out + 1] = json_encode(v)
    return
  end
  local pad = rep("  ", indent + 1)
  if getmetatable(v) == array_mt or (next(v) ~= nil and json.is_array(v)) then
    if #v == 0 then out[#out + 1] = "[]" return end
    out[#out + 1] = "[\n"
    for i = 1, #v do
      out[#out + 1] = pad
      write(v[i], indent + 1, out)
      out[#out + 1] = i < #v and ",\n" or "\n"
    end
    out[#out + 1] = rep("  ", indent) .. "]"
    return
  end
  local keys = ORDER[v]
  if keys == nil then
    keys = sorted_keys(v)
    sort(keys, function(a, b)
      local ra, rb = KEY_RANK[a] or 1000, KEY_RANK[b] or 1000
      if ra ~= rb then return ra < rb end
      return tostring(a) < tostring(b)
    end)
  end
  if #keys == 0 then out[#out + 1] = "{}" return end
  out[#out + 1] = "{\n"
  for i, k in ipairs(keys) do
    out[#out + 1] = pad .. json_encode(tostring(k)) .. ": "
    write(v[k], indent + 1, out)
    out[#out + 1] = i < #keys and ",\n" or "\n"
  end
  out[#out + 1] = rep("  ", indent) .. "}"
end

--- The document as indented JSON text (what GET /openapi.json and
--- `crater openapi` print).
---@param app table
---@return string
function _M.encode(app)
  local out = {}
  write(_M.document(app), 0, out)
  out[#out + 1] = "\n"
  return concat(out)
end

-- ---------------------------------------------------------------------------
-- Serving: /openapi.json, /docs, /redoc and their assets
-- ---------------------------------------------------------------------------

-- The files of each package the pages load; nothing else is ever served,
-- so no request path can reach another file.
local PACKAGES = {
  swagger_ui = { dir = "swagger-ui-dist", probe = "swagger-ui-bundle.js", files = {
    ["swagger-ui-bundle.js"] = "text/javascript; charset=utf-8",
    ["swagger-ui-standalone-preset.js"] = "text/javascript; charset=utf-8",
    ["swagger-ui.css"] = "text/css; charset=utf-8",
    ["favicon-32x32.png"] = "image/png",
    ["favicon-16x16.png"] = "image/png",
  } },
  redoc = { dir = "redoc/bundles", probe = "redoc.standalone.js", files = {
    ["redoc.standalone.js"] = "text/javascript; charset=utf-8",
  } },
}

local function readable(path)
  local f = io_open(path, "rb")
  if f == nil then return false end
  f:close()
  return true
end

-- Where the npm packages are: the app's `openapi.assets`, else
-- $CRATER_ASSETS, else the folders .ci/setup-npm.sh installs into. A folder
-- may hold the packages directly or under node_modules/. `assets = false`
-- means never local: the pages always load from the CDN.
local function candidates(cfg)
  local list = {}
  if cfg.assets == false then return list end -- the CDN only
  if cfg.assets then list[#list + 1] = cfg.assets end
  local env = getenv("CRATER_ASSETS")
  if env and env ~= "" then list[#list + 1] = env end
  list[#list + 1] = "/usr/local/share/crater/assets"
  local home = getenv("HOME")
  if home and home ~= "" then list[#list + 1] = home .. "/.cache/crater/assets" end
  return list
end

--- The folder holding package `which` ("swagger_ui" or "redoc"), or nil.
---@param cfg table the app's openapi options
---@param which string
---@return string|nil
function _M.find_assets(cfg, which)
  local pkg = PACKAGES[which]
  for _, base in ipairs(candidates(cfg)) do
    for _, d in ipairs({ base .. "/node_modules/" .. pkg.dir, base .. "/" .. pkg.dir }) do
      if readable(d .. "/" .. pkg.probe) then return d end
    end
  end
  return nil
end

local function html_escape(s)
  return (gsub(tostring(s), "[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                                          ['"'] = "&quot;", ["'"] = "&#39;" }))
end

local function swagger_page(title, spec_url, base)
  return format([[<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%s</title>
<link rel="stylesheet" href="%s/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="%s/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({ url: %s, dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout" });
</script>
</body>
</html>
]], html_escape(title), html_escape(base), html_escape(base), json_encode(spec_url))
end

local function redoc_page(title, spec_url, base)
  return format([[<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%s</title>
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<redoc spec-url="%s"></redoc>
<script src="%s/redoc.standalone.js"></script>
</body>
</html>
]], html_escape(title), html_escape(spec_url), html_escape(base))
end

local HTML = "text/html; charset=utf-8"

-- Adds a GET route the app does not list (crater routes, the document);
-- a route the app declared itself at the same path wins.
local function add_hidden(app, path, handler)
  local rec = { method = "GET", path = path, handler = handler, opts = { hidden = true }, where = "crater.openapi" }
  local ok = pcall(app._router.add, app._router, "GET", path, rec)
  return ok
end

local function asset_handler(dir, files)
  local cache = {}
  local function missing(name)
    error({ crater_http_error = true, status = 404, detail = "no docs asset named " .. name }, 0)
  end
  return function(req)
    local name = req.params.file
    local ctype = files[name]
    if ctype == nil then missing(name) end
    local body = cache[name]
    if body == nil then
      local f = io_open(dir .. "/" .. name, "rb")
      if f == nil then missing(name) end
      body = f:read("*a")
      f:close()
      cache[name] = body
    end
    return 200, body, { ["Content-Type"] = ctype, ["Cache-Control"] = "public, max-age=86400" }
  end
end

--- Adds the document and docs routes the app's `openapi` option asks for
--- (crater.app calls this once, when the app is loaded).
---@param app table
function _M.mount(app)
  local cfg = app._openapi
  if cfg == false then return end
  if cfg == nil or cfg == true then cfg = {} end
  if type(cfg) ~= "table" then error("crater.app: openapi must be a table or false", 0) end
  local spec_path = cfg.path == nil and "/openapi.json" or cfg.path
  if spec_path == false then return end -- the pages need the document
  local cached
  add_hidden(app, spec_path, function()
    cached = cached or _M.encode(app)
    return 200, cached, { ["Content-Type"] = JSON }
  end)
  local cdn = cfg.cdn or {}
  local title = app.title
  local pages = {
    { which = "swagger_ui", path = cfg.docs == nil and "/docs" or cfg.docs, page = swagger_page,
      cdn = cdn.swagger_ui or _M.DEFAULT_CDN.swagger_ui, title = title .. " - Swagger UI" },
    { which = "redoc", path = cfg.redoc == nil and "/redoc" or cfg.redoc, page = redoc_page,
      cdn = cdn.redoc or _M.DEFAULT_CDN.redoc, title = title .. " - ReDoc" },
  }
  for _, p in ipairs(pages) do
    if p.path then
      local dir = _M.find_assets(cfg, p.which)
      local base = p.cdn
      if dir then
        base = (p.path == "/" and "" or p.path) .. "/assets"
        add_hidden(app, base .. "/{file}", asset_handler(dir, PACKAGES[p.which].files))
      end
      local html = p.page(p.title, spec_path, base)
      add_hidden(app, p.path, function()
        return 200, html, { ["Content-Type"] = HTML }
      end)
    end
  end
end

return _M
