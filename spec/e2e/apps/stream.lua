-- Streaming cases for spec/e2e/test_stream.py.
local crater = require "crater"
local app = crater.app()

app:get("/chunks/{n}", function(req)
  local n = tonumber(req.params.n)
  return crater.stream(function(write)
    for i = 1, n do write("chunk " .. i .. "\n") end
  end, 200, { ["Content-Type"] = "text/event-stream", ["X-Stream"] = "yes" })
end)

-- 8 MiB in 64 KiB pieces: the client reads slowly, the server must not
-- buffer it all.
app:get("/big", function()
  local piece = string.rep("x", 65536)
  return crater.stream(function(write)
    for _ = 1, 128 do write(piece) end
  end)
end)

app:get("/fail-midway", function()
  return crater.stream(function(write)
    write("first\n")
    error("stream broke")
  end)
end)

app:get("/empty", function()
  return crater.stream(function() end)
end)

app:get("/plain", function() return "plain" end)

-- Clients that go away (test_stream.py's Gone cases): each handler notes
-- what its waits and writes returned in `seen[tag]`, read back by /seen/{tag}.
local seen = {}
local news = crater.channel()
local function note(req, what)
  local tag = req.query.tag
  seen[tag] = (seen[tag] and seen[tag] .. " " or "") .. what
end
local function pair(a, b) return tostring(a) .. "," .. tostring(b) end
local TEXT = { ["Content-Type"] = "text/plain" }

app:get("/seen/{tag}", function(req)
  collectgarbage()
  return { seen = seen[req.params.tag] or false, subscribers = news:count() }
end)

app:get("/gone/sleep", function()
  return crater.stream(function(write, req)
    note(req, "write:" .. pair(write("started\n")))
    note(req, "sleep:" .. pair(crater.sleep(tonumber(req.query.s) or 30)))
    note(req, "write:" .. pair(write("after\n")))
    note(req, "write:" .. pair(write("")))
    note(req, "done")
  end, 200, TEXT)
end)

-- the handler and a thread it spawned both wait: both hear of it
app:get("/gone/thread", function()
  return crater.stream(function(write, req)
    local t = crater.spawn(function() return pair(crater.sleep(30)) end)
    write("started\n")
    note(req, "main:" .. pair(crater.sleep(30)))
    note(req, "thread:" .. pair(crater.wait(t)))
  end, 200, TEXT)
end)

app:get("/gone/channel", function()
  return crater.stream(function(write, req)
    local sub = news:subscribe()
    write("ready\n")
    local msg, err = sub:receive()
    note(req, "receive:" .. pair(msg, err))
    sub:close()
    note(req, "unsubscribed")
  end, 200, TEXT)
end)

-- writes faster than the client reads: waiting in write when it goes
app:get("/gone/backpressure", function()
  return crater.stream(function(write, req)
    local piece = string.rep("x", 65536)
    while true do
      local ok, err = write(piece)
      if not ok then note(req, "write:" .. pair(ok, err)); break end
    end
    note(req, "done")
  end, 200, TEXT)
end)


-- waits on a socket that never answers (the test's listener, ?port=)
app:get("/gone/socket", function()
  return crater.stream(function(write, req)
    local sock = crater.socket.tcp()
    assert(sock:connect("127.0.0.1", tonumber(req.query.port)))
    write("connected\n")
    note(req, "receive:" .. pair(sock:receive()))
    note(req, "again:" .. pair(sock:receive()))
    note(req, "done")
  end, 200, TEXT)
end)

-- its deadline comes before the 5 s grace: it is stopped then
app:get("/gone/deadline", { deadline = 1 }, function()
  return crater.stream(function(write, req)
    write("started\n")
    note(req, "first:" .. pair(crater.sleep(30)))
    crater.sleep(30)
    note(req, "never")
  end, 200, TEXT)
end)

return app
