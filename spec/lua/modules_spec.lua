-- lua/crater as a whole: which module requires which. The graph of
-- `require "crater.x"` edges must have no cycle -- a lazy require inside a
-- function and `pcall(require, "crater.x")` count as edges too, since they
-- only hide a cycle until the first call -- and every crater.* module
-- required must exist. Files in subdirectories are modules too:
-- lua/crater/schema/compile.lua is crater.schema.compile and
-- lua/crater/schema/init.lua is crater.schema.
local lfs = require "lfs"
local readfile = require("pl.utils").readfile -- busted's own dependencies

-- Modules the C core provides (no file in lua/crater).
local C_MODULES = { ["crater.host"] = true, ["crater._json"] = true, ["crater._socket"] = true,
  ["crater._sqlite"] = true, ["crater._pg"] = true, ["crater._status"] = true, ["crater._crypto"] = true,
  ["crater._static"] = true }

-- ---------------------------------------------------------------------------
-- Reading the requires of one file
-- ---------------------------------------------------------------------------

-- The source as tokens: names, strings (their contents) and single
-- punctuation characters; comments are dropped, so a usage example in a
-- comment is not an edge. Enough of Lua's lexer for this: long brackets,
-- quoted strings with escapes, comments.
local function tokens(src)
  local out, i, n = {}, 1, #src
  local function long_bracket(at)
    local eq = src:match("^%[(=*)%[", at)
    if not eq then return nil end
    local close = "]" .. eq .. "]"
    local s = at + #eq + 2
    local e = src:find(close, s, true)
    if not e then error("unfinished long bracket at byte " .. at) end
    return src:sub(s, e - 1), e + #close
  end
  while i <= n do
    local c = src:sub(i, i)
    if c:match("%s") then
      i = i + 1
    elseif src:sub(i, i + 1) == "--" then
      local _, after = long_bracket(i + 2)
      if after then i = after else i = (src:find("\n", i, true) or n) + 1 end
    elseif c == "[" and src:match("^%[=*%[", i) then
      local text, after = long_bracket(i)
      out[#out + 1] = { kind = "string", value = text }
      i = after
    elseif c == '"' or c == "'" then
      local j, buf = i + 1, {}
      while true do
        local d = src:sub(j, j)
        if d == "" or d == "\n" then error("unfinished string at byte " .. i) end
        if d == c then break end
        if d == "\\" then buf[#buf + 1] = src:sub(j, j + 1); j = j + 2
        else buf[#buf + 1] = d; j = j + 1 end
      end
      out[#out + 1] = { kind = "string", value = table.concat(buf) }
      i = j + 1
    elseif c:match("[%a_]") then
      local name = src:match("^[%w_]+", i)
      out[#out + 1] = { kind = "name", value = name }
      i = i + #name
    elseif c:match("%d") then
      i = i + #src:match("^[%w_%.]+", i) -- numbers (and 1e-3's sign is punctuation: harmless)
    else
      out[#out + 1] = { kind = "punct", value = c }
      i = i + 1
    end
  end
  return out
end

local function is(t, kind, value) return t ~= nil and t.kind == kind and (value == nil or t.value == value) end

--- The crater modules a source text requires, in order: `require "m"`,
--- `require 'm'`, `require [[m]]`, `require("m")`, `pcall(require, "m")`,
--- wherever they stand (top level or inside a function).
local function requires(src)
  local toks, found = tokens(src), {}
  for i, t in ipairs(toks) do
    if is(t, "name", "require") then
      local name
      if is(toks[i + 1], "string") then
        name = toks[i + 1].value
      elseif is(toks[i + 1], "punct", "(") and is(toks[i + 2], "string") then
        name = toks[i + 2].value
      elseif is(toks[i - 1], "punct", "(") and is(toks[i - 2], "name", "pcall")
        and is(toks[i + 1], "punct", ",") and is(toks[i + 2], "string") then
        name = toks[i + 2].value
      end
      if name and (name == "crater" or name:find("^crater%.")) then found[#found + 1] = name end
    end
  end
  return found
end

-- ---------------------------------------------------------------------------
-- The graph of a tree of modules
-- ---------------------------------------------------------------------------

--- Every .lua file below `dir` (as module `prefix` and its submodules) ->
--- { [module] = { file = path, requires = { module, ... } } }.
local function modules(dir, prefix, into)
  into = into or {}
  local names = {}
  for entry in lfs.dir(dir) do
    if entry ~= "." and entry ~= ".." then names[#names + 1] = entry end
  end
  table.sort(names)
  for _, entry in ipairs(names) do
    local path = dir .. "/" .. entry
    local mode = lfs.attributes(path, "mode")
    if mode == "directory" then
      modules(path, prefix .. "." .. entry, into)
    elseif mode == "file" and entry:find("%.lua$") then
      local base = entry:sub(1, -5)
      local name = base == "init" and prefix or (prefix .. "." .. base)
      local ok, found = pcall(requires, assert(readfile(path)))
      if not ok then error(path .. ": " .. tostring(found), 0) end
      into[name] = { file = path, requires = found }
    end
  end
  return into
end

--- The first cycle found, as a list of modules that starts and ends with the
--- same one; nil when there is none. Visits modules and edges in name
--- order, so the answer is the same every run.
local function find_cycle(graph)
  local state, stack = {}, {}
  local function visit(m)
    state[m] = "open"
    stack[#stack + 1] = m
    local deps = {}
    for _, d in ipairs(graph[m].requires) do if graph[d] then deps[#deps + 1] = d end end
    table.sort(deps)
    for _, d in ipairs(deps) do
      if state[d] == "open" then
        local cycle, from = {}, nil
        for k = 1, #stack do if stack[k] == d then from = k end end
        for k = from, #stack do cycle[#cycle + 1] = stack[k] end
        cycle[#cycle + 1] = d
        return cycle
      elseif state[d] == nil then
        local c = visit(d)
        if c then return c end
      end
    end
    stack[#stack] = nil
    state[m] = "done"
    return nil
  end
  local names = {}
  for m in pairs(graph) do names[#names + 1] = m end
  table.sort(names)
  for _, m in ipairs(names) do
    if state[m] == nil then
      local c = visit(m)
      if c then return c end
    end
  end
  return nil
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- ---------------------------------------------------------------------------

describe("lua/crater modules", function()
  local graph = modules("lua/crater", "crater")

  it("are all found, including the package itself", function()
    assert.is_not_nil(graph["crater"], "lua/crater/init.lua")
    assert.is_not_nil(graph["crater.app"])
    assert.is_not_nil(graph["crater.response"])
  end)

  it("require one another without a cycle", function()
    local cycle = find_cycle(graph)
    if cycle then
      local lines = {}
      for i = 1, #cycle - 1 do
        lines[i] = string.format("  %s (%s) requires %s", cycle[i], graph[cycle[i]].file, cycle[i + 1])
      end
      assert.is_nil(cycle, "require cycle: " .. table.concat(cycle, " -> ") .. "\n" .. table.concat(lines, "\n"))
    end
  end)

  it("require only crater modules that exist", function()
    local missing = {}
    for name, m in pairs(graph) do
      for _, d in ipairs(m.requires) do
        if not graph[d] and not C_MODULES[d] then missing[#missing + 1] = name .. " requires " .. d end
      end
    end
    table.sort(missing)
    assert.same({}, missing)
  end)
end)

describe("the require reader", function()
  it("finds every form, at the top and inside functions", function()
    local src = [==[
      local a = require "crater.a"
      local b = require('crater.b')
      local c = require [[crater.c]]
      local function later() return require("crater.d").x end
      local ok, e = pcall(require, "crater.e")
      local other = require "lfs"
      local pkg = require "crater"
    ]==]
    assert.same({ "crater.a", "crater.b", "crater.c", "crater.d", "crater.e", "crater" }, requires(src))
  end)

  it("skips comments, and strings that are not an argument of require", function()
    local src = [==[
      -- local x = require "crater.in_a_comment"
      --[[ require("crater.in_a_long_comment") ]]
      --[=[ ]] require "crater.still_in_it" ]=]
      local s = "require 'crater.in_a_string'"
      local t = [[ require "crater.in_a_long_string" ]]
      local u = 'it\'s -- not a comment'; local v = require "crater.real"
    ]==]
    assert.same({ "crater.real" }, requires(src))
  end)

  it("names modules in subdirectories and reports a cycle through them", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(lfs.mkdir(dir))
    assert(lfs.mkdir(dir .. "/schema"))
    write(dir .. "/init.lua", 'return require "crater.app"')
    write(dir .. "/app.lua", 'local s = require "crater.schema"')
    write(dir .. "/schema/init.lua", 'local c = require "crater.schema.compile"')
    write(dir .. "/schema/compile.lua", 'local function f() return require("crater.schema").x end')
    local g = modules(dir, "crater")
    for _, f in ipairs({ "/schema/compile.lua", "/schema/init.lua", "/app.lua", "/init.lua" }) do
      os.remove(dir .. f)
    end
    lfs.rmdir(dir .. "/schema")
    lfs.rmdir(dir)
    assert.same({ "crater", "crater.app", "crater.schema", "crater.schema.compile" },
      (function() local t = {} for k in pairs(g) do t[#t + 1] = k end table.sort(t) return t end)())
    assert.same({ "crater.schema", "crater.schema.compile", "crater.schema" }, find_cycle(g))
  end)
end)
