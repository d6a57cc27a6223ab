-- crater.form_schema: a route's form option split into the fields req.form
-- holds and the files req.files holds, the 415 check, missing files.
local form_schema = require "crater.form_schema"
local s = require "crater.schema"

describe("crater.form_schema", function()
  it("tells file properties from fields", function()
    assert.is_true(form_schema.is_file(s.string { format = "binary" }))
    assert.is_true(form_schema.is_file(s.string { contentMediaType = "image/png" }))
    assert.is_true(form_schema.is_file(s.array(s.string { format = "binary" })))
    assert.is_false(form_schema.is_file(s.string()))
    assert.is_false(form_schema.is_file(s.array(s.integer())))
    assert.is_false(form_schema.is_file(true))
  end)

  it("splits a form into its fields and its files, required ones kept apart", function()
    local form = { type = "object", required = { "doc", "name" },
                   properties = { name = s.string(), doc = s.string { format = "binary" },
                                  extra = s.string { format = "binary" } } }
    local fields, files = form_schema.split(form)
    assert.same({ "name" }, fields.required)
    assert.same({ "name" }, (function() local k = {} for n in pairs(fields.properties) do k[#k + 1] = n end return k end)())
    assert.same({ doc = true, extra = false }, files)
    assert.same({ "doc", "name" }, form.required) -- the declared schema is left as it was
    local plain = { type = "object", properties = { a = s.string() } }
    local same, none = form_schema.split(plain)
    assert.equal(plain, same)
    assert.is_nil(none)
  end)

  it("accepts form content types only, multipart alone when files are declared", function()
    assert.is_nil(form_schema.wrong_type("application/x-www-form-urlencoded", false))
    assert.is_nil(form_schema.wrong_type("Multipart/Form-Data; boundary=x", true))
    assert.is_nil(form_schema.wrong_type(" application/x-www-form-urlencoded;charset=utf-8", false))
    assert.matches("got application/json", form_schema.wrong_type("application/json", false))
    assert.matches("no Content%-Type given", form_schema.wrong_type(nil, false))
    assert.matches("a multipart/form%-data body", form_schema.wrong_type("application/x-www-form-urlencoded", true))
  end)

  it("reports each required file that did not come, with an escaped pointer", function()
    assert.is_nil(form_schema.missing({ a = true, b = false }, { { name = "a" } }))
    local errs = form_schema.missing({ ["x/y~"] = true }, {})
    assert.equal(1, #errs)
    assert.equal("/x~1y~0", errs[1].pointer)
    assert.equal("required", errs[1].keyword)
  end)
end)
