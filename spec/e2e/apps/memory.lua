-- Routes for spec/e2e/test_memory_bounds.py: big answers a client may not
-- read, and a handler that allocates until the VM's memory runs out.
local crater = require "crater"
local app = crater.app()

local big = string.rep("x", 1024 * 1024)

app:get("/big1m", function(req)
  return 200, big, { ["X-N"] = req.query.n or "-" }
end)

app:get("/small", function(req)
  return "n=" .. (req.query.n or "-")
end)

app:post("/echo", function(req)
  return "got " .. #req.body
end)

-- Keeps every piece reachable until the allocation fails.
app:get("/hog", function()
  local t = {}
  for i = 1, math.huge do
    t[i] = string.rep("y", 65536) .. i
  end
  return #t
end)

-- Keeps what it allocates in the app's own state: after the failure the
-- VM stays full, and only a fresh generation can serve.
local kept = {}
app:get("/leak", function()
  for i = 1, math.huge do
    kept[#kept + 1] = string.rep("k", 65536) .. i
  end
end)

app:get("/generation", function()
  return "kept " .. #kept
end)

local function deeper(n) return deeper(n + 1) + 1 end
app:get("/deep", function()
  return deeper(1)
end)

-- Allocates and drops: the garbage a request leaves behind.
app:get("/churn", function()
  local n = 0
  for i = 1, 64 do n = n + #(string.rep("z", 65536) .. i) end
  return "churned " .. n
end)

return app
