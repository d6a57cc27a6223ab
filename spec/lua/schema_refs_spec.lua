-- crater.schema's identifiers and references (docs/schemas.md,
-- "Identifiers and references"): crater.schema.uri, the registry, compile's
-- registry/schemas/resolve options, $dynamicRef, vocabularies. The suite's
-- cases are in schema_conformance_spec.lua; these are the API and errors.
local schema = require "crater.schema"
local uri = require "crater.schema.uri"

local function ok(v, x) return (v(x)) end

describe("crater.schema.uri", function()
  it("resolves references as RFC 3986 section 5.4 says", function()
    local base = "http://a/b/c/d;p?q"
    local cases = {
      { "g:h", "g:h" }, { "g", "http://a/b/c/g" }, { "./g", "http://a/b/c/g" }, { "g/", "http://a/b/c/g/" },
      { "/g", "http://a/g" }, { "//g", "http://g" }, { "?y", "http://a/b/c/d;p?y" },
      { "g?y", "http://a/b/c/g?y" }, { "#s", "http://a/b/c/d;p?q#s" }, { "", base },
      { ".", "http://a/b/c/" }, { "..", "http://a/b/" }, { "../g", "http://a/b/g" },
      { "../../../g", "http://a/g" }, { "/./g", "http://a/g" }, { "g;x=1/../y", "http://a/b/c/y" },
    }
    for _, c in ipairs(cases) do assert.are.equal(c[2], uri.resolve(base, c[1]), c[1]) end
    assert.are.equal("urn:uuid:deadbeef#/$defs/a", uri.resolve("urn:uuid:deadbeef", "#/$defs/a"))
    assert.are.equal("common.json#/x", uri.resolve("", "common.json#/x"))
  end)

  it("decodes JSON Pointer fragments: percent-encoding, then ~1 and ~0", function()
    assert.are.same({ "a/b", "c~d", "%", "" }, uri.pointer_tokens("/a~1b/c~0d/%25/"))
  end)
end)

describe("crater.schema references", function()
  local address = {
    ["$id"] = "https://example.test/address",
    type = "object", required = { "zip" },
    properties = { zip = { ["$ref"] = "#/$defs/zip" } },
    ["$defs"] = { zip = { ["$anchor"] = "zip", type = "string", pattern = "^[0-9]{5}$" } },
  }

  it("a registry knows documents by $id, or by the URI given", function()
    local r = schema.registry():register(address)
    r:register({ type = "integer", minimum = 0 }, "urn:example:count")
    local v = schema.compile({
      properties = {
        ship = { ["$ref"] = "https://example.test/address" },
        zip = { ["$ref"] = "https://example.test/address#zip" },
        zip2 = { ["$ref"] = "https://example.test/address#/$defs/zip" },
        n = { ["$ref"] = "urn:example:count" },
      },
    }, { registry = r })
    assert.is_true(ok(v, { ship = { zip = "12345" }, zip = "54321", zip2 = "00000", n = 3 }))
    local valid, errs = v({ ship = { zip = "1" }, zip = 5, n = -1 })
    assert.is_false(valid)
    local at = {}
    for _, e in ipairs(errs) do at[#at + 1] = e.pointer .. " " .. e.keyword end
    table.sort(at)
    assert.are.same({ "/n minimum", "/ship/zip pattern", "/zip type" }, at)
  end)

  it("the schemas option lists documents; resolve loads the rest, asked once per URI", function()
    local asked = {}
    local v = schema.compile({ items = { ["$ref"] = "other.json" }, properties = { a = { ["$ref"] = "address" } },
      ["$id"] = "https://example.test/main" }, {
      schemas = { address },
      resolve = function(u)
        asked[#asked + 1] = u
        if u == "https://example.test/other.json" then return { type = "string" } end
      end,
    })
    assert.are.same({ "https://example.test/other.json" }, asked)
    assert.is_true(ok(v, { "x", "y" }))
    assert.is_false(ok(v, { 1 }))
    assert.is_false(ok(v, { a = {} }))
  end)

  it("an unknown URI is a compile error naming it and where it was referred to", function()
    assert.has_error(function()
      schema.compile({ ["$id"] = "https://example.test/s", properties = { a = { ["$ref"] = "b.json#/x" } } })
    end, "crater.schema.compile: invalid schema at /properties/a: $ref 'b.json#/x' in https://example.test/s: "
      .. "unknown schema https://example.test/b.json (nothing is fetched: register it, or give compile a "
      .. "registry or resolve function)")
    assert.has_error(function() schema.compile({}, { registry = {} }) end,
      "crater.schema.compile: option registry must be a registry from crater.schema.registry()")
    assert.has_error(function() schema.registry():register({ type = "string" }) end,
      "crater.schema.registry: register: the schema has no $id: pass its URI")
  end)

  it("$anchor belongs to its resource: the same name in two is two anchors", function()
    local v = schema.compile({
      ["$id"] = "https://example.test/root",
      properties = { a = { ["$ref"] = "#x" }, b = { ["$ref"] = "inner#x" } },
      ["$defs"] = {
        x = { ["$anchor"] = "x", type = "string" },
        inner = { ["$id"] = "inner", ["$defs"] = { x = { ["$anchor"] = "x", type = "integer" } } },
      },
    })
    assert.is_true(ok(v, { a = "s", b = 1 }))
    assert.is_false(ok(v, { a = 1 }))
    assert.is_false(ok(v, { b = "s" }))
  end)

  -- The spec's extensible tree (Core 2020-12, appendix C).
  local tree = {
    ["$id"] = "https://example.test/tree", ["$dynamicAnchor"] = "node", type = "object",
    properties = { data = true, children = { type = "array", items = { ["$dynamicRef"] = "#node" } } },
  }
  local strict = { ["$id"] = "https://example.test/strict-tree", ["$dynamicAnchor"] = "node",
    ["$ref"] = "tree", unevaluatedProperties = false }

  it("$dynamicRef resolves in the dynamic scope: the outermost resource with the anchor", function()
    local r = schema.registry():register(tree)
    local loose, strict_v = schema.compile(tree), schema.compile(strict, { registry = r })
    local data = { children = { { data = 1, children = { { daat = 2 } } } } }
    assert.is_true(ok(loose, data))
    for _, all in ipairs({ true, false }) do
      local v = schema.compile(strict, { registry = r, all_errors = all })
      local valid, errs = v(data)
      assert.is_false(valid)
      assert.are.equal("/children/0/children/0/daat", errs[1].pointer)
      assert.are.equal("unevaluatedProperties", errs[1].keyword)
    end
    assert.is_true(ok(strict_v, { children = { { data = 1, children = { { data = 2 } } } } }))
  end)

  it("$dynamicRef resolved at run time: the root's resource lacks the anchor", function()
    -- root -> ext (has #a: bar) -> base (foo, $dynamicRef #a, unevaluatedProperties)
    local doc = {
      ["$id"] = "https://example.test/root", ["$ref"] = "ext",
      ["$defs"] = {
        ext = { ["$id"] = "ext", ["$ref"] = "base",
          ["$defs"] = { a = { ["$dynamicAnchor"] = "a", properties = { bar = { type = "integer" } } } } },
        base = { ["$id"] = "base", unevaluatedProperties = false,
          properties = { foo = true }, ["$dynamicRef"] = "#a",
          ["$defs"] = { a = { ["$dynamicAnchor"] = "a" } } },
      },
    }
    for _, all in ipairs({ true, false }) do
      local v, src = schema.compile(doc, { all_errors = all })
      assert.truthy(src:find("dyn(", 1, true))
      assert.is_true(ok(v, { foo = 1, bar = 2 }))
      assert.is_false(ok(v, { foo = 1, bar = "x" }))   -- ext's #a applies...
      assert.is_false(ok(v, { foo = 1, baz = 2 }))     -- ...and evaluates bar only
      -- base alone: its own #a (empty), which evaluates nothing
      local b = schema.compile(doc["$defs"].base, { base = "https://example.test/root", all_errors = all })
      assert.is_true(ok(b, { foo = 1 }))
      assert.is_false(ok(b, { foo = 1, bar = 2 }))
    end
  end)

  it("recursion compiles each schema once into a function it calls", function()
    local r = schema.registry():register(tree)
    local v, src = schema.compile(strict, { registry = r })
    local _, nfun = src:gsub("\nF%[%d+%] = function", "")
    assert.is_true(nfun <= 8, "functions: " .. nfun)
    -- deep data, in both modes, with the dynamic scope unwound each time
    local deep = {}
    local node = deep
    for _ = 1, 500 do
      local child = {}
      node.children = setmetatable({ child }, schema.array_mt)
      node = child
    end
    assert.is_true(ok(v, deep))
    node.bad = 1
    assert.is_false(ok(v, deep))
    assert.is_false(ok(v, deep))
    node.bad = nil
    assert.is_true(ok(v, deep))
  end)

  it("a $ref cycle that never moves into the value is a compile error, not a stack overflow", function()
    local cyclic = { ["$id"] = "https://example.test/root", ["$ref"] = "#/$defs/a", ["$defs"] = {
      a = { ["$ref"] = "c#/$defs/b" },
      c = { ["$id"] = "c", ["$defs"] = { b = { anyOf = { { type = "string" }, { ["$ref"] = "root#/$defs/a" } } } } },
    } }
    local okc, err = pcall(schema.compile, cyclic)
    assert.is_false(okc)
    assert.truthy(err:find("$ref cycle that never moves into the value", 1, true), err)
    -- recursion into properties and items is fine
    assert.is_true(ok(schema.compile({ properties = { a = { ["$ref"] = "#" } }, items = { ["$ref"] = "#" } }),
      { a = { a = setmetatable({ {} }, schema.array_mt) } }))
  end)

  it("the draft 2020-12 meta-schema is known: a schema can $ref it", function()
    local v = schema.compile({ ["$ref"] = schema.metaschema_uri })
    assert.is_true(ok(v, tree))
    assert.is_true(ok(v, strict))
    assert.is_false(ok(v, { type = 12 }))
    assert.is_false(ok(v, { properties = { a = { minLength = -1 } } }))
    assert.is_false(ok(v, { ["$defs"] = { x = { items = { ["$dynamicRef"] = 3 } } } }))
  end)

  it("$schema's vocabularies: a required unknown one is refused, no validation vocabulary turns those keywords off", function()
    local r = schema.registry()
    r:register({ ["$id"] = "https://example.test/meta-custom",
      ["$vocabulary"] = { ["https://json-schema.org/draft/2020-12/vocab/core"] = true,
                          ["https://example.test/vocab/mine"] = true } })
    r:register({ ["$id"] = "https://example.test/meta-novalidation",
      ["$vocabulary"] = { ["https://json-schema.org/draft/2020-12/vocab/core"] = true,
                          ["https://json-schema.org/draft/2020-12/vocab/applicator"] = true } })
    assert.has_error(function()
      schema.compile({ ["$schema"] = "https://example.test/meta-custom" }, { registry = r })
    end, "crater.schema.compile: invalid schema at /$schema: $schema https://example.test/meta-custom requires "
      .. "the vocabulary https://example.test/vocab/mine, which crater.schema does not know")
    local v = schema.compile({ ["$schema"] = "https://example.test/meta-novalidation",
      properties = { a = { minimum = 10 }, b = false } }, { registry = r })
    assert.is_true(ok(v, { a = 1 }))
    assert.is_false(ok(v, { b = 1 }))
  end)
end)
