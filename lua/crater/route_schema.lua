--- crater.route_schema: the schemas a route declares (params, query,
--- headers, body, responses) turned into one wrapper around its handler.
--
-- Everything is compiled once, when the route is defined. Per request the
-- wrapper:
--   1. for a route with a body: checks the Content-Type is JSON (else 415)
--      and decodes the body (malformed: 400 with the byte offset);
--   2. coerces path params, query and declared headers from strings to the
--      declared types, fills defaults, and validates them and the body;
--      every error of every part is collected, and any error answers 422
--      with them all;
--   3. calls the handler with req.params/query/headers/body typed and valid;
--   4. shapes the handler's answer with the schema declared for its status:
--      fields the schema does not declare are dropped. With --dev the shaped
--      answer is also validated (a violation is a 500 saying why), and what
--      shaping dropped is logged once per route and field.
-- The error answers go through the app's error handlers (crater.errors), so
-- an app that replaces the problem format with app:error(...) gets its own
-- format here too (and declares its schema for the OpenAPI document, see
-- crater.openapi).

local json = require "crater.json"
local host = require "crater.host"
local response = require "crater.response"
local errors = require "crater.errors"
local form_schema = require "crater.form_schema"

local type, pairs, error, tostring, pcall = type, pairs, error, tostring, pcall
local floor = math.floor
local getmetatable, setmetatable, rawset, rawget = getmetatable, setmetatable, rawset, rawget
local format, lower, match, gsub, find, gmatch = string.format, string.lower, string.match, string.gsub,
  string.find, string.gmatch
local sort, concat = table.sort, table.concat
local json_decode, array_mt = json.decode, json.array_mt
local log, dev = host.log, host.dev
local fail = errors.answer -- fail(app, req, status, detail, headers?, extra?): a response object

local _M = { version = "0.1.0" }

--- Where each part of a request is, in OpenAPI's words.
_M.IN = { params = "path", query = "query", headers = "header" }

-- Per request: the decoder without its wrapper, the header lookup without
-- the method lookup (crater.request's metatable).
local c_decode = require("crater._json").decode
local req_header = require("crater.request").header

-- ---------------------------------------------------------------------------
-- Route options -> object schemas
-- ---------------------------------------------------------------------------

local function is_schema_object(t)
  return t.type == "object" or t["$ref"] ~= nil or t.allOf ~= nil or t.anyOf ~= nil or t.oneOf ~= nil
end

-- s.optional(x) is a wrapper { x } whose metatable is named so (crater.schema).
local function unwrap_optional(s)
  local mt = type(s) == "table" and getmetatable(s)
  if mt and mt.__name == "crater.schema.optional" then return s[1], true end
  return s, false
end

-- `params`, `query` and `headers` are a map of name -> schema, or a whole
-- object schema; both become an object schema. Names not declared pass
-- through unchecked (a client may send more query keys and headers).
local function object_of(spec, where, all_required)
  if spec == nil then return nil end
  if type(spec) ~= "table" then error(format("route option %s must be a table of schemas", where), 0) end
  if is_schema_object(spec) then return spec end
  local props, required = {}, setmetatable({}, array_mt)
  for name, s in pairs(spec) do
    if type(name) ~= "string" then error(format("route option %s: names must be strings", where), 0) end
    local inner, opt = unwrap_optional(s)
    if type(inner) ~= "table" and type(inner) ~= "boolean" then
      error(format("route option %s: %s must be a schema", where, name), 0)
    end
    props[name] = inner
    -- a parameter with a default may be left out too: the default fills it
    if all_required or not (opt or (type(inner) == "table" and inner.default ~= nil)) then
      required[#required + 1] = name
    end
  end
  sort(required)
  local obj = { type = "object", properties = props }
  if #required > 0 then obj.required = required end
  return obj
end

--- The route options' input schemas as { params, query, headers, body },
--- params/query/headers as object schemas (nil when not declared).
---@param opts table route options
---@return table
function _M.normalize(opts)
  return {
    params = object_of(opts.params, "params", true),
    query = object_of(opts.query, "query", false),
    headers = object_of(opts.headers, "headers", false),
    body = opts.body,
    form = object_of(opts.form, "form", false),
  }
end

-- The response schema for a status (201) or a key of `responses`: [201],
-- ["201"], ["2XX"], or default.
local function response_schema(responses, status)
  local v = responses[status]
  if v == nil then v = responses[tostring(status)] end
  if v == nil and type(status) == "number" then v = responses[format("%dXX", floor(status / 100))] end
  if v == nil and type(status) == "number" then v = responses.default end
  if type(v) ~= "table" then return nil end
  if v.schema ~= nil and v.type == nil and v["$ref"] == nil then return v.schema end
  return v
end

-- ---------------------------------------------------------------------------
-- Requests
-- ---------------------------------------------------------------------------

-- "application/json", "application/problem+json; charset=utf-8", ...
local function is_json(ctype)
  if ctype == "application/json" then return true end -- what nearly every client sends
  if ctype == nil then return false end
  local mt = lower(match(ctype, "^%s*([^;%s]+)") or "")
  return mt == "application/json" or (find(mt, "^application/[%w%.%-]+%+json$") ~= nil)
end
_M.is_json = is_json

-- The validator's error records become the 422's entries, each with its
-- `in`. The records are shared and read-only (crater.schema makes each one
-- once per site), so every entry is a new table.
local function collect(errs, where, list)
  local n = errs and #errs or 0
  errs = errs or {}
  for i = 1, #list do
    local e = list[i]
    errs[n + i] = { ["in"] = where, pointer = e.pointer, message = e.message, keyword = e.keyword }
  end
  return errs
end

-- The declared headers whose values (or list items) are not valid UTF-8,
-- as validator error records; nil when all are text.
local bad_utf8 = require("crater.request").bad_utf8
local function not_text(given)
  local out
  for name, v in pairs(given) do
    local vals = type(v) == "table" and v or { v }
    for i = 1, #vals do
      local at = type(vals[i]) == "string" and bad_utf8(vals[i])
      if at then
        out = out or {}
        out[#out + 1] = { pointer = "/" .. (gsub(name, "~", "~0")), keyword = "type",
                          message = format("not valid UTF-8 text (byte %d)", at) }
        break
      end
    end
  end
  return out
end

local function concat_list(a, b)
  local out = {}
  for i = 1, #a do out[i] = a[i] end
  for i = 1, #b do out[#out + 1] = b[i] end
  return out
end

-- Whether a header's schema (through $ref to a component) wants a list: a
-- type that is array, or that has array and not string (a declared string
-- takes the text as it is, as coercion does).
local function wants_list(s, comps)
  for _ = 1, 16 do
    if type(s) ~= "table" or type(s["$ref"]) ~= "string" then break end
    s = comps[match(s["$ref"], "^#/components/schemas/(.+)$") or ""]
  end
  if type(s) ~= "table" then return false end
  local t = s.type
  if t == "array" then return true end
  if type(t) ~= "table" then return false end
  local arr, str = false, false
  for i = 1, #t do
    if t[i] == "array" then arr = true elseif t[i] == "string" then str = true end
  end
  return arr and not str
end

-- A header list as OpenAPI's "simple" style writes it (and as HTTP joins a
-- repeated header): "a, b,c" -> { "a", "b", "c" }. Whitespace around items
-- and empty items are dropped (RFC 9110, section 5.6.1).
local function split_list(v)
  local list, n = setmetatable({}, array_mt), 0
  for item in gmatch(v, "[^,]+") do
    item = match(item, "^[ \t]*(.-)[ \t]*$")
    if item ~= "" then n = n + 1; list[n] = item end
  end
  return list
end
_M.split_list = split_list

local details = setmetatable({}, { __index = function(t, n)
  local d = format("the request is invalid (%d error%s)", n, n == 1 and "" or "s")
  if n <= 64 then t[n] = d end
  return d
end })

-- What s.ref("Name") may point at: the app's registered schemas, and the
-- schemas named with s.define that the route uses.
local function components(schema, app, spec, responses)
  local found = schema.collect and schema.collect(spec.params or {}, spec.query or {}, spec.headers or {},
    type(spec.body) == "table" and spec.body or {}, responses or {}, spec.form or {}) or {}
  for name, t in pairs(app._schemas) do found[name] = t end
  return found
end

local function compile(schema, tbl, opts)
  local ok, v = pcall(schema.compile, tbl, opts)
  if not ok then error((tostring(v):gsub("^[^:]+:%d+: ", "")), 0) end
  return v
end

--- Compiles a route's schemas and returns the handler that checks its input
--- and shapes its output around `handler`, or `handler` itself when the
--- route declares no schema. Raises (with a message naming the option) when
--- a schema cannot be compiled.
---@param app table the crater.app
---@param opts table route options
---@param handler function
---@param path string the route's template, e.g. "/items/{id}"
---@return function handler
---@return table|nil schemas the normalized input schemas
function _M.prepare(app, opts, handler, path)
  local spec = _M.normalize(opts)
  if spec.form and spec.body ~= nil then error("a route declares a body or a form, not both", 0) end
  if spec.params and spec.params.properties then
    for name in pairs(spec.params.properties) do
      if not find(path, "{" .. name .. "}", 1, true) and not find(path, "{" .. name .. "...}", 1, true) then
        error(format("params declares '%s', which is not a parameter of the path", name), 0)
      end
    end
  end
  local responses = opts.responses
  if not (spec.params or spec.query or spec.headers or spec.body ~= nil or spec.form or responses) then
    return handler, nil
  end
  local schema = require "crater.schema"
  local comps = components(schema, app, spec, responses)
  local fmt = app._assert_formats ~= false
  local coerce = { coerce = true, defaults = true, components = comps, assert_formats = fmt }
  local vparams = spec.params and compile(schema, spec.params, coerce)
  local vquery = spec.query and compile(schema, spec.query, coerce)
  local vheaders = spec.headers and compile(schema, spec.headers, coerce)
  local vbody = spec.body ~= nil and compile(schema, spec.body, { defaults = true, components = comps, assert_formats = fmt })
  -- a form's values are strings, coerced as the query's; its files are in req.files
  local form_fields, form_files = form_schema.split(spec.form)
  local vform = form_fields and compile(schema, form_fields, coerce)
  local header_names, header_lists = {}, {}
  if spec.headers then
    for name, hs in pairs(spec.headers.properties or {}) do
      header_names[name] = lower(name)
      if wants_list(hs, comps) then header_lists[name] = true end
    end
  end

  -- Every response schema is compiled now, so a bad one fails at load:
  -- schema table -> { shape, check }. Then status -> that record (or
  -- false), looked up on first use of each status ("2XX" and default
  -- cover many).
  local compiled = {}
  for key in pairs(responses or {}) do
    local s = response_schema(responses, key)
    if s ~= nil and compiled[s] == nil then
      local ok, shaper = pcall(schema.shaper, s, { components = comps })
      if not ok then error((tostring(shaper):gsub("^[^:]+:%d+: ", "")), 0) end
      compiled[s] = { shape = shaper, check = dev and compile(schema, s, { components = comps, assert_formats = fmt }) or nil }
    end
  end
  local out = {}
  local function output(status)
    local s = responses and response_schema(responses, status)
    local o = s ~= nil and compiled[s] or false
    out[status] = o
    return o
  end

  local dropped_logged = {}

  local function shape(req, a, b, c)
    local is_res = getmetatable(a) == response.mt
    local status, body
    if is_res then status, body = a.status, a.body
    elseif type(a) == "number" then status, body = a, b
    else status, body = (a == nil) and 204 or 200, a end
    if body == nil or type(body) == "string" then return a, b, c end
    local o = out[status]
    if o == nil then o = output(status) end
    if not o then return a, b, c end
    local new, dropped = body, nil
    if o.shape then new, dropped = o.shape(body) end
    if dev then
      if dropped and #dropped > 0 then
        local route = req.route
        for i = 1, #dropped do
          local field = gsub(dropped[i], "/%d+", "/*")
          local key = status .. field
          if not dropped_logged[key] then
            dropped_logged[key] = true
            log("warn", format("%s %s: response %d: dropped %s (not in the response schema)",
              route.method, route.path, status, field))
          end
        end
      end
      local ok, errs = o.check(new)
      if not ok then
        local parts = {}
        for i = 1, #errs do parts[i] = (errs[i].pointer or "") .. ": " .. tostring(errs[i].message) end
        local why = format("the response %d does not match its schema: %s", status, concat(parts, "; "))
        log("error", format("%s %s: %s", req.method, req.path, why))
        return fail(app, req, 500, why)
      end
    end
    if is_res then a.body = new return a end
    if type(a) == "number" then return a, new, c end
    return new
  end

  local function checked(req)
    local errs, body
    if vbody then
      -- a body that cannot be read at all is answered before anything else
      local ctype = req_header(req, "content-type")
      if not is_json(ctype) then
        return fail(app, req, 415, ctype and ("expected an application/json body, got " .. ctype)
          or "expected an application/json body (no Content-Type given)")
      end
      local raw = req.body
      local err, offset
      if type(raw) == "string" then body, err, offset = c_decode(raw)
      else body, err, offset = json_decode(raw) end
      if body == nil and err ~= nil then
        return fail(app, req, 400, "malformed JSON body: " .. err, nil, { offset = offset })
      end
      rawset(req, "raw_body", raw)
    end
    if vform then
      local why = form_schema.wrong_type(req_header(req, "content-type"), form_files ~= nil)
      if why then return fail(app, req, 415, why) end
    end
    if vparams then
      local ok, e, value = vparams(req.params)
      if ok then req.params = value else errs = collect(nil, "params", e) end
    end
    if vquery then
      -- a key given once is a string, repeated an array of strings; the
      -- validator's coercion turns a lone string into [string] for arrays
      local ok, e, value = vquery(req.query)
      if ok then rawset(req, "query", value) else errs = collect(errs, "query", e) end
    end
    if vheaders then
      local h, given = req.headers, {}
      for name, lname in pairs(header_names) do
        local v = rawget(h, lname)
        if header_lists[name] and type(v) == "string" then v = split_list(v) end
        given[name] = v
      end
      local ok, e, value = vheaders(given)
      -- a header may carry obs-text bytes; a declared one must be text
      local bad = not_text(given)
      if bad then ok, e = false, ok and bad or concat_list(e, bad) end
      if ok then
        for name, lname in pairs(header_names) do rawset(h, lname, value[name]) end
      else
        errs = collect(errs, "headers", e)
      end
    end
    if vbody then
      local ok, e, value = vbody(body)
      if ok then
        rawset(req, "body", value)
        rawset(req, "_json", value)
      else
        errs = collect(errs, "body", e)
      end
    end
    if vform then
      local ok, e, value = vform(req.form)
      if ok then rawset(req, "form", value) else errs = collect(errs, "form", e) end
      local missing = form_files and form_schema.missing(form_files, req.files)
      if missing then errs = collect(errs, "form", missing) end
    end
    if errs then
      return fail(app, req, 422, details[#errs], nil, { errors = setmetatable(errs, array_mt) })
    end
    if responses then return shape(req, handler(req)) end
    return handler(req)
  end

  return checked, spec
end

return _M
