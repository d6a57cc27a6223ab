-- Routes with schemas for spec/e2e/test_route_schema.py: each handler tells
-- what it received (values and their Lua types), so the test sees the
-- coercion, the defaults and the shaping from outside.
local crater = require "crater"
local s = require "crater.schema"

local app = crater.app { title = "route schema spec" }

app:get("/items/{id}", {
  params = { id = s.integer { minimum = 1 } },
  query = {
    verbose = s.boolean { default = false },
    limit = s.integer { minimum = 1, maximum = 100, default = 10 },
    ratio = s.optional(s.number()),
    tag = s.array(s.string { maxLength = 5 }, { default = {} }),
  },
  headers = { ["X-Count"] = s.optional(s.integer { minimum = 0 }) },
}, function(req)
  local q = req.query
  return {
    id = req.params.id, verbose = q.verbose, limit = q.limit, ratio = q.ratio, tag = q.tag,
    count = req.headers["x-count"], count_again = req:header("X-Count"),
    types = { id = type(req.params.id), verbose = type(q.verbose), limit = type(q.limit),
              ratio = type(q.ratio), tag = type(q.tag), count = type(req.headers["X-Count"]) },
    extra = q.extra,
  }
end)

-- Array headers: comma-separated values (OpenAPI's "simple" style).
app:get("/header-lists", {
  headers = {
    ["X-Tags"] = s.array(s.string(), { default = {} }),
    ["X-Ids"] = s.optional(s.array(s.integer { minimum = 1 }, { maxItems = 3 })),
    ["X-Note"] = s.optional(s.string()),
  },
}, function(req)
  local h = req.headers
  return { tags = h["x-tags"], ids = h["X-Ids"], note = h["x-note"],
           ids_type = type(h["x-ids"] and h["x-ids"][1]) }
end)

local Thing = s.object {
  name = s.string { minLength = 1, maxLength = 10 },
  size = s.integer { minimum = 1 },
  color = s.enum { "red", "green" },
  labels = s.array(s.string(), { maxItems = 2, default = {} }),
}

app:post("/things", {
  query = { dry = s.boolean { default = false } },
  body = Thing,
  responses = { [201] = Thing },
}, function(req)
  local b = req.body
  b.secret = "do not leak"   -- dropped by the 201 schema
  return 201, b
end)

local Public = s.object {
  name = s.string(),
  friends = s.array(s.object { name = s.string() }),
}

app:get("/user", { responses = { [200] = Public } }, function()
  return { name = "ann", password = "hunter2",
           friends = { { name = "bob", password = "x" }, { name = "cy", token = "y" } } }
end)

app:get("/user-object", { responses = { [200] = Public } }, function()
  return crater.response({ name = "ann", password = "hunter2", friends = crater.json.array() }, 200)
end)

app:get("/undeclared-status", { responses = { [200] = Public } }, function()
  return 202, { anything = "goes" }
end)

app:get("/bad-response", { responses = { [200] = s.object { count = s.integer() } } }, function()
  return { count = "three" }
end)

app:post("/raw", function(req) return { got = req:json() } end)

return app
