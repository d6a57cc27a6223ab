-- examples/todo-api/app.lua: a small but complete CRUD API with schemas.
--
--   build/crater examples/todo-api/app.lua
--   curl -s localhost:8080/todos -H 'Content-Type: application/json' -d '{"title":"milk"}'
--   open http://localhost:8080/docs (Swagger UI) or /redoc; the document is /openapi.json
--
-- What it shows: named schemas (components), path/query/header/body
-- validation with coercion and defaults, response shaping (the table's
-- internal `owner_token` never leaves the server), tags, and 404/409 answers
-- as problem+json declared in the document. The to-dos are in a database
-- (docs/database.md): DATABASE_URL names it, else the SQLite file todo.db
-- beside this file, made with its table on the first start.
local crater = require "crater"
local s = require "crater.schema"
local json = crater.json

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

local url = os.getenv("DATABASE_URL")
local db = crater.db((url == nil or url == "") and "sqlite:todo.db" or url)

-- At load time a statement runs at once. tags is a JSON array; owner_token
-- is the kind of column the API must never show (the Todo schema drops it).
db:query [[
  CREATE TABLE IF NOT EXISTS todos (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL UNIQUE,
    done INTEGER NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '[]',
    created INTEGER NOT NULL,
    owner_token TEXT NOT NULL)
]]

-- A row as the API shows it: SQLite has no booleans nor arrays.
local function todo(row)
  row.done = row.done == 1
  row.tags = json.decode(row.tags)
  return row
end

-- Tags as a JSON array (an empty table would be an object).
local function tags_json(tags)
  local out = json.array()
  for i, t in ipairs(tags) do out[i] = t end
  return out
end

-- A secret per row (the kind of value the API must never show).
local function token()
  return string.format("%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

local function get(id)
  local row = db:query("SELECT * FROM todos WHERE id = $1", id)[1]
  if not row then crater.abort(404, "no to-do with id " .. id) end
  return todo(row)
end

-- Runs a statement that sets a title: the UNIQUE column answers 409.
local function write(title, sql, ...)
  local ok, rows = pcall(db.query, db, sql, ...)
  if ok then return rows end
  -- (23505: PostgreSQL's code for the same)
  if type(rows) == "table" and (rows.code == "SQLITE_CONSTRAINT_UNIQUE" or rows.code == "23505") then
    crater.abort(409, "a to-do titled '" .. title .. "' exists")
  end
  error(rows, 0)
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
  local q = req.query
  -- Only placeholders are added to the SQL; the values go as parameters.
  local where, args = { "1" }, {}
  if q.done ~= nil then
    args[#args + 1] = q.done
    where[#where + 1] = "done = $" .. #args
  end
  for _, t in ipairs(q.tag or {}) do
    args[#args + 1] = t
    where[#where + 1] = "EXISTS (SELECT 1 FROM json_each(todos.tags) WHERE value = $" .. #args .. ")"
  end
  local cond = table.concat(where, " AND ")
  local total = db:query("SELECT count(*) AS n FROM todos WHERE " .. cond, unpack(args))[1].n
  local n = #args
  args[n + 1], args[n + 2] = q.limit, q.offset
  local rows = db:query("SELECT * FROM todos WHERE " .. cond .. " ORDER BY id LIMIT $" .. (n + 1)
    .. " OFFSET $" .. (n + 2), unpack(args, 1, n + 2))
  for _, row in ipairs(rows) do todo(row) end
  return { items = rows, total = total }
end)

app:post("/todos", {
  summary = "Create a to-do", tags = { "todos" }, operationId = "createTodo",
  headers = { ["X-Dry-Run"] = s.boolean { default = false, description = "validate only, store nothing" } },
  body = TodoIn,
  responses = { [201] = Todo, [409] = { description = "A to-do with this title exists", schema = Problem } },
}, function(req)
  local t = req.body
  local insert = "INSERT INTO todos (title, done, tags, created, owner_token) "
    .. "VALUES ($1, $2, $3, $4, $5) RETURNING *"
  if req.headers["x-dry-run"] then
    -- The insert, undone: every check the database makes, nothing stored.
    local ok, row = pcall(db.transaction, db, function(tx)
      local row = todo(write(t.title, insert, t.title, t.done, tags_json(t.tags), os.time(), token())[1])
      error({ dry_run = row })
    end)
    if type(row) == "table" and row.dry_run then return 201, row.dry_run end
    error(row, 0)
  end
  local row = todo(write(t.title, insert, t.title, t.done, tags_json(t.tags), os.time(), token())[1])
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
  local t = req.body
  local row = write(t.title, "UPDATE todos SET title = $1, done = $2, tags = $3 WHERE id = $4 RETURNING *",
    t.title, t.done, tags_json(t.tags), req.params.id)[1]
  if not row then crater.abort(404, "no to-do with id " .. req.params.id) end
  return todo(row)
end)

app:patch("/todos/{id}", {
  summary = "Change some fields of a to-do", tags = { "todos" }, operationId = "updateTodo",
  params = ID, body = TodoPatch,
  responses = { [200] = Todo, [404] = Problem, [409] = Problem },
}, function(req)
  local t = req.body
  -- coalesce: a field left out (NULL) keeps its value
  local row = write(t.title, "UPDATE todos SET title = coalesce($1, title), done = coalesce($2, done), "
    .. "tags = coalesce($3, tags) WHERE id = $4 RETURNING *",
    t.title, t.done, t.tags and tags_json(t.tags), req.params.id)[1]
  if not row then crater.abort(404, "no to-do with id " .. req.params.id) end
  return todo(row)
end)

app:delete("/todos/{id}", {
  summary = "Delete a to-do", tags = { "todos" }, operationId = "deleteTodo",
  params = ID,
  responses = { [204] = "Deleted", [404] = Problem },
}, function(req)
  local rows = db:query("DELETE FROM todos WHERE id = $1", req.params.id)
  if rows.affected_rows == 0 then crater.abort(404, "no to-do with id " .. req.params.id) end
  return 204
end)

return app
