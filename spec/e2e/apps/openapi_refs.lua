-- Schemas with $id, referred to by URI (spec/e2e/test_openapi.py): route
-- schemas $ref app schemas by their $id, an app schema refers to another
-- by a relative URI and into itself by JSON Pointer, and /openapi.json
-- bundles them into components (valid for redocly).
local crater = require "crater"

local app = crater.app { title = "schemas by URI", version = "1.0.0" }

app:schema("Address", {
  ["$id"] = "https://example.test/schemas/address",
  type = "object",
  required = { "zip" },
  properties = { zip = { ["$ref"] = "#/$defs/zip" }, city = { type = "string" } },
  ["$defs"] = { zip = { type = "string", pattern = "^[0-9]{5}$" } },
})

app:schema("Customer", {
  ["$id"] = "https://example.test/schemas/customer",
  type = "object",
  required = { "name", "address" },
  properties = {
    name = { type = "string", minLength = 1 },
    address = { ["$ref"] = "address" }, -- relative to this schema's $id
  },
})

app:post("/customers", {
  summary = "Create a customer", operationId = "createCustomer",
  body = { ["$ref"] = "https://example.test/schemas/customer" },
  responses = { [201] = { ["$ref"] = "https://example.test/schemas/customer" } },
}, function(req)
  return 201, req.body
end)

app:get("/zips/{zip}", {
  summary = "Look a zip code up", operationId = "getZip",
  params = { zip = { ["$ref"] = "https://example.test/schemas/address#/$defs/zip" } },
  responses = { [200] = { type = "object", properties = { zip = { type = "string" } } } },
}, function(req)
  return { zip = req.params.zip }
end)

return app
