-- The app of spec/e2e/test_sse.py: Server-Sent Events framing, heartbeats,
-- Last-Event-ID, disconnects, a channel shared by many clients, a browser page.
local crater = require "crater"
local app = crater.app()

local news = crater.channel()
local ended = 0 -- handlers that ran to their end

app:get("/events", function()
  return crater.sse(function(send)
    send("hello")
    send { event = "multi", data = "a\r\nb\rc\nd", id = "7" }
    send { retry = 2500 }
    send { data = "" }
    send.comment("note\nsecond")
    send { event = "n", data = 42, id = 8 }
  end)
end)

app:get("/bad-id", function()
  return crater.sse(function(send)
    send("before")
    send { id = "a\nb", data = "x" }
  end)
end)

app:get("/last", function(req)
  return crater.sse(function(send, r)
    send { event = "last", data = tostring(r.last_event_id) .. "|" .. tostring((req:header("Last-Event-ID"))) }
  end)
end)

app:get("/slow", function()
  return crater.sse(function(send)
    send("start")
    crater.sleep(0.5)
    send("end")
  end, { heartbeat = 0.1 })
end)

-- counts from Last-Event-ID on, 3 events per connection, then closes: an
-- EventSource reconnects with the last id it saw
app:get("/count", function()
  return crater.sse(function(send, req)
    local from = tonumber(req.last_event_id) or 0
    send { retry = 100 } -- reconnect soon
    for i = from + 1, from + 3 do
      send { id = i, data = "n" .. i }
      crater.sleep(0.02)
    end
  end)
end)

app:get("/news", function()
  return crater.sse(function(send)
    local sub = news:subscribe()
    send { event = "ready" }
    while true do
      local msg, err = sub:receive(5)
      if msg == "bye" or err == "closed" then break end -- closed: the client left
      if msg then send(msg) end
    end
    sub:close()
    ended = ended + 1
  end, { heartbeat = 0.2 })
end)

app:post("/news", function(req)
  return { delivered = news:publish(req.body) }
end)

app:get("/stats", function()
  collectgarbage()
  collectgarbage()
  return { subscribers = news:count(), ended = ended }
end)

-- many events, each waking the stream: the Lua memory of the request
-- stays bounded (threads waited for are released at once, task.c)
app:get("/many", function()
  return crater.sse(function(send)
    collectgarbage()
    local before = collectgarbage("count")
    for i = 1, 2000 do
      send(i)
      crater.sleep(0.001) -- the stream parks for each event
    end
    collectgarbage()
    send { event = "grew", data = math.floor(collectgarbage("count") - before) }
  end)
end)

app:get("/bad-opts", function()
  return crater.sse(function() end, { heartbeat = -1 })
end)

app:get("/bad-retry", function()
  return crater.sse(function(send) send { retry = 1.5 } end)
end)

-- Clients that go away (test_sse.py's Gone cases): each handler notes what
-- its waits and sends returned in `seen[tag]`, which /seen/{tag} reads back,
-- so the test sees that the code after the interrupted wait ran.
local seen = {}
local function note(req, what)
  local tag = req.query.tag
  seen[tag] = (seen[tag] and seen[tag] .. " " or "") .. what
  local file = os.getenv("GONE_NOTES") -- outlives a reload or the process
  if file then
    local f = assert(io.open(file, "a"))
    f:write(tag, " ", what, "\n")
    f:close()
  end
end
local function pair(a, b) return tostring(a) .. "," .. tostring(b) end

app:get("/seen/{tag}", function(req)
  collectgarbage()
  return { seen = seen[req.params.tag] or false, subscribers = news:count() }
end)

-- waits in crater.sleep; then tries to send, and cleans up
app:get("/gone/sleep", function()
  return crater.sse(function(send, req)
    send("started")
    note(req, "sleep:" .. pair(crater.sleep(30)))
    note(req, "send:" .. pair(send("after")))
    note(req, "comment:" .. pair(send.comment("x")))
    note(req, "done")
  end, { heartbeat = 0.05 })
end)

-- waits on a channel (no timeout), unsubscribes when told
app:get("/gone/channel", function()
  return crater.sse(function(send, req)
    local sub = news:subscribe()
    send { event = "ready" }
    while true do
      local msg, err = sub:receive()
      if not msg then note(req, "receive:" .. tostring(err)); break end
      send(msg)
    end
    sub:close()
    note(req, "unsubscribed")
  end, { heartbeat = false })
end)

-- sends faster than the client reads: blocked in send when the client goes
app:get("/gone/backpressure", function()
  return crater.sse(function(send, req)
    local piece = string.rep("x", 16384)
    local n = 0
    while true do
      local ok, err = send(piece)
      if not ok then note(req, "send:" .. pair(ok, err)); break end
      n = n + 1
    end
    note(req, "sent>" .. (n > 4 and 4 or n))
  end)
end)

-- ignores "closed" and waits again: stopped once its grace is over
app:get("/gone/ignore", function()
  return crater.sse(function(send, req)
    send("started")
    note(req, "first:" .. pair(crater.sleep(30)))
    crater.sleep(30)
    note(req, "never")
  end)
end)

-- cleanup that itself waits (a query, say) after the client left
app:get("/gone/slow-cleanup", function()
  return crater.sse(function(send, req)
    send("started")
    note(req, "sleep:" .. pair(crater.sleep(30)))
    crater.sleep(0.3)
    note(req, "cleaned")
  end)
end)

-- a page whose EventSource closes after the first event
app:get("/gone/page", function()
  return crater.html([[<!doctype html><title>sse</title><script>
window.got = [];
const es = new EventSource("/gone/sleep?tag=browser");
es.onmessage = (e) => { window.got.push(e.data); es.close(); };
</script>]])
end)

-- more than send's 64 KiB at once, then returns at once: the handler ends
-- in the same turn as the stream's function wakes it
app:get("/burst", function()
  return crater.sse(function(send)
    local piece = string.rep("y", 8192)
    for i = 1, 40 do send(piece) end
  end)
end)

app:get("/plain", function() return "plain" end)

app:get("/page", function()
  return crater.html([[<!doctype html><title>sse</title><script>
window.got = []; window.errors = 0;
const es = new EventSource("/count");
es.onmessage = (e) => { window.got.push(e.lastEventId + ":" + e.data); if (window.got.length >= 9) es.close(); };
es.onerror = () => { window.errors++; };
</script>]])
end)

return app
