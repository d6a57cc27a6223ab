-- contentEncoding / contentMediaType / contentSchema asserted with
-- compile's assert_content (lua/crater/schema/content.lua); annotations
-- without it (the suite's content.json runs in schema_conformance_spec).
local schema = require "crater.schema"
local content = require "crater.schema.content"

describe("crater.schema content keywords", function()
  it("decodes RFC 4648 base64, padded, and refuses anything else", function()
    assert.are.equal("hello", content.base64_decode("aGVsbG8="))
    assert.are.equal("hell", content.base64_decode("aGVsbA=="))
    assert.are.equal("hello!", content.base64_decode("aGVsbG8h"))
    assert.are.equal("", content.base64_decode(""))
    assert.are.equal("\255\254\253", content.base64_decode("//79"))
    for _, bad in ipairs { "aGVsbG8", "aGVsbA=", "aGVsbB==", "aGVs bG8=", "aGVs\nbG8=", "a===", "=aGV", "aG=s", "-_-_" } do
      assert.is_nil(content.base64_decode(bad), bad)
    end
  end)

  it("knows JSON media types", function()
    assert.is_true(content.is_json("application/json"))
    assert.is_true(content.is_json("Application/JSON; charset=utf-8"))
    assert.is_true(content.is_json("application/problem+json"))
    assert.is_false(content.is_json("text/plain"))
  end)

  local field = { type = "string", contentEncoding = "base64", contentMediaType = "application/json",
    contentSchema = { type = "object", properties = { n = { type = "integer" } }, required = { "n" } } }

  for _, all in ipairs { true, false } do
    it("checks them when asked (all_errors = " .. tostring(all) .. ")", function()
      local v = schema.compile(field, { assert_content = true, all_errors = all })
      assert.is_true((v("eyJuIjo1fQ==")))                      -- {"n":5}
      local cases = {
        ["eyJuIjoiNSJ9"] = "contentSchema",                     -- {"n":"5"}
        ["bnVsbA=="] = "contentSchema",                         -- null
        ["e30="] = "contentSchema",                             -- {}
        ["eyJuIjo1"] = "contentMediaType",                      -- {"n":5 (cut)
        ["%%%%"] = "contentEncoding",
      }
      for input, keyword in pairs(cases) do
        local ok, errs = v(input)
        assert.is_false(ok, input)
        assert.are.equal(keyword, errs[#errs].keyword, input)
        assert.are.equal("", errs[#errs].pointer)
      end
      assert.is_false((v(5)))                                   -- still a string first
    end)
  end

  it("are annotations by default, and other encodings and types pass", function()
    assert.is_true((schema.compile(field)("%%%%")))
    local v = schema.compile({ contentMediaType = "text/html", contentEncoding = "quoted-printable" },
      { assert_content = true })
    assert.is_true((v("=ZZ not checked")))
    local only_json = schema.compile({ contentMediaType = "application/json" }, { assert_content = true })
    assert.is_true((only_json('{"a":[1,2]}')))
    assert.is_false((only_json("{a:1}")))
    assert.is_true((only_json(42)))                             -- not a string: not checked
  end)

  it("resolves a contentSchema's $ref against the document", function()
    local v = schema.compile({
      ["$defs"] = { point = { type = "array", items = { type = "number" }, minItems = 2 } },
      type = "string", contentMediaType = "application/json", contentSchema = { ["$ref"] = "#/$defs/point" },
    }, { assert_content = true })
    assert.is_true((v("[1, 2.5]")))
    assert.is_false((v("[1]")))
  end)
end)
