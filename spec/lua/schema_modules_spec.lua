-- crater.schema is a façade over modules with one job each: they must not
-- require each other in a cycle, each stands alone, and the façade keeps
-- the API it always had.
local MODULES = { "crater.schema", "crater.schema.values", "crater.schema.dsl",
  "crater.schema.runtime", "crater.schema.writer", "crater.schema.compile", "crater.schema.shape",
  "crater.schema.uri", "crater.schema.resources", "crater.schema.registry", "crater.schema.vocabulary",
  "crater.schema.metaschema" }

local function file_of(name)
  return "lua/" .. name:gsub("%.", "/") .. ".lua"
end

-- The crater.schema* modules each one requires (at load or later).
local function requires(name)
  local f = assert(io.open(file_of(name)))
  local src = f:read("*a")
  f:close()
  local deps = {}
  for dep in src:gmatch("require%s*%(?%s*[\"']([%w%._]+)[\"']") do
    if dep:find("^crater%.schema") then deps[#deps + 1] = dep end
  end
  return deps
end

describe("crater.schema modules", function()
  it("require each other without a cycle", function()
    local state, order = {}, {}
    local function visit(name, trail)
      if state[name] == "done" then return end
      assert(state[name] ~= "open", "require cycle: " .. table.concat(trail, " -> ") .. " -> " .. name)
      state[name] = "open"
      trail[#trail + 1] = name
      for _, dep in ipairs(requires(name)) do visit(dep, trail) end
      trail[#trail] = nil
      state[name] = "done"
      order[#order + 1] = name
    end
    for _, m in ipairs(MODULES) do visit(m, {}) end
    assert.are.equal("crater.schema", order[#order]) -- only the façade needs them all
    for _, m in ipairs(MODULES) do
      if m ~= "crater.schema" then
        for _, dep in ipairs(requires(m)) do assert.are_not.equal("crater.schema", dep) end
      end
    end
  end)

  it("each load alone and return a table with a version", function()
    for _, m in ipairs(MODULES) do
      local p = io.popen("luajit -e 'local m = require \"" .. m .. "\"; "
        .. "assert(type(m) == \"table\" and type(m.version) == \"string\"); print(\"ok\")' 2>&1")
      local out = p:read("*a")
      p:close()
      assert.are.equal("ok\n", out, m)
    end
  end)

  it("keep the façade's API", function()
    local s = require "crater.schema"
    local api = {}
    for k, v in pairs(s) do api[#api + 1] = k .. ":" .. type(v) end
    table.sort(api)
    assert.are.same({
      "all_of:function", "any:function", "any_of:function", "array:function", "array_mt:table",
      "arrays_marked:boolean", "boolean:function", "check:function", "collect:function",
      "compile:function", "const:function", "define:function", "dsl:table", "enum:function",
      "equal:function", "integer:function", "is_array:function", "is_object:function",
      "json_null:userdata", "metaschema_uri:string", "name_of:function", "named:function", "not:function", "null:function",
      "nullable:function", "number:function", "object:function", "one_of:function",
      "optional:function", "ref:function", "registry:function", "shaper:function", "source:function", "string:function",
      "version:string",
    }, api)
  end)
end)
