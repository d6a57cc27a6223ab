-- examples/bench/app.lua: the four endpoints every peer in ../shared/bench
-- implements, so Crater can be measured beside them.
local crater = require "crater"
local json = crater.json

local app = crater.app { title = "bench" }

app:get("/plaintext", function()
  return "Hello, World!"
end)

app:get("/json", function()
  return { message = "Hello, World!" }
end)

app:get("/users/{id}", function(req)
  local id = req.params.id
  if not id:find("^%-?%d+$") or #id > 15 then
    crater.abort(404, "user id must be an integer")
  end
  id = tonumber(id)
  -- %d, not .., so 15-digit ids do not print as 1.2345678901235e+14
  return { id = id, name = string.format("user%d", id) }
end)

-- Validated by hand until crater.schema exists (the schema issue).
local function invalid(pointer, message)
  return 422, crater.problem(422, "the request body is invalid",
    { errors = { { where = "body", pointer = pointer, message = message } } }),
    { ["Content-Type"] = "application/problem+json" }
end

app:post("/items", function(req)
  local item = req:json()
  if type(item) ~= "table" or json.is_array(item) then return invalid("", "must be an object") end
  local name, price, tags = item.name, item.price, item.tags
  if type(name) ~= "string" then return invalid("/name", "must be a string") end
  local len = #name:gsub("[\128-\191]", "") -- code points, not bytes
  if len < 1 or len > 50 then return invalid("/name", "must be 1 to 50 characters") end
  if type(price) ~= "number" then return invalid("/price", "must be a number") end
  if not (price > 0) then return invalid("/price", "must be greater than 0") end
  if tags == nil then
    tags = json.array()
  else
    if type(tags) ~= "table" or not json.is_array(tags) then return invalid("/tags", "must be an array") end
    if #tags > 10 then return invalid("/tags", "must have at most 10 items") end
    for i = 1, #tags do
      if type(tags[i]) ~= "string" then return invalid("/tags/" .. (i - 1), "must be a string") end
    end
  end
  return 201, { name = name, price = price, tags = tags }
end)

return app
