-- examples/todo-api/app.lua: a small but complete CRUD API with schemas.
--
--   build/crater examples/todo-api/app.lua
--   curl -s localhost:8080/todos -H 'Content-Type: application/json' -d '{"title":"milk"}'
--   open http://localhost:8080/docs (Swagger UI) or /redoc; the document is /openapi.json
--
-- What it shows: named schemas (components), path/query/header/body
-- validation with coercion and defaults, response shaping (the store's
-- internal `owner_token` never leaves the server), tags, and 404/409 answers
-- as problem+json declared in the document. The store is a Lua table: it
-- lives as long as the process (one per worker with --workers).
local crater = require "crater"
local s = require "crater.schema"

local app = crater.app {
  title = "Todo API",
  version = "1.0.0",
  description = "A to-do list: create, list, read, update and delete to-dos.",
  openapi = { tags = { { name = "todos", description = "Everything about to-dos" } } },
}

local Problem = crater.Problem

local TodoIn = app:schema("TodoIn", s.object {
  title = s.string { minLength = 1, maxLength = 200, description = "what to do" },
  -- a property with a default is optional: left out, it gets the default
  done = s.boolean { default = false },
  tags = s.array(s.string { minLength = 1, maxLength = 20 },
    { maxItems = 10, uniqueItems = true, default = {} }),
})

local TodoPatch = app:schema("TodoPatch", s.object({
  title = s.optional(s.string { minLength = 1, maxLength = 200 }),
  done = s.optional(s.boolean()),
  tags = s.optional(s.array(s.string { minLength = 1, maxLength = 20 }, { maxItems = 10, uniqueItems = true })),
}, { minProperties = 1 }))

local Todo = app:schema("Todo", s.object {
  id = s.integer { minimum = 1 },
  title = s.string(),
  done = s.boolean(),
  tags = s.array(s.string()),
  created = s.integer { description = "creation time, seconds since the epoch" },
})

local TodoList = app:schema("TodoList", s.object {
  items = s.array(Todo),
  total = s.integer { minimum = 0, description = "how many match, before limit and offset" },
})

local ID = { id = s.integer { minimum = 1, description = "the to-do's id" } }

-- The store: id -> row. Rows carry a field the API must never show.
local todos, next_id = {}, 1

local function find_title(title, except)
  for id, row in pairs(todos) do
    if row.title == title and id ~= except then return row end
  end
end

local function get(id)
  local row = todos[id]
  if not row then crater.abort(404, "no to-do with id " .. id) end
  return row
end

app:get("/todos", {
  summary = "List to-dos", tags = { "todos" }, operationId = "listTodos",
  query = {
    done = s.optional(s.boolean { description = "only done (true) or open (false) to-dos" }),
    tag = s.optional(s.array(s.string(), { description = "only to-dos with all these tags (repeat the key)" })),
    limit = s.integer { minimum = 1, maximum = 100, default = 20 },
    offset = s.integer { minimum = 0, default = 0 },
  },
  responses = { [200] = TodoList },
}, function(req)
  local q, ids = req.query, {}
  for id, row in pairs(todos) do
    local keep = q.done == nil or row.done == q.done
    for _, t in ipairs(q.tag or {}) do
      local has = false
      for _, mine in ipairs(row.tags) do if mine == t then has = true end end
      keep = keep and has
    end
    if keep then ids[#ids + 1] = id end
  end
  table.sort(ids)
  local items = crater.json.array()
  for i = q.offset + 1, math.min(#ids, q.offset + q.limit) do items[#items + 1] = todos[ids[i]] end
  return { items = items, total = #ids }
end)

app:post("/todos", {
  summary = "Create a to-do", tags = { "todos" }, operationId = "createTodo",
  headers = { ["X-Dry-Run"] = s.boolean { default = false, description = "validate only, store nothing" } },
  body = TodoIn,
  responses = { [201] = Todo, [409] = { description = "A to-do with this title exists", schema = Problem } },
}, function(req)
  local t = req.body
  if find_title(t.title) then crater.abort(409, "a to-do titled '" .. t.title .. "' exists") end
  local row = { id = next_id, title = t.title, done = t.done, tags = t.tags, created = os.time(),
                owner_token = "secret-" .. next_id }
  if req.headers["x-dry-run"] then return 201, row end
  todos[next_id], next_id = row, next_id + 1
  return 201, row, { Location = "/todos/" .. row.id }
end)

app:get("/todos/{id}", {
  summary = "Read a to-do", tags = { "todos" }, operationId = "getTodo",
  params = ID,
  responses = { [200] = Todo, [404] = Problem },
}, function(req)
  return get(req.params.id)
end)

app:put("/todos/{id}", {
  summary = "Replace a to-do", tags = { "todos" }, operationId = "replaceTodo",
  params = ID, body = TodoIn,
  responses = { [200] = Todo, [404] = Problem, [409] = Problem },
}, function(req)
  local row, t = get(req.params.id), req.body
  if find_title(t.title, row.id) then crater.abort(409, "a to-do titled '" .. t.title .. "' exists") end
  row.title, row.done, row.tags = t.title, t.done, t.tags
  return row
end)

app:patch("/todos/{id}", {
  summary = "Change some fields of a to-do", tags = { "todos" }, operationId = "updateTodo",
  params = ID, body = TodoPatch,
  responses = { [200] = Todo, [404] = Problem, [409] = Problem },
}, function(req)
  local row, t = get(req.params.id), req.body
  if t.title ~= nil and find_title(t.title, row.id) then
    crater.abort(409, "a to-do titled '" .. t.title .. "' exists")
  end
  for _, k in ipairs({ "title", "done", "tags" }) do
    if t[k] ~= nil then row[k] = t[k] end
  end
  return row
end)

app:delete("/todos/{id}", {
  summary = "Delete a to-do", tags = { "todos" }, operationId = "deleteTodo",
  params = ID,
  responses = { [204] = "Deleted", [404] = Problem },
}, function(req)
  get(req.params.id)
  todos[req.params.id] = nil
  return 204
end)

return app
