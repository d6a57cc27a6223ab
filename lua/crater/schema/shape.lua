--- crater.schema.shape: the response shaper, which drops what a schema
--- does not declare.
--
-- Like validators, a shaper is generated Lua source loaded once, with a
-- compiler of crater.schema.compile resolving $ref and making the
-- validators that pick an anyOf/oneOf branch. The rules are in
-- docs/schemas.md ("Shaping output").

local regex = require "crater.regex"
local compile = require "crater.schema.compile"
local runtime = require "crater.schema.runtime"
local writer = require "crater.schema.writer"

local type, pairs, ipairs = type, pairs, ipairs
local sort = table.sort
local quote, esc = writer.quote, runtime.esc

local _M = { version = "0.2.0" }

-- The object view of a schema for shaping: declared properties (merged
-- over allOf and $ref), patterns, and whether other keys are kept.
local function object_view(c, s, path, view, depth)
  view = view or { props = {}, names = {}, patterns = {}, keep = false, any = false }
  s = c:deref(s, path)
  if type(s) ~= "table" or depth > 16 then return view end
  if s.properties ~= nil then
    view.any = true
    local ns = {}
    for name in pairs(s.properties) do ns[#ns + 1] = name end
    sort(ns)
    for _, name in ipairs(ns) do
      if view.props[name] == nil then view.names[#view.names + 1] = name end
      view.props[name] = view.props[name] or s.properties[name]
    end
  end
  if s.patternProperties ~= nil then
    view.any = true
    for pat, ps in pairs(s.patternProperties) do view.patterns[#view.patterns + 1] = { pat, ps } end
  end
  if s.additionalProperties ~= nil and s.additionalProperties ~= false then
    view.keep = view.keep or s.additionalProperties
  end
  if s.type == "object" then
    view.any = true
  elseif type(s.type) == "table" then
    for _, t in ipairs(s.type) do if t == "object" then view.any = true end end
  end
  if type(s.allOf) == "table" then
    for i, b in ipairs(s.allOf) do object_view(c, b, path .. "/allOf/" .. (i - 1), view, depth + 1) end
  end
  return view
end

-- Whether shaping with `s` can change anything (else children are skipped).
local function shapes_anything(c, s, path, depth)
  s = c:deref(s, path)
  if type(s) ~= "table" or depth > 16 then return false end
  if s.properties ~= nil or s.patternProperties ~= nil or s.type == "object" or s.type == "array"
      or s.items ~= nil or s.prefixItems ~= nil or s.anyOf ~= nil or s.oneOf ~= nil or s.allOf ~= nil then
    return true
  end
  if type(s.type) == "table" then
    for _, t in ipairs(s.type) do if t == "object" or t == "array" then return true end end
  end
  return false
end

local shape_fn

-- Shapes the child value in `x` with `s` and keeps the result in the copy
-- `o` of v (made on the first change) under `key`; `seg` is the Lua
-- expression of the child's pointer segment.
local function shape_child(c, ids, s, path, key, seg, w)
  local id = shape_fn(c, ids, s, path)
  w:line("local n0 = D and #D or 0")
  w:line("local y")
  w:line("y, D = F[" .. id .. "](x, D)")
  w:line("if D and #D > n0 then prefix_list(D, n0, " .. seg .. ") end")
  w:line("if y ~= x then o = o or shallow(v); o[" .. key .. "] = y end")
end

-- Emits a shaper function for schema `s`, F[id](v, D) -> v2, D, and
-- returns its id. `ids`: schema -> id of the functions made so far.
function shape_fn(c, ids, s, path)
  local id = ids[s]
  if id then return id end
  id = c:new_id()
  ids[s] = id
  local w = writer.new()
  w:comment("#" .. path .. ": shape")
  w:open("F[" .. id .. "] = function(v, D)")
  local d = c:deref(s, path)
  if type(d) == "table" then
    -- anyOf/oneOf: shape with the first branch the value is valid against.
    for _, kw in ipairs({ "oneOf", "anyOf" }) do
      if type(d[kw]) == "table" then
        for i, b in ipairs(d[kw]) do
          local bp = path .. "/" .. kw .. "/" .. (i - 1)
          local vid = c:fn(b, "pure", bp, true)
          local sid = shape_fn(c, ids, b, bp)
          w:line("if F[" .. vid .. "](v, nil) == nil then return F[" .. sid .. "](v, D) end")
        end
      end
    end
    local view = object_view(c, d, path, nil, 0)
    if view.any then
      w:open("if is_object(v) then")
      w:line("local o = nil")
      w:open("for k, x in next, v do")
      local first = true
      local function branch(cond)
        if first then w:open("if " .. cond .. " then") else w:elseif_(cond) end
        first = false
      end
      for _, name in ipairs(view.names) do
        local ps = view.props[name]
        branch("k == " .. quote(name))
        if shapes_anything(c, ps, path, 0) then
          shape_child(c, ids, ps, path .. "/properties/" .. esc(name), "k", quote("/" .. esc(name)), w)
        end
      end
      for _, pe in ipairs(view.patterns) do
        local re = regex.compile(pe[1])
        branch("type(k) == \"string\" and " .. c:const(re.test) .. "(k)")
        if shapes_anything(c, pe[2], path, 0) then
          shape_child(c, ids, pe[2], path .. "/patternProperties", "k", "\"/\" .. esc(k)", w)
        end
      end
      if view.keep then
        if not first then w:otherwise() end
        if view.keep ~= true and shapes_anything(c, view.keep, path, 0) then
          shape_child(c, ids, view.keep, path .. "/additionalProperties", "k", "\"/\" .. esc(k)", w)
        end
        if not first then w:close() end
      else
        if first then w:open("do") else w:otherwise() end
        w:line("o = o or shallow(v)")
        w:line("o[k] = nil")
        w:line("D = drop(D, \"/\" .. esc(k))")
        w:close()
      end
      w:close()
      w:line("return o or v, D")
      w:close()
    end
    local items, pitems = d.items, d.prefixItems
    if d.type == "array" or items ~= nil or pitems ~= nil then
      w:line("if type(v) == \"table\" and getmetatable(v) ~= AMT and next(v) == nil then return setmetatable({}, AMT), D end")
      local parts = {}
      if type(pitems) == "table" then
        for i, ps in ipairs(pitems) do
          if shapes_anything(c, ps, path, 0) then parts[#parts + 1] = { i, i, ps, path .. "/prefixItems/" .. (i - 1) } end
        end
      end
      if type(items) == "table" and shapes_anything(c, items, path, 0) then
        parts[#parts + 1] = { (type(pitems) == "table" and #pitems or 0) + 1, nil, items, path .. "/items" }
      end
      if #parts > 0 then
        w:open("if is_array(v) then")
        w:line("local o = nil")
        for _, pt in ipairs(parts) do
          w:open("for i = " .. pt[1] .. ", " .. (pt[2] or "#v") .. " do")
          w:line("local x = v[i]")
          shape_child(c, ids, pt[3], pt[4], "i", "\"/\" .. (i - 1)", w)
          w:close()
        end
        w:line("return o or v, D")
        w:close()
      end
    end
  end
  w:line("return v, D")
  w:close()
  c:add_function(w)
  return id
end

--- Compiles a shaper: `shape(value) -> new_value, dropped`. Object keys the
--- schema does not declare (in properties, patternProperties, or by an
--- additionalProperties that is not false) are removed, at every depth.
--- The input is never changed: what changes is copied (copy on write), so
--- a value with nothing to drop comes back as the same table. `dropped` is
--- nil or the list of JSON Pointers removed. Empty tables where the
--- schema says array become marked arrays (so they encode as `[]`).
---@param s table|boolean
---@param opts? { components?: table<string, table>, formats?: table, name?: string }
---@return fun(value: any): any, string[]|nil
function _M.shaper(s, opts)
  opts = compile.options(opts, "crater.schema.shaper", 2)
  local c = compile.new(s, opts)
  local ok, root = pcall(shape_fn, c, {}, s, "")
  if not ok then compile.raise(root, "crater.schema.shaper", 2) end
  local header = "-- Generated by crater.schema " .. _M.version .. " (docs/schemas.md): a shaper.\n"
  local F = runtime.load(c:chunk(header), opts.name or "crater.schema.shaper", c.K)
  local f = F[root]
  return function(v) return f(v, nil) end
end

return _M
