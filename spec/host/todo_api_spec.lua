-- examples/todo-api through crater.test (no socket): route schemas, shaping
-- and the OpenAPI document behave as over a socket (spec/e2e/test_todo_api.py).
local app = dofile("examples/todo-api/app.lua")
local client = require("crater.test").client(app)

local res = client:post("/todos", { json = { title = "milk", tags = { "shop" } } })
assert(res.status == 201, res.body)
local todo = res:json()
assert(todo.id == 1 and todo.done == false and todo.owner_token == nil, res.body)

res = client:get("/todos?tag=shop&done=false")
assert(res.status == 200 and res:json().total == 1, res.body)

res = client:get("/todos/abc?limit=x")
assert(res.status == 422, res.body)
assert(res.headers["Content-Type"] == "application/problem+json")
assert(res:json().errors[1]["in"] == "params" and res:json().errors[1].pointer == "/id", res.body)

res = client:post("/todos", { body = '{"title":', headers = { ["Content-Type"] = "application/json" } })
assert(res.status == 400 and res:json().offset == 10, res.body)

res = client:post("/todos", { body = "milk", headers = { ["Content-Type"] = "text/plain" } })
assert(res.status == 415, res.body)

res = client:get("/openapi.json")
assert(res.status == 200, res.body)
local doc = res:json()
assert(doc.openapi == "3.1.0" and doc.paths["/todos/{id}"].get.operationId == "getTodo")
