-- The app of spec/e2e/test_channel.py: crater.channel's receive woken by a
-- publish from another request (no polling), its timeout, close from
-- another thread, and waiters of requests whose client went away.
local crater = require "crater"
local app = crater.app()

local ch = crater.channel()
local woken = 0

-- Waits for one message; ?timeout= seconds (none: no limit).
app:get("/sub", function(req)
  local sub = ch:subscribe()
  local t = req.query.timeout and tonumber(req.query.timeout)
  local msg, err = sub:receive(t)
  woken = woken + 1
  return { msg = msg, err = err }
end)

app:post("/pub", function(req)
  return { delivered = ch:publish(req.body) }
end)

-- A thread waits on a subscription that the request's main thread closes.
app:get("/close", function()
  local sub = ch:subscribe()
  local th = crater.spawn(function() return sub:receive() end)
  crater.sleep(0.01)
  sub:close()
  local msg, err = crater.wait(th)
  return { msg = msg, err = err }
end)

-- Two threads of one request wait on one subscription each; one publish
-- from a third wakes both.
app:get("/fanout", function()
  local a, b = ch:subscribe(), ch:subscribe()
  local ta = crater.spawn(function() return a:receive(5) end)
  local tb = crater.spawn(function() return b:receive(5) end)
  crater.spawn(function() crater.sleep(0.01); ch:publish("x") end)
  local ma = crater.wait(ta)
  local mb = crater.wait(tb)
  return { a = ma, b = mb }
end)

app:get("/stats", function()
  collectgarbage()
  collectgarbage()
  return { subscribers = ch:count(), woken = woken }
end)

return app
