-- examples/bench/app.lua: the four endpoints every peer in ../shared/bench
-- implements, so Crater can be measured beside them. Input is checked by
-- route schemas (compiled once, at load), not by hand.
local crater = require "crater"
local s = require "crater.schema"

local app = crater.app { title = "bench", version = "1.0.0" }

app:get("/plaintext", function()
  return "Hello, World!"
end)

app:get("/json", function()
  return { message = "Hello, World!" }
end)

app:get("/users/{id}", {
  -- at most 15 digits: every such integer is exact in a double
  params = { id = s.integer { minimum = -999999999999999, maximum = 999999999999999 } },
}, function(req)
  local id = req.params.id
  -- %d, not .., so 15-digit ids do not print as 1.2345678901235e+14
  return { id = id, name = string.format("user%d", id) }
end)

local Item = s.object {
  name = s.string { minLength = 1, maxLength = 50 },
  price = s.number { exclusiveMinimum = 0 },
  tags = s.optional(s.array(s.string(), { maxItems = 10, default = {} })),
}

app:post("/items", { body = Item, responses = { [201] = Item } }, function(req)
  return 201, req.body
end)

return app
