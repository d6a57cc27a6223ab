--- crater.router: maps (method, path) to a route value.
--
-- Templates use OpenAPI's syntax: literal segments, `{name}` for one whole
-- non-empty segment, and a trailing `{name...}` for the rest of the path
-- (possibly empty). Routes whose template has no parameter live in one hash
-- table per method, so matching them is one lookup. The others live in a
-- segment trie shared by all methods; before the first match after a change
-- the trie is compiled into a lookup form (runs of single-child literal
-- nodes collapsed into one string compare, parameter-table constructors
-- generated) that is walked without loops, without splitting the path into
-- a table, and without garbage besides the params table and its strings.
-- docs/routing-internals.md has the precedence rules and the reasoning.

local type, error, assert, pairs, next, setmetatable, tonumber, tostring, load =
  type, error, assert, pairs, next, setmetatable, tonumber, tostring, load
local byte, sub, find, gsub, gmatch, match, char, format, upper =
  string.byte, string.sub, string.find, string.gsub, string.gmatch, string.match, string.char, string.format,
  string.upper
local concat, sort = table.concat, table.sort

local ok_new, new_tab = pcall(require, "table.new")
if not ok_new then new_tab = function() return {} end end

local _M = { version = "0.1.0" }

local Router = {}
Router.__index = Router

local SLASH = 47 -- "/"

-- ---------------------------------------------------------------------------
-- Templates
-- ---------------------------------------------------------------------------

-- A node of the trie that add() builds (fields absent when unused):
--   kids   : literal segment (raw bytes) -> node
--   param  : the node below a `{name}` segment
--   rest   : method -> entry, for a `{name...}` ending here
--   routes : method -> entry, for a template ending here
-- An entry is { value = v, template = "/users/{id}", names = { "id" } }.
-- Lookups use the compiled form of this trie (see "Compiling" below).

-- Splits a template into an array of segments, each { kind, text }:
-- kind "lit" (text: the raw literal), "param" or "rest" (text: the name).
-- Returns nil, message when the template is malformed.
local function parse(template)
  if byte(template, 1) ~= SLASH then
    return nil, format("route template %q must start with '/'", template)
  end
  local raw = {}
  for seg in gmatch(template, "/([^/]*)") do raw[#raw + 1] = seg end
  local segs, seen = {}, {}
  for i = 1, #raw do
    local seg, last = raw[i], i == #raw
    if find(seg, "[{}]") then
      local name = match(seg, "^{([^{}]*)}$")
      if name == nil then
        return nil, format("route template %q: a parameter must fill a whole path segment, got %q",
          template, seg)
      end
      local kind = "param"
      if sub(name, -3) == "..." then kind, name = "rest", sub(name, 1, -4) end
      if not match(name, "^[A-Za-z_][A-Za-z0-9_]*$") then
        return nil, format("route template %q: invalid parameter name %q"
          .. " (letters, digits and _, not starting with a digit)", template, name)
      end
      if seen[name] then
        return nil, format("route template %q: parameter %q appears twice", template, name)
      end
      if kind == "rest" and not last then
        return nil, format("route template %q: the catch-all {%s...} must be the last segment",
          template, name)
      end
      seen[name] = true
      segs[i] = { kind, name }
    else
      if seg == "" and not last then
        return nil, format("route template %q has an empty segment (//)", template)
      end
      local bad = match(seg, "[%c %?#]")
      if bad then
        return nil, format("route template %q: character %q is not allowed in a path", template, bad)
      end
      if find((gsub(seg, "%%%x%x", "")), "%", 1, true) then
        return nil, format("route template %q: '%%' must start an escape like %%20", template)
      end
      segs[i] = { "lit", seg }
    end
  end
  return segs
end

-- Paths are compared in one canonical spelling (RFC 3986 6.2.2): an escape
-- of an unreserved character is that character, any other escape has
-- upper-case hex digits, and a byte a client must escape (non-ASCII: a
-- template may be written "/café") is escaped. So "/caf%c3%a9",
-- "/caf%C3%A9" and a template "/café" meet. Decoding any of them gives the
-- same bytes, so parameter values do not change.
local function canon_escape(h)
  local b = tonumber(h, 16)
  if (b >= 65 and b <= 90) or (b >= 97 and b <= 122) or (b >= 48 and b <= 57)
      or b == 45 or b == 46 or b == 95 or b == 126 then
    return char(b)
  end
  return "%" .. upper(h)
end
local function escape_byte(c) return format("%%%02X", byte(c)) end

local function canonical(path)
  if find(path, "%", 1, true) then path = gsub(path, "%%(%x%x)", canon_escape) end
  if find(path, "[\128-\255]") then path = gsub(path, "[\128-\255]", escape_byte) end
  return path
end
_M.canonical = canonical

-- Methods are HTTP tokens; we also require upper case, which catches
-- r:add("get", ...) early (methods are case-sensitive in HTTP).
local function valid_method(m)
  return type(m) == "string" and match(m, "^[A-Z0-9!#$%%&'*+.^_`|~-]+$") ~= nil
end

-- ---------------------------------------------------------------------------
-- Matching
-- ---------------------------------------------------------------------------

-- Captured parameter values (raw, undecoded) of the walk in progress, by
-- level: cv[3] is the value captured at level 3. One scratch array for every
-- router: a walk never yields nor calls out.
local cv = new_tab(16, 0)

-- The walk over the compiled trie is a chain of functions, one per level:
-- level d consumes one segment (or one collapsed run of literal segments)
-- below `node` and calls level d + 1 for what follows. It returns the entry
-- of the most specific template that has a route for the method (or GET when
-- the method is HEAD), its parameter values left in cv; or nil.
--
-- At each node the segment [pos, e] is tried as a literal child first, then
-- as a `{param}` (non-empty segments only), then the catch-all takes
-- [pos, len]; a failed branch returns nil and the caller tries its next
-- alternative (depth-first backtracking). Each trie node is visited at most
-- once per walk, so even a miss costs at most the part of the trie reachable
-- along the path.
--
-- Why generated code of this shape: this is the hottest code in the server,
-- and its shape is chosen for LuaJIT's trace compiler.
-- * A loop that runs a handful of times per call and then returns is what
--   the trace heuristics handle worst: the loop is compiled as an unrolled
--   "return" trace or blacklisted after "leaving loop" aborts, and the
--   caller's trace aborts on an "inner loop".
-- * Calls between closures of one prototype count as recursion, unrolled
--   only three deep. Functions of distinct prototypes (one source function
--   per level) are inlined into one straight trace per path shape instead.
-- * A call that must come back (because the node has another alternative to
--   try) keeps this level's locals alive in every exit of the deeper levels;
--   with a few such frames, side traces fail to compile ("NYI: register
--   coalescing too complex") and those requests run interpreted. So when no
--   alternative is left, the descent is `return (f(...))`: the caller's
--   locals are dead. (A real tail call would do too, but LuaJIT allows only
--   15 tail calls per trace, the rest of the request's code included.)
-- * Every level's frame stays in the trace's snapshots, so frames are kept
--   small: the path, its length and the method are upvalues shared by all
--   levels, not arguments. Still, past about 16 levels a trace runs out of
--   spill slots and such lookups run interpreted (correct, ~10x slower).
local WALK_HEAD = [[
local byte, find, sub, cv = ...
local path, len, method, head -- the lookup in progress
local L = {}
]]

local LEVEL_SRC = [[
L[@LEVEL@] = function(node, pos)
  if pos > len + 1 then -- the path is consumed: the template must end here
    local routes = node.routes
    if not routes then return nil end
    local r = routes[method]
    if r == nil and head then return routes.GET end
    return r
  end
  local chain = node.chain
  if chain then -- literal segments with nothing else on the way, e.g. "api/v1"
    local stop = pos + node.chainlen
    if sub(path, pos, stop - 1) ~= chain or (stop <= len and byte(path, stop) ~= 47) then
      return nil
    end
    return (L[@NEXT@](node.target, stop + 1))
  end
  local e = find(path, "/", pos, true)
  e = e and e - 1 or len
  local kids, param, rest = node.kids, node.param, node.rest
  if kids then
    local child = kids[sub(path, pos, e)]
    if child then
      if not param and not rest then return (L[@NEXT@](child, e + 2)) end
      local r = L[@NEXT@](child, e + 2)
      if r ~= nil then return r end
    end
  end
  if param and e >= pos then
    cv[@LEVEL@] = sub(path, pos, e)
    if not rest then return (L[@NEXT@](param, e + 2)) end
    local r = L[@NEXT@](param, e + 2)
    if r ~= nil then return r end
  end
  if rest then
    local r = rest[method]
    if r == nil and head then r = rest.GET end
    if r ~= nil then cv[@LEVEL@] = sub(path, pos, len) end
    return r
  end
  return nil
end
]]

local WALK_TAIL = [[
return function(root, p, m)
  path, len, method, head = p, #p, m, m == "HEAD"
  return (L[1](root, 2))
end
]]

-- walk(root, path, method) -> entry or nil. Made by ensure_depth.
local walk, walk_depth = nil, 0

-- Makes `walk` handle compiled tries `depth` levels deep.
local function ensure_depth(depth)
  if depth <= walk_depth then return end
  local n = 16
  while n < depth do n = n * 2 end
  local src = { WALK_HEAD }
  for d = 1, n do
    src[#src + 1] = (gsub(gsub(LEVEL_SRC, "@NEXT@", tostring(d + 1)), "@LEVEL@", tostring(d)))
  end
  src[#src + 1] = WALK_TAIL
  walk = assert(load(concat(src), "=crater.router(walk)"))(byte, find, sub, cv)
  walk_depth = n
end

local function hex_char(h) return char(tonumber(h, 16)) end

-- Percent-decodes s. Malformed escapes ("%zz", a trailing "%") are kept as
-- they are; "+" is not a space in a path.
local function unescape(s)
  if find(s, "%", 1, true) == nil then return s end
  return (gsub(s, "%%(%x%x)", hex_char))
end

-- ---------------------------------------------------------------------------
-- Compiling the trie for lookups
-- ---------------------------------------------------------------------------

-- A template's params table is built by a generated constructor,
-- `{ ["id"] = cv[4], ["item"] = cv[6] }`: with constant keys LuaJIT copies a
-- preshaped table and fills known slots, about twice as fast as setting
-- computed keys. Constructors are shared by templates with the same names at
-- the same levels, so a call site sees few distinct functions. Two each:
-- plain, and percent-decoding (used only when the path has a '%').
local builders = {}

local function builders_for(names, levels)
  local fields = {}
  for i = 1, #names do fields[i] = names[i] .. "@" .. levels[i] end
  local key = concat(fields, "/")
  local b = builders[key]
  if b then return b[1], b[2] end
  local plain, decoding = {}, {}
  for i = 1, #names do
    plain[i] = format("[%q] = cv[%d]", names[i], levels[i])
    decoding[i] = format("[%q] = unescape(cv[%d])", names[i], levels[i])
  end
  local function make(list)
    local src = "local cv, unescape = ...\nreturn function() return { " .. concat(list, ", ") .. " } end"
    return assert(load(src, "=crater.router(params " .. key .. ")"))(cv, unescape)
  end
  b = { make(plain), make(decoding) }
  builders[key] = b
  return b[1], b[2]
end

-- Compiled entries: { value = v, build = f, build_decoding = g }, where f()
-- and g() make the params table from cv. `levels` holds the level of each
-- capture on the way here.
local function compile_entries(entries, levels)
  local out = {}
  for method, entry in pairs(entries) do
    local build, build_decoding = builders_for(entry.names, levels)
    out[method] = { value = entry.value, build = build, build_decoding = build_decoding }
  end
  return out
end

-- Compiles the subtree at `node`, walked at `level`. A compiled node has
-- every field (false when unused), so that all of them share one hash layout
-- and the JIT specialises the field loads:
--   chain, chainlen, target : a run of literal segments ("api/v1") that is
--     the only way on, and the compiled node after it; or
--   kids, param, rest, routes : as in the trie, compiled.
-- `stats.depth` gets the deepest level.
local function compile_node(node, level, levels, stats)
  if level > stats.depth then stats.depth = level end
  local c = { chain = false, chainlen = 0, target = false,
              kids = false, param = false, rest = false, routes = false }
  local run, n = nil, node
  while n.kids and not n.param and not n.rest and not n.routes do
    local seg, child = next(n.kids)
    if next(n.kids, seg) ~= nil then break end
    run = run or {}
    run[#run + 1] = seg
    n = child
  end
  if run then
    c.chain = concat(run, "/")
    c.chainlen = #c.chain
    c.target = compile_node(n, level + 1, levels, stats)
    return c
  end
  if node.kids then
    c.kids = {}
    for seg, child in pairs(node.kids) do c.kids[seg] = compile_node(child, level + 1, levels, stats) end
  end
  levels[#levels + 1] = level
  if node.param then c.param = compile_node(node.param, level + 1, levels, stats) end
  if node.rest then c.rest = compile_entries(node.rest, levels) end
  levels[#levels] = nil
  if node.routes then c.routes = compile_entries(node.routes, levels) end
  return c
end

-- Builds the lookup form of everything add() recorded: the compiled trie,
-- and copies of the static tables presized to a quarter full. A miss in a
-- full hash table walks a collision chain, and every dynamic request misses
-- the static table first; sparse tables keep that miss at about one probe
-- (measured: 2-6 ns saved per dynamic lookup at 200+ static routes).
local function compile(self)
  local stats = { depth = 1 }
  self._compiled = compile_node(self._root, 1, {}, stats)
  ensure_depth(stats.depth)
  local lookup = {}
  for method, paths in pairs(self._static) do
    local n = 0
    for _ in pairs(paths) do n = n + 1 end
    local t = new_tab(0, 4 * n)
    for path, value in pairs(paths) do t[path] = value end
    lookup[method] = t
  end
  self._static_lookup = lookup
  self._ready = true
end

-- Adds to `set` every method of every template that matches path from `node`
-- on. Off the hot path (404/405/OPTIONS only), so plain recursion.
local function collect(node, path, pos, len, set)
  if pos > len + 1 then
    if node.routes then
      for m in pairs(node.routes) do set[m] = true end
    end
    return
  end
  local e = find(path, "/", pos, true)
  e = e and e - 1 or len
  if node.kids then
    local child = node.kids[sub(path, pos, e)]
    if child then collect(child, path, e + 2, len, set) end
  end
  if node.param and e >= pos then collect(node.param, path, e + 2, len, set) end
  if node.rest then
    for m in pairs(node.rest) do set[m] = true end
  end
end

-- The Allow value for a valid path, or nil when no route matches it.
local function allow_for(self, path)
  local set = {}
  for m, t in pairs(self._static) do
    if t[path] ~= nil then set[m] = true end
  end
  collect(self._root, path, 2, #path, set)
  if next(set) == nil then return nil end
  if set.GET then set.HEAD = true end
  set.OPTIONS = true
  local list, n = {}, 0
  for m in pairs(set) do n = n + 1; list[n] = m end
  sort(list)
  return concat(list, ", ")
end

-- ---------------------------------------------------------------------------
-- Public API
-- ---------------------------------------------------------------------------

--- Creates an empty router.
---@return table router
function _M.new()
  return setmetatable({
    _static = {},           -- method -> { path -> value }, templates without parameters
    _root = {},             -- trie of the templates with parameters
    _dynamic = {},          -- method -> true when it has a route in the trie
    _ready = false,         -- false after a change: match compiles first
    _static_lookup = false, -- lookup form of _static (compile)
    _compiled = false,      -- lookup form of _root (compile)
    _list = {},             -- { method, template, value } in registration order
  }, Router)
end

--- Registers `value` for `method` and `template`.
--- Raises an error for a malformed template, or when the same method has a
--- route on the same template (or one differing only in parameter names).
---@param method string an uppercase HTTP method, e.g. "GET"
---@param template string e.g. "/users/{id}" or "/static/{path...}"
---@param value any what match returns (not nil or false)
---@return table router
function Router:add(method, template, value)
  if not valid_method(method) then
    error(format("route method must be an uppercase HTTP method, got %q", tostring(method)), 2)
  end
  if type(template) ~= "string" then
    error(format("route template must be a string, got %s", type(template)), 2)
  end
  if value == nil or value == false then error("route value must not be nil or false", 2) end
  local segs, err = parse(template)
  if segs == nil then error(err, 2) end

  local dynamic = false
  for i = 1, #segs do
    if segs[i][1] ~= "lit" then dynamic = true; break end
  end

  if not dynamic then
    local t = self._static[method]
    if t == nil then t = {}; self._static[method] = t end
    local key = canonical(template)
    if t[key] ~= nil then
      error(format("route %s %s is already defined", method, template), 2)
    end
    t[key] = value
    self._ready = false
  else
    local node, names, leaf = self._root, {}, nil
    for i = 1, #segs do
      local kind, text = segs[i][1], segs[i][2]
      if kind == "lit" then
        if not node.kids then node.kids = {} end
        text = canonical(text)
        local child = node.kids[text]
        if child == nil then child = {}; node.kids[text] = child end
        node = child
      elseif kind == "param" then
        names[#names + 1] = text
        if not node.param then node.param = {} end
        node = node.param
      else -- rest, always the last segment
        names[#names + 1] = text
        if not node.rest then node.rest = {} end
        leaf = node.rest
      end
    end
    if leaf == nil then
      if not node.routes then node.routes = {} end
      leaf = node.routes
    end
    local old = leaf[method]
    if old ~= nil then
      if old.template == template then
        error(format("route %s %s is already defined", method, template), 2)
      end
      error(format("route %s %s is already defined as %s %s (only parameter names differ)",
        method, template, method, old.template), 2)
    end
    leaf[method] = { value = value, template = template, names = names }
    self._dynamic[method] = true
    self._ready = false
  end
  local list = self._list
  list[#list + 1] = { method = method, template = template, value = value }
  return self
end

--- Finds the route for a request.
--- Hit: returns value, params (name -> percent-decoded string; nil when the
--- template has no parameter). Miss: nil, "not_found", or
--- nil, "method_not_allowed", allow (e.g. "GET, HEAD, OPTIONS").
--- HEAD uses the GET route of a template that has no HEAD route.
---@param method string e.g. "GET"
---@param path string the raw URL path, without the query, e.g. "/users/42"
---@return any value
---@return table|string|nil params_or_reason
---@return string? allow
function Router:match(method, path)
  if type(method) ~= "string" then error("method must be a string", 2) end
  if type(path) ~= "string" then error("path must be a string", 2) end
  if not self._ready then compile(self) end
  local pct = find(path, "%", 1, true)
  if pct then path = canonical(path) end
  -- A fully literal template is more specific than any other template that
  -- matches the same path, so the hash lookup comes first.
  local static = self._static_lookup
  local t = static[method]
  if t then
    local v = t[path]
    if v ~= nil then return v, nil end
  end
  local head = method == "HEAD"
  if head then
    t = static.GET
    if t then
      local v = t[path]
      if v ~= nil then return v, nil end
    end
  end
  if byte(path, 1) ~= SLASH then return nil, "not_found" end
  local dynamic = self._dynamic
  if dynamic[method] or (head and dynamic.GET) then
    local r = walk(self._compiled, path, method)
    if r ~= nil then
      -- One scan of the path told whether any parameter needs decoding.
      if pct then return r.value, r.build_decoding() end
      return r.value, r.build()
    end
  end
  local allow = allow_for(self, path)
  if allow == nil then return nil, "not_found" end
  return nil, "method_not_allowed", allow
end

--- The Allow header value for a path: the sorted methods that have a route
--- matching it, plus HEAD when GET is there and OPTIONS always, joined with
--- ", ". Nil when no route matches the path.
---@param path string the raw URL path
---@return string? allow
function Router:allowed(path)
  if type(path) ~= "string" then error("path must be a string", 2) end
  if byte(path, 1) ~= SLASH then return nil end
  return allow_for(self, canonical(path))
end

--- Every route in registration order, as fresh { method, template, value }
--- records (changing them does not change the router).
---@return table[] routes
function Router:routes()
  local list, out = self._list, {}
  for i = 1, #list do
    local r = list[i]
    out[i] = { method = r.method, template = r.template, value = r.value }
  end
  return out
end

return _M
