-- crater.schema: the DSL, compile (errors, coercion, defaults, $ref,
-- formats, patterns) and the shaper. The keyword semantics themselves are
-- checked case by case in schema_conformance_spec.lua.
local schema = require "crater.schema"
local json = require "crater.json"
local s = schema

local function errs(list)
  local out = {}
  for i, e in ipairs(list or {}) do out[i] = e.pointer .. " " .. e.keyword end
  table.sort(out)
  return out
end

local Item = s.object {
  name = s.string { minLength = 1, maxLength = 50 },
  price = s.number { exclusiveMinimum = 0 },
  tags = s.array(s.string(), { maxItems = 10, default = {} }),
}

describe("crater.schema DSL", function()
  it("builds plain JSON Schema tables", function()
    assert.are.same({ type = "string", minLength = 1 }, s.string { minLength = 1 })
    assert.are.same({ type = "integer" }, s.integer())
    assert.are.same({}, s.any())
    assert.are.same({ type = "array", items = { type = "number" }, maxItems = 3 }, s.array(s.number(), { maxItems = 3 }))
    assert.are.same({ enum = { "a", "b" } }, s.enum { "a", "b" })
    assert.are.same({ const = 3 }, s.const(3))
    assert.are.equal(json.null, s.const(nil).const)
    assert.are.same({ ["$ref"] = "#/components/schemas/Item" }, s.ref("Item"))
  end)

  it("makes every property required unless optional", function()
    local o = s.object { a = s.string(), b = s.optional(s.integer()), c = s.boolean() }
    assert.are.same({ "a", "c" }, o.required)
    assert.are.same({ type = "integer" }, o.properties.b)
    assert.is_nil(s.object { x = s.optional(s.any()) }.required)
  end)

  it("leaves a property with a default out of required (the default fills it in)", function()
    local o = s.object {
      a = s.string(),
      b = s.integer { default = 3 },
      c = s.boolean { default = false },
      d = s.nullable(s.string { default = "x" }),
      e = s.array(s.string(), { default = {} }),
      f = s.optional(s.integer { default = 1 }),
    }
    assert.are.same({ "a" }, o.required)
    local v = schema.compile(o, { defaults = true })
    local ok, e, out = v({ a = "z" })
    assert.is_true(ok, e)
    assert.are.same({ 3, false, "x", 1 }, { out.b, out.c, out.d, out.f })
    assert.are.equal("[]", json.encode(out.e))
    -- without the option nothing is filled in, and nothing is missing either
    ok, e, out = schema.compile(o)({ a = "z" })
    assert.is_true(ok)
    assert.is_nil(out.b)
    -- a raw schema keeps what it says: there `required` is the author's list
    local raw = { type = "object", properties = { b = { type = "integer", default = 3 } }, required = { "b" } }
    ok, e, out = schema.compile(raw, { defaults = true })({})
    assert.is_true(ok)
    assert.are.equal(3, out.b)
    assert.is_false((schema.compile(raw)({})))
  end)

  it("encodes to JSON with arrays as arrays", function()
    assert.are.equal('{"default":[]}', json.encode({ default = Item.properties.tags.default }))
    assert.are.equal('["name","price"]', json.encode(Item.required))
    assert.are.equal('{"enum":[]}', json.encode(s.enum {}))
    local decoded = json.decode(json.encode(Item))
    assert.are.same(errs(select(2, schema.compile(decoded)({ name = "" }))),
                    errs(select(2, schema.compile(Item)({ name = "" }))))
  end)

  it("nullable adds null to a single type, else wraps in anyOf", function()
    local n = s.nullable(s.string { enum = { "a" } })
    assert.are.same({ "string", "null" }, n.type)
    assert.are.equal(json.null, n.enum[2])
    local Named = s.define("Named", s.object { a = s.integer() })
    assert.are.equal(Named, s.nullable(Named).anyOf[1])
    local v = schema.compile(s.nullable(Named))
    assert.is_true((v(json.null)))
    assert.is_true((v({ a = 1 })))
    assert.is_false((v({ a = "x" })))
  end)

  it("names schemas with define, without global names", function()
    local A = s.define("A", s.object { id = s.integer() })
    assert.are.equal("A", schema.name_of(A))
    assert.are.equal("A", A.title)
    local Wrap = s.object { a = A, list = s.array(A) }
    assert.are.same({ A = A }, schema.collect(Wrap))
    assert.has_error(function() s.define("bad name!", {}) end)
  end)

  it("rejects misuse at the caller's line", function()
    assert.has_error(function() s.array(42) end, "s.array: schema expected, got number")
    assert.has_error(function() s.any_of { s.optional(s.string()) } end)
    assert.has_error(function() s.string("x") end, "s.string: options must be a table")
  end)
end)

describe("crater.schema.compile", function()
  it("returns ok, nil, value for valid input", function()
    local v = schema.compile(Item)
    local value = { name = "a", price = 1, tags = json.array { "x" } }
    local ok, e, out = v(value)
    assert.is_true(ok)
    assert.is_nil(e)
    assert.are.equal(value, out)
  end)

  it("lists every error with a JSON Pointer, keyword and message", function()
    local v = schema.compile(Item)
    local tags = json.array {}
    for i = 1, 12 do tags[i] = i == 4 and 7 or "t" end
    local ok, e = v({ name = "", price = 0, tags = tags })
    assert.is_false(ok)
    assert.are.same({ "/name minLength", "/price exclusiveMinimum", "/tags maxItems", "/tags/3 type" }, errs(e))
    for _, x in ipairs(e) do assert.are.equal("string", type(x.message)) end
    ok, e = v({})
    assert.are.same({ "/name required", "/price required" }, errs(e))
    ok, e = v("nope")
    assert.are.same({ " type" }, errs(e))
    assert.are.equal("must be object", e[1].message)
  end)

  it("allocates nothing on the valid path", function()
    local f = assert(io.open("examples/schemas/order.schema.json"))
    local order_schema = json.decode(f:read("*a"))
    f:close()
    f = assert(io.open("examples/schemas/order.json"))
    local order = json.decode(f:read("*a"))
    f:close()
    local checks = { { schema.compile(Item), { name = "a", price = 1, tags = json.array { "x", "y" } } },
                     { schema.compile(order_schema), order },
                     -- anyOf/oneOf whose first branch fails on valid input:
                     -- testing a branch makes no error list
                     { schema.compile(s.object { a = s.nullable(s.define("N", s.object { x = s.integer() })),
                                                 b = s.one_of { s.string(), s.integer() } }),
                       { a = json.null, b = 3 } } }
    for _, c in ipairs(checks) do
      for _ = 1, 2000 do assert(c[1](c[2])) end -- let the JIT compile its traces first
      collectgarbage("collect")
      collectgarbage("stop")
      local before = collectgarbage("count")
      for _ = 1, 10000 do c[1](c[2]) end
      local grown = collectgarbage("count") - before
      collectgarbage("restart")
      -- One small table per call would be 400 KiB; what remains is the JIT
      -- recording a late trace or two.
      assert(grown < 64, ("the valid path allocated %.1f KiB in 10000 calls"):format(grown))
    end
  end)

  it("escapes pointers (RFC 6901)", function()
    local v = schema.compile({ additionalProperties = false })
    local _, e = v({ ["a/b~c"] = 1 })
    assert.are.equal("/a~1b~0c", e[1].pointer)
  end)

  it("takes any property name and pattern (the generated code quotes them)", function()
    local odd = { 'E = err(E, "x", 1)', 'a"b', "new\nline", "\0nul", "]]", "--" }
    local props = {}
    for _, k in ipairs(odd) do props[k] = s.integer() end
    local v = schema.compile(s.object(props, { additionalProperties = false }))
    local bad, want = {}, {}
    for _, k in ipairs(odd) do bad[k] = "x"; want[#want + 1] = "/" .. k .. " type" end
    table.sort(want)
    assert.are.same(want, errs(select(2, v(bad))))
    local p = schema.compile(s.string { pattern = '^E = err\\(E, "' })
    assert.is_true((p('E = err(E, "')))
  end)

  it("prefixes pointers through nesting", function()
    local Order = s.object { lines = s.array(s.object { qty = s.integer { minimum = 1 } }) }
    local _, e = schema.compile(Order)({ lines = json.array { { qty = 1 }, { qty = 0 }, { qty = 1.5 } } })
    assert.are.same({ "/lines/1/qty minimum", "/lines/2/qty type" }, errs(e))
  end)

  it("shares its error records between validations, and never changes them", function()
    -- Records are made once per site (and per index for array items): the
    -- same error twice is the same read-only table.
    local v = schema.compile(Item)
    local _, e1 = v({ name = "", price = 1, tags = json.array { "a", 7 } })
    local _, e2 = v({ name = "", price = 1, tags = json.array { "a", 7 } })
    assert.are.equal(e1[1], e2[1])
    assert.are.equal(e1[2], e2[2])
    assert.are_not.equal(e1, e2) -- the list itself is the caller's
    assert.are.same({ pointer = "/tags/1", keyword = "type", message = "must be string" }, e1[2])
    -- past the cached indexes records are made per error, pointers still right
    local tags = json.array {}
    for i = 1, 300 do tags[i] = 0 end
    local _, e = schema.compile(s.array(s.string()))(tags)
    assert.are.equal(300, #e)
    assert.are.equal("/0", e[1].pointer)
    assert.are.equal("/299", e[300].pointer)
    local _, again = schema.compile(s.array(s.string()))(tags)
    assert.are.equal("/299", again[300].pointer)
    -- errors of a called function (a recursive $ref) get longer pointers
    -- in new records: the callee's own records keep theirs
    local Tree = s.define("Tree", s.object { name = s.string(), kids = s.optional(s.array(s.ref("Tree"))) })
    local t = schema.compile(Tree, { components = { Tree = Tree } })
    local deep = { name = 1, kids = json.array { { name = 2, kids = json.array { { name = 3 } } } } }
    for _ = 1, 3 do
      local _, te = t(deep)
      assert.are.same({ "/kids/0/kids/0/name type", "/kids/0/name type", "/name type" }, errs(te))
    end
    local _, top = t({ name = 1 })
    assert.are.same({ "/name type" }, errs(top))
  end)

  it("with all_errors = false, returns one shared read-only list per failing site", function()
    local v = schema.compile(Item, { all_errors = false })
    local _, e1 = v({ name = "", price = 1 })
    local _, e2 = v({ name = "", price = 0 })
    assert.are.equal(e1, e2) -- same site, same list: nothing allocated
    assert.are.same({ "/name minLength" }, errs(e1))
    local _, e3 = v({ name = "x", price = 0 })
    assert.are.same({ "/price exclusiveMinimum" }, errs(e3))
    assert.has_error(function() e1[#e1 + 1] = "mine" end,
      "crater.schema: the error list of a validator with all_errors = false is shared and read-only; copy it to change it")
    assert.are.equal(1, #e1)
    -- one list per array index, as for records
    local _, t1 = v({ name = "x", price = 1, tags = json.array { "a", 7 } })
    local _, t2 = v({ name = "x", price = 1, tags = json.array { 7 } })
    local _, t3 = v({ name = "x", price = 1, tags = json.array { "b", 8 } })
    assert.are.same({ "/tags/1 type" }, errs(t1))
    assert.are.same({ "/tags/0 type" }, errs(t2))
    assert.are.equal(t1, t3)
    -- through a called function the pointer grows in a new list; the
    -- callee's shared list keeps its own (else the next call would see
    -- "/kids/0/kids/0/name" grow again)
    local Tree = s.define("Tree", s.object { name = s.string(), kids = s.optional(s.array(s.ref("Tree"))) })
    local t = schema.compile(Tree, { components = { Tree = Tree }, all_errors = false })
    local deep = { name = "a", kids = json.array { { name = "b", kids = json.array { { name = 3 } } } } }
    for _ = 1, 3 do
      local _, te = t(deep)
      assert.are.same({ "/kids/0/kids/0/name type" }, errs(te))
      local _, top = t({ name = 1 })
      assert.are.same({ "/name type" }, errs(top))
    end
    -- anyOf/oneOf gather their branches' first errors into a list of their
    -- own: the branches' shared lists stay one record long
    local u = schema.compile(s.object { x = s.any_of { s.integer(), s.string { minLength = 3 } } },
      { all_errors = false })
    for _ = 1, 3 do
      local _, ue = u({ x = "ab" })
      assert.are.same({ "/x anyOf", "/x minLength", "/x type" }, errs(ue))
    end
  end)

  it("counts string length in code points", function()
    local v = schema.compile(s.string { minLength = 2, maxLength = 3 })
    assert.is_true((v("éé")))
    assert.is_true((v("😀😀😀")))
    assert.is_false((v("😀")))
    assert.is_false((v("abcd")))
  end)

  it("tells [] from {} and null from missing", function()
    local v = schema.compile(s.object({ a = s.nullable(s.integer()) }))
    assert.is_true((v(json.decode('{"a":null}'))))
    assert.is_false((v(json.decode('{}'))))
    assert.is_false((v(json.decode('[]'))))
    assert.is_true((schema.compile(s.array())(json.decode("[]"))))
    assert.is_false((schema.compile(s.array())(json.decode("{}"))))
    assert.is_true((schema.compile(s.array())({ 1, 2 })))
    assert.is_false(schema.equal(json.decode("{}"), json.decode("[]")))
    assert.is_false((schema.compile({ const = json.decode("{}") })(json.decode("[]"))))
    assert.is_false((schema.compile({ enum = json.decode("[[]]") })(json.decode("{}"))))
    assert.is_true((schema.compile({ enum = json.decode("[[],{}]") })(json.decode("{}"))))
    assert.is_false((schema.compile(s.object { a = s.any { uniqueItems = true } })(json.decode('{"a":[1, 1.0]}'))))
    assert.is_true((schema.compile(s.any { uniqueItems = true })(json.decode('[[], {}]'))))
  end)

  it("coerces strings to the declared types", function()
    local v = schema.compile(s.object {
      id = s.integer { minimum = 1 },
      ratio = s.number(),
      on = s.boolean(),
      n = s.nullable(s.integer()),
      ids = s.array(s.integer()),
      name = s.string(),
    }, { coerce = true })
    local ok, e, out = v({ id = "42", ratio = "0.5", on = "true", n = "", ids = "7", name = "12" })
    assert.is_true(ok, e and json.encode(e))
    assert.are.equal(42, out.id)
    assert.are.equal(0.5, out.ratio)
    assert.is_true(out.on)
    assert.are.equal(json.null, out.n)
    assert.are.equal("[7]", json.encode(out.ids))
    assert.are.equal("12", out.name)
    ok, e = v({ id = "4x", ratio = "0x10", on = "yes", n = "1.5", ids = json.array { "1", "b" }, name = "" })
    assert.is_false(ok)
    assert.are.same({ "/id type", "/ids/1 type", "/n type", "/on type", "/ratio type" }, errs(e))
    local top = schema.compile(s.integer(), { coerce = true })
    assert.are.same({ true, nil, 5 }, { top("5") })
  end)

  it("fills defaults (copies, never shares)", function()
    local v = schema.compile(s.object {
      tags = s.array(s.string(), { default = {} }),
      page = s.optional(s.integer { default = 1 }),
      opts = s.optional(s.object({ x = s.integer() }, { default = { x = 1 } })),
    }, { defaults = true })
    local ok, _, out = v({})
    assert.is_true(ok)
    assert.are.equal("[]", json.encode(out.tags))
    assert.are.equal(1, out.page)
    out.opts.x = 99
    local _, _, again = v({})
    assert.are.equal(1, again.opts.x)
    local plain = schema.compile(s.object { page = s.optional(s.integer { default = 1 }) })
    local _, _, untouched = plain({})
    assert.is_nil(untouched.page)
  end)

  it("resolves $ref to $defs and to components", function()
    local v = schema.compile({ ["$defs"] = { pos = { type = "integer", minimum = 0 } },
      properties = { a = { ["$ref"] = "#/$defs/pos" } } })
    assert.is_true((v({ a = 1 })))
    assert.is_false((v({ a = -1 })))
    local Node = s.object { value = s.integer(), children = s.optional(s.array(s.ref("Node"))) }
    local tree = schema.compile(Node, { components = { Node = Node } })
    assert.is_true((tree({ value = 1, children = json.array { { value = 2, children = json.array { { value = 3 } } } } })))
    local ok, e = tree({ value = 1, children = json.array { { value = "x" } } })
    assert.is_false(ok)
    assert.are.same({ "/children/0/value type" }, errs(e))
    assert.has_error(function() schema.compile(s.ref("Nope")) end)
  end)

  it("resolves $ref to a plain-name $anchor anywhere in the document", function()
    -- in $defs, under a property named like a data keyword, and in a component
    local v = schema.compile({
      properties = { a = { ["$ref"] = "#pos" }, b = { ["$ref"] = "#word" }, c = { ["$ref"] = "#flag" } },
      ["$defs"] = { p = { ["$anchor"] = "pos", type = "integer", minimum = 1 } },
      dependentSchemas = { x = { properties = { default = { ["$anchor"] = "word", type = "string" } } } },
    }, { components = { Flag = { ["$anchor"] = "flag", type = "boolean" } } })
    assert.is_true((v({ a = 1, b = "w", c = true })))
    local _, e = v({ a = 0, b = 1, c = "no" })
    assert.are.same({ "/a minimum", "/b type", "/c type" }, errs(e))
    -- an anchor inside data is not one
    assert.has_error(function()
      schema.compile({ const = { ["$anchor"] = "d" }, properties = { a = { ["$ref"] = "#d" } } })
    end, 'crater.schema.compile: invalid schema at /properties/a: $ref \'#d\': no subschema has "$anchor": "d"')
    assert.has_error(function()
      schema.compile({ allOf = { { ["$anchor"] = "x" }, { ["$anchor"] = "x" } }, ["$ref"] = "#x" })
    end, "crater.schema.compile: invalid schema at /: $anchor 'x' is defined twice")
  end)

  it("reports anyOf/oneOf failures with the branches' errors", function()
    local v = schema.compile(s.one_of { s.integer(), s.string { minLength = 3 } })
    assert.is_true((v(5)))
    local ok, e = v("ab")
    assert.is_false(ok)
    assert.are.equal("oneOf", e[#e].keyword)
    assert.is_true(#e >= 2)
  end)

  it("checks formats, and takes extra ones", function()
    local function ok(fmt, x) return (schema.compile(s.string { format = fmt }, { assert_formats = true })(x)) end
    assert.is_true(ok("email", "a.b@example.com"))
    assert.is_false(ok("email", "a@@b"))
    assert.is_true(ok("uuid", "123e4567-e89b-12d3-a456-426614174000"))
    assert.is_false(ok("uuid", "123e4567e89b12d3a456426614174000"))
    assert.is_true(ok("date", "2024-02-29"))
    assert.is_false(ok("date", "2023-02-29"))
    assert.is_true(ok("date-time", "2024-01-02T03:04:05.5+01:00"))
    assert.is_false(ok("date-time", "2024-01-02 03:04:05"))
    assert.is_true(ok("ipv4", "192.168.0.1"))
    assert.is_false(ok("ipv4", "256.1.1.1"))
    assert.is_true(ok("ipv6", "::1"))
    assert.is_true(ok("ipv6", "2001:db8::8a2e:370:7334"))
    assert.is_false(ok("ipv6", "2001:db8:::1"))
    assert.is_true(ok("uri", "https://example.com/a?b=c#d"))
    assert.is_false(ok("uri", "/relative"))
    assert.is_true(ok("unknown-format", "anything"))
    local v = schema.compile(s.string { format = "even" },
      { formats = { even = function(x) return #x % 2 == 0 end }, assert_formats = true })
    assert.is_true((v("ab")))
    assert.is_false((v("abc")))
    -- Without assert_formats, `format` is an annotation (JSON Schema 2020-12).
    assert.is_true((schema.compile(s.string { format = "email" })("a@@b")))
    assert.has_error(function() schema.compile(s.string { format = "nope" }, { strict_formats = true }) end)
    assert.is_true((schema.compile(s.string { format = "email" }, { strict_formats = true })("a@@b")))
  end)

  it("matches patterns as ECMA-262 does", function()
    local v = schema.compile(s.string { pattern = "^(ab|cd)+[0-9]{2}$" })
    assert.is_true((v("abcd12")))
    assert.is_false((v("abc12")))
    assert.is_true((schema.compile(s.string { pattern = "\\p{Lu}" })("xÉy")))
  end)

  it("raises on invalid schemas, naming where", function()
    assert.has_error(function() schema.compile({ minLength = -1 }) end,
      "crater.schema.compile: invalid schema at /minLength: must be a non-negative integer")
    assert.has_error(function() schema.compile({ properties = { a = { type = "strin" } } }) end,
      "crater.schema.compile: invalid schema at /properties/a/type: unknown type 'strin'")
    assert.has_error(function() schema.compile({ pattern = "(" }) end)
    assert.has_error(function() schema.compile(Item, { coerse = true }) end,
      "crater.schema.compile: unknown option 'coerse'")
    local ok, msg = schema.check({ maxItems = "3" })
    assert.is_nil(ok)
    assert.are.equal("invalid schema at /maxItems: must be a non-negative integer", msg)
  end)
end)

describe("crater.schema.compile, more keywords", function()
  it("if/then/else, contains, dependentRequired, unevaluatedProperties", function()
    local v = schema.compile({ ["if"] = { properties = { kind = { const = "a" } } },
      ["then"] = { required = { "a" } }, ["else"] = { required = { "b" } } })
    assert.is_true((v({ kind = "a", a = 1 })))
    assert.is_false((v({ kind = "a", b = 1 })))
    assert.is_true((v({ kind = "x", b = 1 })))
    local c = schema.compile({ contains = { type = "integer" }, minContains = 2 })
    assert.is_true((c(json.array { 1, "a", 2 })))
    assert.is_false((c(json.array { 1, "a" })))
    local d = schema.compile({ dependentRequired = { card = { "cvv" } } })
    assert.is_false((d({ card = "x" })))
    local u = schema.compile({ allOf = { { properties = { a = true } } },
      anyOf = { { properties = { b = { type = "integer" } }, required = { "b" } }, true },
      unevaluatedProperties = false })
    assert.is_true((u({ a = 1, b = 2 })))
    assert.is_false((u({ a = 1, b = "x" })))   -- b's branch failed: b is unevaluated
    local ok, e = u({ a = 1, c = 1 })
    assert.is_false(ok)
    assert.are.equal("/c", e[1].pointer)
  end)

  it("unevaluatedItems and unevaluatedProperties see through applicators", function()
    local function t(sch, data, want)
      local ok = schema.compile(json.decode(sch))(json.decode(data))
      assert(ok == want, sch .. " with " .. data .. " should be " .. tostring(want))
    end
    t('{"prefixItems": [true], "unevaluatedItems": false}', "[1]", true)
    t('{"prefixItems": [true], "unevaluatedItems": false}', "[1,2]", false)
    t('{"allOf": [{"prefixItems": [true, true]}], "unevaluatedItems": false}', "[1,2,3]", false)
    t('{"anyOf": [{"prefixItems": [{"const": "a"}]}, {"prefixItems": [true, {"const": "b"}]}],'
      .. ' "unevaluatedItems": false}', '["a", "b"]', true)
    t('{"anyOf": [{"prefixItems": [{"const": "a"}]}, {"prefixItems": [true, {"const": "b"}]}],'
      .. ' "unevaluatedItems": false}', '["a", "c"]', false)
    t('{"contains": {"type": "string"}, "unevaluatedItems": {"type": "integer"}}', '[1, "a", true]', false)
    t('{"$defs": {"p": {"prefixItems": [true]}}, "$ref": "#/$defs/p", "unevaluatedItems": false}', "[1,2]", false)
    local ite = '{"if": {"properties": {"a": {"const": 1}}, "required": ["a"]}, "then": {"properties": {"b": true}},'
      .. ' "else": {"properties": {"c": true}}, "unevaluatedProperties": false}'
    t(ite, '{"a": 1, "b": 2}', true)
    t(ite, '{"a": 1, "c": 2}', false)
    t(ite, '{"c": 2}', true)
    t('{"dependentSchemas": {"a": {"properties": {"b": true}}}, "properties": {"a": true},'
      .. ' "unevaluatedProperties": false}', '{"a": 1, "b": 2}', true)
  end)

  it("compiles large and deep schemas", function()
    local props = {}
    for i = 1, 500 do props["p" .. i] = s.object { a = s.array(s.object { c = s.integer { minimum = 0 } }) } end
    local v = schema.compile(s.object { big = s.object(props) })
    local value = {}
    for i = 1, 500 do value["p" .. i] = { a = json.array { { c = 1 } } } end
    assert.is_true((v({ big = value })))
    value.p321.a[1].c = -1
    local _, e = v({ big = value })
    assert.are.same({ "/big/p321/a/0/c minimum" }, errs(e))
    local deep, inst = s.string(), "x"
    for _ = 1, 30 do deep = s.object { n = deep }; inst = { n = inst } end
    assert.is_true((schema.compile(deep)(inst)))
  end)

  it("works in stock luajit with only lua-cjson", function()
    -- No crater/_json.so on the path: the module falls back to cjson.null and
    -- accepts an empty table as both array and object.
    local script = [[
      local s = require "crater.schema"
      local cjson = require "cjson"
      assert(not s.arrays_marked and s.json_null == cjson.null)
      local v = s.compile(s.object { tags = s.array(s.string()), meta = s.object {}, n = s.null() })
      assert(v(cjson.decode('{"tags":[],"meta":{},"n":null}')))
      assert(v(cjson.decode('{"tags":{},"meta":[],"n":null}')))
      assert(not v(cjson.decode('{"tags":[1],"meta":{},"n":null}')))
      print("ok")
    ]]
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(script)
    f:close()
    local p = io.popen("cd lua && LUA_PATH='./?.lua;;' LUA_CPATH='/nonexistent/?.so;;' luajit " .. path .. " 2>&1")
    local out = p:read("*a")
    p:close()
    os.remove(path)
    assert.are.equal("ok\n", out)
  end)
end)

describe("crater.schema.shaper", function()
  local User = s.object {
    id = s.integer(), name = s.string(),
    roles = s.array(s.object { name = s.string() }),
    tags = s.optional(s.array(s.string())),
  }

  it("drops undeclared fields at every depth, without changing the input", function()
    local row = { id = 1, name = "a", password = "secret",
                  roles = json.array { { name = "admin", internal = true } } }
    local shape = schema.shaper(User)
    local out, dropped = shape(row)
    assert.are.same({ id = 1, name = "a", roles = { { name = "admin" } } }, out)
    table.sort(dropped)
    assert.are.same({ "/password", "/roles/0/internal" }, dropped)
    assert.are.equal("secret", row.password)
    assert.is_true(row.roles[1].internal)
    assert.are.equal('[{"name":"admin"}]', json.encode(out.roles))
  end)

  it("returns the same table when nothing is dropped", function()
    local row = { id = 1, name = "a", roles = json.array {} }
    local out, dropped = schema.shaper(User)(row)
    assert.are.equal(row, out)
    assert.is_nil(dropped)
  end)

  it("turns empty tables into arrays where the schema says array", function()
    local out = schema.shaper(User)({ id = 1, name = "a", roles = {}, tags = {} })
    assert.are.equal("[]", json.encode(out.roles))
    assert.are.equal("[]", json.encode(out.tags))
  end)

  it("keeps what additionalProperties allows, follows $ref, allOf and anyOf", function()
    local Base = s.define("Base", s.object { id = s.integer() })
    local Both = s.all_of { s.ref("Base"), s.object { name = s.string() } }
    local out, dropped = schema.shaper(Both, { components = { Base = Base } })({ id = 1, name = "x", pw = 1 })
    assert.are.same({ id = 1, name = "x" }, out)
    assert.are.same({ "/pw" }, dropped)
    out = schema.shaper(s.object({ a = s.integer() }, { additionalProperties = true }))({ a = 1, b = 2 })
    assert.are.same({ a = 1, b = 2 }, out)
    local either = schema.shaper(s.any_of { s.object { kind = s.const("a"), a = s.integer() },
                                            s.object { kind = s.const("b"), b = s.integer() } })
    out = either({ kind = "b", b = 2, a = 1, z = 0 })
    assert.are.same({ kind = "b", b = 2 }, out)
  end)
end)

-- Each case here is a disagreement with ajv that spec/fuzz/schema_diff.py
-- found and JSON Schema 2020-12 decides for ajv; checked in both modes.
describe("crater.schema, found by differential testing", function()
  local function t(sch, data, want)
    for _, opts in ipairs({ {}, { all_errors = false } }) do
      local ok, errs = schema.compile(json.decode(sch), opts)(json.decode(data))
      assert(ok == want, sch .. " with " .. data .. " should be " .. tostring(want)
        .. (opts.all_errors == false and " (all_errors = false)" or ""))
      assert((errs == nil) == want)
    end
  end

  it("additionalProperties evaluates every key for unevaluatedProperties", function()
    t('{"additionalProperties": {"type": "number"}, "unevaluatedProperties": false}', '{"a": -1}', true)
    t('{"additionalProperties": true, "unevaluatedProperties": false}', '{"a": -1}', true)
    t('{"properties": {"b": true}, "additionalProperties": {"anyOf": [{"type": "number"}, {"$ref": "#"}]},'
      .. ' "unevaluatedProperties": false}', '{"a": {"c": 1}, "b": 2}', true)
    t('{"additionalProperties": {"type": "number"}, "unevaluatedProperties": false}', '{"a": "x"}', false)
  end)
end)

describe("crater.schema, found by differential testing: multipleOf", function()
  it("an integer multipleOf is exact, with no float tolerance", function()
    local function ok(sch, v, opts) return (schema.compile(json.decode(sch), opts)(v)) end
    for _, opts in ipairs({ {}, { all_errors = false } }) do
      assert.is_false(ok('{"multipleOf": 10}', 2 ^ 53, opts))          -- 9007199254740992
      assert.is_true(ok('{"multipleOf": 8}', 2 ^ 53, opts))
      assert.is_false(ok('{"multipleOf": 5}', 10.0000000001, opts))
      assert.is_true(ok('{"multipleOf": 3}', -9, opts))
      assert.is_true(ok('{"multipleOf": 3}', 1e300 - 1e300 % 3, opts))
      assert.is_false(ok('{"multipleOf": 2}', 7.5, opts))
      -- fractions keep the documented tolerance
      assert.is_true(ok('{"multipleOf": 0.0001}', 0.0075, opts))
    end
  end)
end)

describe("crater.schema, found by differential testing: pointers", function()
  it("an object's key loop inside another's keeps the outer key in pointers", function()
    for _, sch in ipairs({
      '{"additionalProperties": {"unevaluatedProperties": false}}',
      '{"additionalProperties": {"additionalProperties": false}}',
      '{"patternProperties": {"^.$": {"propertyNames": {"maxLength": 0}}}}',
    }) do
      local _, e = schema.compile(json.decode(sch))(json.decode('{"q": {"r": 1}}'))
      assert.are.equal("/q/r", e[1].pointer)
      _, e = schema.compile(json.decode(sch), { all_errors = false })(json.decode('{"q": {"r": 1}}'))
      assert.are.equal("/q/r", e[1].pointer)
    end
  end)
end)

describe("crater.schema, found by differential testing: $ref beside applicators", function()
  it("unevaluated* see the keywords beside a $ref, not only its target", function()
    local function t(sch, data, want)
      for _, opts in ipairs({ {}, { all_errors = false } }) do
        local ok = schema.compile(json.decode(sch), opts)(json.decode(data))
        assert(ok == want, sch .. " with " .. data .. " should be " .. tostring(want))
      end
    end
    t('{"$ref": "#/$defs/d", "$defs": {"d": {}}, "items": {}, "unevaluatedItems": false}', "[[]]", true)
    t('{"$ref": "#/$defs/d", "$defs": {"d": {}}, "items": {"type": "integer"}, "unevaluatedItems": false}', "[1]", true)
    t('{"allOf": [{"$ref": "#/$defs/d", "prefixItems": [true]}], "$defs": {"d": {}}, "unevaluatedItems": false}',
      "[1]", true)
    t('{"allOf": [{"$ref": "#/$defs/d", "properties": {"c": true}}], "$defs": {"d": {"properties": {"b": true}}},'
      .. ' "unevaluatedProperties": false}', '{"c": 1, "b": 2}', true)
    t('{"allOf": [{"$ref": "#/$defs/d", "properties": {"c": true}}], "$defs": {"d": {"properties": {"b": true}}},'
      .. ' "unevaluatedProperties": false}', '{"c": 1, "e": 2}', false)
  end)
end)
