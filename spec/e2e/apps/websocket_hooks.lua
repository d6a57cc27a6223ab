-- The app of test_websocket.py's HookHeadersTest: the 101 carries what the
-- route's hooks set (docs/websockets.md, "What the 101 carries").
local crater = require "crater"
local app = crater.app()

app:sessions { secret = ("s"):rep(32) }

-- A before hook writes the session: its cookie goes out with the 101.
app:before(function(req)
  if req.path:find("^/ws/") then req.session.user = "ada" end
end)

-- An after hook's headers go out with the 101, but those that would
-- contradict the upgrade (Connection, Upgrade) or describe a body.
app:after(function(req, res)
  if not req.path:find("^/ws/") then return end
  res:header("X-Hooked", "yes")
  res:set_cookie("theme", "dark", { path = "/" })
  res:header("Connection", "close")
  res:header("Upgrade", "h2c")
  res:header("Content-Type", "text/plain")
  if req.path == "/ws/refused" then
    return crater.response({ error = "not now" }, 403) -- a replacement: no upgrade
  end
end)

app:websocket("/ws/hooked", function(ws, req)
  ws:send("hello " .. req.session.user)
  local data = ws:receive()
  if data then ws:send(data) end
end)

app:websocket("/ws/refused", function(ws)
  ws:send("never")
end)

app:get("/whoami", function(req) return { user = req.session.user } end)

return app
