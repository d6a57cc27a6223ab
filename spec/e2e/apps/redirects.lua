-- spec/e2e/test_redirects.py: crater.redirect, route names and url_for,
-- bodyless 204/304, crater.abort's titles, app.root, trailing slashes.
local crater = require "crater"
local app = crater.app { title = "redirects", trailing_slash = "redirect" }

app:get("/users/{id}", { name = "user" }, function(req) return { id = req.params.id } end)
app:get("/files/{path...}", { operationId = "file" }, function(req) return req.params.path end)
app:get("/about", function() return "about" end)
app:post("/form", function() return "posted" end)
app:get("/guide/", function() return "guide" end)

app:get("/go", function(req)
  local q = req.query
  return crater.redirect(q.to or "/about", tonumber(q.status))
end)

app:get("/url", function(req)
  local q = req.query
  local ok, v = pcall(app.url_for, app, q.name, q.id and { id = q.id } or q.path and { path = q.path }
    or q.extra and { id = 1, extra = q.extra } or nil, q.tag and { tag = q.tag, page = 2 } or nil)
  return { ok = ok, url = v }
end)

app:get("/bad-redirect", function(req) return crater.redirect("/x\r\nSet-Cookie: a=b") end)

app:get("/status/{n}", function(req)
  local n = tonumber(req.params.n)
  if req.query.abort then crater.abort(n) end
  return n, "a body that must not be sent"
end)

app:get("/root", function() return { root = app.root } end)

app:get("/data", function()
  local f = assert(io.open(app.root .. "/redirects_data.txt"))
  local s = f:read("*a")
  f:close()
  return s
end)

return app
