-- crater.json: the round-trip contract (docs/json.md), number formatting
-- against a reference, UTF-8 both ways, error messages and offsets, limits.
local json = require "crater.json"
local ffi = require "ffi"
local bit = require "bit"

local encode, decode, null = json.encode, json.decode, json.null

-- A double from two 32-bit halves, so tests can reach every exponent.
local u64 = ffi.new("union { double d; uint32_t w[2]; }")
local function double_from_bits(hi, lo)
  u64.w[1], u64.w[0] = hi, lo
  return u64.d
end

-- The reference formatting: the first of C's %.15g, %.16g, %.17g that
-- reads back as x. (C's, not string.format's: LuaJIT formats numbers itself
-- and breaks exact ties upwards where C rounds them to even; both read back
-- the same, but only one can be the reference. LuaJIT's tonumber is
-- correctly rounded.)
ffi.cdef [[int snprintf(char *s, size_t n, const char *fmt, ...);]]
local cbuf = ffi.new("char[64]")
local function shortest(x)
  for prec = 15, 17 do
    ffi.C.snprintf(cbuf, 64, "%.*g", ffi.new("int", prec), ffi.new("double", x))
    local s = ffi.string(cbuf)
    if prec == 17 or tonumber(s) == x then return s end
  end
end

local function nested(open, close, n) return open:rep(n) .. close:rep(n) end

local function decode_error(text)
  local v, err, at = decode(text)
  assert.is_nil(v, "decoded " .. text:sub(1, 40) .. " without error")
  assert.is_string(err)
  return err, at
end

describe("crater.json", function()
  it("is a module table with version, encode, decode, null, array, is_array, array_mt", function()
    assert.is_string(json.version)
    for _, f in ipairs { "encode", "decode", "array", "is_array" } do assert.is_function(json[f]) end
    assert.equal("userdata", type(null))
    assert.is_table(json.array_mt)
    assert.equal(1000, json.max_depth)
    assert.same({}, json.array_mt)
  end)

  describe("round trip", function()
    -- Texts that are canonical: encode(decode(t)) must give t back byte
    -- for byte (at most one key per object, as key order is next()'s).
    local canonical = {
      "[]", "{}", "null", "true", "false", "0", "-0", "42", "-7", "0.1", "1e+300",
      "[[]]", "[{}]", "{\"a\":[]}", "{\"a\":{}}", "[null]", "[null,null,1]", "{\"a\":null}",
      "[[],{},[{}],[[null]]]", "\"a/b\"", "\"\"", "\"\\u0000\\u001f\\\"\\\\\\n\\t\\r\\b\\f\"",
      "\"héllo wörld ✓ 😀\"", "[0.3333333333333333,1.7976931348623157e+308,4.94065645841247e-324]",
      "[9007199254740991,-9007199254740991,9007199254740992,1e+100,1.5,-2.5e-05]",
      "{\"nested\":{\"deeper\":[1,[2,[3,[]]]]}}", "\"\127\"",
    }
    for _, text in ipairs(canonical) do
      it("keeps " .. text, function()
        local v, err = decode(text)
        assert.is_nil(err)
        assert.equal(text, encode(v))
      end)
    end

    it("keeps [] an array and {} an object when empty", function()
      local v = decode('{"list":[],"map":{}}')
      assert.is_true(json.is_array(v.list))
      assert.is_false(json.is_array(v.map))
      assert.equal(json.array_mt, getmetatable(v.list))
      assert.is_nil(getmetatable(v.map))
      assert.equal('[]', encode(v.list))
      assert.equal('{}', encode(v.map))
    end)

    it("keeps null as json.null through decode and encode", function()
      local v = decode('{"a":null,"b":[null,1,null]}')
      assert.equal(null, v.a)
      assert.equal(null, v.b[1])
      assert.equal(null, v.b[3])
      assert.equal(3, #v.b)
      assert.same(v, decode(encode(v)))
      assert.equal("null", encode(null))
      assert.equal(null, decode("null"))
      assert.equal("null", encode(nil))
      assert.equal("null", encode())
    end)

    it("keeps a large document equal", function()
      local doc = { items = json.array() }
      for i = 1, 3000 do
        doc.items[i] = {
          id = i, name = "item " .. i, price = i / 7, tags = { "a", "b\n" .. i },
          on = i % 2 == 0, none = null, empty = json.array(), obj = {},
        }
      end
      local back = decode(encode(doc))
      -- not assert.same: its failure message would print megabytes
      assert.is_true(require("luassert.util").deepcompare(doc, back, true))
    end)
  end)

  describe("encode numbers", function()
    it("writes integers without a fraction", function()
      assert.equal("42", encode(42))
      assert.equal("-7", encode(-7))
      assert.equal("0", encode(0))
      assert.equal("-0", encode(-0.0))
      assert.equal("1000000", encode(1e6))
      assert.equal("9007199254740991", encode(2 ^ 53 - 1))
      assert.equal("-9007199254740991", encode(-(2 ^ 53 - 1)))
    end)

    it("writes the shortest text that reads back as the same double", function()
      assert.equal("0.1", encode(0.1))
      assert.equal("0.3333333333333333", encode(1 / 3))
      assert.equal("0.30000000000000004", encode(0.1 + 0.2))
      assert.equal("9.99", encode(9.99))
      assert.equal("123.456", encode(123.456))
      assert.equal("0.0001", encode(0.0001))
      assert.equal("1e-05", encode(0.00001))
      assert.equal("1e+300", encode(1e300))
      assert.equal("9007199254740992", encode(2 ^ 53))
      assert.equal("1.152921504606847e+18", encode(2 ^ 60))
      assert.equal("1.7976931348623157e+308", encode(1.7976931348623157e308))
      assert.equal("4.94065645841247e-324", encode(5e-324)) -- 15 digits read back
      assert.equal("-2.5", encode(-2.5))
    end)

    it("matches the %.15g/%.16g/%.17g reference on 50000 random doubles", function()
      math.randomseed(42)
      for i = 1, 50000 do
        local x
        if i % 4 == 0 then
          -- human-looking decimals
          x = math.random(-999999, 999999) / 10 ^ math.random(0, 9)
        elseif i % 4 == 1 then
          -- any double in [1e-4, 1e15), where %g writes fixed notation and
          -- the encoder computes digits with integers (biased exponent
          -- 1009..1072 is 2^-14 .. 2^49)
          x = double_from_bits(bit.bor(bit.lshift(math.random(1009, 1072), 20), math.random(0, 0xfffff)),
            math.random(0, 0xffffffff))
          if i % 8 == 1 then x = -x end
        else
          x = double_from_bits(math.random(0, 0x7fefffff), math.random(0, 0xffffffff))
          if i % 2 == 0 then x = -x end
        end
        local s = encode(x)
        if x == math.floor(x) and math.abs(x) < 2 ^ 53 then
          assert.equal(string.format("%d", x), s == "-0" and "0" or s)
        else
          assert.equal(shortest(x), s)
        end
        assert.equal(x, tonumber(s))
        assert.equal(x, decode(s))
      end
    end)

    it("refuses NaN and infinities", function()
      assert.has_error(function() encode(0 / 0) end, "crater.json.encode: cannot encode NaN at $")
      assert.has_error(function() encode({ x = math.huge }) end,
        "crater.json.encode: cannot encode inf at $.x")
      assert.has_error(function() encode({ 1, -math.huge }) end,
        "crater.json.encode: cannot encode -inf at $[2]")
    end)
  end)

  describe("decode numbers", function()
    it("reads integers, fractions and exponents", function()
      assert.equal(0, decode("0"))
      assert.equal(-7, decode("-7"))
      assert.equal(0, decode("-0"))
      assert.equal("-0", encode(decode("-0")))
      assert.equal(1.5, decode("1.5"))
      assert.equal(0.1, decode("0.1"))
      assert.equal(1e300, decode("1e300"))
      assert.equal(1e300, decode("1E+300"))
      assert.equal(1.5e-7, decode("15e-8"))
      assert.equal(0, decode("1e-400"))
      assert.equal(12345678901234567890, decode("12345678901234567890"))
      assert.equal(0.1, decode("0.1000000000000000000000000000001"))
      assert.equal(tonumber("1" .. ("0"):rep(400) .. "e-400"), decode("1" .. ("0"):rep(400) .. "e-400"))
    end)

    it("agrees with tonumber on 20000 random texts", function()
      math.randomseed(7)
      for i = 1, 20000 do
        local s
        if i % 2 == 0 then
          s = string.format("%.17g", double_from_bits(math.random(0, 0x7fefffff), math.random(0, 0xffffffff)))
        else
          s = tostring(math.random(0, 99999999)) .. "." .. tostring(math.random(0, 9999999))
            .. "e" .. tostring(math.random(-30, 30))
        end
        assert.equal(tonumber(s), decode(s), s)
      end
    end)

    local bad = {
      { "01", "leading zero in number at byte 1", 1 },
      { "-01", "leading zero in number at byte 1", 1 },
      { "+1", "unexpected character '+' at byte 1", 1 },
      { ".5", "unexpected character '.' at byte 1", 1 },
      { "1.", "invalid number (no digit after '.') at byte 1", 1 },
      { "[1.e5]", "invalid number (no digit after '.') at byte 2", 2 },
      { "1e", "invalid number (no digit in exponent) at byte 1", 1 },
      { "-", "invalid number at byte 1", 1 },
      { "NaN", "unexpected character 'N' at byte 1", 1 },
      { "Infinity", "unexpected character 'I' at byte 1", 1 },
      { "-Infinity", "invalid number at byte 1", 1 },
      { "[1e400]", "number out of range at byte 2", 2 },
      { "0x10", "unexpected data after the JSON value at byte 2", 2 },
    }
    for _, case in ipairs(bad) do
      it("refuses " .. case[1], function()
        local err, at = decode_error(case[1])
        assert.equal(case[2], err)
        assert.equal(case[3], at)
      end)
    end
  end)

  describe("strings", function()
    it("escapes quote, backslash and control characters, not '/'", function()
      assert.equal([["a\"b\\c/d"]], encode('a"b\\c/d'))
      assert.equal([["\n\t\r\b\f\u0000\u0001\u001f"]], encode("\n\t\r\b\f\0\1\31"))
      assert.equal('" \127"', encode(" \127"))
      assert.equal('"</script>"', encode("</script>"))
    end)

    it("copies valid UTF-8 as is, up to 4-byte sequences", function()
      local s = "é ✓ 😀 \239\191\191 \244\143\191\191"
      assert.equal('"' .. s .. '"', encode(s))
      assert.equal(s, decode('"' .. s .. '"'))
    end)

    it("decodes every escape, surrogate pairs included", function()
      assert.equal('"\\/\b\f\n\r\t', decode([["\"\\\/\b\f\n\r\t"]]))
      assert.equal("é", decode([["\u00e9"]]))
      assert.equal("é", decode([["\u00E9"]]))
      assert.equal("\0", decode([["\u0000"]]))
      assert.equal("✓", decode([["\u2713"]]))
      assert.equal("😀", decode([["\ud83d\ude00"]]))
      assert.equal("a😀b\n", decode([["a\uD83D\uDE00b\n"]]))
      assert.equal("\239\191\191", decode([["\uffff"]]))
    end)

    it("decodes long strings, with and without escapes", function()
      local plain = ("abcdefgh"):rep(10000) .. "é"
      assert.equal(plain, decode('"' .. plain .. '"'))
      local esc = ("ab\\ncd"):rep(10000)
      assert.equal(("ab\ncd"):rep(10000), decode('"' .. esc .. '"'))
      local all = {}
      for c = 0, 127 do all[#all + 1] = string.char(c) end
      all = table.concat(all):rep(50)
      assert.equal(all, decode(encode(all)))
    end)

    it("refuses invalid UTF-8 when encoding, naming where", function()
      assert.has_error(function() encode("ab\255") end,
        "crater.json.encode: invalid UTF-8 in a string (byte 3 of 3) at $")
      assert.has_error(function() encode({ list = { "ok", "\192\128" } }) end,
        "crater.json.encode: invalid UTF-8 in a string (byte 1 of 2) at $.list[2]")
      assert.has_error(function() encode({ ["k\237\160\128"] = 1 }) end,
        "crater.json.encode: invalid UTF-8 in a key (byte 2 of 4) at $")
    end)

    local bad_utf8 = {
      { "\128", "lone continuation byte" },
      { "\192\175", "overlong 2-byte" },
      { "\224\128\175", "overlong 3-byte" },
      { "\240\128\128\175", "overlong 4-byte" },
      { "\237\160\128", "UTF-16 surrogate" },
      { "\244\144\128\128", "above U+10FFFF" },
      { "\245\128\128\128", "lead byte F5" },
      { "\255", "byte FF" },
      { "\226\130", "truncated 3-byte" },
      { "\195", "truncated at the end" },
      { "\195(", "bad continuation" },
    }
    for _, case in ipairs(bad_utf8) do
      it("refuses invalid UTF-8 when decoding (" .. case[2] .. ")", function()
        local err, at = decode_error('"ab' .. case[1] .. '"')
        assert.equal("invalid UTF-8 at byte 4", err)
        assert.equal(4, at)
        local err2 = decode_error('"a\\n' .. case[1] .. '"')
        assert.equal("invalid UTF-8 at byte 5", err2)
        assert.has_error(function() encode(case[1]) end)
      end)
    end

    local bad = {
      { '"a\nb"', "control character 0x0a in string (escape it) at byte 3", 3 },
      { '"a\\n\tb"', "control character 0x09 in string (escape it) at byte 5", 5 },
      { '"\0"', "control character 0x00 in string (escape it) at byte 2", 2 },
      { '"abc', "unexpected end of input at byte 5", 5 },
      { '"ab\\', "unexpected end of input at byte 5", 5 },
      { '"a\\q"', "invalid escape: backslash and 'q' at byte 4", 4 },
      { '"\\u12"', "invalid \\u escape (4 hex digits expected) at byte 2", 2 },
      { '"\\u12G4"', "invalid \\u escape (4 hex digits expected) at byte 2", 2 },
      { '"x\\ud800"', "lone UTF-16 high surrogate in \\u escape at byte 3", 3 },
      { '"\\ud800\\u0041"', "lone UTF-16 high surrogate in \\u escape at byte 2", 2 },
      { '"\\ud800\\ud800"', "lone UTF-16 high surrogate in \\u escape at byte 2", 2 },
      { '"\\udc00"', "lone UTF-16 low surrogate in \\u escape at byte 2", 2 },
      { "'a'", "unexpected character ''' at byte 1", 1 },
    }
    for _, case in ipairs(bad) do
      it("refuses " .. case[1]:gsub("%c", "?"), function()
        local err, at = decode_error(case[1])
        assert.equal(case[2], err)
        assert.equal(case[3], at)
      end)
    end
  end)

  describe("tables", function()
    it("writes an empty table as {} and json.array() as []", function()
      assert.equal("{}", encode({}))
      assert.equal("[]", encode(json.array()))
      assert.equal("[]", encode(json.array({})))
      assert.equal('{"a":{},"b":[]}', encode({ a = {}, b = json.array() }):gsub('"b":%[%],"a":{}', '"a":{},"b":[]'))
    end)

    it("writes keys exactly 1..n as an array, in order", function()
      assert.equal("[1,2,3]", encode({ 1, 2, 3 }))
      local t = {}
      for i = 1, 100 do t[i] = i end
      assert.equal("[" .. table.concat(t, ",") .. "]", encode(t))
      -- built backwards: the integer keys start in the hash part
      local r = {}
      for i = 100, 1, -1 do r[i] = i end
      assert.equal("[" .. table.concat(t, ",") .. "]", encode(r))
      assert.equal('["x"]', encode({ [1] = "x" }))
    end)

    it("writes any other table as an object, number keys as strings", function()
      assert.same({ ["1"] = 1, ["2"] = 2, x = 3 }, decode(encode({ 1, 2, x = 3 })))
      assert.same({ ["1"] = "a", ["3"] = "c" }, decode(encode({ [1] = "a", [3] = "c" })))
      assert.same({ ["0"] = "z", ["1"] = "a" }, decode(encode({ [0] = "z", "a" })))
      assert.same({ ["-1"] = 1, ["1.5"] = 2 }, decode(encode({ [-1] = 1, [1.5] = 2 })))
      assert.same({ a = 1, ["2"] = 2 }, decode(encode({ a = 1, [2] = 2 })))
    end)

    it("writes a json.array of #t values, nil holes as null", function()
      assert.equal("[1,null,3]", encode(json.array({ 1, null, 3 })))
      local t = json.array({ 1, 2, 3 })
      t.name = "ignored"
      assert.equal("[1,2,3]", encode(t))
    end)

    it("ignores other metatables", function()
      local obj = setmetatable({ a = 1 }, { __index = function() return "x" end, __len = function() return 9 end })
      assert.equal('{"a":1}', encode(obj))
      assert.equal("[1]", encode(setmetatable({ 1 }, {})))
    end)

    it("refuses keys other than strings and numbers, naming the table", function()
      assert.has_error(function() encode({ [true] = 1 }) end,
        "crater.json.encode: cannot encode a boolean key at $")
      assert.has_error(function() encode({ a = { b = { [{}] = 1 } } }) end,
        "crater.json.encode: cannot encode a table key at $.a.b")
    end)

    it("refuses values JSON cannot hold, with a Lua path", function()
      assert.has_error(function() encode({ items = { {}, { cb = print } } }) end,
        "crater.json.encode: cannot encode a function at $.items[2].cb")
      assert.has_error(function() encode({ ["a b"] = { [7] = coroutine.create(print) } }) end,
        'crater.json.encode: cannot encode a thread at $["a b"][7]')
      assert.has_error(function() encode(io.stdout) end, "crater.json.encode: cannot encode a userdata at $")
      assert.has_error(function() encode(ffi.new("int[1]")) end, "crater.json.encode: cannot encode a cdata at $")
      assert.has_error(function() encode(ffi.cast("void *", 1)) end)
    end)

    it("reports errors at the caller's line", function()
      local ok, err = pcall(function()
        local s = encode({ print })
        return s
      end)
      assert.is_false(ok)
      assert.matches("^[^:]*json_spec%.lua:%d+: crater%.json%.encode", err)
    end)

    it("decodes duplicate keys as the last one", function()
      assert.same({ a = 2 }, decode('{"a":1,"a":2}'))
      local parts = {}
      for i = 1, 100 do parts[#parts + 1] = '"k' .. (i % 10) .. '":' .. i end
      local v = decode("{" .. table.concat(parts, ",") .. "}")
      for i = 91, 100 do assert.equal(i, v["k" .. (i % 10)]) end
    end)

    it("decodes big arrays and objects", function()
      local arr, obj = {}, {}
      for i = 1, 5000 do
        arr[i] = tostring(i)
        obj[#obj + 1] = '"k' .. i .. '":' .. i
      end
      local a = decode("[" .. table.concat(arr, ",") .. "]")
      assert.equal(5000, #a)
      for i = 1, 5000 do assert.equal(i, a[i]) end
      local o = decode("{" .. table.concat(obj, ",") .. "}")
      for i = 1, 5000 do assert.equal(i, o["k" .. i]) end
    end)

    -- Found by spec/fuzz/fuzz_json.c: each table that looked like an array
    -- from its key 1 and then was not encoded its first value twice, so
    -- nesting them took 2^depth steps (22 levels: over a second; this one
    -- would not finish).
    it("encodes nested tables that start like arrays but are not, in linear time", function()
      local t = { [1] = 0, [3] = 0 }
      for _ = 1, 200 do t = { [1] = t, [3] = "x" } end
      local v = decode(encode(t))
      for _ = 1, 200 do
        assert.equal("x", v["3"])
        v = v["1"]
      end
      assert.same({ ["1"] = 0, ["3"] = 0 }, v)
      local lists = { 1, 2 }
      for _ = 1, 200 do lists = { lists, { [1] = 1, [2] = 2, [4] = 4 } } end
      assert.same({ ["1"] = 1, ["2"] = 2, ["4"] = 4 }, decode(encode(lists[2])))
      local text = encode(lists)
      assert.equal(#text, #encode(decode(text)))
    end)
  end)

  describe("is_array and array", function()
    it("says what encode would do", function()
      assert.is_true(json.is_array(json.array()))
      assert.is_true(json.is_array({ 1, 2 }))
      assert.is_false(json.is_array({}))
      assert.is_false(json.is_array({ 1, x = 2 }))
      assert.is_false(json.is_array({ [2] = 1 }))
      assert.is_false(json.is_array("[]"))
      assert.is_false(json.is_array(nil))
    end)

    it("marks a table in place and returns it", function()
      local t = { 1 }
      assert.equal(t, json.array(t))
      assert.equal(json.array_mt, getmetatable(t))
      assert.equal(t, json.array(t))
    end)

    it("refuses a non-table or a table with another metatable", function()
      assert.has_error(function() json.array("x") end, "crater.json.array: table expected, got string")
      assert.has_error(function() json.array(setmetatable({}, {})) end,
        "crater.json.array: the table already has a metatable")
    end)
  end)

  describe("depth", function()
    it("allows 1000 levels and refuses 1001 when decoding", function()
      assert.is_table(decode(nested("[", "]", 1000)))
      assert.is_table(decode(("{\"a\":"):rep(999) .. "{}" .. ("}"):rep(999)))
      local err, at = decode_error(nested("[", "]", 1001))
      assert.equal("nesting deeper than 1000 at byte 1001", err)
      assert.equal(1001, at)
      -- 500 x '[{"a":' is 3000 bytes and 1000 levels: the next '[' is too deep
      local err2, at2 = decode_error(("[{\"a\":"):rep(500) .. "[]" .. ("}]"):rep(500))
      assert.equal("nesting deeper than 1000 at byte 3001", err2)
      assert.equal(3001, at2)
    end)

    it("allows 1000 levels and refuses 1001 when encoding", function()
      local t = json.array()
      local inner = t
      for _ = 2, 1000 do
        local n = json.array()
        inner[1] = n
        inner = n
      end
      assert.equal(nested("[", "]", 1000), encode(t))
      inner[1] = {}
      assert.has_error(function() encode(t) end)
      local ok, err = pcall(encode, t)
      assert.is_false(ok)
      assert.matches("nesting deeper than 1000 %(a cycle%?%) at %$%[1%]%[1%]", err)
      assert.matches("%.%.%.$", err)
    end)

    it("decodes 1000 levels that each hold many values (the Lua stack budget)", function()
      local v, err = decode(("[" .. ("1,"):rep(31)):rep(1000) .. "0" .. ("]"):rep(1000))
      assert.is_nil(err)
      local depth = 0
      while type(v) == "table" do
        assert.equal(32, #v)
        depth, v = depth + 1, v[32]
      end
      assert.equal(1000, depth)
      local pairs15 = {}
      for i = 1, 15 do pairs15[i] = '"k' .. i .. '":' .. i end
      local o, err2 = decode(("{" .. table.concat(pairs15, ",") .. ',"z":'):rep(1000) .. "0" .. ("}"):rep(1000))
      assert.is_nil(err2)
      depth = 0
      while type(o) == "table" do
        assert.equal(15, o.k15)
        depth, o = depth + 1, o.z
      end
      assert.equal(1000, depth)
    end)

    it("refuses a cycle", function()
      local a = { name = "a" }
      a.self = a
      assert.has_error(function() encode(a) end)
      local b = {}
      b[1] = b
      local ok, err = pcall(encode, b)
      assert.is_false(ok)
      assert.matches("nesting deeper than 1000", err)
    end)
  end)

  describe("decode", function()
    it("accepts RFC 8259 whitespace around values", function()
      assert.same({ a = { 1, 2 } }, decode(' \t\r\n{ "a" : [ 1 , 2 ] } \n'))
      assert.equal(true, decode("\ntrue\t"))
    end)

    local bad = {
      { "", "unexpected end of input at byte 1", 1 },
      { "   ", "unexpected end of input at byte 4", 4 },
      { "\12 1", "unexpected character 0x0c at byte 1", 1 },
      { "\11 1", "unexpected character 0x0b at byte 1", 1 },
      { "\239\187\191{}", "unexpected character 0xef at byte 1", 1 },
      { "\194\160 1", "unexpected character 0xc2 at byte 1", 1 },
      { "[1,]", "unexpected character ']' at byte 4", 4 },
      { "[1 2]", "unexpected character '2' in array (expected ',' or ']') at byte 4", 4 },
      { '{"a":1,}', "unexpected character '}' in object (expected a string key) at byte 8", 8 },
      { "{a:1}", "unexpected character 'a' in object (expected a string key) at byte 2", 2 },
      { '{"a" 1}', "unexpected character '1' after object key (expected ':') at byte 6", 6 },
      { '{"a":1 "b":2}', "unexpected character '\"' in object (expected ',' or '}') at byte 8", 8 },
      { "[1", "unexpected end of input at byte 3", 3 },
      { '{"a":', "unexpected end of input at byte 6", 6 },
      { '{"a"', "unexpected end of input at byte 5", 5 },
      { "tru", "unexpected end of input at byte 4", 4 },
      { "nul", "unexpected end of input at byte 4", 4 },
      { "trUe", "invalid literal at byte 1", 1 },
      { "[nil]", "invalid literal at byte 2", 2 },
      { "{} {}", "unexpected data after the JSON value at byte 4", 4 },
      { "1 2", "unexpected data after the JSON value at byte 3", 3 },
      { "[1]\0", "unexpected data after the JSON value at byte 4", 4 },
      { "truex", "unexpected data after the JSON value at byte 5", 5 },
      { "/* c */ 1", "unexpected character '/' at byte 1", 1 },
    }
    for _, case in ipairs(bad) do
      it("refuses " .. case[1]:gsub("[%c\128-\255]", "?") .. " with the byte offset", function()
        local err, at = decode_error(case[1])
        assert.equal(case[2], err)
        assert.equal(case[3], at)
      end)
    end

    it("raises for a non-string argument", function()
      assert.has_error(function() decode(nil) end)
      assert.has_error(function() decode(42) end)
      assert.has_error(function() decode({}) end)
    end)

    it("returns nothing but the value on success", function()
      assert.equal(1, select("#", decode("[1]")))
      assert.equal(3, select("#", decode("[1")))
    end)
  end)

  describe("locale", function()
    -- An embedder may call setlocale(); C's printf and strtod then use its
    -- decimal point. Runs where de_DE.UTF-8 exists (or LOCPATH points to a
    -- directory with one made by `localedef -i de_DE -f UTF-8 DIR/de_DE.UTF-8`).
    it("writes and reads '.' under a decimal-comma LC_NUMERIC", function()
      local old = os.setlocale(nil, "numeric")
      if not os.setlocale("de_DE.UTF-8", "numeric") then
        pending("locale de_DE.UTF-8 is not installed")
        return
      end
      local ok, err = pcall(function()
        for _, x in ipairs { 0.5, 1 / 3, 1e-7, 1.5e300, 2 ^ 60, 123.456 } do
          local s = encode(x)
          assert(not s:find(",", 1, true), s)
          assert.equal(x, decode(s))
        end
        assert.equal(0.14285714285714285, decode("[0.14285714285714285]")[1])
        assert.equal(1.2345678901234567e-200, decode("1.2345678901234567e-200"))
      end)
      os.setlocale(old, "numeric")
      assert(ok, err)
    end)
  end)

  describe("memory", function()
    it("survives a finalizer that calls the codec in the middle of a call", function()
      -- LuaJIT may run finalizers inside our allocations (lua_pushlstring,
      -- lua_createtable); one that uses crater.json must not clobber the
      -- scratch buffer of the call it interrupts.
      local busy, inside = false, 0
      local function finalizer()
        if busy then inside = inside + 1 end
        assert(encode({ "finalizer", { x = 1.5 } }) == '["finalizer",{"x":1.5}]')
        assert(decode('"fin\\nalizer"') == "fin\nalizer")
      end
      local doc = {}
      for i = 1, 200 do doc[i] = "line\n" .. i .. ("x"):rep(i) end
      local text = encode(doc)
      local pause = collectgarbage("setpause", 10)
      for _ = 1, 200 do
        for _ = 1, 50 do
          local p = newproxy(true)
          getmetatable(p).__gc = finalizer
        end
        busy = true
        local s = encode(doc)
        local v = decode(text)
        busy = false
        assert.equal(text, s)
        assert.same(doc, v)
      end
      collectgarbage("setpause", pause)
      collectgarbage()
      assert.is_true(inside > 0, "no finalizer ran inside a call: the test proves nothing")
    end)

    it("recovers its buffer after errors and after big documents", function()
      local big = { ("x"):rep(3 * 1024 * 1024) }
      for _ = 1, 5 do
        assert.equal(3 * 1024 * 1024 + 4, #encode(big))
        assert.is_false(pcall(encode, { big[1], print }))
        assert.equal("[1]", encode({ 1 }))
      end
    end)
  end)
end)
