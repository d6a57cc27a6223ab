-- Big answers for spec/e2e/test_close_stages.py: bigger than the socket
-- buffers, so the server is still writing when the client half-closes or
-- sends more.
local crater = require "crater"
local app = crater.app()

app:get("/big/{kb}", function(req)
  return string.rep("x", tonumber(req.params.kb) * 1024)
end)

app:get("/stream/{n}", function(req)
  local piece = string.rep("y", 65536)
  return crater.stream(function(write)
    for _ = 1, tonumber(req.params.n) do write(piece) end
  end)
end)

app:get("/", function() return "small" end)

return app
