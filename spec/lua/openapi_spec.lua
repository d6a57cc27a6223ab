-- crater.openapi: the document built from routes (against a fake crater.host).
require("fake_host").install()
local crater = require "crater"
local openapi = require "crater.openapi"
local json = crater.json

local function doc_of(app)
  -- through the encoder, as clients see it
  return json.decode(openapi.encode(app))
end

describe("crater.openapi", function()
  it("writes info, and a 200 for a route that declares nothing", function()
    local app = crater.app { title = "T", version = "9", description = "d" }
    app:get("/", function() end)
    local d = doc_of(app)
    assert.equal("3.1.0", d.openapi)
    assert.same({ title = "T", version = "9", description = "d" }, d.info)
    assert.same({ operationId = "getRoot", responses = { ["200"] = { description = "OK" } } }, d.paths["/"].get)
  end)

  it("generates unique operationIds and keeps the app's own", function()
    local app = crater.app()
    app:get("/items/{id}", function() end)
    app:get("/things", { operationId = "getItemsById" }, function() end) -- taken first
    app:post("/a-b/c_d", function() end)
    local d = doc_of(app)
    assert.equal("getItemsById2", d.paths["/items/{id}"].get.operationId)
    assert.equal("postABCD", d.paths["/a-b/c_d"].post.operationId)
  end)

  it("refuses two routes with one operationId", function()
    local app = crater.app()
    app:get("/a", { operationId = "x" }, function() end)
    app:get("/b", { operationId = "x" }, function() end)
    assert.has_error(function() openapi.document(app) end)
  end)

  it("documents a catch-all as a plain path parameter", function()
    local app = crater.app()
    app:get("/static/{path...}", function() end)
    local op = doc_of(app).paths["/static/{path}"].get
    assert.same({ { name = "path", ["in"] = "path", required = true, schema = { type = "string" } } }, op.parameters)
  end)

  it("turns registered schemas into components referenced by $ref", function()
    local app = crater.app()
    local Item = app:schema("Item", { type = "object", properties = { name = { type = "string" } },
                                      required = json.array { "name" } })
    local List = app:schema("List", { type = "array", items = Item })
    app:post("/items", { body = Item, responses = { [201] = Item, [200] = List } }, function() end)
    local d = doc_of(app)
    local op = d.paths["/items"].post
    assert.same({ ["$ref"] = "#/components/schemas/Item" }, op.requestBody.content["application/json"].schema)
    assert.same({ ["$ref"] = "#/components/schemas/Item" }, op.responses["201"].content["application/json"].schema)
    assert.same({ ["$ref"] = "#/components/schemas/Item" }, d.components.schemas.List.items)
    assert.equal("object", d.components.schemas.Item.type)
  end)

  it("lists tables named with s.define when a route uses them", function()
    local s = require "crater.schema"
    local app = crater.app()
    local Thing = s.define("Thing", s.object { id = s.integer() })
    local Unused = s.define("Unused", s.object { x = s.string() })
    assert.is_table(Unused)
    app:get("/things", { responses = { [200] = s.array(Thing) } }, function() end)
    local d = doc_of(app)
    local schema = d.paths["/things"].get.responses["200"].content["application/json"].schema
    assert.same({ type = "array", items = { ["$ref"] = "#/components/schemas/Thing" } }, schema)
    assert.same({ "id" }, d.components.schemas.Thing.required)
    assert.is_nil(d.components.schemas.Unused)
  end)

  it("resolves s.ref to a registered schema in validation and in the document", function()
    local s = require "crater.schema"
    local app = crater.app()
    app:schema("Tag", s.string { maxLength = 3 })
    app:post("/tags", { body = s.array(s.ref("Tag")) }, function() end)
    local d = doc_of(app)
    assert.same({ ["$ref"] = "#/components/schemas/Tag" },
      d.paths["/tags"].post.requestBody.content["application/json"].schema.items)
    assert.equal(3, d.components.schemas.Tag.maxLength)
  end)

  it("adds the problem answers a route with schemas can give", function()
    local app = crater.app()
    app:post("/b", { body = { type = "object" } }, function() end)
    app:get("/q", { query = { n = { type = "integer" } } }, function() end)
    local d = doc_of(app)
    local b, q = d.paths["/b"].post.responses, d.paths["/q"].get.responses
    for _, code in ipairs({ "400", "415", "422" }) do
      assert.same({ ["$ref"] = "#/components/schemas/Problem" }, b[code].content["application/problem+json"].schema)
    end
    assert.is_nil(q["400"])
    assert.is_table(q["422"])
    assert.is_table(d.components.schemas.Problem)
    assert.is_table(d.components.schemas.ValidationError)
  end)

  it("leaves the problem schemas out when nothing uses them", function()
    local app = crater.app()
    app:get("/", function() end)
    assert.is_nil(doc_of(app).components)
  end)

  it("follows an app:error handler's declared schema", function()
    local app = crater.app()
    local E = app:schema("E", { type = "object", properties = { msg = { type = "string" } } })
    app:error(422, function() end, { schema = E, description = "bad" })
    app:error(400, function() end) -- declares nothing: no content claimed
    app:post("/b", { body = { type = "object" } }, function() end)
    local r = doc_of(app).paths["/b"].post.responses
    assert.same({ description = "bad", content = { ["application/json"] = {
      schema = { ["$ref"] = "#/components/schemas/E" } } } }, r["422"])
    assert.is_nil(r["400"].content)
    assert.is_table(r["415"].content["application/problem+json"])
  end)

  it("accepts the response forms: schema, description, false, table with schema", function()
    local app = crater.app()
    app:get("/r", { responses = {
      [200] = { type = "string" },
      [204] = "Nothing",
      [304] = false,
      [404] = { description = "gone", schema = crater.Problem },
      default = { description = "other", schema = { type = "object" } },
    } }, function() end)
    local r = doc_of(app).paths["/r"].get.responses
    assert.same({ description = "OK", content = { ["application/json"] = { schema = { type = "string" } } } }, r["200"])
    assert.same({ description = "Nothing" }, r["204"])
    assert.same({ description = "Not Modified" }, r["304"])
    assert.same({ description = "gone", content = { ["application/problem+json"] = {
      schema = { ["$ref"] = "#/components/schemas/Problem" } } } }, r["404"])
    assert.equal("other", r.default.description)
  end)

  it("writes parameters with required, description and header names as declared", function()
    local app = crater.app()
    app:get("/u/{id}", {
      params = { id = { type = "integer", description = "the id" } },
      query = { q = { type = "string" }, page = { type = "integer", default = 1 } },
      headers = { ["X-Token"] = { type = "string" } },
    }, function() end)
    local ps = doc_of(app).paths["/u/{id}"].get.parameters
    assert.same({ name = "id", ["in"] = "path", required = true, description = "the id",
                  schema = { type = "integer", description = "the id" } }, ps[1])
    assert.same({ name = "page", ["in"] = "query", schema = { type = "integer", default = 1 } }, ps[2])
    assert.same({ name = "q", ["in"] = "query", required = true, schema = { type = "string" } }, ps[3])
    assert.same({ name = "X-Token", ["in"] = "header", required = true, schema = { type = "string" } }, ps[4])
  end)

  it("keeps tags in order with the app's descriptions, and x- extensions", function()
    local app = crater.app { openapi = { tags = { { name = "b", description = "Bees" } } } }
    app:get("/1", { tags = { "a", "b" }, ["x-internal"] = true, summary = "one", deprecated = true }, function() end)
    local d = doc_of(app)
    assert.same({ { name = "b", description = "Bees" }, { name = "a" } }, d.tags)
    local op = d.paths["/1"].get
    assert.same({ "a", "b" }, op.tags)
    assert.is_true(op["x-internal"])
    assert.is_true(op.deprecated)
    assert.equal("one", op.summary)
  end)

  it("leaves out hidden routes", function()
    local app = crater.app()
    app:get("/secret", { hidden = true }, function() end)
    app:get("/open", function() end)
    local d = doc_of(app)
    assert.is_nil(d.paths["/secret"])
    assert.is_table(d.paths["/open"])
  end)

  it("writes empty arrays as [] and drops what JSON cannot hold", function()
    local app = crater.app()
    app:post("/e", { body = { type = "object", required = {}, properties = { t = { type = "array", default = {} } },
                              _private = 1, ["x-fn"] = print } }, function() end)
    local text = openapi.encode(app)
    assert.truthy(text:find('"required": []', 1, true))
    assert.truthy(text:find('"default": []', 1, true))
    assert.falsy(text:find("_private", 1, true))
    assert.falsy(text:find("x-fn", 1, true))
  end)

  it("encodes the same app the same way every time", function()
    local function build()
      local app = crater.app { title = "S" }
      for i = 1, 20 do app:get("/r" .. i, { query = { a = { type = "string" }, b = { type = "integer" } } }, function() end) end
      return openapi.encode(app)
    end
    local a = build()
    assert.equal(a, build())
    -- paths in declaration order
    assert.truthy(a:find('"/r1"', 1, true) < a:find('"/r2"', 1, true))
    assert.truthy(a:find('"/r2"', 1, true) < a:find('"/r10"', 1, true))
  end)
end)
