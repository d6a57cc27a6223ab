-- The app of spec/e2e/test_websocket.py (and docs/websockets.md's example).
local crater = require "crater"
local app = crater.app()
local VERSION = "one" -- test_websocket's reload test rewrites this line
local last_close = "none"

app:before(function(req)
  if req.path == "/ws/private/x" and req:header("authorization") ~= "Bearer ok" then
    crater.abort(401, "who are you?")
  end
end)

-- Echoes every message in its kind; "close <code>" closes with that code,
-- "ping" pings the client first.
app:websocket("/ws/echo/{room}", {
  params = { room = { type = "string", pattern = "^[a-z]+$" } },
  origins = { "http://allowed.example" },
  protocols = { "chat.v2", "chat.v1" },
  max_message = 64 * 1024,
}, function(ws, req)
  ws:send("hello " .. req.params.room .. (ws:protocol() and (" " .. ws:protocol()) or ""))
  while true do
    local data, kind, code, reason = ws:receive()
    if not data then
      last_close = ("%s %s %s"):format(kind, tostring(code), tostring(reason))
      return
    end
    local c = data:match("^close (%d+)$")
    if c then
      ws:close(tonumber(c), "bye")
      return
    end
    if data == "ping" then ws:ping("p") end
    if data == "timeout" then
      local d, why = ws:receive(0.2)
      ws:send(tostring(d) .. " " .. tostring(why))
    else
      ws:send(data, kind)
    end
  end
end)

-- Another thread of the handler closes while the handler waits in receive.
app:websocket("/ws/closer", function(ws)
  crater.spawn(function()
    crater.sleep(0.05)
    ws:close(4002, "from a thread")
  end)
  local _, kind, code, reason = ws:receive()
  last_close = ("%s %s %s"):format(kind, tostring(code), tostring(reason))
end)

-- A heartbeat: a ping every second; a client silent for that long is gone.
-- (A second, not less: a loaded machine may take a few hundred ms to answer.)
app:websocket("/ws/heartbeat", { ping_interval = 1 }, function(ws)
  local _, kind, code, reason = ws:receive()
  last_close = ("%s %s %s"):format(kind, tostring(code), tostring(reason))
end)

app:websocket("/ws/private/x", function(ws)
  ws:send("secret")
end)

-- Sends n bytes n times, as fast as the client reads (backpressure).
app:websocket("/ws/flood", function(ws)
  local piece = string.rep("x", 64 * 1024)
  for _ = 1, 200 do
    if not ws:send(piece, "binary") then return end
  end
  ws:send("done")
end)

app:websocket("/ws/version", function(ws)
  ws:send(VERSION)
  local d = ws:receive()
  while d do
    ws:send(VERSION .. " " .. d)
    d = ws:receive()
  end
end)

-- A chat room: each message goes to everyone in the room. Another
-- handler's ws:send only queues, so one slow member slows no one else.
local rooms = {}

app:websocket("/ws/chat/{room}", { query = { name = { type = "string", maxLength = 20 } } },
  function(ws, req)
    local room = rooms[req.params.room] or {}
    rooms[req.params.room] = room
    local name = req.query.name or "anonymous"
    local function say(text)
      for other in pairs(room) do other:send(text) end
    end
    room[ws] = true
    say(name .. " joined")
    while true do
      local data = ws:receive()
      if not data then break end
      say(name .. ": " .. data)
    end
    room[ws] = nil
    say(name .. " left")
  end)

app:get("/chat", function()
  return crater.response([[<!doctype html>
<title>chat</title>
<ul id="log"></ul>
<script>
const params = new URLSearchParams(location.search);
window.log = [];
const ws = new WebSocket("ws://" + location.host + "/ws/chat/lobby?name=" + params.get("name"));
ws.onopen = () => { window.ready = true; };
ws.onmessage = (e) => {
  window.log.push(e.data);
  const li = document.createElement("li");
  li.textContent = e.data;
  document.getElementById("log").appendChild(li);
};
window.say = (text) => ws.send(text);
</script>]], 200, { ["Content-Type"] = "text/html; charset=utf-8" })
end)

-- A room on a crater.channel: a spawned thread waits on the channel and
-- sends, the handler waits on the socket and publishes (docs/websockets.md).
local news = crater.channel()

app:websocket("/ws/news", function(ws)
  local sub = news:subscribe()
  local pump = crater.spawn(function()
    while true do
      local msg = sub:receive()
      if not msg or not ws:send(msg) then return end
    end
  end)
  ws:send("subscribed")
  while true do
    local data = ws:receive()
    if not data then break end
    news:publish(data)
  end
  sub:close() -- the pump's receive returns nil, "closed"
  crater.wait(pump)
end)

app:post("/news", function(req) return { delivered = news:publish(req.body) } end)

app:get("/", function() return "plain" end)
app:get("/last-close", function() return last_close end)

return app
