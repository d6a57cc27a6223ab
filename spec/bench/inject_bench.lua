-- spec/bench/inject_bench.lua: requests per second through the injection
-- path (crater.test's client -> crater.host.inject -> the C core -> the
-- app's dispatcher) for examples/bench/app.lua, no sockets involved.
--
--   build/crater test spec/bench/inject_bench.lua        (N=200000 to change the count)
--
-- It prints one line per endpoint. It is a benchmark, not a test: nothing
-- is asserted about the numbers.
local t = require "crater.test"
local app = dofile("examples/bench/app.lua")
local client = t.client(app)
local n = tonumber(os.getenv("N")) or 100000

local cases = {
  { "GET /plaintext", function() return client:get("/plaintext") end },
  { "GET /json", function() return client:get("/json") end },
  { "GET /users/42", function() return client:get("/users/42") end },
  { "POST /items", function() return client:post("/items", { json = { name = "pen", price = 1.5 } }) end },
  { "POST /items 422", function() return client:post("/items", { json = { name = "pen", price = -1 } }) end },
}

for _, case in ipairs(cases) do
  local name, fn = case[1], case[2]
  for _ = 1, math.floor(n / 10) do fn() end -- warm up (and let the JIT compile)
  local t0 = os.clock()
  for _ = 1, n do fn() end
  local dt = os.clock() - t0
  print(string.format("%-16s %9.0f req/s  %6.2f us/req  (%d requests, CPU time)", name, n / dt,
    dt / n * 1e6, n))
end
