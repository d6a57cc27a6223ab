-- The app of spec/e2e/test_ws_redis.py: a chat room across workers through
-- Redis pub/sub, the pattern of docs/websockets.md ("Rooms across workers").
-- Each worker subscribes once (a timer started in on_start) and sends what
-- Redis delivers to its own sockets; a message from any client, or from
-- POST /rooms/lobby, is published once. Every socket is greeted with its
-- worker's pid, which is how the test knows it holds sockets on two workers.
local crater = require "crater"
local ffi = require "ffi"
ffi.cdef "int getpid(void);"

local app = crater.app()
local redis_url = assert(os.getenv("REDIS_URL"), "REDIS_URL is needed")
local r = assert(crater.redis.connect(redis_url))
local CHANNEL = "room:lobby"
local sockets = {} -- this worker's sockets in the room

-- A timer of a stopping (or replaced) app can make no new timer: that is
-- how the listening loop learns it should end.
local function stopping()
  local t = crater.timer.at(3600, function() end)
  if not t then return true end
  t:cancel()
  return false
end

local function listen()
  while not stopping() do
    local sub, err = r:subscribe(CHANNEL)
    if not sub then
      io.stderr:write("room: subscribe failed: ", tostring(err), "\n")
      crater.sleep(1)
    else
      while true do
        local msg, rerr = sub:receive(1)
        if msg then
          for ws in pairs(sockets) do ws:send(msg.data) end
        elseif rerr ~= "timeout" then
          break -- the connection failed: subscribe again
        elseif stopping() then
          break
        end
      end
      sub:close()
    end
  end
end

app:on_start(function() assert(crater.timer.at(0, listen)) end)

app:websocket("/rooms/lobby", {}, function(ws)
  sockets[ws] = true
  ws:send("worker " .. ffi.C.getpid())
  while true do
    local data = ws:receive()
    if not data then break end
    r:publish(CHANNEL, data)
  end
  sockets[ws] = nil
end)

app:post("/rooms/lobby", function(req)
  local n, err = r:publish(CHANNEL, req.body)
  if not n then return 503, { error = err } end
  return { workers = n }
end)

return app
