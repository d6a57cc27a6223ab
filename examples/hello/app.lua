-- examples/hello/app.lua: a small tour of Crater's routing layer.
-- Run it with:  build/crater examples/hello/app.lua   (then: curl localhost:8080/)
local crater = require "crater"

local app = crater.app { title = "Hello", version = "1.0.0" }

-- A string is answered as text/plain.
app:get("/", function()
  return "Hello from Crater!\n"
end)

-- Path parameters use OpenAPI's {name} syntax; req.params holds strings.
app:get("/hello/{name}", function(req)
  return "Hello, " .. req.params.name .. "!\n"
end)

-- Query strings: req.query is parsed (a repeated key becomes an array).
-- GET /search?q=lua&tag=a&tag=b
app:get("/search", function(req)
  local q = req.query
  return { q = q.q or "", tags = q.tag or crater.json.array() }
end)

-- A table is answered as JSON. Request headers are case-insensitive.
app:get("/whoami", function(req)
  return {
    agent = req.headers["user-agent"] or crater.json.null,
    remote = req.remote_addr,
  }
end)

-- JSON in, JSON out, with a custom status and a response header:
-- return status, body, headers.
local notes, next_id = {}, 1
app:post("/notes", function(req)
  local body = req:json()                   -- malformed JSON -> 400 problem+json
  if type(body) ~= "table" or type(body.text) ~= "string" then
    crater.abort(422, "body must be an object with a string 'text'")
  end
  local note = { id = next_id, text = body.text }
  notes[next_id], next_id = note, next_id + 1
  return 201, note, { Location = "/notes/" .. note.id }
end)

app:get("/notes/{id}", function(req)
  local note = notes[tonumber(req.params.id)]
  if not note then crater.abort(404, "no note " .. req.params.id) end
  return note
end)

-- A response object, for cookies and repeated headers.
app:get("/cookie", function()
  local res = crater.response("cookies set\n")
  res:set_cookie("a", "1", { path = "/", http_only = true })
  res:set_cookie("b", "2")
  return res
end)

-- A catch-all parameter takes the rest of the path.
app:get("/files/{path...}", function(req)
  return "you asked for " .. req.params.path .. "\n"
end)

-- A streamed body: each write() reaches the client as a chunk
-- (Transfer-Encoding: chunked), at the client's pace.
app:get("/count/{n}", function(req)
  local n = math.min(tonumber(req.params.n) or 3, 1000)
  return crater.stream(function(write)
    for i = 1, n do write(i .. "\n") end
  end)
end)

-- A handler error is a 500 problem+json; the traceback goes to the log
-- (and into the body only with --dev).
app:get("/boom", function()
  error("something broke")
end)

-- Hooks run around every handler.
app:after(function(req, res)
  res:header("X-Powered-By", "crater")
end)

-- Error handlers replace the default problem+json for a status.
app:error(404, function(req, err)
  return 404, { error = "not found", path = req.path, detail = err.detail }
end)

return app
