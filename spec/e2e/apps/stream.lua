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

return app
