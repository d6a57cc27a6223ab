--- crater.template: HTML templates compiled to Lua functions.
--
--   local views = crater.template.new { root = "templates" }
--   app:get("/", function() return views:html("page.html", { title = "Hi" }) end)
--
-- A template is compiled once into Lua source and load()ed, like
-- crater.schema.compile does for schemas: rendering runs plain Lua, never
-- walks the template again. The syntax, escaping, includes, layouts and the
-- sandbox are described in docs/templates.md.
--
-- Errors name the template's file and line with no mapping table: the
-- generated source keeps the template's lines (text is emitted with its
-- newlines as "\n" escapes, then as many real newlines as it spanned), so
-- line N of the chunk is line N of the template, and the chunk is named
-- after the file ("@templates/page.html"). Lua's own messages (a syntax
-- error in an expression, a nil indexed at run time) and tracebacks
-- therefore say `templates/page.html:12: ...` by themselves.
--
-- A compiled template is a factory: `return function(_r, _ctx) ... end`.
-- Each render gives the factory a fresh environment (the ctx table, then
-- the safe globals) and calls it for a new closure, which keeps that
-- environment even if a value the template calls yields and another
-- request renders the same template meanwhile (setfenv on a shared
-- function would swap the first render's names under it).

local type, tostring, error, setmetatable, getmetatable, setfenv, pairs, rawget, pcall =
  type, tostring, error, setmetatable, getmetatable, setfenv, pairs, rawget, pcall
local load, open = load, io.open
local find, sub, gsub, gmatch, format, byte, rep, match = string.find, string.sub, string.gsub,
  string.gmatch, string.format, string.byte, string.rep, string.match
local concat = table.concat
local floor = math.floor
local getinfo = debug.getinfo

local _M = { version = "0.1.0" }

local HTML = "text/html; charset=utf-8"
_M.CONTENT_TYPE = HTML

-- --------------------------------------------------------------------------
-- Values as text
-- --------------------------------------------------------------------------

local ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }
local SPECIAL = "[&<>\"']"

-- A value as text: nil is "", integers print without ".0" or an exponent
-- (up to 2^53), an int64 cdata without its LL suffix, anything else
-- through tostring (booleans as "true"/"false").
local function text(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    -- tostring (%.14g) is exact for integers below 1e14 and the cheaper call
    if v == floor(v) then
      if v == 0 then return "0" end -- not "-0"
      if (v >= 1e14 or v <= -1e14) and v > -9007199254740992 and v < 9007199254740992 then
        return format("%d", v)
      end
    end
    return tostring(v)
  end
  if v == nil then return "" end
  if t == "cdata" then return (gsub(tostring(v), "U?LL$", "")) end
  return tostring(v)
end
_M.text = text

--- A value as HTML-escaped text: & < > " ' become entities; nil is "".
---@param v any
---@return string
local function escape(v)
  local t = type(v)
  if t ~= "string" then
    if t == "number" then return text(v) end -- digits, '.', '-', '+', 'e', inf, nan: nothing to escape
    v = text(v)
  end
  if find(v, SPECIAL) then return (gsub(v, SPECIAL, ESC)) end
  return v
end
_M.escape = escape

-- --------------------------------------------------------------------------
-- The sandbox: what a template sees besides its ctx
-- --------------------------------------------------------------------------

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- Copies of the library tables, so a template that assigns string.x
-- changes only its generation's copy, not the app's string table.
local SAFE = {
  ipairs = ipairs, pairs = pairs, next = next, select = select, type = type,
  tostring = tostring, tonumber = tonumber, unpack = unpack, error = error,
  assert = assert, pcall = pcall,
  string = copy(string), table = copy(table), math = copy(math),
  os = { date = os.date, time = os.time, clock = os.clock },
  escape = escape,
}

-- The environment of one render: names come from ctx, then the safe set;
-- a template's own globals (assignments) land in the environment table.
-- The ctx sits in the environment under a key no template can name: one
-- table per render, one shared metatable.
local CTX = {}
local ENV = { __index = function(env, k)
  local v = rawget(env, CTX)[k]
  if v == nil then return SAFE[k] end
  return v
end }

local function environment(ctx, content)
  return setmetatable({ [CTX] = ctx, content = content }, ENV)
end

-- --------------------------------------------------------------------------
-- The compiler: template text -> Lua source
-- --------------------------------------------------------------------------

local QUOTE = { ["\n"] = "\\n", ["\r"] = "\\r", ['"'] = '\\"', ["\\"] = "\\\\" }

-- A string literal on one source line (the line alignment needs it).
local function quote(s)
  return '"' .. gsub(s, '[%c"\\]', function(c) return QUOTE[c] or format("\\%03d", byte(c)) end) .. '"'
end

local function line_at(src, pos)
  local _, n = gsub(sub(src, 1, pos - 1), "\n", "")
  return n + 1
end

local function count_nl(s)
  local _, n = gsub(s, "\n", "")
  return n
end

-- Where `close` ends the tag opened before p, skipping Lua strings and
-- long brackets in between (so `{{ "}}" }}` works); nil when unclosed.
local function find_close(src, p, close)
  local cls = "[\"'%[%" .. sub(close, 1, 1) .. "]"
  while true do
    local q = find(src, cls, p)
    if not q then return nil end
    local ch = sub(src, q, q)
    if ch == '"' or ch == "'" then
      local r = q + 1
      while true do
        local e = find(src, "[\\\n" .. ch .. "]", r)
        if not e then return nil end
        local c = sub(src, e, e)
        if c == "\\" then r = e + 2 else p = e + 1; break end -- a newline: Lua reports it
      end
    elseif ch == "[" then
      local eq = match(src, "^%[(=*)%[", q)
      if eq then
        local _, e = find(src, "]" .. eq .. "]", q, true)
        if not e then return nil end
        p = e + 1
      else
        p = q + 1
      end
    elseif sub(src, q, q + #close - 1) == close then
      return q
    else
      p = q + 1
    end
  end
end

-- The kinds of tag, by opener: what closes it and what it holds.
local OPENERS = {
  ["{{{"] = { close = "}}}", kind = "raw" },
  ["{{"] = { close = "}}", kind = "escaped", trim = true },
  ["{%"] = { close = "%}", kind = "code", trim = true },
  ["{#"] = { close = "#}", kind = "comment", trim = true },
  ["<%="] = { close = "%>", kind = "escaped" },
  ["<%-"] = { close = "%>", kind = "raw" },
  ["<%#"] = { close = "%>", kind = "comment" },
  ["<%"] = { close = "%>", kind = "code" },
}

local function opener_at(src, q)
  local three = sub(src, q, q + 2)
  if OPENERS[three] then return three end
  local two = sub(src, q, q + 1)
  if OPENERS[two] then return two end
  return nil
end

local Compiler = {}
Compiler.__index = Compiler

function Compiler:fail(pos, msg)
  error(format("%s:%d: %s", self.name, line_at(self.src, pos), msg), 0)
end

-- Real newlines, minus those already emitted early (see Compiler:value).
function Compiler:newlines(n)
  local d = self.debt
  if d > 0 then
    local k = d < n and d or n
    self.debt, n = d - k, n - k
  end
  if n > 0 then self.out[#self.out + 1] = rep("\n", n) end
end

-- Output is chained: a run of text and values is one `..` expression in one
-- buffer slot (`_b[_n]="<tr><td>".._esc(f.id).."</td></tr>"`), the way a
-- hand-written page is built, not a slot per piece. MAX_CHAIN keeps the
-- expression under the parser's nesting limit (`..` nests to the right).
local MAX_CHAIN = 40

-- Appends an expression to the output chain, or starts a new one.
function Compiler:piece(expr)
  local out, n = self.out, self.chain
  if n > 0 and n < MAX_CHAIN then
    out[#out + 1] = ".." .. expr
    self.chain = n + 1
  else
    out[#out + 1] = " _n=_n+1 _b[_n]=" .. expr
    self.chain = 1
  end
end

-- A value from a tag as a piece: fn(expr). A `--` comment in expr would
-- swallow what follows on the line, so a newline closes it then, paid back
-- by the template's next newlines (those few lines' numbers are one off).
function Compiler:value(fn, expr)
  if find(expr, "--", 1, true) then
    self:piece(fn .. "(" .. expr .. "\n)")
    self.debt = self.debt + 1
  else
    self:piece(fn .. "(" .. expr .. ")")
  end
end

-- Lua statements: they end the output chain first (the `;` keeps code
-- starting with `(` from being read as a call of the chain's last value).
function Compiler:statement(code)
  local out = self.out
  if self.chain > 0 then out[#out + 1] = ";" end
  self.chain = 0
  out[#out + 1] = " " .. code
  if find(code, "--", 1, true) then
    out[#out + 1] = "\n"
    self.debt = self.debt + 1
  end
  out[#out + 1] = " "
end

function Compiler:text(s, nl)
  if s ~= "" then self:piece(quote(s)) end
  self:newlines(nl)
end

-- A code tag: a directive (include, layout, block, endblock) or Lua.
function Compiler:code(body, pos)
  local word, rest = match(body, "^%s*([%a_][%w_]*)(.-)%s*$")
  local nl = count_nl(body)
  if word == "include" and (rest == "" or find(rest, "^[%s\"'%(%[]")) and not find(rest, "^%s*=") then
    local args = match(rest, "^%s*(.-)$")
    if find(args, "^%b()$") then args = sub(args, 2, -2) end
    if args == "" then self:fail(pos, "include needs a template name") end
    self:value("_include", "_r,_ctx," .. args)
    return -- its newlines are in args
  elseif word == "layout" and (rest == "" or find(rest, "^[%s\"'%(]")) and not find(rest, "^%s*=") then
    local name = match(rest, "^%s*%(?%s*\"([^\"]+)\"%s*%)?$") or match(rest, "^%s*%(?%s*'([^']+)'%s*%)?$")
    if not name then self:fail(pos, 'layout takes a quoted template name: {% layout "base.html" %}') end
    if self.layout then self:fail(pos, "a second layout (this template's is " .. self.layout .. ")") end
    self.layout, self.layout_line = name, line_at(self.src, pos)
  elseif word == "block" and find(rest, "^%s") then
    local name = match(rest, "^%s+([%a_][%w_]*)$")
    if not name then self:fail(pos, "block takes a name: {% block title %}") end
    local blocks = self.blocks
    blocks[#blocks + 1] = { name = name, pos = pos }
    self:statement("_n=_n+1 _b[_n]=_block(_r," .. quote(name) .. ",_L,function() local _b,_n={},0")
  elseif word == "endblock" and rest == "" then
    local blocks = self.blocks
    if #blocks == 0 then self:fail(pos, "endblock without a block") end
    blocks[#blocks] = nil
    self:statement("return _concat(_b) end)")
  else
    self:statement(body)
    return -- its newlines are in the code itself
  end
  self:newlines(nl)
end

-- Walks the template: text between tags, then each tag by kind.
function Compiler:run()
  local src, p = self.src, 1
  local trim_next, line_start = false, true
  while true do
    local q = find(src, "[{<][{%%#]", p)
    local opener = q and opener_at(src, q)
    while q and not opener do
      q = find(src, "[{<][{%%#]", q + 1)
      opener = q and opener_at(src, q)
    end
    local s = sub(src, p, q and q - 1 or -1)
    local nl = count_nl(s)
    local spec = opener and OPENERS[opener]
    local body_start = q and q + #opener
    local ltrim = spec and spec.trim and sub(src, body_start, body_start) == "-"
    if trim_next then s = gsub(s, "^%s+", "") end
    if ltrim then s = gsub(s, "%s+$", ""); body_start = body_start + 1 end
    local close_at
    if spec then
      if spec.kind == "comment" then
        close_at = find(src, spec.close, body_start, true)
      else
        close_at = find_close(src, body_start, spec.close)
      end
      if not close_at then
        self:fail(q, format("%s is not closed (no %s after it)", opener, spec.close))
      end
    end
    -- A code or comment tag alone on its line leaves no line behind: the
    -- indentation before it and the newline after it go.
    local eaten = 0
    if spec and (spec.kind == "code" or spec.kind == "comment") then
      local before = match(s, "\n([ \t]*)$") or (line_start and match(s, "^([ \t]*)$"))
      local after = before and match(src, "^[ \t]*\r?\n", close_at + #spec.close)
      if after then
        s = sub(s, 1, #s - #before)
        eaten = #after
      elseif before and close_at + #spec.close > #src then
        s = sub(s, 1, #s - #before)
      end
    end
    self:text(s, nl)
    if not q then break end
    local body_end = close_at - 1
    trim_next = false
    if sub(src, body_end, body_end) == "-" and body_end >= body_start then
      trim_next, body_end = true, body_end - 1
    end
    local body = sub(src, body_start, body_end)
    local kind = spec.kind
    if kind == "comment" then
      self:newlines(count_nl(body))
    elseif kind == "code" then
      self:code(body, q)
    else
      if not find(body, "%S") then self:fail(q, opener .. " " .. spec.close .. " holds no expression") end
      self:value(kind == "raw" and "_text" or "_esc", body)
    end
    p = close_at + #spec.close + eaten
    line_start = eaten > 0
    if eaten > 0 then self:newlines(1) end
  end
  local open_block = self.blocks[#self.blocks]
  if open_block then
    self:fail(open_block.pos, "block " .. open_block.name .. " is not closed (no {% endblock %})")
  end
end

local HEAD = "local _H, _L = ... return function(_r, _ctx) local _b, _n, _esc, _text, _concat, "
  .. "_include, _block = {}, 0, _H.escape, _H.text, _H.concat, _H.include, _H.block "

-- source, name -> the compiled template { factory, name, layout }; raises
-- "name:line: message" for a syntax error.
local function compile(source, name)
  local c = setmetatable({ src = source, name = name, out = { HEAD }, debt = 0, blocks = {}, chain = 0 },
    Compiler)
  c:run()
  c.out[#c.out + 1] = " return _concat(_b) end"
  local lua = concat(c.out)
  local factory, err = load(lua, "@" .. name)
  if not factory then
    -- An `if` or `for` left open ends where the generated function does.
    err = gsub(err, "%(to close 'function' at line 1%) near '<eof>'",
      "at the end of the template (a block a tag opened is not closed)")
    error(err, 0)
  end
  return { factory = factory, name = name, layout = c.layout, layout_line = c.layout_line, lua = lua }
end

-- --------------------------------------------------------------------------
-- Rendering: one call of a compiled template, its includes and layouts
-- --------------------------------------------------------------------------

local H = { escape = escape, text = text, concat = concat }

local function instantiate(tpl, ctx, content)
  local factory = tpl.factory
  setfenv(factory, environment(ctx, content))
  return factory(H, tpl.layout ~= nil)
end

-- Renders tpl with ctx in the render r (its loader, the templates being
-- rendered, the blocks), then its layouts, innermost first.
local function call(r, tpl, ctx)
  local out = instantiate(tpl, ctx)(r, ctx)
  local chain
  while tpl.layout do
    chain = chain or { tpl.name }
    for i = 1, #chain do
      if chain[i] == tpl.layout then
        chain[#chain + 1] = tpl.layout
        error(format("%s:%d: layout cycle: %s", tpl.name, tpl.layout_line, concat(chain, " -> ")), 0)
      end
    end
    local lt, err = r.loader:_get(tpl.layout)
    if not lt then error(format("%s:%d: layout %s", tpl.name, tpl.layout_line, err), 0) end
    chain[#chain + 1] = lt.name
    out = instantiate(lt, ctx, out)(r, ctx)
    tpl = lt
  end
  return out
end

-- {% include name [, ctx] %}: errors point at the include's line (level 2).
function H.include(r, ctx, name, t)
  if type(name) ~= "string" then error("include: the template name must be a string", 2) end
  if t ~= nil and type(t) ~= "table" then error("include " .. name .. ": its context must be a table", 2) end
  local tpl, err = r.loader:_get(name)
  if not tpl then error("include " .. err, 2) end
  local active = r.active
  if active == nil then active = { r.name }; r.active = active end
  for i = 1, #active do
    if active[i] == tpl.name then
      local names = {}
      for j = i, #active do names[#names + 1] = active[j] end
      names[#names + 1] = tpl.name
      error("include cycle: " .. concat(names, " -> "), 2)
    end
  end
  if #active >= 64 then error("include " .. name .. ": more than 64 templates deep", 2) end
  active[#active + 1] = tpl.name
  local out = call(r, tpl, t or ctx)
  active[#active] = nil
  return out
end

-- {% block name %}: the first definition of a name wins (a child's over
-- its layout's default); a template with a layout shows nothing of it here.
function H.block(r, name, has_layout, fn)
  local blocks = r.blocks
  if blocks == nil then blocks = {}; r.blocks = blocks end
  local f = blocks[name]
  if f == nil then blocks[name], f = fn, fn end
  if has_layout then return "" end
  return f()
end

local function render(loader, tpl, ctx)
  if ctx == nil then ctx = {} end
  if type(ctx) ~= "table" then error("template " .. tpl.name .. ": ctx must be a table, not a " .. type(ctx), 0) end
  local r = { loader = loader, name = tpl.name } -- active, blocks: made when needed
  return call(r, tpl, ctx)
end

-- --------------------------------------------------------------------------
-- Loaders: template names -> compiled templates, cached
-- --------------------------------------------------------------------------

-- The app's folder: the directory of the outermost Lua file on the stack
-- when this module is loaded, which is the app file (it requires crater,
-- which requires this). Module state is per generation, so a reload
-- finds it again. "." when there is no file (an app loaded from a string).
local function caller_main_dir()
  local src
  for level = 2, 200 do
    local info = getinfo(level, "S")
    if not info then break end
    if info.what == "main" and sub(info.source, 1, 1) == "@" then src = sub(info.source, 2) end
  end
  if not src then return "." end
  return match(src, "^(.*)/[^/]*$") or "."
end
local APP_DIR = caller_main_dir()
local OWN_DIR = match(sub(getinfo(1, "S").source, 2), "^(.*)/[^/]*$") or "."

-- The folder of the Lua file running at `level`, or the app's folder when
-- that is not a file of the app (C, a string chunk, crater itself: a tail
-- call `return crater.template.new{}` leaves require's frame there).
local function caller_dir(level)
  local info = getinfo(level + 1, "S")
  local src = info and info.source
  if not src or sub(src, 1, 1) ~= "@" then return APP_DIR end
  local dir = match(sub(src, 2), "^(.*)/[^/]*$") or "."
  if dir == OWN_DIR then return APP_DIR end
  return dir
end

--- The app's folder: the folder of the app file (the same as `app.root`),
--- which crater.template.render, html and compile take names from.
---@return string
function _M.app_dir() return APP_DIR end

---@class crater.template.Loader
---@field compiled table<string, table> name -> compiled template (its generated source in `.lua`)
local Loader = {}
Loader.__index = Loader

local html_response -- below: crater.html's response

-- A name is a relative path inside the root: no "..", no absolute path.
local function bad_name(name)
  if type(name) ~= "string" or name == "" then return "a template name must be a non-empty string" end
  if sub(name, 1, 1) == "/" or find(name, "%z") then return "template name " .. name .. " is not relative" end
  for part in gmatch(name, "[^/]+") do
    if part == ".." then return "template name " .. name .. " leaves the template folder" end
  end
  return nil
end

--- Creates a template loader. Names are paths below `root` (a relative
--- root is taken from the folder of the file calling this, usually the app
--- file's; default: that folder), or
--- keys of `sources` (name -> template text) when given. Compiled
--- templates are cached for the loader's life (one app generation) unless
--- `cache = false`.
---@param opts? { root?: string, sources?: table<string, string>, cache?: boolean }
---@return crater.template.Loader
function _M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then error("crater.template.new: options must be a table", 2) end
  opts = opts or {}
  local root = opts.root
  if root ~= nil and type(root) ~= "string" then error("crater.template.new: root must be a string", 2) end
  if opts.sources ~= nil and type(opts.sources) ~= "table" then
    error("crater.template.new: sources must be a table of name = template text", 2)
  end
  local base = caller_dir(2)
  local dir, shown
  if root == nil or root == "" or root == "." then
    dir, shown = base, ""
  elseif sub(root, 1, 1) == "/" then
    dir, shown = root, root
  else
    dir, shown = (base == "." and root or base .. "/" .. root), root
  end
  shown = gsub(shown, "/+$", "")
  return setmetatable({ dir = dir, shown = shown, sources = opts.sources, cache = opts.cache ~= false,
                        compiled = {} }, Loader)
end

-- name -> compiled template, or nil and why ("name: not found ...");
-- a syntax error in the template raises (it names file and line).
function Loader:_get(name)
  local tpl = self.compiled[name]
  if tpl then return tpl end
  local why = bad_name(name)
  if why then return nil, why end
  local shown = self.shown == "" and name or self.shown .. "/" .. name
  local source
  if self.sources then
    source = self.sources[name]
    if source == nil then return nil, name .. ": no such template" end
  else
    local f, err = open(self.dir .. "/" .. name, "rb")
    if not f then return nil, shown .. ": not found (" .. tostring(err) .. ")" end
    source = f:read("*a")
    f:close()
  end
  tpl = compile(source, shown)
  if self.cache then self.compiled[name] = tpl end
  return tpl
end

--- The compiled template `name` as a function(ctx) -> string. Raises when
--- it cannot be read or has a syntax error (with its file and line).
---@param name string
---@return fun(ctx?: table): string
function Loader:get(name)
  local tpl, err = self:_get(name)
  if not tpl then error("template " .. err, 2) end
  return function(ctx) return render(self, tpl, ctx) end
end

--- Renders template `name` with ctx (a table; nil is {}) to a string.
---@param name string
---@param ctx? table
---@return string
function Loader:render(name, ctx)
  local tpl, err = self:_get(name)
  if not tpl then error("template " .. err, 2) end
  return render(self, tpl, ctx)
end

--- Renders template `name` into a text/html response (status default 200).
---@param name string
---@param ctx? table
---@param status? integer
---@param headers? table<string, string>
---@return table res
function Loader:html(name, ctx, status, headers)
  local tpl, err = self:_get(name)
  if not tpl then error("template " .. err, 2) end
  local res = html_response(render(self, tpl, ctx), status, headers, 3)
  return res -- not a tail call: level 3 is the app's line
end

--- Drops the compiled templates, so the next render reads the files again.
function Loader:clear()
  self.compiled = {}
end

-- The loader crater.template.render/html/compile use: the app's folder.
local default
local function default_loader()
  default = default or _M.new()
  return default
end

--- Compiles template text into a function(ctx) -> string. `name` names it
--- in error messages (default "template"); its includes and layouts are
--- looked up by `loader` (default: files in the app's folder).
---@param source string
---@param name? string
---@param loader? crater.template.Loader a loader made by crater.template.new
---@return fun(ctx?: table): string
function _M.compile(source, name, loader)
  if type(source) ~= "string" then error("crater.template.compile: source must be a string", 2) end
  if name ~= nil and type(name) ~= "string" then error("crater.template.compile: name must be a string", 2) end
  if loader ~= nil and getmetatable(loader) ~= Loader then
    error("crater.template.compile: loader must come from crater.template.new", 2)
  end
  local tpl = compile(source, name or "template") -- its errors name the template, not the caller
  loader = loader or default_loader()
  return function(ctx) return render(loader, tpl, ctx) end
end

--- Renders the file `name` (relative to the app's folder) with ctx.
---@param name string
---@param ctx? table
---@return string
function _M.render(name, ctx)
  local l = default_loader()
  local tpl, err = l:_get(name)
  if not tpl then error("template " .. err, 2) end
  return render(l, tpl, ctx)
end

--- Renders the file `name` (relative to the app's folder) into a
--- text/html response.
---@param name string
---@param ctx? table
---@param status? integer
---@param headers? table<string, string>
---@return table res
function _M.html(name, ctx, status, headers)
  local l = default_loader()
  local tpl, err = l:_get(name)
  if not tpl then error("template " .. err, 2) end
  local res = html_response(render(l, tpl, ctx), status, headers, 3)
  return res -- not a tail call: level 3 is the app's line
end

-- crater.response when first needed: the compiler and renderer need no
-- C module (spec/lua loads them in plain luajit).
local new_response

-- A header crater.response refuses is blamed on the app's line (`level`).
html_response = function(s, status, headers, level)
  new_response = new_response or require("crater.response").new
  local res
  if headers == nil then
    res = new_response(s, status)
  else
    local ok, r = pcall(new_response, s, status, headers)
    if not ok then error((gsub(tostring(r), "^[^\n]-:%d+: ", "")), level) end
    res = r
  end
  if res.content_type == nil then res.content_type = HTML end
  return res
end

--- A text/html response (`Content-Type: text/html; charset=utf-8` unless
--- headers set one) with body s: what crater.html is.
---@param s string
---@param status? integer default 200
---@param headers? table<string, string>
---@return table res
function _M.response(s, status, headers)
  if type(s) ~= "string" then error("crater.html: the body must be a string", 2) end
  local res = html_response(s, status, headers, 3)
  return res -- not a tail call: level 3 is the app's line
end

_M.Loader = Loader
return _M
