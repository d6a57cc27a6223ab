--- crater.schema.compile: a schema -> Lua source -> the validate function.
--
-- compile() generates Lua source for the schema and load()s it once, the
-- way ajv does for JavaScript: a request pays for the checks its schema
-- has, never for walking the schema. The keywords, the error list,
-- coercion and defaults are described in docs/schemas.md.
--
-- The generated chunk is one function per schema that needs one (F[n]),
-- each `function(v, E)`: it appends the errors of value v to the list E
-- (nil until the first error) and returns E. Subschemas are inlined where
-- they can be, so a whole schema is usually one function LuaJIT traces
-- at once. Every error is added by the code Compiler:error emits, and only
-- by it: that is where the error path's allocation is decided.

local regex = require "crater.regex"
local formats = require "crater.formats"
local content = require "crater.schema.content"
local values = require "crater.schema.values"
local runtime = require "crater.schema.runtime"
local writer = require "crater.schema.writer"
local uri = require "crater.schema.uri"
local resources = require "crater.schema.resources"
local registry = require "crater.schema.registry"
local vocabulary = require "crater.schema.vocabulary"

local type, pairs, ipairs, tostring, tonumber, error, pcall, require =
  type, pairs, ipairs, tostring, tonumber, error, pcall, require
local setmetatable = setmetatable
local floor, abs, huge, min = math.floor, math.abs, math.huge, math.min
local format, find, gsub, sub, char = string.format, string.find, string.gsub, string.sub, string.char
local concat, sort = table.concat, table.sort
local null = values.null
local quote, esc, shared_list = writer.quote, runtime.esc, runtime.shared_list

local _M = { version = "0.2.0" }

---@class crater.schema.error
---@field pointer string RFC 6901 JSON Pointer to the bad value ("" is the value itself)
---@field keyword string the JSON Schema keyword that failed ("type", "required", ...)
---@field message string what is wrong, in English ("must be string")

-- --------------------------------------------------------------------------
-- Pointers into the value, as known at compile time
-- --------------------------------------------------------------------------

-- A pointer is a list of parts: a string is constant text, `{ index = var }`
-- is the array index in loop variable `var` (counted from 0 in the pointer,
-- from 1 in Lua), `{ key = var }` the object key in `var`. Constant runs
-- are merged, so the error emitter sees at a glance which records it can
-- make at compile time. ROOT is the value itself ("").
local ROOT = {}

local function join(P, seg)
  local out = {}
  for i = 1, #P do out[i] = P[i] end
  for _, part in ipairs(seg) do
    local n = #out
    if type(part) == "string" and type(out[n]) == "string" then
      out[n] = out[n] .. part
    else
      out[n + 1] = part
    end
  end
  return out
end

local function name_seg(name) return { "/" .. esc(name) } end
local function index_seg(var) return { "/", { index = var } } end
local function key_seg(var) return { "/", { key = var } } end

-- The Lua expression of pointer P.
local function pointer_code(P)
  if #P == 0 then return '""' end
  local parts = {}
  for i, part in ipairs(P) do
    if type(part) == "string" then parts[i] = quote(part)
    elseif part.index then parts[i] = "(" .. part.index .. " - 1)"
    else parts[i] = "esc(" .. part.key .. ")" end
  end
  return concat(parts, " .. ")
end

-- --------------------------------------------------------------------------
-- Schema checks at compile time (a bad schema is the programmer's error)
-- --------------------------------------------------------------------------

local function bad(path, msg)
  error({ crater_schema_error = true, message = "invalid schema at " .. (path == "" and "/" or path) .. ": " .. msg }, 0)
end

local function is_nonneg_int(x) return type(x) == "number" and x >= 0 and x == floor(x) end

-- --------------------------------------------------------------------------
-- The compiler
-- --------------------------------------------------------------------------

---@class crater.schema.compiler
local Compiler = {}
Compiler.__index = Compiler

-- Error records whose pointer holds one array index are made once per
-- index and site, up to this index; past it each error gets a new record.
local MAX_CACHED_INDEX = 128

local TYPES = { string = true, number = true, integer = true, boolean = true, null = true,
                array = true, object = true }

--- A compiler for the document `root` (crater.schema.shape uses one too).
---@param root table|boolean
---@param opts table checked options
---@return crater.schema.compiler
function _M.new(root, opts)
  local c = setmetatable({
    root = root,
    opts = opts,
    components = opts.components or {},
    formats = opts.formats or {},
    K = {}, kindex = {}, records = {}, lists = {},
    src = {}, nfun = 0, fid = {},
    nv = 0, depth = 0, open = {}, fast = opts.all_errors == false,
    -- References (docs/schemas.md, "Identifiers and references"): the
    -- resources of every document loaded, the dynamic scope's stack DS
    -- (resource numbers, DS.n deep) and the $dynamicRef sites to fill.
    ix = resources.index(), base0 = opts.base or "", rids = {}, nrid = 0,
    DS = { n = 0 }, dyn_sites = {}, stripped = {}, noval = {}, fmt_assert = {},
  }, Compiler)
  c:add_document(root, c.base0)
  return c
end

-- OpenAPI components, given to compile or inside the document, are
-- subschemas of the document (their $id and $anchor count).
local function walk_components(c)
  return function(doc, walk)
    for _, t in pairs(c.components) do walk(t) end
    if type(doc) == "table" and type(doc.components) == "table" and type(doc.components.schemas) == "table" then
      for _, t in pairs(doc.components.schemas) do walk(t) end
    end
  end
end

--- Indexes a document known by `u` (its retrieval URI), and applies its
--- `$schema`'s vocabularies.
---@param doc any
---@param u string
function Compiler:add_document(doc, u)
  local meta = type(doc) == "table" and doc["$schema"] or nil
  local before
  if meta ~= nil then
    before = {}
    for n in pairs(self.ix.base) do before[n] = true end
  end
  resources.scan(self.ix, doc, u, doc == self.root and walk_components(self) or nil)
  if meta == nil then return end
  local vocabs = vocabulary.of(meta, function(m) return self:document(m) end)
  -- Without the validation vocabulary its keywords are annotations; with
  -- format-assertion, formats assert. Both mark the subschemas just indexed.
  local noval, fmt = vocabs and not vocabs.validation, vocabs and vocabs["format-assertion"]
  if not (noval or fmt) then return end
  for n in pairs(self.ix.base) do
    if not before[n] then
      if noval then self.noval[n] = true end
      if fmt then self.fmt_assert[n] = true end
    end
  end
end

--- The document at absolute URI `u` (no fragment): already indexed, else
--- from the registry, the resolve option or the built-in meta-schemas
--- (indexed now). nil when nobody knows it.
---@param u string
---@return any
function Compiler:document(u)
  local d = self.ix.resources[u]
  if d ~= nil then return d end
  local reg, load = self.opts.registry, self.opts.resolve
  if self.opts.schemas then d = self:listed(u) end
  if d == nil and reg then d = reg:get(u) end
  if d == nil and load then d = load(u) end
  if d == nil then d = registry.builtin(u) end
  if d == nil then return nil end
  self:add_document(d, u)
  return d
end

-- The document of opts.schemas known by `u`: a list entry by its $id, a
-- map entry by its key.
function Compiler:listed(u)
  local byuri = self.schemas_by_uri
  if byuri == nil then
    byuri = {}
    for k, d in pairs(self.opts.schemas) do
      local name = k
      if type(k) == "number" then
        name = type(d) == "table" and d["$id"]
        if type(name) ~= "string" then bad("", "opts.schemas[" .. k .. "] has no $id (give it a URI as its key)") end
      end
      byuri[(uri.split(uri.resolve(self.base0, name)))] = d
    end
    self.schemas_by_uri = byuri
  end
  return byuri[u]
end

--- The number of resource `u` in the dynamic scope's stack.
---@param u string
---@return integer
function Compiler:rid(u)
  local r = self.rids[u]
  if r == nil then
    self.nrid = self.nrid + 1
    r = self.nrid
    self.rids[u] = r
  end
  return r
end

-- The resource whose $dynamicAnchors a schema entering it puts in scope:
-- its resource's URI when that has any, else nil.
function Compiler:dynamic_resource(s)
  local res = self.ix.resource[s]
  if res ~= nil and self.ix.dynamic[res] ~= nil then return res end
  return nil
end

--- `K[i]`: the chunk constant holding `v` (the same i for the same table).
---@param v any
---@return string
function Compiler:const(v)
  local i = self.kindex[v]
  if i then return "K[" .. i .. "]" end
  i = #self.K + 1
  self.K[i] = v
  if type(v) == "table" or type(v) == "function" then self.kindex[v] = i end
  return "K[" .. i .. "]"
end

--- A Lua expression for the JSON value `v`.
---@param v any
---@return string
function Compiler:lit(v)
  local t = type(v)
  if t == "string" then return quote(v) end
  if t == "number" then
    if v ~= v then return "(0/0)" end
    if v == huge then return "(1/0)" elseif v == -huge then return "(-1/0)" end
    if v == floor(v) and abs(v) < 2 ^ 53 then return format("%d", v) end
    return format("%.17g", v)
  end
  if t == "boolean" then return tostring(v) end
  if v == null then return "null" end
  return self:const(v)
end

--- A new local variable name.
---@param base? string
---@return string
function Compiler:var(base)
  self.nv = self.nv + 1
  return (base or "x") .. self.nv
end

--- Reserves the number of a new function F[n].
---@return integer
function Compiler:new_id()
  self.nfun = self.nfun + 1
  return self.nfun
end

--- Adds a finished function to the chunk.
---@param w crater.schema.writer
function Compiler:add_function(w)
  self.src[#self.src + 1] = w:text()
end

--- The chunk: the prelude, then every function added, then `tail`.
---@param header string comment lines
---@param tail? string
---@return string
function Compiler:chunk(header, tail)
  local parts = { header .. runtime.prelude }
  for i, f in ipairs(self.src) do parts[i + 1] = f end
  parts[#parts + 1] = tail
  return concat(parts, "\n\n")
end

-- --------------------------------------------------------------------------
-- The one place errors are emitted
-- --------------------------------------------------------------------------

-- The record an error appends is, by the shape of its pointer:
--   * all constant ("/name", "/shipping/zip"): one record made now, shared
--     by every validation (a constant of the chunk);
--   * constant but for one array index ("/lines/" .. (i - 1) .. "/sku"):
--     one record per index, made on the first error there and kept
--     (up to MAX_CACHED_INDEX);
--   * anything else (object keys, two indexes, a message naming values):
--     a new table per error.
-- An invalid value then costs the error list and little else: tables and
-- strings made per error were most of the time of the error path (LuaJIT's
-- collector is not generational, so short-lived garbage is not cheap). The
-- price: records are shared, so they are read-only (docs/schemas.md).
-- Returns the record expression; when the current function stops at the
-- first error, the expression of the one-record list it returns; and for
-- a record whose message is known now, what it says, for the reader.
function Compiler:record(P, keyword, message)
  if type(message) == "string" then
    local index, at, indexes = nil, nil, 0
    for i, part in ipairs(P) do
      if type(part) == "table" then
        if part.key then indexes = 2 break end
        index, at, indexes = part.index, i, indexes + 1
      end
    end
    if indexes == 0 then
      local pointer = P[1] or ""
      local note = (pointer == "" and "(root)" or pointer) .. ": " .. message .. " (" .. keyword .. ")"
      local key = pointer .. "\0" .. keyword .. "\0" .. message
      local r = self.records[key]
      if r == nil then
        r = { pointer = pointer, keyword = keyword, message = message }
        self.records[key] = r
      end
      if not self.fast then return self:const(r), nil, note end
      local l = self.lists[r]
      if l == nil then l = shared_list(r); self.lists[r] = l end
      return self:const(r), self:const(l), note
    elseif indexes == 1 then
      local Ct = { p = P[at - 1] or "", s = P[at + 1] or "", k = keyword, m = message, max = MAX_CACHED_INDEX }
      local note = Ct.p .. "(" .. index .. " - 1)" .. Ct.s .. ": " .. message .. " (" .. keyword .. ")"
      local C = self:const(Ct)
      local rec = "(" .. C .. "[" .. index .. "] or irec(" .. C .. ", " .. index .. "))"
      if not self.fast then return rec, nil, note end
      local L = self:const({ rec = Ct })
      return rec, "(" .. L .. "[" .. index .. "] or ilist(" .. L .. ", " .. index .. "))", note
    end
  end
  local rec = "{ pointer = " .. pointer_code(P) .. ", keyword = " .. quote(keyword) .. ", message = "
    .. (type(message) == "string" and quote(message) or message.code) .. " }"
  return rec, "{ " .. rec .. " }"
end

--- Emits the code that adds the error `keyword`/`message` at pointer `P`
--- to the list E, with a comment naming `at`, the schema path of the
--- keyword. In a function that stops at the first error (all_errors =
--- false, or a branch that is only tested) that code returns: the list
--- made at compile time when E is nil, else E with the record appended (an
--- anyOf/oneOf collecting its branches' errors passes a list of its own).
--- Otherwise it appends and goes on, counting with `ne` rather than the
--- length operator (a call in compiled code).
--- `message` is a string, or `{ code = "Lua expression" }` for a message
--- that names values of the input.
--- The statements are written out here rather than a shared function
--- called: one err() called from everywhere became a hot root trace of its
--- own, and LuaJIT's side traces out of it ran into the callers' loops and
--- gave up ("loop unroll limit"), which sent the error path back to the
--- interpreter.
---@param w crater.schema.writer
---@param at string
---@param P table pointer parts
---@param keyword string
---@param message string|{ code: string }
function Compiler:error(w, at, P, keyword, message)
  local rec, list, note = self:record(P, keyword, message)
  w:comment("#" .. at)
  if self.fast then
    w:line("if E == nil then return " .. list .. " end")
    w:line("E[#E + 1] = " .. rec, note)
    w:line("do return E end")
  else
    w:line("if E == nil then E = new_tab(4, 0) end")
    w:line("ne = ne + 1")
    w:line("E[ne] = " .. rec, note)
  end
end

--- `if cond then <the error> end`.
function Compiler:check(w, cond, at, P, keyword, message)
  w:open("if " .. cond .. " then")
  self:error(w, at, P, keyword, message)
  w:close()
end

--- The target of `s`'s $dynamicRef, and the anchor name when the
--- reference is dynamic: its fragment is a plain name and the target
--- has that $dynamicAnchor (the "bookend"); otherwise it is a $ref.
---@param s table
---@param path string
---@return table|boolean target
---@return string|nil name
function Compiler:dynamic_target(s, path)
  local ref = s["$dynamicRef"]
  local target = self:resolve(ref, path, s)
  local _, frag = uri.split(ref)
  if frag == nil or frag == "" or sub(frag, 1, 1) == "/" then return target end
  local name = uri.unescape(frag)
  if type(target) ~= "table" or target["$dynamicAnchor"] ~= name then return target end
  return target, name
end

--- The subschema of the root's resource with `$dynamicAnchor: name`, or
--- nil. The root's resource is always the outermost in the dynamic scope
--- (validation starts there), so a $dynamicRef to a name it has always
--- goes there: resolved at compile time, no run-time lookup.
---@param name string
---@return table|nil
function Compiler:root_dynamic(name)
  local t = self.ix.dynamic[self.ix.resource[self.root] or self.base0]
  return t and t[name]
end

--- Every resource known that has `$dynamicAnchor: name`, in the order found.
---@param name string
---@return { res: string, node: table }[]
function Compiler:dynamic_candidates(name)
  local out = {}
  for _, res in ipairs(self.ix.order) do
    local t = self.ix.dynamic[res]
    local node = t and t[name]
    if node ~= nil and self.ix.resources[res] ~= nil then out[#out + 1] = { res = res, node = node } end
  end
  return out
end

-- The $ref of `s` to `target`. Entering another resource that has
-- $dynamicAnchors by a pointer into it puts it in the dynamic scope
-- (a resource root does that itself, see Compiler:fn).
function Compiler:ref(s, target, v, P, mode, path, w)
  local dres = not self.no_scope and type(target) == "table" and not self.ix.roots[target]
    and self:dynamic_resource(target)
  if not dres or dres == self.ix.resource[s] then
    self:here(target, v, P, mode, path, w)
    return
  end
  local DS, d = self:const(self.DS), self:var("d")
  w:line("local " .. d .. " = " .. DS .. ".n + 1")
  w:line(DS .. ".n = " .. d .. "; " .. DS .. "[" .. d .. "] = " .. self:rid(dres))
  self:call(w, self:fn(target, mode, path), v, P, DS .. ".n = " .. d .. " - 1")
  self.uses_dyn = true
end

--- Gives `copy`, a table made from schema `s`, the base URI and resource of `s`.
---@param s table
---@param copy table
function Compiler:same_place(s, copy)
  local ix = self.ix
  ix.base[copy], ix.resource[copy], ix.roots[copy] = ix.base[s], ix.resource[s], ix.roots[s]
end

--- `s` without the validation vocabulary's keywords (its document's
--- meta-schema does not use that vocabulary), made once per schema.
---@param s table
---@return table
function Compiler:without_validation(s)
  local t = self.stripped[s]
  if t then return t end
  t = vocabulary.without_validation(s)
  self:same_place(s, t)
  self.fmt_assert[t] = self.fmt_assert[s]
  self.stripped[s] = t
  return t
end

-- A call of F[id] that adds to E. `ne` is read again after it, since it
-- may have added records.
function Compiler:call_line(w, id, x)
  w:line("E = F[" .. id .. "](" .. x .. ", E)")
  if not self.fast then w:line("ne = E and #E or 0") end
end

-- A call of F[id] on the value in `x` at pointer P: the errors it adds
-- (at pointers relative to x) get P before their pointers.
function Compiler:call(w, id, x, P, after)
  if #P == 0 then
    self:call_line(w, id, x)
  else
    local n0 = self:var("n")
    w:line("local " .. n0 .. " = E and #E or 0")
    self:call_line(w, id, x)
    w:line("if E and #E > " .. n0 .. " then E = prefix(E, " .. n0 .. ", " .. pointer_code(P) .. ") end")
  end
  if after then w:line(after) end
  if self.fast then w:line("if E then return E end") end
end

-- --------------------------------------------------------------------------
-- $ref and $anchor
-- --------------------------------------------------------------------------

--- The schema table a $ref (or $dynamicRef) string names, resolved
--- against the base URI of `from`, the schema it is in: a resource by URI,
--- then a JSON Pointer or an anchor inside it.
---@param ref string
---@param path string where the $ref is (for errors)
---@param from? table the schema holding the $ref
---@return table|boolean
function Compiler:resolve(ref, path, from)
  if type(ref) ~= "string" then bad(path, "$ref must be a string") end
  local name = ref:match("^#/components/schemas/(.+)$")
  if name then
    name = gsub(gsub(name, "~1", "/"), "~0", "~")
    local t = self.components[name]
    if t == nil and type(self.root) == "table" and type(self.root.components) == "table"
        and type(self.root.components.schemas) == "table" then
      t = self.root.components.schemas[name]
    end
    if t == nil then bad(path, "$ref to unknown component '" .. name .. "' (pass it in opts.components)") end
    return t
  end
  local ix = self.ix
  local base = (from ~= nil and ix.base[from]) or self.base0
  local res, frag = uri.split(uri.resolve(base, ref))
  local node = self:document(res)
  if node == nil then
    bad(path, "$ref '" .. ref .. "'" .. (base ~= "" and " in " .. base or "") .. ": unknown schema " .. res
      .. " (nothing is fetched: register it, or give compile a registry or resolve function)")
  end
  if frag == nil or frag == "" then return node end
  if sub(frag, 1, 1) ~= "/" then
    local found = ix.anchors[res .. "#" .. uri.unescape(frag)]
    if found == nil then
      bad(path, "$ref '" .. ref .. "': no subschema " .. (res == "" and "" or "of " .. res .. " ")
        .. "has \"$anchor\": \"" .. uri.unescape(frag) .. "\"")
    end
    return found
  end
  local b, r = ix.base[node] or res, ix.resource[node] or res
  for _, seg in ipairs(uri.pointer_tokens(frag)) do
    if type(node) ~= "table" then bad(path, "$ref '" .. ref .. "' does not resolve") end
    local nx = node[seg]
    if nx == nil and find(seg, "^%d+$") then nx = node[tonumber(seg) + 1] end
    node = nx
    if ix.base[node] ~= nil then b, r = ix.base[node], ix.resource[node] end
  end
  if node == nil then bad(path, "$ref '" .. ref .. "' does not resolve") end
  resources.adopt(ix, node, b, r)
  return node
end

--- The schema at a location, following $ref chains (for coercion,
--- defaults and shaping, which need to know the declared type).
---@param s any
---@param path string
---@return any
function Compiler:deref(s, path)
  local n = 0
  while type(s) == "table" and s["$ref"] ~= nil and n < 32 do
    s = self:resolve(s["$ref"], path, s)
    n = n + 1
  end
  return s
end

-- --------------------------------------------------------------------------
-- Functions, calls and inlining
-- --------------------------------------------------------------------------

-- Keywords that make a schema need its own function rather than inline code.
local COMPLEX = { properties = true, patternProperties = true, additionalProperties = true,
  items = true, prefixItems = true, allOf = true, anyOf = true, oneOf = true, ["not"] = true,
  ["if"] = true, ["$ref"] = true, ["$dynamicRef"] = true, dependentSchemas = true, propertyNames = true,
  contains = true, unevaluatedProperties = true, unevaluatedItems = true, ["$defs"] = false }

local function is_simple(s)
  if type(s) ~= "table" then return true end
  for k in pairs(s) do
    if COMPLEX[k] then return false end
  end
  return true
end

-- Keywords that apply a subschema to the same value (in place): a cycle
-- of them would recurse forever on some values, never reaching a child.
local INPLACE_ONE = { ["not"] = true, ["if"] = true, ["then"] = true, ["else"] = true }
local INPLACE_LIST = { allOf = true, anyOf = true, oneOf = true }

--- Raises a schema error when `s` reaches itself through $ref and in-place
--- applicators alone ({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref":
--- "#/$defs/a"}}}): validation would recurse until the stack ran out. A
--- cycle that goes through properties, items... is recursion on ever
--- smaller values, and fine. ($dynamicRef is not followed: its target is
--- only known at run time.)
---@param s any
---@param path string
function Compiler:no_inplace_cycle(s, path)
  local done = self.acyclic
  if done == nil then done = {}; self.acyclic = done end
  if type(s) ~= "table" or done[s] then return end
  local on = {}
  local function visit(n, p)
    if type(n) ~= "table" or done[n] then return end
    if on[n] then bad(p, "$ref cycle that never moves into the value (validation would never end)") end
    on[n] = true
    if type(n["$ref"]) == "string" then visit(self:resolve(n["$ref"], p, n), p .. "/$ref") end
    for k in pairs(INPLACE_ONE) do if n[k] ~= nil then visit(n[k], p .. "/" .. k) end end
    for k in pairs(INPLACE_LIST) do
      if type(n[k]) == "table" then
        for i, b in ipairs(n[k]) do visit(b, p .. "/" .. k .. "/" .. (i - 1)) end
      end
    end
    if type(n.dependentSchemas) == "table" then
      for name, d in pairs(n.dependentSchemas) do visit(d, p .. "/dependentSchemas/" .. esc(name)) end
    end
    on[n] = nil
    done[n] = true
  end
  visit(s, path)
end

--- The id n of the function F[n](v, E) that checks `s`, made on first use.
--- mode: "full" applies coercion/defaults as opts say; "pure" never changes
--- the value (subschemas of anyOf/oneOf/not/if, whose outcome is discarded).
--- `fast` functions stop at the first error: those behind anyOf, oneOf,
--- not, if and contains (only validity counts there), and every function
--- when compile's all_errors is false. Default: the current function's.
---@param s table|boolean
---@param mode "full"|"pure"
---@param path string schema path of `s`
---@param fast? boolean
---@return integer
function Compiler:fn(s, mode, path, fast)
  if fast == nil then fast = self.fast end
  self:no_inplace_cycle(s, path)
  local key = fast and (mode .. ":fast") or mode
  local byMode = self.fid[s]
  if byMode == nil then byMode = {}; self.fid[s] = byMode end
  local id = byMode[key]
  if id then return id end
  id = self:new_id()
  byMode[key] = id
  -- A resource root with $dynamicAnchors enters the dynamic scope: F[id]
  -- pushes it, calls the checks and pops it (one place, however F[id]
  -- returns).
  local dres = not self.no_scope and type(s) == "table" and self.ix.roots[s] and self:dynamic_resource(s)
  if dres then
    local inner = self:new_id()
    local ww = writer.new()
    local DS = self:const(self.DS)
    ww:comment("#" .. (path == "" and " (the schema)" or path) .. ": enters the dynamic scope of " .. dres)
    ww:open("F[" .. id .. "] = function(v, E)")
    ww:line("local d = " .. DS .. ".n + 1")
    ww:line(DS .. ".n = d; " .. DS .. "[d] = " .. self:rid(dres))
    ww:line("E = F[" .. inner .. "](v, E)")
    ww:line(DS .. ".n = d - 1")
    ww:line("return E")
    ww:close()
    self:add_function(ww)
    self.uses_dyn = true
    id = inner
  end
  local w = writer.new()
  local changes = mode == "full" and (self.opts.coerce or self.opts.defaults)
  w:comment("#" .. (path == "" and " (the schema)" or path) .. (fast and ": stops at the first error" or ": every error")
    .. (changes and ", coerces and fills defaults" or ""))
  w:open("F[" .. id .. "] = function(v, E)")
  if not fast then w:line("local ne = E and #E or 0") end
  -- A function inlines its subschemas (see Compiler:inline) afresh.
  local saved_depth, saved_open, saved_fast = self.depth, self.open, self.fast
  self.depth, self.open, self.fast = 0, { [s] = true }, fast
  self:body(s, "v", ROOT, mode, path, w)
  self.depth, self.open, self.fast = saved_depth, saved_open, saved_fast
  w:line("return E")
  w:close()
  self:add_function(w)
  return byMode[key]
end

-- Emits code that validates the child value in variable `x` (at pointer
-- P + seg) against `s`, inline when simple.
function Compiler:child(s, x, P, seg, mode, path, w)
  if s == true then return end
  local Pc = join(P, seg)
  if self:inline(s, x, Pc, mode, path, w) then return end
  self:call(w, self:fn(s, mode, path), x, Pc)
end

-- Emits the checks of `s` right here when that is possible: always for a
-- schema without subschemas, else up to MAX_INLINE levels deep and never
-- for a schema already open above (a recursive $ref). Inlined code knows
-- the whole pointer of every error, so no error list needs rewriting, and
-- LuaJIT traces one function instead of following calls. Returns false
-- when the caller should call a function instead.
local MAX_INLINE, MAX_STATEMENTS = 8, 5000
function Compiler:inline(s, v, P, mode, path, w)
  if not self.no_scope and type(s) == "table" and self.ix.roots[s] and self:dynamic_resource(s) then
    return false
  end
  if is_simple(s) then
    self:body(s, v, P, mode, path, w)
    return true
  end
  -- Lua limits a function's jumps and constants: past MAX_STATEMENTS, call.
  if self.depth >= MAX_INLINE or self.open[s] or w.size > MAX_STATEMENTS then return false end
  self.depth = self.depth + 1
  self.open[s] = true
  self:body(s, v, P, mode, path, w)
  self.open[s] = nil
  self.depth = self.depth - 1
  return true
end

-- Same location, other schema (allOf, $ref).
function Compiler:here(s, v, P, mode, path, w)
  if s == true then return end
  if self:inline(s, v, P, mode, path, w) then return end
  self:call(w, self:fn(s, mode, path), v, P)
end

--- An isolated test: an expression true when `v` is valid against `s`,
--- with no side effects (for anyOf, oneOf, not, if, contains).
---@param s table|boolean
---@param v string Lua expression of the value
---@param path string
---@return string
function Compiler:test(s, v, path)
  if s == true then return "true" end
  if s == false then return "false" end
  local id = self:fn(s, "pure", path, true)
  return "(F[" .. id .. "](" .. v .. ", nil) == nil)"
end

-- --------------------------------------------------------------------------
-- The keywords
-- --------------------------------------------------------------------------

local TYPE_TEST = {
  string = function(v) return "type(" .. v .. ') == "string"' end,
  number = function(v) return "type(" .. v .. ') == "number"' end,
  integer = function(v) return "(type(" .. v .. ') == "number" and ' .. v .. " % 1 == 0)" end,
  boolean = function(v) return "type(" .. v .. ') == "boolean"' end,
  null = function(v) return v .. " == null" end,
  -- The common cases inline (a decoded array has AMT; a decoded object has
  -- no metatable and no [1]); the helpers settle the rest.
  array = function(v)
    return "(getmetatable(" .. v .. ") == AMT or is_array(" .. v .. "))"
  end,
  object = function(v)
    return "(type(" .. v .. ') == "table" and getmetatable(' .. v .. ") == nil and " .. v .. "[1] == nil or is_object(" .. v .. "))"
  end,
}

-- Emits coercion of the string in `x` to the declared type of `s`, then
-- `assign` (Lua code storing x back where it came from, if anywhere).
function Compiler:coerce(s, x, assign, path, w)
  s = self:deref(s, path)
  if type(s) ~= "table" or s.type == nil then return end
  local types = type(s.type) == "table" and s.type or { s.type }
  local convert = {}
  for _, t in ipairs(types) do
    if t == "string" then return end
    if t == "integer" or t == "number" or t == "boolean" or t == "null" or t == "array" then
      convert[#convert + 1] = t
    end
  end
  if #convert == 0 then return end
  local function set(value)
    w:line(x .. " = " .. value)
    if assign then w:line(assign) end
  end
  w:comment("#" .. path .. "/type: coerce a string")
  -- Each type in turn, as long as the earlier ones left a string.
  for _, t in ipairs(convert) do
    w:open("if type(" .. x .. ') == "string" then')
    if t == "integer" or t == "number" then
      local c = self:var("c")
      w:line("local " .. c .. " = str_number(" .. x .. ")")
      w:open("if " .. c .. (t == "integer" and (" and " .. c .. " % 1 == 0") or "") .. " then")
      set(c)
      w:close()
    elseif t == "boolean" then
      w:open("if " .. x .. ' == "true" then')
      set("true")
      w:elseif_(x .. ' == "false"')
      set("false")
      w:close()
    elseif t == "null" then
      w:open("if " .. x .. ' == "" then')
      set("null")
      w:close()
    else
      set("setmetatable({ " .. x .. " }, AMT)")
    end
    w:close()
  end
end

local function type_name_list(types)
  if #types == 1 then return types[1] end
  return concat(types, ", ", 1, #types - 1) .. " or " .. types[#types]
end

local function describe(v)
  local ok, json = pcall(require, "crater.json")
  if ok then
    local ok2, s = pcall(json.encode, v)
    if ok2 then return s end
  end
  if type(v) == "string" then return '"' .. v .. '"' end
  return tostring(v)
end

-- The checks of schema `s` on the value in variable `v`, at pointer `P`.
function Compiler:body(s, v, P, mode, path, w)
  if s == true then return end
  if s == false then
    self:error(w, path, P, "false", "no value is allowed here")
    return
  end
  if type(s) ~= "table" then bad(path, "a schema must be an object or a boolean") end

  if self.noval[s] then s = self:without_validation(s) end
  -- $ref: in 2020-12 it sits beside other keywords.
  if s["$ref"] ~= nil then
    local target = self:resolve(s["$ref"], path, s)
    w:comment("#" .. path .. "/$ref: " .. s["$ref"])
    self:ref(s, target, v, P, mode, path .. "/$ref", w)
  end
  if s["$dynamicRef"] ~= nil then
    local target, name = self:dynamic_target(s, path)
    w:comment("#" .. path .. "/$dynamicRef: " .. s["$dynamicRef"])
    if name ~= nil and self:root_dynamic(name) then
      self:ref(s, self:root_dynamic(name), v, P, mode, path .. "/$dynamicRef", w)
    elseif name == nil then
      self:ref(s, target, v, P, mode, path .. "/$dynamicRef", w)
    elseif type(target) == "boolean" then
      self:here(target, v, P, mode, path .. "/$dynamicRef", w)
    else
      -- F[n] picked at run time: the outermost resource in the dynamic
      -- scope with this $dynamicAnchor (filled in by Compiler:finish),
      -- else the static target.
      local pick = {}
      self.dyn_sites[#self.dyn_sites + 1] = { pick = pick, name = name, mode = mode, fast = self.fast,
        path = path .. "/$dynamicRef" }
      local id = self:fn(target, mode, path .. "/$dynamicRef")
      self.uses_dyn, self.scope_needed = true, true
      self:call(w, "dyn(" .. self:const(self.DS) .. ", " .. self:const(pick) .. ") or " .. id, v, P)
    end
  end

  if s.enum ~= nil then
    if type(s.enum) ~= "table" then bad(path .. "/enum", "must be an array") end
    local alts = {}
    for i = 1, #s.enum do
      local e = s.enum[i]
      if type(e) == "table" then alts[#alts + 1] = "deq(" .. v .. ", " .. self:const(e) .. ")"
      else alts[#alts + 1] = v .. " == " .. self:lit(e) end
    end
    if #alts == 0 then alts[1] = "false" end
    local shown = {}
    for i = 1, #s.enum do shown[i] = describe(s.enum[i]) end
    self:check(w, "not (" .. concat(alts, " or ") .. ")", path .. "/enum", P, "enum",
      "must be one of: " .. concat(shown, ", "))
  end
  if s.const ~= nil then
    local c = s.const
    local test = type(c) == "table" and ("deq(" .. v .. ", " .. self:const(c) .. ")") or (v .. " == " .. self:lit(c))
    self:check(w, "not (" .. test .. ")", path .. "/const", P, "const", "must be " .. describe(c))
  end

  local types, tset, known
  if s.type ~= nil then
    types = type(s.type) == "table" and s.type or { s.type }
    tset = {}
    if #types == 0 and type(s.type) == "table" then bad(path .. "/type", "must not be empty") end
    for _, t in ipairs(types) do
      if not TYPES[t] then bad(path .. "/type", "unknown type '" .. tostring(t) .. "'") end
      tset[t] = true
    end
    local tests = {}
    for _, t in ipairs(types) do
      if not (t == "integer" and tset.number) then tests[#tests + 1] = TYPE_TEST[t](v) end
    end
    w:open("if not (" .. concat(tests, " or ") .. ") then")
    self:error(w, path .. "/type", P, "type", "must be " .. (#types == 1 and "" or "one of ") .. type_name_list(types))
    -- With one type, the keywords for that type need no guard of their own.
    if #types == 1 then known = types[1]; w:otherwise() else w:close() end
  end

  self:string_checks(s, v, P, path, w, known == "string")
  self:number_checks(s, v, P, path, w, known == "number" or known == "integer")
  self:object_checks(s, v, P, mode, path, w, known == "object")
  self:array_checks(s, v, P, mode, path, w, known == "array")
  if known then w:close() end
  self:combinators(s, v, P, mode, path, w)
end

-- "1 item", "2 items", "1 property", "2 properties".
local function amount(n, noun)
  if n == 1 then return "1 " .. noun end
  return format("%d ", n) .. (noun == "property" and "properties" or noun .. "s")
end

function Compiler:string_checks(s, v, P, path, w, known)
  local minL, maxL, pat, fmt = s.minLength, s.maxLength, s.pattern, s.format
  local asserts_content = self.opts.assert_content and (s.contentEncoding ~= nil or s.contentMediaType ~= nil)
  if minL == nil and maxL == nil and pat == nil and fmt == nil and not asserts_content then return end
  if not known then w:open("if type(" .. v .. ') == "string" then') end
  if minL ~= nil or maxL ~= nil then
    local n = self:var("len")
    w:line("local " .. n .. " = #" .. v)
    if minL ~= nil then
      if not is_nonneg_int(minL) then bad(path .. "/minLength", "must be a non-negative integer") end
      -- Bytes >= code points >= bytes / 4: count only when it can matter.
      self:check(w, format("%s < %d or (%s < %d and ulen(%s) < %d)", n, minL, n, 4 * minL, v, minL),
        path .. "/minLength", P, "minLength", "must have at least " .. amount(minL, "character"))
    end
    if maxL ~= nil then
      if not is_nonneg_int(maxL) then bad(path .. "/maxLength", "must be a non-negative integer") end
      self:check(w, format("%s > %d and ulen(%s) > %d", n, maxL, v, maxL),
        path .. "/maxLength", P, "maxLength", "must have at most " .. amount(maxL, "character"))
    end
  end
  if pat ~= nil then
    if type(pat) ~= "string" then bad(path .. "/pattern", "must be a string") end
    local ok, re = pcall(regex.compile, pat)
    if not ok then bad(path .. "/pattern", tostring(re):gsub("^.-: ", "", 1)) end
    self:check(w, "not " .. self:const(re.test) .. "(" .. v .. ")", path .. "/pattern", P, "pattern",
      "must match the pattern " .. pat)
  end
  if fmt ~= nil then
    if type(fmt) ~= "string" then bad(path .. "/format", "must be a string") end
    local check = self.formats[fmt] or formats[fmt]
    if check == nil then
      if self.opts.strict_formats then bad(path .. "/format", "unknown format '" .. fmt .. "'") end
    elseif self.opts.assert_formats or self.fmt_assert[s] then
      -- Only asked for: 2020-12 makes `format` an annotation by default.
      self:check(w, "not " .. self:const(check) .. "(" .. v .. ")", path .. "/format", P, "format",
        "must be a valid " .. fmt)
    end
  end
  if asserts_content then self:content_checks(s, v, P, path, w) end
  if not known then w:close() end
end

-- contentEncoding (base64), contentMediaType (JSON types) and
-- contentSchema, when compile's assert_content asks for them: annotations
-- otherwise, as 2020-12 has them. Other encodings and media types have
-- nothing to check here and pass.
function Compiler:content_checks(s, v, P, path, w)
  local enc, mt, cs = s.contentEncoding, s.contentMediaType, s.contentSchema
  if enc ~= nil and type(enc) ~= "string" then bad(path .. "/contentEncoding", "must be a string") end
  if mt ~= nil and type(mt) ~= "string" then bad(path .. "/contentMediaType", "must be a string") end
  local b64 = enc ~= nil and enc:lower() == "base64"
  local js = mt ~= nil and content.is_json(mt)
  if not b64 and not js then return end
  local d = self:var("d")
  w:line("local " .. d .. " = " .. v)
  if b64 then
    w:line(d .. " = " .. self:const(content.base64_decode) .. "(" .. d .. ")")
    self:check(w, d .. " == nil", path .. "/contentEncoding", P, "contentEncoding", "must be base64 (RFC 4648)")
  end
  if js then
    w:open("if " .. d .. " ~= nil then")
    w:line(d .. " = " .. self:const(content.json_decode) .. "(" .. d .. ")")
    self:check(w, d .. " == nil", path .. "/contentMediaType", P, "contentMediaType", "must hold " .. mt)
    if cs ~= nil then
      self:check(w, d .. " ~= nil and not " .. self:test(cs, d, path .. "/contentSchema"), path .. "/contentSchema",
        P, "contentSchema", "must hold a document that matches contentSchema")
    end
    w:close()
  end
end

-- minItems/maxItems, minProperties/maxProperties (`what`: "Items",
-- "Properties"), whose limits `lo` and `hi` are counted in the variable `n`.
function Compiler:count_checks(w, n, lo, hi, what, noun, path, P)
  if lo ~= nil then
    self:check(w, format("%s < %d", n, lo), path .. "/min" .. what, P, "min" .. what,
      "must have at least " .. amount(lo, noun))
  end
  if hi ~= nil then
    self:check(w, format("%s > %d", n, hi), path .. "/max" .. what, P, "max" .. what,
      "must have at most " .. amount(hi, noun))
  end
end

local function num_kw(s, k, path)
  local x = s[k]
  if x ~= nil and type(x) ~= "number" then bad(path .. "/" .. k, "must be a number") end
  return x
end

function Compiler:number_checks(s, v, P, path, w, known)
  local mn, mx = num_kw(s, "minimum", path), num_kw(s, "maximum", path)
  local emn, emx = num_kw(s, "exclusiveMinimum", path), num_kw(s, "exclusiveMaximum", path)
  local mul = num_kw(s, "multipleOf", path)
  if mn == nil and mx == nil and emn == nil and emx == nil and mul == nil then return end
  if not known then w:open("if type(" .. v .. ') == "number" then') end
  local function cmp(op, lim, kw, msg)
    self:check(w, v .. " " .. op .. " " .. self:lit(lim), path .. "/" .. kw, P, kw, msg .. " " .. describe(lim))
  end
  if mn ~= nil then cmp("<", mn, "minimum", "must be >=") end
  if mx ~= nil then cmp(">", mx, "maximum", "must be <=") end
  if emn ~= nil then cmp("<=", emn, "exclusiveMinimum", "must be >") end
  if emx ~= nil then cmp(">=", emx, "exclusiveMaximum", "must be <") end
  if mul ~= nil then
    if mul <= 0 then bad(path .. "/multipleOf", "must be > 0") end
    local test
    if mul == floor(mul) and mul < 2 ^ 53 then
      -- An integer divisor has an exact answer: fmod is exact on doubles, as
      -- JavaScript's % is. The 1e-9 tolerance is for fractions only: with it,
      -- 2^53 passed as a multiple of 10 and 10.0000000001 as one of 5.
      test = "(fmod(" .. v .. ", " .. self:lit(mul) .. ") == 0)"
    else
      test = "multiple_of(" .. v .. ", " .. self:lit(mul) .. ")"
    end
    self:check(w, "not " .. test, path .. "/multipleOf", P, "multipleOf", "must be a multiple of " .. describe(mul))
  end
  if not known then w:close() end
end

-- The checks of the properties in `list` of object `v` (see object_checks).
function Compiler:property_checks(list, props, reqset, v, P, mode, path, w)
  local fill = mode == "full" and self.opts.defaults
  local coerce = mode == "full" and self.opts.coerce
  for _, name in ipairs(list) do
    local ps = props[name]
    local ppath = path .. "/properties/" .. esc(name)
    local x = self:var()
    local key = quote(name)
    local default
    if fill then
      local target = self:deref(ps, ppath)
      if type(target) == "table" then default = target.default end
    end
    w:comment("#" .. ppath)
    w:open("do")
    w:line("local " .. x .. " = " .. v .. "[" .. key .. "]")
    if default ~= nil or reqset[name] then
      w:open("if " .. x .. " == nil then")
      if default == nil then
        self:error(w, path .. "/required (" .. name .. ")", join(P, name_seg(name)), "required", "is required")
      elseif type(default) == "table" then
        w:line(v .. "[" .. key .. "] = copy(" .. self:const(default) .. ")")
      else
        w:line(v .. "[" .. key .. "] = " .. self:lit(default))
      end
      w:otherwise()
    else
      w:open("if " .. x .. " ~= nil then")
    end
    if coerce then self:coerce(ps, x, v .. "[" .. key .. "] = " .. x, ppath, w) end
    self:child(ps, x, P, name_seg(name), mode, ppath, w)
    w:close()
    w:close()
  end
end

local PROPS_PER_FN = 64

local OBJECT_KW = { "properties", "required", "additionalProperties", "patternProperties",
  "minProperties", "maxProperties", "propertyNames", "dependentRequired", "dependentSchemas",
  "unevaluatedProperties" }

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys)
  return keys
end

function Compiler:object_checks(s, v, P, mode, path, w, known)
  local any = false
  for _, k in ipairs(OBJECT_KW) do if s[k] ~= nil then any = true break end end
  if not any then return end
  local props, req = s.properties, s.required
  if props ~= nil and type(props) ~= "table" then bad(path .. "/properties", "must be an object") end
  if req ~= nil and type(req) ~= "table" then bad(path .. "/required", "must be an array") end
  props = props or {}
  if not known then w:open("if is_object(" .. v .. ") then") end

  local reqset = {}
  for _, name in ipairs(req or {}) do
    if type(name) ~= "string" then bad(path .. "/required", "must hold strings") end
    reqset[name] = true
  end
  -- Properties in a stable order, so generated code is reproducible.
  local pnames = sorted_keys(props)
  -- Lua limits how long one control structure may be: objects with many
  -- properties check them in functions of PROPS_PER_FN properties each.
  if #pnames <= PROPS_PER_FN then
    self:property_checks(pnames, props, reqset, v, P, mode, path, w)
  else
    for first = 1, #pnames, PROPS_PER_FN do
      local slice = {}
      for j = first, min(first + PROPS_PER_FN - 1, #pnames) do slice[#slice + 1] = pnames[j] end
      local id = self:new_id()
      local fw = writer.new()
      fw:comment("#" .. path .. "/properties: " .. #slice .. " of them, from " .. slice[1])
      fw:open("F[" .. id .. "] = function(v, E)")
      if not self.fast then fw:line("local ne = E and #E or 0") end
      local saved_depth, saved_open = self.depth, self.open
      self.depth, self.open = 0, { [props] = true }
      self:property_checks(slice, props, reqset, "v", ROOT, mode, path, fw)
      self.depth, self.open = saved_depth, saved_open
      fw:line("return E")
      fw:close()
      self:add_function(fw)
      self:call(w, id, v, P)
    end
  end
  for _, name in ipairs(req or {}) do
    if props[name] == nil then
      self:check(w, v .. "[" .. quote(name) .. "] == nil", path .. "/required (" .. name .. ")", join(P, name_seg(name)),
        "required", "is required")
    end
  end

  if s.dependentRequired ~= nil then
    for _, name in ipairs(sorted_keys(s.dependentRequired)) do
      for _, other in ipairs(s.dependentRequired[name]) do
        self:check(w, v .. "[" .. quote(name) .. "] ~= nil and " .. v .. "[" .. quote(other) .. "] == nil",
          path .. "/dependentRequired/" .. esc(name) .. " (" .. other .. ")", join(P, name_seg(other)), "dependentRequired",
          "is required when " .. name .. " is present")
      end
    end
  end
  if s.dependentSchemas ~= nil then
    for _, name in ipairs(sorted_keys(s.dependentSchemas)) do
      w:open("if " .. v .. "[" .. quote(name) .. "] ~= nil then")
      self:here(s.dependentSchemas[name], v, P, mode, path .. "/dependentSchemas/" .. esc(name), w)
      w:close()
    end
  end

  local ap, pp, pn = s.additionalProperties, s.patternProperties, s.propertyNames
  local minP, maxP = s.minProperties, s.maxProperties
  local up = s.unevaluatedProperties
  if minP ~= nil and not is_nonneg_int(minP) then bad(path .. "/minProperties", "must be a non-negative integer") end
  if maxP ~= nil and not is_nonneg_int(maxP) then bad(path .. "/maxProperties", "must be a non-negative integer") end
  if ap ~= nil or pp ~= nil or pn ~= nil or minP ~= nil or maxP ~= nil or up ~= nil then
    local cnt = self:var("count")
    w:line("local " .. cnt .. " = 0")
    -- Unique names: a subschema's own key loop, generated inside this one,
    -- must not shadow the key that this level's error pointers are made of
    -- (pointers are expressions, evaluated only when an error is recorded).
    local k, x = self:var("k"), self:var("x")
    w:open("for " .. k .. ", " .. x .. " in next, " .. v .. " do")
    w:line(cnt .. " = " .. cnt .. " + 1")
    local seg = key_seg(k)
    if pn ~= nil then
      self:child(pn, k, P, seg, "pure", path .. "/propertyNames", w)
    end
    local matched = self:var("m")
    w:line("local " .. matched .. " = false")
    if #pnames > 0 then
      local tests = {}
      if #pnames <= 8 then
        for _, name in ipairs(pnames) do tests[#tests + 1] = k .. " == " .. quote(name) end
        w:line("if " .. concat(tests, " or ") .. " then " .. matched .. " = true end")
      else
        local set = {}
        for _, name in ipairs(pnames) do set[name] = true end
        w:line("if " .. self:const(set) .. "[" .. k .. "] then " .. matched .. " = true end")
      end
    end
    if pp ~= nil then
      if type(pp) ~= "table" then bad(path .. "/patternProperties", "must be an object") end
      for _, pat in ipairs(sorted_keys(pp)) do
        local ok, re = pcall(regex.compile, pat)
        if not ok then bad(path .. "/patternProperties", tostring(re)) end
        local ppath = path .. "/patternProperties/" .. esc(pat)
        w:comment("#" .. ppath)
        w:open("if type(" .. k .. ") == \"string\" and " .. self:const(re.test) .. "(" .. k .. ") then")
        w:line(matched .. " = true")
        self:child(pp[pat], x, P, seg, mode == "full" and "pure" or mode, ppath, w)
        w:close()
      end
    end
    if ap ~= nil then
      w:open("if not " .. matched .. " then")
      if ap == false then
        self:error(w, path .. "/additionalProperties", join(P, seg), "additionalProperties",
          "is not allowed (additional property)")
      else
        self:child(ap, x, P, seg, mode == "full" and "pure" or mode, path .. "/additionalProperties", w)
      end
      w:close()
    end
    -- With additionalProperties beside it, every key is evaluated by this
    -- schema's own properties, patternProperties or additionalProperties
    -- (a key additionalProperties fails on is already an error), so
    -- unevaluatedProperties has nothing left to check.
    if up ~= nil and ap == nil then
      local ev = self:evaluated_test(s, v, path, k)
      w:open("if not " .. matched .. " and not (" .. ev .. ") then")
      if up == false then
        self:error(w, path .. "/unevaluatedProperties", join(P, seg), "unevaluatedProperties",
          "is not allowed (unevaluated property)")
      else
        self:child(up, x, P, seg, "pure", path .. "/unevaluatedProperties", w)
      end
      w:close()
    end
    w:close()
    self:count_checks(w, cnt, minP, maxP, "Properties", "property", path, P)
  end
  if not known then w:close() end
end

-- For unevaluatedProperties/unevaluatedItems: an expression true when what
-- own(sub_s, p) tests (a key, an item) was evaluated by `s` or by a
-- subschema applied in place: allOf always; anyOf/oneOf branches the value
-- is valid against; if/then/else as they apply; dependentSchemas whose
-- property is present; $ref, beside the other keywords (not instead of
-- them). own returns true (everything is evaluated) or a list of
-- expressions for sub_s's own keywords.
function Compiler:evaluated_by(s, v, path, own)
  local function covers(sub_s, p, depth)
    if type(sub_s) ~= "table" or depth > 8 then return "false" end
    local e = own(sub_s, p)
    if e == true then return "true" end
    for _, kw in ipairs({ "allOf", "anyOf", "oneOf" }) do
      if type(sub_s[kw]) == "table" then
        for i, b in ipairs(sub_s[kw]) do
          local bp = p .. "/" .. kw .. "/" .. (i - 1)
          local inner = covers(b, bp, depth + 1)
          if inner ~= "false" then
            if kw == "allOf" then e[#e + 1] = inner
            else e[#e + 1] = "(" .. self:test(b, v, bp) .. " and " .. inner .. ")" end
          end
        end
      end
    end
    if sub_s["if"] ~= nil then
      local cond = self:test(sub_s["if"], v, p .. "/if")
      for _, part in ipairs({ { sub_s["if"], "/if", cond }, { sub_s["then"], "/then", cond },
                              { sub_s["else"], "/else", "not " .. cond } }) do
        if part[1] ~= nil then
          local inner = covers(part[1], p .. part[2], depth + 1)
          if inner ~= "false" then e[#e + 1] = "(" .. part[3] .. " and " .. inner .. ")" end
        end
      end
    end
    if type(sub_s.dependentSchemas) == "table" then
      for name, ds in pairs(sub_s.dependentSchemas) do
        local inner = covers(ds, p .. "/dependentSchemas/" .. esc(name), depth + 1)
        if inner ~= "false" then
          e[#e + 1] = "(" .. v .. "[" .. quote(name) .. "] ~= nil and " .. inner .. ")"
        end
      end
    end
    if sub_s["$ref"] ~= nil then
      local inner = covers(self:resolve(sub_s["$ref"], p, sub_s), p, depth + 1)
      if inner ~= "false" then e[#e + 1] = inner end
    end
    if sub_s["$dynamicRef"] ~= nil then
      local target, name = self:dynamic_target(sub_s, p)
      local inner
      if name ~= nil and self:root_dynamic(name) then
        inner = covers(self:root_dynamic(name), p, depth + 1)
      elseif name == nil then
        inner = covers(target, p, depth + 1)
      else
        -- The candidates known now, each tested when the dynamic scope
        -- picks it; the static target (a candidate too) when none does.
        local pick, dflt = {}, 0
        local cands = self:dynamic_candidates(name)
        for i, cand in ipairs(cands) do
          pick[self:rid(cand.res)] = i
          if cand.node == target then dflt = i end
        end
        local chosen = "(dyn(" .. self:const(self.DS) .. ", " .. self:const(pick) .. ") or " .. dflt .. ")"
        local parts = {}
        for i, cand in ipairs(cands) do
          local ci = covers(cand.node, p, depth + 1)
          if ci ~= "false" then parts[#parts + 1] = "(" .. chosen .. " == " .. i .. " and " .. ci .. ")" end
        end
        if dflt == 0 then
          local st = covers(target, p, depth + 1)
          if st ~= "false" then parts[#parts + 1] = "(" .. chosen .. " == 0 and " .. st .. ")" end
        end
        self.uses_dyn, self.scope_needed = true, true
        inner = #parts > 0 and "(" .. concat(parts, " or ") .. ")" or "false"
      end
      if inner ~= "false" then e[#e + 1] = inner end
    end
    if #e == 0 then return "false" end
    return "(" .. concat(e, " or ") .. ")"
  end
  return covers(s, path, 0)
end

-- unevaluatedProperties: key `k` of object `v`. `properties`,
-- `patternProperties` and `additionalProperties` of `s` itself are already
-- in the `matched` flag, so they are left out here.
function Compiler:evaluated_test(s, v, path, k)
  local own = {}
  for key, val in pairs(s) do
    if key ~= "properties" and key ~= "patternProperties" and key ~= "additionalProperties"
        and key ~= "unevaluatedProperties" then
      own[key] = val
    end
  end
  self:same_place(s, own)
  return self:evaluated_by(own, v, path, function(sub_s)
    if sub_s.additionalProperties ~= nil or sub_s.unevaluatedProperties ~= nil then return true end
    local e = {}
    if type(sub_s.properties) == "table" then
      local set = {}
      for name in pairs(sub_s.properties) do set[name] = true end
      e[#e + 1] = self:const(set) .. "[" .. k .. "]"
    end
    if type(sub_s.patternProperties) == "table" then
      for pat in pairs(sub_s.patternProperties) do
        e[#e + 1] = "(type(" .. k .. ") == \"string\" and " .. self:const(regex.compile(pat).test) .. "(" .. k .. "))"
      end
    end
    return e
  end)
end

-- unevaluatedItems: item `x` at index `i` of array `v`, evaluated by
-- prefixItems, items or contains. s's own unevaluatedItems must not count.
function Compiler:items_evaluated(s, v, i, x, path)
  local own = {}
  for key, val in pairs(s) do if key ~= "unevaluatedItems" then own[key] = val end end
  self:same_place(s, own)
  return self:evaluated_by(own, v, path, function(sub_s, p)
    if sub_s.items ~= nil or sub_s.unevaluatedItems ~= nil then return true end
    local e = {}
    if type(sub_s.prefixItems) == "table" and #sub_s.prefixItems > 0 then
      e[#e + 1] = "(" .. i .. " <= " .. #sub_s.prefixItems .. ")"
    end
    if sub_s.contains ~= nil then e[#e + 1] = self:test(sub_s.contains, x, p .. "/contains") end
    return e
  end)
end

function Compiler:array_checks(s, v, P, mode, path, w, known)
  local items, prefixItems = s.items, s.prefixItems
  local minI, maxI, uniq = s.minItems, s.maxItems, s.uniqueItems
  local contains, ui = s.contains, s.unevaluatedItems
  if items == nil and prefixItems == nil and minI == nil and maxI == nil and not uniq and contains == nil
      and ui == nil then
    return
  end
  if minI ~= nil and not is_nonneg_int(minI) then bad(path .. "/minItems", "must be a non-negative integer") end
  if maxI ~= nil and not is_nonneg_int(maxI) then bad(path .. "/maxItems", "must be a non-negative integer") end
  local coerce = mode == "full" and self.opts.coerce
  if not known then w:open("if is_array(" .. v .. ") then") end
  local n = self:var("n")
  w:line("local " .. n .. " = #" .. v)
  self:count_checks(w, n, minI, maxI, "Items", "item", path, P)
  local np = 0
  if prefixItems ~= nil then
    if type(prefixItems) ~= "table" then bad(path .. "/prefixItems", "must be an array") end
    np = #prefixItems
    for i, ps in ipairs(prefixItems) do
      local x = self:var()
      local ipath = path .. "/prefixItems/" .. (i - 1)
      w:comment("#" .. ipath)
      w:open("if " .. n .. " >= " .. i .. " then")
      w:line("local " .. x .. " = " .. v .. "[" .. i .. "]")
      if coerce then self:coerce(ps, x, v .. "[" .. i .. "] = " .. x, ipath, w) end
      self:child(ps, x, P, { "/" .. (i - 1) }, mode, ipath, w)
      w:close()
    end
  end
  if items ~= nil and items ~= true then
    if items == false then
      self:check(w, format("%s > %d", n, np), path .. "/items", join(P, { "/" .. np }), "items",
        np == 0 and "no items are allowed" or "must have at most " .. amount(np, "item"))
    else
      local i, x = self:var("i"), self:var()
      w:comment("#" .. path .. "/items")
      w:open("for " .. i .. " = " .. (np + 1) .. ", " .. n .. " do")
      w:line("local " .. x .. " = " .. v .. "[" .. i .. "]")
      if coerce then self:coerce(items, x, v .. "[" .. i .. "] = " .. x, path .. "/items", w) end
      self:child(items, x, P, index_seg(i), mode, path .. "/items", w)
      w:close()
    end
  end
  if contains ~= nil then
    local c, i = self:var("c"), self:var("i")
    local minC, maxC = s.minContains or 1, s.maxContains
    w:line("local " .. c .. " = 0")
    w:open("for " .. i .. " = 1, " .. n .. " do")
    w:line("if " .. self:test(contains, v .. "[" .. i .. "]", path .. "/contains") .. " then " .. c .. " = " .. c .. " + 1 end")
    w:close()
    self:check(w, format("%s < %d", c, minC), path .. "/contains", P, "contains",
      "must contain at least " .. amount(minC, "matching item"))
    if maxC ~= nil then
      self:check(w, format("%s > %d", c, maxC), path .. "/maxContains", P, "maxContains",
        "must contain at most " .. amount(maxC, "matching item"))
    end
  end
  if ui ~= nil then
    local i, x = self:var("i"), self:var()
    w:open("for " .. i .. " = 1, " .. n .. " do")
    w:line("local " .. x .. " = " .. v .. "[" .. i .. "]")
    w:open("if not (" .. self:items_evaluated(s, v, i, x, path) .. ") then")
    if ui == false then
      self:error(w, path .. "/unevaluatedItems", join(P, index_seg(i)), "unevaluatedItems",
        "is not allowed (unevaluated item)")
    else
      self:child(ui, x, P, index_seg(i), "pure", path .. "/unevaluatedItems", w)
    end
    w:close()
    w:close()
  end
  if uniq == true then
    local ok, a, b = self:var("u"), self:var("a"), self:var("b")
    w:line("local " .. ok .. ", " .. a .. ", " .. b .. " = unique(" .. v .. ")")
    self:check(w, "not " .. ok, path .. "/uniqueItems", P, "uniqueItems",
      { code = '"must not contain duplicates (items " .. (' .. a .. ' - 1) .. " and " .. (' .. b
        .. ' - 1) .. " are equal)"' })
  end
  if not known then w:close() end
end

function Compiler:combinators(s, v, P, mode, path, w)
  if s.allOf ~= nil then
    if type(s.allOf) ~= "table" or #s.allOf == 0 then bad(path .. "/allOf", "must be a non-empty array") end
    for i, b in ipairs(s.allOf) do
      self:here(b, v, P, mode, path .. "/allOf/" .. (i - 1), w)
    end
  end
  for _, kw in ipairs({ "anyOf", "oneOf" }) do
    local list = s[kw]
    if list ~= nil then
      if type(list) ~= "table" or #list == 0 then bad(path .. "/" .. kw, "must be a non-empty array") end
      local c = self:var("c")
      w:comment("#" .. path .. "/" .. kw .. ": count the branches that match")
      w:line("local " .. c .. " = 0")
      local ids = {}
      for i, b in ipairs(list) do
        local bp = path .. "/" .. kw .. "/" .. (i - 1)
        if b == true or b == false then
          if b then w:line(c .. " = " .. c .. " + 1") end
        else
          local id = self:fn(b, "pure", bp, true)
          ids[#ids + 1] = id
          if kw == "anyOf" and i > 1 then
            w:line("if " .. c .. " == 0 and F[" .. id .. "](" .. v .. ", nil) == nil then " .. c .. " = 1 end")
          else
            w:line("if F[" .. id .. "](" .. v .. ", nil) == nil then " .. c .. " = " .. c .. " + 1 end")
          end
        end
      end
      -- On failure, say why each branch failed (the error path may be slower).
      w:open("if " .. c .. " == 0 then")
      local n0 = self:var("n")
      w:line("local " .. n0 .. " = E and #E or 0")
      -- The branches append to a list that is ours: alone, a branch could
      -- return a shared one (all_errors = false).
      w:line("if E == nil then E = new_tab(4, 0) end")
      for _, id in ipairs(ids) do self:call_line(w, id, v) end
      if #P > 0 then
        w:line("if E and #E > " .. n0 .. " then E = prefix(E, " .. n0 .. ", " .. pointer_code(P) .. ") end")
      end
      self:error(w, path .. "/" .. kw, P, kw,
        "must match " .. (kw == "anyOf" and "at least one" or "exactly one") .. " schema in " .. kw)
      if kw == "oneOf" then
        w:elseif_(c .. " > 1")
        self:error(w, path .. "/oneOf", P, "oneOf",
          { code = '"must match exactly one schema in oneOf (matches " .. ' .. c .. ' .. ")"' })
      end
      w:close()
      -- In "full" mode, coercion and defaults of the branch that matched are
      -- not applied: the branches ran pure. Documented in docs/schemas.md.
    end
  end
  if s["not"] ~= nil then
    self:check(w, self:test(s["not"], v, path .. "/not"), path .. "/not", P, "not",
      "must not be valid against the schema in not")
  end
  if s["if"] ~= nil and (s["then"] ~= nil or s["else"] ~= nil) then
    w:open("if " .. self:test(s["if"], v, path .. "/if") .. " then")
    if s["then"] ~= nil then self:here(s["then"], v, P, mode, path .. "/then", w) end
    w:otherwise()
    if s["else"] ~= nil then self:here(s["else"], v, P, mode, path .. "/else", w) end
    w:close()
  end
end

-- --------------------------------------------------------------------------
-- Entry points
-- --------------------------------------------------------------------------

local OPTIONS = { coerce = true, defaults = true, components = true, formats = true, name = true,
  strict_formats = true, all_errors = true, assert_formats = true, assert_content = true, registry = true,
  resolve = true, base = true, schemas = true }

--- The options table, checked (`{}` for nil). Raises at stack `level`
--- (counted from the caller) for an unknown option.
---@param opts table|nil
---@param who string
---@param level integer
---@return table
function _M.options(opts, who, level)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(who .. ": options must be a table", level + 1) end
  for k in pairs(opts) do
    if not OPTIONS[k] then error(who .. ": unknown option '" .. tostring(k) .. "'", level + 1) end
  end
  if opts.registry ~= nil and not registry.is(opts.registry) then
    error(who .. ": option registry must be a registry from crater.schema.registry()", level + 1)
  end
  if opts.resolve ~= nil and type(opts.resolve) ~= "function" then
    error(who .. ": option resolve must be a function", level + 1)
  end
  if opts.base ~= nil and type(opts.base) ~= "string" then error(who .. ": option base must be a string", level + 1) end
  if opts.schemas ~= nil and type(opts.schemas) ~= "table" then
    error(who .. ": option schemas must be a table", level + 1)
  end
  return opts
end

--- Raises `e`, an error caught while compiling, at stack `level`: a schema
--- error as "who: message", anything else (a bug) as it is.
---@param e any
---@param who string
---@param level integer
function _M.raise(e, who, level)
  if type(e) == "table" and e.crater_schema_error then error(who .. ": " .. e.message, level + 1) end
  error(e, 0)
end

local function generate(s, opts)
  local c = _M.new(s, opts)
  local root = c:fn(s, "full", "")
  c:finish()
  -- No $dynamicRef left to resolve at run time (none, or all resolved at
  -- the root, see Compiler:root_dynamic): again, without keeping the
  -- dynamic scope, so recursion is plain calls.
  if c.uses_dyn and not c.scope_needed then
    c = _M.new(s, opts)
    c.no_scope = true
    root = c:fn(s, "full", "")
    c:finish()
  end
  local w = writer.new()
  w:comment("validate(v): ok, errors, v")
  w:open("F[0] = function(v)")
  w:line("local E")
  -- A validation cut short by a Lua error must not leave its scope behind.
  if c.uses_dyn then w:line(c:const(c.DS) .. ".n = 0") end
  if opts.coerce then c:coerce(s, "v", nil, "", w) end
  w:line("E = F[" .. root .. "](v, nil)")
  w:line("if E == nil then return true, nil, v end")
  w:line("return false, E, v")
  w:close()
  local on = {}
  for _, o in ipairs({ "coerce", "defaults" }) do if opts[o] then on[#on + 1] = o .. " = true" end end
  local header = "-- Generated by crater.schema " .. _M.version .. " (docs/schemas.md): "
    .. (opts.all_errors == false and "stops at the first error" or "lists every error")
    .. (#on > 0 and "; " .. concat(on, ", ") or "") .. ".\n"
    .. "-- R: helpers (crater.schema.runtime), K: this schema's constants, F: its functions.\n"
  return c:chunk(header, w:text() .. "\n"), c.K
end

--- Fills each $dynamicRef site's table (resource number -> F[n] of that
--- resource's $dynamicAnchor) with every resource known; making those
--- functions may load more documents and add sites, hence the loop.
function Compiler:finish()
  local changed = true
  while changed do
    changed = false
    for i = 1, #self.dyn_sites do
      local site = self.dyn_sites[i]
      for _, cand in ipairs(self:dynamic_candidates(site.name)) do
        local rid = self:rid(cand.res)
        if site.pick[rid] == nil then
          local saved = self.fast
          self.fast = site.fast
          site.pick[rid] = self:fn(cand.node, site.mode, site.path)
          self.fast = saved
          changed = true
        end
      end
    end
  end
end

-- The source of `s`, with errors raised at the caller of the caller.
local function source(s, opts, who)
  opts = _M.options(opts, who, 3)
  if type(s) ~= "table" and type(s) ~= "boolean" then
    error(who .. ": schema expected, got " .. type(s), 3)
  end
  local ok, src, K = pcall(generate, s, opts)
  if not ok then _M.raise(src, who, 3) end
  return src, K, opts
end

--- Compiles a schema (DSL or raw JSON Schema table, or a boolean) into
--- `validate(value) -> ok, errors, value`. `errors` is nil when ok, else a
--- list of `{ pointer, keyword, message }`, every error found. `value` is
--- the value, coerced and with defaults filled in when those options are
--- on (tables are changed in place). Raises on an invalid schema.
---@param s table|boolean
---@param opts? { coerce?: boolean, defaults?: boolean, all_errors?: boolean, components?: table<string, table>, formats?: table<string, fun(s: string): boolean>, strict_formats?: boolean, assert_formats?: boolean, assert_content?: boolean, name?: string, registry?: crater.schema.registry, schemas?: table, resolve?: fun(uri: string): (table|boolean|nil), base?: string }
---@return fun(value: any): boolean, crater.schema.error[]|nil, any
---@return string source the generated Lua code
function _M.compile(s, opts)
  local src, K
  src, K, opts = source(s, opts, "crater.schema.compile")
  local F = runtime.load(src, opts.name or "crater.schema", K)
  return F[0], src
end

--- The Lua source compile() would generate for `s` with `opts`, without
--- loading it: what `crater validate --emit` prints. Raises as compile does.
---@param s table|boolean
---@param opts? table compile's options
---@return string
function _M.source(s, opts)
  local src = source(s, opts, "crater.schema.source")
  return src
end

--- Checks a schema without keeping the validator: true, or nil and a message.
---@param s table|boolean
---@param opts? table
---@return boolean|nil ok
---@return string|nil err
function _M.check(s, opts)
  local ok, e = pcall(_M.compile, s, opts)
  if ok then return true end
  return nil, (tostring(e):gsub("^crater%.schema%.compile: ", ""))
end

return _M
