-- The app of spec/e2e/test_strict_http.py: it shows what a request looked
-- like once the C core let it through (method, path, query, the Host field,
-- every header, the body), and counts the requests that must never reach it
-- (a smuggled one).
local crater = require "crater"
local app = crater.app()

local function echo(req)
  return { method = req.method, path = req.path, query = req.raw_query,
           host = req:header("host") or false, headers = req.headers, body = req.body }
end

app:get("/plaintext", function() return "Hello, World!" end)
app:get("/echo", echo)
app:post("/echo", echo)
app:get("/b", echo)
app:get("/", echo)

local smuggled = 0
app:get("/smuggled", function()
  smuggled = smuggled + 1
  return "smuggled"
end)
app:get("/smuggled-count", function() return { count = smuggled } end)

return app
