-- crater.route_schema: route options -> schemas, and the wrapper's answers
-- (against a fake crater.host; the e2e spec covers the same over sockets).
local host = require("fake_host").install()
local crater = require "crater"
local route_schema = require "crater.route_schema"
local s = require "crater.schema"
local json = crater.json
local call = host.call

local function dispatcher(app) return require("crater.app").entry(app, "spec") end

describe("crater.route_schema", function()
  it("recognises JSON media types", function()
    for _, ok in ipairs({ "application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
                          " application/json", "application/problem+json", "application/vnd.api+json" }) do
      assert.is_true(route_schema.is_json(ok), ok)
    end
    for _, no in ipairs({ "text/plain", "application/jsonx", "application/xml", "json", "" }) do
      assert.is_false(route_schema.is_json(no), no)
    end
    assert.is_false(route_schema.is_json(nil))
  end)

  it("turns a map of parameters into an object schema", function()
    local spec = route_schema.normalize({
      params = { id = s.integer() },
      query = { a = s.string(), b = s.optional(s.string()), c = s.integer { default = 1 } },
    })
    assert.same({ "id" }, spec.params.required)
    assert.same({ "a" }, spec.query.required)
    assert.equal("integer", spec.query.properties.c.type)
    assert.equal("string", spec.query.properties.b.type) -- unwrapped
    assert.is_nil(spec.headers)
  end)

  it("takes a whole object schema as it is", function()
    local obj = s.object { q = s.string() }
    assert.equal(obj, route_schema.normalize({ query = obj }).query)
  end)

  it("refuses params the path does not have, naming the route", function()
    local app = crater.app()
    assert.has_error(function()
      app:get("/x/{id}", { params = { ID = s.integer() } }, function() end)
    end, "route /x/{id}: params declares 'ID', which is not a parameter of the path")
  end)

  it("refuses a schema that is not a table", function()
    local app = crater.app()
    assert.has_error(function() app:get("/q", { query = { n = 5 } }, function() end) end)
  end)

  it("leaves a route without schemas unwrapped", function()
    local app = crater.app()
    local h = function() end
    app:get("/plain", h)
    assert.equal(h, app._routes[1].handler)
  end)

  it("answers 422 with every error, 400 with the offset, 415 without JSON", function()
    local app = crater.app()
    app:post("/t/{n}", { params = { n = s.integer() }, query = { f = s.boolean() },
                         body = s.object { a = s.string() } }, function(req) return req.body end)
    local d = dispatcher(app)
    local st, body, ctype = call(d, "POST", "/t/x?f=no", { headers = { "Content-Type", "application/json" }, body = "{}" })
    assert.equal(422, st)
    assert.equal("application/problem+json", ctype)
    local doc = json.decode(body)
    local where = {}
    for _, e in ipairs(doc.errors) do where[#where + 1] = e["in"] .. e.pointer end
    table.sort(where)
    assert.same({ "body/a", "params/n", "query/f" }, where)
    st, body = call(d, "POST", "/t/1?f=true", { headers = { "Content-Type", "application/json" }, body = "[1," })
    assert.equal(400, st)
    assert.equal(4, json.decode(body).offset) -- ends too early: #text + 1
    st = call(d, "POST", "/t/1?f=true", { body = "{}" })
    assert.equal(415, st)
    st, body = call(d, "POST", "/t/1?f=true", { headers = { "Content-Type", "application/json" }, body = '{"a":"z"}' })
    assert.same({ 200, { a = "z" } }, { st, json.decode(body) })
  end)

  it("validates through s.ref to a schema registered with app:schema", function()
    local app = crater.app()
    app:schema("Tag", s.string { maxLength = 3 })
    app:post("/tags", { body = s.array(s.ref("Tag")) }, function(req) return req.body end)
    local d = dispatcher(app)
    local h = { "Content-Type", "application/json" }
    local st, body = call(d, "POST", "/tags", { headers = h, body = '["ok","long"]' })
    assert.equal(422, st)
    assert.equal("/1", json.decode(body).errors[1].pointer)
    st = call(d, "POST", "/tags", { headers = h, body = '["ok"]' })
    assert.equal(200, st)
  end)

  it("keeps the bytes received as req.raw_body and the value for req:json()", function()
    local app = crater.app()
    app:post("/raw", { body = s.object { a = s.integer { default = 1 } } }, function(req)
      return { raw = req.raw_body, json = req:json(), same = req:json() == req.body }
    end)
    local _, body = call(dispatcher(app), "POST", "/raw",
      { headers = { "Content-Type", "application/json" }, body = "{ }" })
    assert.same({ raw = "{ }", json = { a = 1 }, same = true }, json.decode(body))
  end)

  it("shapes by 2XX and default too, and refuses a bad response schema at load", function()
    local app = crater.app()
    local Named = s.object { name = s.string() }
    app:get("/r", { responses = { ["2XX"] = Named, default = s.object { code = s.integer() } } }, function(req)
      if req.query.fail then return 500, { code = 1, trace = "x" } end
      return 202, { name = "n", pw = "x" }
    end)
    local d = dispatcher(app)
    local st, body = call(d, "GET", "/r")
    assert.same({ 202, { name = "n" } }, { st, json.decode(body) })
    st, body = call(d, "GET", "/r?fail=1")
    assert.same({ 500, { code = 1 } }, { st, json.decode(body) })
    assert.has_error(function()
      app:get("/bad", { responses = { default = s.ref("Missing") } }, function() end)
    end)
  end)

  it("shapes a declared status and leaves the others", function()
    local app = crater.app()
    app:get("/u", { responses = { [200] = s.object { name = s.string() } } }, function(req)
      if req.query.other then return 201, { name = "n", pw = "x" } end
      return { name = "n", pw = "x" }
    end)
    local d = dispatcher(app)
    assert.same({ name = "n" }, json.decode((select(2, call(d, "GET", "/u")))))
    assert.same({ name = "n", pw = "x" }, json.decode((select(2, call(d, "GET", "/u?other=1")))))
  end)
end)
