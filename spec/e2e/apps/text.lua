-- Percent-decoded text and non-ASCII routes (spec/e2e/test_text.py).
local crater = require "crater"
local s = crater.schema
local app = crater.app { title = "text" }

app:get("/echo/{name}", function(req) return { name = req.params.name } end)
app:get("/files/{path...}", function(req) return { path = req.params.path } end)
app:get("/q", function(req) return { q = req.query.q } end)
app:get("/raw", function(req) return { raw = req.raw_query } end)
app:get("/typed", { query = { q = s.string() }, params = {} }, function(req) return { q = req.query.q } end)
app:get("/hdr", { headers = { ["X-Name"] = s.string() } }, function(req)
  return { name = req.headers["x-name"] }
end)
app:get("/hdr-list", { headers = { ["X-Tags"] = s.array(s.string()) } }, function(req)
  return { tags = req.headers["x-tags"] }
end)
app:get("/café", function() return "café" end)
app:get("/ünï/{id}", function(req) return { id = req.params.id } end)
app:get("/a%7eb", function() return "tilde" end)
return app
