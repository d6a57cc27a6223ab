-- crater.schema.compile: the generated source itself. Every error is added
-- by the code of one emitter (Compiler:error), once per place in the schema
-- that can fail, under a comment naming that place; the code is indented
-- and loads. What the validators answer is checked in schema_spec.lua.
local schema = require "crater.schema"
local runtime = require "crater.schema.runtime"
local writer = require "crater.schema.writer"
local json = require "crater.json"
local s = schema

local Item = s.object {
  name = s.string { minLength = 1 },
  price = s.number { exclusiveMinimum = 0, multipleOf = 0.01 },
  tags = s.array(s.string { pattern = "^[a-z]+$" }, { maxItems = 3, uniqueItems = true }),
}

-- Every place of Item that can fail, as its comment names it.
local SITES = {
  "#/type", "#/required (name)", "#/properties/name/type", "#/properties/name/minLength",
  "#/required (price)", "#/properties/price/type", "#/properties/price/exclusiveMinimum",
  "#/properties/price/multipleOf", "#/properties/tags/type", "#/properties/tags/maxItems",
  "#/required (tags)", "#/properties/tags/items/type", "#/properties/tags/items/pattern",
  "#/properties/tags/uniqueItems",
}

-- What follows an error's comment: the statements that add the record.
local ADD = {
  all = { "^if E == nil then E = new_tab%(4, 0%) end$", "^ne = ne %+ 1$", "^E%[ne%] = " },
  first = { "^if E == nil then return .+ end$", "^E%[#E %+ 1%] = ", "^do return E end$" },
}

local function lines(src)
  local out = {}
  for l in (src .. "\n"):gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

local function trim(l) return (l:gsub("^%s+", "")) end

describe("crater.schema.compile: the generated source", function()
  for _, mode in ipairs({ "all", "first" }) do
    it("adds each error once, where its comment names the schema path (" .. mode .. " errors)", function()
      local src = schema.source(Item, { all_errors = mode == "all" })
      local L = lines(src)
      local add = ADD[mode]
      local comments, adds = {}, 0
      for i, l in ipairs(L) do
        local t = trim(l)
        if t:find(add[3]) then adds = adds + 1 end
        local path = t:match("^%-%- (#.*)$")
        if path and (trim(L[i + 1] or "")):find(add[1]) then
          assert.is_nil(comments[path], path .. " emitted twice")
          comments[path] = true
          for j = 1, 3 do
            assert.is_truthy(trim(L[i + j]):find(add[j]), path .. ": line " .. (i + j) .. ": " .. L[i + j])
          end
          -- the comment is indented as the statements it names
          assert.are.equal(l:match("^%s*"), L[i + 1]:match("^%s*"))
        end
      end
      for _, site in ipairs(SITES) do assert.is_true(comments[site], site .. " has no error") end
      local n = 0
      for _ in pairs(comments) do n = n + 1 end
      assert.are.equal(#SITES, n)
      assert.are.equal(#SITES, adds) -- no record is added anywhere else
      -- and those are the places that fail
      local validate = schema.compile(Item, { all_errors = mode == "all" })
      local _, errors = validate({ name = "", price = 0.005, tags = json.array { "a", "b", "a", "B" } })
      local want = mode == "all" and 5 or 1
      assert.are.equal(want, #errors)
    end)
  end

  it("is what compile returns, indented by block, and loads", function()
    for _, opts in ipairs({ {}, { all_errors = false }, { coerce = true, defaults = true } }) do
      local src = schema.source(Item, opts)
      local _, compiled = schema.compile(Item, opts)
      assert.are.equal(compiled, src)
      assert.is_function(loadstring(src))
      local depth = 0
      for _, l in ipairs(lines(src)) do
        local t = trim(l)
        if t ~= "" then
          local closes = t == "end" or t == "else" or t:find("^elseif ")
          if closes then depth = depth - 1 end
          assert.are.equal(string.rep("  ", depth) .. t, l)
          if t == "else" or t:find("^elseif ") or t == "do" or t:find(" then$") or t:find(" do$")
              or t:find("= function%(v, E%)$") or t:find("= function%(v%)$") then
            depth = depth + 1
          end
        end
      end
      assert.are.equal(0, depth)
    end
  end)

  it("quotes any property name and pattern on one line", function()
    local odd = s.object({ ["new\nline"] = s.string { pattern = "\n$" }, ['q"]]'] = s.integer() },
      { additionalProperties = false })
    local src = schema.source(odd)
    assert.is_function(loadstring(src))
    assert.is_truthy(src:find('-- #/properties/new\\nline/pattern', 1, true))
    assert.is_truthy(src:find('local x1 = v["new\\nline"]', 1, true))
    assert.are.equal('"a\\n\\"\\\\\\001"', writer.quote('a\n"\\\1'))
    assert.are.equal('a\n"\\\1', loadstring("return " .. writer.quote('a\n"\\\1'))())
  end)

  it("binds every helper the runtime gives, once", function()
    local seen = {}
    for names in runtime.prelude:gmatch("\nlocal ([%w_, ]+) = ") do
      for name in names:gmatch("[%w_]+") do
        assert.is_nil(seen[name], name)
        seen[name] = true
      end
    end
    for name in pairs(runtime.helpers) do assert.is_true(seen[name], name) end
    for name in pairs(seen) do assert.is_not_nil(runtime.helpers[name], name) end
  end)

  it("raises on an invalid schema as compile does", function()
    assert.has_error(function() schema.source({ minLength = -1 }) end,
      "crater.schema.source: invalid schema at /minLength: must be a non-negative integer")
    assert.has_error(function() schema.source(Item, { coerse = true }) end,
      "crater.schema.source: unknown option 'coerse'")
  end)
end)
